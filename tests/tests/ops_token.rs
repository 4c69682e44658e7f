#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `--ops-token-file`: with a token, `/status` and `/metrics` (data plane's
//! admin listener) and `/metrics` (control plane's `--http-listen`) answer
//! only requests bearing it; `/healthz` and `/readyz` stay open. Without one,
//! everything is open.

use reqwest::StatusCode;
use switchyard_proto::ops_token::OpsToken;
use switchyard_tests::FakeUpstream;
use switchyard_tests::cluster::{control_plane_options, document};
use switchyard_tests::harness::{Proxy, client, gateway_yaml};

const TOKEN: &str = "ops-token-0123456789abcdef";

/// The status, `WWW-Authenticate` and body of `GET url` with `bearer`, if any.
async fn get(url: String, bearer: Option<&str>) -> (StatusCode, Option<String>, String) {
    let mut request = client().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (response.status(), challenge, response.text().await.unwrap())
}

async fn assert_refused(url: String) {
    let (status, challenge, body) = get(url.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"switchyard-ops\""), "{url}");
    assert!(body.contains("Authorization: Bearer") && body.contains("--ops-token-file"), "{url}: {body}");
    let (status, challenge, body) = get(url.clone(), Some("ops-token-0123456789abcdeX")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{url}");
    assert!(challenge.is_some(), "{url}");
    assert!(body.contains("not this server's ops token"), "{url}: {body}");
    assert!(!body.contains(TOKEN), "{url}: {body}");
}

async fn data_plane(token: Option<&str>) -> Proxy {
    let yaml = gateway_yaml("http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1");
    let token = token.map(|t| OpsToken::new(t).unwrap());
    Proxy::start_with(&yaml, |options| {
        options.ops_token = token;
        assert!(!format!("{options:?}").contains(TOKEN));
    })
    .await
}

#[tokio::test]
async fn data_plane_admin_is_open_without_a_token() {
    let proxy = data_plane(None).await;
    for path in ["/status", "/metrics", "/healthz", "/readyz"] {
        let (status, challenge, _) = get(format!("{}{path}", proxy.admin_url()), None).await;
        assert_eq!((status, challenge), (StatusCode::OK, None), "{path}");
    }
}

#[tokio::test]
async fn data_plane_status_and_metrics_need_the_token_probes_do_not() {
    let proxy = data_plane(Some(TOKEN)).await;
    let admin = proxy.admin_url();
    for path in ["/status", "/metrics"] {
        assert_refused(format!("{admin}{path}")).await;
        let (status, _, body) = get(format!("{admin}{path}"), Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, _, status) = get(format!("{admin}/status"), Some(TOKEN)).await;
    assert!(serde_json::from_str::<serde_json::Value>(&status).unwrap()["ready"].as_bool().unwrap());
    let (_, _, metrics) = get(format!("{admin}/metrics"), Some(TOKEN)).await;
    assert!(metrics.contains("switchyard_connections_open"), "{metrics}");
    for path in ["/healthz", "/readyz"] {
        let (status, challenge, _) = get(format!("{admin}{path}"), None).await;
        assert_eq!((status, challenge), (StatusCode::OK, None), "{path}");
    }
    // Unknown paths are still unknown, not a token question.
    assert_eq!(get(format!("{admin}/nope"), None).await.0, StatusCode::NOT_FOUND);
}

async fn control_plane(token: Option<&str>) -> (tempfile::TempDir, switchyard_control::Handle) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = FakeUpstream::start().await;
    let mut options = control_plane_options(dir.path(), &document(&upstream, ""), "127.0.0.1:0".parse().unwrap());
    options.ops_token = token.map(|t| OpsToken::new(t).unwrap());
    assert!(!format!("{options:?}").contains(TOKEN));
    let handle = switchyard_control::ControlPlane::start(options).await.unwrap();
    (dir, handle)
}

#[tokio::test]
async fn control_plane_metrics_is_open_without_a_token() {
    let (_dir, cp) = control_plane(None).await;
    for path in ["/metrics", "/healthz"] {
        let (status, challenge, _) = get(format!("http://{}{path}", cp.http_addr), None).await;
        assert_eq!((status, challenge), (StatusCode::OK, None), "{path}");
    }
    cp.shutdown().await;
}

#[tokio::test]
async fn control_plane_metrics_needs_the_token_healthz_does_not() {
    let (_dir, cp) = control_plane(Some(TOKEN)).await;
    let base = format!("http://{}", cp.http_addr);
    assert_refused(format!("{base}/metrics")).await;
    let (status, _, metrics) = get(format!("{base}/metrics"), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("switchyard_control_store_up 1\n"), "{metrics}");
    let (status, challenge, _) = get(format!("{base}/healthz"), None).await;
    assert_eq!((status, challenge), (StatusCode::OK, None));
    cp.shutdown().await;
}
