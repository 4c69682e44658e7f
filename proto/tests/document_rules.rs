//! gateway.yaml: every validation rule with its exact message, all errors
//! reported at once in document order.

mod common;

use common::rules::{MINIMAL, edit, errors_of, parse};

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
fn health_check_is_off_by_default_and_defaults_each_field() {
    use std::time::Duration;
    use switchyard_proto::model::{HealthCheck, HealthRequest};
    assert_eq!(parse(MINIMAL).unwrap().providers[0].health_check, None);
    let with = |check: &str| parse(&edit("kind: openai", &format!("kind: openai\n    health_check: {check}")));
    assert_eq!(with("null").unwrap().providers[0].health_check, None);
    assert_eq!(with("{}").unwrap().providers[0].health_check, Some(HealthCheck::default()));
    let check = with("{interval: 1m, timeout: 1500ms, request: chat}").unwrap().providers[0].health_check;
    let expected = HealthCheck {
        interval: Duration::from_secs(60),
        timeout: Duration::from_millis(1500),
        request: HealthRequest::Chat,
    };
    assert_eq!(check, Some(expected));
    assert_eq!(
        with("{interval: 10s}").unwrap().providers[0].health_check,
        Some(HealthCheck { interval: Duration::from_secs(10), ..HealthCheck::default() })
    );
    let errors = |check: &str| errors_of(&edit("kind: openai", &format!("kind: openai\n    health_check: {check}")));
    assert_eq!(
        errors("{interval: 500ms, timeout: 100ms}"),
        ["providers[0].health_check.interval: must be at least 1s"]
    );
    assert_eq!(errors("{interval: 2s}"), ["providers[0].health_check.timeout: must not exceed interval"]);
    assert_eq!(errors("{timeout: 0s}"), ["providers[0].health_check.timeout: must be greater than zero"]);
    assert_eq!(
        errors("{request: ping}"),
        ["providers[0].health_check.request: unknown value \"ping\" (expected one of: models, chat)"]
    );
    assert_eq!(errors("{every: 5s}"), ["providers[0].health_check.every: unknown field"]);
    assert_eq!(errors("true"), ["providers[0].health_check: expected a mapping, found a boolean"]);
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
            "settings.alerts.channels[0].kind: unknown value \"slack\" (expected one of: dingtalk, feishu, wecom, webhook)",
        ),
        (
            format!("{MINIMAL}settings: {{alerts: {{channels: [{{name: w, kind: wecom, url: \"https://h\"}}]}}}}\n"),
            "settings.alerts.channels[0].url: unknown field",
        ),
        (
            format!(
                "{MINIMAL}settings: {{alerts: {{channels: [{{name: f, kind: feishu, webhook: \"ftp://h/x\"}}]}}}}\n"
            ),
            "settings.alerts.channels[0].webhook: URL must use http or https with a host (got ftp:)",
        ),
        (
            format!("{MINIMAL}settings: {{alerts: {{open_on_nodes: 0, node_grace: 0s, time_to_empty_below: 0s}}}}\n"),
            "settings.alerts.open_on_nodes: must be at least 1",
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
fn wildcard_routes_and_their_rules() {
    let wild = |routes: &str| edit("keys:", &format!("{routes}keys:"));
    // Accepted: a prefix and a catch-all, pattern and fixed targets, an allowlist naming them.
    let c = parse(
        &wild(concat!(
            "  - name: gpt-*\n    targets: [{provider: openai, model: gpt-*}, {provider: openai, model: gpt-4o-mini, priority: 1}]\n",
            "  - name: \"*\"\n    targets: [{provider: openai, model: \"*\"}]\n",
            "  - name: openai/*\n    targets: [{provider: openai, model: \"*\"}]\n",
        ))
        .replace(r#"{name: k, key: "client-key-0123456789"}"#, r#"{name: k, key: "client-key-0123456789", models: [m, gpt-*, "*"]}"#),
    )
    .unwrap();
    assert_eq!(c.models[1].wildcard_prefix(), Some("gpt-"));
    assert_eq!(c.models[2].wildcard_prefix(), Some(""));
    assert_eq!(c.models[0].wildcard_prefix(), None);
    assert_eq!(c.keys[0].models.as_deref(), Some(&["m".to_owned(), "gpt-*".to_owned(), "*".to_owned()][..]));

    let cases: Vec<(String, &str)> = vec![
        (
            wild("  - name: gpt-*-mini\n    targets: [{provider: openai, model: x}]\n"),
            "models[1].name: invalid model name \"gpt-*-mini\": '*' may only end a name (a wildcard route, such as gpt-*)",
        ),
        (
            wild("  - name: \"**\"\n    targets: [{provider: openai, model: x}]\n"),
            "models[1].name: invalid model name \"**\": '*' may only end a name (a wildcard route, such as gpt-*)",
        ),
        // Two wildcard routes with the same prefix.
        (
            wild(concat!(
                "  - name: gpt-*\n    targets: [{provider: openai, model: gpt-*}]\n",
                "  - name: gpt-*\n    targets: [{provider: openai, model: x}]\n",
            )),
            "models[2].name: duplicate wildcard model \"gpt-*\" (also at models[1].name)",
        ),
        (
            edit("  - name: m\n", "  - name: m\n    aliases: [m-*]\n"),
            "models[0].aliases[0]: invalid alias \"m-*\": an alias is an exact name, without '*' (make a wildcard route for a pattern)",
        ),
        (
            wild("  - name: gpt-*\n    aliases: [smart]\n    targets: [{provider: openai, model: gpt-*}]\n"),
            "models[1].aliases[0]: a wildcard route has no aliases (an alias is one exact name: give \"smart\" a route of its own)",
        ),
        (
            edit("model: gpt-4o-mini}", "model: gpt-*}"),
            "models[0].targets[0].model: '*' in a target model stands for what a wildcard route matched; the route \"m\" is not one (its name does not end in *)",
        ),
        (
            wild("  - name: gpt-*\n    targets: [{provider: openai, model: \"*-latest\"}]\n"),
            "models[1].targets[0].model: invalid target model \"*-latest\": '*' may only end it",
        ),
        (
            wild("  - name: gpt-*\n    targets: [{provider: openai, model: gpt-*}]\n")
                + "settings: {default_model: gpt-*}\n",
            "settings.default_model: \"gpt-*\" is a wildcard route; the default model must be an exact name or alias",
        ),
        (
            edit(
                r#"{name: k, key: "client-key-0123456789"}"#,
                r#"{name: k, key: "client-key-0123456789", models: [gpt-*]}"#,
            ),
            "keys[0].models[0]: unknown model \"gpt-*\"",
        ),
    ];
    for (yaml, expected) in cases {
        let errors = errors_of(&yaml);
        assert!(errors.iter().any(|e| e == expected), "expected {expected:?} among {errors:#?}\nfor document:\n{yaml}");
    }
}
