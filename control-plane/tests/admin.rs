#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Admin service's imperative side against a real control plane, on
//! SQLite and (when a server answers) PostgreSQL: who may call what, CRUD of
//! providers, accounts, routes, keys and settings with their create/update
//! guards and validation errors, secrets only ever as `${redacted:FP}`
//! markers, generated client keys shown once, balances, fleet status, the
//! audit log, and node and admin tokens.

mod common;

use sha2::{Digest, Sha256};
use std::time::Duration;
use switchyard_control::store::Role;
use switchyard_control::{ControlPlane, Handle, Options};
use switchyard_proto::model::Secret;
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{self, ObjectKind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";
const NODE: &str = "node-token-0123456789";
const APP_KEY: &str = "client-key-app-0123456789";
const DING_WEBHOOK: &str = "https://oapi.dingtalk.com/robot/send?access_token=ding-token-0123";
const DING_SECRET: &str = "SECding-secret-0123";

const DOCUMENT: &str = r#"
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    proxy: http://user:pass@proxy.internal:3128
    accounts:
      - {name: team-a, api_key: "sk-team-a-0123456789"}
      - {name: team-b, api_key: "sk-team-b-0123456789"}
  - name: spare
    kind: openai-compatible
    base_url: https://spare.example.com/v1
    accounts:
      - {name: main, api_key: "sk-spare-0123456789"}
models:
  - name: gpt-4o-mini
    aliases: [smart]
    targets: [{provider: openai, model: gpt-4o-mini}]
keys:
  - {name: app, key: "client-key-app-0123456789", rpm: 60}
settings:
  alerts:
    channels:
      - {name: ops, kind: dingtalk, webhook: "https://oapi.dingtalk.com/robot/send?access_token=ding-token-0123", secret: "SECding-secret-0123"}
      - {name: pager, kind: webhook, url: "https://hooks.example.com/switchyard?token=hook-0123"}
"#;

/// Adds `Authorization: Bearer TOKEN` to every call (none for `None`).
#[derive(Clone)]
struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

type Client = AdminClient<InterceptedService<Channel, Bearer>>;

async fn start(dir: &std::path::Path, database: &str) -> Handle {
    let bootstrap = dir.join("gateway.yaml");
    std::fs::write(&bootstrap, DOCUMENT).unwrap();
    let mut options = Options::new(database, KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.bootstrap = Some(bootstrap);
    options.admin_token = Some(ADMIN.to_owned());
    options.node_token = Some(NODE.to_owned());
    let handle = ControlPlane::start(options).await.unwrap();
    handle.store.put_admin_token("ci-viewer", Role::Viewer, VIEWER).await.unwrap();
    handle
}

async fn client(handle: &Handle, token: Option<&str>) -> Client {
    let channel = Channel::from_shared(format!("http://{}", handle.grpc_addr)).unwrap().connect().await.unwrap();
    AdminClient::with_interceptor(channel, Bearer(token.map(str::to_owned)))
}

/// Each available database, with a control plane started on it.
async fn control_planes() -> Vec<(common::Db, tempfile::TempDir, Handle)> {
    let mut out = Vec::new();
    for db in common::databases().await {
        let dir = tempfile::tempdir().unwrap();
        let handle = start(dir.path(), &db.url).await;
        out.push((db, dir, handle));
    }
    out
}

fn refused<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, code: Code, message: &str) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(message), "{:?} does not contain {message:?}", status.message());
    status
}

fn denied<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>) {
    let status = result.expect_err("a viewer cannot write");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

fn account(name: &str, key: &str) -> pb::Account {
    pb::Account {
        name: name.into(),
        api_key: Some(pb::SecretValue { value: key.into() }),
        weight: 1,
        enabled: true,
        balance: None,
    }
}

fn provider(name: &str, accounts: Vec<pb::Account>) -> pb::Provider {
    pb::Provider {
        name: name.into(),
        kind: pb::ProviderKind::OpenaiCompatible as i32,
        base_url: format!("https://{name}.example.com/v1"),
        enabled: true,
        accounts,
        ..Default::default()
    }
}

fn route(name: &str, provider: &str) -> pb::Route {
    pb::Route {
        name: name.into(),
        strategy: pb::Strategy::P2c as i32,
        targets: vec![pb::Target { provider: provider.into(), model: "up".into(), priority: 0, price: None }],
        ..Default::default()
    }
}

fn key(name: &str, hash: Vec<u8>) -> pb::ClientKey {
    pb::ClientKey { name: name.into(), key_sha256: hash, enabled: true, ..Default::default() }
}

fn object(kind: ObjectKind, parent: &str, name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: kind as i32, name: name.into(), parent: parent.into() }
}

fn marker(secret: &str) -> String {
    Secret::new(secret).to_redacted().expose().to_owned()
}

async fn providers(admin: &mut Client) -> Vec<pb::ProviderEntry> {
    admin.list_providers(pb::ListRequest {}).await.unwrap().into_inner().providers
}

async fn provider_named(admin: &mut Client, name: &str) -> pb::Provider {
    providers(admin).await.into_iter().find_map(|e| e.provider.filter(|p| p.name == name)).unwrap()
}

#[tokio::test]
async fn only_admin_tokens_get_in_and_viewers_read_everything_redacted_but_change_nothing() {
    for (db, _dir, handle) in control_planes().await {
        for token in [None, Some(NODE), Some("wrong-token-0123456789")] {
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
        viewer.list_audit(pb::AuditQuery::default()).await.unwrap();
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
        denied(viewer.test_alert(object(ObjectKind::AlertChannel, "", "ops")).await);
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
    for (db, _dir, handle) in control_planes().await {
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

#[tokio::test]
async fn routes_keys_settings_and_enabled_flags() {
    for (db, _dir, handle) in control_planes().await {
        let label = db.label;
        let mut admin = client(&handle, Some(ADMIN)).await;

        // Routes.
        let put = |r: pb::Route, create_only: bool, update_only: bool| pb::PutRouteRequest {
            route: Some(r),
            create_only,
            update_only,
        };
        let revision = handle.store.revision().await.unwrap();
        let status = refused(admin.put_route(put(route("r1", "nope"), false, false)).await, Code::InvalidArgument, "");
        assert_eq!(status.message(), "route.targets[0].provider: unknown provider \"nope\"", "{label}");
        assert_eq!(handle.store.revision().await.unwrap(), revision, "{label}: a refused put changes nothing");
        let mut bad = route("r1", "openai");
        bad.strategy = 42;
        refused(
            admin.put_route(put(bad, false, false)).await,
            Code::InvalidArgument,
            "route.strategy: unknown value 42",
        );
        let mut clash = route("r1", "openai");
        clash.aliases = vec!["smart".into()];
        refused(admin.put_route(put(clash, false, false)).await, Code::InvalidArgument, "route.aliases[0]");
        admin.put_route(put(route("r1", "spare"), true, false)).await.unwrap();
        refused(
            admin.put_route(put(route("r1", "spare"), true, false)).await,
            Code::AlreadyExists,
            "route \"r1\" exists",
        );
        refused(admin.put_route(put(route("r2", "spare"), false, true)).await, Code::NotFound, "route \"r2\"");
        let mut aliased = route("r1", "openai");
        aliased.aliases = vec!["fast".into()];
        admin.put_route(put(aliased, false, true)).await.unwrap();
        let routes = admin.list_routes(pb::ListRequest {}).await.unwrap().into_inner().routes;
        let r1 = routes.iter().find(|r| r.route.as_ref().unwrap().name == "r1").unwrap();
        assert_eq!(r1.route.as_ref().unwrap().aliases, ["fast"]);
        assert!(!r1.meta.unwrap().managed);
        admin.delete_route(object(ObjectKind::Route, "", "r1")).await.unwrap();
        refused(admin.delete_route(object(ObjectKind::Route, "", "r1")).await, Code::NotFound, "route \"r1\"");

        // Keys: a generated key is shown once; only its SHA-256 is kept.
        let created = admin
            .create_key(pb::CreateKeyRequest { key: Some(key("generated", vec![9; 3])) })
            .await
            .unwrap()
            .into_inner();
        assert!(created.key.starts_with("sk-sy-") && created.key.len() >= 40, "{}", created.key);
        assert_eq!(created.config_version, handle.store.revision().await.unwrap());
        let keys = admin.list_keys(pb::ListRequest {}).await.unwrap().into_inner();
        let generated = keys.keys.iter().find(|k| k.key.as_ref().unwrap().name == "generated").unwrap();
        assert_eq!(generated.key.as_ref().unwrap().key_sha256, Sha256::digest(&created.key).to_vec());
        assert!(!format!("{keys:?}").contains(&created.key), "the key itself is never returned again");
        let again = admin.create_key(pb::CreateKeyRequest { key: Some(key("generated", vec![])) }).await;
        refused(again, Code::AlreadyExists, "key \"generated\" exists");
        refused(admin.create_key(pb::CreateKeyRequest { key: None }).await, Code::InvalidArgument, "key: required");
        let audit = admin.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner();
        assert!(!format!("{audit:?}").contains(&created.key), "nor audited");

        let put_key = |k: pb::ClientKey, create_only: bool, update_only: bool| pb::PutKeyRequest {
            key: Some(k),
            create_only,
            update_only,
        };
        let hash = Sha256::digest("client-key-two-0123456789").to_vec();
        refused(admin.put_key(put_key(key("two", hash.clone()), false, true)).await, Code::NotFound, "key \"two\"");
        refused(
            admin.put_key(put_key(key("two", vec![1; 5]), false, false)).await,
            Code::InvalidArgument,
            "key.key_sha256: must be 32 bytes",
        );
        refused(
            admin.put_key(put_key(key("two", vec![]), false, false)).await,
            Code::InvalidArgument,
            "key.key_sha256: required",
        );
        let mut bad_model = key("two", hash.clone());
        bad_model.models = Some(pb::ModelAllowlist { models: vec!["nope".into()] });
        refused(
            admin.put_key(put_key(bad_model, false, false)).await,
            Code::InvalidArgument,
            "key.models[0]: unknown model",
        );
        let dup = key("two", Sha256::digest(APP_KEY).to_vec());
        refused(admin.put_key(put_key(dup, false, false)).await, Code::InvalidArgument, "same key value");
        admin.put_key(put_key(key("two", hash.clone()), true, false)).await.unwrap();
        refused(
            admin.put_key(put_key(key("two", hash.clone()), true, false)).await,
            Code::AlreadyExists,
            "key \"two\" exists",
        );
        let mut limited = key("two", vec![]);
        limited.rpm = Some(10);
        admin.put_key(put_key(limited, false, true)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        let two = config.keys.iter().find(|k| k.name == "two").unwrap();
        assert_eq!(
            (two.rpm, two.key_sha256.0.to_vec()),
            (Some(10), hash.clone()),
            "no hash given: the stored one stays"
        );
        admin.delete_key(object(ObjectKind::Key, "", "two")).await.unwrap();
        refused(admin.delete_key(object(ObjectKind::Key, "", "two")).await, Code::NotFound, "key \"two\"");

        // Enabled flags.
        let set = |kind: ObjectKind, parent: &str, name: &str, enabled: bool| pb::SetEnabledRequest {
            object: Some(object(kind, parent, name)),
            enabled,
        };
        admin.set_enabled(set(ObjectKind::Provider, "", "spare", false)).await.unwrap();
        admin.set_enabled(set(ObjectKind::Account, "openai", "team-b", false)).await.unwrap();
        admin.set_enabled(set(ObjectKind::Key, "", "app", false)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        assert!(!config.provider("spare").unwrap().enabled);
        assert!(!config.provider("openai").unwrap().account("team-b").unwrap().enabled);
        assert!(config.provider("openai").unwrap().account("team-a").unwrap().enabled);
        assert!(!config.keys[0].enabled);
        assert!(!provider_named(&mut admin, "spare").await.enabled);
        admin.set_enabled(set(ObjectKind::Provider, "", "spare", true)).await.unwrap();
        assert!(provider_named(&mut admin, "spare").await.enabled);
        let status = refused(
            admin.set_enabled(set(ObjectKind::Route, "", "gpt-4o-mini", false)).await,
            Code::InvalidArgument,
            "",
        );
        assert!(status.message().starts_with("object.kind: "), "{status:?}");
        refused(
            admin.set_enabled(set(ObjectKind::Settings, "", "x", false)).await,
            Code::InvalidArgument,
            "object.kind",
        );
        refused(admin.set_enabled(set(ObjectKind::Key, "", "ghost", false)).await, Code::NotFound, "key \"ghost\"");
        refused(
            admin.set_enabled(set(ObjectKind::Account, "", "team-a", false)).await,
            Code::InvalidArgument,
            "object.parent",
        );
        refused(
            admin.set_enabled(pb::SetEnabledRequest { object: None, enabled: true }).await,
            Code::InvalidArgument,
            "object: required",
        );

        // Settings round trip: markers keep the stored channel secrets.
        let mut settings = admin.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
        settings.retry.as_mut().unwrap().max_attempts = 5;
        settings.default_model = Some("smart".into());
        let done = admin.put_settings(settings.clone()).await.unwrap().into_inner();
        assert_eq!(handle.publisher.current().config.version, done.config_version);
        let back = admin.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
        assert_eq!(back, settings, "{label}: what was put is what is read");
        let (_, config) = handle.store.load().await.unwrap();
        assert_eq!(config.settings.retry.max_attempts, 5);
        match &config.settings.alerts.channels[0].kind {
            switchyard_proto::model::AlertChannelKind::DingTalk { webhook, secret } => {
                assert_eq!(webhook.expose(), DING_WEBHOOK);
                assert_eq!(secret.as_ref().unwrap().expose(), DING_SECRET);
            }
            other => panic!("{other:?}"),
        }
        let mut wrong = settings.clone();
        let channel = &mut wrong.alerts.as_mut().unwrap().channels[1];
        channel.kind = Some(pb::alert_channel::Kind::Webhook(pb::WebhookChannel {
            url: Some(pb::SecretValue { value: "${redacted:00000000}".into() }),
        }));
        let status = refused(admin.put_settings(wrong).await, Code::FailedPrecondition, "does not match");
        assert!(status.message().starts_with("settings.alerts.channels[1].url: "), "{status:?}");
        let mut missing = settings.clone();
        missing.timeout = None;
        refused(admin.put_settings(missing).await, Code::InvalidArgument, "settings.timeout");
        let mut unknown = settings.clone();
        unknown.default_model = Some("nope".into());
        refused(admin.put_settings(unknown).await, Code::InvalidArgument, "settings.default_model: unknown model");
        handle.shutdown().await;
    }
}

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

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

#[tokio::test]
async fn balances_fleet_status_and_the_audit_log() {
    for (db, _dir, handle) in control_planes().await {
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

        // A node connects and ACKs: the registry every replica shares shows it.
        let mut node = connect_node(&handle, NODE, "edge-1").await.unwrap();
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
        assert_eq!(ours[3], ("balance.set", object(ObjectKind::Account, "openai", "team-a")));
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
    for (db, _dir, handle) in control_planes().await {
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
