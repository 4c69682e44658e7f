//! The serving certificate of one TLS listener: read from its PEM files,
//! held in an `ArcSwap` that rustls asks at every handshake (so a new pair
//! serves new connections at once and open ones keep the one they got), and
//! watched: every reload interval both files are read again, and when their
//! bytes changed (a Kubernetes Secret swaps a symlink: the path's mtime says
//! nothing) the new pair is checked and swapped in, or refused with the
//! reason while the last good pair keeps serving.

use super::{Port, TlsError, TlsFiles, x509};
use arc_swap::{ArcSwap, ArcSwapOption};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use switchyard_proto::pem::{self, error_chain};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::rustls;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// One pair that passed its checks.
pub struct Serving {
    key: Arc<CertifiedKey>,
    /// SHA-256 of the leaf certificate (DER), lowercase hex: what
    /// `openssl x509 -noout -fingerprint -sha256` prints, without colons.
    pub fingerprint: String,
    /// The leaf's `notAfter`, when it could be read.
    pub not_after: Option<jiff::Timestamp>,
    pub loaded_at: Instant,
}

impl Serving {
    /// `notAfter` in RFC 3339, or `unknown`.
    pub fn expiry(&self) -> String {
        self.not_after.map_or_else(|| "unknown".to_owned(), |t| t.to_string())
    }
}

/// A listener's certificate, its reloads and the last refusal.
pub struct Certs {
    port: Port,
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Serving>,
    /// Why the files' current content is not serving; `None` after a good reload.
    last_error: ArcSwapOption<String>,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certs")
            .field("port", &self.port.name())
            .field("files", &self.files)
            .field("fingerprint", &self.current.load().fingerprint)
            .finish_non_exhaustive()
    }
}

/// What the files held at one read.
pub(super) struct Input {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    /// Of both files' bytes: a change of either is a change.
    digest: [u8; 32],
}

/// What the last poll saw, so an unchanged file is neither parsed nor logged again.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Seen {
    Content([u8; 32]),
    Unreadable(String),
}

impl Certs {
    /// Reads and checks the pair: an error here stops the process at start.
    pub(super) fn load(port: Port, files: TlsFiles, provider: Arc<CryptoProvider>) -> Result<(Self, Seen), TlsError> {
        let input = read(port, &files)?;
        let serving = build(port, &files, &provider, &input)?;
        warn_if_expired(port, &serving);
        let certs = Self {
            port,
            files,
            provider,
            current: ArcSwap::from_pointee(serving),
            last_error: ArcSwapOption::empty(),
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
        };
        Ok((certs, Seen::Content(input.digest)))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    pub fn serving(&self) -> Arc<Serving> {
        self.current.load_full()
    }

    pub fn last_error(&self) -> Option<Arc<String>> {
        self.last_error.load_full()
    }

    /// Pairs swapped in after start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Relaxed)
    }

    /// Changed files that were refused (the previous pair kept serving).
    pub fn reload_errors(&self) -> u64 {
        self.reload_errors.load(Relaxed)
    }

    /// Reads the files every `interval` until `stopped`, swapping in each good new pair.
    pub(super) async fn watch(self: Arc<Self>, mut seen: Seen, interval: Duration, mut stopped: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            let (port, files) = (self.port, self.files.clone());
            // Off the runtime's workers: a slow volume must not stall requests.
            let Ok(read) = tokio::task::spawn_blocking(move || read(port, &files)).await else { continue };
            self.poll(&mut seen, read);
        }
    }

    pub(super) fn poll(&self, seen: &mut Seen, read: Result<Input, TlsError>) {
        let now = match &read {
            Ok(input) => Seen::Content(input.digest),
            Err(e) => Seen::Unreadable(e.to_string()),
        };
        if now == *seen {
            return;
        }
        *seen = now;
        let listener = self.port.name();
        match read.and_then(|input| build(self.port, &self.files, &self.provider, &input)) {
            Ok(serving) => {
                tracing::info!(
                    listener,
                    fingerprint = %serving.fingerprint,
                    not_after = %serving.expiry(),
                    "TLS certificate reloaded"
                );
                warn_if_expired(self.port, &serving);
                self.current.store(Arc::new(serving));
                self.last_error.store(None);
                self.reloads.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::warn!(
                    listener,
                    error = %e,
                    serving = %self.current.load().fingerprint,
                    "TLS certificate files changed but were refused; the previous certificate keeps serving"
                );
                self.last_error.store(Some(Arc::new(e.to_string())));
                self.reload_errors.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The current pair, for each handshake: one atomic load.
impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().key.clone())
    }
}

pub(super) fn read(port: Port, files: &TlsFiles) -> Result<Input, TlsError> {
    let (cert_flag, key_flag) = port.flags();
    let (cert_bytes, chain) = pem::certificates(cert_flag, &files.cert)?;
    let key = pem::private_key(key_flag, &files.key)?;
    let mut digest = Sha256::new();
    digest.update((cert_bytes.len() as u64).to_be_bytes());
    digest.update(&cert_bytes);
    digest.update(&key);
    Ok(Input { chain, key, digest: digest.finalize().into() })
}

/// The checked pair: a key the provider can sign with, that belongs to the leaf certificate.
fn build(port: Port, files: &TlsFiles, provider: &CryptoProvider, input: &Input) -> Result<Serving, TlsError> {
    let pair = |reason: String| TlsError::pair(port, files, reason);
    // `pem::private_key` found one already.
    let key = PrivateKeyDer::from_pem_slice(&input.key).map_err(|e| pair(error_chain(&e)))?;
    let key = CertifiedKey::from_der(input.chain.clone(), key, provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            pair("the private key does not belong to the certificate".to_owned())
        }
        e => pair(error_chain(&e)),
    })?;
    let leaf = &input.chain[0];
    Ok(Serving {
        key: Arc::new(key),
        fingerprint: hex::encode(Sha256::digest(leaf)),
        not_after: x509::not_after(leaf),
        loaded_at: Instant::now(),
    })
}

fn warn_if_expired(port: Port, serving: &Serving) {
    if let Some(not_after) = serving.not_after
        && not_after < jiff::Timestamp::now()
    {
        let listener = port.name();
        tracing::warn!(listener, %not_after, fingerprint = %serving.fingerprint, "the TLS certificate has expired");
    }
}
