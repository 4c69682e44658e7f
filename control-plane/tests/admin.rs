#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Admin service's imperative side against a real control plane, on
//! SQLite and (when a server answers) PostgreSQL: who may call what (viewers
//! read everything, secrets only as `${redacted:FP}` markers, and change
//! nothing), and CRUD of providers and accounts with their create/update
//! guards and validation errors. `admin_objects.rs` and `admin_fleet.rs`
//! cover the rest.

mod common;

use common::admin::*;
use sha2::{Digest, Sha256};
use switchyard_proto::pb::{self, ObjectKind};
use tonic::Code;

#[tokio::test]
async fn only_admin_tokens_get_in_and_viewers_read_everything_redacted_but_change_nothing() {
    for (db, handle) in control_planes(DOCUMENT).await {
        for token in [None, Some(NODE_TOKEN), Some("wrong-token-0123456789")] {
            let mut c = client(&handle, token).await;
            let status = c.list_providers(pb::ListRequest {}).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{} {token:?}", db.label);
            let status = c.put_provider(pb::PutProviderRequest::default()).await.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{} {token:?}", db.label);
        }

        let mut viewer = client(&handle, Some(VIEWER)).await;
        let listed = providers(&mut viewer).await;
        assert_eq!(listed.len(), 2);
        let openai = listed[0].provider.clone().unwrap();
        assert_eq!(openai.name, "openai");
        assert!(listed[0].meta.unwrap().managed, "made by the bootstrap apply");
        assert!(listed[0].meta.unwrap().updated_at_ms > 0);
        assert_eq!(openai.proxy.unwrap().value, marker("http://user:pass@proxy.internal:3128"));
        assert_eq!(openai.accounts[0].api_key.clone().unwrap().value, marker("sk-team-a-0123456789"));
        assert_eq!(openai.accounts[1].api_key.clone().unwrap().value, marker("sk-team-b-0123456789"));
        let routes = viewer.list_routes(pb::ListRequest {}).await.unwrap().into_inner().routes;
        assert_eq!(routes[0].route.as_ref().unwrap().aliases, ["smart"]);
        let keys = viewer.list_keys(pb::ListRequest {}).await.unwrap().into_inner().keys;
        assert_eq!(keys[0].key.as_ref().unwrap().key_sha256, Sha256::digest(APP_KEY).to_vec());
        let settings = viewer.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
        let Some(pb::alert_channel::Kind::Dingtalk(ding)) = settings.alerts.as_ref().unwrap().channels[0].kind.clone()
        else {
            panic!("dingtalk first")
        };
        assert_eq!(ding.webhook.unwrap().value, marker(DING_WEBHOOK));
        assert_eq!(ding.secret.unwrap().value, marker(DING_SECRET));
        let everything = format!(
            "{:?}{:?}",
            viewer.list_providers(pb::ListRequest {}).await.unwrap().into_inner(),
            viewer.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner()
        );
        for secret in ["sk-team-a", "user:pass", "ding-token", "SECding", "hook-0123"] {
            assert!(!everything.contains(secret), "{secret} leaked");
        }
        viewer.fleet_status(pb::FleetStatusRequest {}).await.unwrap();
        viewer.list_balances(pb::BalanceQuery::default()).await.unwrap();
        viewer.list_audit(pb::AuditQuery::default()).await.unwrap();
        viewer.list_alerts(pb::ListRequest {}).await.unwrap();
        viewer.list_node_tokens(pb::ListRequest {}).await.unwrap();
        viewer.list_admin_tokens(pb::ListRequest {}).await.unwrap();

        let revision = handle.store.revision().await.unwrap();
        let p = provider("new", vec![account("a", "sk-new-0123456789")]);
        denied(viewer.put_provider(pb::PutProviderRequest { provider: Some(p), ..Default::default() }).await);
        denied(viewer.delete_provider(object(ObjectKind::Provider, "", "spare")).await);
        let put = pb::PutAccountRequest {
            provider: "openai".into(),
            account: Some(account("c", "sk-c-0123456789")),
            ..Default::default()
        };
        denied(viewer.put_account(put).await);
        denied(viewer.delete_account(object(ObjectKind::Account, "openai", "team-b")).await);
        denied(viewer.put_route(pb::PutRouteRequest { route: Some(route("r", "openai")), ..Default::default() }).await);
        denied(viewer.delete_route(object(ObjectKind::Route, "", "gpt-4o-mini")).await);
        let create = pb::CreateKeyRequest { key: Some(key("k2", vec![])) };
        denied(viewer.create_key(create).await);
        denied(viewer.put_key(pb::PutKeyRequest { key: Some(key("k3", vec![7; 32])), ..Default::default() }).await);
        denied(viewer.delete_key(object(ObjectKind::Key, "", "app")).await);
        let enable = pb::SetEnabledRequest { object: Some(object(ObjectKind::Provider, "", "openai")), enabled: false };
        denied(viewer.set_enabled(enable).await);
        denied(viewer.put_settings(settings.clone()).await);
        let balance = pb::SetBalanceRequest {
            provider: "openai".into(),
            account: "team-a".into(),
            currency: "USD".into(),
            amount_micros: 1,
        };
        denied(viewer.set_balance(balance).await);
        denied(viewer.test_provider(object(ObjectKind::Provider, "", "openai")).await);
        denied(viewer.test_alert(pb::AlertTestRequest { channel: Some("ops".into()) }).await);
        denied(viewer.test_alert(pb::AlertTestRequest { channel: None }).await);
        let node_token = pb::CreateNodeTokenRequest { node_id: "edge-9".into(), description: String::new() };
        denied(viewer.create_node_token(node_token).await);
        denied(viewer.revoke_node_token(object(ObjectKind::NodeToken, "", "bootstrap")).await);
        let admin_token = pb::CreateAdminTokenRequest { name: "eve".into(), role: pb::AdminRole::Admin as i32 };
        denied(viewer.create_admin_token(admin_token).await);
        denied(viewer.revoke_admin_token(object(ObjectKind::AdminToken, "", "bootstrap")).await);
        let apply = pb::ApplyRequest { document: DOCUMENT.into(), dry_run: false, prune: false };
        denied(viewer.apply(apply).await);
        assert_eq!(handle.store.revision().await.unwrap(), revision, "{}: a viewer changed something", db.label);
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn providers_and_accounts_are_created_replaced_and_deleted_with_their_guards() {
    for (db, handle) in control_planes(DOCUMENT).await {
        let label = db.label;
        let mut admin = client(&handle, Some(ADMIN)).await;
        let start = handle.store.revision().await.unwrap();

        // Create, then the guards.
        let fresh = provider("fresh", vec![account("a", "sk-fresh-0123456789")]);
        let put = |p: pb::Provider, create_only: bool, update_only: bool| pb::PutProviderRequest {
            provider: Some(p),
            create_only,
            update_only,
        };
        let done = admin.put_provider(put(fresh.clone(), true, false)).await.unwrap().into_inner();
        assert_eq!(done.config_version, start + 1, "{label}");
        assert_eq!(handle.publisher.current().config.version, start + 1, "published at once");
        let entry =
            providers(&mut admin).await.into_iter().find(|e| e.provider.as_ref().unwrap().name == "fresh").unwrap();
        assert!(!entry.meta.unwrap().managed, "imperative objects are unmanaged");
        refused(
            admin.put_provider(put(fresh.clone(), true, false)).await,
            Code::AlreadyExists,
            "provider \"fresh\" exists",
        );
        refused(admin.put_provider(put(provider("ghost", vec![]), false, true)).await, Code::NotFound, "\"ghost\"");
        refused(admin.put_provider(put(fresh.clone(), true, true)).await, Code::InvalidArgument, "update_only");

        // Bad requests name the field.
        refused(
            admin.put_provider(pb::PutProviderRequest::default()).await,
            Code::InvalidArgument,
            "provider: required",
        );
        let status =
            refused(admin.put_provider(put(provider("", vec![]), false, false)).await, Code::InvalidArgument, "");
        assert!(status.message().starts_with("provider.name: required"), "{status:?}");
        let mut bad_kind = fresh.clone();
        bad_kind.kind = 99;
        let status =
            refused(admin.put_provider(put(bad_kind, false, false)).await, Code::InvalidArgument, "unknown value 99");
        assert!(status.message().starts_with("provider.kind: "), "{status:?}");
        let mut no_key = fresh.clone();
        no_key.accounts[0].api_key = None;
        refused(
            admin.put_provider(put(no_key, false, false)).await,
            Code::InvalidArgument,
            "provider.accounts[0].api_key",
        );
        let status =
            refused(admin.put_provider(put(provider("lonely", vec![]), false, false)).await, Code::InvalidArgument, "");
        assert!(status.message().starts_with("provider.accounts: "), "{status:?}");
        let mut zero = fresh.clone();
        zero.accounts[0].weight = 0;
        refused(
            admin.put_provider(put(zero, false, false)).await,
            Code::InvalidArgument,
            "provider.accounts[0].weight",
        );
        assert_eq!(handle.store.revision().await.unwrap(), start + 1, "{label}: refused puts change nothing");

        // Replacing without accounts keeps the stored ones; markers keep the stored secrets.
        let mut openai = provider_named(&mut admin, "openai").await;
        openai.base_url = "https://api.openai.com/v2".into();
        let accounts = std::mem::take(&mut openai.accounts);
        admin.put_provider(put(openai.clone(), false, true)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        let stored = config.provider("openai").unwrap();
        assert_eq!(stored.base_url, "https://api.openai.com/v2");
        assert_eq!(stored.accounts.len(), 2);
        assert_eq!(stored.accounts[1].api_key.expose(), "sk-team-b-0123456789");
        assert_eq!(
            stored.proxy.as_ref().unwrap().expose(),
            "http://user:pass@proxy.internal:3128",
            "proxy marker kept"
        );
        openai.accounts = accounts;
        openai.accounts[0].weight = 5;
        admin.put_provider(put(openai.clone(), false, false)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        let stored = config.provider("openai").unwrap();
        assert_eq!(stored.accounts[0].weight, 5);
        assert_eq!(stored.accounts[0].api_key.expose(), "sk-team-a-0123456789", "marker kept the key");
        let revision = handle.store.revision().await.unwrap();
        let mut wrong = openai.clone();
        wrong.accounts[1].api_key = Some(pb::SecretValue { value: "${redacted:0123456789ab}".into() });
        let status =
            refused(admin.put_provider(put(wrong, false, false)).await, Code::FailedPrecondition, "does not match");
        assert!(status.message().starts_with("provider.accounts[1].api_key: "), "{status:?}");
        let mut swapped = openai.clone();
        swapped.accounts[0].name = "team-c".into();
        let status = refused(admin.put_provider(put(swapped, false, false)).await, Code::FailedPrecondition, "");
        assert!(
            status.message().starts_with("provider.accounts[0].api_key: "),
            "a marker matches only its own account"
        );
        assert!(!status.message().contains("sk-"), "{status:?}");
        assert_eq!(handle.store.revision().await.unwrap(), revision);

        // Accounts.
        let put_account = |provider: &str, a: pb::Account, create_only: bool, update_only: bool| {
            pb::PutAccountRequest { provider: provider.into(), account: Some(a), create_only, update_only }
        };
        refused(
            admin.put_account(put_account("ghost", account("a", "sk-0123456789"), false, false)).await,
            Code::NotFound,
            "provider \"ghost\"",
        );
        refused(
            admin.put_account(put_account("openai", account("team-a", "sk-0123456789"), true, false)).await,
            Code::AlreadyExists,
            "\"openai/team-a\"",
        );
        refused(
            admin.put_account(put_account("openai", account("team-z", "sk-0123456789"), false, true)).await,
            Code::NotFound,
            "\"openai/team-z\"",
        );
        refused(
            admin.put_account(put_account("", account("a", "sk-0123456789"), false, false)).await,
            Code::InvalidArgument,
            "provider: required",
        );
        refused(
            admin.put_account(put_account("openai", account("", "sk-0123456789"), false, false)).await,
            Code::InvalidArgument,
            "account.name: required",
        );
        let mut zero = account("team-c", "sk-team-c-0123456789");
        zero.weight = 0;
        let status =
            refused(admin.put_account(put_account("openai", zero, false, false)).await, Code::InvalidArgument, "");
        assert!(status.message().starts_with("account.weight: "), "{status:?}");
        admin.put_account(put_account("openai", account("team-c", "sk-team-c-0123456789"), true, false)).await.unwrap();
        let marker_b = account("team-b", &marker("sk-team-b-0123456789"));
        let mut heavier = marker_b.clone();
        heavier.weight = 7;
        admin.put_account(put_account("openai", heavier, false, true)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        let stored = config.provider("openai").unwrap();
        assert_eq!(stored.accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["team-a", "team-b", "team-c"]);
        assert_eq!(stored.account("team-b").unwrap().weight, 7);
        assert_eq!(stored.account("team-b").unwrap().api_key.expose(), "sk-team-b-0123456789");
        admin.delete_account(object(ObjectKind::Account, "openai", "team-c")).await.unwrap();
        refused(
            admin.delete_account(object(ObjectKind::Account, "openai", "team-c")).await,
            Code::NotFound,
            "\"openai/team-c\"",
        );
        refused(
            admin.delete_account(object(ObjectKind::Account, "", "team-c")).await,
            Code::InvalidArgument,
            "parent: required",
        );
        refused(
            admin.delete_account(object(ObjectKind::Account, "spare", "main")).await,
            Code::InvalidArgument,
            "at least one account",
        );

        // Deleting a provider a route uses is refused by validation, naming the field.
        let revision = handle.store.revision().await.unwrap();
        refused(
            admin.delete_provider(object(ObjectKind::Provider, "", "openai")).await,
            Code::InvalidArgument,
            "models[0].targets[0].provider",
        );
        assert_eq!(handle.store.revision().await.unwrap(), revision, "{label}: nothing changed");
        refused(
            admin.delete_provider(object(ObjectKind::Provider, "", "ghost")).await,
            Code::NotFound,
            "provider \"ghost\"",
        );
        refused(admin.delete_provider(object(ObjectKind::Route, "", "fresh")).await, Code::InvalidArgument, "kind");
        refused(
            admin.delete_provider(object(ObjectKind::Provider, "", "")).await,
            Code::InvalidArgument,
            "name: required",
        );
        let done = admin.delete_provider(object(ObjectKind::Provider, "", "fresh")).await.unwrap().into_inner();
        assert_eq!(done.config_version, revision + 1);
        assert!(providers(&mut admin).await.iter().all(|e| e.provider.as_ref().unwrap().name != "fresh"));
        handle.shutdown().await;
    }
}
