#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Alerts end to end: a control plane (and data planes) in-process, alert
//! channels on the fake receivers of `switchyard_tests::fake_alerts`, which
//! check signatures, timestamps and keywords as DingTalk, Feishu and WeCom
//! do. A condition fires once on every channel and recovers once; a
//! reminder comes after the quiet period; a restart sends nothing new; two
//! replicas on PostgreSQL send each alert once; a hanging webhook stalls no
//! other channel and no config stream; retries are bounded; a key the
//! upstream refuses is reported from a data plane's breaker.

use serde_json::Value;
use std::time::Duration;
use switchyard_control::store::{Change, Ownership};
use switchyard_control::{ControlPlane, Handle};
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::{self, alert_test_result::ChannelResult};
use switchyard_tests::FakeUpstream;
use switchyard_tests::cluster::{NODE_TOKEN, chat, control_plane_options, data_plane, until};
use switchyard_tests::eventually;
use switchyard_tests::fake_alerts::{Behaviour, FakeAlerts};
use switchyard_tests::harness::{APP_KEY, client};
use tokio::time::Instant;
use tonic::Status;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const ADMIN: &str = "admin-token-0123456789";
const DING_SECRET: &str = "SECding-secret-0123456789";
const FEISHU_SECRET: &str = "feishu-secret-0123456789";

#[derive(Clone)]
struct Bearer;

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
        Ok(request)
    }
}

type Admin = AdminClient<InterceptedService<Channel, Bearer>>;

/// Provider `main` (account `a`, alert below 5 USD) on `upstream`, route `m`,
/// alerts evaluated every second with `settings` and `channels` (YAML list items).
fn document(upstream: &FakeUpstream, settings: &str, channels: &[String]) -> String {
    let channels: String = channels.iter().map(|c| format!("      - {c}\n")).collect();
    format!(
        r#"
providers:
  - name: main
    kind: openai-compatible
    base_url: "{}"
    accounts:
      - {{name: a, api_key: "sk-upstream-000000", balance: {{currency: USD, alert_below: 5}}}}
models:
  - {{name: m, targets: [{{provider: main, model: up-m}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings:
  alerts:
    evaluate_every: 1s
{settings}    channels:
{channels}"#,
        upstream.base_url()
    )
}

async fn start(dir: &std::path::Path, database: Option<&str>, document: &str) -> (Handle, Admin) {
    let mut options = control_plane_options(dir, document, "127.0.0.1:0".parse().unwrap());
    options.admin_token = Some(ADMIN.to_owned());
    if let Some(url) = database {
        options.database = url.to_owned();
    }
    let handle = ControlPlane::start(options).await.unwrap();
    let channel = Channel::from_shared(format!("http://{}", handle.grpc_addr)).unwrap().connect().await.unwrap();
    (handle, AdminClient::with_interceptor(channel, Bearer))
}

async fn set_balance(admin: &mut Admin, amount: f64) {
    let request = pb::SetBalanceRequest {
        provider: "main".into(),
        account: "a".into(),
        currency: "USD".into(),
        amount_micros: (amount * 1e6) as i64,
    };
    admin.set_balance(request).await.unwrap();
}

async fn metrics(cp: &Handle) -> String {
    client().get(format!("http://{}/metrics", cp.http_addr)).send().await.unwrap().text().await.unwrap()
}

/// A counter or gauge line of `/metrics` (0 when absent).
async fn metric(cp: &Handle, series: &str) -> u64 {
    let text = metrics(cp).await;
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

const PASSES: &str = "switchyard_cp_alert_evaluations_total{result=\"ok\"}";

/// Waits until `cp` completed `n` more evaluation passes than now.
async fn passes(cp: &Handle, n: u64) {
    let start = metric(cp, PASSES).await;
    eventually(&format!("{n} evaluation passes"), async || metric(cp, PASSES).await >= start + n).await;
}

fn webhook_bodies(fake: &FakeAlerts, name: &str) -> Vec<Value> {
    fake.messages(name).into_iter().map(|m| m.body).collect()
}

fn events(bodies: &[Value]) -> Vec<(String, String)> {
    bodies.iter().map(|b| (b["event"].as_str().unwrap().to_owned(), b["state"].as_str().unwrap().to_owned())).collect()
}

fn pair(event: &str, state: &str) -> (String, String) {
    (event.to_owned(), state.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_fire_once_on_every_channel_and_recover_once() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [
        format!(
            "{{name: ding, kind: dingtalk, webhook: \"{}\", secret: \"{DING_SECRET}\"}}",
            fake.dingtalk("ding", Some(DING_SECRET), Some("Switchyard"))
        ),
        format!(
            "{{name: lark, kind: feishu, webhook: \"{}\", secret: \"{FEISHU_SECRET}\"}}",
            fake.feishu("lark", Some(FEISHU_SECRET), Some("Switchyard"))
        ),
        format!("{{name: wecom, kind: wecom, webhook: \"{}\"}}", fake.wecom("wecom")),
        format!("{{name: pager, kind: webhook, url: \"{}\"}}", fake.webhook("pager")),
        // Keyword robots, unsigned: every message carries "Switchyard".
        format!(
            "{{name: ding-keyword, kind: dingtalk, webhook: \"{}\"}}",
            fake.dingtalk("ding-keyword", None, Some("Switchyard"))
        ),
    ];
    let chats = ["ding", "lark", "wecom", "ding-keyword"];
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &document(&upstream, "", &channels)).await;
    passes(&cp, 1).await;

    // Cause: a balance set under alert_below. Effect: one message per channel.
    let cause = Instant::now();
    set_balance(&mut admin, 3.2).await;
    for name in chats.iter().chain(&["pager"]) {
        let m = fake.wait_for(name, 1).await;
        println!("cause to alert, {name}: {} ms", m[0].at.duration_since(cause).as_millis());
    }
    for name in chats {
        let text = &fake.messages(name)[0].text;
        assert!(text.contains("FIRING") && text.contains("main/a balance 3.2 USD is below 5 USD"), "{name}: {text}");
    }
    let bodies = webhook_bodies(&fake, "pager");
    assert_eq!(events(&bodies), [pair("balance_low", "firing")]);
    assert_eq!(
        (bodies[0]["key"].as_str(), bodies[0]["severity"].as_str()),
        (Some("balance_low:main/a"), Some("warning"))
    );
    assert_eq!(
        (bodies[0]["labels"]["provider"].as_str(), bodies[0]["labels"]["account"].as_str()),
        (Some("main"), Some("a"))
    );

    // Evaluations go on; nothing is sent again. The list shows it, delivered everywhere.
    passes(&cp, 3).await;
    for name in chats.iter().chain(&["pager"]) {
        assert_eq!(fake.messages(name).len(), 1, "{name}");
        assert_eq!(fake.refusals(name), Vec::<String>::new(), "{name}");
    }
    let mut listed = Vec::new();
    eventually("five deliveries recorded", async || {
        listed = admin.list_alerts(pb::ListRequest {}).await.unwrap().into_inner().alerts;
        listed.len() == 1 && listed[0].deliveries.len() == 5
    })
    .await;
    assert_eq!((listed[0].key.as_str(), listed[0].event.as_str()), ("balance_low:main/a", "balance_low"));
    assert!(listed[0].deliveries.iter().all(|d| d.ok && d.attempts == 1), "{:?}", listed[0].deliveries);

    // Drained: a second condition, sent once.
    set_balance(&mut admin, 0.0).await;
    for name in chats {
        let m = fake.wait_for(name, 2).await;
        assert!(m[1].text.contains("main/a is drained: balance 0 USD"), "{name}: {}", m[1].text);
    }
    fake.until("pager: drained", |f| f.messages("pager").len() >= 2).await;
    assert_eq!(events(&webhook_bodies(&fake, "pager"))[1], pair("account_drained", "firing"));
    assert_eq!(webhook_bodies(&fake, "pager")[1]["severity"], "critical");

    // Topped up: both recover, once. A chat robot gets one message with both.
    set_balance(&mut admin, 10.0).await;
    for name in chats {
        let m = fake.wait_for(name, 3).await;
        assert_eq!(m[2].text.matches("RESOLVED").count(), 2, "{name}: {}", m[2].text);
    }
    fake.until("pager: both resolved", |f| f.messages("pager").len() >= 4).await;
    let mut resolved = events(&webhook_bodies(&fake, "pager")[2..]);
    resolved.sort();
    assert_eq!(resolved, [pair("account_drained", "resolved"), pair("balance_low", "resolved")]);
    passes(&cp, 3).await;
    for name in chats {
        assert_eq!(fake.messages(name).len(), 3, "{name}");
    }
    assert_eq!(fake.messages("pager").len(), 4);
    assert!(admin.list_alerts(pb::ListRequest {}).await.unwrap().into_inner().alerts.is_empty());
    let text = metrics(&cp).await;
    assert!(text.contains("switchyard_cp_alerts_sent_total{channel=\"pager\",result=\"ok\"} 4"), "{text}");
    assert!(text.contains("switchyard_cp_alert_leader 1"), "{text}");
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_comes_once_the_quiet_period_passed() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [format!("{{name: pager, kind: webhook, url: \"{}\"}}", fake.webhook("pager"))];
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &document(&upstream, "    quiet_period: 2s\n", &channels)).await;
    set_balance(&mut admin, 1.0).await;
    let m = fake.wait_for("pager", 2).await;
    let (first, second) = (&m[0].body, &m[1].body);
    assert_eq!((first["reminder"].as_bool(), second["reminder"].as_bool()), (Some(false), Some(true)));
    assert_eq!(first["since_ms"], second["since_ms"], "the same condition, since the same time");
    assert!(second["at_ms"].as_i64().unwrap() - first["at_ms"].as_i64().unwrap() >= 2000, "{first} {second}");
    let listed = admin.list_alerts(pb::ListRequest {}).await.unwrap().into_inner().alerts;
    assert!(listed[0].reminders >= 1, "{listed:?}");
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_sends_nothing_new_and_still_recovers() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [format!("{{name: pager, kind: webhook, url: \"{}\"}}", fake.webhook("pager"))];
    let doc = document(&upstream, "", &channels);
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &doc).await;
    set_balance(&mut admin, 1.0).await;
    fake.wait_for("pager", 1).await;
    cp.shutdown().await;

    // The same database: the condition still holds, and was notified.
    let (cp, mut admin) = start(dir.path(), None, &doc).await;
    passes(&cp, 3).await;
    assert_eq!(fake.messages("pager").len(), 1, "a restart re-sent: {:?}", webhook_bodies(&fake, "pager"));
    set_balance(&mut admin, 9.0).await;
    fake.wait_for("pager", 2).await;
    passes(&cp, 2).await;
    assert_eq!(
        events(&webhook_bodies(&fake, "pager")),
        [pair("balance_low", "firing"), pair("balance_low", "resolved")]
    );
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_stalls_no_other_channel_nor_the_config_stream() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [
        format!("{{name: stuck, kind: webhook, url: \"{}\"}}", fake.webhook("stuck")),
        format!("{{name: ding, kind: dingtalk, webhook: \"{}\"}}", fake.dingtalk("ding", None, None)),
    ];
    fake.set("stuck", Behaviour::Hang);
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &document(&upstream, "", &channels)).await;
    let cache = tempfile::tempdir().unwrap();
    let dp = data_plane(&format!("http://{}", cp.grpc_addr), cache.path(), NODE_TOKEN, "edge-1").await;
    until(&dp, "m", 200).await;

    set_balance(&mut admin, 1.0).await;
    fake.wait_for("ding", 1).await;
    fake.until("the stuck webhook was called", |f| f.requests("stuck") >= 1).await;
    assert!(fake.messages("stuck").is_empty());

    // While it hangs: a change reaches the data plane, evaluation goes on, the other channel gets the recovery.
    let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
    cp.store
        .write(change, |c| {
            let mut fresh = c.models[0].clone();
            fresh.name = "m2".into();
            c.models.push(fresh);
            Ok(())
        })
        .await
        .unwrap();
    cp.publisher.refresh().await.unwrap();
    until(&dp, "m2", 200).await;
    set_balance(&mut admin, 9.0).await;
    let m = fake.wait_for("ding", 2).await;
    assert!(m[1].text.contains("RESOLVED"), "{}", m[1].text);
    assert_eq!(fake.requests("stuck"), 1, "its worker still waits on the first attempt");
    // Shutdown does not wait for it either.
    dp.shutdown().await;
    tokio::time::timeout(Duration::from_secs(10), cp.shutdown()).await.expect("shutdown while a webhook hangs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_retried_with_backoff_and_bounded() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [
        format!("{{name: flaky, kind: webhook, url: \"{}\"}}", fake.webhook("flaky")),
        format!("{{name: broken, kind: webhook, url: \"{}\"}}", fake.webhook("broken")),
        format!(
            "{{name: refusing, kind: wecom, webhook: \"{}\"}}",
            fake.wecom("refusing").replace("key=", "key=unknown-")
        ),
    ];
    fake.set("flaky", Behaviour::Fail { status: 503, times: 1 });
    fake.set("broken", Behaviour::Fail { status: 500, times: 1000 });
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &document(&upstream, "", &channels)).await;
    set_balance(&mut admin, 1.0).await;
    fake.wait_for("flaky", 1).await;
    assert_eq!(fake.requests("flaky"), 2, "one retry after the 503");
    let mut deliveries = Vec::new();
    eventually("every delivery recorded", async || {
        let listed = admin.list_alerts(pb::ListRequest {}).await.unwrap().into_inner().alerts;
        deliveries = listed.first().map(|a| a.deliveries.clone()).unwrap_or_default();
        deliveries.len() == 3
    })
    .await;
    let by = |name: &str| deliveries.iter().find(|d| d.channel == name).unwrap().clone();
    assert_eq!((by("flaky").ok, by("flaky").attempts), (true, 2));
    assert_eq!((by("broken").ok, by("broken").attempts, by("broken").error.as_str()), (false, 3, "HTTP 500"));
    assert_eq!(fake.requests("broken"), 3, "three attempts, no more");
    // WeCom answered 200 with errcode 93000: a refusal, not retried.
    let refused = by("refusing");
    assert_eq!((refused.ok, refused.attempts), (false, 1), "{refused:?}");
    assert!(refused.error.contains("errcode 93000"), "{refused:?}");
    assert!(!refused.error.contains("unknown-refusing-token"), "no key in errors: {refused:?}");
    passes(&cp, 2).await;
    assert_eq!(fake.requests("broken"), 3, "a failed delivery waits for the next reminder");
    let text = metrics(&cp).await;
    for line in [
        "switchyard_cp_alerts_sent_total{channel=\"broken\",result=\"failed\"} 1",
        "switchyard_cp_alerts_sent_total{channel=\"flaky\",result=\"ok\"} 1",
        "switchyard_cp_alerts_sent_total{channel=\"refusing\",result=\"failed\"} 1",
        "switchyard_cp_alert_retries_total{channel=\"broken\"} 2",
        "switchyard_cp_alert_retries_total{channel=\"flaky\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    cp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_upstream_refuses_alerts_from_the_data_planes_breaker() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [format!("{{name: pager, kind: webhook, url: \"{}\"}}", fake.webhook("pager"))];
    let dir = tempfile::tempdir().unwrap();
    let (cp, _admin) = start(dir.path(), None, &document(&upstream, "", &channels)).await;
    let cache = tempfile::tempdir().unwrap();
    let dp = data_plane(&format!("http://{}", cp.grpc_addr), cache.path(), NODE_TOKEN, "edge-1").await;
    until(&dp, "m", 200).await;
    upstream.push(switchyard_tests::Reply::error(401, "invalid_api_key", "Incorrect API key provided"));
    let status = chat(&dp, "m").await;
    assert!(status >= 400, "{status}");
    let m = fake.wait_for("pager", 1).await;
    let body = &m[0].body;
    assert_eq!((body["event"].as_str(), body["state"].as_str()), (Some("key_refused"), Some("firing")));
    assert_eq!((body["key"].as_str(), body["labels"]["reason"].as_str()), (Some("key_refused:main/a"), Some("auth")));
    assert!(body["text"].as_str().unwrap().contains("edge-1"), "{body}");
    assert!(!body.to_string().contains("sk-upstream"), "no key in alerts: {body}");
    dp.shutdown().await;
    cp.shutdown().await;
}

/// A fresh PostgreSQL database (`SWITCHYARD_TEST_POSTGRES`, else the local
/// server), dropped at the end; `None` (skipped) when no server answers.
struct Postgres {
    url: String,
    admin: String,
    name: String,
}

impl Postgres {
    async fn create() -> Option<Postgres> {
        use sqlx::Connection;
        let admin = std::env::var("SWITCHYARD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => {
                assert!(std::env::var("SWITCHYARD_TEST_POSTGRES").is_err(), "SWITCHYARD_TEST_POSTGRES is set but: {e}");
                eprintln!("skipped: no PostgreSQL at {admin} ({e})");
                return None;
            }
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("switchyard_alerts_{}_{}", std::process::id(), nanos % 1_000_000_000);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Some(Postgres { url, admin, name })
    }

    async fn drop_it(self) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_send_each_alert_once_and_hand_over() {
    let Some(db) = Postgres::create().await else { return };
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [
        format!("{{name: pager, kind: webhook, url: \"{}\"}}", fake.webhook("pager")),
        format!(
            "{{name: lark, kind: feishu, webhook: \"{}\", secret: \"{FEISHU_SECRET}\"}}",
            fake.feishu("lark", Some(FEISHU_SECRET), None)
        ),
    ];
    let doc = document(&upstream, "", &channels);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, admin_a) = start(dir_a.path(), Some(&db.url), &doc).await;
    let (b, mut admin_b) = start(dir_b.path(), Some(&db.url), &doc).await;
    let standby = "switchyard_cp_alert_evaluations_total{result=\"standby\"}";
    eventually("one leader, one standby", async || {
        let leaders = metric(&a, "switchyard_cp_alert_leader").await + metric(&b, "switchyard_cp_alert_leader").await;
        leaders == 1 && metric(&a, standby).await + metric(&b, standby).await >= 1
    })
    .await;

    set_balance(&mut admin_b, 2.0).await;
    fake.wait_for("pager", 1).await;
    fake.wait_for("lark", 1).await;
    let (leader, follower, mut admin) =
        if metric(&a, "switchyard_cp_alert_leader").await == 1 { (a, b, admin_b) } else { (b, a, admin_a.clone()) };
    passes(&leader, 3).await;
    let before = metric(&follower, standby).await;
    eventually("the standby tried", async || metric(&follower, standby).await > before).await;
    assert_eq!((fake.messages("pager").len(), fake.messages("lark").len()), (1, 1), "each alert once");

    // The leader leaves; the other takes over and sends the recovery, once.
    leader.shutdown().await;
    eventually("the other replica leads", async || metric(&follower, "switchyard_cp_alert_leader").await == 1).await;
    set_balance(&mut admin, 8.0).await;
    fake.wait_for("pager", 2).await;
    fake.wait_for("lark", 2).await;
    passes(&follower, 2).await;
    assert_eq!(
        events(&webhook_bodies(&fake, "pager")),
        [pair("balance_low", "firing"), pair("balance_low", "resolved")]
    );
    assert_eq!(fake.messages("lark").len(), 2);
    assert!(fake.refusals("lark").is_empty(), "{:?}", fake.refusals("lark"));
    drop(admin_a);
    follower.shutdown().await;
    db.drop_it().await;
}

#[tokio::test]
async fn tests_report_each_channel() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [
        format!(
            "{{name: ding, kind: dingtalk, webhook: \"{}\", secret: \"{DING_SECRET}\"}}",
            fake.dingtalk("ding", Some(DING_SECRET), None)
        ),
        // The robot has another secret: the signature does not verify.
        format!(
            "{{name: ding-wrong, kind: dingtalk, webhook: \"{}\", secret: \"SECnot-the-robots\"}}",
            fake.dingtalk("ding-wrong", Some(DING_SECRET), None)
        ),
        format!(
            "{{name: lark-keyword, kind: feishu, webhook: \"{}\"}}",
            fake.feishu("lark-keyword", None, Some("deploy-bot"))
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &document(&upstream, "", &channels)).await;
    let results: Vec<ChannelResult> =
        admin.test_alert(pb::AlertTestRequest { channel: None }).await.unwrap().into_inner().channels;
    let outcome: Vec<(&str, bool)> = results.iter().map(|r| (r.channel.as_str(), r.ok)).collect();
    assert_eq!(outcome, [("ding", true), ("ding-wrong", false), ("lark-keyword", false)]);
    assert!(results[1].error.contains("errcode 310000: sign not match"), "{:?}", results[1].error);
    assert!(results[2].error.contains("code 19024: Key Words Not Found"), "{:?}", results[2].error);
    assert_eq!(fake.refusals("ding-wrong"), ["bad signature"]);
    assert_eq!(fake.refusals("lark-keyword"), ["keyword missing"]);
    assert!(fake.messages("ding")[0].text.contains("test alert"));
    cp.shutdown().await;
}

/// Not an assertion: prints the time from a cause (a balance set under
/// `alert_below` through Admin) to the alert at the receiver, with the
/// default `evaluate_every` (1m), once right after a pass (the cause waits
/// out the minimum gap between passes) and once with the evaluator idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cause_to_alert_latency_with_default_settings() {
    let upstream = FakeUpstream::start().await;
    let fake = FakeAlerts::start().await;
    let channels = [format!(
        "{{name: ding, kind: dingtalk, webhook: \"{}\", secret: \"{DING_SECRET}\"}}",
        fake.dingtalk("ding", Some(DING_SECRET), None)
    )];
    let doc = document(&upstream, "", &channels).replace("evaluate_every: 1s", "evaluate_every: 1m");
    let dir = tempfile::tempdir().unwrap();
    let (cp, mut admin) = start(dir.path(), None, &doc).await;
    eventually("the first pass", async || metric(&cp, PASSES).await >= 1).await;
    let cause = Instant::now();
    set_balance(&mut admin, 1.0).await;
    let m = fake.wait_for("ding", 1).await;
    println!("cause to alert, just after a pass: {} ms", m[0].at.duration_since(cause).as_millis());
    // Idle longer than the minimum gap between passes (5 s) and the chat spacing (3 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cause = Instant::now();
    set_balance(&mut admin, 9.0).await;
    let m = fake.wait_for("ding", 2).await;
    println!("cause to recovery, evaluator idle: {} ms", m[1].at.duration_since(cause).as_millis());
    cp.shutdown().await;
}
