//! TLS on the data plane's listeners (rustls on aws-lc-rs, TLS 1.2 and 1.3):
//! `--tls-cert`/`--tls-key` on the client port, `--admin-tls-cert`/
//! `--admin-tls-key` on the admin port. ALPN offers `h2` and `http/1.1`; the
//! server ([`crate::server`]) then serves whichever the client speaks. The
//! handshake has a deadline, a failed one is counted and logged at debug, and
//! the certificate is reloaded when its files change ([`certs`]), without a
//! restart and without touching open connections.

pub mod certs;
mod x509;

use certs::Certs;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use switchyard_proto::pem::{PemFileError, error_chain};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls};

/// Default `--tls-reload-interval`.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Default `--tls-handshake-timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Which listeners serve TLS, and how.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// `--tls-cert`, `--tls-key`: the client port (`--listen`).
    pub api: Option<TlsFiles>,
    /// `--admin-tls-cert`, `--admin-tls-key`: the admin port.
    pub admin: Option<TlsFiles>,
    /// `--tls-reload-interval`: how often the files are read again.
    pub reload_interval: Duration,
    /// `--tls-handshake-timeout`: a handshake not done within this is dropped.
    pub handshake_timeout: Duration,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            api: None,
            admin: None,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// A listener that can serve TLS: its name in metrics and logs, and the flags naming its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Api,
    Admin,
}

impl Port {
    /// The `listener` label, as on `switchyard_connections_*`.
    pub fn name(self) -> &'static str {
        match self {
            Port::Api => "api",
            Port::Admin => "admin",
        }
    }

    fn flags(self) -> (&'static str, &'static str) {
        match self {
            Port::Api => ("--tls-cert", "--tls-key"),
            Port::Admin => ("--admin-tls-cert", "--admin-tls-key"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("{cert_flag} {} with {key_flag} {}: {reason}", cert.display(), key.display())]
    Pair { cert_flag: &'static str, key_flag: &'static str, cert: PathBuf, key: PathBuf, reason: String },
    #[error("TLS on the {port} listener: {reason}")]
    Setup { port: &'static str, reason: String },
}

impl TlsError {
    fn pair(port: Port, files: &TlsFiles, reason: String) -> Self {
        let (cert_flag, key_flag) = port.flags();
        Self::Pair { cert_flag, key_flag, cert: files.cert.clone(), key: files.key.clone(), reason }
    }
}

/// One listener's TLS: the acceptor over its reloading certificate, and what happened at handshakes.
pub struct ServerTls {
    port: Port,
    certs: Arc<Certs>,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshake_timeouts: AtomicU64,
    handshake_errors: AtomicU64,
}

impl ServerTls {
    /// Reads and checks `files` (an error stops the process at start) and
    /// starts reading them again every `options.reload_interval` until `stopped`.
    pub fn start(
        port: Port,
        files: TlsFiles,
        options: &TlsOptions,
        stopped: watch::Receiver<bool>,
    ) -> Result<(Arc<Self>, JoinHandle<()>), TlsError> {
        // One crypto provider for the whole process (aws-lc-rs, as reqwest and the upstream pool use).
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let (certs, seen) = Certs::load(port, files, provider.clone())?;
        let certs = Arc::new(certs);
        let serving = certs.serving();
        tracing::info!(
            listener = port.name(),
            cert = %certs.files().cert.display(),
            fingerprint = %serving.fingerprint,
            not_after = %serving.expiry(),
            "TLS certificate loaded"
        );
        let setup = |e: rustls::Error| TlsError::Setup { port: port.name(), reason: error_chain(&e) };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(setup)?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tls = Arc::new(Self {
            port,
            certs: certs.clone(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: options.handshake_timeout,
            handshake_timeouts: AtomicU64::new(0),
            handshake_errors: AtomicU64::new(0),
        });
        let watcher = tokio::spawn(certs.watch(seen, options.reload_interval, stopped));
        Ok((tls, watcher))
    }

    pub fn port(&self) -> Port {
        self.port
    }

    pub fn certs(&self) -> &Certs {
        &self.certs
    }

    /// Handshakes dropped at the handshake timeout.
    pub fn handshake_timeouts(&self) -> u64 {
        self.handshake_timeouts.load(Relaxed)
    }

    /// Handshakes that failed (not TLS, no protocol in common, closed midway).
    pub fn handshake_errors(&self) -> u64 {
        self.handshake_errors.load(Relaxed)
    }

    /// The handshake on `stream`, within the handshake timeout; `None` when
    /// it failed (counted, and logged at debug: a client's failure is no
    /// error of the server's).
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> Option<TlsStream<S>> {
        let listener = self.port.name();
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Some(stream),
            // The listener's first-bytes deadline (no ClientHello in time): counted there.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => None,
            Ok(Err(e)) => {
                self.handshake_errors.fetch_add(1, Relaxed);
                tracing::debug!(listener, error = %error_chain(&e), "TLS handshake failed");
                None
            }
            Err(_) => {
                self.handshake_timeouts.fetch_add(1, Relaxed);
                tracing::debug!(listener, timeout = ?self.handshake_timeout, "TLS handshake timed out");
                None
            }
        }
    }
}

/// The Prometheus text for the TLS listeners, labelled `listener`.
pub fn render_metrics(out: &mut String, listeners: &[Arc<ServerTls>]) {
    if listeners.is_empty() {
        return;
    }
    let head = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP switchyard_tls_{name} {help}\n# TYPE switchyard_tls_{name} {kind}");
    };
    head(
        out,
        "certificate_expiry_timestamp_seconds",
        "gauge",
        "When the serving certificate expires (its notAfter, Unix time), by listener.",
    );
    for t in listeners {
        if let Some(not_after) = t.certs.serving().not_after {
            let _ = writeln!(
                out,
                "switchyard_tls_certificate_expiry_timestamp_seconds{{listener=\"{}\"}} {}",
                t.port.name(),
                not_after.as_second()
            );
        }
    }
    head(
        out,
        "reloads_total",
        "counter",
        "Changed certificate files: swapped in (ok) or refused, the previous certificate serving on (error).",
    );
    for t in listeners {
        for (result, n) in [("ok", t.certs.reloads()), ("error", t.certs.reload_errors())] {
            let _ =
                writeln!(out, "switchyard_tls_reloads_total{{listener=\"{}\",result=\"{result}\"}} {n}", t.port.name());
        }
    }
    head(out, "handshake_failures_total", "counter", "TLS handshakes that failed or timed out, by listener.");
    for t in listeners {
        for (reason, n) in [("timeout", t.handshake_timeouts()), ("error", t.handshake_errors())] {
            let _ = writeln!(
                out,
                "switchyard_tls_handshake_failures_total{{listener=\"{}\",reason=\"{reason}\"}} {n}",
                t.port.name()
            );
        }
    }
}

#[cfg(test)]
mod tests;
