//! The connection to the control plane that the config stream
//! ([`crate::control`]) and the telemetry reporter ([`crate::telemetry`])
//! both open: which URLs may be used in clear, the TLS settings read once at
//! start, the channel, the node token as bearer, the reconnect backoff and
//! how a failed call is told in logs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::pem::{self, PemFileError, error_chain};
use tokio_rustls::rustls::client::danger::ServerCertVerifier;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity};

/// The largest gRPC message either way (a config snapshot, a telemetry batch).
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
