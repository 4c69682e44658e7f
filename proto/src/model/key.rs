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

    /// Unix milliseconds at which the period holding `now_ms` began, in UTC
    /// (weeks start on Monday); 0 for `total`.
    pub fn start_ms(self, now_ms: i64) -> i64 {
        use jiff::{Timestamp, tz::TimeZone};
        let Ok(now) = Timestamp::from_millisecond(now_ms) else { return 0 };
        let date = now.to_zoned(TimeZone::UTC).date();
        let first = match self {
            Self::Total => return 0,
            Self::Day => date,
            Self::Week => {
                date.saturating_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            }
            Self::Month => date.first_of_month(),
        };
        first.to_zoned(TimeZone::UTC).map_or(0, |z| z.timestamp().as_millisecond())
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
    /// Passthrough paths opened beside the model endpoints; `None` = none.
    pub passthrough: Option<Passthrough>,
}

/// The methods a passthrough policy can open: the ones OpenAI's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

impl HttpMethod {
    pub const ALL: [Self; 3] = [Self::Get, Self::Post, Self::Delete];

    /// As written in gateway.yaml (and in HTTP).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// `keys[].passthrough`: the `/v1/*` paths a key may reach besides the model
/// endpoints (which every key may call), e.g. the upstream account's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passthrough {
    /// Sorted, without duplicates; gateway.yaml's default is all of them.
    pub methods: Vec<HttpMethod>,
    /// Path prefixes after `/v1` (`/files`), each covering whole segments
    /// (`/files` and `/files/...`, not `/filesystem`); `/` covers every path.
    pub paths: Vec<String>,
}

impl Passthrough {
    /// Whether it opens `method` on `path` (a path after `/v1`).
    pub fn allows(&self, method: HttpMethod, path: &str) -> bool {
        self.methods.contains(&method) && self.covers(path)
    }

    /// Whether one of its prefixes covers `path`, whatever the method.
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|prefix| {
            prefix == "/"
                || path.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{BudgetPeriod, HttpMethod, Passthrough};

    #[test]
    fn passthrough_prefixes_cover_whole_segments() {
        let p = Passthrough { methods: vec![HttpMethod::Get], paths: vec!["/files".into(), "/batches/b1".into()] };
        assert!(p.allows(HttpMethod::Get, "/files"));
        assert!(p.allows(HttpMethod::Get, "/files/file-1/content"));
        assert!(p.allows(HttpMethod::Get, "/batches/b1"));
        assert!(!p.allows(HttpMethod::Get, "/filesystem"));
        assert!(!p.allows(HttpMethod::Get, "/batches"));
        assert!(!p.allows(HttpMethod::Get, "/batches/b10"));
        assert!(!p.allows(HttpMethod::Delete, "/files/file-1"));
        assert!(p.covers("/files/file-1"));
        let all = Passthrough { methods: HttpMethod::ALL.to_vec(), paths: vec!["/".into()] };
        assert!(all.allows(HttpMethod::Delete, "/organization/users/u1"));
    }

    fn ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn budget_periods_start_at_utc_boundaries() {
        // A Wednesday afternoon.
        let now = ms("2026-11-18T15:04:05.678Z");
        assert_eq!(BudgetPeriod::Day.start_ms(now), ms("2026-11-18T00:00:00Z"));
        assert_eq!(BudgetPeriod::Week.start_ms(now), ms("2026-11-16T00:00:00Z"));
        assert_eq!(BudgetPeriod::Month.start_ms(now), ms("2026-11-01T00:00:00Z"));
        assert_eq!(BudgetPeriod::Total.start_ms(now), 0);
        // A Monday is its own week's start; the first of a month its own month's.
        let monday = ms("2026-11-16T00:00:00Z");
        assert_eq!(BudgetPeriod::Week.start_ms(monday), monday);
        assert_eq!(BudgetPeriod::Month.start_ms(ms("2026-12-01T00:00:00Z")), ms("2026-12-01T00:00:00Z"));
        assert_eq!(BudgetPeriod::Week.start_ms(ms("2026-11-22T23:59:59Z")), monday, "Sunday ends the week");
    }
}
