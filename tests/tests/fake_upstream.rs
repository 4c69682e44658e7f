#![allow(clippy::unwrap_used)]

//! Tests of the fake upstream itself, over real HTTP/1.1 and h2c.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use switchyard_tests::{Chunk, FakeUpstream, Reply, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A safety bound on waits that should end at once: past it the test fails
/// instead of hanging. Never an assertion about speed.
const BOUND: Duration = Duration::from_secs(20);

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(BOUND, future).await {
        Ok(output) => output,
        Err(_) => panic!("still waiting after {BOUND:?}: {what}"),
    }
}

fn http1() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2c() -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

async fn request(client: &HttpClient, method: Method, url: &str, body: impl Into<Bytes>) -> http::Response<Incoming> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    bounded("response head", client.request(request)).await.unwrap()
}

async fn read_all(response: http::Response<Incoming>) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = response.into_parts();
    let body = bounded("response body", body.collect()).await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

async fn post_json(up: &FakeUpstream, path: &str, body: Value) -> (StatusCode, HeaderMap, Bytes) {
    read_all(request(&http1(), Method::POST, &format!("{}{path}", up.base_url()), body.to_string()).await).await
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// The `data:` payloads of an SSE body.
fn events(body: &[u8]) -> Vec<String> {
    std::str::from_utf8(body)
        .unwrap()
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| event.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

/// Reads frames until exactly `expected` has arrived.
async fn read_exactly(body: &mut Incoming, expected: &[u8]) {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let frame = bounded("next frame", body.frame()).await.unwrap().unwrap();
        got.extend_from_slice(&frame.into_data().unwrap());
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn default_chat_completion_echoes_the_model_with_usage() {
    let up = FakeUpstream::start().await;
    let asked = json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi there friend"}]});
    let (status, headers, body) = post_json(&up, "/chat/completions", asked.clone()).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-request-id"], "req_fake0");
    let body = json_of(&body);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-test");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].is_u64());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": "Hello from gpt-test", "refusal": null, "annotations": []})
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(body["usage"]["completion_tokens"], switchyard_tests::fake_upstream::COMPLETION_TOKENS);
    assert_eq!(body["usage"]["total_tokens"], 6);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(body["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);

    let recorded = up.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, Method::POST);
    assert_eq!(recorded[0].uri, "/v1/chat/completions");
    assert_eq!(recorded[0].json(), asked);
    assert_eq!(recorded[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn default_chat_stream_without_usage() {
    let up = FakeUpstream::start().await;
    let asked = json!({"model": "m1", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, body) = post_json(&up, "/chat/completions", asked).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = events(&body);
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[5], "[DONE]");
    let chunks: Vec<Value> = events[..5].iter().map(|event| json_of(event.as_bytes())).collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "m1");
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert!(chunk.get("usage").is_none(), "{chunk}");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String =
        chunks[1..4].iter().map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
    assert_eq!(content, "Hello from m1");
    assert!(chunks[..4].iter().all(|chunk| chunk["choices"][0]["finish_reason"].is_null()));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn default_chat_stream_with_include_usage() {
    let up = FakeUpstream::start().await;
    let asked = json!({
        "model": "m2",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "one two"}]}]
    });
    let (_, _, body) = post_json(&up, "/chat/completions", asked).await;

    let events = events(&body);
    assert_eq!(events.len(), 7, "{events:?}");
    assert_eq!(events[6], "[DONE]");
    let chunks: Vec<Value> = events[..6].iter().map(|event| json_of(event.as_bytes())).collect();
    for chunk in &chunks[..5] {
        assert_eq!(chunk["usage"], Value::Null);
        assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
    }
    let last = &chunks[5];
    assert_eq!(last["object"], "chat.completion.chunk");
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 4);
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert_eq!(last["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn default_completions_plain_and_streamed() {
    let up = FakeUpstream::start().await;
    let (status, _, body) = post_json(&up, "/completions", json!({"model": "davinci", "prompt": "say hi"})).await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(&body);
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["choices"][0]["text"], "Hello from davinci");
    assert_eq!(body["usage"]["total_tokens"], 5);

    let asked =
        json!({"model": "davinci", "prompt": ["a b"], "stream": true, "stream_options": {"include_usage": true}});
    let (_, headers, body) = post_json(&up, "/completions", asked).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = events(&body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|event| json_of(event.as_bytes())).collect();
    let text: String =
        chunks.iter().filter_map(|chunk| chunk["choices"].get(0)).map(|c| c["text"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello from davinci");
    assert!(chunks.iter().all(|chunk| chunk["object"] == "text_completion"));
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 2);
}

#[tokio::test]
async fn default_embeddings_one_per_input() {
    let up = FakeUpstream::start().await;
    let (status, _, body) = post_json(&up, "/embeddings", json!({"model": "emb", "input": "hello world"})).await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(&body);
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "emb");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(body["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));

    let (_, _, body) = post_json(&up, "/embeddings", json!({"model": "emb", "input": ["a", "b c", "d"]})).await;
    let body = json_of(&body);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert!(item["embedding"].as_array().unwrap().iter().all(Value::is_f64));
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(body["usage"]["prompt_tokens"], 4);

    let asked = json!({"model": "emb", "input": [[1, 2, 3]], "encoding_format": "base64", "dimensions": 4});
    let (_, _, body) = post_json(&up, "/embeddings", asked).await;
    let body = json_of(&body);
    // 4 little-endian f32s: 16 bytes, 24 base64 characters.
    assert_eq!(body["data"][0]["embedding"].as_str().unwrap().len(), 24);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
}

#[tokio::test]
async fn default_models_echo_and_bad_json() {
    let up = FakeUpstream::start().await;
    let client = http1();
    let (status, _, body) =
        read_all(request(&client, Method::GET, &format!("{}/models", up.base_url()), "").await).await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(&body);
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert!(body["data"].as_array().unwrap().iter().all(|model| model["object"] == "model"));

    let url = format!("{}/files?purpose=batch", up.base_url());
    let (status, _, body) = read_all(request(&client, Method::PUT, &url, "12345").await).await;
    assert_eq!(status, StatusCode::OK);
    let echo = json!({"method": "PUT", "path": "/v1/files", "query": "purpose=batch", "body_bytes": 5, "content_type": "application/json"});
    assert_eq!(json_of(&body), json!({"echo": echo}));

    let url = format!("{}/chat/completions", up.base_url());
    let (status, _, body) = read_all(request(&client, Method::POST, &url, "{not json").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = &json_of(&body)["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["message"].is_string());
    assert_eq!(error["param"], Value::Null);
    assert_eq!(error["code"], Value::Null);

    let (status, _, _) = post_json(&up, "/embeddings", json!({"input": "no model"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn scripted_replies_are_taken_in_order_then_defaults_resume() {
    let up = FakeUpstream::start().await;
    up.push(Reply::json(201, json!({"n": 1})));
    up.push(Reply::error(429, "rate_limit_exceeded", "slow down"));
    up.push(Reply::Raw {
        status: 202,
        headers: vec![
            ("x-a".into(), "1".into()),
            ("x-a".into(), "2".into()),
            ("content-type".into(), "text/plain".into()),
        ],
        body: Bytes::from_static(b"raw body"),
    });
    up.push(Reply::delayed(Duration::from_millis(1), Reply::sse_events(&["{\"x\":1}"])));
    let client = http1();
    let url = format!("{}/anything", up.base_url());

    let (status, _, body) = read_all(request(&client, Method::POST, &url, "").await).await;
    assert_eq!((status, json_of(&body)), (StatusCode::CREATED, json!({"n": 1})));

    let (status, _, body) = read_all(request(&client, Method::POST, &url, "").await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        json_of(&body),
        json!({"error": {"message": "slow down", "type": "rate_limit_exceeded", "param": null, "code": null}})
    );

    let (status, headers, body) = read_all(request(&client, Method::POST, &url, "").await).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(body, "raw body");

    let (status, headers, body) = read_all(request(&client, Method::POST, &url, "").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(body, "data: {\"x\":1}\n\ndata: [DONE]\n\n");

    let (status, _, body) = read_all(request(&client, Method::POST, &url, "").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(json_of(&body).get("echo").is_some());
    assert_eq!(up.requests().len(), 5);
}

#[tokio::test]
async fn sse_wait_holds_the_stream_until_notified() {
    let up = FakeUpstream::start().await;
    let gate = Arc::new(Notify::new());
    up.push(Reply::sse(vec![Chunk::event("first"), Chunk::Wait(Arc::clone(&gate)), Chunk::event("second")]));
    let response = request(&http1(), Method::POST, &format!("{}/chat/completions", up.base_url()), "{}").await;
    let mut body = response.into_body();

    read_exactly(&mut body, b"data: first\n\n").await;
    // Nothing more can have been sent: the server is parked on the gate.
    assert!(body.frame().now_or_never().is_none());

    gate.notify_one();
    read_exactly(&mut body, b"data: second\n\n").await;
    assert!(bounded("end of body", body.frame()).await.is_none());
    assert_eq!(up.aborted_responses(), 0);
}

async fn sse_abort_breaks_the_stream_mid_way(client: HttpClient) {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse(vec![Chunk::event("one"), Chunk::Abort]));
    let response = request(&client, Method::POST, &format!("{}/chat/completions", up.base_url()), "{}").await;
    let mut body = response.into_body();
    read_exactly(&mut body, b"data: one\n\n").await;
    let next = bounded("the break", body.frame()).await;
    assert!(matches!(next, Some(Err(_))), "{next:?}");
    // The fake broke it itself: not a peer abort.
    assert_eq!(up.aborted_responses(), 0);
}

#[tokio::test]
async fn sse_abort_breaks_the_stream_mid_way_http1() {
    sse_abort_breaks_the_stream_mid_way(http1()).await;
}

#[tokio::test]
async fn sse_abort_breaks_the_stream_mid_way_h2c() {
    sse_abort_breaks_the_stream_mid_way(h2c()).await;
}

#[tokio::test]
async fn hangup_closes_the_connection_without_an_answer() {
    let up = FakeUpstream::start().await;
    up.push(Reply::Hangup);
    let request =
        Request::post(format!("{}/chat/completions", up.base_url())).body(Full::new(Bytes::from("x"))).unwrap();
    let result = bounded("hangup", http1().request(request)).await;
    assert!(result.is_err(), "{result:?}");
    // The request was read and recorded before the hang-up.
    assert_eq!(up.requests().len(), 1);
    assert_eq!(up.requests()[0].body, "x");
    eventually("connection closed", async || up.open_connections() == 0).await;

    // The next request is answered normally.
    let (status, _, _) = post_json(&up, "/models", json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn streamed_request_body_is_seen_before_it_ends() {
    let up = FakeUpstream::start().await;
    let mut tcp = TcpStream::connect(up.addr()).await.unwrap();
    tcp.write_all(
        b"POST /v1/files HTTP/1.1\r\nhost: upstream\r\ntransfer-encoding: chunked\r\n\
          content-type: application/octet-stream\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    tcp.write_all(format!("{:x}\r\n{}\r\n", 1000, "a".repeat(1000)).as_bytes()).await.unwrap();

    bounded("first 1000 body bytes", up.wait_for_body_bytes(1000)).await;
    assert!(up.requests().is_empty(), "the request is not complete yet");

    tcp.write_all(format!("{:x}\r\n{}\r\n0\r\n\r\n", 500, "b".repeat(500)).as_bytes()).await.unwrap();
    let mut response = Vec::new();
    bounded("response", tcp.read_to_end(&mut response)).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("\"body_bytes\":1500"), "{response}");

    let recorded = up.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body.len(), 1500);
    assert!(recorded[0].body.starts_with(b"aaa") && recorded[0].body.ends_with(b"bbb"));
    assert_eq!(recorded[0].header("transfer-encoding"), Some("chunked"));
}

#[tokio::test]
async fn records_headers_query_and_body() {
    let up = FakeUpstream::start().await;
    let binary: Vec<u8> = (0..=255).collect();
    let request = Request::post(format!("{}/audio/transcriptions?x=1&y=two", up.base_url()))
        .header("authorization", "Bearer sk-upstream")
        .header("x-custom", "a")
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(binary.clone())))
        .unwrap();
    let (status, _, _) = read_all(bounded("response", http1().request(request)).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    let recorded = &up.requests()[0];
    assert_eq!(recorded.method, Method::POST);
    assert_eq!(recorded.uri.path(), "/v1/audio/transcriptions");
    assert_eq!(recorded.uri.query(), Some("x=1&y=two"));
    assert_eq!(recorded.header("Authorization"), Some("Bearer sk-upstream"));
    assert_eq!(recorded.header("x-custom"), Some("a"));
    assert_eq!(recorded.header("content-length"), Some("256"));
    assert_eq!(recorded.header("x-missing"), None);
    assert_eq!(recorded.body, binary);
}

#[tokio::test]
async fn large_bodies_are_received_whole() {
    let up = FakeUpstream::start().await;
    let size = 32 << 20;
    let body = Bytes::from(vec![7u8; size]);
    let url = format!("{}/files", up.base_url());
    let (status, _, answer) = read_all(request(&http1(), Method::POST, &url, body).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&answer)["echo"]["body_bytes"], size);
    assert_eq!(up.requests()[0].body.len(), size);
    bounded("high-water mark", up.wait_for_body_bytes(size)).await;
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_and_close_is_seen() {
    let up = FakeUpstream::start().await;
    let mut tcp = TcpStream::connect(up.addr()).await.unwrap();
    let get = b"GET /v1/models HTTP/1.1\r\nhost: upstream\r\n\r\n";
    tcp.write_all(get).await.unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let n = bounded("first response", tcp.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
    tcp.write_all(get).await.unwrap();
    let n = bounded("second response", tcp.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));

    assert_eq!(up.requests().len(), 2);
    assert_eq!(up.open_connections(), 1);
    drop(tcp);
    eventually("connection closed", async || up.open_connections() == 0).await;
}

async fn client_leaving_mid_stream_counts_as_aborted(client: HttpClient) {
    let up = FakeUpstream::start().await;
    up.push(Reply::sse(vec![Chunk::event("one"), Chunk::Stall]));
    let response = request(&client, Method::POST, &format!("{}/chat/completions", up.base_url()), "{}").await;
    let mut body = response.into_body();
    read_exactly(&mut body, b"data: one\n\n").await;
    assert_eq!(up.aborted_responses(), 0);
    drop(body);
    drop(client);
    eventually("aborted response counted", async || up.aborted_responses() == 1).await;
    eventually("connection closed", async || up.open_connections() == 0).await;
}

#[tokio::test]
async fn client_leaving_mid_stream_counts_as_aborted_http1() {
    client_leaving_mid_stream_counts_as_aborted(http1()).await;
}

#[tokio::test]
async fn client_leaving_mid_stream_counts_as_aborted_h2c() {
    client_leaving_mid_stream_counts_as_aborted(h2c()).await;
}

#[tokio::test]
async fn serves_h2c() {
    let up = FakeUpstream::start().await;
    let client = h2c();
    let asked = json!({"model": "h2-model", "stream": true, "messages": []});
    let response =
        request(&client, Method::POST, &format!("{}/chat/completions", up.base_url()), asked.to_string()).await;
    assert_eq!(response.version(), Version::HTTP_2);
    let (status, headers, body) = read_all(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = events(&body);
    assert_eq!(events.last().unwrap(), "[DONE]");

    let recorded = &up.requests()[0];
    assert_eq!(recorded.version, Version::HTTP_2);
    assert_eq!(recorded.uri, "/v1/chat/completions");
    assert_eq!(recorded.json(), asked);
}

#[tokio::test]
async fn dropping_the_fake_stops_it() {
    let up = FakeUpstream::start().await;
    let addr = up.addr();
    assert_eq!(up.base_url(), format!("http://127.0.0.1:{}/v1", addr.port()));
    let idle = TcpStream::connect(addr).await.unwrap();
    eventually("connection counted", async || up.open_connections() == 1).await;
    drop(up);
    eventually("listener closed", async || TcpStream::connect(addr).await.is_err()).await;
    drop(idle);
}
