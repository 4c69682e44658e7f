#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Admin.TestProvider and Admin.TestAlert against real HTTP servers (the
//! fake upstream): one models call per account with the account's auth as
//! the data plane sends it, per provider kind; a bad key and an unreachable
//! upstream reported per account; alert channels reached, DingTalk messages
//! signed as DingTalk documents it, and refusals reported without secrets.

use aws_lc_rs::hmac;
use base64::Engine as _;
use serde_json::json;
use switchyard_control::{ControlPlane, Handle};
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::{self, ObjectKind};
use switchyard_tests::cluster::control_plane_options;
use switchyard_tests::{FakeUpstream, RecordedRequest, Reply};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

const ADMIN: &str = "admin-token-0123456789";
const DING_SECRET: &str = "SECding-test-secret-0123";

#[derive(Clone)]
struct Bearer;

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
        Ok(request)
    }
}

type Client = AdminClient<InterceptedService<Channel, Bearer>>;

fn document(upstream: &FakeUpstream) -> String {
    let root = format!("http://{}", upstream.addr());
    format!(
        r#"
providers:
  - name: good
    kind: openai-compatible
    base_url: "{base}"
    headers: {{x-team: ops}}
    accounts: [{{name: a, api_key: "sk-good-0123456789"}}]
  - name: multi
    kind: openai
    base_url: "{base}"
    accounts:
      - {{name: one, api_key: "sk-one-0123456789"}}
      - {{name: two, api_key: "sk-two-0123456789"}}
      - {{name: three, api_key: "sk-three-0123456789"}}
  - name: dead
    kind: openai-compatible
    base_url: "http://127.0.0.1:1/v1"
    timeout: {{connect: 2s}}
    accounts: [{{name: x, api_key: "sk-dead-0123456789"}}]
  - name: azure
    kind: azure
    base_url: "{root}"
    api_version: "2024-10-21"
    accounts: [{{name: prod, api_key: "azure-key-0123456789"}}]
  - name: claude
    kind: anthropic
    base_url: "{root}"
    accounts: [{{name: main, api_key: "anthropic-key-0123456789"}}]
  - name: gemini
    kind: gemini
    base_url: "{root}"
    accounts: [{{name: main, api_key: "gemini-key-0123456789"}}]
settings:
  alerts:
    channels:
      - {{name: pager, kind: webhook, url: "{root}/hook?token=hook-token-0123"}}
      - {{name: ding, kind: dingtalk, webhook: "{root}/robot/send?access_token=ding-token-0123", secret: "{DING_SECRET}"}}
      - {{name: ding-plain, kind: dingtalk, webhook: "{root}/robot/plain?access_token=plain-token-0123"}}
      - {{name: down, kind: webhook, url: "http://127.0.0.1:1/hook?token=down-token-0123"}}
"#,
        base = upstream.base_url()
    )
}

async fn start(dir: &std::path::Path, upstream: &FakeUpstream) -> (Handle, Client) {
    let mut options = control_plane_options(dir, &document(upstream), "127.0.0.1:0".parse().unwrap());
    options.admin_token = Some(ADMIN.to_owned());
    let handle = ControlPlane::start(options).await.unwrap();
    let channel = Channel::from_shared(format!("http://{}", handle.grpc_addr)).unwrap().connect().await.unwrap();
    (handle, AdminClient::with_interceptor(channel, Bearer))
}

fn named(kind: ObjectKind, name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: kind as i32, name: name.into(), parent: String::new() }
}

async fn test_provider(admin: &mut Client, name: &str) -> Vec<pb::provider_test_result::AccountResult> {
    admin.test_provider(named(ObjectKind::Provider, name)).await.unwrap().into_inner().accounts
}

/// The requests the fake received on `path`.
fn received(upstream: &FakeUpstream, path: &str) -> Vec<RecordedRequest> {
    upstream.requests().into_iter().filter(|r| r.uri.path() == path).collect()
}

#[tokio::test]
async fn provider_tests_call_each_account_with_its_own_auth() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (handle, mut admin) = start(dir.path(), &upstream).await;

    // A good key: the models list answers 200.
    let results = test_provider(&mut admin, "good").await;
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].account.as_str(), results[0].ok, results[0].http_status), ("a", true, 200));
    assert!(results[0].error.is_empty(), "{:?}", results[0].error);
    let sent = received(&upstream, "/v1/models");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, http::Method::GET);
    assert_eq!(sent[0].header("authorization"), Some("Bearer sk-good-0123456789"));
    assert_eq!(sent[0].header("x-team"), Some("ops"), "the provider's static headers travel too");

    // A bad key: the upstream's 401 is reported, never the key.
    upstream.push(Reply::error(401, "invalid_request_error", "Incorrect API key provided: sk-good-0123456789"));
    let results = test_provider(&mut admin, "good").await;
    assert_eq!((results[0].ok, results[0].http_status), (false, 401));
    assert!(
        results[0].error.contains("401") && results[0].error.contains("Incorrect API key"),
        "{:?}",
        results[0].error
    );
    assert!(!results[0].error.contains("sk-good"), "{:?}", results[0].error);

    // Every account, each with its own key, reported in the provider's order.
    let results = test_provider(&mut admin, "multi").await;
    let names: Vec<_> = results.iter().map(|r| (r.account.as_str(), r.ok, r.http_status)).collect();
    assert_eq!(names, [("one", true, 200), ("two", true, 200), ("three", true, 200)]);
    let mut auths: Vec<_> =
        received(&upstream, "/v1/models").iter().filter_map(|r| r.header("authorization").map(str::to_owned)).collect();
    auths.sort();
    assert_eq!(
        auths,
        [
            "Bearer sk-good-0123456789",
            "Bearer sk-good-0123456789",
            "Bearer sk-one-0123456789",
            "Bearer sk-three-0123456789",
            "Bearer sk-two-0123456789",
        ]
    );

    // Nothing listens: a connect error, no status, no secret and no URL.
    let results = test_provider(&mut admin, "dead").await;
    assert_eq!((results[0].ok, results[0].http_status), (false, 0));
    assert!(results[0].error.contains("connect"), "{:?}", results[0].error);
    assert!(!results[0].error.contains("sk-dead") && !results[0].error.contains("127.0.0.1"), "{:?}", results[0].error);

    // Other kinds: their URL and auth header, as the data plane sends them.
    let results = test_provider(&mut admin, "azure").await;
    assert!(results[0].ok, "{results:?}");
    let sent = received(&upstream, "/openai/models");
    assert_eq!(sent[0].uri.query(), Some("api-version=2024-10-21"));
    assert_eq!(sent[0].header("api-key"), Some("azure-key-0123456789"));
    assert_eq!(sent[0].header("authorization"), None);
    let results = test_provider(&mut admin, "claude").await;
    assert!(results[0].ok, "{results:?}");
    let sent: Vec<_> =
        received(&upstream, "/v1/models").into_iter().filter(|r| r.header("x-api-key").is_some()).collect();
    assert_eq!(sent[0].header("x-api-key"), Some("anthropic-key-0123456789"));
    assert_eq!(sent[0].header("anthropic-version"), Some("2023-06-01"));
    let results = test_provider(&mut admin, "gemini").await;
    assert!(results[0].ok, "{results:?}");
    let sent = received(&upstream, "/v1beta/models");
    assert_eq!(sent[0].header("x-goog-api-key"), Some("gemini-key-0123456789"));
    assert_eq!(sent[0].uri.query(), None, "the key is never in the query string");

    let status = admin.test_provider(named(ObjectKind::Provider, "ghost")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    handle.shutdown().await;
}

/// base64(HMAC-SHA256(secret, "{timestamp}\n{secret}")), DingTalk's documented signature.
fn dingtalk_sign(secret: &str, timestamp: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The decoded query parameters of a recorded request.
fn query(request: &RecordedRequest) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://fake{}", request.uri)).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The one channel's result of a test that must have failed, checked for secrets.
async fn failed(admin: &mut Client, channel: &str, contains: &str) -> String {
    let result = test_alert(admin, channel).await;
    assert!(!result.ok, "{result:?}");
    assert!(result.error.contains(contains), "{:?} does not contain {contains:?}", result.error);
    for secret in ["hook-token", "ding-token", "plain-token", "down-token", "SECding", "127.0.0.1"] {
        assert!(!result.error.contains(secret), "{:?} leaks {secret}", result.error);
    }
    result.error
}

async fn test_alert(admin: &mut Client, channel: &str) -> pb::alert_test_result::ChannelResult {
    let request = pb::AlertTestRequest { channel: Some(channel.into()) };
    let mut results = admin.test_alert(request).await.unwrap().into_inner().channels;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].channel, channel);
    results.remove(0)
}

#[tokio::test]
async fn alert_tests_reach_webhooks_and_signed_dingtalk_robots() {
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (handle, mut admin) = start(dir.path(), &upstream).await;

    // A generic webhook: a JSON POST.
    let done = test_alert(&mut admin, "pager").await;
    assert_eq!((done.ok, done.kind.as_str(), done.error.as_str()), (true, "webhook", ""));
    let sent = received(&upstream, "/hook");
    assert_eq!(sent[0].method, http::Method::POST);
    assert_eq!(sent[0].uri.query(), Some("token=hook-token-0123"));
    let body = sent[0].json();
    assert_eq!((body["source"].clone(), body["test"].clone()), (json!("switchyard"), json!(true)));
    assert_eq!((body["event"].clone(), body["state"].clone()), (json!("test"), json!("test")));
    assert!(body["text"].as_str().unwrap().contains("pager"), "{body}");
    upstream.push(Reply::error(500, "server_error", "down"));
    failed(&mut admin, "pager", "HTTP 500").await;

    // DingTalk, signed: timestamp and sign appended to the robot's URL; markdown.
    upstream.push(Reply::json(200, json!({"errcode": 0, "errmsg": "ok"})));
    assert!(test_alert(&mut admin, "ding").await.ok);
    let sent = received(&upstream, "/robot/send");
    let body = sent[0].json();
    assert_eq!(body["msgtype"], "markdown");
    assert!(body["markdown"]["text"].as_str().unwrap().contains("\"ding\""), "{body}");
    assert!(body["markdown"]["title"].as_str().unwrap().contains("Switchyard"), "{body}");
    let params = query(&sent[0]);
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("access_token"), "ding-token-0123");
    let timestamp = get("timestamp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 60_000, "timestamp in milliseconds: {timestamp}");
    assert_eq!(get("sign"), dingtalk_sign(DING_SECRET, &timestamp), "the signature verifies");
    let raw = sent[0].uri.query().unwrap();
    assert!(!raw.contains('+') && !raw.contains('/'), "the signature is URL-encoded: {raw}");

    // DingTalk answers 200 with an errcode when it refuses.
    upstream.push(Reply::json(200, json!({"errcode": 310000, "errmsg": "sign not match"})));
    failed(&mut admin, "ding", "errcode 310000: sign not match").await;
    // An answer without errcode 0 is no success either.
    failed(&mut admin, "ding-plain", "errcode").await;
    // Without a secret nothing is signed.
    upstream.push(Reply::json(200, json!({"errcode": 0})));
    assert!(test_alert(&mut admin, "ding-plain").await.ok);
    let sent = received(&upstream, "/robot/plain");
    assert_eq!(sent.last().unwrap().uri.query(), Some("access_token=plain-token-0123"));

    // Unreachable: reported without the URL (it holds the token).
    failed(&mut admin, "down", "connect").await;

    // Every channel at once, in their order.
    upstream.push(Reply::json(200, json!({"errcode": 0})));
    let all = admin.test_alert(pb::AlertTestRequest { channel: None }).await.unwrap().into_inner().channels;
    let names: Vec<&str> = all.iter().map(|r| r.channel.as_str()).collect();
    assert_eq!(names, ["pager", "ding", "ding-plain", "down"]);
    assert!(!all[3].ok);

    let request = |name: &str| pb::AlertTestRequest { channel: Some(name.into()) };
    let status = admin.test_alert(request("ghost")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    handle.shutdown().await;
}
