#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Admin service: balances, fleet status from real node streams, the
//! audit log, and node and admin tokens, on SQLite and PostgreSQL.

mod common;

use common::admin::*;
use std::time::Duration;
use switchyard_control::Handle;
use switchyard_control::store::{IngestBatch, PricedUsage, now_ms};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{self, ObjectKind};
use switchyard_tests::eventually;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

struct Node {
    tx: mpsc::Sender<pb::DiscoveryRequest>,
    rx: tonic::Streaming<pb::DiscoveryResponse>,
}

async fn connect_node(handle: &Handle, token: &str, id: &str) -> Result<Node, Status> {
    let mut client = ConfigDiscoveryClient::connect(format!("http://{}", handle.grpc_addr)).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    let node = pb::Node { id: id.into(), region: "eu".into(), boot_id: "boot-1".into(), ..Default::default() };
    let hello = pb::Hello { node: Some(node), held: vec![] };
    tx.send(pb::DiscoveryRequest { kind: Some(pb::discovery_request::Kind::Hello(hello)) }).await.unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut rx = client.stream(request).await?.into_inner();
    // The first response proves the control plane let the node in.
    let first = tokio::time::timeout(Duration::from_secs(10), rx.message()).await.unwrap()?.unwrap();
    let mut node = Node { tx, rx };
    node.ack(&first).await;
    Ok(node)
}

impl Node {
    async fn ack(&mut self, response: &pb::DiscoveryResponse) {
        let ack = pb::Ack { applied: response.version.clone(), response_nonce: response.nonce.clone() };
        self.tx.send(pb::DiscoveryRequest { kind: Some(pb::discovery_request::Kind::Ack(ack)) }).await.unwrap();
    }

    /// ACKs what arrives for a moment.
    async fn ack_all(&mut self) {
        while let Ok(Ok(Some(response))) = tokio::time::timeout(Duration::from_millis(300), self.rx.message()).await {
            self.ack(&response).await;
        }
    }
}

#[tokio::test]
async fn balances_fleet_status_and_the_audit_log() {
    for (db, handle) in control_planes(DOCUMENT).await {
        let label = db.label;
        let mut admin = client(&handle, Some(ADMIN)).await;
        // A named admin: the audit log's actor.
        let alice = pb::CreateAdminTokenRequest { name: "alice".into(), role: pb::AdminRole::Admin as i32 };
        let alice = admin.create_admin_token(alice).await.unwrap().into_inner();
        let mut alice = client(&handle, Some(&alice.token)).await;

        // The fleet: the published versions, no node yet.
        let fleet = alice.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
        let snapshot = handle.publisher.current();
        let config = fleet.config.unwrap();
        assert_eq!(
            (config.r#type, config.version),
            (pb::ResourceType::Config as i32, snapshot.config.version),
            "{label}"
        );
        assert_eq!(config.hash, snapshot.config.hash.as_bytes().to_vec());
        assert_eq!(fleet.runtime.unwrap().hash, snapshot.runtime.hash.as_bytes().to_vec());
        assert!(fleet.nodes.is_empty());

        // Balances: runtime state; the Config revision does not move.
        let revision = handle.store.revision().await.unwrap();
        let runtime = snapshot.runtime.version;
        let balance = |provider: &str, account: &str, currency: &str| pb::SetBalanceRequest {
            provider: provider.into(),
            account: account.into(),
            currency: currency.into(),
            amount_micros: 12_500_000,
        };
        let done = alice.set_balance(balance("openai", "team-a", "USD")).await.unwrap().into_inner();
        assert_eq!(done.config_version, revision, "{label}");
        assert!(handle.publisher.current().runtime.version > runtime, "the Runtime is republished at once");
        let stored = handle.store.balances().await.unwrap();
        assert_eq!((stored[0].amount_micros, stored[0].source.as_str()), (12_500_000, "manual"));
        refused(alice.set_balance(balance("openai", "ghost", "USD")).await, Code::NotFound, "\"openai/ghost\"");
        refused(alice.set_balance(balance("openai", "team-a", "dollars")).await, Code::InvalidArgument, "currency: ");
        refused(alice.set_balance(balance("", "team-a", "USD")).await, Code::InvalidArgument, "provider: required");

        // Listed with its source, and the burn of priced usage stored for it (3 USD in the last hour).
        let record = pb::UsageRecord {
            started_at_ms: now_ms() - 600_000,
            provider: "openai".into(),
            account: "team-a".into(),
            status: pb::RequestStatus::Ok as i32,
            ..Default::default()
        };
        let usage = PricedUsage { record, cost_micros: 3_000_000, currency: "USD".into() };
        let batch = IngestBatch {
            node_id: "edge-0".into(),
            boot_id: "boot-0".into(),
            sequence: 1,
            received_at_ms: now_ms(),
            usage: vec![usage],
            breakers: vec![],
            heartbeat: None,
            spend: vec![],
            balances: vec![],
            health_events: 0,
        };
        handle.store.ingest(&batch).await.unwrap();
        let query = |provider: &str, account: &str, window_ms| pb::BalanceQuery {
            provider: provider.into(),
            account: account.into(),
            window_ms,
        };
        let list = alice.list_balances(query("", "", 0)).await.unwrap().into_inner().balances;
        let names: Vec<_> = list.iter().map(|b| format!("{}/{}", b.provider, b.account)).collect();
        assert_eq!(names, ["openai/team-a", "openai/team-b", "spare/main"], "{label}");
        let a = &list[0];
        assert_eq!((a.known, a.amount_micros, a.source.as_str(), a.drained), (true, 12_500_000, "manual", false));
        assert_eq!(a.window_ms, 6 * 3_600_000);
        assert_eq!(
            a.burn,
            [pb::BurnRate { currency: "USD".into(), spent_micros: 3_000_000, per_hour_micros: 500_000 }]
        );
        assert_eq!(a.time_to_empty_ms, Some(25 * 3_600_000), "12.5 USD at 0.5 an hour");
        assert_eq!(a.balance_api, pb::BalanceApi::None as i32);
        assert!(!list[1].known && list[1].burn.is_empty() && list[1].time_to_empty_ms.is_none());
        let one = alice.list_balances(query("openai", "team-a", 3_600_000)).await.unwrap().into_inner().balances;
        assert_eq!((one.len(), one[0].burn[0].per_hour_micros), (1, 3_000_000), "{label}");
        refused(alice.list_balances(query("", "team-a", 0)).await, Code::InvalidArgument, "account: needs provider");
        refused(alice.list_balances(query("ghost", "", 0)).await, Code::NotFound, "provider \"ghost\"");
        refused(alice.list_balances(query("openai", "ghost", 0)).await, Code::NotFound, "\"openai/ghost\"");
        let too_long = 91 * 86_400_000;
        refused(alice.list_balances(query("", "", too_long)).await, Code::InvalidArgument, "window_ms: ");
        let fleet = alice.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
        assert!(fleet.drained.is_empty(), "12.5 USD left");
        alice
            .set_balance(pb::SetBalanceRequest { amount_micros: 0, ..balance("openai", "team-b", "USD") })
            .await
            .unwrap();
        let fleet = alice.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
        let drained: Vec<_> =
            fleet.drained.iter().map(|b| (b.account.as_str(), b.amount_micros, b.source.as_str())).collect();
        assert_eq!(drained, [("team-b", 0, "manual")], "{label}");

        // A node connects and ACKs: the registry every replica shares shows it.
        let mut node = connect_node(&handle, NODE_TOKEN, "edge-1").await.unwrap();
        node.ack_all().await;
        eventually("the node is listed with what it ACKed", async || {
            let fleet = alice.fleet_status(pb::FleetStatusRequest {}).await.unwrap().into_inner();
            fleet.nodes.iter().any(|n| {
                n.connected
                    && n.node.as_ref().unwrap().id == "edge-1"
                    && n.node.as_ref().unwrap().region == "eu"
                    && n.last_seen_ms > 0
                    && n.acked.iter().any(|v| {
                        v.r#type == pb::ResourceType::Config as i32
                            && v.version == fleet.config.as_ref().unwrap().version
                            && v.hash == fleet.config.as_ref().unwrap().hash
                    })
            })
        })
        .await;
        drop(node);

        // Audit: newest first, with the token's name as actor.
        alice
            .put_route(pb::PutRouteRequest { route: Some(route("audited", "spare")), ..Default::default() })
            .await
            .unwrap();
        alice.delete_route(object(ObjectKind::Route, "", "audited")).await.unwrap();
        let p = provider("openai", vec![account("team-a", &marker("sk-team-a-0123456789"))]);
        let _ = alice.put_provider(pb::PutProviderRequest { provider: Some(p), ..Default::default() }).await.unwrap();
        let entries = alice.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner().entries;
        let ours: Vec<_> = entries
            .iter()
            .filter(|e| e.actor == "alice")
            .map(|e| (e.action.as_str(), e.object.clone().unwrap()))
            .collect();
        assert_eq!(ours[0], ("provider.put", object(ObjectKind::Provider, "", "openai")), "{label}: {ours:?}");
        assert_eq!(ours[1], ("route.delete", object(ObjectKind::Route, "", "audited")));
        assert_eq!(ours[2], ("route.put", object(ObjectKind::Route, "", "audited")));
        assert_eq!(ours[3], ("balance.set", object(ObjectKind::Account, "openai", "team-b")));
        assert_eq!(ours[4], ("balance.set", object(ObjectKind::Account, "openai", "team-a")));
        assert!(entries.windows(2).all(|w| w[0].at_ms >= w[1].at_ms), "newest first");
        let put = entries.iter().find(|e| e.action == "provider.put").unwrap();
        assert!(put.before.contains("team-b") && !put.after.contains("team-b"), "before/after JSON");
        assert!(!format!("{entries:?}").contains("sk-team"), "secrets masked");
        assert!(entries.iter().any(|e| e.actor == "bootstrap"
            && e.action == "admin_token.create"
            && e.object.as_ref().unwrap().name == "alice"));
        let one = alice.list_audit(pb::AuditQuery { since_ms: 0, limit: 1 }).await.unwrap().into_inner().entries;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].action, "provider.put");
        let future = pb::AuditQuery { since_ms: i64::MAX / 2, limit: 0 };
        assert!(alice.list_audit(future).await.unwrap().into_inner().entries.is_empty());
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn node_and_admin_tokens_are_created_listed_and_revoked_but_never_the_last_admin() {
    for (db, handle) in control_planes(DOCUMENT).await {
        let label = db.label;
        let mut admin = client(&handle, Some(ADMIN)).await;

        // Node tokens: bound to their node id, shown once.
        let request = pb::CreateNodeTokenRequest { node_id: "edge-7".into(), description: "rack 7".into() };
        let created = admin.create_node_token(request).await.unwrap().into_inner();
        assert_eq!(created.name, "edge-7");
        assert!(created.token.len() >= 40, "{label}");
        let _node = connect_node(&handle, &created.token, "edge-7").await.unwrap();
        let status = connect_node(&handle, &created.token, "edge-8").await.err().unwrap();
        assert!(matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated), "{status:?}");
        let listed = admin.list_node_tokens(pb::ListRequest {}).await.unwrap().into_inner();
        assert!(!format!("{listed:?}").contains(&created.token));
        let edge = listed.tokens.iter().find(|t| t.name == "edge-7").unwrap();
        assert_eq!(edge.subject, "edge-7");
        assert!(edge.created_at_ms > 0 && !edge.revoked);
        assert!(edge.last_used_ms.is_some_and(|at| at >= edge.created_at_ms), "stamped by the node's stream: {edge:?}");
        let bootstrap = listed.tokens.iter().find(|t| t.name == "bootstrap").unwrap();
        assert!(bootstrap.last_used_ms.is_none(), "not used yet: {bootstrap:?}");
        assert!(listed.tokens.iter().any(|t| t.name == "bootstrap" && t.subject == "*"));
        let bad = pb::CreateNodeTokenRequest { node_id: String::new(), description: String::new() };
        refused(admin.create_node_token(bad).await, Code::InvalidArgument, "node_id: required");
        let bad = pb::CreateNodeTokenRequest { node_id: "bad id".into(), description: String::new() };
        refused(admin.create_node_token(bad).await, Code::InvalidArgument, "node_id: ");
        admin.revoke_node_token(object(ObjectKind::NodeToken, "", "edge-7")).await.unwrap();
        refused(
            admin.revoke_node_token(object(ObjectKind::NodeToken, "", "edge-7")).await,
            Code::NotFound,
            "\"edge-7\"",
        );
        assert!(connect_node(&handle, &created.token, "edge-7").await.is_err(), "revoked");
        let listed = admin.list_node_tokens(pb::ListRequest {}).await.unwrap().into_inner();
        assert!(listed.tokens.iter().find(|t| t.name == "edge-7").unwrap().revoked);

        // Admin tokens.
        let create =
            |name: &str, role: pb::AdminRole| pb::CreateAdminTokenRequest { name: name.into(), role: role as i32 };
        let alice = admin.create_admin_token(create("alice", pb::AdminRole::Admin)).await.unwrap().into_inner();
        let bob = admin.create_admin_token(create("bob", pb::AdminRole::Viewer)).await.unwrap().into_inner();
        assert_ne!(alice.token, bob.token);
        refused(
            admin.create_admin_token(create("alice", pb::AdminRole::Viewer)).await,
            Code::AlreadyExists,
            "\"alice\"",
        );
        refused(
            admin.create_admin_token(create("carol", pb::AdminRole::Unspecified)).await,
            Code::InvalidArgument,
            "role: required",
        );
        refused(
            admin.create_admin_token(create("", pb::AdminRole::Admin)).await,
            Code::InvalidArgument,
            "name: required",
        );
        let mut bob_client = client(&handle, Some(&bob.token)).await;
        bob_client.list_providers(pb::ListRequest {}).await.unwrap();
        let status = bob_client.revoke_admin_token(object(ObjectKind::AdminToken, "", "alice")).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);

        let mut alice_client = client(&handle, Some(&alice.token)).await;
        alice_client.revoke_admin_token(object(ObjectKind::AdminToken, "", "bootstrap")).await.unwrap();
        let status = admin.list_providers(pb::ListRequest {}).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "a revoked token is refused at once");
        let status = refused(
            alice_client.revoke_admin_token(object(ObjectKind::AdminToken, "", "alice")).await,
            Code::FailedPrecondition,
            "lock",
        );
        assert!(!status.message().contains(&alice.token));
        refused(
            alice_client.revoke_admin_token(object(ObjectKind::AdminToken, "", "nobody")).await,
            Code::NotFound,
            "\"nobody\"",
        );
        // Viewers do not count: revoking bob is fine, alice stays.
        alice_client.revoke_admin_token(object(ObjectKind::AdminToken, "", "bob")).await.unwrap();
        assert_eq!(bob_client.list_providers(pb::ListRequest {}).await.unwrap_err().code(), Code::Unauthenticated);
        let listed = alice_client.list_admin_tokens(pb::ListRequest {}).await.unwrap().into_inner();
        let info = |name: &str| listed.tokens.iter().find(|t| t.name == name).unwrap().clone();
        assert_eq!((info("alice").subject.as_str(), info("alice").revoked), ("admin", false), "{label}");
        assert!(info("alice").last_used_ms.is_some());
        assert_eq!((info("bob").subject.as_str(), info("bob").revoked), ("viewer", true));
        assert!(info("bootstrap").revoked);
        assert!(!format!("{listed:?}").contains(&alice.token));
        // A revoked name may be created again, as a fresh token.
        let again = alice_client.create_admin_token(create("bob", pb::AdminRole::Viewer)).await.unwrap().into_inner();
        assert_ne!(again.token, bob.token);

        let audit = alice_client.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner().entries;
        let actions: Vec<_> = audit
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.object.as_ref().unwrap().name.as_str()))
            .collect();
        assert!(actions.contains(&("alice", "admin_token.revoke", "bootstrap")), "{actions:?}");
        assert!(actions.contains(&("bootstrap", "node_token.create", "edge-7")), "{actions:?}");
        assert!(actions.contains(&("bootstrap", "node_token.revoke", "edge-7")), "{actions:?}");
        for token in [&alice.token, &bob.token, &created.token, &again.token] {
            assert!(!format!("{audit:?}").contains(token.as_str()));
        }
        handle.shutdown().await;
    }
}
