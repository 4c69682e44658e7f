//! Helpers of the gateway.yaml tests (`document*.rs`): parsing with the
//! fixtures' environment, and a minimal document to edit.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use super::{env, fixtures};
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::model::Config;

/// Parses with the fixtures' environment and folder; errors as their messages.
pub fn parse(yaml: &str) -> Result<Config, Vec<String>> {
    let resolver = Resolver::with_env(env()).relative_to(fixtures());
    document::parse(yaml, &resolver).map_err(|e| e.iter().map(ToString::to_string).collect())
}

pub const MINIMAL: &str = r#"
providers:
  - name: openai
    kind: openai
    accounts:
      - {name: a, api_key: "sk-aaaaaaaaaaaa"}
models:
  - name: m
    targets: [{provider: openai, model: gpt-4o-mini}]
keys:
  - {name: k, key: "client-key-0123456789"}
"#;

/// MINIMAL with `from` replaced by `to`.
pub fn edit(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from:?} not in MINIMAL");
    MINIMAL.replacen(from, to, 1)
}

/// The messages of every error in `yaml` (none when it parses).
pub fn errors_of(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => vec![],
        Err(e) => e,
    }
}
