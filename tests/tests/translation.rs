#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Translation end to end: OpenAI clients call `anthropic` and `gemini`
//! providers through the proxy. The fake upstream answers in the provider's
//! own API (JSON, and SSE streams as the providers send them); the client
//! gets OpenAI's shapes, the upstream gets the provider's request with its
//! auth header (never the key in a URL), and usage is accounted from the
//! provider's counts.

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Source, Status, Tokens};
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, schema};

const ANTHROPIC_KEY: &str = "sk-ant-upstream-0123456789";
const GEMINI_KEY: &str = "AIza-upstream-0123456789";

fn yaml(upstream: &FakeUpstream) -> String {
    let origin = format!("http://{}", upstream.addr());
    format!(
        r#"
providers:
  - name: claude
    kind: anthropic
    base_url: {origin}
    default_max_tokens: 1000
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: a, api_key: "{ANTHROPIC_KEY}"}}]
  - name: gem
    kind: gemini
    base_url: {origin}
    timeout: {{connect: 2s, first_token: 5s, idle: 5s, total: 30s}}
    accounts: [{{name: g, api_key: "{GEMINI_KEY}"}}]
models:
  - name: sonnet
    targets: [{{provider: claude, model: claude-sonnet-4-5}}]
  - name: flash
    targets: [{{provider: gem, model: gemini-2.5-flash}}]
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

async fn post(proxy: &Proxy, body: &Value) -> reqwest::Response {
    client().post(format!("{}/chat/completions", proxy.url())).bearer_auth(APP_KEY).json(body).send().await.unwrap()
}

/// SSE events with `event:` names, as Anthropic sends them.
fn named_events(events: &[(&str, Value)]) -> Reply {
    let chunks = events
        .iter()
        .map(|(name, data)| Chunk::Bytes(Bytes::from(format!("event: {name}\ndata: {data}\n\n"))))
        .collect();
    Reply::Sse { status: 200, headers: Vec::new(), chunks }
}

/// The `data:` payloads of an SSE body, `[DONE]` included.
fn data_lines(body: &str) -> Vec<String> {
    body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_owned).collect()
}

fn request_body() -> Value {
    json!({
        "model": "sonnet",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"}
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    })
}

#[tokio::test]
async fn anthropic_json_answers_become_chat_completions() {
    let (upstream, proxy, capture) = start().await;
    upstream.push(Reply::json(
        200,
        json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 12, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
        }),
    ));
    let response = post(&proxy, &request_body()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    schema::validate("CreateChatCompletionResponse", &body).unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me check.");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!((call["id"].as_str(), call["function"]["name"].as_str()), (Some("toolu_01"), Some("weather")));
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(body["usage"]["prompt_tokens"], 120);
    assert_eq!(body["usage"]["completion_tokens"], 12);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 100);

    // What went upstream: Anthropic's endpoint, auth and body.
    let sent = &upstream.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    assert!(sent.headers.get("authorization").is_none());
    let sent = sent.json();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["max_tokens"], 1000, "the provider's default_max_tokens");
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(sent["tools"][0]["name"], "weather");

    let record = capture.only().await;
    assert_eq!((record.status, record.source), (Status::Ok, Source::Reported));
    assert_eq!(record.tokens, Tokens { prompt: 120, completion: 12, cached: 100, reasoning: 0 });
    assert_eq!((&*record.provider, &*record.upstream_model), ("claude", "claude-sonnet-4-5"));
}

fn anthropic_stream() -> Reply {
    named_events(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

#[tokio::test]
async fn anthropic_streams_become_chat_completion_chunks_with_usage_only_when_asked() {
    let (upstream, proxy, capture) = start().await;
    // Not asked: the gateway asks on the client's behalf for its accounting and removes it again.
    upstream.push(anthropic_stream());
    let body = json!({"model": "sonnet", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let response = post(&proxy, &body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let lines = data_lines(&response.text().await.unwrap());
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    for c in &chunks {
        schema::validate("CreateChatCompletionStreamResponse", c).unwrap();
        assert!(c.get("usage").is_none(), "no usage member the client did not ask for: {c}");
    }
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Hello there");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");
    let record = capture.only().await;
    assert_eq!((record.status, record.source), (Status::Ok, Source::Reported));
    assert_eq!((record.tokens.prompt, record.tokens.completion), (25, 9));
    assert!(record.first_token_us.is_some());

    // Asked for: the usage chunk comes, in OpenAI's shape.
    upstream.push(anthropic_stream());
    let body = json!({"model": "sonnet", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let lines = data_lines(&post(&proxy, &body).await.text().await.unwrap());
    let last: Value = serde_json::from_str(&lines[lines.len() - 2]).unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        (last["usage"]["prompt_tokens"].as_u64(), last["usage"]["completion_tokens"].as_u64()),
        (Some(25), Some(9))
    );
}

#[tokio::test]
async fn an_anthropic_stream_cut_before_message_stop_is_a_stream_error() {
    let (upstream, proxy, capture) = start().await;
    upstream.push(named_events(&[
        ("message_start", json!({"type": "message_start", "message": {"id": "msg_03", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}})),
    ]));
    let body = json!({"model": "sonnet", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let text = post(&proxy, &body).await.text().await.unwrap();
    assert!(text.contains("Hel"), "{text}");
    // As for any upstream that breaks mid-stream: an OpenAI-style error event, then `[DONE]`.
    let lines = data_lines(&text);
    let error: Value = serde_json::from_str(&lines[lines.len() - 2]).unwrap();
    assert_eq!(error["error"]["code"], "upstream_stream_broken", "{text}");
    assert!(!text.contains("finish_reason\":\"stop"), "never claimed complete: {text}");
    assert_eq!(capture.only().await.status, Status::StreamError);
}

#[tokio::test]
async fn provider_errors_are_openai_shaped_and_requests_it_cannot_take_are_refused_before_sending() {
    let (upstream, proxy, capture) = start().await;
    upstream.push(Reply::json(
        400,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}),
    ));
    let response = post(&proxy, &json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_tokens: too large") && message.contains("claude"), "{body}");

    // A part Anthropic cannot take: the client's error, naming the field; nothing sent.
    let sent = upstream.requests().len();
    let audio = json!({"model": "sonnet", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "listen"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]});
    let response = post(&proxy, &audio).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    schema::validate("ErrorResponse", &body).unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("messages[0].content[1]"), "{body}");
    assert_eq!(upstream.requests().len(), sent);

    // Other endpoints are not translated: a clear refusal.
    let response = client()
        .post(format!("{}/embeddings", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&json!({"model": "sonnet", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("only /v1/chat/completions"), "{body}");
    assert_eq!(upstream.requests().len(), sent);

    // The provider's error is the upstream's; the two refusals are the gateway's.
    let records = capture.wait_for(3).await;
    let endings: Vec<_> = records.iter().map(|r| (r.status, r.http_status)).collect();
    assert_eq!(endings, [(Status::UpstreamError, 400), (Status::Rejected, 400), (Status::Rejected, 400)]);
}

#[tokio::test]
async fn gemini_json_and_streams_become_chat_completions() {
    let (upstream, proxy, capture) = start().await;
    upstream.push(Reply::json(
        200,
        json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Bonjour"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 9},
            "modelVersion": "gemini-2.5-flash", "responseId": "r1"
        }),
    ));
    let body = json!({"model": "flash", "messages": [{"role": "system", "content": "French."}, {"role": "user", "content": "Hello"}], "max_tokens": 50});
    let response = post(&proxy, &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    schema::validate("CreateChatCompletionResponse", &answer).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Bonjour");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let sent = &upstream.requests()[0];
    assert_eq!(sent.uri.path(), "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.uri.query(), None, "the key never goes in the URL");
    assert_eq!(sent.headers["x-goog-api-key"], GEMINI_KEY);
    let sent = sent.json();
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "French.");
    assert_eq!(sent["contents"][0]["role"], "user");
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
    assert!(sent.get("model").is_none());
    assert_eq!(capture.wait_for(1).await[0].tokens, Tokens { prompt: 7, completion: 2, cached: 0, reasoning: 0 });

    let events = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Bon"}]}, "index": 0}]}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "jour"}]}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2, "totalTokenCount": 9}}),
    ];
    let texts: Vec<String> = events.iter().map(Value::to_string).collect();
    // Gemini's SSE: one GenerateContentResponse per event, no [DONE].
    upstream.push(Reply::sse(texts.iter().map(|t| Chunk::event(t)).collect()));
    let body = json!({"model": "flash", "stream": true, "messages": [{"role": "user", "content": "Hello"}]});
    let response = post(&proxy, &body).await;
    assert_eq!(response.status(), 200);
    let lines = data_lines(&response.text().await.unwrap());
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Bonjour");
    let sent = &upstream.requests()[1];
    assert_eq!(sent.uri.path(), "/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    assert_eq!(sent.uri.query(), Some("alt=sse"));
    let records = capture.wait_for(2).await;
    assert_eq!((records[1].status, records[1].tokens.prompt, records[1].tokens.completion), (Status::Ok, 7, 2));
}

#[tokio::test]
async fn an_overloaded_anthropic_fails_over_to_an_openai_provider() {
    let upstream = FakeUpstream::start().await;
    let yaml = yaml(&upstream)
        .replace(
            "  - name: gem\n",
            &format!(
                "  - name: openai\n    kind: openai-compatible\n    base_url: {}\n    accounts: [{{name: o, api_key: \"sk-openai-0123456789\"}}]\n  - name: gem\n",
                upstream.base_url()
            ),
        )
        .replace(
            "    targets: [{provider: claude, model: claude-sonnet-4-5}]",
            "    targets: [{provider: claude, model: claude-sonnet-4-5}, {provider: openai, model: gpt-4o, priority: 1}]",
        );
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml, &capture).await;
    // Anthropic's "overloaded" (HTTP 529), then the OpenAI provider's default answer.
    upstream.push(Reply::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let response = post(&proxy, &json!({"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    schema::validate("CreateChatCompletionResponse", &body).unwrap();
    let paths: Vec<String> = upstream.requests().iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/chat/completions"]);
    let openai = upstream.requests()[1].json();
    assert_eq!(openai["model"], "gpt-4o", "the OpenAI request, not the Anthropic one");
    assert!(openai.get("max_tokens").is_none());
    let record = capture.only().await;
    assert_eq!((record.status, record.attempts, &*record.provider), (Status::Ok, 2, "openai"));
}
