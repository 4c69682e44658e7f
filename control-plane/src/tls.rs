//! TLS on the gRPC listener (rustls on aws-lc-rs): the PEM files named by
//! `--tls-cert`, `--tls-key` and, for mTLS, `--tls-client-ca`, read and
//! checked at start so that a bad file stops the process with its flag and
//! path (never with key material).

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// A client that connects and never finishes its handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve gRPC over TLS; with `client_ca`, require client certificates (mTLS).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// `--tls-cert`: the server's certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// `--tls-key`: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `--tls-client-ca`: clients must present a certificate signed by one of these CAs (PEM).
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{flag} {}: {reason}", path.display())]
    File { flag: &'static str, path: PathBuf, reason: String },
    #[error("--tls-cert {} with --tls-key {}: {reason}", cert.display(), key.display())]
    Pair { cert: PathBuf, key: PathBuf, reason: String },
}

/// Reads and checks the files; the result goes to `Server::tls_config`.
pub(crate) fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, TlsError> {
    // One crypto provider for the whole process (aws-lc-rs, as reqwest and sqlx use):
    // rustls cannot choose one itself should another ever be compiled in.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = read_certificates("--tls-cert", &files.cert)?;
    let key = read_key("--tls-key", &files.key)?;
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key)).timeout(HANDSHAKE_TIMEOUT);
    // Builds the rustls config: a key that does not belong to the certificate fails here.
    Server::builder().tls_config(config.clone()).map_err(|e| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: chain(&e),
    })?;
    let Some(client_ca) = &files.client_ca else { return Ok(config) };
    let file = |reason| TlsError::File { flag: "--tls-client-ca", path: client_ca.clone(), reason };
    let ca = read_certificates("--tls-client-ca", client_ca)?;
    let config = config.client_ca_root(Certificate::from_pem(ca));
    Server::builder().tls_config(config.clone()).map_err(|e| file(chain(&e)))?;
    Ok(config)
}

/// The file's bytes, once they hold at least one well-formed PEM certificate.
fn read_certificates(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let file = |reason| TlsError::File { flag, path: path.to_owned(), reason };
    let bytes = std::fs::read(path).map_err(|e| file(format!("cannot read: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file(format!("not a PEM certificate file: {}", pem_error(&e))))?;
    if certificates.is_empty() {
        return Err(file("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(bytes)
}

/// The file's bytes, once they hold a PEM private key. Errors never quote the file.
fn read_key(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let file = |reason| TlsError::File { flag, path: path.to_owned(), reason };
    let bytes = std::fs::read(path).map_err(|e| file(format!("cannot read: {e}")))?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(bytes),
        Err(pem::Error::NoItemsFound) => {
            Err(file("no private key in it (expected PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)".into()))
        }
        Err(_) => Err(file("not a valid PEM private key file".into())),
    }
}

/// A PEM syntax error without the file's content.
fn pem_error(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "bad base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    }
}

/// `e: its source: its source's source`, as transport errors say little on their own.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
