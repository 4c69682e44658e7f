#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The data plane's listeners against clients without a key: a connection
//! that sends nothing, or half an HTTP/2 preface, is closed after the
//! first-byte timeout; past `--max-connections` a new connection gets a 503
//! `too_many_connections` and is closed while the open ones are served, a
//! closed one gives its slot back; the admin port answers while the API port
//! is full; `/metrics` counts it all.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use switchyard_tests::FakeUpstream;
use switchyard_tests::eventually;
use switchyard_tests::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any first-byte timeout here: a read that waits this long means the server kept the socket.
const PATIENCE: Duration = Duration::from_secs(10);

async fn proxy(upstream: &FakeUpstream, max: usize, first_byte_timeout: Duration) -> Proxy {
    Proxy::start_with(&gateway_yaml(&upstream.base_url(), &upstream.base_url()), |o| {
        o.connections.max = max;
        o.connections.first_byte_timeout = first_byte_timeout;
    })
    .await
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

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_first_byte_timeout() {
    let upstream = FakeUpstream::start().await;
    let proxy = proxy(&upstream, 100, Duration::from_millis(200)).await;
    for addr in [proxy.handle().addr, proxy.handle().admin_addr.unwrap()] {
        let mut idle = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_until_closed(&mut idle).await, b"", "{addr}: closed without an answer");
    }
    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchyard_connections_timed_out_total{listener=\"api\"} 1\n"), "{metrics}");
    assert!(metrics.contains("switchyard_connections_timed_out_total{listener=\"admin\"} 1\n"), "{metrics}");
}

#[tokio::test]
async fn half_an_http2_preface_is_closed_after_the_first_byte_timeout() {
    let upstream = FakeUpstream::start().await;
    let proxy = proxy(&upstream, 100, Duration::from_millis(200)).await;
    // Up to the preface's first line break, and a few bytes more: neither tells HTTP/1 from HTTP/2.
    for partial in [&b"PRI * HTTP/2.0\r\n"[..], b"PRI * HTTP/2.0\r\n\r\nSM"] {
        let mut stream = TcpStream::connect(proxy.handle().addr).await.unwrap();
        stream.write_all(partial).await.unwrap();
        assert_eq!(read_until_closed(&mut stream).await, b"", "{partial:?}");
    }
    // The whole preface starts HTTP/2: prior-knowledge h2c still works.
    let h2 = reqwest::Client::builder().no_proxy().http2_prior_knowledge().build().unwrap();
    let ready = h2.get(format!("http://{}/readyz", proxy.handle().addr)).send().await.unwrap();
    assert_eq!((ready.version(), ready.status().as_u16()), (http::Version::HTTP_2, 200));
}

/// An HTTP/1.1 connection kept open between requests.
async fn open(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    sender
}

/// A chat completion on `connection`: its status.
async fn chat(connection: &mut SendRequest<Full<Bytes>>) -> u16 {
    let body = serde_json::to_vec(&chat_body("gpt-4o-mini", false)).unwrap();
    let request = http::Request::post("/v1/chat/completions")
        .header("host", "switchyard")
        .header("authorization", format!("Bearer {APP_KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = connection.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

/// A fresh connection's answer to `GET /readyz`, until the server closes it.
async fn raw_readyz(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /readyz HTTP/1.1\r\nhost: switchyard\r\nconnection: close\r\n\r\n").await.unwrap();
    String::from_utf8(read_until_closed(&mut stream).await).unwrap()
}

#[tokio::test]
async fn past_max_connections_new_ones_get_a_503_and_the_open_ones_are_served() {
    const MAX: usize = 3;
    let upstream = FakeUpstream::start().await;
    let proxy = proxy(&upstream, MAX, Duration::from_secs(10)).await;
    let addr = proxy.handle().addr;
    let mut held = Vec::new();
    for _ in 0..MAX {
        let mut connection = open(addr).await;
        assert_eq!(chat(&mut connection).await, 200);
        held.push(connection);
    }

    let refused = raw_readyz(addr).await;
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{refused}");
    let body: serde_json::Value = serde_json::from_str(refused.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    assert_eq!(body["error"]["type"], "service_unavailable", "{body}");
    assert!(body["error"].get("param").is_some_and(|p| p.is_null()), "{body}");

    // The admin port has its own bound: readiness answers while the API port is full.
    let ready = client().get(format!("{}/readyz", proxy.admin_url())).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The open connections are served as before.
    for connection in &mut held {
        assert_eq!(chat(connection).await, 200);
    }
    let metrics = client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("switchyard_connections_open{{listener=\"api\"}} {MAX}\n")), "{metrics}");
    assert!(metrics.contains(&format!("switchyard_connections_max{{listener=\"api\"}} {MAX}\n")), "{metrics}");
    assert!(metrics.contains("switchyard_connections_refused_total{listener=\"api\"} 1\n"), "{metrics}");

    // A connection that ends gives its slot back.
    drop(held.pop());
    eventually("a new connection is served once one closed", async || {
        raw_readyz(addr).await.starts_with("HTTP/1.1 200 ")
    })
    .await;
    for connection in &mut held {
        assert_eq!(chat(connection).await, 200);
    }
}
