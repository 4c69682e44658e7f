//! Shared fixtures of the proto tests: a config that uses every field, the
//! environment the document fixtures are read with, and the export helpers.

#![allow(clippy::unwrap_used, dead_code)]

pub mod export;
pub mod rules;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;
use switchyard_proto::model::*;
use switchyard_proto::pb;

/// The environment the document fixtures (`fixtures/*.yaml`) are read with.
pub fn env() -> HashMap<String, String> {
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

pub fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// Every secret value in [`rich_config`], to look for in `Debug` output.
pub const SECRETS: &[&str] = &[
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

pub fn secret(s: &str) -> Secret {
    Secret::new(s)
}

pub fn account(name: &str, key: &str, weight: u32, enabled: bool, balance: Option<BalancePolicy>) -> Account {
    Account { name: name.into(), api_key: secret(key), weight, enabled, balance }
}

pub fn provider(name: &str, kind: ProviderKind, base_url: &str, accounts: Vec<Account>) -> Provider {
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
        http2: false,
        health_check: None,
        accounts,
    }
}

pub fn price(input: Option<i64>, output: Option<i64>, cached: Option<i64>) -> Price {
    Price {
        currency: "USD".into(),
        input_per_mtok_micros: input,
        output_per_mtok_micros: output,
        cached_input_per_mtok_micros: cached,
    }
}

pub fn target(provider: &str, model: &str, priority: u32, price: Option<Price>) -> Target {
    Target { provider: provider.into(), model: model.into(), priority, price }
}

pub fn key(name: &str) -> ClientKey {
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
        passthrough: None,
    }
}

/// A valid config using every field, every provider kind, each `Option` both
/// set and unset somewhere, and both alert channel kinds.
pub fn rich_config() -> Config {
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
    openai.headers = BTreeMap::from([
        ("OpenAI-Organization".into(), Secret::new("org-1")),
        ("x-trace".into(), Secret::new("trace-on-0123")),
    ]);
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
    openrouter.http2 = true;
    openrouter.health_check = Some(HealthCheck::default());

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
    claude.health_check = Some(HealthCheck {
        interval: Duration::from_secs(45),
        timeout: Duration::from_millis(2_500),
        request: HealthRequest::Chat,
    });

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
    app1.passthrough = Some(Passthrough {
        methods: vec![HttpMethod::Get, HttpMethod::Post],
        paths: vec!["/files".into(), "/batches".into()],
    });
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
        limits: Limits {
            max_body: 10 << 20,
            max_concurrency: 1000,
            max_buffered_bodies: 256 << 20,
            client_write_timeout: Duration::from_secs(45),
        },
        logging: Logging { request_bodies: true, retention: Duration::from_secs(3 * 86_400), max_body_bytes: 64 << 10 },
        usage_retention: Duration::from_secs(30 * 86_400),
        snapshot_fail_closed_after: Some(Duration::from_secs(86_400)),
        balance_poll_interval: Duration::from_secs(300),
        alerts: Alerts {
            evaluate_every: Duration::from_secs(30),
            quiet_period: Duration::from_secs(1800),
            time_to_empty_below: Duration::from_secs(12 * 3600),
            open_on_nodes: 3,
            node_grace: Duration::from_secs(120),
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
                AlertChannel {
                    name: "ops-feishu".into(),
                    kind: AlertChannelKind::Feishu {
                        webhook: secret("https://open.feishu.cn/open-apis/bot/v2/hook/feishu-token-0012"),
                        secret: Some(secret("feishu-signing-0013")),
                    },
                },
                AlertChannel {
                    name: "ops-wecom".into(),
                    kind: AlertChannelKind::WeCom {
                        webhook: secret("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key-0014"),
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

pub fn to_pb(config: &Config) -> pb::Config {
    pb::Config::from(config)
}
