//! gateway.yaml: the whole schema, the example file, every validation rule
//! with its exact message, and reference resolution.

mod common;

use common::{env, fixtures};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::model::*;

fn parse(yaml: &str) -> Result<Config, Vec<String>> {
    let resolver = Resolver::with_env(env()).relative_to(fixtures());
    document::parse(yaml, &resolver).map_err(|e| e.iter().map(ToString::to_string).collect())
}

#[test]
fn full_schema_parses_every_field() {
    let text = std::fs::read_to_string(fixtures().join("full.yaml")).unwrap();
    let c = parse(&text).unwrap();
    let ms = Duration::from_millis;

    let openai = &c.providers[0];
    assert_eq!(openai.name, "openai");
    assert_eq!(openai.kind, ProviderKind::OpenAi);
    assert_eq!(openai.base_url, "https://api.openai.com/v1");
    assert!(openai.headers.is_empty());
    assert_eq!(openai.proxy.as_ref().unwrap().expose(), "http://proxy.internal:3128");
    assert_eq!(
        openai.timeout,
        TimeoutOverrides {
            connect: Some(ms(5_000)),
            first_token: Some(ms(60_000)),
            idle: Some(ms(30_000)),
            total: Some(ms(600_000))
        }
    );
    assert_eq!(openai.stream_usage, StreamUsage::Inject);
    assert_eq!(openai.on_disconnect, OnDisconnect::Close);
    assert!(openai.enabled);
    assert!(!openai.http2, "http2 defaults to false");
    assert_eq!(openai.balance_api, None);
    assert_eq!(openai.effective_balance_api(), BalanceApi::None);
    let team_a = &openai.accounts[0];
    assert_eq!(
        (team_a.name.as_str(), team_a.api_key.expose(), team_a.weight, team_a.enabled),
        ("team-a", "sk-team-a-000000000000", 2, true)
    );
    assert_eq!(team_a.balance, Some(BalancePolicy { currency: "USD".into(), alert_below_micros: Some(10_000_000) }));
    let team_b = &openai.accounts[1];
    assert_eq!((team_b.weight, team_b.enabled, team_b.balance.is_none()), (1, true, true));

    let openrouter = &c.providers[1];
    assert_eq!(openrouter.kind, ProviderKind::OpenAiCompatible);
    assert_eq!(openrouter.balance_api, Some(BalanceApi::OpenRouter));
    assert!(openrouter.http2);
    assert_eq!(openrouter.accounts[0].balance.as_ref().unwrap().alert_below_micros, Some(5_000_000));

    let azure = &c.providers[2];
    assert_eq!((azure.kind, azure.api_version.as_deref()), (ProviderKind::Azure, Some("2024-10-21")));
    assert_eq!(azure.accounts[0].api_key.expose(), "azure-secret-value", "from ${{file:...}}, newline trimmed");

    let claude = &c.providers[3];
    assert_eq!((claude.kind, claude.default_max_tokens), (ProviderKind::Anthropic, Some(4096)));

    let route = &c.models[0];
    assert_eq!((route.name.as_str(), route.aliases.as_slice()), ("gpt-4o-mini", &["smart".to_owned()][..]));
    assert_eq!(route.strategy, Strategy::P2c);
    assert_eq!(
        route.price,
        Some(Price {
            currency: "USD".into(),
            input_per_mtok_micros: Some(150_000),
            output_per_mtok_micros: Some(600_000),
            cached_input_per_mtok_micros: Some(75_000),
        })
    );
    assert_eq!(
        route.targets[0],
        Target { provider: "openai".into(), model: "gpt-4o-mini".into(), priority: 0, price: None }
    );
    assert_eq!(route.targets[1].model, "openai/gpt-4o-mini");
    assert_eq!(route.targets[1].priority, 1);
    assert_eq!(route.targets[1].price.as_ref().unwrap().cached_input_per_mtok_micros, None);
    assert_eq!(route.price_of(&route.targets[0]), route.price.as_ref());

    let key = &c.keys[0];
    assert_eq!(key.name, "app-1");
    assert_eq!(key.key_sha256, KeyHash::of("app1-client-key-0123456789"));
    assert_eq!(key.models, Some(vec!["gpt-4o-mini".to_owned(), "smart".to_owned()]));
    assert!(!key.allow_direct);
    assert_eq!((key.rpm, key.tpm), (Some(600), Some(200_000)));
    assert_eq!(
        key.budget,
        Some(Budget { currency: "USD".into(), amount_micros: 50_000_000, period: BudgetPeriod::Month })
    );
    assert_eq!(key.expires_unix, Some(1_798_761_600));
    assert_eq!((key.log_bodies, key.enabled), (Some(false), true));
    assert_eq!(
        key.passthrough,
        Some(Passthrough {
            methods: vec![HttpMethod::Get, HttpMethod::Post],
            paths: vec!["/files".into(), "/batches".into()]
        })
    );

    let s = &c.settings;
    assert_eq!(s.default_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(s.timeout, Timeouts::default());
    assert_eq!(s.retry, RetryPolicy { max_attempts: 3, on: RetryCondition::ALL.to_vec() });
    assert_eq!(s.breaker, BreakerPolicy::default());
    assert_eq!(
        s.limits,
        Limits {
            max_body: 20 << 20,
            max_concurrency: 4096,
            max_buffered_bodies: 512 << 20,
            client_write_timeout: ms(30_000)
        }
    );
    assert_eq!(s.logging, Logging { request_bodies: false, retention: ms(7 * 86_400_000), max_body_bytes: 1 << 20 });
    assert_eq!(s.usage_retention, ms(90 * 86_400_000));
    assert_eq!(s.snapshot_fail_closed_after, None);
    assert_eq!(s.balance_poll_interval, ms(600_000));
    assert_eq!((s.alerts.evaluate_every, s.alerts.quiet_period), (ms(60_000), ms(3_600_000)));
    match &s.alerts.channels[0].kind {
        AlertChannelKind::DingTalk { webhook, secret } => {
            assert!(webhook.expose().contains("access_token=tok"));
            assert_eq!(secret.as_ref().unwrap().expose(), "SECdingsecret");
        }
        other => panic!("expected dingtalk, got {other:?}"),
    }
    assert_eq!(s.alerts.channels[1].kind.as_str(), "webhook");
    assert_eq!(c.route("smart").unwrap().name, "gpt-4o-mini");
}

#[test]
fn example_file_loads_and_validates() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/gateway.yaml"));
    let text = std::fs::read_to_string(path).unwrap();
    let c = parse(&text).unwrap();
    assert_eq!(c.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["openai", "deepseek", "openrouter"]);
    assert_eq!(c.providers[0].accounts.len(), 2);
    assert_eq!(c.providers[1].effective_balance_api(), BalanceApi::DeepSeek);
    assert_eq!(c.providers[2].effective_balance_api(), BalanceApi::OpenRouter, "inferred from the URL");
    assert_eq!(c.keys.len(), 2);
    assert!(c.models.iter().any(|m| !m.aliases.is_empty()));
    assert!(c.require_secrets().is_ok());
    // Without the environment, every missing variable is named.
    let errors = document::parse(&text, &Resolver::with_env(HashMap::new())).unwrap_err();
    assert_eq!(errors.0.len(), 6);
    assert_eq!(
        errors.0[0].to_string(),
        "providers[0].accounts[0].api_key: environment variable OPENAI_KEY_A is not set"
    );
}

#[test]
fn defaults_fill_what_is_absent() {
    let c = parse(MINIMAL).unwrap();
    let p = &c.providers[0];
    assert_eq!(p.base_url, "https://api.openai.com/v1", "openai's default base URL");
    assert_eq!((p.stream_usage, p.on_disconnect, p.enabled), (StreamUsage::Inject, OnDisconnect::Close, true));
    assert!(!p.http2, "HTTP/1.1 unless asked");
    assert_eq!(p.timeout.resolve(&c.settings.timeout), Timeouts::default());
    assert_eq!(c.models[0].strategy, Strategy::P2c);
    assert_eq!(c.keys[0].models, None);
    assert_eq!(c.settings, Settings::default());
}

/// A valid document the error cases below change one thing in.
const MINIMAL: &str = r#"
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
fn edit(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from:?} not in MINIMAL");
    MINIMAL.replacen(from, to, 1)
}

fn errors_of(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => vec![],
        Err(e) => e,
    }
}

#[test]
fn http2_is_a_bool_and_refuses_a_proxy() {
    for (value, expected) in [("true", true), ("false", false), ("null", false)] {
        let c = parse(&edit("kind: openai", &format!("kind: openai\n    http2: {value}"))).unwrap();
        assert_eq!(c.providers[0].http2, expected, "http2: {value}");
    }
    // A proxy alone, or http2 with a direct connection, is fine; together they are refused.
    assert!(
        parse(&edit("kind: openai", "kind: openai\n    http2: false\n    proxy: http://proxy.internal:3128")).is_ok()
    );
    let errors = errors_of(&edit("kind: openai", "kind: openai\n    proxy: http://p:3128\n    http2: true"));
    assert_eq!(errors, ["providers[0].http2: cannot be combined with proxy"]);
}

#[test]
fn every_rule_gives_its_exact_message() {
    let acct = "{name: a, api_key: \"sk-aaaaaaaaaaaa\"}";
    let target = "[{provider: openai, model: gpt-4o-mini}]";
    let key = r#"{name: k, key: "client-key-0123456789"}"#;
    let pass = |policy: &str| edit(key, &format!("{{name: k, key: \"client-key-0123456789\", passthrough: {policy}}}"));
    let cases: Vec<(String, &str)> = vec![
        // Unknown fields, at every depth.
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", wieght: 2}"),
            "providers[0].accounts[0].wieght: unknown field",
        ),
        (format!("{MINIMAL}provider: []\n"), "provider: unknown field"),
        (edit(target, "[{provider: openai, model: x, prio: 1}]"), "models[0].targets[0].prio: unknown field"),
        (format!("{MINIMAL}settings: {{retry: {{attempts: 2}}}}\n"), "settings.retry.attempts: unknown field"),
        // Shapes and types.
        (edit("kind: openai", "kind: openai\n    accounts: oops\n    enabled: true"), "invalid YAML"),
        (
            edit("    accounts:\n      - {name: a, api_key: \"sk-aaaaaaaaaaaa\"}", "    accounts: none"),
            "providers[0].accounts: expected a list, found a string",
        ),
        (edit("name: openai", "name: 42"), "providers[0].name: expected a string, found a number"),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", enabled: yes}"),
            "providers[0].accounts[0].enabled: expected true or false, found a string",
        ),
        (edit("    kind: openai\n", ""), "providers[0].kind: missing required field"),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaa\\nbbbb\"}"),
            "providers[0].accounts[0].api_key: not usable in an HTTP header (control characters or line breaks)",
        ),
        (
            edit("kind: openai", "kind: opneai"),
            "providers[0].kind: unknown value \"opneai\" (expected one of: openai, openai-compatible, azure, anthropic, gemini)",
        ),
        (edit("kind: openai", "kind: openai-compatible"), "providers[0].base_url: missing required field"),
        // Names and duplicates.
        (
            edit("name: openai", "name: \"open ai\""),
            "providers[0].name: invalid name \"open ai\" (1-128 of letters, digits, '.', '_', '-')",
        ),
        (
            edit(
                "models:",
                "  - {name: openai, kind: openai, accounts: [{name: b, api_key: \"sk-bbbbbbbbbbbb\"}]}\nmodels:",
            ),
            "providers[1].name: duplicate provider \"openai\" (also at providers[0].name)",
        ),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\"}\n      - {name: a, api_key: \"sk-cccccccccccc\"}"),
            "providers[0].accounts[1].name: duplicate account \"a\" (also at providers[0].accounts[0].name)",
        ),
        (
            edit("keys:", "  - {name: m, targets: [{provider: openai, model: y}]}\nkeys:"),
            "models[1].name: duplicate model \"m\" (also at models[0].name)",
        ),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\"}\n  - {name: k, key: \"client-key-9876543210\"}"),
            "keys[1].name: duplicate key \"k\" (also at keys[0].name)",
        ),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\"}\n  - {name: k2, key: \"client-key-0123456789\"}"),
            "keys[1]: same key value as keys[0] (\"k\")",
        ),
        (
            edit(target, "[{provider: openai, model: x}, {provider: openai, model: x, priority: 1}]"),
            "models[0].targets[1]: duplicate target \"openai/x\" (also at models[0].targets[0])",
        ),
        // References.
        (edit(target, "[{provider: opnai, model: x}]"), "models[0].targets[0].provider: unknown provider \"opnai\""),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\", models: [m, gpt5]}"),
            "keys[0].models[1]: unknown model \"gpt5\"",
        ),
        (format!("{MINIMAL}settings: {{default_model: nope}}\n"), "settings.default_model: unknown model \"nope\""),
        // Aliases.
        (
            edit("keys:", "  - {name: b, targets: [{provider: openai, model: y}]}\nkeys:").replacen(
                "  - name: m\n",
                "  - name: m\n    aliases: [b]\n",
                1,
            ),
            "models[0].aliases[0]: alias \"b\" clashes with model \"b\" (models[1].name)",
        ),
        (
            edit("keys:", "  - {name: n, aliases: [smart], targets: [{provider: openai, model: y}]}\nkeys:").replacen(
                "  - name: m\n",
                "  - name: m\n    aliases: [smart]\n",
                1,
            ),
            "models[1].aliases[0]: alias \"smart\" clashes with an alias of model \"m\" (models[0].aliases[0])",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    aliases: [m]\n"),
            "models[0].aliases[0]: alias \"m\" clashes with model \"m\" (models[0].name)",
        ),
        (
            edit("  - name: m\n", "  - name: auto\n"),
            "models[0].name: \"auto\" is reserved: it means settings.default_model",
        ),
        // Money.
        (
            edit("  - name: m\n", "  - name: m\n    price: {input_per_mtok: 0.15}\n"),
            "models[0].price.currency: missing required field",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    price: {currency: usd, input_per_mtok: 0.15}\n"),
            "models[0].price.currency: invalid currency \"usd\" (expected three upper-case letters, e.g. USD)",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    price: {currency: USD, input_per_mtok: -0.15}\n"),
            "models[0].price.input_per_mtok: must not be negative (got -0.15)",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    price: {currency: USD}\n"),
            "models[0].price: a price needs input_per_mtok or output_per_mtok",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    price: {currency: USD, input_per_mtok: 0.0000001}\n"),
            "models[0].price.input_per_mtok: amount \"0.0000001\" has more than 6 decimal places",
        ),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\", budget: {currency: USD, amount: 5}}"),
            "keys[0].budget.period: missing required field",
        ),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", balance: {alert_below: 5}}"),
            "providers[0].accounts[0].balance.currency: missing required field",
        ),
        // Numbers and ranges.
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", weight: -1}"),
            "providers[0].accounts[0].weight: must not be negative (got -1)",
        ),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", weight: 0}"),
            "providers[0].accounts[0].weight: must be at least 1 (use enabled: false to take an account out)",
        ),
        (
            edit(acct, "{name: a, api_key: \"sk-aaaaaaaaaaaa\", weight: 1.5}"),
            "providers[0].accounts[0].weight: expected a whole number, found 1.5",
        ),
        (
            format!("{MINIMAL}settings: {{retry: {{max_attempts: 0}}}}\n"),
            "settings.retry.max_attempts: must be between 1 and 10 (got 0)",
        ),
        (
            format!("{MINIMAL}settings: {{retry: {{on: [connect, 4xx]}}}}\n"),
            "settings.retry.on[1]: unknown value \"4xx\" (expected one of: connect, timeout, 429, 5xx)",
        ),
        (
            format!("{MINIMAL}settings: {{breaker: {{failure_rate: 1.5}}}}\n"),
            "settings.breaker.failure_rate: must be in (0, 1] (got 1.5)",
        ),
        (
            format!("{MINIMAL}settings: {{breaker: {{cooldown: 1m, max_cooldown: 30s}}}}\n"),
            "settings.breaker.max_cooldown: must not be less than cooldown",
        ),
        (
            format!("{MINIMAL}settings: {{limits: {{max_body: 1GiB}}}}\n"),
            "settings.limits.max_buffered_bodies: must not be less than max_body",
        ),
        (
            format!("{MINIMAL}settings: {{limits: {{max_body: 20 megabytes}}}}\n"),
            "settings.limits.max_body: invalid size \"20 megabytes\" (expected e.g. 1024, 64KiB, 20MiB, 1GiB)",
        ),
        (
            format!("{MINIMAL}settings: {{timeout: {{connect: 5 sec}}}}\n"),
            "settings.timeout.connect: invalid duration \"5 sec\" (expected e.g. 500ms, 30s, 10m, 24h, 7d)",
        ),
        (format!("{MINIMAL}settings: {{timeout: {{idle: 0s}}}}\n"), "settings.timeout.idle: must be greater than zero"),
        (
            format!("{MINIMAL}settings: {{limits: {{client_write_timeout: 0s}}}}\n"),
            "settings.limits.client_write_timeout: must be greater than zero",
        ),
        (
            format!("{MINIMAL}settings: {{usage: {{retention: 3651d}}}}\n"),
            "settings.usage.retention: must not exceed 3650d",
        ),
        (
            edit("kind: openai", "kind: openai\n    headers: {X-Title: a, x-title: b}"),
            "providers[0].headers.x-title: header names are case-insensitive: same header as \"X-Title\"",
        ),
        (
            format!("{MINIMAL}settings: {{timeout: {{idle: 30}}}}\n"),
            "settings.timeout.idle: expected a duration such as 30s, found a number",
        ),
        (edit(key, "{name: k, key: \"client-key-0123456789\", rpm: 0}"), "keys[0].rpm: must be at least 1"),
        // Kind-specific fields.
        (
            edit("kind: openai", "kind: openai\n    api_version: \"2024-10-21\""),
            "providers[0].api_version: only for kind azure (this provider is openai)",
        ),
        (
            edit("kind: openai", "kind: azure\n    base_url: https://r.openai.azure.com"),
            "providers[0].api_version: required for kind azure",
        ),
        (
            edit("kind: openai", "kind: openai\n    default_max_tokens: 1024"),
            "providers[0].default_max_tokens: only for kind anthropic (this provider is openai)",
        ),
        (
            edit("kind: openai", "kind: openai\n    base_url: ftp://x"),
            "providers[0].base_url: URL \"ftp://x\" must use http or https with a host (got ftp:)",
        ),
        (
            edit("kind: openai", "kind: openai\n    headers: {Authorization: Bearer x}"),
            "providers[0].headers.Authorization: this header is set by the gateway and cannot be overridden",
        ),
        (
            edit("kind: openai", "kind: openai\n    http2: yes please"),
            "providers[0].http2: expected true or false, found a string",
        ),
        (
            edit("kind: openai", "kind: openai\n    http2: true\n    proxy: http://proxy.internal:3128"),
            "providers[0].http2: cannot be combined with proxy",
        ),
        (
            edit("kind: openai", "kind: openai\n    stream_usage: always"),
            "providers[0].stream_usage: unknown value \"always\" (expected one of: inject, never)",
        ),
        (
            edit("    accounts:\n      - {name: a, api_key: \"sk-aaaaaaaaaaaa\"}", "    accounts: []"),
            "providers[0].accounts: a provider needs at least one account",
        ),
        (edit(target, "[]"), "models[0].targets: a model needs at least one target"),
        // Keys.
        (edit(key, "{name: k}"), "keys[0].key: missing required field"),
        (edit(key, "{name: k, key: short}"), "keys[0].key: too short: a client key needs at least 16 characters"),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\", key_sha256: abc}"),
            "keys[0]: give either key or key_sha256, not both",
        ),
        (edit(key, "{name: k, key_sha256: abc}"), "keys[0].key_sha256: expected 64 hex digits (a SHA-256)"),
        (
            edit(key, "{name: k, key: \"client-key-0123456789\", expires: next year}"),
            "keys[0].expires: invalid time \"next year\" (expected RFC 3339, e.g. 2027-01-01T00:00:00Z)",
        ),
        (
            edit(key, "{name: k, key: \"${redacted:0123456789ab}\"}"),
            "keys[0].key: client keys cannot be redacted; give key_sha256 instead",
        ),
        // Passthrough policies.
        (pass("{paths: [/files], verbs: [GET]}"), "keys[0].passthrough.verbs: unknown field"),
        (pass("{methods: [GET]}"), "keys[0].passthrough.paths: missing required field"),
        (pass("[/files]"), "keys[0].passthrough: expected a mapping, found a list"),
        (
            pass("{methods: [GET, PUT], paths: [/files]}"),
            "keys[0].passthrough.methods[1]: unknown value \"PUT\" (expected one of: GET, POST, DELETE)",
        ),
        (
            pass("{methods: [get], paths: [/files]}"),
            "keys[0].passthrough.methods[0]: unknown value \"get\" (expected one of: GET, POST, DELETE)",
        ),
        (
            pass("{methods: [], paths: [/files]}"),
            "keys[0].passthrough.methods: must not be empty (omit it for GET, POST and DELETE)",
        ),
        (pass("{paths: []}"), "keys[0].passthrough.paths: must list at least one path prefix, such as /files"),
        (
            pass("{paths: [/files, /files]}"),
            "keys[0].passthrough.paths[1]: duplicate path \"/files\" (also at keys[0].passthrough.paths[0])",
        ),
        (
            pass("{paths: [files]}"),
            "keys[0].passthrough.paths[0]: \"files\" must start with '/' (a path after /v1, such as /files)",
        ),
        (
            pass("{paths: [/v1/files]}"),
            "keys[0].passthrough.paths[0]: \"/v1/files\": paths are after /v1, so write /files",
        ),
        (pass("{paths: [/v1]}"), "keys[0].passthrough.paths[0]: \"/v1\": paths are after /v1 (write / for every path)"),
        (
            pass("{paths: [/files/]}"),
            "keys[0].passthrough.paths[0]: \"/files/\" is not a plain path: segments of letters, digits, '-', '_', '.', '~' (not '.' or '..'), with no trailing '/'",
        ),
        (
            pass("{paths: [/files/../admin]}"),
            "keys[0].passthrough.paths[0]: \"/files/../admin\" is not a plain path: segments of letters, digits, '-', '_', '.', '~' (not '.' or '..'), with no trailing '/'",
        ),
        (
            pass("{paths: [\"/files/%2e\"]}"),
            "keys[0].passthrough.paths[0]: \"/files/%2e\" is not a plain path: segments of letters, digits, '-', '_', '.', '~' (not '.' or '..'), with no trailing '/'",
        ),
        (
            pass("{paths: [\"/f*\"]}"),
            "keys[0].passthrough.paths[0]: \"/f*\" is not a plain path: segments of letters, digits, '-', '_', '.', '~' (not '.' or '..'), with no trailing '/'",
        ),
        (
            pass(&format!("{{paths: [/{}]}}", "a".repeat(256))),
            "keys[0].passthrough.paths[0]: longer than 256 characters",
        ),
        // References to secrets.
        (
            edit("sk-aaaaaaaaaaaa", "${env:NOT_SET}"),
            "providers[0].accounts[0].api_key: environment variable NOT_SET is not set",
        ),
        (
            edit("sk-aaaaaaaaaaaa", "${file:secrets/missing}"),
            "providers[0].accounts[0].api_key: cannot read secret file secrets/missing: no such file",
        ),
        (
            edit("sk-aaaaaaaaaaaa", "${vault:x}"),
            "providers[0].accounts[0].api_key: unknown reference ${vault:x} (use ${env:NAME} or ${file:PATH}; $${ for a literal ${)",
        ),
        (
            edit("kind: openai", "kind: openai\n    base_url: \"${redacted:0123456789ab}\""),
            "providers[0].base_url: ${redacted:...} may only stand for a whole secret value",
        ),
        // Alert channels.
        (
            format!("{MINIMAL}settings: {{alerts: {{channels: [{{name: d, kind: dingtalk}}]}}}}\n"),
            "settings.alerts.channels[0].webhook: missing required field",
        ),
        (
            format!(
                "{MINIMAL}settings: {{alerts: {{channels: [{{name: d, kind: webhook, url: x}}, {{name: d, kind: webhook, url: \"https://h\"}}]}}}}\n"
            ),
            "settings.alerts.channels[0].url: invalid URL: relative URL without a base",
        ),
        (
            format!("{MINIMAL}settings: {{alerts: {{channels: [{{name: d, kind: slack, url: x}}]}}}}\n"),
            "settings.alerts.channels[0].kind: unknown value \"slack\" (expected one of: dingtalk, webhook)",
        ),
        // Documents.
        ("".to_owned(), "the document is empty"),
        ("- a\n- b\n".to_owned(), "expected a mapping, found a list"),
    ];
    for (yaml, expected) in cases {
        let errors = errors_of(&yaml);
        assert!(
            errors.iter().any(|e| e == expected || (expected == "invalid YAML" && e.starts_with("invalid YAML: "))),
            "expected {expected:?} among {errors:#?}\nfor document:\n{yaml}"
        );
    }
}

#[test]
fn every_error_is_reported_at_once_in_document_order() {
    let yaml = MINIMAL
        .replacen("{name: a, api_key: \"sk-aaaaaaaaaaaa\"}", "{name: a, api_key: \"sk-aaaaaaaaaaaa\", wieght: 2}", 1)
        .replacen("provider: openai, model: gpt-4o-mini", "provider: opnai, model: gpt-4o-mini", 1)
        + "settings: {default_model: nope, limits: {max_body: lots}}\n";
    assert_eq!(
        errors_of(&yaml),
        [
            "providers[0].accounts[0].wieght: unknown field",
            "settings.limits.max_body: invalid size \"lots\" (expected e.g. 1024, 64KiB, 20MiB, 1GiB)",
            "models[0].targets[0].provider: unknown provider \"opnai\"",
            "settings.default_model: unknown model \"nope\"",
        ]
    );
}

#[test]
fn redacted_secrets_parse_for_apply_but_do_not_serve() {
    let yaml = edit("sk-aaaaaaaaaaaa", "${redacted:0123456789ab}");
    let c = parse(&yaml).unwrap();
    assert_eq!(c.providers[0].accounts[0].api_key.redacted_fingerprint(), Some("0123456789ab"));
    assert_eq!(
        c.require_secrets().unwrap_err().to_string(),
        "providers[0].accounts[0].api_key: a ${redacted:...} marker stands for a secret stored in the control plane; \
         give the value or an ${env:...}/${file:...} reference to use it here"
    );
}

#[test]
fn errors_and_debug_never_show_secrets() {
    let c = parse(MINIMAL).unwrap();
    assert!(!format!("{c:?}").contains("sk-aaaaaaaaaaaa"));
    let bad = edit("kind: openai", "kind: openai\n    proxy: \"http//user:hunter2@proxy\"");
    let errors = errors_of(&bad);
    assert!(errors.iter().any(|e| e.starts_with("providers[0].proxy: invalid URL")), "{errors:?}");
    assert!(errors.iter().all(|e| !e.contains("hunter2")), "{errors:?}");
}

#[test]
fn load_file_resolves_relative_files_and_requires_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.txt"), "sk-from-a-file\r\n").unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, edit("sk-aaaaaaaaaaaa", "${file:key.txt}")).unwrap();
    let c = document::load_file(&path).unwrap();
    assert_eq!(c.providers[0].accounts[0].api_key.expose(), "sk-from-a-file");

    std::fs::write(&path, edit("sk-aaaaaaaaaaaa", "${redacted:0123456789ab}")).unwrap();
    let errors = document::load_file(&path).unwrap_err();
    assert!(errors.to_string().starts_with("providers[0].accounts[0].api_key: a ${redacted:...} marker"));

    let missing = document::load_file(&dir.path().join("nope.yaml")).unwrap_err().to_string();
    assert!(missing.starts_with("cannot read "), "{missing}");
}
