#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Telemetry end to end: a real control plane (SQLite) and data planes
//! in-process. Usage records, breaker transitions and heartbeats reach the
//! control plane; while it is away they are spooled and sent when it is
//! back, also by the next start of a node; nothing is lost while the spool
//! has room and nothing is stored twice (rows are counted); past the bound
//! the oldest are dropped and counted; `syctl usage` adds up to what the
//! upstream reported.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proxy::telemetry::TelemetryOptions;
use switchyard_proxy::{Handle, Source};
use switchyard_tests::cluster::{chat, document};
use switchyard_tests::harness::client;
use switchyard_tests::topology::Fleet;
use switchyard_tests::wait::{Wait, within};
use switchyard_tests::{FakeUpstream, Reply, Started, Topology};

const ADMIN: &str = "admin-token-0123456789";

/// Route `m` priced at 1 and 2 USD per million prompt and completion tokens
/// (1 and 2 micro-USD a token).
fn priced(upstream: &FakeUpstream) -> String {
    document(upstream, "").replace(
        "  - {name: m, targets:",
        "  - {name: m, price: {currency: USD, input_per_mtok: 1, output_per_mtok: 2}, targets:",
    )
}

/// The priced route on a control plane with the admin token, nodes `ids`
/// whose batches are sealed every 20 ms, with heartbeats only at start (so
/// counts are exact), at most `max_bytes` unacked.
fn topology(ids: &[&str], max_bytes: u64) -> Topology {
    Topology::new()
        .document(priced)
        .control_plane(|o| o.admin_token = Some(ADMIN.to_owned()))
        .node_ids(ids.iter().copied())
        .data_plane(move |o| {
            let Source::ControlPlane(cp) = &mut o.source else { unreachable!() };
            cp.telemetry =
                TelemetryOptions { max_bytes, flush: Duration::from_millis(20), heartbeat: Duration::from_secs(3600) };
        })
}

/// The control plane and node `edge-1`, serving (the probes that show it make records too).
async fn start(max_bytes: u64) -> (Fleet, switchyard_control::Handle, Handle) {
    let Started { fleet, cp, mut dps } = topology(&["edge-1"], max_bytes).start().await;
    (fleet, cp, dps.remove(0))
}

/// Waits of up to 60 s: reconnect backoff after an outage may take a while.
fn patiently() -> Wait {
    within(Duration::from_secs(60))
}

/// A chat request answered with this usage.
async fn chat_with_usage(upstream: &FakeUpstream, dp: &Handle, prompt: u64, completion: u64) {
    upstream.push(Reply::json(
        200,
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "up-m",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}),
    ));
    assert_eq!(chat(dp, "m").await, 200);
}

async fn scalar(cp: &switchyard_control::Handle, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(cp.store.pool()).await.unwrap()
}

async fn rows(cp: &switchyard_control::Handle) -> i64 {
    scalar(cp, "SELECT COUNT(*) FROM usage_events").await
}

/// Every stored request id, checking none is stored twice.
async fn request_ids(cp: &switchyard_control::Handle) -> Vec<String> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM usage_events").fetch_all(cp.store.pool()).await.unwrap();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a record stored twice");
    ids
}

async fn acked(dp: &Handle) {
    let queue = dp.reporter().unwrap().queue().clone();
    patiently().eventually("every batch acked", async || queue.depth().batches == 0).await;
}

/// Records the node made so far (through its sink task).
fn made(dp: &Handle) -> i64 {
    dp.shared().usage.totals.records.load(Relaxed) as i64
}

/// Waits until the node made a record of every request the upstream saw (it is
/// the upstream's only client, and nothing was retried), every record is stored
/// (as its boot's), and nothing is queued.
async fn settled(fleet: &Fleet, cp: &switchyard_control::Handle, dp: &Handle) {
    let reporter = dp.reporter().unwrap();
    let stored = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_events WHERE boot_id = $1")
            .bind(reporter.boot_id())
            .fetch_one(cp.store.pool())
            .await
            .unwrap()
    };
    let asked = || fleet.upstream.requests().len() as i64;
    patiently()
        .eventually("every record made and stored", async || {
            made(dp) == asked() && stored().await == made(dp) && reporter.queue().depth().batches == 0
        })
        .await;
}

fn spooled(cache: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(cache.join("telemetry"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "batch"))
        .collect();
    files.sort();
    files
}

/// What `syctl ARGS` printed (it must succeed).
async fn syctl_text(cp: &switchyard_control::Handle, args: &[&str]) -> String {
    let env = switchyard_ctl::Env::new()
        .with("SWITCHYARD_ENDPOINT", format!("http://{}", cp.grpc_addr))
        .with("SWITCHYARD_TOKEN", ADMIN);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = ["syctl"].iter().chain(args).map(|a| (*a).to_owned());
    let code = switchyard_ctl::run(argv, &env, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

async fn syctl(cp: &switchyard_control::Handle, args: &[&str]) -> Value {
    serde_json::from_str(&syctl_text(cp, args).await).unwrap()
}

#[tokio::test]
async fn usage_and_health_reach_the_control_plane_and_syctl_adds_up_what_the_upstream_reported() {
    let (fleet, cp, dp) = start(1 << 20).await;
    settled(&fleet, &cp, &dp).await;
    let before = rows(&cp).await;

    let (mut prompt, mut completion) = (0, 0);
    for i in 1..=20u64 {
        chat_with_usage(&fleet.upstream, &dp, 100 * i, 7 * i).await;
        (prompt, completion) = (prompt + 100 * i, completion + 7 * i);
    }
    patiently().eventually("20 more rows", async || rows(&cp).await == before + 20).await;

    // The until() probes used the default answer; only the 20 are priced on top of them.
    let report = syctl(&cp, &["usage", "--by", "key", "-o", "json"]).await;
    let app = report["rows"].as_array().unwrap().iter().find(|r| r["group"] == "app").unwrap().clone();
    let probes = before as u64;
    assert_eq!(app["requests"], json!(probes + 20), "{report}");
    let probe_prompt = app["prompt_tokens"].as_u64().unwrap() - prompt;
    let probe_completion = app["completion_tokens"].as_u64().unwrap() - completion;
    assert_eq!(probe_completion, probes * switchyard_tests::fake_upstream::COMPLETION_TOKENS, "{report}");
    // The probes' prompt is "hi": one word, which the fake upstream reports as one token.
    assert_eq!(probe_prompt, probes, "{report}");
    // 1 micro-USD a prompt token, 2 a completion token: cost as reported.
    let cost = (app["cost"].as_str().unwrap().parse::<f64>().unwrap() * 1e6).round() as u64;
    assert_eq!(cost, prompt + probe_prompt + 2 * (completion + probe_completion), "{report}");
    assert_eq!(app["currency"], "USD");
    let by_node = syctl(&cp, &["usage", "--by", "node", "-o", "json"]).await;
    assert_eq!(by_node["rows"][0]["group"], "edge-1", "{by_node}");

    // A bad upstream key opens the breaker: the control plane learns why.
    fleet.upstream.push(Reply::error(401, "invalid_request_error", "Incorrect API key provided"));
    assert_ne!(chat(&dp, "m").await, 200);
    patiently()
        .eventually("the breaker's opening stored", async || {
            cp.store.endpoint_health().await.unwrap().iter().any(|h| {
                (h.node_id.as_str(), h.provider.as_str(), h.route.as_str(), h.state.as_str(), h.reason.as_str())
                    == ("edge-1", "main", "m", "open", "auth")
            })
        })
        .await;
    // Had that transition been lost, the next heartbeat (it lists the open breakers) would restore it.
    sqlx::query("DELETE FROM endpoint_health").execute(cp.store.pool()).await.unwrap();
    dp.reporter().unwrap().heartbeat();
    patiently()
        .eventually("the open breaker restored by a heartbeat", async || {
            cp.store.endpoint_health().await.unwrap().iter().any(|h| {
                (h.node_id.as_str(), h.state.as_str(), h.reason.as_str(), h.upstream_model.as_str())
                    == ("edge-1", "open", "auth", "up-m")
            })
        })
        .await;

    // The start's heartbeat arrived; `syctl status` shows it, and the open endpoint.
    assert!(scalar(&cp, "SELECT last_heartbeat_ms FROM nodes WHERE id = 'edge-1'").await > 0);
    let status = syctl_text(&cp, &["status"]).await;
    let lines: Vec<&str> = status.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("NODE")).unwrap();
    let heartbeat_at = lines[header].find("HEARTBEAT").unwrap();
    assert!(lines[header + 1][heartbeat_at..].starts_with(|c: char| c.is_ascii_digit()), "{status}");
    assert!(status.contains("main/a") && status.contains("1/1") && status.contains("auth on edge-1"), "{status}");

    // Shutdown with the control plane up: everything acked, nothing left on disk.
    let shared = dp.shared().clone();
    dp.shutdown().await;
    let records = shared.usage.totals.records.load(Relaxed) as i64;
    assert_eq!(rows(&cp).await, records, "every record the node made is stored");
    assert!(spooled(fleet.cache(0)).is_empty());
    request_ids(&cp).await;
    cp.shutdown().await;
}

#[tokio::test]
async fn a_control_plane_away_and_back_loses_nothing_and_doubles_nothing() {
    let (fleet, cp, dp) = start(1 << 20).await;
    for _ in 0..10 {
        assert_eq!(chat(&dp, "m").await, 200);
    }
    acked(&dp).await;

    let connected = async |dp: &Handle| -> bool {
        let status = client().get(format!("http://{}/status", dp.admin_addr.unwrap())).send().await.unwrap();
        status.json::<Value>().await.unwrap()["telemetry"]["connected"] == true
    };
    patiently().eventually("/status says connected", async || connected(&dp).await).await;

    // Away: the node serves on, its batches wait on disk.
    cp.shutdown().await;
    patiently().eventually("/status says not connected", async || !connected(&dp).await).await;
    for _ in 0..30 {
        assert_eq!(chat(&dp, "m").await, 200);
    }
    let queue = dp.reporter().unwrap().queue().clone();
    patiently().eventually("30 records queued", async || queue.depth().items >= 30).await;
    assert!(!spooled(fleet.cache(0)).is_empty(), "unacked batches are on disk");

    // Back, on the same address and database.
    let cp = fleet.control_plane().await;
    settled(&fleet, &cp, &dp).await;
    assert_eq!(request_ids(&cp).await.len() as i64, made(&dp));
    assert_eq!(queue.dropped.load(Relaxed), 0);
    // An acked batch leaves the queue before its file leaves the spool (removed off the runtime's threads).
    patiently().eventually("acked batches removed from the spool", async || spooled(fleet.cache(0)).is_empty()).await;
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn spooled_batches_are_sent_by_the_next_start_and_a_resend_is_stored_once() {
    let (fleet, cp, dp) = start(1 << 20).await;
    settled(&fleet, &cp, &dp).await;
    let stored_before = rows(&cp).await;
    cp.shutdown().await;

    // Requests while the control plane is away, then the node stops: spooled.
    for _ in 0..25 {
        assert_eq!(chat(&dp, "m").await, 200);
    }
    let shared = dp.shared().clone();
    dp.shutdown().await;
    let made = shared.usage.totals.records.load(Relaxed) as i64;
    let files = spooled(fleet.cache(0));
    assert!(!files.is_empty(), "shutdown spooled what was not acked");
    let copies: Vec<(std::path::PathBuf, Vec<u8>)> =
        files.iter().map(|f| (f.clone(), std::fs::read(f).unwrap())).collect();

    // The control plane and a new start of the node (same cache): each record stored once.
    let cp = fleet.control_plane().await;
    let dp = fleet.data_plane(0).await;
    acked(&dp).await;
    assert_eq!(rows(&cp).await, made);
    // An acked batch leaves the queue before its file leaves the spool (removed off the runtime's threads).
    patiently().eventually("acked batches removed from the spool", async || spooled(fleet.cache(0)).is_empty()).await;
    dp.shutdown().await;

    // The same batches again (as if their acks had been lost): acked as duplicates, nothing doubled.
    for (path, data) in &copies {
        std::fs::write(path, data).unwrap();
    }
    let duplicates = cp.telemetry.duplicate.load(Relaxed);
    let dp = fleet.data_plane(0).await;
    acked(&dp).await;
    assert_eq!(cp.telemetry.duplicate.load(Relaxed) - duplicates, copies.len() as u64);
    assert_eq!(rows(&cp).await, made);
    assert_eq!(request_ids(&cp).await.len() as i64, made);
    assert!(made > stored_before);
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn two_boots_with_one_node_id_keep_their_own_batches() {
    let Started { fleet: _fleet, cp, dps } = topology(&["edge-1", "edge-1"], 1 << 20).start().await;
    let [dp1, dp2] = <[Handle; 2]>::try_from(dps).ok().unwrap();
    assert_ne!(dp1.reporter().unwrap().boot_id(), dp2.reporter().unwrap().boot_id());
    for _ in 0..15 {
        assert_eq!(chat(&dp1, "m").await, 200);
        assert_eq!(chat(&dp2, "m").await, 200);
    }
    let shared = [dp1.shared().clone(), dp2.shared().clone()];
    dp1.shutdown().await;
    dp2.shutdown().await;
    let made: i64 = shared.iter().map(|s| s.usage.totals.records.load(Relaxed) as i64).sum();
    // Both boots numbered their batches from 1; neither swallowed the other's.
    assert_eq!(rows(&cp).await, made);
    assert_eq!(scalar(&cp, "SELECT COUNT(DISTINCT boot_id) FROM usage_events WHERE node_id = 'edge-1'").await, 2);
    assert_eq!(scalar(&cp, "SELECT COUNT(*) FROM telemetry_batches WHERE sequence = 1").await, 2);
    assert_eq!(cp.telemetry.duplicate.load(Relaxed), 0);
    cp.shutdown().await;
}

#[tokio::test]
async fn past_its_bound_the_queue_drops_the_oldest_and_counts_them() {
    const MAX: u64 = 3000;
    let (fleet, cp, dp) = start(MAX).await;
    settled(&fleet, &cp, &dp).await;
    let stored_before = rows(&cp).await;
    cp.shutdown().await;

    let made_before = made(&dp) as u64;
    const N: u64 = 120;
    for _ in 0..N {
        assert_eq!(chat(&dp, "m").await, 200);
    }
    let queue = dp.reporter().unwrap().queue().clone();
    patiently()
        .eventually("every record sealed or dropped", async || queue.depth().items + queue.dropped.load(Relaxed) == N)
        .await;
    let dropped = queue.dropped.load(Relaxed);
    assert!(dropped > 0 && dropped < N, "dropped {dropped} of {N}");
    assert!(queue.depth().bytes <= MAX || queue.depth().batches == 1);
    let metrics = client().get(format!("http://{}/metrics", dp.admin_addr.unwrap())).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains(&format!("switchyard_telemetry_dropped_total {dropped}\n")), "{metrics}");
    let spool_bytes: u64 = spooled(fleet.cache(0)).iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert_eq!(spool_bytes, queue.depth().bytes, "dropped batches left the disk too");

    let cp = fleet.control_plane().await;
    acked(&dp).await;
    let delivered = (rows(&cp).await - stored_before) as u64;
    assert_eq!(delivered, N - dropped);
    // The newest were kept: the request numbers stored are the last ones made.
    let numbers: BTreeSet<u64> = request_ids(&cp)
        .await
        .iter()
        .map(|id| u64::from_str_radix(id.rsplit_once('-').unwrap().1, 16).unwrap())
        .filter(|n| *n >= made_before)
        .collect();
    let newest: BTreeSet<u64> = (made_before + dropped..made_before + N).collect();
    assert_eq!(numbers, newest);
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn a_batch_the_control_plane_refuses_is_dropped_and_counted_and_the_rest_still_arrive() {
    use switchyard_proto::pb;
    let Started { fleet, cp, .. } = topology(&["edge-1"], 1 << 20).start_control_plane().await;
    // Left in the spool by an earlier boot: one malformed batch (sequence 0), then a good one.
    let spool = switchyard_proxy::telemetry::spool::Spool::open(fleet.cache(0)).unwrap();
    let record = |id: &str| pb::UsageRecord {
        request_id: id.into(),
        key: "app".into(),
        started_at_ms: switchyard_control::store::now_ms(),
        status: pb::RequestStatus::Ok as i32,
        ..Default::default()
    };
    let batch = |sequence, ids: &[&str]| pb::TelemetryBatch {
        node_id: "edge-1".into(),
        boot_id: "000000000001old".into(),
        sequence,
        usage: ids.iter().map(|id| record(id)).collect(),
        health: vec![],
    };
    spool.write(&batch(0, &["bad-1", "bad-2"]), 2).unwrap();
    spool.write(&batch(1, &["old-1"]), 1).unwrap();

    let dp = fleet.data_plane_serving(0).await;
    let queue = dp.reporter().unwrap().queue().clone();
    patiently()
        .eventually("the good spooled batch stored", async || {
            scalar(&cp, "SELECT COUNT(*) FROM usage_events WHERE request_id = 'old-1'").await == 1
        })
        .await;
    assert_eq!(queue.dropped.load(Relaxed), 2, "the refused batch's records");
    assert_eq!(scalar(&cp, "SELECT COUNT(*) FROM usage_events WHERE request_id LIKE 'bad-%'").await, 0);
    assert_eq!(cp.telemetry.refused.load(Relaxed), 1, "refused once, not resent");
    settled(&fleet, &cp, &dp).await;
    assert_eq!(rows(&cp).await, made(&dp) + 1);
    dp.shutdown().await;
    assert!(spooled(fleet.cache(0)).is_empty());
    cp.shutdown().await;
}
