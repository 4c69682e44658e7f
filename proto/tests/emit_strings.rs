#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `document::emit` with strings YAML or the reference resolver could
//! misread, in every place the schema allows them.

mod common;

use common::export::*;
use switchyard_proto::model::*;

#[test]
fn tricky_strings_round_trip_everywhere_they_are_allowed() {
    let base = parse(MINIMAL);
    let mut tried = 0;
    for s in TRICKY {
        let mut c = base.clone();
        // `*` in a target model is a wildcard route's pattern: see wildcard_names_round_trip.
        if !s.contains('*') {
            c.models[0].targets[0].model = s.to_string();
            c.models[0].targets.push(Target {
                provider: "openai".into(),
                model: format!("{s}-2"),
                priority: 0,
                price: None,
            });
        }
        if !s.trim().is_empty() {
            c.providers[0].kind = ProviderKind::Azure;
            c.providers[0].api_version = Some(s.to_string());
        }
        if is_header_value(s) {
            c.providers[0].headers.insert("X-Value".into(), Secret::new(*s));
        }
        if is_model_name(s) {
            c.models[0].aliases.push(s.to_string());
            c.settings.default_model = Some(s.to_string());
        }
        if is_name(s) {
            c.providers[0].name = s.to_string();
            c.providers[0].accounts[0].name = s.to_string();
            for t in &mut c.models[0].targets {
                t.provider = s.to_string();
            }
        }
        c.validate().unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_round_trip(&c);
        tried += 1;
    }
    assert_eq!(tried, TRICKY.len());

    // Header names are mapping keys: any token character.
    let mut c = base.clone();
    for name in ["1", "true", "yes", "~", "!x", "#x", "&x", "*x", "%x", "`x", "|x", "-", "-x", "'x", "x$y", "^x", "."] {
        c.providers[0].headers.insert(name.into(), Secret::new("v"));
    }
    c.validate().unwrap();
    let out = assert_round_trip(&c);
    let marker = Secret::new("v").to_redacted();
    let line = format!("    headers:\n      \"!x\": {}\n", marker.expose());
    assert!(out.contains(&line), "a long map is written in block style, values as markers:\n{out}");

    // So are long lists, their items quoted the same way.
    let mut c = base.clone();
    let names: Vec<String> = TRICKY.iter().filter(|s| is_model_name(s)).map(|s| s.to_string()).collect();
    c.models[0].aliases = names.clone();
    let mut k = common::key("k");
    k.models = Some(names);
    c.keys.push(k);
    c.validate().unwrap();
    let out = assert_round_trip(&c);
    assert!(out.contains("    aliases:\n      - \"yes\"\n"), "{out}");
    assert!(out.contains("    models:\n      - \"yes\"\n"), "{out}");
}

#[test]
fn wildcard_names_round_trip() {
    let base = parse(MINIMAL);
    let mut c = base.clone();
    for (name, models) in [("*", &["*", "openai/*"][..]), ("gpt-*", &["gpt-*", "gpt-4o-mini"]), ("openai/*", &["*"])] {
        let mut r = c.models[0].clone();
        r.name = name.into();
        r.aliases.clear();
        r.targets = models
            .iter()
            .map(|m| Target { provider: "openai".into(), model: (*m).into(), priority: 0, price: None })
            .collect();
        c.models.push(r);
    }
    let mut k = common::key("k");
    k.models = Some(vec!["*".into(), "gpt-*".into()]);
    c.keys.push(k);
    c.validate().unwrap();
    let out = assert_round_trip(&c);
    // `*` would start a YAML alias: it is quoted; `gpt-*` reads back plain.
    assert!(out.contains("  - name: \"*\"\n"), "{out}");
    assert!(out.contains("  - name: gpt-*\n"), "{out}");
    assert!(out.contains("model: \"*\""), "{out}");
}
