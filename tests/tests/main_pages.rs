#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The main port's own pages, before authentication: `/health` (status,
//! version, uptime, per-endpoint counters; nothing secret), `/` (name,
//! version, links), `/openapi.json` and `/docs`, with their content types;
//! their answers match the description, and every operation it describes is
//! served.

use serde_json::{Value, json};
use std::sync::OnceLock;
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, Reply, cluster, schema};

/// The data plane's OpenAPI description, parsed once (the schema checker keeps a reference).
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(switchyard_proxy::ops_pages::OPENAPI).unwrap())
}

async fn start() -> (FakeUpstream, FakeUpstream, Proxy) {
    let (main, other) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let proxy = Proxy::start(&gateway_yaml(&main.base_url(), &other.base_url())).await;
    (main, other, proxy)
}

fn root(proxy: &Proxy) -> String {
    format!("http://{}", proxy.handle().addr)
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()["content-type"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn health_reports_counters_and_breakers_without_a_key_and_without_secrets() {
    let (main, other, proxy) = start().await;
    let r = client().get(format!("{}/health", root(&proxy))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/json");
    let health: Value = r.json().await.unwrap();
    schema::validate_in(spec(), "Health", &health).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["config_version"], 1);
    assert!(health["uptime_seconds"].as_f64().unwrap() >= 0.0);
    let endpoints = health["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 3, "{health:#}");
    assert!(endpoints.iter().all(|e| e["requests"] == 0 && e["success_rate"].is_null() && e["breaker"] == "closed"));

    // One success and one upstream error on gpt-4o-mini.
    let chat = || {
        client()
            .post(format!("{}/chat/completions", proxy.url()))
            .bearer_auth(APP_KEY)
            .json(&chat_body("gpt-4o-mini", false))
    };
    assert_eq!(chat().send().await.unwrap().status(), 200);
    main.push(Reply::error(400, "invalid_request_error", "no"));
    assert_eq!(chat().send().await.unwrap().status(), 400);
    // A key is not needed, and a wrong one changes nothing.
    let health: Value = client()
        .get(format!("{}/health", root(&proxy)))
        .bearer_auth("sk-not-a-key-0000000000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    schema::validate_in(spec(), "Health", &health).unwrap();
    let mini = health["endpoints"].as_array().unwrap().iter().find(|e| e["model"] == "gpt-4o-mini").unwrap();
    assert_eq!(
        (&mini["provider"], &mini["account"], &mini["upstream_model"]),
        (&json!("main"), &json!("a"), &json!("gpt-4o-mini-2024-07-18"))
    );
    assert_eq!((&mini["requests"], &mini["errors"], &mini["success_rate"]), (&json!(2), &json!(1), &json!(0.5)));
    // No key (client or upstream), no upstream address, no header value.
    let text = health.to_string();
    for secret in [
        UPSTREAM_KEY_A,
        UPSTREAM_KEY_B,
        APP_KEY,
        &main.addr().to_string(),
        &other.addr().to_string(),
        "switchyard-tests",
    ] {
        assert!(!text.contains(secret), "/health shows {secret}: {text}");
    }
}

#[tokio::test]
async fn health_is_degraded_with_an_open_endpoint_and_unavailable_without_a_config() {
    let (main, other) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let yaml = gateway_yaml(&main.base_url(), &other.base_url()).replace(
        "default_model: gpt-4o-mini",
        "default_model: gpt-4o-mini\n  breaker: {consecutive_failures: 1, cooldown: 1m}",
    );
    let proxy = Proxy::start(&yaml).await;
    main.push(Reply::error(500, "server_error", "down"));
    let r = client()
        .post(format!("{}/chat/completions", proxy.url()))
        .bearer_auth(APP_KEY)
        .json(&chat_body("smart", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502, "the attempt failed");
    let health: Value = client().get(format!("{}/health", root(&proxy))).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    let open: Vec<&Value> = health["endpoints"].as_array().unwrap().iter().filter(|e| e["breaker"] == "open").collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["model"], "gpt-4o-mini");

    // A data plane whose control plane never answered holds no config: 503, unavailable.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dp = cluster::data_plane(&format!("http://{dead}"), cache.path(), cluster::NODE_TOKEN, "edge-1").await;
    let r = client().get(format!("http://{}/health", dp.addr)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let health: Value = r.json().await.unwrap();
    schema::validate_in(spec(), "Health", &health).unwrap();
    assert_eq!(
        (&health["status"], &health["config_version"], &health["endpoints"]),
        (&json!("unavailable"), &Value::Null, &json!([]))
    );
    dp.shutdown().await;
}

#[tokio::test]
async fn the_index_the_description_and_the_docs_page_are_served_with_their_types() {
    let (_main, _other, proxy) = start().await;
    let r = client().get(format!("{}/", root(&proxy))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), content_type(&r)), (200, "application/json".to_owned()));
    let index: Value = r.json().await.unwrap();
    schema::validate_in(spec(), "Index", &index).unwrap();
    assert_eq!(index["version"], env!("CARGO_PKG_VERSION"));
    for (link, expected_type) in
        [("health", "application/json"), ("docs", "text/html; charset=utf-8"), ("openapi", "application/json")]
    {
        let r =
            client().get(format!("{}{}", root(&proxy), index["links"][link].as_str().unwrap())).send().await.unwrap();
        assert_eq!((r.status().as_u16(), content_type(&r)), (200, expected_type.to_owned()), "{link}");
    }

    let r = client().get(format!("{}/openapi.json", root(&proxy))).send().await.unwrap();
    assert_eq!(content_type(&r), "application/json");
    let served: Value = r.json().await.unwrap();
    assert_eq!(&served, spec());
    assert_eq!(served["openapi"], "3.1.0");

    let r = client().get(format!("{}/docs", root(&proxy))).send().await.unwrap();
    assert_eq!(content_type(&r), "text/html; charset=utf-8");
    let policy = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"), "{policy}");
    let page = r.text().await.unwrap();
    assert_eq!(page, switchyard_proxy::ops_pages::DOCS);
    assert!(page.contains("fetch(\"openapi.json\""));

    // GET and HEAD only; the refusal is OpenAI-shaped.
    let r = client().head(format!("{}/health", root(&proxy))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client().post(format!("{}/health", root(&proxy))).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let error: Value = r.json().await.unwrap();
    schema::validate("ErrorResponse", &error).unwrap();
    assert_eq!(error["error"]["code"], "method_not_allowed");
    // `/v1/` is still the API's, behind authentication.
    assert_eq!(client().get(format!("{}/v1/", root(&proxy))).send().await.unwrap().status(), 401);
}

/// A body each operation takes.
fn body_for(path: &str) -> Option<Value> {
    let chat = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    Some(match path {
        "/v1/chat/completions" => chat,
        "/v1/completions" => json!({"model": "gpt-4o-mini", "prompt": "hi"}),
        "/v1/embeddings" => json!({"model": "text-embedding-3-small", "input": "hi"}),
        "/v1/responses" => json!({"model": "gpt-4o-mini", "input": "hi"}),
        "/v1/messages" => {
            json!({"model": "gpt-4o-mini", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
        }
        "/v1/messages/count_tokens" => json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        _ => return None,
    })
}

#[tokio::test]
async fn every_operation_described_is_served_and_answers_as_described() {
    let (_main, _other, proxy) = start().await;
    let paths = spec()["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let url = format!("{}{}", root(&proxy), path.replace("{model}", "smart"));
            let request = match method.as_str() {
                "get" => client().get(&url),
                "post" => client().post(&url).json(&body_for(path).unwrap()),
                other => panic!("{other} {path}"),
            };
            let r = request.bearer_auth(APP_KEY).send().await.unwrap();
            let status = r.status().as_u16();
            let ct = content_type(&r);
            let text = r.text().await.unwrap();
            assert_eq!(status, 200, "{method} {path}: {text}");
            // The content type is one the description lists for 200.
            let described = op["responses"]["200"]["content"].as_object().unwrap();
            let media = ct.split(';').next().unwrap();
            assert!(described.contains_key(media), "{method} {path}: {ct} not in {:?}", described.keys());
            // JSON answers match the schema named (for the schemas the gateway writes itself or passes through).
            if media == "application/json"
                && let Some(name) = described[media]["schema"]["$ref"].as_str().map(|r| r.rsplit('/').next().unwrap())
            {
                let value: Value = serde_json::from_str(&text).unwrap();
                schema::validate_in(spec(), name, &value)
                    .unwrap_or_else(|e| panic!("{method} {path} vs {name}: {e:?}"));
            }
        }
    }
    // A path the description does not list is not served as one of these.
    let r = client()
        .post(format!("{}/v1/nothing-here", root(&proxy)))
        .bearer_auth(APP_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
