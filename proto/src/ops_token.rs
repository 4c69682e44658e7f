//! The optional bearer token guarding the ops endpoints that tell more than
//! "alive": `/status` and `/metrics` on the data plane's admin listener and
//! `/metrics` on the control plane's `--http-listen`. Both binaries read it
//! from `--ops-token-file` (`SWITCHYARD_OPS_TOKEN_FILE`); `/healthz` and
//! `/readyz` stay open for probes.

use crate::model::Secret;
use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use std::path::{Path, PathBuf};

/// The `WWW-Authenticate` value of a refusal (RFC 6750).
pub const CHALLENGE: &str = "Bearer realm=\"switchyard-ops\"";
/// Fewer characters than this (after trimming) are refused at start, as for admin and node tokens.
pub const MIN_LEN: usize = 16;

/// The token the ops endpoints require; prints as `<redacted>`, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct OpsToken(Secret);

impl std::fmt::Debug for OpsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpsToken(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpsTokenError {
    #[error("cannot read --ops-token-file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("--ops-token-file{}: the token needs at least {MIN_LEN} characters", at(path))]
    TooShort { path: Option<PathBuf> },
    #[error(
        "--ops-token-file{}: the token must be printable ASCII without spaces (it travels in an HTTP header)",
        at(path)
    )]
    NotHeader { path: Option<PathBuf> },
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default()
}

/// Why a request was refused; [`Refusal::body`] says so to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A bearer token that is not the ops token.
    Wrong,
}

impl Refusal {
    /// The 401's body (plain text).
    pub fn body(self) -> &'static str {
        match self {
            Self::Missing => {
                "unauthorized: this endpoint needs 'Authorization: Bearer <token>' (the token in --ops-token-file)\n"
            }
            Self::Wrong => "unauthorized: the bearer token is not this server's ops token (--ops-token-file)\n",
        }
    }
}

impl OpsToken {
    /// The token in `path`, without surrounding whitespace (a trailing newline).
    pub fn read(path: &Path) -> Result<Self, OpsTokenError> {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| OpsTokenError::Read { path: path.to_owned(), source })?,
        );
        Self::check(&text).map_err(|e| match e {
            OpsTokenError::TooShort { .. } => OpsTokenError::TooShort { path: Some(path.to_owned()) },
            OpsTokenError::NotHeader { .. } => OpsTokenError::NotHeader { path: Some(path.to_owned()) },
            e => e,
        })
    }

    /// `token` (trimmed) as the ops token.
    pub fn new(token: &str) -> Result<Self, OpsTokenError> {
        Self::check(token)
    }

    fn check(token: &str) -> Result<Self, OpsTokenError> {
        let token = token.trim();
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OpsTokenError::NotHeader { path: None });
        }
        if token.len() < MIN_LEN {
            return Err(OpsTokenError::TooShort { path: None });
        }
        Ok(Self(Secret::new(token)))
    }

    /// Admits a request whose headers carry `Authorization: Bearer <this token>`
    /// (the scheme in any case); compared in constant time.
    pub fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = headers.get(AUTHORIZATION).and_then(bearer).ok_or(Refusal::Missing)?;
        if self.0.matches(presented) { Ok(()) } else { Err(Refusal::Wrong) }
    }
}

/// The token of a `Bearer <token>` header value.
fn bearer(value: &HeaderValue) -> Option<&[u8]> {
    let value = value.as_bytes();
    let (scheme, rest) = (value.get(..7)?, value.get(7..)?);
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "ops-0123456789abcdef";

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn admits_only_its_own_bearer_token() {
        let token = OpsToken::new(TOKEN).unwrap();
        assert_eq!(token.admit(&headers(Some(&format!("Bearer {TOKEN}")))), Ok(()));
        assert_eq!(token.admit(&headers(Some(&format!("bearer  {TOKEN} ")))), Ok(()));
        assert_eq!(token.admit(&headers(None)), Err(Refusal::Missing));
        assert_eq!(token.admit(&headers(Some(TOKEN))), Err(Refusal::Missing));
        assert_eq!(token.admit(&headers(Some(&format!("Basic {TOKEN}")))), Err(Refusal::Missing));
        assert_eq!(token.admit(&headers(Some("Bearer "))), Err(Refusal::Missing));
        assert_eq!(token.admit(&headers(Some(&format!("Bearer {TOKEN}x")))), Err(Refusal::Wrong));
        assert_eq!(token.admit(&headers(Some("Bearer ops-0123456789abcde"))), Err(Refusal::Wrong));
    }

    #[test]
    fn read_trims_and_refuses_what_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ops-token");
        std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
        assert_eq!(OpsToken::read(&path).unwrap(), OpsToken::new(TOKEN).unwrap());
        std::fs::write(&path, "short\n").unwrap();
        let e = OpsToken::read(&path).unwrap_err().to_string();
        assert!(e.contains("--ops-token-file") && e.contains("at least 16"), "{e}");
        std::fs::write(&path, "has a space in the middle\n").unwrap();
        assert!(OpsToken::read(&path).unwrap_err().to_string().contains("printable ASCII"));
        let e = OpsToken::read(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read --ops-token-file"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = OpsToken::new(TOKEN).unwrap();
        assert_eq!(format!("{token:?}"), "OpsToken(<redacted>)");
        assert!(!format!("{:?}", Some(&token)).contains("0123456789"));
    }
}
