//! gateway.yaml: the whole schema, the example file, defaults, secrets and
//! reference resolution. `document_rules.rs` has every validation rule.

mod common;

use common::fixtures;
use common::rules::{MINIMAL, edit, errors_of, parse};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::model::*;
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
    assert_eq!(
        s.alerts.channels[2].kind,
        AlertChannelKind::Feishu {
            webhook: Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/feishu-token"),
            secret: Some(Secret::new("feishu-secret")),
        }
    );
    assert_eq!(
        s.alerts.channels[3].kind,
        AlertChannelKind::WeCom {
            webhook: Secret::new("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key")
        }
    );
    assert_eq!(
        (s.alerts.time_to_empty_below, s.alerts.open_on_nodes, s.alerts.node_grace),
        (ms(86_400_000), 2, ms(300_000))
    );
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
    let wildcards: Vec<&str> = c.models.iter().filter_map(|m| m.wildcard_prefix()).collect();
    assert_eq!(wildcards, ["gpt-", "openrouter/"], "the example shows wildcard routes");
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

#[test]
fn the_oneapi_poller_is_chosen_by_name_and_never_inferred() {
    let yaml = edit(
        "    kind: openai\n",
        "    kind: openai-compatible\n    base_url: https://relay.example.com/v1\n    balance_api: oneapi\n",
    );
    let c = parse(&yaml).unwrap();
    assert_eq!(c.providers[0].balance_api, Some(BalanceApi::OneApi));
    let again = parse(&document::emit(&c)).unwrap();
    assert_eq!(again.providers[0].balance_api, Some(BalanceApi::OneApi), "export keeps it");
    for url in ["https://relay.example.com/v1", "https://one-api.example.com/v1", "https://newapi.example.cn/v1"] {
        assert_eq!(BalanceApi::infer(url), BalanceApi::None, "{url}");
    }
    assert_eq!(BalanceApi::infer("https://api.deepseek.com/v1"), BalanceApi::DeepSeek);
    assert_eq!(BalanceApi::infer("https://api.siliconflow.com/v1"), BalanceApi::SiliconFlow);
    assert_eq!(BalanceApi::infer("https://api.moonshot.ai/v1"), BalanceApi::Moonshot);
}
