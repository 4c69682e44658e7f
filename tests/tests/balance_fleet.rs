#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Balances end to end: a control plane polling the fake balance endpoints
//! and a data plane serving through the same fake. An account whose polled
//! balance reaches zero is drained: the data plane stops sending to it and
//! uses the next one, `syctl status` says why, and it comes back when polled
//! above zero; a manual balance set to zero drains likewise and comes back
//! when set above zero. `syctl account balance show` prints amount, source,
//! age, burn rate and time to empty, as text and JSON.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use switchyard_control::balance::Tuning;
use switchyard_control::store::{IngestBatch, PricedUsage, now_ms};
use switchyard_control::{ControlPlane, Handle};
use switchyard_proto::pb;
use switchyard_tests::cluster::{NODE_TOKEN, control_plane_options, data_plane, until};
use switchyard_tests::eventually;
use switchyard_tests::fake_balance::{FakeBalance, Funds};
use switchyard_tests::harness::{APP_KEY, client};

const ADMIN: &str = "admin-token-0123456789";
const KEY_A: &str = "sk-first-a-0000";
const KEY_B: &str = "sk-second-b-000";
/// A key the provider does not know.
const KEY_BAD: &str = "sk-first-bad-000";

/// Route `m`: `first/a` (DeepSeek's balance API) first, `second/b` (no
/// balance API: set by hand) next.
fn document(fake: &FakeBalance, interval: &str) -> String {
    let base = fake.base_url();
    format!(
        r#"
providers:
  - name: first
    kind: openai-compatible
    base_url: "{base}"
    balance_api: deepseek
    accounts:
      - {{name: a, api_key: "{KEY_A}", balance: {{currency: USD, alert_below: 1}}}}
  - name: second
    kind: openai-compatible
    base_url: "{base}"
    accounts:
      - {{name: b, api_key: "{KEY_B}", balance: {{currency: USD}}}}
models:
  - name: m
    price: {{currency: USD, input_per_mtok: 1, output_per_mtok: 2}}
    targets:
      - {{provider: first, model: up-m, priority: 0}}
      - {{provider: second, model: up-m, priority: 1}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings: {{balance: {{poll_interval: {interval}}}}}
"#
    )
}

async fn start_cp(dir: &Path, document: &str) -> Handle {
    let mut options = control_plane_options(dir, document, "127.0.0.1:0".parse().unwrap());
    options.admin_token = Some(ADMIN.to_owned());
    options.balance = Tuning { spread: Duration::ZERO, ..Default::default() };
    ControlPlane::start(options).await.unwrap()
}

/// What `syctl ARGS` printed, and its exit code.
async fn syctl_run(cp: &Handle, args: &[&str]) -> (i32, String, String) {
    let env = switchyard_ctl::Env::new()
        .with("SWITCHYARD_ENDPOINT", format!("http://{}", cp.grpc_addr))
        .with("SWITCHYARD_TOKEN", ADMIN);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = ["syctl"].iter().chain(args).map(|a| (*a).to_owned());
    let code = switchyard_ctl::run(argv, &env, &mut out, &mut err).await;
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

async fn syctl(cp: &Handle, args: &[&str]) -> String {
    let (code, out, err) = syctl_run(cp, args).await;
    assert_eq!(code, 0, "syctl {args:?}: {err}");
    out
}

async fn syctl_json(cp: &Handle, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&syctl(cp, &all).await).unwrap()
}

/// Whether the node serves `provider/account` (not drained, per its /status).
async fn serves(dp: &switchyard_proxy::Handle, provider: &str, account: &str) -> bool {
    let url = format!("http://{}/status", dp.admin_addr.unwrap());
    let status: Value = client().get(url).send().await.unwrap().json().await.unwrap();
    status["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["provider"] == provider && e["account"] == account)
        .is_some_and(|e| e["enabled"] == true)
}

/// `n` chat requests through the node: their statuses, and the upstream keys the ones answered used.
async fn chats(fake: &FakeBalance, dp: &switchyard_proxy::Handle, n: usize) -> (Vec<u16>, Vec<String>) {
    let before = fake.upstream.requests().len();
    let mut statuses = Vec::new();
    for _ in 0..n {
        let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let url = format!("http://{}/v1/chat/completions", dp.addr);
        statuses.push(client().post(url).bearer_auth(APP_KEY).json(&body).send().await.unwrap().status().as_u16());
    }
    let keys = fake.upstream.requests()[before..]
        .iter()
        .filter(|r| r.uri.path() == "/v1/chat/completions")
        .map(|r| r.header("authorization").unwrap_or("").trim_start_matches("Bearer ").to_owned())
        .collect();
    (statuses, keys)
}

#[tokio::test]
async fn a_drained_account_is_skipped_for_the_next_one_and_rejoins() {
    let fake = FakeBalance::start().await;
    fake.set(KEY_A, Funds::new(5_000_000, "USD"));
    let dir = tempfile::tempdir().unwrap();
    let cp = start_cp(dir.path(), &document(&fake, "300ms")).await;
    let cache = tempfile::tempdir().unwrap();
    let dp = data_plane(&format!("http://{}", cp.grpc_addr), cache.path(), NODE_TOKEN, "edge-1").await;
    until(&dp, "m", 200).await;
    syctl(&cp, &["account", "balance", "set", "second", "b", "2", "--currency", "USD"]).await;

    // Both have money: the first account serves.
    eventually("first/a polled", async || cp.store.balances().await.unwrap().iter().any(|b| b.provider == "first"))
        .await;
    let (statuses, keys) = chats(&fake, &dp, 5).await;
    assert_eq!((statuses, keys), (vec![200; 5], vec![KEY_A.to_owned(); 5]));

    // Its provider says zero: the next poll drains it, the node skips it for the next one.
    fake.set_micros(KEY_A, 0);
    eventually("first/a drained on the node", async || !serves(&dp, "first", "a").await).await;
    let (statuses, keys) = chats(&fake, &dp, 10).await;
    assert_eq!((statuses, keys), (vec![200; 10], vec![KEY_B.to_owned(); 10]));
    let status = syctl(&cp, &["status"]).await;
    let line = status.lines().find(|l| l.starts_with("drained")).unwrap_or_default();
    assert!(line.starts_with("drained  first/a: balance 0.00 USD (polled by deepseek "), "{status}");
    assert!(line.ends_with(" ago)"), "{line}");
    let json = syctl_json(&cp, &["status"]).await;
    assert_eq!(json["drained"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(
        (&json["drained"][0]["provider"], &json["drained"][0]["source"], &json["drained"][0]["poller"]),
        (&Value::from("first"), &Value::from("polled"), &Value::from("deepseek"))
    );

    // The manual account set to zero drains too: nothing is left to serve.
    syctl(&cp, &["account", "balance", "set", "second", "b", "0", "--currency", "USD"]).await;
    eventually("second/b drained on the node", async || !serves(&dp, "second", "b").await).await;
    let (statuses, keys) = chats(&fake, &dp, 3).await;
    assert!(statuses.iter().all(|s| *s == 503) && keys.is_empty(), "{statuses:?} {keys:?}");
    let status = syctl(&cp, &["status"]).await;
    assert!(status.contains("drained  second/b: balance 0.00 USD (set by hand "), "{status}");

    // Set above zero by hand, it serves again.
    syctl(&cp, &["account", "balance", "set", "second", "b", "2", "--currency", "USD"]).await;
    eventually("second/b back on the node", async || serves(&dp, "second", "b").await).await;
    let (statuses, keys) = chats(&fake, &dp, 3).await;
    assert_eq!((statuses, keys), (vec![200; 3], vec![KEY_B.to_owned(); 3]));

    // Polled above zero, the first account takes the traffic back.
    fake.set_micros(KEY_A, 3_000_000);
    eventually("first/a back on the node", async || serves(&dp, "first", "a").await).await;
    let (statuses, keys) = chats(&fake, &dp, 5).await;
    assert_eq!((statuses, keys), (vec![200; 5], vec![KEY_A.to_owned(); 5]));
    assert!(!syctl(&cp, &["status"]).await.contains("drained"), "nothing drained any more");

    dp.begin_shutdown();
    cp.shutdown().await;
}

/// A stored usage record of `first/a` that cost `micros` USD, `ago_ms` ago.
async fn spent(cp: &Handle, micros: i64, ago_ms: i64) {
    let record = pb::UsageRecord {
        request_id: "req-1".into(),
        started_at_ms: now_ms() - ago_ms,
        key: "app".into(),
        route: "m".into(),
        provider: "first".into(),
        account: "a".into(),
        upstream_model: "up-m".into(),
        status: pb::RequestStatus::Ok as i32,
        http_status: 200,
        attempts: 1,
        prompt_tokens: 10,
        completion_tokens: 5,
        ..Default::default()
    };
    let batch = IngestBatch {
        node_id: "edge-1".into(),
        boot_id: "boot-1".into(),
        sequence: 1,
        received_at_ms: now_ms(),
        usage: vec![PricedUsage { record, cost_micros: micros, currency: "USD".into() }],
        breakers: vec![],
        heartbeat: None,
        spend: vec![],
        balances: vec![],
        health_events: 0,
    };
    cp.store.ingest(&batch).await.unwrap();
}

#[tokio::test]
async fn balance_show_prints_source_age_burn_rate_and_time_to_empty() {
    let fake = FakeBalance::start().await;
    fake.set(KEY_A, Funds::new(12_000_000, "USD"));
    let dir = tempfile::tempdir().unwrap();
    let yaml = document(&fake, "1h").replace(
        "      - {name: a, api_key: \"sk-first-a-0000\", balance: {currency: USD, alert_below: 1}}\n",
        &format!("      - {{name: a, api_key: \"{KEY_A}\", balance: {{currency: USD, alert_below: 1}}}}\n      - {{name: bad, api_key: \"{KEY_BAD}\"}}\n"),
    );
    let cp = start_cp(dir.path(), &yaml).await;
    // 3 USD spent half an hour ago: 0.5 USD an hour over 6 h; 12 USD last 24 h.
    spent(&cp, 3_000_000, 1_800_000).await;
    syctl(&cp, &["account", "balance", "set", "second", "b", "5", "--currency", "CNY"]).await;
    eventually("first/a polled, first/bad failed", async || {
        let rows = cp.store.poll_rows().await.unwrap();
        rows.iter().any(|r| r.account == "a" && r.last_ok_ms.is_some())
            && rows.iter().any(|r| r.account == "bad" && r.failures > 0)
    })
    .await;

    let text = syctl(&cp, &["account", "balance", "show"]).await;
    let lines: Vec<&str> = text.lines().collect();
    let cells = |i: usize| lines[i].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>();
    assert_eq!(cells(0), ["ACCOUNT", "BALANCE", "SOURCE", "UPDATED", "BURN (6h)", "EMPTY IN", "STATE"], "{text}");
    let a = cells(1);
    assert_eq!((a[0], a[1], a[2]), ("first/a", "12.00 USD", "polled by deepseek"), "{text}");
    assert!(a[3].ends_with("s ago"), "{text}");
    assert_eq!((a[4], a[5], a[6]), ("0.5 USD/h", "1d", "ok"), "{text}");
    assert_eq!(cells(2), ["first/bad", "-", "-", "-", "-", "-", "poll failing"], "{text}");
    let b = cells(3);
    assert_eq!((b[0], b[1], b[2], b[4], b[5], b[6]), ("second/b", "5.00 CNY", "manual", "-", "-", "ok"), "{text}");
    assert!(
        text.contains(
            "second/b: the balance is in CNY, the balance policy says USD (not converted; alert_below is not compared)"
        ),
        "{text}"
    );
    assert!(
        text.contains("first/bad: deepseek failed 1 time(s) in a row: GET /user/balance: HTTP 401: Authentication Fails (no such API key)"),
        "{text}"
    );

    // One account, as PROVIDER/ACCOUNT or PROVIDER ACCOUNT, and JSON.
    let one = syctl(&cp, &["account", "balance", "show", "first/a", "--window", "1h"]).await;
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(one.contains("BURN (1h)") && one.contains("3 USD/h") && one.contains("4h"), "{one}");
    let json = syctl_json(&cp, &["account", "balance", "show", "first", "a"]).await;
    let a = &json["balances"][0];
    assert_eq!(json["balances"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&a["balance"], &a["currency"], &a["source"], &a["poller"]),
        (&"12".into(), &"USD".into(), &"polled".into(), &"deepseek".into())
    );
    assert_eq!((&a["state"], &a["drained"], &a["balance_api"]), (&"ok".into(), &false.into(), &"deepseek".into()));
    assert_eq!(a["burn"]["window"], "6h");
    assert_eq!(a["burn"]["rates"][0], serde_json::json!({"currency": "USD", "spent": "3", "per_hour": "0.5"}));
    assert_eq!((&a["time_to_empty_ms"], &a["time_to_empty"]), (&86_400_000u64.into(), &"1d".into()));
    assert_eq!(a["policy"], serde_json::json!({"currency": "USD", "alert_below": "1"}));
    assert_eq!(a["poll"]["failures"], 0);
    assert!(a["age_ms"].as_i64().unwrap() >= 0 && a["updated_at"].is_string());
    let json = syctl_json(&cp, &["account", "balance", "show", "second"]).await;
    assert_eq!(json["balances"][0]["currency_differs_from_policy"], true);
    assert_eq!(json["balances"][0]["poll"], Value::Null);

    // Names that do not exist, and a bad window.
    let (code, _, err) = syctl_run(&cp, &["account", "balance", "show", "nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("provider \"nope\" does not exist"), "{err}");
    let (code, _, err) = syctl_run(&cp, &["account", "balance", "show", "first/zz"]).await;
    assert!(code == 1 && err.contains("account \"first/zz\" does not exist"), "{err}");
    let (code, _, err) = syctl_run(&cp, &["account", "balance", "show", "--window", "0s"]).await;
    assert!(code == 1 && err.contains("--window"), "{err}");
    cp.shutdown().await;
}
