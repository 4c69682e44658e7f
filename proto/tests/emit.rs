#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `document::emit`: what `syctl export` writes. The contract: for every
//! config C the parser accepts, `parse(emit(C))` is C with every secret
//! replaced by its `${redacted:FINGERPRINT}` marker, and the text never holds
//! a secret.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;
use switchyard_proto::document::{self, Resolver, emit};
use switchyard_proto::model::*;

/// The environment `tests/document.rs` loads the fixtures with.
fn env() -> HashMap<String, String> {
    [
        ("OPENAI_KEY_A", "sk-team-a-000000000000"),
        ("OPENAI_KEY_B", "sk-team-b-000000000000"),
        ("OPENROUTER_KEY", "sk-or-000000000000"),
        ("ANTHROPIC_KEY", "sk-ant-000000000000"),
        ("DEEPSEEK_KEY", "sk-ds-000000000000"),
        ("APP1_KEY", "app1-client-key-0123456789"),
        ("BATCH_KEY", "batch-client-key-0123456789"),
        ("DING_WEBHOOK", "https://oapi.dingtalk.com/robot/send?access_token=tok"),
        ("DING_SECRET", "SECdingsecret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// A hand-written document, read with the fixtures' environment.
fn parse(yaml: &str) -> Config {
    let resolver = Resolver::with_env(env()).relative_to(fixtures());
    document::parse(yaml, &resolver).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"))
}

/// Every secret of a config, with a setter-free path for messages.
fn secrets_of(c: &Config) -> Vec<(String, Secret)> {
    let mut out = Vec::new();
    for p in &c.providers {
        if let Some(proxy) = &p.proxy {
            out.push((format!("{}.proxy", p.name), proxy.clone()));
        }
        for a in &p.accounts {
            out.push((format!("{}.{}.api_key", p.name, a.name), a.api_key.clone()));
        }
    }
    for ch in &c.settings.alerts.channels {
        match &ch.kind {
            AlertChannelKind::DingTalk { webhook, secret } => {
                out.push((format!("{}.webhook", ch.name), webhook.clone()));
                if let Some(s) = secret {
                    out.push((format!("{}.secret", ch.name), s.clone()));
                }
            }
            AlertChannelKind::Webhook { url } => out.push((format!("{}.url", ch.name), url.clone())),
        }
    }
    out
}

/// `c` with every secret replaced by its marker: what an export reads back as.
fn redacted(c: &Config) -> Config {
    let mut c = c.clone();
    for p in &mut c.providers {
        if let Some(proxy) = &mut p.proxy {
            *proxy = proxy.to_redacted();
        }
        for a in &mut p.accounts {
            a.api_key = a.api_key.to_redacted();
        }
    }
    for ch in &mut c.settings.alerts.channels {
        match &mut ch.kind {
            AlertChannelKind::DingTalk { webhook, secret } => {
                *webhook = webhook.to_redacted();
                if let Some(s) = secret {
                    *s = s.to_redacted();
                }
            }
            AlertChannelKind::Webhook { url } => *url = url.to_redacted(),
        }
    }
    c
}

/// The contract, checked on one config; returns the text.
#[track_caller]
fn assert_round_trip(c: &Config) -> String {
    let text = emit(c);
    // An export needs nothing from the environment or the file system.
    let back = document::parse(&text, &Resolver::with_env(HashMap::new()))
        .unwrap_or_else(|e| panic!("the export does not parse back:\n{e}\n---\n{text}"));
    let expected = redacted(c);
    if back != expected {
        panic!("the export reads back differently:\n{text}\n--- read back\n{back:#?}\n--- expected\n{expected:#?}");
    }
    assert_eq!(emit(c), text, "emit is deterministic");
    assert_eq!(emit(&back), text, "emit(parse(emit(C))) == emit(C)");
    text
}

#[track_caller]
fn assert_no_secret(c: &Config, text: &str) {
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

/// DESIGN's smallest useful document: everything else is a default.
const MINIMAL: &str = r#"
providers:
  - name: openai
    kind: openai
    accounts:
      - {name: main, api_key: "${env:OPENAI_KEY_A}"}
models:
  - name: gpt-4o-mini
    targets: [{provider: openai, model: gpt-4o-mini}]
"#;

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
  - {name: app, key: "${env:APP1_KEY}", models: [], rpm: 60, expires: 2027-06-30}
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
    let expected = format!(
        "\
providers:
  - name: deepseek
    kind: openai-compatible
    base_url: https://api.deepseek.com/v1
    headers: {{X-Flag: \"yes\", X-Title: Switchyard}}
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
        ("logging: {request_bodies: true}", |s| s.logging.request_bodies = true),
        ("logging: {retention: 1d}", |s| s.logging.retention = Duration::from_secs(86_400)),
        ("logging: {max_body_bytes: 0}", |s| s.logging.max_body_bytes = 0),
        ("usage: {retention: 365d}", |s| s.usage_retention = Duration::from_secs(365 * 86_400)),
        ("snapshot: {fail_closed_after: 500ms}", |s| s.snapshot_fail_closed_after = Some(Duration::from_millis(500))),
        ("balance: {poll_interval: 1h1s}", |s| s.balance_poll_interval = Duration::from_secs(3601)),
        ("alerts:\n    evaluate_every: 5m\n", |s| s.alerts.evaluate_every = Duration::from_secs(300)),
        ("alerts:\n    quiet_period: 2h\n", |s| s.alerts.quiet_period = Duration::from_secs(7200)),
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

/// Strings YAML or the reference resolver could misread.
const TRICKY: &[&str] = &[
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

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_model_name(s: &str) -> bool {
    !s.trim().is_empty() && s.len() <= 256 && !s.chars().any(char::is_whitespace) && s != "auto"
}

fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| (b >= 32 && b != 127) || b == b'\t')
}

#[test]
fn tricky_strings_round_trip_everywhere_they_are_allowed() {
    let base = parse(MINIMAL);
    let mut tried = 0;
    for s in TRICKY {
        let mut c = base.clone();
        c.models[0].targets[0].model = s.to_string();
        c.models[0].targets.push(Target {
            provider: "openai".into(),
            model: format!("{s}-2"),
            priority: 0,
            price: None,
        });
        if !s.trim().is_empty() {
            c.providers[0].kind = ProviderKind::Azure;
            c.providers[0].api_version = Some(s.to_string());
        }
        if is_header_value(s) {
            c.providers[0].headers.insert("X-Value".into(), s.to_string());
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
        c.providers[0].headers.insert(name.into(), "v".into());
    }
    c.validate().unwrap();
    let out = assert_round_trip(&c);
    assert!(out.contains("    headers:\n      \"!x\": v\n"), "a long map is written in block style:\n{out}");

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

// ---------------------------------------------------------------------------
// Generated configs.

/// SplitMix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.next() % span,
            None => self.next(),
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }

    fn maybe<T>(&mut self, percent: u64, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(percent) { Some(f(self)) } else { None }
    }

    fn string(&mut self, alphabet: &[char], max_len: u64) -> String {
        (0..self.range(1, max_len)).map(|_| *self.pick(alphabet)).collect()
    }
}

const NAME_CHARS: &[char] = &['a', 'b', 'x', 'Y', 'Z', '0', '1', '9', '.', '_', '-'];
const NAME_WORDS: &[&str] = &[
    "openai",
    "main",
    "true",
    "False",
    "null",
    "NULL",
    "yes",
    "no",
    "Y",
    "n",
    "on",
    "OFF",
    "1",
    "0",
    "007",
    "-1",
    "1.0",
    "1e5",
    "0x10",
    "0o17",
    "0b1",
    "1_000",
    ".5",
    ".inf",
    ".nan",
    "nan",
    "inf",
    "2024-10-21",
    "-",
    "--",
    "---",
    "...",
    ".",
    "_",
    "a.b-c_d",
];
const ANY_CHARS: &[char] = &[
    'a', 'Z', '0', '9', ' ', ' ', '\t', '\n', '\r', ':', '#', ',', '[', ']', '{', '}', '$', '$', '{', '\\', '"', '\'',
    '-', '?', '&', '*', '!', '|', '>', '%', '@', '`', '~', '.', '+', '_', '/', '=', 'é', '模', '😀', '\u{85}',
    '\u{2028}', '\u{feff}', '\u{a0}', '\0', '\u{7f}', '\u{9f}',
];
const HEADER_NAME_CHARS: &[char] =
    &['a', 'B', 'x', '0', '9', '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'];
const CURRENCIES: &[&str] = &["USD", "CNY", "EUR", "YES", "OFF", "NAN", "INF", "NUL", "TRU"];
const URLS: &[&str] = &[
    "https://api.openai.com/v1",
    "http://localhost:8080",
    "https://h.example/a#b",
    "https://h.example/?q=a,b&c={d}",
    "https://user:pw@h.example:8443/x",
    "http://例え.jp/v1",
    "https://h.example/${x}/$${y}",
    "https://h.example/a b",
    " https://padded.example ",
    "https://h.example/yes: no #c",
    "HTTPS://UPPER.EXAMPLE",
    "http://[::1]:9/",
    "https://openrouter.ai/api/v1",
];

fn unique(rng: &mut Rng, used: &mut HashSet<String>, mut make: impl FnMut(&mut Rng) -> String) -> String {
    for _ in 0..50 {
        let s = make(rng);
        if used.insert(s.clone()) {
            return s;
        }
    }
    let s = format!("{}-{}", make(rng), used.len());
    assert!(used.insert(s.clone()));
    s
}

fn name(rng: &mut Rng) -> String {
    if rng.chance(40) { (*rng.pick(NAME_WORDS)).to_owned() } else { rng.string(NAME_CHARS, 12) }
}

fn any_string(rng: &mut Rng) -> String {
    if rng.chance(30) { (*rng.pick(TRICKY)).to_owned() } else { rng.string(ANY_CHARS, 16) }
}

fn model_name(rng: &mut Rng) -> String {
    loop {
        let s = any_string(rng);
        if is_model_name(&s) {
            return s;
        }
    }
}

fn non_blank(rng: &mut Rng) -> String {
    loop {
        let s = any_string(rng);
        if !s.trim().is_empty() {
            return s;
        }
    }
}

fn currency(rng: &mut Rng) -> String {
    if rng.chance(50) {
        (*rng.pick(CURRENCIES)).to_owned()
    } else {
        (0..3).map(|_| char::from(b'A' + rng.range(0, 25) as u8)).collect()
    }
}

fn money(rng: &mut Rng) -> i64 {
    let micros = match rng.range(0, 6) {
        0 => 0,
        1 => rng.range(0, 1_000_000),
        2 => rng.range(0, 100_000) * 10_000,
        3 => rng.range(0, 1_000_000) * 1_000_000,
        4 => rng.range(0, 1_000_000_000_000),
        5 => rng.range(0, i64::MAX as u64),
        _ => i64::MAX as u64,
    };
    micros as i64
}

/// A duration > 0 and <= 3650d, at millisecond resolution.
fn duration(rng: &mut Rng) -> Duration {
    let ms = match rng.range(0, 5) {
        0 => rng.range(1, 999),
        1 => rng.range(1, 600) * 1_000,
        2 => rng.range(1, 600) * 60_000,
        3 => rng.range(1, 3_650) * 86_400_000,
        4 => rng.range(1, 48) * 3_600_000 + rng.range(0, 3_599_999),
        _ => rng.range(1, 3_650 * 86_400_000),
    };
    Duration::from_millis(ms)
}

fn size(rng: &mut Rng) -> u64 {
    match rng.range(0, 4) {
        0 => rng.range(1, 1024) << 10,
        1 => rng.range(1, 1024) << 20,
        2 => rng.range(1, 16) << 30,
        3 => rng.range(1, 100_000_000),
        _ => rng.range(1, u64::MAX),
    }
}

fn secret(rng: &mut Rng, make: impl FnOnce(String) -> String) -> Secret {
    if rng.chance(10) {
        // Already a marker (an export being re-exported).
        let digits = rng.range(8, 64) as usize;
        let fp: String = (0..digits).map(|_| *rng.pick(&['0', '7', 'a', 'f', 'A', 'F'])).collect();
        return Secret::redacted_marker(&fp);
    }
    Secret::new(make(format!("sk-GEN-{:016x}", rng.next())))
}

fn price(rng: &mut Rng) -> Price {
    loop {
        let p = Price {
            currency: currency(rng),
            input_per_mtok_micros: rng.maybe(70, money),
            output_per_mtok_micros: rng.maybe(70, money),
            cached_input_per_mtok_micros: rng.maybe(40, money),
        };
        if p.input_per_mtok_micros.is_some()
            || p.output_per_mtok_micros.is_some()
            || p.cached_input_per_mtok_micros.is_some()
        {
            return p;
        }
    }
}

fn provider(rng: &mut Rng, used: &mut HashSet<String>) -> Provider {
    let kind = *rng.pick(&ProviderKind::ALL);
    let mut headers = BTreeMap::new();
    let mut lower = HashSet::new();
    for _ in 0..rng.range(0, 4) {
        let name = rng.string(HEADER_NAME_CHARS, 10);
        let reserved = ["authorization", "api-key", "x-api-key", "x-goog-api-key", "host", "content-length"];
        if reserved.contains(&name.to_ascii_lowercase().as_str()) || !lower.insert(name.to_ascii_lowercase()) {
            continue;
        }
        let value = loop {
            let v = if rng.chance(10) { String::new() } else { any_string(rng) };
            if is_header_value(&v) {
                break v;
            }
        };
        headers.insert(name, value);
    }
    let proxy = rng.maybe(30, |rng| secret(rng, |s| format!("http://user:{s}@proxy.example:3128")));
    let duration_or_none = |rng: &mut Rng| rng.maybe(30, duration);
    let timeout = TimeoutOverrides {
        connect: duration_or_none(rng),
        first_token: duration_or_none(rng),
        idle: duration_or_none(rng),
        total: duration_or_none(rng),
    };
    let mut accounts_used = HashSet::new();
    let accounts = (0..rng.range(1, 3))
        .map(|_| Account {
            name: unique(rng, &mut accounts_used, name),
            api_key: secret(rng, |s| s),
            weight: if rng.chance(50) { 1 } else { rng.range(1, u64::from(u32::MAX)) as u32 },
            enabled: rng.chance(80),
            balance: rng
                .maybe(30, |rng| BalancePolicy { currency: currency(rng), alert_below_micros: rng.maybe(60, money) }),
        })
        .collect();
    Provider {
        name: unique(rng, used, name),
        kind,
        base_url: if rng.chance(50) {
            format!("https://p{}.example/v1", rng.range(0, 99))
        } else {
            (*rng.pick(URLS)).to_owned()
        },
        headers,
        http2: proxy.is_none() && rng.chance(30),
        proxy,
        timeout,
        stream_usage: if rng.chance(70) { StreamUsage::Inject } else { StreamUsage::Never },
        on_disconnect: if rng.chance(70) { OnDisconnect::Close } else { OnDisconnect::Drain },
        enabled: rng.chance(80),
        balance_api: rng.maybe(40, |rng| *rng.pick(&BalanceApi::ALL)),
        api_version: (kind == ProviderKind::Azure).then(|| non_blank(rng)),
        default_max_tokens: (kind == ProviderKind::Anthropic)
            .then(|| rng.maybe(60, |rng| rng.range(1, u64::from(u32::MAX)) as u32))
            .flatten(),
        accounts,
    }
}

fn route(rng: &mut Rng, providers: &[Provider], public: &mut HashSet<String>) -> Route {
    let name = unique(rng, public, model_name);
    let aliases = (0..rng.range(0, 3)).map(|_| unique(rng, public, model_name)).collect();
    let mut pairs = HashSet::new();
    let mut targets = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let provider = rng.pick(providers).name.clone();
        let model = non_blank(rng);
        if !pairs.insert((provider.clone(), model.clone())) {
            continue;
        }
        targets.push(Target {
            provider,
            model,
            priority: if rng.chance(50) { 0 } else { rng.range(0, u64::from(u32::MAX)) as u32 },
            price: rng.maybe(30, price),
        });
    }
    Route { name, aliases, strategy: *rng.pick(&Strategy::ALL), price: rng.maybe(50, price), targets }
}

fn key(rng: &mut Rng, used: &mut HashSet<String>, hashes: &mut HashSet<KeyHash>, public: &[String]) -> ClientKey {
    let key_sha256 = loop {
        let mut h = [0u8; 32];
        if rng.chance(20) {
            // All decimal digits in hex: looks like a number to YAML.
            h.fill(0x11 * rng.range(0, 9) as u8);
        } else {
            for b in &mut h {
                *b = rng.next() as u8;
            }
        }
        if hashes.insert(KeyHash(h)) {
            break KeyHash(h);
        }
    };
    let (min, max) = (jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    ClientKey {
        name: unique(rng, used, name),
        key_sha256,
        models: rng.maybe(50, |rng| (0..rng.range(0, 3)).map(|_| rng.pick(public).clone()).collect()),
        allow_direct: rng.chance(30),
        rpm: rng.maybe(40, |rng| rng.range(1, u64::from(u32::MAX)) as u32),
        tpm: rng.maybe(40, |rng| rng.range(1, u64::MAX)),
        budget: rng.maybe(40, |rng| Budget {
            currency: currency(rng),
            amount_micros: money(rng),
            period: *rng.pick(&BudgetPeriod::ALL),
        }),
        expires_unix: rng.maybe(40, |rng| {
            if rng.chance(50) {
                1_798_761_600 + rng.range(0, 10 * 365 * 86_400) as i64
            } else {
                min + rng.range(0, (max - min) as u64) as i64
            }
        }),
        log_bodies: rng.maybe(40, |rng| rng.chance(50)),
        enabled: rng.chance(80),
    }
}

fn settings(rng: &mut Rng, public: &[String]) -> Settings {
    let mut s = Settings::default();
    if !public.is_empty() && rng.chance(50) {
        s.default_model = Some(rng.pick(public).clone());
    }
    let sometimes = |rng: &mut Rng| rng.chance(40);
    if sometimes(rng) {
        s.timeout.connect = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.first_token = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.idle = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.total = duration(rng);
    }
    if sometimes(rng) {
        s.retry.max_attempts = rng.range(1, 10) as u32;
    }
    if sometimes(rng) {
        s.retry.on = RetryCondition::ALL.into_iter().filter(|_| rng.chance(50)).collect();
    }
    let b = &mut s.breaker;
    if sometimes(rng) {
        b.consecutive_failures = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) {
        b.failure_rate = match rng.range(0, 3) {
            0 => *rng.pick(&[1.0, 0.1, 0.3, 1e-9, 5e-324, 0.999_999_999_999_999_9]),
            _ => (rng.range(1, 1 << 53) as f64) / ((1u64 << 53) as f64),
        };
    }
    if sometimes(rng) {
        b.window = duration(rng);
    }
    if sometimes(rng) {
        b.min_requests = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) {
        b.cooldown = duration(rng);
    }
    if sometimes(rng) || b.max_cooldown < b.cooldown {
        b.max_cooldown = b.cooldown + Duration::from_millis(rng.range(0, 1 << 40));
    }
    let l = &mut s.limits;
    if sometimes(rng) {
        l.max_body = size(rng);
    }
    if sometimes(rng) {
        l.max_concurrency = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) || l.max_buffered_bodies < l.max_body {
        l.max_buffered_bodies = l.max_body.saturating_add(if rng.chance(50) { 0 } else { size(rng) });
    }
    if sometimes(rng) {
        s.logging.request_bodies = true;
    }
    if sometimes(rng) {
        s.logging.retention = duration(rng);
    }
    if sometimes(rng) {
        s.logging.max_body_bytes = if rng.chance(20) { 0 } else { size(rng) };
    }
    if sometimes(rng) {
        s.usage_retention = duration(rng);
    }
    if sometimes(rng) {
        s.snapshot_fail_closed_after = Some(duration(rng));
    }
    if sometimes(rng) {
        s.balance_poll_interval = duration(rng);
    }
    if sometimes(rng) {
        s.alerts.evaluate_every = duration(rng);
    }
    if sometimes(rng) {
        s.alerts.quiet_period = if rng.chance(20) { Duration::ZERO } else { duration(rng) };
    }
    let mut used = HashSet::new();
    for _ in 0..rng.range(0, 3) {
        let kind = if rng.chance(50) {
            AlertChannelKind::DingTalk {
                webhook: secret(rng, |s| format!("https://oapi.dingtalk.com/robot/send?access_token={s}")),
                secret: rng.maybe(50, |rng| secret(rng, |s| format!("SEC{s}"))),
            }
        } else {
            AlertChannelKind::Webhook { url: secret(rng, |s| format!("https://hooks.example.com/{s}")) }
        };
        s.alerts.channels.push(AlertChannel { name: unique(rng, &mut used, name), kind });
    }
    s
}

fn generate(rng: &mut Rng) -> Config {
    let mut used = HashSet::new();
    let providers: Vec<Provider> = (0..rng.range(0, 4)).map(|_| provider(rng, &mut used)).collect();
    let mut public_set = HashSet::new();
    let models: Vec<Route> = if providers.is_empty() {
        Vec::new()
    } else {
        (0..rng.range(1, 4)).map(|_| route(rng, &providers, &mut public_set)).collect()
    };
    let public: Vec<String> = models.iter().flat_map(|r| std::iter::once(&r.name).chain(&r.aliases)).cloned().collect();
    let (mut used, mut hashes) = (HashSet::new(), HashSet::new());
    let keys = if public.is_empty() { 0 } else { rng.range(0, 4) };
    let keys = (0..keys).map(|_| key(rng, &mut used, &mut hashes, &public)).collect();
    Config { providers, models, keys, settings: settings(rng, &public) }
}

#[test]
fn generated_configs_round_trip_without_their_secrets() {
    let mut rng = Rng(0x5eed_f00d_e417);
    for i in 0..400 {
        let c = generate(&mut rng);
        c.validate().unwrap_or_else(|e| panic!("generated config {i} is invalid (a generator bug):\n{e}"));
        let out = assert_round_trip(&c);
        assert_no_secret(&c, &out);
        assert!(!out.contains("sk-GEN-"), "config {i}: a secret is in the export:\n{out}");
    }
}
