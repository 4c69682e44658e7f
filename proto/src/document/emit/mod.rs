//! Writes a [`Config`] back as a `gateway.yaml` document (`syctl export`).
//!
//! The output never holds a secret: each one is written as its
//! `${redacted:FINGERPRINT}` marker, and client keys as their `key_sha256`.
//! Fields equal to their defaults are left out, mappings keep the README's
//! order, and every value is spelled so that [`super::parse`] reads back
//! exactly the config it came from (secrets as their markers).

mod scalar;
mod tree;
mod yaml;

use crate::model::Config;
use tree::{Node, Style, key, provider, route, settings};
use yaml::write_value;

/// Flow collections (`{...}`, `[...]`) longer than this are written in block style.
const MAX_LINE: usize = 100;

/// The document for `config`: block style at the top, flow style for small leaf maps.
pub fn emit(config: &Config) -> String {
    let mut sections = Vec::new();
    if !config.providers.is_empty() {
        sections.push(("providers", Node::Seq(config.providers.iter().map(provider).collect(), Style::Block)));
    }
    if !config.models.is_empty() {
        sections.push(("models", Node::Seq(config.models.iter().map(route).collect(), Style::Block)));
    }
    if !config.keys.is_empty() {
        sections.push(("keys", Node::Seq(config.keys.iter().map(key).collect(), Style::Block)));
    }
    let settings = settings(&config.settings);
    if !settings.is_empty() {
        sections.push(("settings", Node::Map(settings, Style::Block)));
    }
    if sections.is_empty() {
        // An empty document reads as an error; this is the empty config.
        sections.push(("providers", Node::Seq(Vec::new(), Style::Flow)));
    }
    let mut out = String::new();
    for (i, (name, node)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push(':');
        write_value(&mut out, node, 0);
    }
    out
}
