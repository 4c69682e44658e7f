//! The canonical encoding's content hash: stable under reordering of
//! unordered lists and maps, different when any field changes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_proto::canonical::{ContentHash, config_bytes, config_hash};
use switchyard_proto::model::*;
use switchyard_proto::pb;

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
        if let Some(p) = &mut k.passthrough {
            p.paths.reverse();
            p.methods.reverse();
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
    ("health check added", |c| c.providers[0].health_check = Some(HealthCheck::default())),
    ("health check removed", |c| c.providers[1].health_check = None),
    ("health check interval", |c| c.providers[3].health_check.as_mut().unwrap().interval = Duration::from_secs(46)),
    ("health check timeout", |c| c.providers[3].health_check.as_mut().unwrap().timeout = Duration::from_secs(3)),
    ("health check request", |c| c.providers[3].health_check.as_mut().unwrap().request = HealthRequest::Models),
    ("timeout override", |c| c.providers[0].timeout.idle = Some(Duration::from_millis(15_501))),
    ("timeout override set", |c| c.providers[0].timeout.first_token = Some(Duration::from_secs(45))),
    ("stream usage", |c| c.providers[0].stream_usage = StreamUsage::Inject),
    ("on disconnect", |c| c.providers[0].on_disconnect = OnDisconnect::Close),
    ("provider enabled", |c| c.providers[4].enabled = true),
    ("balance api infer", |c| c.providers[2].balance_api = None),
    ("balance api", |c| c.providers[1].balance_api = Some(BalanceApi::DeepSeek)),
    ("api version", |c| c.providers[2].api_version = Some("2025-01-01".into())),
    ("default max tokens", |c| c.providers[3].default_max_tokens = None),
    ("http2 off", |c| c.providers[1].http2 = false),
    ("http2 on", |c| c.providers[3].http2 = true),
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
    ("passthrough path", |c| c.keys[0].passthrough.as_mut().unwrap().paths.push("/assistants".into())),
    ("passthrough method", |c| c.keys[0].passthrough.as_mut().unwrap().methods.push(HttpMethod::Delete)),
    ("passthrough removed", |c| c.keys[0].passthrough = None),
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
    ("client write timeout", |c| c.settings.limits.client_write_timeout += Duration::from_secs(1)),
    ("request bodies", |c| c.settings.logging.request_bodies = false),
    ("log retention", |c| c.settings.logging.retention += Duration::from_secs(1)),
    ("log max body", |c| c.settings.logging.max_body_bytes += 1),
    ("usage retention", |c| c.settings.usage_retention += Duration::from_secs(1)),
    ("fail closed after None", |c| c.settings.snapshot_fail_closed_after = None),
    ("fail closed after", |c| c.settings.snapshot_fail_closed_after = Some(Duration::from_secs(86_401))),
    ("balance poll", |c| c.settings.balance_poll_interval += Duration::from_secs(1)),
    ("evaluate every", |c| c.settings.alerts.evaluate_every += Duration::from_secs(1)),
    ("quiet period", |c| c.settings.alerts.quiet_period += Duration::from_secs(1)),
    ("time to empty", |c| c.settings.alerts.time_to_empty_below += Duration::from_secs(1)),
    ("open on nodes", |c| c.settings.alerts.open_on_nodes += 1),
    ("node grace", |c| c.settings.alerts.node_grace += Duration::from_secs(1)),
    ("feishu secret removed", |c| {
        c.settings.alerts.channels[3].kind = AlertChannelKind::Feishu {
            webhook: Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/feishu-token-0012"),
            secret: None,
        }
    }),
    ("feishu for dingtalk", |c| {
        c.settings.alerts.channels[0].kind = AlertChannelKind::Feishu {
            webhook: Secret::new("https://oapi.dingtalk.com/robot/send?access_token=ding-access-token-0008"),
            secret: Some(Secret::new("SEC-ding-signing-0009")),
        }
    }),
    ("wecom key", |c| {
        c.settings.alerts.channels[4].kind = AlertChannelKind::WeCom {
            webhook: Secret::new("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key-0015"),
        }
    }),
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
