#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `document::emit`: what `syctl export` writes. The contract: for every
//! config C the parser accepts, `parse(emit(C))` is C with every secret
//! replaced by its `${redacted:FINGERPRINT}` marker, and the text never holds
//! a secret.

mod common;

use common::export::*;
use common::{env, fixtures};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use switchyard_proto::document::{self, Resolver, emit};
use switchyard_proto::model::*;

#[test]
fn full_fixture_round_trips() {
    let text = std::fs::read_to_string(fixtures().join("full.yaml")).unwrap();
    let c = parse(&text);
    let out = assert_round_trip(&c);
    assert_no_secret(&c, &out);
    // Nothing the environment or a secret file gave may show, client keys included.
    for (name, value) in env() {
        assert!(!out.contains(&value), "${{env:{name}}}'s value is in the export:\n{out}");
    }
    assert!(!out.contains("azure-secret-value"));
    assert!(!out.contains("proxy.internal"), "a proxy URL is a secret");
    assert!(!out.contains("${env:") && !out.contains("${file:"));
    assert!(out.contains(&KeyHash::of("app1-client-key-0123456789").to_hex()));
    // Defaults are left out; set values are written in their human forms.
    for absent in ["enabled: true", "weight: 1\n", "priority: 0", "strategy: p2c", "stream_usage", "on_disconnect"] {
        assert!(!out.contains(absent), "{absent:?} is a default:\n{out}");
    }
    for present in [
        "timeout: {connect: 5s, first_token: 1m, idle: 30s, total: 10m}",
        "balance: {currency: USD, alert_below: 10.0}",
        "price: {currency: USD, input_per_mtok: 0.15, output_per_mtok: 0.6, cached_input_per_mtok: 0.075}",
        "budget: {currency: USD, amount: 50.0, period: month}",
        "expires: \"2027-01-01T00:00:00Z\"",
        "api_version: \"2024-10-21\"",
        "http2: true",
    ] {
        assert!(out.contains(present), "{present:?} missing:\n{out}");
    }
    let settings = &out[out.find("\nsettings:\n").unwrap() + 1..];
    assert!(settings.starts_with("settings:\n  default_model: gpt-4o-mini\n  alerts:\n    channels:\n"), "{out}");
}

#[test]
fn example_file_round_trips() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/gateway.yaml"));
    let c = parse(&std::fs::read_to_string(path).unwrap());
    let out = assert_round_trip(&c);
    assert_no_secret(&c, &out);
}

#[test]
fn the_export_never_holds_a_secret() {
    let c = common::rich_config();
    let out = emit(&c);
    for s in common::SECRETS {
        assert!(!out.contains(s), "{s} is in the export:\n{out}");
    }
    for (path, s) in secrets_of(&c) {
        assert!(!out.contains(s.expose()), "the secret at {path} is in the export:\n{out}");
        let marker = format!("${{redacted:{}}}", s.fingerprint());
        assert!(out.contains(&marker), "{path} is not written as {marker}:\n{out}");
    }
    // Client keys are written as their hashes.
    for k in &c.keys {
        assert!(out.contains(&format!("key_sha256: {}\n", k.key_sha256.to_hex())), "{out}");
    }
}

#[test]
fn rich_config_round_trips() {
    let c = common::rich_config();
    c.validate().unwrap();
    let out = assert_round_trip(&c);
    assert_no_secret(&c, &out);
}

#[test]
fn a_minimal_config_is_written_as_a_person_would() {
    let c = parse(MINIMAL);
    let out = assert_round_trip(&c);
    let fp = Secret::new("sk-team-a-000000000000").fingerprint();
    let expected = format!(
        "\
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    accounts:
      - name: main
        api_key: ${{redacted:{fp}}}

models:
  - name: gpt-4o-mini
    targets:
      - provider: openai
        model: gpt-4o-mini
"
    );
    assert_eq!(out, expected);
}

#[test]
fn a_small_config_with_keys_and_settings() {
    let c = parse(
        r#"
providers:
  - name: deepseek
    kind: openai-compatible
    base_url: https://api.deepseek.com/v1
    headers: {X-Title: Switchyard, X-Flag: "yes"}
    accounts:
      - {name: main, api_key: "${env:DEEPSEEK_KEY}", weight: 3, enabled: false}
models:
  - name: chat
    aliases: [cheap, "null"]
    strategy: round_robin
    targets:
      - {provider: deepseek, model: deepseek-chat, priority: 2}
keys:
  - {name: app, key: "${env:APP1_KEY}", models: [], rpm: 60, expires: 2027-06-30, passthrough: {paths: [/batches]}}
  - name: ops
    key_sha256: 0000000000000000000000000000000000000000000000000000000000000000
    passthrough: {methods: [DELETE, GET, GET], paths: [/files, /]}
settings:
  default_model: cheap
  retry: {on: [429, connect, 429]}
  breaker: {failure_rate: 1}
  limits: {max_body: 1000}
  snapshot: {fail_closed_after: 1h30m}
  alerts:
    quiet_period: 0s
    channels:
      - {name: pager, kind: webhook, url: "https://hooks.example.com/x?token=abc"}
"#,
    );
    let out = assert_round_trip(&c);
    assert_no_secret(&c, &out);
    let hash = KeyHash::of("app1-client-key-0123456789").to_hex();
    let url_fp = Secret::new("https://hooks.example.com/x?token=abc").fingerprint();
    let key_fp = Secret::new("sk-ds-000000000000").fingerprint();
    let (flag_fp, title_fp) = (Secret::new("yes").fingerprint(), Secret::new("Switchyard").fingerprint());
    let expected = format!(
        "\
providers:
  - name: deepseek
    kind: openai-compatible
    base_url: https://api.deepseek.com/v1
    headers: {{X-Flag: \"${{redacted:{flag_fp}}}\", X-Title: \"${{redacted:{title_fp}}}\"}}
    accounts:
      - name: main
        api_key: ${{redacted:{key_fp}}}
        weight: 3
        enabled: false

models:
  - name: chat
    aliases: [cheap, \"null\"]
    strategy: round_robin
    targets:
      - provider: deepseek
        model: deepseek-chat
        priority: 2

keys:
  - name: app
    key_sha256: {hash}
    models: []
    rpm: 60
    expires: \"2027-06-30T00:00:00Z\"
    passthrough: {{paths: [/batches]}}
  - name: ops
    key_sha256: \"0000000000000000000000000000000000000000000000000000000000000000\"
    passthrough: {{methods: [GET, DELETE], paths: [/files, /]}}

settings:
  default_model: cheap
  retry: {{on: [connect, 429]}}
  breaker: {{failure_rate: 1.0}}
  limits: {{max_body: 1000}}
  snapshot: {{fail_closed_after: 1h30m}}
  alerts:
    quiet_period: 0s
    channels:
      - name: pager
        kind: webhook
        url: ${{redacted:{url_fp}}}
"
    );
    assert_eq!(out, expected);
}

#[test]
fn the_empty_config_round_trips() {
    let out = assert_round_trip(&Config::default());
    assert_eq!(out, "providers: []\n");
}

#[test]
fn default_settings_are_left_out_one_field_at_a_time() {
    let base = parse(MINIMAL);
    assert!(!emit(&base).contains("settings"));
    type Edit = fn(&mut Settings);
    let edits: Vec<(&str, Edit)> = vec![
        ("timeout: {first_token: 2m}", |s| s.timeout.first_token = Duration::from_secs(120)),
        ("retry: {max_attempts: 1}", |s| s.retry.max_attempts = 1),
        ("retry: {on: []}", |s| s.retry.on.clear()),
        ("breaker: {consecutive_failures: 9}", |s| s.breaker.consecutive_failures = 9),
        ("breaker: {failure_rate: 0.25}", |s| s.breaker.failure_rate = 0.25),
        ("breaker: {window: 1m}", |s| s.breaker.window = Duration::from_secs(60)),
        ("breaker: {min_requests: 3}", |s| s.breaker.min_requests = 3),
        ("breaker: {cooldown: 5s}", |s| s.breaker.cooldown = Duration::from_secs(5)),
        ("breaker: {max_cooldown: 1h}", |s| s.breaker.max_cooldown = Duration::from_secs(3600)),
        ("limits: {max_body: 8MiB}", |s| s.limits.max_body = 8 << 20),
        ("limits: {max_concurrency: 16}", |s| s.limits.max_concurrency = 16),
        ("limits: {max_buffered_bodies: 1GiB}", |s| s.limits.max_buffered_bodies = 1 << 30),
        ("limits: {client_write_timeout: 10s}", |s| s.limits.client_write_timeout = Duration::from_secs(10)),
        ("logging: {request_bodies: true}", |s| s.logging.request_bodies = true),
        ("logging: {retention: 1d}", |s| s.logging.retention = Duration::from_secs(86_400)),
        ("logging: {max_body_bytes: 0}", |s| s.logging.max_body_bytes = 0),
        ("usage: {retention: 365d}", |s| s.usage_retention = Duration::from_secs(365 * 86_400)),
        ("snapshot: {fail_closed_after: 500ms}", |s| s.snapshot_fail_closed_after = Some(Duration::from_millis(500))),
        ("balance: {poll_interval: 1h1s}", |s| s.balance_poll_interval = Duration::from_secs(3601)),
        ("alerts:\n    evaluate_every: 5m\n", |s| s.alerts.evaluate_every = Duration::from_secs(300)),
        ("alerts:\n    quiet_period: 2h\n", |s| s.alerts.quiet_period = Duration::from_secs(7200)),
        ("alerts:\n    time_to_empty_below: 6h\n", |s| s.alerts.time_to_empty_below = Duration::from_secs(6 * 3600)),
        ("alerts:\n    open_on_nodes: 1\n", |s| s.alerts.open_on_nodes = 1),
        ("alerts:\n    node_grace: 1m30s\n", |s| s.alerts.node_grace = Duration::from_secs(90)),
    ];
    for (expected, edit) in edits {
        let mut c = base.clone();
        edit(&mut c.settings);
        let out = assert_round_trip(&c);
        let settings = &out[out.find("\nsettings:\n").expect("a settings section") + 1..];
        assert_eq!(settings, format!("settings:\n  {expected}{}", if expected.ends_with('\n') { "" } else { "\n" }));
    }
}

#[test]
fn secrets_already_redacted_are_written_as_they_are() {
    let mut c = parse(MINIMAL);
    let marker = Secret::redacted_marker("0123456789abCDEF");
    c.providers[0].accounts[0].api_key = marker.clone();
    let out = assert_round_trip(&c);
    assert!(out.contains("api_key: ${redacted:0123456789abCDEF}\n"), "{out}");

    // Marker-shaped text that is not a well-formed marker (only a literal
    // `$${redacted:...` gives one) may hold a secret: it gets a marker of its own.
    for literal in ["$${redacted:zz}", "$${redacted:0123456789ab}sk-live-secret-0001}"] {
        let c = parse(&MINIMAL.replace("${env:OPENAI_KEY_A}", literal));
        let value = c.providers[0].accounts[0].api_key.clone();
        assert_eq!(value.redacted_fingerprint(), None, "the model does not take it for a marker");
        assert_eq!(value.to_redacted(), Secret::redacted_marker(&value.fingerprint()));
        let out = emit(&c);
        assert!(out.contains(&format!("api_key: ${{redacted:{}}}\n", value.fingerprint())), "{out}");
        assert!(!out.contains("zz") && !out.contains("sk-live-secret"), "{out}");
        let back = document::parse(&out, &Resolver::with_env(HashMap::new())).unwrap();
        assert_eq!(back.providers[0].accounts[0].api_key, Secret::redacted_marker(&value.fingerprint()));
        assert_eq!(emit(&back), out);
    }
}

#[test]
fn money_a_float_cannot_hold_is_written_as_a_string() {
    let mut c = parse(MINIMAL);
    c.models[0].price = Some(Price {
        currency: "USD".into(),
        input_per_mtok_micros: Some(i64::MAX),
        output_per_mtok_micros: Some(9_999_999_999_999_999),
        cached_input_per_mtok_micros: Some(1),
    });
    let out = assert_round_trip(&c);
    assert!(out.contains("\n      input_per_mtok: \"9223372036854.775807\"\n"), "{out}");
    assert!(out.contains("\n      output_per_mtok: \"9999999999.999999\"\n"), "{out}");
    assert!(out.contains("\n      cached_input_per_mtok: 0.000001\n"), "{out}");
    // Where a float holds the amount exactly it is a plain number.
    c.models[0].price.as_mut().unwrap().input_per_mtok_micros = Some(1_234_567_890_123_456);
    let out = assert_round_trip(&c);
    assert!(out.contains("\n      input_per_mtok: 1234567890.123456\n"), "{out}");
}
