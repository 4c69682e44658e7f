#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runtime views: `syctl status` with a data plane connected (ACKed config,
//! a NACK with its reason), `syctl audit`, and `syctl provider test`'s
//! output for an upstream that cannot be reached.

mod common;

use common::{Cp, NODE_TOKEN};
use std::time::Duration;
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{self, DiscoveryRequest, ResourceType, discovery_request};
use switchyard_tests::eventually_value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// A node that ACKs the Config and NACKs the Runtime; the stream stays open while the sender lives.
async fn node(cp: &Cp) -> (mpsc::Sender<DiscoveryRequest>, tonic::Streaming<pb::DiscoveryResponse>) {
    let mut client = ConfigDiscoveryClient::connect(format!("http://{}", cp.handle.grpc_addr)).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    let node = pb::Node {
        id: "edge-1".into(),
        region: "eu".into(),
        zone: "eu-1a".into(),
        build_version: "0.1.0".into(),
        boot_id: "boot-1".into(),
        ..Default::default()
    };
    let hello = pb::Hello { node: Some(node), held: vec![] };
    tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Hello(hello)) }).await.unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {NODE_TOKEN}").parse().unwrap());
    let mut stream = client.stream(request).await.unwrap().into_inner();
    for _ in 0..2 {
        let response = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
        let version = response.version.clone().unwrap();
        let kind = if version.r#type == ResourceType::Config as i32 {
            discovery_request::Kind::Ack(pb::Ack { applied: Some(version), response_nonce: response.nonce })
        } else {
            discovery_request::Kind::Nack(pb::Nack {
                r#type: version.r#type,
                response_nonce: response.nonce,
                error_detail: "keys[\"x\"]: refused for the test".into(),
                held: None,
            })
        };
        tx.send(DiscoveryRequest { kind: Some(kind) }).await.unwrap();
    }
    (tx, stream)
}

#[tokio::test]
async fn status_shows_nodes_acks_and_nacks() {
    let cp = Cp::start().await;
    let out = cp.run(&["status"]).await;
    let text = out.ok();
    assert!(text.starts_with("config:   version 0  hash "), "{text}");
    assert!(text.contains("\nruntime:  version "), "{text}");
    assert!(text.ends_with("no data planes have connected yet\n"), "{text}");

    let _node = node(&cp).await;
    // The registry is written when a node changes; wait for the NACK to land.
    let status = async || cp.run(&["status"]).await.ok().to_owned();
    let text = eventually_value("the NACK in the registry", status, |t| t.contains("refused for the test")).await;
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("NODE")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        lines[header].starts_with(
            "NODE    REGION  ZONE   BUILD  CONNECTED  CONFIG       RUNTIME  LAST SEEN  HEARTBEAT  LAST NACK"
        ),
        "{text}"
    );
    let row = lines[header + 1];
    assert!(row.starts_with("edge-1  eu      eu-1a  0.1.0  yes        0 (current)  -"), "{text}");
    assert!(row.contains("s ago "), "{text}");
    assert!(row.ends_with("runtime: keys[\"x\"]: refused for the test (0s ago)"), "{text}");

    let json = cp.run(&["-o", "json", "status"]).await.json();
    let n = &json["nodes"][0];
    assert_eq!(n["id"], "edge-1");
    assert_eq!(n["connected"], true);
    assert_eq!(n["acked"]["config"]["current"], true);
    assert_eq!(n["acked"]["config"]["version"], json["config"]["version"]);
    assert_eq!(n["last_nack"]["type"], "runtime");
    assert_eq!(n["last_nack"]["error"], "keys[\"x\"]: refused for the test");
    assert!(n["last_seen"].as_str().unwrap().ends_with('Z'));
}

/// Registers `id` (boot-1, connected, seen now) as its config stream would.
async fn register(cp: &Cp, id: &str) {
    let now = switchyard_control::store::now_ms();
    let record = switchyard_control::store::NodeRecord {
        id: id.into(),
        region: "eu".into(),
        zone: String::new(),
        labels: Default::default(),
        build_version: String::new(),
        boot_id: "boot-1".into(),
        connected: true,
        config: (0, String::new()),
        runtime: (0, String::new()),
        last_nack: None,
        first_seen_ms: now,
        last_seen_ms: now,
        last_heartbeat_ms: 0,
        inflight_requests: 0,
    };
    cp.handle.store.record_node(&record).await.unwrap();
}

/// Reports breaker transitions of `id` (boot-1) over `Telemetry.Report`, as a
/// data plane does: (route, to, reason) on endpoint p/a with model up.
async fn report(cp: &Cp, id: &str, sequence: u64, transitions: &[(&str, pb::BreakerState, &str)]) {
    use switchyard_proto::pb::telemetry_client::TelemetryClient;
    let now = switchyard_control::store::now_ms();
    let health = transitions
        .iter()
        .map(|(route, to, reason)| pb::HealthEvent {
            at_ms: now,
            event: Some(pb::health_event::Event::Breaker(pb::BreakerTransition {
                provider: "p".into(),
                account: "a".into(),
                route: (*route).into(),
                upstream_model: "up".into(),
                from: pb::BreakerState::Closed as i32,
                to: *to as i32,
                reason: (*reason).into(),
                open_for_ms: 30_000,
            })),
        })
        .collect();
    let batch = pb::TelemetryBatch { node_id: id.into(), boot_id: "boot-1".into(), sequence, usage: vec![], health };
    let mut client = TelemetryClient::connect(format!("http://{}", cp.handle.grpc_addr)).await.unwrap();
    let mut request = tonic::Request::new(tokio_stream::iter(vec![batch]));
    request.metadata_mut().insert("authorization", format!("Bearer {NODE_TOKEN}").parse().unwrap());
    let mut acks = client.report(request).await.unwrap().into_inner();
    let ack = tokio::time::timeout(Duration::from_secs(10), acks.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((ack.sequence, ack.duplicate), (sequence, false));
}

#[tokio::test]
async fn status_shows_endpoints_open_on_some_node() {
    use pb::BreakerState::{Closed, HalfOpen, Open};
    let cp = Cp::start().await;
    register(&cp, "dp-1").await;
    register(&cp, "dp-2").await;
    register(&cp, "dp-3").await;
    report(&cp, "dp-1", 1, &[("m", Closed, "")]).await;
    let text = cp.run(&["status"]).await.ok().to_owned();
    assert!(text.ends_with("\nENDPOINTS\nthe one reported endpoint is closed on every node\n"), "{text}");

    report(&cp, "dp-1", 2, &[("m", Open, "auth"), ("free", Closed, "")]).await;
    report(&cp, "dp-2", 1, &[("m", Open, "auth"), ("free", Closed, "")]).await;
    report(&cp, "dp-3", 1, &[("m", HalfOpen, "quota")]).await;
    let text = cp.run(&["status"]).await.ok().to_owned();
    let section = text.split_once("\nENDPOINTS\n").unwrap_or_else(|| panic!("{text}")).1;
    assert_eq!(
        section,
        "PROVIDER/ACCOUNT  ROUTE  MODEL  OPEN  HALF-OPEN  WHY\n\
         p/a               m      up     2/3   1          auth on dp-1, dp-2; quota on dp-3\n",
        "only endpoints open somewhere are listed: {text}"
    );

    let json = cp.run(&["-o", "json", "status"]).await.json();
    let endpoints = json["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2, "closed ones too: {json}");
    assert_eq!((endpoints[0]["route"].as_str(), endpoints[0]["nodes"].as_u64()), (Some("free"), Some(2)));
    assert_eq!(endpoints[0]["not_closed"], serde_json::json!([]));
    let m = &endpoints[1];
    assert_eq!(
        (m["provider"].as_str(), m["account"].as_str(), m["upstream_model"].as_str()),
        (Some("p"), Some("a"), Some("up"))
    );
    assert_eq!((m["nodes"].as_u64(), m["open"].as_u64(), m["half_open"].as_u64()), (Some(3), Some(2), Some(1)));
    let third = &m["not_closed"][2];
    assert_eq!(
        (third["node_id"].as_str(), third["state"].as_str(), third["reason"].as_str()),
        (Some("dp-3"), Some("half_open"), Some("quota"))
    );
    assert_eq!(third["open_for_ms"], 30_000);
    assert!(third["at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn audit_lists_who_changed_what() {
    let cp = Cp::start().await;
    let key = cp.file("k", "sk-audit-0123456789");
    cp.run(&["provider", "add", "p", "--kind", "openai", "--account", "a", "--api-key-file", &key]).await.ok();
    cp.run(&["account", "set", "p", "a", "--weight", "2"]).await.ok();
    let out = cp.run(&["audit"]).await;
    let text = out.ok();
    assert!(text.starts_with("TIME                  ACTOR      ACTION"), "{text}");
    assert!(text.contains("bootstrap  provider.put  provider p"), "{text}");
    assert!(text.contains("bootstrap  account.put   provider p"), "{text}");
    assert!(!text.contains("sk-audit"));

    let json = cp.run(&["-o", "json", "audit", "--limit", "1"]).await.json();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "account.put");
    assert_eq!(entries[0]["object"]["kind"], "provider");
    assert!(entries[0]["before"].is_object() && entries[0]["after"].is_object(), "{json}");
    assert!(!json.to_string().contains("sk-audit"), "secrets masked: {json}");
    let old = cp.run(&["audit", "--since", "0s"]).await;
    assert_eq!(old.ok(), "no changes in the last 0s\n");
}

#[tokio::test]
async fn provider_test_reports_each_account() {
    let cp = Cp::start().await;
    let key = cp.file("k", "sk-test-0123456789");
    let add = [
        "provider",
        "add",
        "local",
        "--kind",
        "openai-compatible",
        "--base-url",
        "http://127.0.0.1:1/v1",
        "--account",
        "a",
        "--api-key-file",
        &key,
    ];
    cp.run(&add).await.ok();
    let out = cp.run(&["provider", "test", "local"]).await;
    assert_eq!(out.code, 1, "a failed test exits 1: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ACCOUNT  RESULT  HTTP  LATENCY  ERROR"), "{out:?}");
    assert!(lines[1].starts_with("a        failed  -     "), "{out:?}");
    assert!(!out.stdout.contains("sk-test"));
    let json = cp.run(&["-o", "json", "provider", "test", "local"]).await;
    assert_eq!(json.code, 1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["ok"], false);
    assert_eq!(value["accounts"][0]["account"], "a");
    assert!(value["accounts"][0]["error"].is_string());
    let missing = cp.run(&["provider", "test", "nope"]).await;
    assert!(missing.error().starts_with("not found: "), "{missing:?}");
}

/// A webhook that answers 200 to one request and hands over the body it got.
async fn webhook() -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length || n == 0 {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tx.send(body.to_owned());
                    return;
                }
            }
        }
    });
    (url, rx)
}

#[tokio::test]
async fn alert_test_sends_to_a_channel_or_to_all() {
    let cp = Cp::start().await;
    let (url, got) = webhook().await;
    let (second, got_second) = webhook().await;
    let settings = cp.file(
        "settings.yaml",
        "alerts:\n  channels:\n\
         \x20   - {name: ops, kind: webhook, url: \"${env:HOOK}\"}\n\
         \x20   - {name: dead, kind: webhook, url: \"http://127.0.0.1:1/x\"}\n",
    );
    cp.run_env(&[("HOOK", &url)], &["settings", "set", "-f", &settings]).await.ok();
    let out = cp.run(&["alert", "test", "--channel", "ops"]).await;
    let text = out.ok();
    assert!(text.starts_with("CHANNEL  KIND     RESULT  LATENCY  ERROR\nops      webhook  sent    "), "{text}");
    assert!(got.await.unwrap().contains("test alert"));
    let dead = cp.run(&["alert", "test", "--channel", "dead"]).await;
    assert_eq!(dead.code, 1, "{dead:?}");
    assert!(dead.stdout.contains("dead     webhook  failed") && dead.stdout.contains("cannot connect"), "{dead:?}");
    assert!(!dead.stdout.contains("127.0.0.1"), "{dead:?}");
    let missing = cp.run(&["alert", "test", "--channel", "nope"]).await;
    assert_eq!(missing.error(), "not found: alert channel \"nope\" does not exist");

    // Every channel: one row each, exit 1 as one failed.
    cp.run_env(&[("HOOK", &second)], &["settings", "set", "-f", &settings]).await.ok();
    let all = cp.run(&["-o", "json", "alert", "test"]).await;
    assert_eq!(all.code, 1, "{all:?}");
    let value: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    let rows: Vec<(&str, bool)> = value["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["channel"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(rows, [("ops", true), ("dead", false)]);
    assert!(got_second.await.unwrap().contains("\"test\":true"));
}

#[tokio::test]
async fn alert_list_shows_what_fires() {
    let cp = Cp::start().await;
    let out = cp.run(&["alert", "list"]).await;
    let text = out.ok();
    assert!(text.starts_with("no alerts firing\nlast evaluated: "), "{text}");
    let json = cp.run(&["-o", "json", "alert", "list"]).await;
    let value: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(value["alerts"], serde_json::json!([]));
    let none = cp.run(&["alert", "test"]).await;
    assert_eq!(none.error(), "refused: no alert channels are configured (settings.alerts.channels)");
}

#[tokio::test]
async fn provider_models_lists_what_the_test_read() {
    let upstream = switchyard_tests::FakeUpstream::start().await;
    let cp = Cp::start_with(|o| o.discovery.interval = std::time::Duration::ZERO).await;
    let key = cp.file("k", "sk-test-0123456789");
    let base = upstream.base_url();
    let add = [
        "provider",
        "add",
        "up",
        "--kind",
        "openai-compatible",
        "--base-url",
        &base,
        "--account",
        "a",
        "--api-key-file",
        &key,
    ];
    cp.run(&add).await.ok();
    let never = cp.run(&["provider", "models", "up"]).await;
    assert_eq!(never.ok(), "no model list read for provider up yet (syctl provider test up reads it)\nread: -\n");

    let test = cp.run(&["provider", "test", "up"]).await;
    assert!(test.ok().ends_with("models: 2 discovered (syctl provider models up)\n"), "{test:?}");
    let out = cp.run(&["provider", "models", "up"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(
        lines[..3],
        [
            "MODEL                   DIRECT NAME",
            "gpt-4o-mini             up/gpt-4o-mini",
            "text-embedding-3-small  up/text-embedding-3-small"
        ]
    );
    assert!(lines[3].starts_with("read: 20"), "{out:?}");
    let json = cp.run(&["-o", "json", "provider", "models", "up"]).await.json();
    assert_eq!(json["models"], serde_json::json!(["gpt-4o-mini", "text-embedding-3-small"]));
    assert!(json["fetched_at"].is_string() && json["error"].is_null(), "{json}");
    // The viewer may read it too.
    let viewed = cp.run_as(common::VIEWER, &["provider", "models", "up"]).await;
    assert!(viewed.ok().contains("up/gpt-4o-mini"));
    let missing = cp.run(&["provider", "models", "nope"]).await;
    assert_eq!(missing.error(), "not found: provider \"nope\" does not exist");
}
