//! Secrets: upstream keys, webhook URLs, signing secrets. Their `Debug` and
//! `Display` never show the value; code that needs it calls [`Secret::expose`].

use sha2::{Digest, Sha256};
use std::fmt;

/// Marker written by `export` in place of a secret: `${redacted:FINGERPRINT}`.
const REDACTED_PREFIX: &str = "${redacted:";

/// A secret string. Compares by value; prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Box<str>);

impl Secret {
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }

    /// The marker `${redacted:FINGERPRINT}` standing for a stored secret.
    pub fn redacted_marker(fingerprint: &str) -> Self {
        Self(format!("{REDACTED_PREFIX}{fingerprint}}}").into())
    }

    /// The secret itself, for the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, in time that depends on neither:
    /// both are hashed (SHA-256) and the digests compared in constant time,
    /// so neither a matching prefix nor the length shows in how long it takes.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let (ours, theirs) = (Sha256::digest(self.0.as_bytes()), Sha256::digest(candidate));
        ours.as_slice().ct_eq(theirs.as_slice()).into()
    }

    /// A short, non-reversible identifier: the first 12 hex digits of SHA-256.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..6])
    }

    /// The fingerprint, when this is a `${redacted:...}` marker rather than a secret.
    /// Only a well-formed marker counts: a secret that merely starts like one
    /// is a secret (and is redacted, not passed through, by export).
    pub fn redacted_fingerprint(&self) -> Option<&str> {
        self.0.strip_prefix(REDACTED_PREFIX)?.strip_suffix('}').filter(|fp| is_fingerprint(fp))
    }

    /// The marker export writes for this secret.
    pub fn to_redacted(&self) -> Secret {
        match self.redacted_fingerprint() {
            Some(_) => self.clone(),
            None => Self::redacted_marker(&self.fingerprint()),
        }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl Drop for Secret {
    /// The value does not linger in freed memory.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut *self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whether `s` is a well-formed fingerprint (hex, 8 to 64 digits).
pub fn is_fingerprint(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.to_string(), "<redacted>");
        assert!(!format!("{:?}", Some(&s)).contains("sk-live"));
    }

    #[test]
    fn matches_only_the_same_bytes() {
        let s = Secret::new("ops-token-0123456789");
        assert!(s.matches(b"ops-token-0123456789"));
        assert!(!s.matches(b"ops-token-012345678"));
        assert!(!s.matches(b"ops-token-01234567890"));
        assert!(!s.matches(b"OPS-token-0123456789"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn only_a_well_formed_marker_is_a_marker() {
        let tricky = Secret::new("${redacted:0123456789ab}sk-live-secret}");
        assert_eq!(tricky.redacted_fingerprint(), None);
        assert!(!tricky.to_redacted().expose().contains("sk-live"));
        assert_eq!(Secret::new("${redacted:not-hex}").redacted_fingerprint(), None);
        assert_eq!(Secret::new("${redacted:0123456789ab}").redacted_fingerprint(), Some("0123456789ab"));
    }

    #[test]
    fn redacted_marker_round_trip() {
        let s = Secret::new("sk-live-123456");
        let marker = s.to_redacted();
        assert_eq!(marker.redacted_fingerprint(), Some(s.fingerprint().as_str()));
        assert_eq!(marker.expose(), format!("${{redacted:{}}}", s.fingerprint()));
        assert_eq!(s.redacted_fingerprint(), None);
        assert!(is_fingerprint(&s.fingerprint()));
        assert_eq!(s.fingerprint().len(), 12);
    }
}
