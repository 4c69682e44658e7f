//! Upstream secrets at rest: AES-256-GCM under the master key, each
//! ciphertext bound (as associated data) to the row it belongs to, so a
//! ciphertext copied to another row does not decrypt. A check value stored at
//! first start makes a wrong master key refuse to start instead of serving
//! garbage.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::fmt;

/// Format tag of sealed values: `v1:` + base64(nonce || ciphertext || tag).
const PREFIX: &str = "v1:";
/// What the check value decrypts to.
const CHECK_PLAINTEXT: &[u8] = b"switchyard master key check";
pub const CHECK_CONTEXT: &str = "meta/master_key_check";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the master key must be 64 hex digits (32 bytes; e.g. `openssl rand -hex 32`)")]
    BadKey,
    #[error("a stored secret could not be decrypted ({0}): wrong master key or corrupted data")]
    Open(String),
    #[error("the random number generator failed")]
    Random,
}

pub struct MasterKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// From 64 hex digits (surrounding whitespace, e.g. a file's newline, is ignored).
    pub fn from_hex(text: &str) -> Result<Self, CryptoError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut *bytes).map_err(|_| CryptoError::BadKey)?;
        let key = UnboundKey::new(&AES_256_GCM, &*bytes).map_err(|_| CryptoError::BadKey)?;
        Ok(Self { key: LessSafeKey::new(key), rng: SystemRandom::new() })
    }

    /// Seals `plaintext` for the row named `context` (e.g. `accounts/openai/team-a`).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut data = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    /// Opens what [`MasterKey::seal`] produced for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        let fail = || CryptoError::Open(context.to_owned());
        let raw = B64.decode(sealed.strip_prefix(PREFIX).ok_or_else(fail)?).map_err(|_| fail())?;
        if raw.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut data).map_err(|_| fail())?;
        Ok(plain.to_vec())
    }

    /// Opens a sealed UTF-8 secret.
    pub fn open_string(&self, sealed: &str, context: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| CryptoError::Open(context.to_owned()))
    }

    /// The value stored at first start to recognise this key later.
    pub fn check_value(&self) -> Result<String, CryptoError> {
        self.seal(CHECK_PLAINTEXT, CHECK_CONTEXT)
    }

    /// Whether `stored` was made by [`MasterKey::check_value`] with this key.
    pub fn verify_check_value(&self, stored: &str) -> bool {
        self.open(stored, CHECK_CONTEXT).is_ok_and(|p| p == CHECK_PLAINTEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const OTHER: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn round_trip_bound_to_its_row() {
        let key = MasterKey::from_hex(&format!("{KEY}\n")).unwrap();
        let sealed = key.seal(b"sk-secret", "accounts/openai/a").unwrap();
        assert!(sealed.starts_with("v1:") && !sealed.contains("sk-secret"));
        assert_eq!(key.open(&sealed, "accounts/openai/a").unwrap(), b"sk-secret");
        assert_ne!(key.seal(b"sk-secret", "accounts/openai/a").unwrap(), sealed, "a fresh nonce each time");
        assert_eq!(key.open(&sealed, "accounts/openai/b"), Err(CryptoError::Open("accounts/openai/b".into())));
        let other = MasterKey::from_hex(OTHER).unwrap();
        assert!(other.open(&sealed, "accounts/openai/a").is_err());
        assert!(key.open("v1:AAAA", "x").is_err());
        assert!(key.open("garbage", "x").is_err());
    }

    #[test]
    fn check_value_recognises_the_key() {
        let key = MasterKey::from_hex(KEY).unwrap();
        let check = key.check_value().unwrap();
        assert!(key.verify_check_value(&check));
        assert!(!MasterKey::from_hex(OTHER).unwrap().verify_check_value(&check));
    }

    #[test]
    fn bad_keys_and_debug() {
        assert_eq!(MasterKey::from_hex("abc").unwrap_err(), CryptoError::BadKey);
        assert_eq!(MasterKey::from_hex(&"zz".repeat(32)).unwrap_err(), CryptoError::BadKey);
        assert_eq!(format!("{:?}", MasterKey::from_hex(KEY).unwrap()), "MasterKey(<redacted>)");
    }
}
