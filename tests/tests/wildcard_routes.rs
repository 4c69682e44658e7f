#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Names the config does not list, end to end: wildcard routes (`gpt-*`,
//! `openai/*`, `*`) and direct calls (`provider:model`), whose endpoints
//! keep their state between requests like any route's: breakers open and
//! stay open (across reloads too), drained accounts are skipped, and
//! `/status` and `/metrics` show them under the requested name. Matching and
//! the bounded cache are unit-tested in `proto/src/model/wildcard.rs` and
//! `data-plane/src/runtime/dynamic.rs`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_proto::model::{AccountRef, RuntimeState};
use switchyard_proxy::runtime::Overlay;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply};

const APP: &str = "sk-client-app-0123456789";
const DIRECT: &str = "sk-client-direct-0123456789";
const NARROW: &str = "sk-client-narrow-0123456789";
const KEY_A: &str = "sk-upstream-a-0000000000";
const KEY_B: &str = "sk-upstream-b-0000000000";

/// `main` (two accounts) and `other`; exact, prefix and catch-all routes.
fn yaml(main: &FakeUpstream, other: &FakeUpstream, settings: &str) -> String {
    format!(
        r#"
providers:
  - name: main
    kind: openai-compatible
    base_url: {main}
    accounts:
      - {{name: a, api_key: "{KEY_A}"}}
      - {{name: b, api_key: "{KEY_B}"}}
  - name: other
    kind: openai-compatible
    base_url: {other}
    accounts:
      - {{name: c, api_key: "sk-upstream-c-0000000000"}}
models:
  - name: gpt-4o-mini
    targets: [{{provider: main, model: gpt-4o-mini-2024-07-18}}]
  - name: gpt-*
    targets: [{{provider: main, model: gpt-*}}]
  - name: gpt-4*
    targets: [{{provider: main, model: openai/gpt-4*}}]
  - name: openai/*
    targets: [{{provider: main, model: "*"}}]
  - name: cheap-*
    targets: [{{provider: other, model: small-model}}]
  - name: "*"
    targets: [{{provider: other, model: "*"}}]
keys:
  - {{name: app, key: "{APP}"}}
  - {{name: direct, key: "{DIRECT}", allow_direct: true}}
  - {{name: narrow, key: "{NARROW}", models: [gpt-*, gpt-4o-mini]}}
settings:
  retry: {{max_attempts: 1}}
{settings}"#,
        main = main.base_url(),
        other = other.base_url(),
    )
}

async fn start(settings: &str) -> (FakeUpstream, FakeUpstream, Proxy) {
    let (main, other) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&yaml(&main, &other, settings)).await;
    (main, other, proxy)
}

async fn chat(proxy: &Proxy, key: &str, model: &str) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(key)
        .json(&chat_body(model, false))
        .send()
        .await
        .unwrap()
}

/// The model the upstream saw in its last request.
fn last_model(upstream: &FakeUpstream) -> Value {
    upstream.requests().last().unwrap().json()["model"].clone()
}

async fn metrics(proxy: &Proxy) -> String {
    client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap()
}

/// The /status entries of endpoints labelled `model`.
async fn endpoints(proxy: &Proxy, model: &str) -> Vec<Value> {
    let status = proxy.status().await;
    status["endpoints"].as_array().unwrap().iter().filter(|e| e["model"] == model).cloned().collect()
}

/// Installs a Runtime overlay draining these accounts of `main`, as the control plane would.
fn drain(proxy: &Proxy, accounts: &[&str]) {
    let shared = proxy.handle().shared();
    let rt = shared.runtime.load_full().unwrap();
    let drained: BTreeSet<AccountRef> =
        accounts.iter().map(|a| AccountRef { provider: "main".into(), account: (*a).to_owned() }).collect();
    let state = RuntimeState { drained_accounts: drained, ..RuntimeState::default() };
    let overlay = Overlay { version: rt.overlay.version + 1, hash: None, state };
    switchyard_proxy::source::install(shared, rt.config.clone(), rt.version, Arc::new(overlay)).unwrap();
}

#[tokio::test]
async fn a_wildcard_route_passes_the_requested_name_upstream() {
    let (main, other, proxy) = start("").await;
    let response = chat(&proxy, APP, "gpt-3.5-turbo").await;
    assert_eq!(response.status(), 200);
    assert_eq!(last_model(&main), "gpt-3.5-turbo", "gpt-* with target gpt-*: the name unchanged");
    // An exact name still wins over every wildcard.
    assert_eq!(chat(&proxy, APP, "gpt-4o-mini").await.status(), 200);
    assert_eq!(last_model(&main), "gpt-4o-mini-2024-07-18");
    // The catch-all takes what nothing else matches, to `other`, unchanged.
    assert_eq!(chat(&proxy, APP, "claude-3-haiku").await.status(), 200);
    assert_eq!(last_model(&other), "claude-3-haiku");
    assert_eq!(main.requests().len(), 2);

    // /v1/models lists exact routes only.
    let models: Value =
        client().get(format!("{}/models", proxy.url())).bearer_auth(APP).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gpt-4o-mini"]);
}

#[tokio::test]
async fn gpt_4_1_mini_reaches_the_upstream_unchanged_and_is_shown_under_its_name() {
    let (main, _other, proxy) = start("").await;
    // gpt-4* is more specific than gpt-*: its target adds a prefix.
    assert_eq!(chat(&proxy, APP, "gpt-4.1-mini").await.status(), 200);
    assert_eq!(last_model(&main), "openai/gpt-4.1-mini");
    // The endpoints made for the name are labelled with it, one per account.
    let shown = endpoints(&proxy, "gpt-4.1-mini").await;
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(shown.iter().all(|e| e["upstream_model"] == "openai/gpt-4.1-mini"));
    assert_eq!(shown.iter().map(|e| e["requests"].as_u64().unwrap()).sum::<u64>(), 1);
}

#[tokio::test]
async fn the_most_specific_wildcard_wins() {
    let (main, other, proxy) = start("").await;
    for (requested, upstream, to_main) in [
        ("gpt-4o", "openai/gpt-4o", true),        // gpt-4* over gpt-* and *
        ("gpt-3.5", "gpt-3.5", true),             // gpt-* over *
        ("openai/gpt-4o", "gpt-4o", true),        // openai/* strips its prefix
        ("cheap-anything", "small-model", false), // a fixed target
        ("cheap-other", "small-model", false),
        ("mistral-large", "mistral-large", false), // *
    ] {
        assert_eq!(chat(&proxy, APP, requested).await.status(), 200, "{requested}");
        let seen = if to_main { last_model(&main) } else { last_model(&other) };
        assert_eq!(seen, upstream, "{requested}");
    }
    // A fixed target's endpoint is the config's own, shown under the wildcard route's name.
    let fixed = endpoints(&proxy, "cheap-*").await;
    assert_eq!(fixed.len(), 1);
    assert_eq!(fixed[0]["requests"], 2, "both names were served by the one endpoint");
    assert!(endpoints(&proxy, "cheap-anything").await.is_empty());
}

#[tokio::test]
async fn allowlists_name_wildcard_routes_and_unknown_names_stay_404() {
    let (main, other, proxy) = start("").await;
    assert_eq!(chat(&proxy, NARROW, "gpt-3.5").await.status(), 200, "gpt-* is on its list");
    let refused = chat(&proxy, NARROW, "claude-3").await;
    assert_eq!(refused.status(), 403, "* is not on its list");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_allowed");
    // gpt-4o matches gpt-4*, which is not on the list either (the most specific route decides).
    assert_eq!(chat(&proxy, NARROW, "gpt-4o").await.status(), 403);
    assert!(endpoints(&proxy, "claude-3").await.is_empty(), "a refused name makes no route");
    assert_eq!(other.requests().len(), 0);
    assert_eq!(main.requests().len(), 1);

    // Without a catch-all, a name no route matches is the clear 404 it always was.
    let (main, other) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let without =
        yaml(&main, &other, "").replace("  - name: \"*\"\n    targets: [{provider: other, model: \"*\"}]\n", "");
    assert!(!without.contains("name: \"*\""));
    let proxy = Proxy::start(&without).await;
    for name in ["claude-3", "gpt-", "cheap-"] {
        let response = chat(&proxy, APP, name).await;
        assert_eq!(response.status(), 404, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "model_not_found", "{name}");
    }
    assert!(main.requests().is_empty() && other.requests().is_empty());
}

#[tokio::test]
async fn a_direct_calls_breaker_opens_and_stays_open_across_requests_and_reloads() {
    let settings = "  breaker: {consecutive_failures: 2, cooldown: 10m, max_cooldown: 10m}\n";
    let (main, other, proxy) = start(settings).await;
    // `other` has one account: one endpoint for the direct call.
    for _ in 0..2 {
        other.push(Reply::error(500, "server_error", "boom"));
        assert_eq!(chat(&proxy, DIRECT, "other:gpt-4.1").await.status(), 502, "the failed attempt");
    }
    // Open: refused at once, the upstream never sees the third request.
    let refused = chat(&proxy, DIRECT, "other:gpt-4.1").await;
    assert_eq!(other.requests().len(), 2, "the open breaker kept the request from the upstream");
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    let shown = endpoints(&proxy, "other:gpt-4.1").await;
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_eq!(shown[0]["breaker"]["state"], "open", "{shown:#?}");
    assert_eq!(shown[0]["upstream_model"], "gpt-4.1");

    // A reload (any change) keeps the endpoint and its open breaker.
    let version = proxy.config_version().await;
    let extra = "keys:\n  - {name: extra, key: \"sk-client-extra-0123456789\"}";
    let changed = yaml(&main, &other, settings).replace("keys:", extra);
    std::fs::write(&proxy.config, changed).unwrap();
    proxy.wait_for_version_change(version).await;
    assert_eq!(chat(&proxy, DIRECT, "other:gpt-4.1").await.status(), 503);
    assert_eq!(other.requests().len(), 2);
    assert_eq!(endpoints(&proxy, "other:gpt-4.1").await[0]["breaker"]["state"], "open");

    // Another name is another endpoint, closed.
    assert_eq!(chat(&proxy, DIRECT, "other/gpt-4.1").await.status(), 200);
    assert_eq!(other.requests().len(), 3);
}

#[tokio::test]
async fn a_wildcard_matchs_breaker_opens_and_stays_open() {
    let settings = "  breaker: {consecutive_failures: 2, cooldown: 10m, max_cooldown: 10m}\n";
    let (_main, other, proxy) = start(settings).await;
    for _ in 0..2 {
        other.push(Reply::error(500, "server_error", "boom"));
        assert_eq!(chat(&proxy, APP, "llama-3").await.status(), 502);
    }
    assert_eq!(chat(&proxy, APP, "llama-3").await.status(), 503);
    assert_eq!(other.requests().len(), 2);
    assert_eq!(endpoints(&proxy, "llama-3").await[0]["breaker"]["state"], "open");
}

#[tokio::test]
async fn a_drained_account_is_skipped_on_a_direct_call() {
    let (main, _other, proxy) = start("").await;
    drain(&proxy, &["a"]);
    for _ in 0..10 {
        assert_eq!(chat(&proxy, DIRECT, "main:gpt-4.1").await.status(), 200);
    }
    let keys: BTreeSet<String> =
        main.requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(keys, BTreeSet::from([format!("Bearer {KEY_B}")]), "account a is drained");
    let shown = endpoints(&proxy, "main:gpt-4.1").await;
    let enabled: Vec<(&str, bool)> =
        shown.iter().map(|e| (e["account"].as_str().unwrap(), e["enabled"].as_bool().unwrap())).collect();
    assert_eq!(enabled.len(), 2);
    assert!(enabled.contains(&("a", false)) && enabled.contains(&("b", true)), "{enabled:?}");

    // Both drained: nothing to serve the call.
    drain(&proxy, &["a", "b"]);
    let response = chat(&proxy, DIRECT, "main:gpt-4.1").await;
    assert_eq!(response.status(), 503);
    assert_eq!(main.requests().len(), 10);
    // So for a wildcard match over the same accounts.
    assert_eq!(chat(&proxy, APP, "gpt-3.5").await.status(), 503);
    assert_eq!(main.requests().len(), 10);
}

#[tokio::test]
async fn metrics_show_the_direct_endpoint_and_its_counts_persist() {
    let (_main, other, proxy) = start("").await;
    for _ in 0..3 {
        assert_eq!(chat(&proxy, DIRECT, "other:gpt-4.1").await.status(), 200);
    }
    assert_eq!(other.requests().len(), 3);
    let text = metrics(&proxy).await;
    let line = "switchyard_requests_total{model=\"other:gpt-4.1\",provider=\"other\",account=\"c\",status=\"200\"} 3";
    assert!(text.contains(line), "{text}");
    assert!(
        text.contains("switchyard_breaker_state{model=\"other:gpt-4.1\",provider=\"other\",account=\"c\"} 0"),
        "{text}"
    );
    let shown = endpoints(&proxy, "other:gpt-4.1").await;
    assert_eq!(shown[0]["requests"], 3);
    assert!(shown[0]["latency_ms"].as_f64().is_some(), "balancing learned its latency: {shown:#?}");
}
