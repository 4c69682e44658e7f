//! PEM files named on command lines (TLS certificates and private keys): read
//! and checked at start, with errors that name the flag and the file and never
//! quote its content. Shared by the control plane, the data plane and syctl.

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{flag} {}: {reason}", path.display())]
pub struct PemFileError {
    pub flag: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

impl PemFileError {
    pub fn new(flag: &'static str, path: &Path, reason: impl Into<String>) -> Self {
        Self { flag, path: path.to_owned(), reason: reason.into() }
    }
}

/// The file's bytes and its certificates, once it holds at least one well-formed PEM certificate.
pub fn certificates(flag: &'static str, path: &Path) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), PemFileError> {
    let file = |reason: String| PemFileError::new(flag, path, reason);
    let bytes = std::fs::read(path).map_err(|e| file(format!("cannot read: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file(format!("not a PEM certificate file: {}", syntax(&e))))?;
    if certificates.is_empty() {
        return Err(file("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok((bytes, certificates))
}

/// The file's bytes, once they hold a PEM private key.
pub fn private_key(flag: &'static str, path: &Path) -> Result<Vec<u8>, PemFileError> {
    let file = |reason: &str| PemFileError::new(flag, path, reason);
    let bytes = std::fs::read(path).map_err(|e| PemFileError::new(flag, path, format!("cannot read: {e}")))?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(bytes),
        Err(pem::Error::NoItemsFound) => {
            Err(file("no private key in it (expected PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"))
        }
        Err(_) => Err(file("not a valid PEM private key file")),
    }
}

/// A PEM syntax error without the file's content.
fn syntax(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "bad base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    }
}

/// `e: its source: ...` — transport and TLS errors say little on their own
/// ("transport error"); wrappers that repeat their source's words are skipped.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut last = text.clone();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if next != last && !last.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        last = next;
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_flag_and_file_but_never_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        let garbled = dir.path().join("k.pem");
        std::fs::write(&garbled, "-----BEGIN PRIVATE KEY-----\nsecret-material!!\n-----END PRIVATE KEY-----\n")
            .unwrap();
        let e = private_key("--tls-key", &garbled).unwrap_err().to_string();
        assert_eq!(e, format!("--tls-key {}: not a valid PEM private key file", garbled.display()));
        let e = certificates("--tls-cert", &garbled).unwrap_err().to_string();
        assert_eq!(e, format!("--tls-cert {}: not a PEM certificate file: bad base64", garbled.display()));
        let plain = dir.path().join("c.pem");
        std::fs::write(&plain, "just some text with a secret-material inside\n").unwrap();
        let e = certificates("--tls-cert", &plain).unwrap_err().to_string();
        assert!(e.ends_with("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)"), "{e}");
        assert!(!e.contains("secret-material"));
        let missing = dir.path().join("missing.pem");
        let e = certificates("--ca", &missing).unwrap_err().to_string();
        assert!(e.starts_with(&format!("--ca {}: cannot read", missing.display())), "{e}");
    }
}
