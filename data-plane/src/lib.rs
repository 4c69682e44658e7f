//! Switchyard's data plane (`switchyard-proxy`): an OpenAI-compatible proxy.
//!
//! Request flow (module by module): [`server`] accepts connections (HTTP/1.1
//! and h2c, or TLS from [`tls`]; header timeouts, graceful shutdown) -> [`proxy`] admits,
//! authenticates, applies the key's budget and rate limit ([`limit`]), parses,
//! routes and forwards, reading one [`runtime::Runtime`] per request ->
//! [`upstream`] builds the provider's request and sends it (reqwest over
//! HTTP/1.1, or the HTTP/2 pool) -> [`sse`] passes streams through
//! event by event. Config flow: [`source`] reads and watches gateway.yaml ->
//! `runtime::prepare` -> one `ArcSwap` store.

pub mod admin;
pub mod balance;
pub mod body;
pub mod breaker;
pub mod budget;
pub mod cache;
pub mod check;
pub mod control;
pub mod cp_client;
pub mod durable;
pub mod error;
pub mod health;
pub mod health_board;
pub mod ingress;
pub mod limit;
pub mod metrics;
pub mod ops_pages;
pub mod proxy;
pub mod runtime;
pub mod server;
pub mod source;
pub mod sse;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod translate;
pub mod upstream;
pub mod usage;
pub mod wall;

mod start;

/// For the fuzz targets (`fuzz/`, outside the workspace): what they need that is not public.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::proxy::json::{Edit, Probe, apply, insert_model, probe, replace_model};
}

pub use control::ControlPlaneOptions;
pub use start::{ConnectionOptions, DataPlane, Handle, Options, Source, StartError, UsageOptions};
