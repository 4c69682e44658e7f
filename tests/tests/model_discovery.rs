#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Model discovery end to end: the control plane reads each provider's
//! model list (on its schedule, and on `TestProvider`), stores it, and sends
//! it to the data planes in the Runtime overlay; keys with `allow_direct`
//! see the models in `/v1/models` as `provider/model` and can look each one
//! up, other keys see neither. Lists page (Anthropic), a failed read keeps
//! the last list, a changed list reaches the data planes, and a deleted
//! provider's models are no longer listed or served.

use serde_json::{Value, json};
use std::time::Duration;
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pb::{self, ObjectKind};
use switchyard_tests::harness::{APP_KEY, client};
use switchyard_tests::topology::{Started, Topology};
use switchyard_tests::wait::{eventually_value, stays};
use switchyard_tests::{FakeUpstream, Reply};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

const ADMIN: &str = "admin-token-0123456789";
const DIRECT: &str = "sk-client-direct-0123456789";

#[derive(Clone)]
struct Bearer;

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request.metadata_mut().insert("authorization", format!("Bearer {ADMIN}").parse().unwrap());
        Ok(request)
    }
}

type Admin = AdminClient<InterceptedService<Channel, Bearer>>;

fn document(upstream: &FakeUpstream) -> String {
    let root = format!("http://{}", upstream.addr());
    format!(
        r#"
providers:
  - {{name: main, kind: openai-compatible, base_url: "{base}", accounts: [{{name: a, api_key: "sk-upstream-000000"}}]}}
  - {{name: claude, kind: anthropic, base_url: "{root}", accounts: [{{name: a, api_key: "anthropic-key-0123456789"}}]}}
  - {{name: gem, kind: gemini, base_url: "{root}", accounts: [{{name: a, api_key: "gemini-key-0123456789"}}]}}
models:
  - {{name: m, targets: [{{provider: main, model: up-m}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
  - {{name: direct, key: "{DIRECT}", allow_direct: true}}
"#,
        base = upstream.base_url()
    )
}

/// A fleet of one data plane; discovery every `interval` (zero: off).
async fn start(interval: Duration) -> (Started, Admin) {
    let started = Topology::new()
        .document(document)
        .control_plane(move |o| {
            o.admin_token = Some(ADMIN.to_owned());
            o.discovery.interval = interval;
            o.discovery.recheck = Duration::from_millis(100);
        })
        .data_planes(1)
        .start()
        .await;
    let channel = Channel::from_shared(started.fleet.url()).unwrap().connect().await.unwrap();
    (started, AdminClient::with_interceptor(channel, Bearer))
}

fn provider(name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: ObjectKind::Provider as i32, name: name.into(), parent: String::new() }
}

async fn stored(admin: &mut Admin, name: &str) -> pb::ProviderModels {
    admin.list_provider_models(provider(name)).await.unwrap().into_inner()
}

/// The ids `GET /v1/models` lists for `key`.
async fn listed(started: &Started, key: &str) -> Vec<String> {
    let url = format!("http://{}/v1/models", started.dps[0].addr);
    let body: Value = client().get(url).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    body["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

/// `GET /v1/models/{id}` for `key`: status and body.
async fn lookup(started: &Started, key: &str, id: &str) -> (u16, Value) {
    let url = format!("http://{}/v1/models/{id}", started.dps[0].addr);
    let response = client().get(url).bearer_auth(key).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_schedule_reads_every_kind_and_direct_keys_see_the_models() {
    let (started, mut admin) = start(Duration::from_secs(3600)).await;
    // The fake's lists: OpenAI's two models, Anthropic's and Gemini's own.
    let main =
        eventually_value("main's list is read", async || stored(&mut admin, "main").await, |m| m.fetched_at_ms > 0)
            .await;
    assert_eq!(main.models, ["gpt-4o-mini", "text-embedding-3-small"]);
    assert!(main.error.is_empty());
    let claude =
        eventually_value("claude's list", async || stored(&mut admin, "claude").await, |m| m.fetched_at_ms > 0).await;
    assert!(!claude.models.is_empty() && claude.models.iter().all(|m| m.starts_with("claude")), "{:?}", claude.models);
    let gem = eventually_value("gem's list", async || stored(&mut admin, "gem").await, |m| m.fetched_at_ms > 0).await;
    assert!(gem.models.contains(&"gemini-2.5-flash".to_owned()), "without Gemini's models/ prefix: {:?}", gem.models);
    let sent: Vec<_> =
        started.fleet.upstream.requests().into_iter().filter(|r| r.method == http::Method::GET).collect();
    assert!(sent.iter().any(|r| r.header("x-api-key") == Some("anthropic-key-0123456789")), "each kind's own auth");
    assert!(sent.iter().any(|r| r.header("x-goog-api-key") == Some("gemini-key-0123456789")));

    // The direct key lists them as provider/model; the other key only its routes.
    let direct_name = format!("claude/{}", claude.models[0]);
    let everything = eventually_value(
        "the data plane lists discovered models",
        async || listed(&started, DIRECT).await,
        |ids| {
            ids.contains(&"main/gpt-4o-mini".to_owned())
                && ids.contains(&direct_name)
                && ids.contains(&"gem/gemini-2.5-flash".to_owned())
        },
    )
    .await;
    assert_eq!(everything[0], "m", "routes first, then discovered models: {everything:?}");
    assert_eq!(listed(&started, APP_KEY).await, ["m"]);

    // Each can be looked up (owned by its provider) and called by the direct key only.
    let (status, model) = lookup(&started, DIRECT, "main/gpt-4o-mini").await;
    assert_eq!(
        (status, &model),
        (200, &json!({"id": "main/gpt-4o-mini", "object": "model", "created": 0, "owned_by": "main"}))
    );
    let (status, error) = lookup(&started, APP_KEY, "main/gpt-4o-mini").await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("model_not_found")), "{error}");
    let chat = json!({"model": "main/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("http://{}/v1/chat/completions", started.dps[0].addr);
    let answer: Value = client().post(&url).bearer_auth(DIRECT).json(&chat).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello from gpt-4o-mini");

    // Read once per interval, however often the schedule looks.
    let reads = |upstream: &FakeUpstream| {
        upstream
            .requests()
            .iter()
            .filter(|r| r.uri.path() == "/v1/models" && r.header("authorization").is_some())
            .count()
    };
    let before = reads(&started.fleet.upstream);
    // The schedule looks every 100 ms.
    stays("not read again before the interval", Duration::from_millis(400), async || {
        reads(&started.fleet.upstream) == before
    })
    .await;
}

#[tokio::test]
async fn provider_test_reads_the_list_pages_on_and_keeps_the_last_one_on_failure() {
    let (started, mut admin) = start(Duration::ZERO).await;
    let upstream = &started.fleet.upstream;
    assert_eq!(stored(&mut admin, "claude").await.checked_at_ms, 0, "off: nothing read");

    // Anthropic pages: the probe's answer is the first page, the rest follow its last_id.
    let page = |ids: &[&str], more: bool| {
        let data: Vec<Value> = ids.iter().map(|id| json!({"type": "model", "id": id, "display_name": id})).collect();
        Reply::json(200, json!({"data": data, "has_more": more, "first_id": ids[0], "last_id": ids[ids.len() - 1]}))
    };
    upstream.push(page(&["claude-a", "claude-b"], true));
    upstream.push(page(&["claude-c"], false));
    let result = admin.test_provider(provider("claude")).await.unwrap().into_inner();
    assert!(result.accounts[0].ok);
    assert_eq!((result.models_discovered, result.models_error.as_str()), (Some(3), ""));
    let second = upstream.requests().into_iter().filter(|r| r.uri.path() == "/v1/models").nth(1).unwrap();
    assert_eq!(second.uri.query(), Some("limit=1000&after_id=claude-b"));
    assert_eq!(stored(&mut admin, "claude").await.models, ["claude-a", "claude-b", "claude-c"]);
    eventually_value(
        "the data plane lists them",
        async || listed(&started, DIRECT).await,
        |ids| ids.contains(&"claude/claude-c".to_owned()),
    )
    .await;

    // The probe works but the next page fails: the old list stays, the failure is said, never the key.
    upstream.push(page(&["claude-z"], true));
    upstream.push(Reply::error(500, "api_error", "overloaded; key anthropic-key-0123456789"));
    let result = admin.test_provider(provider("claude")).await.unwrap().into_inner();
    assert_eq!(result.models_discovered, None);
    assert!(
        result.models_error.contains("HTTP 500") && !result.models_error.contains("anthropic-key"),
        "{}",
        result.models_error
    );
    let kept = stored(&mut admin, "claude").await;
    assert_eq!(kept.models, ["claude-a", "claude-b", "claude-c"]);
    assert!(kept.error.contains("HTTP 500") && kept.checked_at_ms >= kept.fetched_at_ms, "{kept:?}");

    // A new list reaches the data plane: claude-c gone, claude-d there.
    upstream.push(page(&["claude-a", "claude-d"], false));
    let result = admin.test_provider(provider("claude")).await.unwrap().into_inner();
    assert_eq!(result.models_discovered, Some(2));
    eventually_value(
        "the new list is served",
        async || listed(&started, DIRECT).await,
        |ids| ids.contains(&"claude/claude-d".to_owned()) && !ids.contains(&"claude/claude-c".to_owned()),
    )
    .await;

    // A provider that is not there, and a name not given, are refused precisely.
    let missing = admin.list_provider_models(provider("nope")).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert_eq!(admin.list_provider_models(provider("")).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_deleted_provider_takes_its_list_with_it() {
    let (started, mut admin) = start(Duration::from_secs(3600)).await;
    eventually_value(
        "gem is listed",
        async || listed(&started, DIRECT).await,
        |ids| ids.contains(&"gem/gemini-2.5-flash".to_owned()),
    )
    .await;
    admin.delete_provider(provider("gem")).await.unwrap();
    eventually_value(
        "gem is gone from the list",
        async || listed(&started, DIRECT).await,
        |ids| !ids.iter().any(|id| id.starts_with("gem/")),
    )
    .await;
    let (status, _) = lookup(&started, DIRECT, "gem/gemini-2.5-flash").await;
    assert_eq!(status, 404);
}
