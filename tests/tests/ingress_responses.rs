#![allow(clippy::unwrap_used, clippy::expect_used)]
//! OpenAI's Responses API as an ingress: `POST /v1/responses` passed as it
//! came to an `openai` provider, and translated to chat completions (and
//! back, streams included) for every other kind.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_proxy::usage::{Source, Status};
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply, schema};

fn yaml(compat: &FakeUpstream, openai: &FakeUpstream) -> String {
    format!(
        r#"
providers:
  - name: compat
    kind: openai-compatible
    base_url: {}
    accounts: [{{name: c, api_key: "sk-compat-upstream-000000"}}]
  - name: oai
    kind: openai
    base_url: {}
    accounts: [{{name: o, api_key: "sk-openai-upstream-000000"}}]
models:
  - name: local
    targets: [{{provider: compat, model: qwen3-32b}}]
  - name: gpt
    targets: [{{provider: oai, model: gpt-4.1-mini}}]
keys:
  - {{name: app, key: "{APP_KEY}"}}
"#,
        compat.base_url(),
        openai.base_url()
    )
}

struct Setup {
    compat: FakeUpstream,
    openai: FakeUpstream,
    proxy: Proxy,
    capture: Arc<UsageCapture>,
}

async fn setup() -> Setup {
    let (compat, openai) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let capture = UsageCapture::new();
    let proxy = Proxy::start_capturing(&yaml(&compat, &openai), &capture).await;
    Setup { compat, openai, proxy, capture }
}

impl Setup {
    async fn responses(&self, body: &Value) -> reqwest::Response {
        client().post(format!("{}/responses", self.proxy.url())).bearer_auth(APP_KEY).json(body).send().await.unwrap()
    }
}

#[tokio::test]
async fn a_chat_provider_answers_as_a_response() {
    let s = setup().await;
    let response = s.responses(&json!({"model": "local", "instructions": "Be brief.", "input": "Say hello."})).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    schema::validate("Response", &answer).unwrap();
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["model"], "local");
    assert_eq!(answer["instructions"], "Be brief.");
    let text = answer["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Hello"), "{answer}");
    assert!(answer["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let sent = &s.compat.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/chat/completions");
    let chat = sent.json();
    assert_eq!(chat["model"], "qwen3-32b");
    assert_eq!(chat["messages"][0], json!({"role": "system", "content": "Be brief."}));
    let records = s.capture.wait_for(1).await;
    assert_eq!((records[0].status, records[0].source), (Status::Ok, Source::Reported));
}

#[tokio::test]
async fn a_translated_stream_is_the_responses_event_sequence() {
    let s = setup().await;
    let response = s.responses(&json!({"model": "local", "input": "Say hello.", "stream": true})).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let names: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(&names[..2], ["response.created", "response.in_progress"], "{body}");
    assert!(names.contains(&"response.output_text.delta"), "{body}");
    assert_eq!(names.last(), Some(&"response.completed"), "{body}");
    assert!(!body.contains("[DONE]") && !body.contains("chat.completion.chunk"), "{body}");
    let last = body.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap();
    let completed: Value = serde_json::from_str(last).unwrap();
    assert!(completed["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0, "{completed}");
    assert_eq!(s.compat.requests()[0].json()["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn an_openai_provider_gets_the_request_as_it_came() {
    let s = setup().await;
    let answer = json!({"id": "resp_1", "object": "response", "status": "completed", "output": []});
    s.openai.push(Reply::Json { status: 200, headers: vec![], body: answer.clone() });
    let request = json!({"model": "gpt", "input": "hi", "store": true, "previous_response_id": "resp_0"});
    let response = s.responses(&request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), answer);
    let sent = &s.openai.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/responses");
    let mut expected = request;
    expected["model"] = json!("gpt-4.1-mini");
    assert_eq!(sent.json(), expected);
}

#[tokio::test]
async fn what_needs_stored_state_is_a_clear_400_for_a_chat_provider() {
    let s = setup().await;
    for (body, field) in [
        (json!({"model": "local", "input": "hi", "previous_response_id": "resp_0"}), "previous_response_id"),
        (json!({"model": "local", "input": "hi", "store": true}), "store"),
        (json!({"model": "local", "input": "hi", "tools": [{"type": "web_search"}]}), "tools[0].type"),
    ] {
        let response = s.responses(&body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        schema::validate("ErrorResponse", &error).unwrap();
        assert!(error["error"]["message"].as_str().unwrap().contains(field), "{field}: {error}");
    }
    assert!(s.compat.requests().is_empty());
}
