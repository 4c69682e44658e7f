#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `POST /v1/messages/count_tokens` answered by the provider where it has a
//! count: an `anthropic` provider's own endpoint (the client's body, the
//! upstream model, the `/v1/messages` headers), a `gemini` provider's
//! `countTokens` (the prompt translated); the gateway's estimate for
//! OpenAI-kind providers and as the last resort. Which answered is said in
//! `x-switchyard-token-count`. Failover and breakers apply; a count is never
//! billed.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_tests::fake_upstream::FAIL_PREFIX;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply};

const ANTHROPIC_KEY: &str = "sk-ant-upstream-0123456789";
const GEMINI_KEY: &str = "AIza-upstream-0123456789";
/// The fake's count of [`ask`]'s words: "Be brief." and "Weather in Paris today?".
const WORDS: u64 = 6;

fn yaml(upstream: &FakeUpstream) -> String {
    let origin = format!("http://{}", upstream.addr());
    let timeout = "timeout: {connect: 2s, first_token: 5s, idle: 5s, total: 30s}";
    format!(
        r#"
providers:
  - {{name: claude, kind: anthropic, base_url: "{origin}/v1", {timeout}, accounts: [{{name: a, api_key: "{ANTHROPIC_KEY}"}}]}}
  - {{name: gem, kind: gemini, base_url: "{origin}", {timeout}, accounts: [{{name: g, api_key: "{GEMINI_KEY}"}}]}}
  - {{name: compat, kind: openai-compatible, base_url: "{origin}/v1", {timeout}, accounts: [{{name: c, api_key: "sk-compat-0123456789"}}]}}
models:
  - {{name: sonnet, targets: [{{provider: claude, model: claude-sonnet-4-5}}]}}
  - {{name: flash, targets: [{{provider: gem, model: gemini-2.5-flash}}]}}
  - {{name: gpt, targets: [{{provider: compat, model: gpt-4o-mini}}]}}
  - name: mixed
    targets: [{{provider: compat, model: gpt-4o-mini, priority: 1}}, {{provider: claude, model: claude-haiku-4-5, priority: 2}}]
  - name: failover
    targets: [{{provider: claude, model: {FAIL_PREFIX}sonnet, priority: 1}}, {{provider: gem, model: gemini-2.5-flash, priority: 2}}]
  - {{name: down, targets: [{{provider: claude, model: {FAIL_PREFIX}sonnet}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
settings:
  breaker: {{consecutive_failures: 1, cooldown: 60s}}
"#
    )
}

async fn start() -> (FakeUpstream, Proxy, Arc<UsageCapture>) {
    let upstream = FakeUpstream::start().await;
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&upstream), &capture).await;
    (upstream, proxy, capture)
}

fn ask(model: &str) -> Value {
    json!({
        "model": model,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Weather in Paris today?"}],
        "tools": [{"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    })
}

/// The answer's status, `x-switchyard-token-count` and body.
async fn count(proxy: &Proxy, body: &Value) -> (u16, String, Value) {
    let response = client()
        .post(format!("{}/messages/count_tokens", proxy.url()))
        .header("x-api-key", APP_KEY)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "token-counting-2024-11-01")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let source = response.headers().get("x-switchyard-token-count").map(|v| v.to_str().unwrap().to_owned());
    (status, source.unwrap_or_default(), response.json().await.unwrap())
}

async fn breaker(proxy: &Proxy, model: &str, provider: &str) -> Value {
    let status = proxy.status().await;
    let endpoints = status["endpoints"].as_array().unwrap();
    endpoints.iter().find(|e| e["model"] == model && e["provider"] == provider).unwrap()["breaker"].clone()
}

/// No usage record was made for the counts: the next request's is the first.
async fn assert_unbilled(proxy: &Proxy, capture: &UsageCapture) {
    let body = chat_body("gpt", false);
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let records = capture.wait_for(1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(&*records[0].route, "gpt");
}

#[tokio::test]
async fn an_anthropic_provider_counts_at_its_own_endpoint() {
    let (upstream, proxy, capture) = start().await;
    let (status, source, answer) = count(&proxy, &ask("sonnet")).await;
    assert_eq!((status, source.as_str()), (200, "upstream"), "{answer}");
    assert_eq!(answer, json!({"input_tokens": WORDS}));
    let sent = upstream.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].uri.path(), "/v1/messages/count_tokens");
    assert_eq!(sent[0].header("x-api-key"), Some(ANTHROPIC_KEY), "the account's key, as for /v1/messages");
    assert_eq!(sent[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent[0].header("anthropic-beta"), Some("token-counting-2024-11-01"));
    let mut expected = ask("claude-sonnet-4-5");
    expected.as_object_mut().unwrap().remove("model");
    let mut body = sent[0].json();
    assert_eq!(body.as_object_mut().unwrap().remove("model"), Some(json!("claude-sonnet-4-5")));
    assert_eq!(body, expected, "the client's body as it came, the model rewritten");

    // An OpenAI-kind endpoint has no count: the route's anthropic endpoint (a lower tier) is asked.
    let (status, source, answer) = count(&proxy, &ask("mixed")).await;
    assert_eq!((status, source.as_str(), answer["input_tokens"].as_u64()), (200, "upstream", Some(WORDS)));
    assert_eq!(upstream.requests()[1].json()["model"], "claude-haiku-4-5");
    assert_unbilled(&proxy, &capture).await;
}

#[tokio::test]
async fn a_gemini_provider_counts_the_translated_prompt() {
    let (upstream, proxy, capture) = start().await;
    let (status, source, answer) = count(&proxy, &ask("flash")).await;
    assert_eq!((status, source.as_str()), (200, "upstream"), "{answer}");
    assert_eq!(answer, json!({"input_tokens": WORDS}));
    let sent = &upstream.requests()[0];
    assert_eq!(sent.uri.path(), "/v1beta/models/gemini-2.5-flash:countTokens");
    assert_eq!(sent.header("x-goog-api-key"), Some(GEMINI_KEY));
    let generate = &sent.json()["generateContentRequest"];
    assert_eq!(generate["model"], "models/gemini-2.5-flash");
    assert_eq!(generate["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
    assert_eq!(generate["contents"], json!([{"role": "user", "parts": [{"text": "Weather in Paris today?"}]}]));
    assert_eq!(generate["tools"][0]["functionDeclarations"][0]["name"], "weather");

    // Gemini's refusal comes back in Anthropic's shape.
    upstream.push(Reply::json(
        400,
        json!({"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}),
    ));
    let (status, source, error) = count(&proxy, &ask("flash")).await;
    assert_eq!((status, source.as_str()), (400, ""), "{error}");
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("INVALID_ARGUMENT"), "{error}");
    assert_unbilled(&proxy, &capture).await;
}

#[tokio::test]
async fn openai_kinds_are_estimated_without_asking_upstream() {
    let (upstream, proxy, _capture) = start().await;
    let (status, source, answer) = count(&proxy, &ask("gpt")).await;
    assert_eq!((status, source.as_str()), (200, "estimated"));
    let tokens = answer["input_tokens"].as_u64().unwrap();
    assert!(tokens > WORDS, "the estimate frames the messages and counts the tools: {tokens}");
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn a_failed_count_fails_over_opens_the_breaker_and_ends_in_the_estimate() {
    let (upstream, proxy, capture) = start().await;
    let (status, source, answer) = count(&proxy, &ask("failover")).await;
    assert_eq!((status, source.as_str(), answer["input_tokens"].as_u64()), (200, "upstream", Some(WORDS)));
    let paths: Vec<String> = upstream.requests().iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, ["/v1/messages/count_tokens", "/v1beta/models/gemini-2.5-flash:countTokens"]);
    assert_eq!(breaker(&proxy, "failover", "claude").await["state"], "open", "the failure counted");

    // The only endpoint fails: the estimate, said so.
    let (status, source, answer) = count(&proxy, &ask("down")).await;
    assert_eq!((status, source.as_str()), (200, "estimated"), "{answer}");
    assert!(answer["input_tokens"].as_u64().unwrap() > WORDS);
    assert_eq!(upstream.requests().len(), 3);
    // Its breaker is open now: the estimate at once, nothing sent.
    assert_eq!(breaker(&proxy, "down", "claude").await["state"], "open");
    let (status, source, _) = count(&proxy, &ask("down")).await;
    assert_eq!((status, source.as_str()), (200, "estimated"));
    assert_eq!(upstream.requests().len(), 3);

    // An Anthropic-compatible server without the endpoint (404): the estimate.
    upstream
        .push(Reply::json(404, json!({"type": "error", "error": {"type": "not_found_error", "message": "Not found"}})));
    let (status, source, _) = count(&proxy, &ask("sonnet")).await;
    assert_eq!((status, source.as_str()), (200, "estimated"));
    // Its other refusals are the client's, as it gave them.
    let refusal =
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "messages: too short"}});
    upstream.push(Reply::json(400, refusal.clone()));
    let (status, source, error) = count(&proxy, &ask("sonnet")).await;
    assert_eq!((status, source.as_str(), error), (400, "", refusal));
    assert_unbilled(&proxy, &capture).await;
}

#[tokio::test]
async fn a_body_chat_cannot_express_goes_to_anthropic_only() {
    let (upstream, proxy, _capture) = start().await;
    let document = json!({"model": "sonnet", "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a b c"}}]}]});
    let (status, source, _) = count(&proxy, &document).await;
    assert_eq!((status, source.as_str()), (200, "upstream"));
    // Elsewhere it is the client's error, naming the field.
    let (status, _, error) = count(&proxy, &json!({"model": "flash", "messages": document["messages"]})).await;
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("messages[0].content[0]"), "{error}");
    assert_eq!(upstream.requests().len(), 1);
}
