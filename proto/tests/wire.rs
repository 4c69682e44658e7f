//! Wire <-> domain conversions through the public API: round trips, the
//! errors of `TryFrom`, and secret redaction in `Debug`.

// Tests may unwrap; clippy's allow-unwrap-in-tests only covers `#[test]` fns, not their helpers.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use switchyard_proto::canonical::{ContentHash, runtime_bytes, runtime_hash};
use switchyard_proto::model::*;
use switchyard_proto::pb;

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
    wire.providers[1].health_check.as_mut().unwrap().request = 0;
    wire.providers[1].accounts[0].api_key = None;
    wire.models[1].strategy = pb::Strategy::Unspecified as i32;
    wire.keys[0].key_sha256 = vec![];
    wire.keys[0].passthrough.as_mut().unwrap().methods = vec![1, 0];
    wire.keys[3].budget.as_mut().unwrap().period = 0;
    let settings = wire.settings.as_mut().unwrap();
    settings.timeout = None;
    settings.breaker = None;
    settings.retry.as_mut().unwrap().on = vec![1, 0, 7];
    settings.alerts.as_mut().unwrap().channels[0].kind = None;
    settings.alerts.as_mut().unwrap().channels[1].kind = Some(pb::alert_channel::Kind::Dingtalk(Default::default()));
    settings.alerts.as_mut().unwrap().channels[2].kind = Some(pb::alert_channel::Kind::Webhook(Default::default()));
    settings.alerts.as_mut().unwrap().channels[3].kind = Some(pb::alert_channel::Kind::Feishu(Default::default()));
    settings.alerts.as_mut().unwrap().channels[4].kind = Some(pb::alert_channel::Kind::Wecom(Default::default()));
    // A validation error is not reported while fields are unreadable.
    wire.providers[2].name = String::new();
    let expected = [
        "providers[0].kind: unknown value 42 (expected one of: openai, openai-compatible, azure, anthropic, gemini)",
        "providers[0].stream_usage: unknown value 9 (expected one of: inject, never)",
        "providers[1].on_disconnect: unknown value -1 (expected one of: close, drain)",
        "providers[1].balance_api: unknown value 99 (expected one of: none, openrouter, deepseek, siliconflow, moonshot, oneapi)",
        "providers[1].health_check.request: unknown value 0 (expected one of: models, chat)",
        "providers[1].accounts[0].api_key: missing required field",
        "models[1].strategy: unknown value 0 (expected one of: p2c, round_robin, weighted_random)",
        "keys[0].key_sha256: must be 32 bytes (got 0)",
        "keys[0].passthrough.methods[1]: unknown value 0 (expected one of: GET, POST, DELETE)",
        "keys[3].budget.period: unknown value 0 (expected one of: day, week, month, total)",
        "settings.timeout: missing required field",
        "settings.retry.on[1]: unknown value 0 (expected one of: connect, timeout, 429, 5xx)",
        "settings.retry.on[2]: unknown value 7 (expected one of: connect, timeout, 429, 5xx)",
        "settings.breaker: missing required field",
        "settings.alerts.channels[0].kind: missing required field",
        "settings.alerts.channels[1].webhook: missing required field",
        "settings.alerts.channels[2].url: missing required field",
        "settings.alerts.channels[3].webhook: missing required field",
        "settings.alerts.channels[4].webhook: missing required field",
    ];
    assert_eq!(errors_of(wire), expected.join("\n"));
}

#[test]
fn try_from_reports_every_validation_error() {
    let mut wire = to_pb(&rich_config());
    wire.providers[2].api_version = None;
    wire.providers[0].accounts[0].weight = 0;
    wire.providers[3].health_check.as_mut().unwrap().timeout_ms = 0;
    wire.settings.as_mut().unwrap().breaker.as_mut().unwrap().failure_rate = 1.5;
    wire.keys[0].passthrough = Some(pb::PassthroughPolicy { methods: vec![], paths: vec!["/v1/files".into()] });
    assert_eq!(
        errors_of(wire),
        [
            "providers[0].accounts[0].weight: must be at least 1 (use enabled: false to take an account out)",
            "providers[2].api_version: required for kind azure",
            "providers[3].health_check.timeout: must be greater than zero",
            "keys[0].passthrough.methods: must not be empty (omit it for GET, POST and DELETE)",
            "keys[0].passthrough.paths[0]: \"/v1/files\": paths are after /v1, so write /files",
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
        discovered_models: BTreeMap::from([
            ("openai".into(), BTreeSet::from(["gpt-4o".into(), "o3".into()])),
            ("gemini".into(), BTreeSet::from(["gemini-2.5-flash".into()])),
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

    let mutations: [fn(&mut RuntimeState); 7] = [
        |s| {
            s.drained_accounts.pop_first();
        },
        |s| {
            s.drained_accounts.insert(AccountRef { provider: "gemini".into(), account: "main".into() });
        },
        |s| s.keys.get_mut("app-1").unwrap().remaining_budget_micros = Some(-4),
        |s| s.keys.get_mut("app-2").unwrap().nodes = 2,
        |s| s.keys.get_mut("app-3").unwrap().remaining_budget_micros = None,
        |s| {
            s.discovered_models.get_mut("openai").unwrap().insert("o4".into());
        },
        |s| {
            s.discovered_models.remove("gemini");
        },
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
    wire.discovered_models.insert(String::new(), pb::ModelList { models: vec!["x".into()] });
    wire.discovered_models.insert("openai".into(), pb::ModelList { models: vec![String::new()] });
    let err = RuntimeState::try_from(wire).unwrap_err();
    assert_eq!(
        err.to_string(),
        [
            "drained_accounts[2].provider: must not be empty",
            "drained_accounts[3].account: must not be empty",
            "keys: a key name must not be empty",
            "keys.app-1.nodes: must be at least 1",
            "discovered_models: a provider name must not be empty",
            "discovered_models.openai: a model name must not be empty",
        ]
        .join("\n")
    );
}
