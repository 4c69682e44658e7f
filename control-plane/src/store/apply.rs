//! Applying a gateway.yaml document to the store: what `--bootstrap` does at
//! start (creates and updates, never deletes), so the same file on every
//! replica gives the same result and a second apply changes nothing.
//! `${redacted:FINGERPRINT}` keeps the stored secret when the fingerprint
//! matches and is refused otherwise.

use super::write::Written;
use super::{Change, Ownership, Store, StoreError};
use std::collections::{BTreeSet, HashMap};
use switchyard_proto::model::{AlertChannel, AlertChannelKind, Config, Provider, Secret, is_fingerprint};

/// Whether each stored object was created by `apply`, by (table, name):
/// `providers`, `routes`, `client_keys`.
pub type Managed = HashMap<(String, String), bool>;

impl Store {
    pub async fn apply_document(&self, document: Config, actor: &str, action: &str) -> Result<u64, StoreError> {
        let change = Change { actor, action, ownership: Ownership::Managed };
        self.write(change, move |current| merge(current, document)).await
    }

    /// `syctl apply`: creates and updates what `document` declares, in one
    /// transaction; with `prune`, also deletes the objects an earlier apply
    /// created that the document omits (never imperative ones). A `dry_run`
    /// validates and rolls back. Returns what was written and, as it was
    /// before, which objects apply owned.
    pub async fn apply(
        &self,
        document: Config,
        actor: &str,
        prune: bool,
        dry_run: bool,
    ) -> Result<(Written, Managed), StoreError> {
        let managed = self.managed().await?;
        let change = Change { actor, action: "apply", ownership: Ownership::Managed };
        let owned =
            |table: &str, name: &str| managed.get(&(table.to_owned(), name.to_owned())).copied().unwrap_or(false);
        let declared = |names: &mut dyn Iterator<Item = &String>| names.cloned().collect::<BTreeSet<String>>();
        let providers = declared(&mut document.providers.iter().map(|p| &p.name));
        let routes = declared(&mut document.models.iter().map(|r| &r.name));
        let keys = declared(&mut document.keys.iter().map(|k| &k.name));
        let written = self
            .write_with(change, dry_run, |current| {
                merge(current, document)?;
                if prune {
                    current.providers.retain(|p| providers.contains(&p.name) || !owned("providers", &p.name));
                    current.models.retain(|r| routes.contains(&r.name) || !owned("routes", &r.name));
                    current.keys.retain(|k| keys.contains(&k.name) || !owned("client_keys", &k.name));
                }
                Ok(())
            })
            .await?;
        Ok((written, managed))
    }
}

/// `current` with everything `document` declares created or replaced.
pub fn merge(current: &mut Config, mut document: Config) -> Result<(), StoreError> {
    resolve_redacted(&mut document, current)?;
    for p in document.providers {
        match current.providers.iter_mut().find(|c| c.name == p.name) {
            Some(c) => *c = p,
            None => current.providers.push(p),
        }
    }
    for r in document.models {
        match current.models.iter_mut().find(|c| c.name == r.name) {
            Some(c) => *c = r,
            None => current.models.push(r),
        }
    }
    for k in document.keys {
        match current.keys.iter_mut().find(|c| c.name == k.name) {
            Some(c) => *c = k,
            None => current.keys.push(k),
        }
    }
    current.settings = document.settings;
    Ok(())
}

/// Replaces each `${redacted:FP}` in `document` with the stored secret it names.
fn resolve_redacted(document: &mut Config, current: &Config) -> Result<(), StoreError> {
    for (i, p) in document.providers.iter_mut().enumerate() {
        let stored = current.providers.iter().find(|c| c.name == p.name);
        resolve_provider(&format!("providers[{i}]"), p, stored)?;
    }
    for (i, c) in document.settings.alerts.channels.iter_mut().enumerate() {
        let stored = current.settings.alerts.channels.iter().find(|s| s.name == c.name);
        resolve_channel(&format!("settings.alerts.channels[{i}]"), c, stored)?;
    }
    Ok(())
}

/// A `${redacted:FP}` `secret` becomes the `stored` secret when the
/// fingerprint matches; otherwise the change is refused, naming `path`.
/// A secret that is not a marker is left as it is.
pub fn resolve_secret(path: &str, secret: &mut Secret, stored: Option<&Secret>) -> Result<(), StoreError> {
    let Some(fp) = secret.redacted_fingerprint() else { return Ok(()) };
    let matches =
        |s: &&Secret| is_fingerprint(fp) && (s.fingerprint().starts_with(fp) || fp.starts_with(&s.fingerprint()));
    match stored.filter(matches) {
        Some(s) => {
            *secret = s.clone();
            Ok(())
        }
        None => Err(StoreError::Refused(format!(
            "{path}: ${{redacted:{fp}}} does not match the stored secret; give the secret itself"
        ))),
    }
}

/// [`resolve_secret`] for a provider's proxy and each account's api_key
/// (matched to the `stored` provider's account of the same name).
pub fn resolve_provider(path: &str, p: &mut Provider, stored: Option<&Provider>) -> Result<(), StoreError> {
    if let Some(proxy) = p.proxy.as_mut() {
        resolve_secret(&format!("{path}.proxy"), proxy, stored.and_then(|s| s.proxy.as_ref()))?;
    }
    for (name, value) in p.headers.iter_mut() {
        let stored = stored.and_then(|s| s.headers.get(name));
        resolve_secret(&format!("{path}.headers.{name}"), value, stored)?;
    }
    for (j, a) in p.accounts.iter_mut().enumerate() {
        let stored = stored.and_then(|s| s.account(&a.name)).map(|s| &s.api_key);
        resolve_secret(&format!("{path}.accounts[{j}].api_key"), &mut a.api_key, stored)?;
    }
    Ok(())
}

/// [`resolve_secret`] for an alert channel's secrets, against the `stored`
/// channel of the same name (a marker never matches a channel of another kind).
pub fn resolve_channel(path: &str, c: &mut AlertChannel, stored: Option<&AlertChannel>) -> Result<(), StoreError> {
    match (&mut c.kind, stored.map(|s| &s.kind)) {
        (
            AlertChannelKind::DingTalk { webhook, secret },
            Some(AlertChannelKind::DingTalk { webhook: w, secret: s }),
        ) => {
            resolve_secret(&format!("{path}.webhook"), webhook, Some(w))?;
            if let Some(secret) = secret {
                resolve_secret(&format!("{path}.secret"), secret, s.as_ref())?;
            }
        }
        (AlertChannelKind::Feishu { webhook, secret }, Some(AlertChannelKind::Feishu { webhook: w, secret: s })) => {
            resolve_secret(&format!("{path}.webhook"), webhook, Some(w))?;
            if let Some(secret) = secret {
                resolve_secret(&format!("{path}.secret"), secret, s.as_ref())?;
            }
        }
        (AlertChannelKind::WeCom { webhook }, Some(AlertChannelKind::WeCom { webhook: w })) => {
            resolve_secret(&format!("{path}.webhook"), webhook, Some(w))?;
        }
        (AlertChannelKind::Webhook { url }, Some(AlertChannelKind::Webhook { url: u })) => {
            resolve_secret(&format!("{path}.url"), url, Some(u))?;
        }
        (AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret }, _) => {
            resolve_secret(&format!("{path}.webhook"), webhook, None)?;
            if let Some(secret) = secret {
                resolve_secret(&format!("{path}.secret"), secret, None)?;
            }
        }
        (AlertChannelKind::WeCom { webhook }, _) => resolve_secret(&format!("{path}.webhook"), webhook, None)?,
        (AlertChannelKind::Webhook { url }, _) => resolve_secret(&format!("{path}.url"), url, None)?,
    }
    Ok(())
}
