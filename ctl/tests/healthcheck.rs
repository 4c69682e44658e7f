#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `syctl healthcheck URL`, what container health checks run: exit 0 on a
//! 2xx answer, else one `error:` line naming the URL and what it answered;
//! no control-plane endpoint or token is needed.

mod common;

use common::{Cp, syctl};
use switchyard_ctl::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server on an ephemeral port that answers every connection with `answer`
/// (after reading the request), or holds it open without a word when `None`.
async fn server(answer: Option<&'static [u8]>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                match answer {
                    Some(bytes) => {
                        let _ = socket.write_all(bytes).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_healthy_control_plane_passes_without_a_token() {
    let cp = Cp::start().await;
    // No endpoint, no token: the command needs neither.
    let out = syctl(&Env::new(), &["healthcheck", &format!("http://{}/healthz", cp.handle.http_addr)]).await;
    assert_eq!(out.ok(), "ok: HTTP 200\n");
}

#[tokio::test]
async fn an_unhealthy_answer_fails_with_its_status() {
    let base = server(Some(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nnot ready")).await;
    let url = format!("{base}/readyz");
    let out = syctl(&Env::new(), &["healthcheck", &url]).await;
    assert_eq!(out.error(), format!("{url}: answered HTTP 503"));

    let base = server(Some(b"SSH-2.0-OpenSSH_9.2\r\n")).await;
    let out = syctl(&Env::new(), &["healthcheck", &base]).await;
    assert_eq!(out.error(), format!("{base}: not an HTTP answer"));
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let out = syctl(&Env::new(), &["healthcheck", &url]).await;
    assert_eq!(out.error(), format!("{url}: connection refused"));
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_times_out() {
    let url = format!("{}/healthz", server(None).await);
    let out = syctl(&Env::new(), &["healthcheck", &url]).await;
    assert_eq!(out.error(), format!("{url}: no answer within 5s"));
    let out = syctl(&Env::new(), &["healthcheck", "--timeout", "300ms", &url]).await;
    assert_eq!(out.error(), format!("{url}: no answer within 300ms"));
}

#[tokio::test]
async fn a_bad_url_is_a_usage_error() {
    let out = syctl(&Env::new(), &["healthcheck", "https://127.0.0.1:9901/healthz"]).await;
    assert_eq!(
        out.error(),
        "invalid health-check URL \"https://127.0.0.1:9901/healthz\": expected http://HOST[:PORT][/PATH]"
    );
}
