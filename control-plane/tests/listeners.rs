#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The control plane's listeners against clients without a token: on the
//! gRPC and the http port a connection that sends nothing (or half an
//! HTTP/2 preface) is closed after the first-byte timeout; past the bound a
//! new connection is closed at once (gRPC) or gets a 503 (http) while Admin
//! calls on the open ones go on, and a closed one gives its slot back;
//! `/metrics` counts it; `/healthz` does not tell strangers why the store is down.

mod common;

use common::admin::{ADMIN, KEY, client};
use std::net::SocketAddr;
use std::time::Duration;
use switchyard_control::{ConnectionOptions, ControlPlane, Handle, Options};
use switchyard_proto::pb;
use switchyard_tests::{eventually, eventually_some};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any first-byte timeout here: a read that waits this long means the server kept the socket.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(db: &common::Db, max: usize, http_max: usize, first_byte_timeout: Duration) -> Handle {
    let mut options = Options::new(&db.url, KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.admin_token = Some(ADMIN.to_owned());
    options.connections = ConnectionOptions { max, http_max, first_byte_timeout };
    ControlPlane::start(options).await.unwrap()
}

/// Everything the server sends until it closes the connection (a reset after some bytes ends it too).
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match read {
        Ok(Ok(())) => out,
        Ok(Err(e)) => panic!("read failed before the end of the stream: {e} (after {out:?})"),
        Err(_) => panic!("the server kept the connection open for {PATIENCE:?} (sent {out:?})"),
    }
}

async fn metrics(addr: SocketAddr) -> String {
    let url = format!("http://{addr}/metrics");
    reqwest::Client::builder().no_proxy().build().unwrap().get(url).send().await.unwrap().text().await.unwrap()
}

async fn admin_call_works(cp: &Handle) {
    let mut admin = client(cp, Some(ADMIN)).await;
    admin.list_providers(pb::ListRequest {}).await.unwrap();
}

#[tokio::test]
async fn silent_and_half_preface_connections_are_closed_after_the_first_byte_timeout() {
    let db = common::sqlite();
    let cp = start(&db, 100, 10, Duration::from_millis(200)).await;
    for (addr, first) in [
        (cp.grpc_addr, &b""[..]),
        (cp.grpc_addr, b"PRI * HTTP/2.0\r\n"),
        (cp.grpc_addr, b"PRI * HTTP/2.0\r\n\r\nSM"),
        (cp.http_addr, b""),
        (cp.http_addr, b"PRI * HTTP/2.0\r\n"),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(first).await.unwrap();
        // gRPC's server speaks first (its SETTINGS frame); the close is what counts.
        read_until_closed(&mut stream).await;
    }
    admin_call_works(&cp).await;
    let text = metrics(cp.http_addr).await;
    assert!(text.contains("switchyard_cp_connections_timed_out_total{listener=\"grpc\"} 3\n"), "{text}");
    assert!(text.contains("switchyard_cp_connections_timed_out_total{listener=\"http\"} 2\n"), "{text}");
    cp.shutdown().await;
}

#[tokio::test]
async fn past_the_grpc_bound_new_connections_are_closed_and_admin_calls_go_on() {
    const MAX: usize = 4;
    let db = common::sqlite();
    let cp = start(&db, MAX, 10, Duration::from_secs(10)).await;
    // Idle sockets up to one below the bound: a real Admin call still gets the last slot.
    let mut idle = Vec::new();
    for _ in 0..MAX - 1 {
        idle.push(TcpStream::connect(cp.grpc_addr).await.unwrap());
    }
    let mut admin = client(&cp, Some(ADMIN)).await;
    admin.list_providers(pb::ListRequest {}).await.unwrap();

    // Full: the next connection is closed without a byte.
    let mut refused = TcpStream::connect(cp.grpc_addr).await.unwrap();
    assert_eq!(read_until_closed(&mut refused).await, b"");
    admin.list_providers(pb::ListRequest {}).await.unwrap();
    let text = metrics(cp.http_addr).await;
    assert!(text.contains(&format!("switchyard_cp_connections_open{{listener=\"grpc\"}} {MAX}\n")), "{text}");
    assert!(text.contains("switchyard_cp_connections_refused_total{listener=\"grpc\"} 1\n"), "{text}");

    // A socket that goes gives its slot to the next client.
    drop(idle.pop());
    eventually("a new Admin connection is served once a socket closed", async || {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", cp.grpc_addr)).unwrap();
        match channel.connect().await {
            Ok(channel) => {
                let mut second = pb::admin_client::AdminClient::new(channel);
                // Unauthenticated, but answered: the connection was admitted.
                second.list_providers(pb::ListRequest {}).await.is_err_and(|s| s.code() == tonic::Code::Unauthenticated)
            }
            Err(_) => false,
        }
    })
    .await;
    admin.list_providers(pb::ListRequest {}).await.unwrap();
    drop(idle);
    cp.shutdown().await;
}

#[tokio::test]
async fn past_the_http_bound_new_connections_get_a_503() {
    const HTTP_MAX: usize = 2;
    let db = common::sqlite();
    let cp = start(&db, 100, HTTP_MAX, Duration::from_secs(10)).await;
    let mut idle = Vec::new();
    for _ in 0..HTTP_MAX {
        idle.push(TcpStream::connect(cp.http_addr).await.unwrap());
    }
    let mut refused = TcpStream::connect(cp.http_addr).await.unwrap();
    refused.write_all(b"GET /healthz HTTP/1.1\r\nhost: cp\r\n\r\n").await.unwrap();
    let answer = String::from_utf8(read_until_closed(&mut refused).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 ") && answer.contains("\r\nconnection: close\r\n"), "{answer}");
    // gRPC has its own bound.
    admin_call_works(&cp).await;
    drop(idle.pop());
    let text = eventually_metrics(cp.http_addr).await;
    // At least the one above (polling for a free slot may have been refused too).
    let refused = text
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_cp_connections_refused_total{listener=\"http\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 1), "{text}");
    drop(idle);
    cp.shutdown().await;
}

/// `/metrics` once a slot of the http listener is free again.
async fn eventually_metrics(addr: SocketAddr) -> String {
    eventually_some("the http listener takes a connection again", async || {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        match client.get(format!("http://{addr}/metrics")).send().await {
            Ok(response) if response.status() == 200 => Some(response.text().await.unwrap()),
            _ => None,
        }
    })
    .await
}

#[tokio::test]
async fn healthz_does_not_tell_strangers_why_the_store_is_down() {
    let db = common::sqlite();
    let cp = start(&db, 100, 10, Duration::from_secs(10)).await;
    cp.store.close().await;
    let mut stream = TcpStream::connect(cp.http_addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: cp\r\nconnection: close\r\n\r\n").await.unwrap();
    let answer = String::from_utf8(read_until_closed(&mut stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\nstore unavailable\n"), "only the generic words: {answer}");
    cp.shutdown().await;
}
