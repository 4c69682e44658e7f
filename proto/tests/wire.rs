//! Wire <-> domain conversions and the canonical content hash, through the
//! public API: round trips, hash stability under reordering and sensitivity
//! to every field, the errors of `TryFrom`, and secret redaction in `Debug`.

// Tests may unwrap; clippy's allow-unwrap-in-tests only covers `#[test]` fns, not their helpers.
#![allow(clippy::unwrap_used)]

use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use switchyard_proto::canonical::{ContentHash, config_bytes, config_hash, runtime_bytes, runtime_hash};
use switchyard_proto::model::*;
use switchyard_proto::pb;

/// Every secret value in [`rich_config`], to look for in `Debug` output.
const SECRETS: &[&str] = &[
    "sk-openai-team-a-0001",
    "sk-openai-team-b-0002",
    "sk-or-main-0003",
    "azure-key-0004",
    "sk-ant-0005",
    "gemini-key-0006",
    "proxy-password-0007",
    "ding-access-token-0008",
    "SEC-ding-signing-0009",
    "ding-access-token-0010",
    "hook-token-0011",
];

fn secret(s: &str) -> Secret {
    Secret::new(s)
}

fn account(name: &str, key: &str, weight: u32, enabled: bool, balance: Option<BalancePolicy>) -> Account {
    Account { name: name.into(), api_key: secret(key), weight, enabled, balance }
}

fn provider(name: &str, kind: ProviderKind, base_url: &str, accounts: Vec<Account>) -> Provider {
    Provider {
        name: name.into(),
        kind,
        base_url: base_url.into(),
        headers: BTreeMap::new(),
        proxy: None,
        timeout: TimeoutOverrides::default(),
        stream_usage: StreamUsage::Inject,
        on_disconnect: OnDisconnect::Close,
        enabled: true,
        balance_api: None,
        api_version: None,
        default_max_tokens: None,
        accounts,
    }
}

fn price(input: Option<i64>, output: Option<i64>, cached: Option<i64>) -> Price {
    Price {
        currency: "USD".into(),
        input_per_mtok_micros: input,
        output_per_mtok_micros: output,
        cached_input_per_mtok_micros: cached,
    }
}

fn target(provider: &str, model: &str, priority: u32, price: Option<Price>) -> Target {
    Target { provider: provider.into(), model: model.into(), priority, price }
}

fn key(name: &str) -> ClientKey {
    ClientKey {
        name: name.into(),
        key_sha256: KeyHash::of(&format!("client-key-of-{name}")),
        models: None,
        allow_direct: false,
        rpm: None,
        tpm: None,
        budget: None,
        expires_unix: None,
        log_bodies: None,
        enabled: true,
    }
}

/// A valid config using every field, every provider kind, each `Option` both
/// set and unset somewhere, and both alert channel kinds.
fn rich_config() -> Config {
    let mut openai = provider(
        "openai",
        ProviderKind::OpenAi,
        "https://api.openai.com/v1",
        vec![
            account(
                "team-a",
                "sk-openai-team-a-0001",
                2,
                true,
                Some(BalancePolicy { currency: "USD".into(), alert_below_micros: Some(10_000_000) }),
            ),
            account(
                "team-b",
                "sk-openai-team-b-0002",
                1,
                false,
                Some(BalancePolicy { currency: "USD".into(), alert_below_micros: None }),
            ),
        ],
    );
    openai.headers = BTreeMap::from([("OpenAI-Organization".into(), "org-1".into()), ("x-trace".into(), "on".into())]);
    openai.proxy = Some(secret("http://user:proxy-password-0007@proxy.internal:3128"));
    openai.timeout = TimeoutOverrides {
        connect: Some(Duration::from_secs(3)),
        first_token: None,
        idle: Some(Duration::from_millis(15_500)),
        total: None,
    };
    openai.stream_usage = StreamUsage::Never;
    openai.on_disconnect = OnDisconnect::Drain;

    let mut openrouter = provider(
        "openrouter",
        ProviderKind::OpenAiCompatible,
        "https://openrouter.ai/api/v1",
        vec![account("main", "sk-or-main-0003", 1, true, None)],
    );
    openrouter.balance_api = Some(BalanceApi::OpenRouter);

    let mut azure = provider(
        "azure-east",
        ProviderKind::Azure,
        "https://my-resource.openai.azure.com",
        vec![account("prod", "azure-key-0004", 3, true, None)],
    );
    azure.api_version = Some("2024-10-21".into());
    azure.balance_api = Some(BalanceApi::None);

    let mut claude = provider(
        "claude",
        ProviderKind::Anthropic,
        "https://api.anthropic.com",
        vec![account("main", "sk-ant-0005", 1, true, None)],
    );
    claude.default_max_tokens = Some(4096);

    let mut gemini = provider(
        "gemini",
        ProviderKind::Gemini,
        "https://generativelanguage.googleapis.com",
        vec![account("main", "gemini-key-0006", 1, true, None)],
    );
    gemini.enabled = false;
    gemini.timeout.total = Some(Duration::from_secs(120));

    let models = vec![
        Route {
            name: "gpt-4o-mini".into(),
            aliases: vec!["smart".into(), "mini".into()],
            strategy: Strategy::P2c,
            price: Some(price(Some(150_000), Some(600_000), Some(75_000))),
            targets: vec![
                target("openai", "gpt-4o-mini", 0, None),
                target("azure-east", "mini-deployment", 0, None),
                target("openrouter", "openai/gpt-4o-mini", 1, Some(price(Some(160_000), Some(610_000), None))),
            ],
        },
        Route {
            name: "claude-sonnet".into(),
            aliases: vec![],
            strategy: Strategy::RoundRobin,
            price: None,
            targets: vec![target("claude", "claude-sonnet-4", 0, Some(price(None, Some(15_000_000), None)))],
        },
        Route {
            name: "gemini-flash".into(),
            aliases: vec!["flash".into()],
            strategy: Strategy::WeightedRandom,
            price: Some(price(Some(100_000), None, None)),
            targets: vec![target("gemini", "gemini-2.0-flash", 2, None)],
        },
    ];

    let mut app1 = key("app-1");
    app1.models = Some(vec!["gpt-4o-mini".into(), "smart".into(), "flash".into()]);
    app1.allow_direct = true;
    app1.rpm = Some(600);
    app1.tpm = Some(200_000);
    app1.budget = Some(Budget { currency: "USD".into(), amount_micros: 50_000_000, period: BudgetPeriod::Month });
    app1.expires_unix = Some(1_798_761_600);
    app1.log_bodies = Some(false);
    let mut app2 = key("app-2");
    app2.enabled = false;
    app2.models = Some(vec![]);
    app2.budget = Some(Budget { currency: "CNY".into(), amount_micros: 0, period: BudgetPeriod::Total });
    app2.log_bodies = Some(true);
    let mut app3 = key("app-3");
    app3.budget = Some(Budget { currency: "USD".into(), amount_micros: 1_500_000, period: BudgetPeriod::Day });
    let mut app4 = key("app-4");
    app4.budget = Some(Budget { currency: "EUR".into(), amount_micros: 7, period: BudgetPeriod::Week });

    let settings = Settings {
        default_model: Some("gpt-4o-mini".into()),
        timeout: Timeouts {
            connect: Duration::from_secs(4),
            first_token: Duration::from_secs(45),
            idle: Duration::from_secs(20),
            total: Duration::from_secs(300),
        },
        retry: RetryPolicy { max_attempts: 4, on: vec![RetryCondition::Connect, RetryCondition::RateLimited] },
        breaker: BreakerPolicy {
            consecutive_failures: 6,
            failure_rate: 0.4,
            window: Duration::from_secs(20),
            min_requests: 12,
            cooldown: Duration::from_secs(15),
            max_cooldown: Duration::from_secs(900),
        },
        limits: Limits { max_body: 10 << 20, max_concurrency: 1000, max_buffered_bodies: 256 << 20 },
        logging: Logging { request_bodies: true, retention: Duration::from_secs(3 * 86_400), max_body_bytes: 64 << 10 },
        usage_retention: Duration::from_secs(30 * 86_400),
        snapshot_fail_closed_after: Some(Duration::from_secs(86_400)),
        balance_poll_interval: Duration::from_secs(300),
        alerts: Alerts {
            evaluate_every: Duration::from_secs(30),
            quiet_period: Duration::from_secs(1800),
            channels: vec![
                AlertChannel {
                    name: "ops-dingtalk".into(),
                    kind: AlertChannelKind::DingTalk {
                        webhook: secret("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0008"),
                        secret: Some(secret("SEC-ding-signing-0009")),
                    },
                },
                AlertChannel {
                    name: "dev-dingtalk".into(),
                    kind: AlertChannelKind::DingTalk {
                        webhook: secret("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0010"),
                        secret: None,
                    },
                },
                AlertChannel {
                    name: "pager".into(),
                    kind: AlertChannelKind::Webhook {
                        url: secret("https://hooks.example.com/sy?token=hook-token-0011"),
                    },
                },
            ],
        },
    };

    Config {
        providers: vec![openai, openrouter, azure, claude, gemini],
        models,
        keys: vec![app1, app2, app3, app4],
        settings,
    }
}

fn to_pb(config: &Config) -> pb::Config {
    pb::Config::from(config)
}

#[test]
fn rich_config_is_valid() {
    let config = rich_config();
    assert_eq!(config.validate(), Ok(()));
    assert_eq!(config.require_secrets(), Ok(()));
}

#[test]
fn config_round_trips() {
    let config = rich_config();
    let wire = to_pb(&config);
    assert_eq!(Config::try_from(wire.clone()), Ok(config.clone()));

    // Through the bytes, too.
    let decoded = pb::Config::decode(wire.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, wire);
    assert_eq!(Config::try_from(decoded), Ok(config.clone()));

    // The default settings survive as well.
    let mut minimal = rich_config();
    minimal.settings = Settings::default();
    assert_eq!(Config::try_from(to_pb(&minimal)), Ok(minimal));
}

#[test]
fn conversion_preserves_order() {
    let wire = to_pb(&rich_config());
    let names: Vec<_> = wire.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["openai", "openrouter", "azure-east", "claude", "gemini"]);
    let aliases = &wire.models[0].aliases;
    assert_eq!(aliases, &["smart", "mini"]);
    assert_eq!(wire.models[0].targets[1].provider, "azure-east");
    assert_eq!(wire.keys[0].key_sha256, KeyHash::of("client-key-of-app-1").0.to_vec());
    assert_eq!(wire.providers[2].balance_api, pb::BalanceApi::None as i32);
    assert_eq!(wire.providers[0].balance_api, pb::BalanceApi::Unspecified as i32);
    assert_eq!(wire.providers[0].timeout.as_ref().unwrap().idle_ms, Some(15_500));
    assert_eq!(wire.keys[1].models, Some(pb::ModelAllowlist { models: vec![] }));
    assert_eq!(wire.keys[2].models, None);
}

/// `rich_config` with every unordered list reversed and the header map built in another order.
fn reordered(config: &Config) -> Config {
    let mut c = config.clone();
    c.providers.reverse();
    for p in &mut c.providers {
        p.accounts.reverse();
        p.headers = p.headers.clone().into_iter().rev().collect();
    }
    c.models.reverse();
    for r in &mut c.models {
        r.aliases.reverse();
        r.targets.reverse();
    }
    c.keys.reverse();
    for k in &mut c.keys {
        if let Some(models) = &mut k.models {
            models.reverse();
        }
    }
    c.settings.alerts.channels.reverse();
    // Unsorted only in a hand-built model (the wire sorts it); the hash sorts it too.
    c.settings.retry.on.reverse();
    c
}

#[test]
fn hash_ignores_order() {
    let config = rich_config();
    let shuffled = reordered(&config);
    assert_ne!(shuffled, config);
    assert_ne!(to_pb(&shuffled).encode_to_vec(), to_pb(&config).encode_to_vec());
    assert_eq!(config_bytes(&shuffled), config_bytes(&config));
    assert_eq!(config_hash(&shuffled), config_hash(&config));
    // And the canonical bytes are a wire config that reads back.
    let back = Config::try_from(pb::Config::decode(config_bytes(&config).as_slice()).unwrap()).unwrap();
    assert_eq!(config_hash(&back), config_hash(&config));
    assert_eq!(back.providers[0].name, "azure-east");
}

type Mutation = (&'static str, fn(&mut Config));

/// One change per kind of field; each must change the hash.
const MUTATIONS: &[Mutation] = &[
    ("provider name", |c| c.providers[1].name = "openrouter2".into()),
    ("provider kind", |c| c.providers[1].kind = ProviderKind::OpenAi),
    ("base url", |c| c.providers[0].base_url = "https://api.openai.com/v2".into()),
    ("header value", |c| {
        c.providers[0].headers.insert("x-trace".into(), "off".into());
    }),
    ("header added", |c| {
        c.providers[3].headers.insert("anthropic-beta".into(), "x".into());
    }),
    ("proxy secret", |c| c.providers[0].proxy = Some(Secret::new("http://proxy.internal:3128"))),
    ("proxy removed", |c| c.providers[0].proxy = None),
    ("timeout override", |c| c.providers[0].timeout.idle = Some(Duration::from_millis(15_501))),
    ("timeout override set", |c| c.providers[0].timeout.first_token = Some(Duration::from_secs(45))),
    ("stream usage", |c| c.providers[0].stream_usage = StreamUsage::Inject),
    ("on disconnect", |c| c.providers[0].on_disconnect = OnDisconnect::Close),
    ("provider enabled", |c| c.providers[4].enabled = true),
    ("balance api infer", |c| c.providers[2].balance_api = None),
    ("balance api", |c| c.providers[1].balance_api = Some(BalanceApi::DeepSeek)),
    ("api version", |c| c.providers[2].api_version = Some("2025-01-01".into())),
    ("default max tokens", |c| c.providers[3].default_max_tokens = None),
    ("account name", |c| c.providers[0].accounts[1].name = "team-c".into()),
    ("api key", |c| c.providers[1].accounts[0].api_key = Secret::new("sk-or-main-0004")),
    ("account weight", |c| c.providers[0].accounts[0].weight = 3),
    ("account enabled", |c| c.providers[0].accounts[1].enabled = true),
    ("balance currency", |c| c.providers[0].accounts[0].balance.as_mut().unwrap().currency = "EUR".into()),
    ("balance alert", |c| c.providers[0].accounts[1].balance.as_mut().unwrap().alert_below_micros = Some(0)),
    ("balance policy removed", |c| c.providers[0].accounts[0].balance = None),
    ("model name", |c| c.models[1].name = "claude-opus".into()),
    ("alias", |c| c.models[0].aliases[1] = "tiny".into()),
    ("strategy", |c| c.models[0].strategy = Strategy::RoundRobin),
    ("route price removed", |c| c.models[0].price = None),
    ("cached rate", |c| c.models[0].price.as_mut().unwrap().cached_input_per_mtok_micros = Some(75_001)),
    ("input rate", |c| c.models[2].price.as_mut().unwrap().input_per_mtok_micros = Some(100_001)),
    ("output rate unset", |c| c.models[1].targets[0].price.as_mut().unwrap().output_per_mtok_micros = None),
    ("target price", |c| c.models[0].targets[0].price = Some(price(Some(1), None, None))),
    ("target priority", |c| c.models[0].targets[1].priority = 1),
    ("target model", |c| c.models[0].targets[0].model = "gpt-4o-mini-2024".into()),
    ("target provider", |c| c.models[0].targets[1].provider = "openai".into()),
    ("key name", |c| c.keys[2].name = "app-5".into()),
    ("key hash", |c| c.keys[0].key_sha256 = KeyHash::of("another key")),
    ("allowlist entry", |c| c.keys[0].models.as_mut().unwrap().push("claude-sonnet".into())),
    ("allowlist all", |c| c.keys[0].models = None),
    ("empty allowlist to all", |c| c.keys[1].models = None),
    ("allow direct", |c| c.keys[0].allow_direct = false),
    ("rpm", |c| c.keys[0].rpm = Some(601)),
    ("tpm", |c| c.keys[0].tpm = None),
    ("budget amount", |c| c.keys[0].budget.as_mut().unwrap().amount_micros = 50_000_001),
    ("budget currency", |c| c.keys[0].budget.as_mut().unwrap().currency = "CNY".into()),
    ("budget period", |c| c.keys[0].budget.as_mut().unwrap().period = BudgetPeriod::Week),
    ("budget removed", |c| c.keys[3].budget = None),
    ("expires", |c| c.keys[0].expires_unix = Some(1_798_761_601)),
    ("log bodies", |c| c.keys[0].log_bodies = None),
    ("key enabled", |c| c.keys[1].enabled = true),
    ("default model", |c| c.settings.default_model = None),
    ("settings timeout", |c| c.settings.timeout.first_token = Duration::from_secs(46)),
    ("max attempts", |c| c.settings.retry.max_attempts = 3),
    ("retry on", |c| c.settings.retry.on.push(RetryCondition::ServerError)),
    ("consecutive failures", |c| c.settings.breaker.consecutive_failures = 7),
    ("failure rate", |c| c.settings.breaker.failure_rate = 0.41),
    ("breaker window", |c| c.settings.breaker.window = Duration::from_secs(21)),
    ("min requests", |c| c.settings.breaker.min_requests = 13),
    ("cooldown", |c| c.settings.breaker.cooldown = Duration::from_secs(16)),
    ("max cooldown", |c| c.settings.breaker.max_cooldown = Duration::from_secs(901)),
    ("max body", |c| c.settings.limits.max_body += 1),
    ("max concurrency", |c| c.settings.limits.max_concurrency += 1),
    ("max buffered bodies", |c| c.settings.limits.max_buffered_bodies += 1),
    ("request bodies", |c| c.settings.logging.request_bodies = false),
    ("log retention", |c| c.settings.logging.retention += Duration::from_secs(1)),
    ("log max body", |c| c.settings.logging.max_body_bytes += 1),
    ("usage retention", |c| c.settings.usage_retention += Duration::from_secs(1)),
    ("fail closed after None", |c| c.settings.snapshot_fail_closed_after = None),
    ("fail closed after", |c| c.settings.snapshot_fail_closed_after = Some(Duration::from_secs(86_401))),
    ("balance poll", |c| c.settings.balance_poll_interval += Duration::from_secs(1)),
    ("evaluate every", |c| c.settings.alerts.evaluate_every += Duration::from_secs(1)),
    ("quiet period", |c| c.settings.alerts.quiet_period += Duration::from_secs(1)),
    ("channel name", |c| c.settings.alerts.channels[2].name = "pager-2".into()),
    ("channel secret", |c| {
        c.settings.alerts.channels[0].kind = AlertChannelKind::DingTalk {
            webhook: Secret::new("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0008"),
            secret: Some(Secret::new("SEC-ding-signing-0010")),
        }
    }),
    ("channel secret removed", |c| {
        c.settings.alerts.channels[0].kind = AlertChannelKind::DingTalk {
            webhook: Secret::new("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0008"),
            secret: None,
        }
    }),
    ("channel url", |c| {
        c.settings.alerts.channels[2].kind =
            AlertChannelKind::Webhook { url: Secret::new("https://hooks.example.com/x") }
    }),
    ("channel kind", |c| {
        c.settings.alerts.channels[1].kind = AlertChannelKind::Webhook {
            url: Secret::new("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0010"),
        }
    }),
];

#[test]
fn hash_changes_with_every_field() {
    let base = rich_config();
    let base_hash = config_hash(&base);
    let mut seen: BTreeMap<ContentHash, &str> = BTreeMap::from([(base_hash, "base")]);
    for (name, mutate) in MUTATIONS {
        let mut changed = base.clone();
        mutate(&mut changed);
        assert_ne!(changed, base, "mutation {name:?} changed nothing");
        let hash = config_hash(&changed);
        if let Some(other) = seen.insert(hash, name) {
            panic!("mutation {name:?} hashes like {other:?}");
        }
        // A change survives reordering and the wire.
        assert_eq!(config_hash(&reordered(&changed)), hash, "{name}");
        if let Ok(back) = Config::try_from(to_pb(&changed)) {
            assert_eq!(config_hash(&back), hash, "{name}");
        }
    }
}

#[test]
fn content_hash_api() {
    let config = rich_config();
    let hash = config_hash(&config);
    let text = hash.to_string();
    assert_eq!(text.len(), 64);
    assert!(text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(format!("{hash:?}"), text);
    assert_eq!(ContentHash::from_slice(hash.as_bytes()), Some(hash));
    assert_eq!(ContentHash::from_slice(&hash.as_bytes()[..31]), None);
    assert_eq!(ContentHash::from_slice(&[0; 33]), None);
    assert_eq!(ContentHash([0xab; 32]).to_string(), "ab".repeat(32));
    // Deterministic, and the SHA-256 of the bytes.
    assert_eq!(config_hash(&config.clone()), hash);
    assert_eq!(ContentHash::of(&config_bytes(&config)), hash);
}

fn errors_of(wire: pb::Config) -> String {
    Config::try_from(wire).unwrap_err().to_string()
}

#[test]
fn try_from_reports_field_errors() {
    let base = to_pb(&rich_config());

    let mut wire = base.clone();
    wire.providers[0].kind = pb::ProviderKind::Unspecified as i32;
    assert_eq!(
        errors_of(wire),
        "providers[0].kind: unknown value 0 (expected one of: openai, openai-compatible, azure, anthropic, gemini)"
    );

    let mut wire = base.clone();
    wire.settings = None;
    assert_eq!(errors_of(wire), "settings: missing required field");

    let mut wire = base.clone();
    wire.keys[2].key_sha256.pop();
    assert_eq!(errors_of(wire), "keys[2].key_sha256: must be 32 bytes (got 31)");

    let mut wire = base.clone();
    wire.models[0].targets[0].provider = "nope".into();
    assert_eq!(errors_of(wire), r#"models[0].targets[0].provider: unknown provider "nope""#);

    let mut wire = base.clone();
    wire.providers[0].accounts[0].api_key = Some(pb::SecretValue { value: "${redacted:0123456789ab}".into() });
    assert_eq!(
        errors_of(wire),
        "providers[0].accounts[0].api_key: a ${redacted:...} marker stands for a secret stored in the control plane; \
         give the value or an ${env:...}/${file:...} reference to use it here"
    );
}

#[test]
fn try_from_collects_every_field_error() {
    let mut wire = to_pb(&rich_config());
    wire.providers[0].kind = 42;
    wire.providers[0].stream_usage = 9;
    wire.providers[1].on_disconnect = -1;
    wire.providers[1].balance_api = 99;
    wire.providers[1].accounts[0].api_key = None;
    wire.models[1].strategy = pb::Strategy::Unspecified as i32;
    wire.keys[0].key_sha256 = vec![];
    wire.keys[3].budget.as_mut().unwrap().period = 0;
    let settings = wire.settings.as_mut().unwrap();
    settings.timeout = None;
    settings.breaker = None;
    settings.retry.as_mut().unwrap().on = vec![1, 0, 7];
    settings.alerts.as_mut().unwrap().channels[0].kind = None;
    settings.alerts.as_mut().unwrap().channels[1].kind = Some(pb::alert_channel::Kind::Dingtalk(Default::default()));
    settings.alerts.as_mut().unwrap().channels[2].kind = Some(pb::alert_channel::Kind::Webhook(Default::default()));
    // A validation error is not reported while fields are unreadable.
    wire.providers[2].name = String::new();
    let expected = [
        "providers[0].kind: unknown value 42 (expected one of: openai, openai-compatible, azure, anthropic, gemini)",
        "providers[0].stream_usage: unknown value 9 (expected one of: inject, never)",
        "providers[1].on_disconnect: unknown value -1 (expected one of: close, drain)",
        "providers[1].balance_api: unknown value 99 (expected one of: none, openrouter, deepseek, siliconflow, moonshot)",
        "providers[1].accounts[0].api_key: missing required field",
        "models[1].strategy: unknown value 0 (expected one of: p2c, round_robin, weighted_random)",
        "keys[0].key_sha256: must be 32 bytes (got 0)",
        "keys[3].budget.period: unknown value 0 (expected one of: day, week, month, total)",
        "settings.timeout: missing required field",
        "settings.retry.on[1]: unknown value 0 (expected one of: connect, timeout, 429, 5xx)",
        "settings.retry.on[2]: unknown value 7 (expected one of: connect, timeout, 429, 5xx)",
        "settings.breaker: missing required field",
        "settings.alerts.channels[0].kind: missing required field",
        "settings.alerts.channels[1].webhook: missing required field",
        "settings.alerts.channels[2].url: missing required field",
    ];
    assert_eq!(errors_of(wire), expected.join("\n"));
}

#[test]
fn try_from_reports_every_validation_error() {
    let mut wire = to_pb(&rich_config());
    wire.providers[2].api_version = None;
    wire.providers[0].accounts[0].weight = 0;
    wire.settings.as_mut().unwrap().breaker.as_mut().unwrap().failure_rate = 1.5;
    assert_eq!(
        errors_of(wire),
        [
            "providers[0].accounts[0].weight: must be at least 1 (use enabled: false to take an account out)",
            "providers[2].api_version: required for kind azure",
            "settings.breaker.failure_rate: must be in (0, 1] (got 1.5)",
        ]
        .join("\n")
    );
}

#[test]
fn try_from_wire_defaults() {
    let config = rich_config();
    let mut wire = to_pb(&config);
    // UNSPECIFIED stream_usage / on_disconnect are the defaults; balance_api is "infer".
    wire.providers[0].stream_usage = pb::StreamUsage::Unspecified as i32;
    wire.providers[0].on_disconnect = pb::OnDisconnect::Unspecified as i32;
    wire.providers[1].balance_api = pb::BalanceApi::Unspecified as i32;
    // Absent timeout overrides override nothing.
    wire.providers[4].timeout = None;
    // Retry conditions are sorted and deduplicated.
    wire.settings.as_mut().unwrap().retry.as_mut().unwrap().on = [4, 1, 3, 1, 4].into();
    let back = Config::try_from(wire).unwrap();
    assert_eq!(back.providers[0].stream_usage, StreamUsage::Inject);
    assert_eq!(back.providers[0].on_disconnect, OnDisconnect::Close);
    assert_eq!(back.providers[1].balance_api, None);
    assert_eq!(back.providers[1].effective_balance_api(), BalanceApi::OpenRouter);
    assert_eq!(back.providers[4].timeout, TimeoutOverrides::default());
    assert_eq!(
        back.settings.retry.on,
        [RetryCondition::Connect, RetryCondition::RateLimited, RetryCondition::ServerError]
    );
}

#[test]
fn debug_never_shows_secrets() {
    let wire = to_pb(&rich_config());
    for text in [format!("{wire:?}"), format!("{wire:#?}"), format!("{:?}", rich_config())] {
        for secret in SECRETS {
            assert!(!text.contains(secret), "Debug shows {secret}");
        }
    }
    // The secrets are on the wire, though.
    let bytes = wire.encode_to_vec();
    for secret in SECRETS {
        assert!(bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} not encoded");
    }
}

fn runtime() -> RuntimeState {
    RuntimeState {
        drained_accounts: BTreeSet::from([
            AccountRef { provider: "openai".into(), account: "team-b".into() },
            AccountRef { provider: "claude".into(), account: "main".into() },
        ]),
        keys: BTreeMap::from([
            ("app-1".into(), KeyRuntime { remaining_budget_micros: Some(-5), nodes: 3 }),
            ("app-2".into(), KeyRuntime { remaining_budget_micros: None, nodes: 1 }),
            ("app-3".into(), KeyRuntime { remaining_budget_micros: Some(0), nodes: 2 }),
        ]),
    }
}

#[test]
fn runtime_round_trips_and_hashes() {
    let state = runtime();
    let wire = pb::Runtime::from(&state);
    assert_eq!(wire.drained_accounts[0].provider, "claude");
    assert_eq!(RuntimeState::try_from(wire.clone()), Ok(state.clone()));
    assert_eq!(RuntimeState::try_from(pb::Runtime::default()), Ok(RuntimeState::default()));

    // Order on the wire does not matter; duplicates are kept once.
    let mut shuffled = wire.clone();
    shuffled.drained_accounts.reverse();
    shuffled.drained_accounts.push(shuffled.drained_accounts[0].clone());
    let back = RuntimeState::try_from(shuffled).unwrap();
    assert_eq!(runtime_hash(&back), runtime_hash(&state));
    assert_eq!(runtime_bytes(&state), wire.encode_to_vec());
    assert_eq!(ContentHash::of(&runtime_bytes(&state)), runtime_hash(&state));

    let mutations: [fn(&mut RuntimeState); 5] = [
        |s| {
            s.drained_accounts.pop_first();
        },
        |s| {
            s.drained_accounts.insert(AccountRef { provider: "gemini".into(), account: "main".into() });
        },
        |s| s.keys.get_mut("app-1").unwrap().remaining_budget_micros = Some(-4),
        |s| s.keys.get_mut("app-2").unwrap().nodes = 2,
        |s| s.keys.get_mut("app-3").unwrap().remaining_budget_micros = None,
    ];
    let mut seen = BTreeSet::from([runtime_hash(&state)]);
    for (i, mutate) in mutations.iter().enumerate() {
        let mut changed = state.clone();
        mutate(&mut changed);
        assert!(seen.insert(runtime_hash(&changed)), "runtime mutation {i} did not change the hash");
    }
}

#[test]
fn runtime_errors() {
    let mut wire = pb::Runtime::from(&runtime());
    wire.drained_accounts.push(pb::AccountRef { provider: String::new(), account: "x".into() });
    wire.drained_accounts.push(pb::AccountRef { provider: "openai".into(), account: String::new() });
    wire.keys.get_mut("app-1").unwrap().nodes = 0;
    wire.keys.insert(String::new(), pb::KeyRuntime { remaining_budget_micros: None, nodes: 1 });
    let err = RuntimeState::try_from(wire).unwrap_err();
    assert_eq!(
        err.to_string(),
        [
            "drained_accounts[2].provider: must not be empty",
            "drained_accounts[3].account: must not be empty",
            "keys: a key name must not be empty",
            "keys.app-1.nodes: must be at least 1",
        ]
        .join("\n")
    );
}
