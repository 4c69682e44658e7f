//! Control-plane mode: subscribe to `ConfigDiscovery.Stream`, apply each
//! resource with the same prepare -> swap as file mode, ACK or NACK it, and
//! keep the last ACKed snapshot on disk. Reconnects with capped, jittered
//! exponential backoff across the control-plane URLs; serves throughout,
//! from the last-known-good snapshot when no control plane answers.

use crate::cache::Cache;
use crate::cp_client::{Backoff, ClientTls, ControlPlaneTls, MAX_MESSAGE, authorize, connect, status_text};
use crate::runtime::Overlay;
use crate::source::install;
use crate::state::Shared;
use crate::telemetry::TelemetryOptions;
use std::sync::Arc;
use switchyard_proto::canonical::{ContentHash, runtime_hash};
use switchyard_proto::model::{Config, RuntimeState};
use switchyard_proto::packed::{self, Unpacked};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{
    self, DiscoveryRequest, DiscoveryResponse, ResourceType, ResourceVersion, discovery_request,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Clone)]
pub struct ControlPlaneOptions {
    pub urls: Vec<String>,
    /// The node token (a secret: never in Debug output).
    pub token: String,
    pub cache_dir: std::path::PathBuf,
    pub node: pb::Node,
    /// For `https://` URLs.
    pub tls: ControlPlaneTls,
    /// The telemetry reporter's bounds and intervals.
    pub telemetry: TelemetryOptions,
    /// `--allow-insecure-control-plane`: `http://` URLs to hosts that are not loopback are allowed.
    pub allow_insecure: bool,
}

impl std::fmt::Debug for ControlPlaneOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneOptions")
            .field("urls", &self.urls)
            .field("token", &"<redacted>")
            .field("cache_dir", &self.cache_dir)
            .field("node", &self.node.id)
            .field("tls", &self.tls)
            .field("telemetry", &self.telemetry)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

/// Loads the last-known-good snapshot, if any, so the node serves at once.
pub fn restore(shared: &Shared, cache: &Cache) {
    for name in ["config", "runtime"] {
        match cache.load(name) {
            Ok(Some(response)) => {
                if let Err(e) = apply(shared, &response) {
                    tracing::warn!(error = %e, "cached {name} refused");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the last-known-good {name}"),
        }
    }
}

/// `tls`: from [`crate::cp_client::client_tls`], when some URL is `https://`.
pub async fn run(
    options: ControlPlaneOptions,
    tls: Option<ClientTls>,
    shared: Arc<Shared>,
    cache: Cache,
    mut stop: watch::Receiver<bool>,
) {
    let cache = Arc::new(cache);
    let mut backoff = Backoff::default();
    for url in options.urls.iter().cycle() {
        let session = session(url, &options, tls.as_ref(), &shared, &cache);
        let served = tokio::select! {
            result = session => result,
            _ = stop.wait_for(|s| *s) => return,
        };
        match served {
            // The stream ended after it worked: try again soon.
            Ok(()) => backoff.reset(),
            Err(e) => {
                tracing::warn!(control_plane = %url, error = %e, "control plane unavailable; serving the last-known-good config")
            }
        }
        tokio::select! {
            _ = backoff.wait() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// What this node holds, for its hello.
fn held(shared: &Shared) -> Vec<ResourceVersion> {
    let Some(rt) = shared.runtime.load_full() else { return Vec::new() };
    let mut held = vec![ResourceVersion {
        r#type: ResourceType::Config as i32,
        version: rt.version,
        hash: rt.hash.as_bytes().to_vec(),
    }];
    if let Some(hash) = rt.overlay.hash {
        held.push(ResourceVersion {
            r#type: ResourceType::Runtime as i32,
            version: rt.overlay.version,
            hash: hash.as_bytes().to_vec(),
        });
    }
    held
}

async fn session(
    url: &str,
    options: &ControlPlaneOptions,
    tls: Option<&ClientTls>,
    shared: &Shared,
    cache: &Arc<Cache>,
) -> Result<(), String> {
    let channel = connect(url, tls).await?;
    let mut client = ConfigDiscoveryClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let (tx, rx) = mpsc::channel(8);
    let hello = pb::Hello { node: Some(options.node.clone()), held: held(shared) };
    let _ = tx.send(DiscoveryRequest { kind: Some(discovery_request::Kind::Hello(hello)) }).await;
    let request = authorize(tonic::Request::new(ReceiverStream::new(rx)), &options.token)?;
    let mut responses = client.stream(request).await.map_err(|s| status_text(&s))?.into_inner();
    tracing::info!(control_plane = %url, "subscribed");
    shared.mark_fresh();
    // However the session ends, the snapshot is unconfirmed from then on.
    let _unconfirmed = Unconfirmed(shared);
    while let Some(response) = responses.message().await.map_err(|s| status_text(&s))? {
        let kind = response.version.as_ref().map_or(0, |v| v.r#type);
        let answer = match apply(shared, &response) {
            Ok(name) => {
                // File I/O with fsync: off the runtime's threads.
                let (cache, saved) = (cache.clone(), response.clone());
                match tokio::task::spawn_blocking(move || cache.save(name, &saved)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the last-known-good snapshot"),
                    Err(e) => tracing::warn!(error = %e, "cannot write the last-known-good snapshot"),
                }
                discovery_request::Kind::Ack(pb::Ack {
                    applied: response.version.clone(),
                    response_nonce: response.nonce.clone(),
                })
            }
            Err(error) => {
                tracing::error!(error = %error, "snapshot refused; still serving the previous one");
                shared.last_reload_error.store(Some(Arc::new(error.clone())));
                discovery_request::Kind::Nack(pb::Nack {
                    r#type: kind,
                    response_nonce: response.nonce.clone(),
                    error_detail: error,
                    held: held(shared).into_iter().find(|v| v.r#type == kind),
                })
            }
        };
        if tx.send(DiscoveryRequest { kind: Some(answer) }).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Marks the snapshot unconfirmed when dropped (a session ended).
struct Unconfirmed<'a>(&'a Shared);

impl Drop for Unconfirmed<'_> {
    fn drop(&mut self) {
        self.0.mark_stale();
    }
}

/// Applies one resource; returns its cache name.
fn apply(shared: &Shared, response: &DiscoveryResponse) -> Result<&'static str, String> {
    let version = response.version.as_ref().map_or(0, |v| v.version);
    let current = shared.runtime.load_full();
    match packed::unpack(response, MAX_MESSAGE)? {
        Unpacked::Config(wire) => {
            let config = Config::try_from(*wire).map_err(|e| e.to_string().replace('\n', "; "))?;
            let overlay = current.as_ref().map(|rt| rt.overlay.clone()).unwrap_or_default();
            install(shared, Arc::new(config), version, overlay).map_err(|e| e.to_string())?;
            tracing::info!(version, "config applied");
            shared.last_reload_error.store(None);
            Ok("config")
        }
        Unpacked::Runtime(wire) => {
            let state = RuntimeState::try_from(wire).map_err(|e| e.to_string().replace('\n', "; "))?;
            let hash: ContentHash = runtime_hash(&state);
            let overlay = Arc::new(Overlay { version, hash: Some(hash), state });
            // Without a Config yet, keep the overlay for when it arrives.
            let Some(rt) = current else { return Err("a Runtime before any Config".into()) };
            install(shared, rt.config.clone(), rt.version, overlay).map_err(|e| e.to_string())?;
            tracing::info!(version, "runtime applied");
            Ok("runtime")
        }
    }
}
