//! Control-plane mode: subscribe to `ConfigDiscovery.Stream`, apply each
//! resource with the same prepare -> swap as file mode, ACK or NACK it, and
//! keep the last ACKed snapshot on disk. Reconnects with capped, jittered
//! exponential backoff across the control-plane URLs; serves throughout,
//! from the last-known-good snapshot when no control plane answers.

use crate::cache::Cache;
use crate::runtime::Overlay;
use crate::source::install;
use crate::state::Shared;
use crate::telemetry::TelemetryOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::canonical::{ContentHash, runtime_hash};
use switchyard_proto::model::{Config, RuntimeState};
use switchyard_proto::packed::{self, Unpacked};
use switchyard_proto::pb::config_discovery_client::ConfigDiscoveryClient;
use switchyard_proto::pb::{
    self, DiscoveryRequest, DiscoveryResponse, ResourceType, ResourceVersion, discovery_request,
};
use switchyard_proto::pem::{self, PemFileError, error_chain};
use tokio::sync::{mpsc, watch};
use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity};

pub(crate) const MAX_MESSAGE: usize = 64 << 20;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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

/// TLS for `https://` control-plane URLs (`http://` ones ignore it). The
/// control plane's certificate must name the URL's host and chain to the
/// platform's roots or to `ca`.
#[derive(Debug, Clone, Default)]
pub struct ControlPlaneTls {
    /// `--control-plane-ca`: a CA (PEM) trusted for the control plane, besides the platform's roots.
    pub ca: Option<PathBuf>,
    /// `--client-cert`: a certificate chain (PEM, leaf first) presented to the control plane (mTLS).
    pub cert: Option<PathBuf>,
    /// `--client-key`: the private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
}

/// [`ControlPlaneTls`] read and checked once, at start: every session uses it.
#[derive(Clone)]
pub struct ClientTls {
    /// Holds the client key: no Debug.
    config: ClientTlsConfig,
    verifier: Arc<dyn ServerCertVerifier>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("--client-cert {} with --client-key {}: {reason}", cert.display(), key.display())]
    Pair { cert: PathBuf, key: PathBuf, reason: String },
    #[error("--client-cert and --client-key go together")]
    Half,
    #[error("TLS to https:// control planes: {0}")]
    Setup(String),
}

/// An `http://` control-plane URL to a host that is not loopback, not allowed.
#[derive(Debug, thiserror::Error)]
#[error(
    "--control-plane {0}: http:// to a host that is not loopback would send the node token and receive upstream \
     keys in clear; use https://, or pass --allow-insecure-control-plane on a network you trust"
)]
pub struct InsecureUrl(pub String);

/// Refuses `http://` URLs to hosts that are not loopback unless `allowed`
/// (then each is warned about once, at start).
pub fn check_cleartext(urls: &[String], allowed: bool) -> Result<(), InsecureUrl> {
    for url in urls.iter().filter(|url| switchyard_proto::cleartext::is_cleartext_remote(url)) {
        if !allowed {
            return Err(InsecureUrl(url.clone()));
        }
        tracing::warn!(control_plane = %url, "node token and upstream keys travel in clear (--allow-insecure-control-plane)");
    }
    Ok(())
}

/// Reads and checks the TLS files when some control-plane URL is `https://`.
pub fn client_tls(urls: &[String], tls: &ControlPlaneTls) -> Result<Option<ClientTls>, TlsError> {
    if !urls.iter().any(|url| is_https(url)) {
        if tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
            tracing::warn!(
                "--control-plane-ca, --client-cert and --client-key apply to https:// control-plane URLs; none is"
            );
        }
        return Ok(None);
    }
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider()));
    let extra = match &tls.ca {
        Some(path) => pem::certificates("--control-plane-ca", path)?.1,
        None => Vec::new(),
    };
    // The platform's roots, as reqwest and the upstream pool verify, plus `--control-plane-ca`.
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider).map_err(|e| match &tls.ca {
            Some(path) => TlsError::File(PemFileError::new("--control-plane-ca", path, e.to_string())),
            None => {
                TlsError::Setup(format!("cannot load the platform's CA certificates ({e}); give --control-plane-ca"))
            }
        })?;
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(verifier);
    let mut config = ClientTlsConfig::new().timeout(CONNECT_TIMEOUT);
    let pair = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = pem::certificates("--client-cert", cert)?.0;
            config = config.identity(Identity::from_pem(chain, pem::private_key("--client-key", key)?));
            Some((cert, key))
        }
        (None, None) => None,
        _ => return Err(TlsError::Half),
    };
    // Builds the rustls config once: a key that does not belong to its certificate fails here.
    Endpoint::from_static("https://localhost").tls_config_with_verifier(config.clone(), verifier.clone()).map_err(
        |e| match pair {
            Some((cert, key)) => TlsError::Pair { cert: cert.clone(), key: key.clone(), reason: error_chain(&e) },
            None => TlsError::Setup(error_chain(&e)),
        },
    )?;
    Ok(Some(ClientTls { config, verifier }))
}

fn is_https(url: &str) -> bool {
    url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

pub(crate) fn status_text(s: &tonic::Status) -> String {
    let text = format!("{}: {}", s.code(), s.message());
    match std::error::Error::source(s) {
        Some(source) if source.to_string() == s.message() => match source.source() {
            Some(source) => format!("{text}: {}", error_chain(source)),
            None => text,
        },
        Some(source) => format!("{text}: {}", error_chain(source)),
        None => text,
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

/// `tls`: from [`client_tls`], when some URL is `https://`.
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

/// Capped, jittered exponential backoff between attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: BACKOFF_START }
    }
}

impl Backoff {
    pub(crate) fn reset(&mut self) {
        self.next = BACKOFF_START;
    }

    /// Sleeps the current backoff plus up to half of it again, then doubles it.
    pub(crate) async fn wait(&mut self) {
        let jitter = fastrand::u64(0..=u64::try_from(self.next.as_millis() / 2).unwrap_or(0));
        tokio::time::sleep(self.next + Duration::from_millis(jitter)).await;
        self.next = (self.next * 2).min(BACKOFF_CAP);
    }
}

/// A channel to the control plane at `url` (verified TLS for `https://`).
pub(crate) async fn connect(url: &str, tls: Option<&ClientTls>) -> Result<Channel, String> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| format!("bad URL: {}", error_chain(&e)))?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10));
    if is_https(url) {
        // Verified against the URL's host.
        let tls = tls.ok_or_else(|| "https:// without TLS settings".to_owned())?;
        endpoint = endpoint
            .tls_config_with_verifier(tls.config.clone(), tls.verifier.clone())
            .map_err(|e| format!("TLS: {}", error_chain(&e)))?;
    }
    endpoint.connect().await.map_err(|e| format!("connect: {}", error_chain(&e)))
}

/// `request` with the node token as its bearer token.
pub(crate) fn authorize<T>(mut request: tonic::Request<T>, token: &str) -> Result<tonic::Request<T>, String> {
    let auth =
        format!("Bearer {}", token.trim()).parse().map_err(|_| "the node token is not a valid header".to_owned())?;
    request.metadata_mut().insert("authorization", auth);
    Ok(request)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn http_to_a_remote_control_plane_is_refused_unless_allowed() {
        let mixed = urls(&["https://cp-1.internal:50051", "http://cp-2.internal:50051"]);
        let refused = check_cleartext(&mixed, false).unwrap_err();
        assert_eq!(refused.0, "http://cp-2.internal:50051");
        let message = refused.to_string();
        assert!(message.contains("--allow-insecure-control-plane") && message.contains("in clear"), "{message}");
        assert!(check_cleartext(&mixed, true).is_ok());
    }

    #[test]
    fn loopback_http_and_https_need_no_flag() {
        let fine = urls(&["http://127.0.0.1:50051", "http://localhost:50051", "http://[::1]:1", "https://10.0.0.5:1"]);
        assert!(check_cleartext(&fine, false).is_ok());
    }
}
