//! The canonical encoding of a Config or Runtime and its content hash: the
//! `hash` of a discovery `ResourceVersion`, compared to decide whether a node
//! holds what the control plane has.
//!
//! The encoding is the protobuf encoding ([`prost::Message::encode_to_vec`]) of
//! the wire message built from a copy in canonical order, so two configs that
//! differ only in the order of unordered lists hash the same:
//! providers, each provider's accounts, models, keys and alert channels by
//! name; each route's aliases and each key's allowlist sorted; targets by
//! (priority, provider, model); each key's passthrough paths sorted;
//! `settings.retry.on` and passthrough methods sorted and deduplicated (as the
//! model keeps them). Maps are `BTreeMap`s. prost writes fields in tag
//! order and skips default scalars, so equal messages encode to equal bytes.

use crate::model::{Config, RuntimeState};
use crate::pb;
use prost::Message;
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a canonical encoding. Prints as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// A hash as received on the wire; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The canonical encoding of `config` (see the module docs).
pub fn config_bytes(config: &Config) -> Vec<u8> {
    pb::Config::from(&canonical_order(config)).encode_to_vec()
}

/// SHA-256 of [`config_bytes`].
pub fn config_hash(config: &Config) -> ContentHash {
    ContentHash::of(&config_bytes(config))
}

/// The canonical encoding of `state` (its sets and maps are ordered already).
pub fn runtime_bytes(state: &RuntimeState) -> Vec<u8> {
    pb::Runtime::from(state).encode_to_vec()
}

/// SHA-256 of [`runtime_bytes`].
pub fn runtime_hash(state: &RuntimeState) -> ContentHash {
    ContentHash::of(&runtime_bytes(state))
}

/// A copy of `config` with every unordered list sorted.
fn canonical_order(config: &Config) -> Config {
    let mut c = config.clone();
    c.providers.sort_by(|a, b| a.name.cmp(&b.name));
    for p in &mut c.providers {
        p.accounts.sort_by(|a, b| a.name.cmp(&b.name));
    }
    c.models.sort_by(|a, b| a.name.cmp(&b.name));
    for r in &mut c.models {
        r.aliases.sort();
        r.targets.sort_by(|a, b| (a.priority, &a.provider, &a.model).cmp(&(b.priority, &b.provider, &b.model)));
    }
    c.keys.sort_by(|a, b| a.name.cmp(&b.name));
    for k in &mut c.keys {
        if let Some(models) = &mut k.models {
            models.sort();
        }
        if let Some(p) = &mut k.passthrough {
            p.paths.sort();
            // The model keeps these sorted and unique already.
            p.methods.sort_unstable();
            p.methods.dedup();
        }
    }
    c.settings.alerts.channels.sort_by(|a, b| a.name.cmp(&b.name));
    // The model keeps these sorted and unique already; `validate` does not check it.
    c.settings.retry.on.sort_unstable();
    c.settings.retry.on.dedup();
    c
}
