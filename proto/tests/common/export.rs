//! Helpers of the export tests (`emit*.rs`): the fixtures' environment, the
//! round-trip contract, and strings YAML or the resolver could misread.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use switchyard_proto::document::{self, Resolver, emit};
use switchyard_proto::model::*;

/// A hand-written document, read with the fixtures' environment.
pub fn parse(yaml: &str) -> Config {
    let resolver = Resolver::with_env(super::env()).relative_to(super::fixtures());
    document::parse(yaml, &resolver).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"))
}

/// Every secret of a config, with a setter-free path for messages.
pub fn secrets_of(c: &Config) -> Vec<(String, Secret)> {
    let mut out = Vec::new();
    for p in &c.providers {
        if let Some(proxy) = &p.proxy {
            out.push((format!("{}.proxy", p.name), proxy.clone()));
        }
        for (name, value) in &p.headers {
            out.push((format!("{}.headers.{name}", p.name), value.clone()));
        }
        for a in &p.accounts {
            out.push((format!("{}.{}.api_key", p.name, a.name), a.api_key.clone()));
        }
    }
    for ch in &c.settings.alerts.channels {
        match &ch.kind {
            AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret } => {
                out.push((format!("{}.webhook", ch.name), webhook.clone()));
                if let Some(s) = secret {
                    out.push((format!("{}.secret", ch.name), s.clone()));
                }
            }
            AlertChannelKind::WeCom { webhook } => out.push((format!("{}.webhook", ch.name), webhook.clone())),
            AlertChannelKind::Webhook { url } => out.push((format!("{}.url", ch.name), url.clone())),
        }
    }
    out
}

/// The contract, checked on one config; returns the text.
#[track_caller]
pub fn assert_round_trip(c: &Config) -> String {
    let text = emit(c);
    // An export needs nothing from the environment or the file system.
    let back = document::parse(&text, &Resolver::with_env(HashMap::new()))
        .unwrap_or_else(|e| panic!("the export does not parse back:\n{e}\n---\n{text}"));
    let expected = c.redacted();
    if back != expected {
        panic!("the export reads back differently:\n{text}\n--- read back\n{back:#?}\n--- expected\n{expected:#?}");
    }
    assert_eq!(emit(c), text, "emit is deterministic");
    assert_eq!(emit(&back), text, "emit(parse(emit(C))) == emit(C)");
    text
}

#[track_caller]
pub fn assert_no_secret(c: &Config, text: &str) {
    for (path, s) in secrets_of(c) {
        let marker = s.to_redacted();
        if marker != s {
            assert!(!text.contains(s.expose()), "the secret at {path} is in the export:\n{text}");
        }
        if marker.redacted_fingerprint().is_some_and(is_fingerprint) {
            assert!(text.contains(marker.expose()), "no marker for {path}:\n{text}");
        }
    }
}

/// DESIGN's smallest useful document: everything else is a default.
pub const MINIMAL: &str = r#"
providers:
  - name: openai
    kind: openai
    accounts:
      - {name: main, api_key: "${env:OPENAI_KEY_A}"}
models:
  - name: gpt-4o-mini
    targets: [{provider: openai, model: gpt-4o-mini}]
"#;

/// Strings YAML or the reference resolver could misread.
pub const TRICKY: &[&str] = &[
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "true",
    "False",
    "null",
    "NULL",
    "~",
    "1",
    "-1",
    "+1",
    "1.0",
    "1.",
    ".5",
    "1e5",
    "0x10",
    "0o17",
    "0b11",
    "1_000",
    "1:30",
    ".inf",
    "-.Inf",
    ".nan",
    "NaN",
    "inf",
    "007",
    "0",
    "2024-10-21",
    "2027-01-01T00:00:00Z",
    "<<",
    "=",
    "-",
    "---",
    "...",
    "?",
    "? x",
    "- x",
    ":",
    "a:",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#x",
    "&a",
    "*a",
    "!tag",
    "!!str",
    "%x",
    "@x",
    "`x",
    "|",
    ">",
    "'q'",
    "\"dq\"",
    "it's",
    "{a}",
    "[a]",
    "a,b",
    "a]",
    "{",
    "${env:X}",
    "${env:OPENAI_KEY_A}",
    "$${x}",
    "$$${x}",
    "$",
    "$$",
    "${",
    "a${b}c",
    "${redacted:0123456789ab}",
    " lead",
    "trail ",
    "two  spaces",
    "tab\tx",
    "new\nline",
    "cr\rx",
    "nul\0x",
    "bell\u{7}",
    "del\u{7f}",
    "nel\u{85}x",
    "ls\u{2028}x",
    "ps\u{2029}x",
    "bom\u{feff}x",
    "\u{feff}",
    "nbsp\u{a0}x",
    "é",
    "模型-v1",
    "emoji😀",
    "back\\slash",
    "a\\nb",
    "c1\u{9f}",
    "https://h.example/v1?a=b,c#d",
    "5xx",
    "429",
];

pub fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An exact model name or alias (`*` is for wildcard routes only, at the end).
pub fn is_model_name(s: &str) -> bool {
    !s.contains('*') && !s.trim().is_empty() && s.len() <= 256 && !s.chars().any(char::is_whitespace) && s != "auto"
}

pub fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| (b >= 32 && b != 127) || b == b'\t')
}
