//! A control plane started in-process with the bootstrap admin, viewer and
//! node tokens, an Admin client that sends a bearer token, and the object
//! builders the Admin tests share.

use super::databases;
use switchyard_control::store::Role;
use switchyard_control::{ControlPlane, Handle, Options};
use switchyard_proto::model::Secret;
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::{self, ObjectKind};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const ADMIN: &str = "admin-token-0123456789";
pub const VIEWER: &str = "viewer-token-0123456789";
pub const NODE_TOKEN: &str = "node-token-0123456789";
pub const APP_KEY: &str = "client-key-app-0123456789";
pub const DING_WEBHOOK: &str = "https://oapi.dingtalk.com/robot/send?access_token=ding-token-0123";
pub const DING_SECRET: &str = "SECding-secret-0123";

/// What the Admin tests' control planes are bootstrapped from.
pub const DOCUMENT: &str = r#"
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
pub struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Ok(request)
    }
}

pub type Client = AdminClient<InterceptedService<Channel, Bearer>>;

/// A control plane on `database`, bootstrapped from `document` when given,
/// with the admin (`ADMIN`), viewer (`VIEWER`) and node (`NODE_TOKEN`) tokens.
pub async fn start(database: &str, document: Option<&str>) -> Handle {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(database, KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    if let Some(document) = document {
        let bootstrap = dir.path().join("gateway.yaml");
        std::fs::write(&bootstrap, document).unwrap();
        options.bootstrap = Some(bootstrap);
    }
    options.admin_token = Some(ADMIN.to_owned());
    options.node_token = Some(NODE_TOKEN.to_owned());
    let handle = ControlPlane::start(options).await.unwrap();
    handle.store.put_admin_token("ci-viewer", Role::Viewer, VIEWER).await.unwrap();
    handle
}

pub async fn client(handle: &Handle, token: Option<&str>) -> Client {
    let channel = Channel::from_shared(format!("http://{}", handle.grpc_addr)).unwrap().connect().await.unwrap();
    AdminClient::with_interceptor(channel, Bearer(token.map(str::to_owned)))
}

/// Each available database, with a control plane bootstrapped from `document` on it.
pub async fn control_planes(document: &str) -> Vec<(super::Db, Handle)> {
    let mut out = Vec::new();
    for db in databases().await {
        let handle = start(&db.url, Some(document)).await;
        out.push((db, handle));
    }
    out
}

pub fn refused<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, code: Code, message: &str) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(message), "{:?} does not contain {message:?}", status.message());
    status
}

pub fn denied<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>) {
    let status = result.expect_err("a viewer cannot write");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

pub fn account(name: &str, key: &str) -> pb::Account {
    pb::Account {
        name: name.into(),
        api_key: Some(pb::SecretValue { value: key.into() }),
        weight: 1,
        enabled: true,
        balance: None,
    }
}

pub fn provider(name: &str, accounts: Vec<pb::Account>) -> pb::Provider {
    pb::Provider {
        name: name.into(),
        kind: pb::ProviderKind::OpenaiCompatible as i32,
        base_url: format!("https://{name}.example.com/v1"),
        enabled: true,
        accounts,
        ..Default::default()
    }
}

pub fn route(name: &str, provider: &str) -> pb::Route {
    pb::Route {
        name: name.into(),
        strategy: pb::Strategy::P2c as i32,
        targets: vec![pb::Target { provider: provider.into(), model: "up".into(), priority: 0, price: None }],
        ..Default::default()
    }
}

pub fn key(name: &str, hash: Vec<u8>) -> pb::ClientKey {
    pb::ClientKey { name: name.into(), key_sha256: hash, enabled: true, ..Default::default() }
}

pub fn object(kind: ObjectKind, parent: &str, name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: kind as i32, name: name.into(), parent: parent.into() }
}

pub fn marker(secret: &str) -> String {
    Secret::new(secret).to_redacted().expose().to_owned()
}

pub async fn providers(admin: &mut Client) -> Vec<pb::ProviderEntry> {
    admin.list_providers(pb::ListRequest {}).await.unwrap().into_inner().providers
}

pub async fn provider_named(admin: &mut Client, name: &str) -> pb::Provider {
    providers(admin).await.into_iter().find_map(|e| e.provider.filter(|p| p.name == name)).unwrap()
}
