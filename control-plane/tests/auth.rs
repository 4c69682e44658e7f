#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gRPC port against callers without a valid token: refused from the
//! headers, before the body is read or decompressed (a gzip bomb costs the
//! control plane nothing), with per-service message limits; a wrong token
//! writes nothing; a revoked bootstrap token stays revoked across restarts.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::admin::*;
use http_body_util::BodyExt;
use switchyard_proto::pb::{self, ObjectKind};
use tonic::Code;
use tonic::transport::Channel;
use tower::ServiceExt;

/// One raw gRPC call: `frame` is sent as the whole request body, after a
/// 5-byte prefix declaring `declared` bytes (`compressed` sets the flag and
/// `grpc-encoding: gzip`). Returns the call's status.
async fn raw_call(
    channel: &Channel,
    path: &str,
    token: Option<&str>,
    compressed: bool,
    declared: u32,
    frame: &[u8],
) -> tonic::Status {
    let mut body = BytesMut::new();
    body.put_u8(u8::from(compressed));
    body.put_u32(declared);
    body.put_slice(frame);
    let mut request = http::Request::post(format!("http://switchyard{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if compressed {
        request = request.header("grpc-encoding", "gzip");
    }
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request.body(tonic::body::Body::new(http_body_util::Full::new(Bytes::from(body)))).unwrap();
    let response = channel.clone().oneshot(request).await.unwrap();
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return status;
    }
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    tonic::Status::from_header_map(&trailers).unwrap_or_else(|| tonic::Status::ok(""))
}

async fn channel(handle: &switchyard_control::Handle) -> Channel {
    Channel::from_shared(format!("http://{}", handle.grpc_addr)).unwrap().connect().await.unwrap()
}

#[tokio::test]
async fn tokens_are_checked_before_a_message_is_read_or_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(&format!("sqlite://{}/cp.db", dir.path().display()), Some(DOCUMENT)).await;
    let channel = channel(&handle).await;
    let garbage = [0x1f, 0x8b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let apply = "/switchyard.v1.Admin/Apply";
    // Without or with a wrong token, neither a broken gzip body nor an
    // oversized message gets as far as the decoder.
    for token in [None, Some("wrong-token-0123456789"), Some(NODE_TOKEN)] {
        let status = raw_call(&channel, apply, token, true, garbage.len() as u32, &garbage).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status:?}");
        let status = raw_call(&channel, apply, token, false, 60 << 20, b"").await;
        assert_eq!(status.code(), Code::Unauthenticated, "{token:?}: {status:?}");
    }
    for path in ["/switchyard.v1.ConfigDiscovery/Stream", "/switchyard.v1.Telemetry/Report"] {
        let status = raw_call(&channel, path, Some(ADMIN), true, garbage.len() as u32, &garbage).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{path}: an admin token is not a node token: {status:?}");
    }
    // With a valid token the limits are per service: an Admin call may carry a
    // document (16 MiB), a node's config stream only small messages.
    let status = raw_call(&channel, apply, Some(ADMIN), false, 20 << 20, b"").await;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let status = raw_call(&channel, apply, Some(ADMIN), true, garbage.len() as u32, &garbage).await;
    assert_eq!(status.code(), Code::Internal, "a valid caller's broken gzip reaches the decoder: {status:?}");
    let stream = "/switchyard.v1.ConfigDiscovery/Stream";
    let status = raw_call(&channel, stream, Some(NODE_TOKEN), false, 2 << 20, b"").await;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(handle.store.revision().await.unwrap(), 1, "only the bootstrap wrote");
    drop(channel);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_token_is_read_not_written_on_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(&format!("sqlite://{}/cp.db", dir.path().display()), Some(DOCUMENT)).await;
    let mut admin = client(&handle, Some(ADMIN)).await;
    let last_used = async |admin: &mut Client| {
        let tokens = admin.list_admin_tokens(pb::ListRequest {}).await.unwrap().into_inner().tokens;
        tokens.iter().find(|t| t.name == "bootstrap").unwrap().last_used_ms
    };
    let first = last_used(&mut admin).await;
    assert!(first.is_some(), "the first use is recorded");
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(last_used(&mut admin).await, first, "later uses within a minute write nothing");
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn a_revoked_bootstrap_token_stays_revoked_after_a_restart() {
    for db in common::databases().await {
        let handle = start(&db.url, Some(DOCUMENT)).await;
        let mut admin = client(&handle, Some(ADMIN)).await;
        let ops = pb::CreateAdminTokenRequest { name: "ops".into(), role: pb::AdminRole::Admin as i32 };
        let ops = admin.create_admin_token(ops).await.unwrap().into_inner().token;
        admin.revoke_admin_token(object(ObjectKind::AdminToken, "", "bootstrap")).await.unwrap();
        let mut node = client(&handle, Some(&ops)).await;
        node.revoke_node_token(object(ObjectKind::NodeToken, "", "bootstrap")).await.unwrap();
        drop((admin, node));
        handle.shutdown().await;

        // The same --admin-token-file and --node-token-file again.
        let handle = start(&db.url, Some(DOCUMENT)).await;
        let status = client(&handle, Some(ADMIN)).await.list_providers(pb::ListRequest {}).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{}: {status:?}", db.label);
        let mut ops = client(&handle, Some(&ops)).await;
        let tokens = ops.list_node_tokens(pb::ListRequest {}).await.unwrap().into_inner().tokens;
        assert!(tokens.iter().find(|t| t.name == "bootstrap").unwrap().revoked, "{}", db.label);
        let channel = channel(&handle).await;
        let status = raw_call(&channel, "/switchyard.v1.Telemetry/Report", Some(NODE_TOKEN), false, 0, b"").await;
        assert_eq!(status.code(), Code::Unauthenticated, "{}: {status:?}", db.label);
        drop((ops, channel));
        handle.shutdown().await;

        // A different token in the file replaces the revoked one.
        let mut options = switchyard_control::Options::new(&db.url, KEY);
        options.http_listen = "127.0.0.1:0".parse().unwrap();
        options.grpc_listen = "127.0.0.1:0".parse().unwrap();
        options.admin_token = Some("a-new-bootstrap-token-0123".into());
        let handle = switchyard_control::ControlPlane::start(options).await.unwrap();
        let mut fresh = client(&handle, Some("a-new-bootstrap-token-0123")).await;
        assert!(fresh.list_providers(pb::ListRequest {}).await.is_ok(), "{}", db.label);
        drop(fresh);
        handle.shutdown().await;
    }
}
