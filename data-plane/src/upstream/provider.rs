//! A provider as the upstream side reaches it, prepared once per config
//! (by [`crate::runtime::prepare`]): base URL, static headers, timeouts, its
//! client, and its accounts with their auth header and key searcher.
//! Requests read it through the runtime's endpoints.

use super::Client;
use super::scrub;
use http::HeaderValue;
use std::sync::Arc;
use switchyard_proto::model::{OnDisconnect, ProviderKind, StreamUsage, Timeouts};

pub struct ProviderEntry {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    /// Without a trailing slash.
    pub base_url: String,
    pub api_version: Option<String>,
    /// `anthropic`: `max_tokens` when the client gives none.
    pub default_max_tokens: Option<u32>,
    pub headers: http::HeaderMap,
    pub timeouts: Timeouts,
    /// `settings.limits.client_write_timeout`: how long a response waits for
    /// its client to accept bytes before it ends.
    pub client_write: std::time::Duration,
    pub enabled: bool,
    /// Ask for stream usage on the client's behalf (`inject`) or not (`never`).
    pub stream_usage: StreamUsage,
    /// What to do upstream when the client leaves mid-stream.
    pub on_disconnect: OnDisconnect,
    pub client: Client,
    /// What `client` was built from; an equal value lets a reload reuse it.
    pub(crate) client_settings: ClientSettings,
    pub accounts: Vec<AccountEntry>,
}

/// What a provider's upstream client depends on.
#[derive(Clone, PartialEq)]
pub(crate) struct ClientSettings {
    pub proxy: Option<switchyard_proto::model::Secret>,
    pub connect_timeout: std::time::Duration,
    /// `Some(origin)` for an HTTP/2 pool, which connects to that origin only;
    /// `None` for HTTP/1.1 (reqwest serves any URL).
    pub http2_origin: Option<String>,
}

pub struct AccountEntry {
    pub name: Arc<str>,
    pub enabled: bool,
    pub weight: u32,
    /// The auth header name and its value (marked sensitive).
    pub auth: (http::HeaderName, HeaderValue),
    /// The raw key (endpoints sharing an upstream account are told apart by it).
    pub secret: switchyard_proto::model::Secret,
    /// The key's searcher, to mask it in every upstream body.
    pub scrub: scrub::Secret,
}
