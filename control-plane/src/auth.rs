//! Who may call the gRPC port: every call's bearer token is checked here,
//! from its headers, before a byte of its body is read or decompressed, so a
//! caller without a valid token costs a header parse and one indexed read.
//!
//! `Admin` takes admin tokens (roles `admin` and `viewer`);
//! `ConfigDiscovery` and `Telemetry` take node tokens. What a call proved
//! travels to its service in the request's extensions: a [`Caller`] or a
//! [`NodeGrant`].

use crate::error::store_status;
use crate::store::{ANY_NODE, Role, Store};
use ::http::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use switchyard_proto::pb::{admin_server, config_discovery_server, telemetry_server};
use tonic::Status;

/// Who is calling Admin: the admin token's name (the audit log's actor) and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// This caller, if allowed to write.
    pub fn writer(self) -> Result<Caller, Status> {
        if self.role != Role::Admin {
            return Err(Status::permission_denied(format!(
                "token {:?} has role viewer: it can read but not change anything",
                self.name
            )));
        }
        Ok(self)
    }
}

/// What a node token allows: the node id it is bound to ([`ANY_NODE`] for the bootstrap token).
#[derive(Debug, Clone)]
pub struct NodeGrant {
    pub bound: String,
}

impl NodeGrant {
    pub fn allows(&self, node_id: &str) -> bool {
        self.bound == ANY_NODE || self.bound == node_id
    }

    /// Refused unless this token may speak for `node_id`.
    pub fn check(&self, node_id: &str) -> Result<(), Status> {
        if self.allows(node_id) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!("this token is not valid for node id {:?}", bounded(node_id))))
        }
    }
}

/// What a service reads from a request the layer let through.
pub fn identity<I: Clone + Send + Sync + 'static, T>(request: &tonic::Request<T>) -> Result<I, Status> {
    // Only reachable without the layer (a misassembled server): refuse rather than trust.
    request.extensions().get::<I>().cloned().ok_or_else(|| Status::unauthenticated("not authenticated"))
}

/// The bearer token of a request's headers.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Status> {
    let value =
        headers.get(::http::header::AUTHORIZATION).ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
    let value = value.to_str().map_err(|_| Status::unauthenticated("malformed authorization header"))?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim);
    token.filter(|t| !t.is_empty()).ok_or_else(|| Status::unauthenticated("expected 'Bearer TOKEN'"))
}

/// Longer than any real token: refused without a lookup.
const MAX_TOKEN_LEN: usize = 512;

/// Which kind of token a gRPC path needs.
enum Needs {
    Admin,
    Node,
    /// Not one of ours: the router answers `UNIMPLEMENTED` without reading the body.
    Nothing,
}

fn needs(path: &str) -> Needs {
    let service = path.strip_prefix('/').and_then(|p| p.split_once('/')).map_or("", |(service, _)| service);
    match service {
        admin_server::SERVICE_NAME => Needs::Admin,
        config_discovery_server::SERVICE_NAME | telemetry_server::SERVICE_NAME => Needs::Node,
        _ => Needs::Nothing,
    }
}

/// The tower layer in front of every gRPC service.
#[derive(Clone)]
pub struct AuthLayer {
    store: Arc<Store>,
}

impl AuthLayer {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Checks the call's token and records what it proved in `extensions`.
    async fn admit(&self, path: &str, headers: &HeaderMap, extensions: &mut ::http::Extensions) -> Result<(), Status> {
        let needs = needs(path);
        if let Needs::Nothing = needs {
            return Ok(());
        }
        let token = bearer(headers)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Status::unauthenticated("unknown or revoked token"));
        }
        match needs {
            Needs::Admin => {
                let (name, role) = self
                    .store
                    .admin_caller(token)
                    .await
                    .map_err(store_status)?
                    .ok_or_else(|| Status::unauthenticated("unknown or revoked admin token"))?;
                extensions.insert(Caller { name, role });
            }
            Needs::Node => {
                let bound = self
                    .store
                    .node_token_binding(token)
                    .await
                    .map_err(store_status)?
                    .ok_or_else(|| Status::unauthenticated("unknown or revoked node token"))?;
                extensions.insert(NodeGrant { bound });
            }
            Needs::Nothing => {}
        }
        Ok(())
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated { auth: self.clone(), inner }
    }
}

/// A service behind [`AuthLayer`].
#[derive(Clone)]
pub struct Authenticated<S> {
    auth: AuthLayer,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, R> tower::Service<::http::Request<B>> for Authenticated<S>
where
    S: tower::Service<::http::Request<B>, Response = ::http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = ::http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: ::http::Request<B>) -> Self::Future {
        // The ready service goes with this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match auth.admit(parts.uri.path(), &parts.headers, &mut parts.extensions).await {
                Ok(()) => inner.call(::http::Request::from_parts(parts, body)).await,
                // The body is dropped unread.
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// A client-supplied name, cut to a length fit for an error message.
pub fn bounded(s: &str) -> &str {
    const MAX: usize = 128;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_tokens() {
        assert!(matches!(needs("/switchyard.v1.Admin/Apply"), Needs::Admin));
        assert!(matches!(needs("/switchyard.v1.ConfigDiscovery/Stream"), Needs::Node));
        assert!(matches!(needs("/switchyard.v1.Telemetry/Report"), Needs::Node));
        assert!(matches!(needs("/switchyard.v1.Admin"), Needs::Nothing));
        assert!(matches!(needs("/grpc.health.v1.Health/Check"), Needs::Nothing));
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers).unwrap_err().code(), tonic::Code::Unauthenticated);
        headers.insert("authorization", "Bearer  tok-0123 ".parse().unwrap());
        assert_eq!(bearer(&headers).unwrap(), "tok-0123");
        headers.insert("authorization", "Basic x".parse().unwrap());
        assert!(bearer(&headers).is_err());
        assert_eq!(bounded(&"é".repeat(100)).len(), 128);
    }
}
