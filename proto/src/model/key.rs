//! Client keys: who may call the gateway, for which models, within which limits.

use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a client key; the key itself is never kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    Day,
    Week,
    Month,
    /// Never resets.
    Total,
}

impl BudgetPeriod {
    pub const ALL: [Self; 4] = [Self::Day, Self::Week, Self::Month, Self::Total];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Total => "total",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub currency: String,
    pub amount_micros: i64,
    pub period: BudgetPeriod,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientKey {
    pub name: String,
    pub key_sha256: KeyHash,
    /// Public names or aliases this key may use; `None` = all.
    pub models: Option<Vec<String>>,
    pub allow_direct: bool,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub budget: Option<Budget>,
    /// Unix seconds.
    pub expires_unix: Option<i64>,
    pub log_bodies: Option<bool>,
    pub enabled: bool,
}
