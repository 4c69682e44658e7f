#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OpenAI's `POST /v1/embeddings` to a `gemini` provider: sent as Gemini's
//! `batchEmbedContents` (with its auth header, `outputDimensionality` for
//! `dimensions`), answered as OpenAI's embeddings list (validated against
//! OpenAI's schema, floats or base64), with usage accounted from Gemini's
//! count (estimated when it reports none), failover on a 5xx, Gemini's
//! errors in OpenAI's shape, and clear refusals for what Gemini cannot take
//! (token ids) and for `anthropic` providers (no embeddings API).

use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Source, Status};
use switchyard_tests::fake_upstream::FAIL_PREFIX;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply, schema};

const GEMINI_KEY: &str = "AIza-upstream-0123456789";
const BATCH: &str = "/v1beta/models/gemini-embedding-001:batchEmbedContents";

fn yaml(upstream: &FakeUpstream) -> String {
    let origin = format!("http://{}", upstream.addr());
    format!(
        r#"
providers:
  - name: gem
    kind: gemini
    base_url: {origin}/v1beta
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: g, api_key: "{GEMINI_KEY}"}}]
  - name: claude
    kind: anthropic
    base_url: {origin}
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: a, api_key: "sk-ant-upstream-0123456789"}}]
models:
  - name: embed
    targets: [{{provider: gem, model: gemini-embedding-001}}]
  - name: embed-failover
    targets:
      - {{provider: gem, model: {FAIL_PREFIX}embedding, priority: 1}}
      - {{provider: gem, model: gemini-embedding-001, priority: 2}}
  - name: sonnet
    targets: [{{provider: claude, model: claude-sonnet-4-5}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
"#
    )
}

async fn start() -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    let upstream = FakeUpstream::start().await;
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&upstream), &capture).await;
    (upstream, proxy, capture)
}

async fn embed(proxy: &Proxy, body: &Value) -> (u16, Value) {
    let response =
        client().post(format!("{}/embeddings", proxy.url())).bearer_auth(APP_KEY).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn embeddings_go_to_gemini_as_a_batch_and_come_back_as_openais_list() {
    let (upstream, proxy, capture) = start().await;
    let body = json!({"model": "embed", "input": ["hello world", "three more words"], "dimensions": 4});
    let (status, list) = embed(&proxy, &body).await;
    assert_eq!(status, 200, "{list}");
    schema::validate("CreateEmbeddingResponse", &list).unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(list["model"], "gemini-embedding-001");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, item) in data.iter().enumerate() {
        assert_eq!((item["object"].as_str(), item["index"].as_u64()), (Some("embedding"), Some(i as u64)));
        assert_eq!(item["embedding"].as_array().unwrap().len(), 4, "{item}");
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"], "each input has its own vector, in order");
    // Gemini's own count (the fake counts words).
    assert_eq!(list["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));

    let sent = upstream.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].uri.path(), BATCH);
    assert_eq!(sent[0].uri.query(), None, "the key goes in a header, never in the URL");
    assert_eq!(sent[0].header("x-goog-api-key"), Some(GEMINI_KEY));
    assert_eq!(
        sent[0].json(),
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 4},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "three more words"}]}, "outputDimensionality": 4}
        ]})
    );
    let record = capture.only().await;
    assert_eq!((record.status, record.http_status, record.source), (Status::Ok, 200, Source::Reported));
    assert_eq!((record.tokens.prompt, record.tokens.completion), (5, 0));
    assert_eq!(&*record.upstream_model, "gemini-embedding-001");
}

#[tokio::test]
async fn base64_is_little_endian_f32_and_a_missing_count_is_estimated() {
    let (upstream, proxy, capture) = start().await;
    // A Gemini that reports no usage.
    upstream.push(Reply::json(200, json!({"embeddings": [{"values": [1.0, -2.5, 0.1]}]})));
    let (status, list) = embed(&proxy, &json!({"model": "embed", "input": "one", "encoding_format": "base64"})).await;
    assert_eq!(status, 200, "{list}");
    let encoded = list["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    let floats: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(floats, [1.0, -2.5, 0.1f32]);
    assert_eq!(upstream.requests()[0].json()["requests"].as_array().unwrap().len(), 1, "one string: a batch of one");
    // The answer still states usage (the schema requires it): the gateway's estimate, recorded as one.
    let prompt = list["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt >= 1, "{list}");
    let record = capture.only().await;
    assert_eq!((record.status, record.source), (Status::Ok, Source::Estimated));
    assert_eq!(record.tokens.prompt, prompt);
}

#[tokio::test]
async fn a_failing_endpoint_fails_over_and_geminis_errors_are_openai_shaped() {
    let (upstream, proxy, capture) = start().await;
    let (status, list) = embed(&proxy, &json!({"model": "embed-failover", "input": "x"})).await;
    assert_eq!(status, 200, "{list}");
    schema::validate("CreateEmbeddingResponse", &list).unwrap();
    let paths: Vec<String> = upstream.requests().iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, [format!("/v1beta/models/{FAIL_PREFIX}embedding:batchEmbedContents"), BATCH.to_owned()]);
    let record = capture.wait_for(1).await.remove(0);
    assert_eq!((record.status, record.attempts), (Status::Ok, 2));

    upstream.push(Reply::json(
        400,
        json!({"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}),
    ));
    let (status, error) = embed(&proxy, &json!({"model": "embed", "input": "x"})).await;
    assert_eq!(status, 400);
    schema::validate("ErrorResponse", &error).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("INVALID_ARGUMENT: Request contains an invalid argument."), "{message}");
    let records = capture.wait_for(2).await;
    assert_eq!((records[1].status, records[1].http_status), (Status::UpstreamError, 400));
}

#[tokio::test]
async fn token_ids_and_anthropic_providers_are_clear_refusals() {
    let (upstream, proxy, _capture) = start().await;
    let (status, error) = embed(&proxy, &json!({"model": "embed", "input": [[1, 2, 3]]})).await;
    assert_eq!(status, 400);
    schema::validate("ErrorResponse", &error).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("input: token ids are not supported by gemini providers"), "{message}");

    // Anthropic has no embeddings API.
    let (status, error) = embed(&proxy, &json!({"model": "sonnet", "input": "x"})).await;
    assert_eq!(status, 400);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("/v1/embeddings is not available on anthropic providers"), "{message}");
    assert!(upstream.requests().is_empty(), "nothing was sent");
}
