//! TLS on the gRPC listener (rustls on aws-lc-rs): the PEM files named by
//! `--tls-cert`, `--tls-key` and, for mTLS, `--tls-client-ca`, read and
//! checked at start so that a bad file stops the process with its flag and
//! path (never with key material).

use std::path::PathBuf;
use std::time::Duration;
use switchyard_proto::pem::{self, PemFileError, error_chain};
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
    #[error(transparent)]
    File(#[from] PemFileError),
    #[error("--tls-cert {} with --tls-key {}: {reason}", cert.display(), key.display())]
    Pair { cert: PathBuf, key: PathBuf, reason: String },
}

/// Reads and checks the files; the result goes to `Server::tls_config`.
pub(crate) fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, TlsError> {
    // One crypto provider for the whole process (aws-lc-rs, as reqwest and sqlx use):
    // rustls cannot choose one itself should another ever be compiled in.
    let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = pem::certificates("--tls-cert", &files.cert)?.0;
    let key = pem::private_key("--tls-key", &files.key)?;
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key)).timeout(HANDSHAKE_TIMEOUT);
    // Builds the rustls config: a key that does not belong to the certificate fails here.
    Server::builder().tls_config(config.clone()).map_err(|e| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: error_chain(&e),
    })?;
    let Some(client_ca) = &files.client_ca else { return Ok(config) };
    let file = |reason| TlsError::File(PemFileError::new("--tls-client-ca", client_ca, reason));
    let ca = pem::certificates("--tls-client-ca", client_ca)?.0;
    let config = config.client_ca_root(Certificate::from_pem(ca));
    Server::builder().tls_config(config.clone()).map_err(|e| file(error_chain(&e)))?;
    Ok(config)
}
