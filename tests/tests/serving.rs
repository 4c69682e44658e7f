#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Serving OpenAI traffic: chat (JSON and SSE), completions, embeddings, models,
//! routing by name/alias/direct, the model splice, passthrough and uploads.

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_tests::harness::*;
use switchyard_tests::{Chunk, FakeUpstream, Reply, schema};

async fn setup() -> (FakeUpstream, FakeUpstream, Proxy) {
    let main = FakeUpstream::start().await;
    let other = FakeUpstream::start().await;
    let proxy = Proxy::start(&gateway_yaml(&main.base_url(), &other.base_url())).await;
    (main, other, proxy)
}

fn chat(model: &str) -> Value {
    chat_body(model, false)
}

#[tokio::test]
async fn alias_reaches_the_upstream_under_its_own_name() {
    let (main, _other, proxy) = setup().await;
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("smart"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    schema::validate("CreateChatCompletionResponse", &body).unwrap();
    assert_eq!(body["model"], "gpt-4o-mini-2024-07-18");
    let seen = main.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/v1/chat/completions");
    assert_eq!(seen[0].json()["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(seen[0].json()["messages"], chat("x")["messages"]);
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {UPSTREAM_KEY_A}").as_str()));
    assert_eq!(seen[0].header("x-title"), Some("switchyard-tests"), "per-provider headers");
}

#[tokio::test]
async fn bare_paths_work_too() {
    let (_main, _other, proxy) = setup().await;
    let base = format!("http://{}", proxy.handle().addr);
    let response = client()
        .post(format!("{base}/chat/completions"))
        .bearer_auth(APP_KEY)
        .json(&chat("smart"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = client().get(format!("{base}/models")).bearer_auth(APP_KEY).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_splice_changes_only_the_model_and_the_length() {
    let (main, _other, proxy) = setup().await;
    // Field order, spacing, unicode escapes and unknown fields must survive byte for byte.
    let body = r#"{ "messages":[{"role":"user","content":"caf\u00e9 \"model\": x"}],"model" :  "smart" , "tools":[],"seed":7,"n":2,"logprobs":true,"some_future_field":{"model":"keep"} }"#;
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &main.requests()[0];
    let expected = body.replace(r#""smart""#, r#""gpt-4o-mini-2024-07-18""#);
    assert_eq!(std::str::from_utf8(&seen.body).unwrap(), expected);
    assert_eq!(seen.header("content-length"), Some(expected.len().to_string().as_str()));
    assert!(expected.len() > body.len());
}

#[tokio::test]
async fn default_model_is_inserted_for_empty_and_auto() {
    let (main, _other, proxy) = setup().await;
    for body in
        [json!({"messages": []}), json!({"model": "auto", "messages": []}), json!({"model": "", "messages": []})]
    {
        let response = client()
            .post(format!("{}/chat/completions", proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{body}");
    }
    for r in main.requests() {
        assert_eq!(r.json()["model"], "gpt-4o-mini-2024-07-18");
    }
}

#[tokio::test]
async fn stream_events_arrive_before_the_upstream_finishes() {
    let (main, _other, proxy) = setup().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    main.push(Reply::Sse {
        status: 200,
        headers: vec![],
        chunks: vec![
            Chunk::Bytes(Bytes::from_static(b": keep-alive\n\n")),
            Chunk::event(r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"He"},"finish_reason":null}]}"#),
            Chunk::Wait(gate.clone()),
            Chunk::event(r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}"#),
            Chunk::Bytes(Bytes::from_static(b"data: [DONE]\n\n")),
        ],
    });
    let mut body = chat("smart");
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut stream = response.bytes_stream();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("\"He\"") {
        got.extend_from_slice(&stream.next().await.unwrap().unwrap());
    }
    assert!(!String::from_utf8_lossy(&got).contains("llo"), "the upstream has not sent it yet");
    gate.notify_one();
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(got).unwrap();
    assert!(text.starts_with(": keep-alive\n\ndata: {"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")).filter(|d| *d != "[DONE]") {
        schema::validate("CreateChatCompletionStreamResponse", &serde_json::from_str(line).unwrap()).unwrap();
    }
}

#[tokio::test]
async fn a_stream_passes_through_byte_for_byte() {
    let (main, _other, proxy) = setup().await;
    let sent = [
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"你好\"},\"finish_reason\":null}]}\r\n\r\n",
        // A named event whose data spans two lines (JSON: since issue 21 a data that is not JSON ends the stream).
        ": comment\n\nevent: x\ndata: {\"a\":\ndata: \"b\"}\n\n",
        "data: [DONE]\n\n",
    ]
    .concat();
    // Split every 7 bytes, mid-character and mid-line: the client still gets exactly these bytes.
    let chunks = sent.as_bytes().chunks(7).map(|c| Chunk::Bytes(Bytes::copy_from_slice(c))).collect();
    main.push(Reply::Sse { status: 200, headers: vec![], chunks });
    let mut body = chat("smart");
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), sent);
    assert_eq!(main.requests()[0].json()["stream"], true);
}

#[tokio::test]
async fn completions_and_embeddings() {
    let (main, _other, proxy) = setup().await;
    let response = client()
        .post(format!("{}/embeddings", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&json!({"model": "text-embedding-3-small", "input": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    schema::validate("CreateEmbeddingResponse", &body).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let response = client()
        .post(format!("{}/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&json!({"model": "smart", "prompt": "Say hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let paths: Vec<String> = main.requests().iter().map(|r| r.uri.path().to_owned()).collect();
    assert_eq!(paths, ["/v1/embeddings", "/v1/completions"]);
}

#[tokio::test]
async fn models_lists_what_the_key_may_use() {
    let (_main, _other, proxy) = setup().await;
    let list = |key: &'static str| {
        let url = format!("{}/models", proxy.url());
        async move { client().get(url).bearer_auth(key).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let all = list(APP_KEY).await;
    schema::validate("ListModelsResponse", &all).unwrap();
    let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "smart", "router-model", "text-embedding-3-small"]);
    let limited = list(LIMITED_KEY).await;
    let ids: Vec<&str> = limited["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "smart"], "an allowlisted alias opens its model and its other names");
    let one: Value = client()
        .get(format!("{}/models/smart", proxy.url()))
        .bearer_auth(LIMITED_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    schema::validate("Model", &one).unwrap();
    let hidden =
        client().get(format!("{}/models/router-model", proxy.url())).bearer_auth(LIMITED_KEY).send().await.unwrap();
    assert_eq!(hidden.status(), 404);
}

#[tokio::test]
async fn direct_calls_and_slashed_upstream_names() {
    let (main, other, proxy) = setup().await;
    let url = format!("{}/chat/completions", proxy.url());
    // A route whose upstream name has a `/` (OpenRouter style) works for everyone.
    assert_eq!(
        client().post(&url).bearer_auth(APP_KEY).json(&chat("router-model")).send().await.unwrap().status(),
        200
    );
    assert_eq!(other.requests()[0].json()["model"], "openai/gpt-4o-mini");
    // provider:model and provider/model: only for allow_direct keys.
    for (name, upstream) in
        [("main:gpt-4.1", "gpt-4.1"), ("main/gpt-4.1", "gpt-4.1"), ("other/openai/gpt-4o", "openai/gpt-4o")]
    {
        let response = client().post(&url).bearer_auth(DIRECT_KEY).json(&chat(name)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let app = client().post(&url).bearer_auth(APP_KEY).json(&chat(name)).send().await.unwrap();
        assert_eq!(app.status(), 404, "{name} is just an unknown model for other keys");
        let err: Value = app.json().await.unwrap();
        assert_eq!(err["error"]["code"], "model_not_found");
        let last =
            main.requests().into_iter().chain(other.requests()).filter(|r| r.json()["model"] == upstream).count();
        assert!(last >= 1, "{name} reached the upstream as {upstream}");
    }
    let unknown = client().post(&url).bearer_auth(DIRECT_KEY).json(&chat("nope:gpt-4")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn other_v1_paths_pass_through() {
    let (main, _other, proxy) = setup().await;
    // A JSON body with a model is routed and rewritten like the rest.
    let response = client()
        .post(format!("{}/moderations?x=1&api_key={APP_KEY}", proxy.url()))
        .json(&json!({"model": "smart", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = &main.requests()[0];
    assert_eq!(seen.uri.path(), "/v1/moderations");
    assert_eq!(seen.uri.query(), Some("x=1"), "the client's api_key never travels upstream");
    assert_eq!(seen.json()["model"], "gpt-4o-mini-2024-07-18");
    // Without a body: the default model's endpoint.
    let response = client().get(format!("{}/files/file-123", proxy.url())).bearer_auth(FILES_KEY).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(main.requests()[1].uri.path(), "/v1/files/file-123");
    assert_eq!(main.requests()[1].method, "GET");
}

#[tokio::test]
async fn uploads_stream_through_unbuffered() {
    let (main, _other, proxy) = setup().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let boundary = "sybound";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nfine-tune\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let first = Bytes::from([head.into_bytes(), vec![b'x'; 256 * 1024]].concat());
    let first_len = first.len();
    let upload = tokio::spawn({
        let url = format!("{}/files", proxy.url());
        async move {
            client()
                .post(url)
                .bearer_auth(FILES_KEY)
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
                .send()
                .await
                .unwrap()
        }
    });
    tx.send(Ok(first)).await.unwrap();
    // The upstream sees the first part while the client still holds the rest.
    main.wait_for_body_bytes(first_len).await;
    tx.send(Ok(Bytes::from(format!("\r\n--{boundary}--\r\n")))).await.unwrap();
    drop(tx);
    let response = upload.await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = &main.requests()[0];
    assert!(seen.body.len() > first_len);
    assert!(seen.header("content-type").unwrap().starts_with("multipart/form-data"));
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn upstream_connections_are_pooled() {
    let (main, _other, proxy) = setup().await;
    for _ in 0..5 {
        let response = client()
            .post(format!("{}/chat/completions", proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&chat("smart"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    assert_eq!(main.requests().len(), 5);
    assert_eq!(main.open_connections(), 1, "one kept-alive connection served them all");
}

#[tokio::test]
async fn h2c_clients_are_served() {
    let (_main, _other, proxy) = setup().await;
    let h2 = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().unwrap();
    let response = h2
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat("smart"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}
