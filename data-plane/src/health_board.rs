//! What the health checks found, for `/status` and `/metrics`: the last
//! check of each (provider, account, model) and counts by result. Written
//! once per check and read by the admin listener, never on the request path,
//! so a short lock is fine.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::HealthRequest;
use tokio::time::Instant;

/// How one check ended (`switchyard_health_checks_total`'s `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// A 2xx with a well-formed body.
    Ok,
    /// No connection, or it broke before the answer.
    Connect,
    /// No complete answer within the check's `timeout`.
    Timeout,
    /// 5xx, or the body broke off.
    ServerError,
    /// 429.
    RateLimited,
    /// 401 or 403: the key is refused.
    Auth,
    /// 402, or a 429 saying `insufficient_quota`.
    Quota,
    /// A 2xx whose body is not JSON.
    Malformed,
    /// Any other answer (a 404 for a model the upstream does not know, a 400):
    /// it says nothing about the endpoint, and its breaker learns nothing.
    Rejected,
}

impl CheckResult {
    pub const ALL: [Self; 9] = [
        Self::Ok,
        Self::Connect,
        Self::Timeout,
        Self::ServerError,
        Self::RateLimited,
        Self::Auth,
        Self::Quota,
        Self::Malformed,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::ServerError => "server_error",
            Self::RateLimited => "rate_limited",
            Self::Auth => "auth",
            Self::Quota => "quota",
            Self::Malformed => "malformed",
            Self::Rejected => "rejected",
        }
    }
}

/// What was checked: an account (`models`), or one upstream model of it (`chat`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckKey {
    pub provider: Arc<str>,
    pub account: Arc<str>,
    /// The upstream model of a `chat` check; `None` for `models`.
    pub model: Option<Arc<str>>,
}

/// One check's outcome as `/status` shows it.
#[derive(Debug, Clone)]
pub struct LastCheck {
    pub request: HealthRequest,
    pub result: CheckResult,
    /// A short reason for anything but `ok` (`HTTP 503`, `timed out`); never a body or a URL.
    pub reason: Option<String>,
    /// From sending the request to judging the whole answer.
    pub latency: Duration,
    pub at: Instant,
    pub at_unix_ms: i64,
}

#[derive(Debug)]
struct Entry {
    last: LastCheck,
    counts: [u64; CheckResult::ALL.len()],
}

#[derive(Debug, Default)]
pub struct Board {
    entries: Mutex<HashMap<CheckKey, Entry>>,
}

impl Board {
    pub fn record(&self, key: CheckKey, last: LastCheck) {
        let mut entries = self.entries.lock();
        let index = last.result as usize;
        let entry = entries.entry(key).or_insert_with(|| Entry { last: last.clone(), counts: Default::default() });
        entry.last = last;
        entry.counts[index] = entry.counts[index].saturating_add(1);
    }

    /// The result of `key`'s last check.
    pub fn result_of(&self, key: &CheckKey) -> Option<CheckResult> {
        self.entries.lock().get(key).map(|e| e.last.result)
    }

    /// The last check that speaks for an endpoint: of its model, else of its account.
    pub fn for_endpoint(&self, provider: &str, account: &str, model: &str) -> Option<LastCheck> {
        let entries = self.entries.lock();
        let find = |model: Option<&str>| {
            entries
                .iter()
                .find(|(k, _)| &*k.provider == provider && &*k.account == account && k.model.as_deref() == model)
                .map(|(_, e)| e.last.clone())
        };
        find(Some(model)).or_else(|| find(None))
    }

    /// Every last check, sorted by provider, account and model.
    pub fn all(&self) -> Vec<(CheckKey, LastCheck)> {
        let mut out: Vec<_> = self.entries.lock().iter().map(|(k, e)| (k.clone(), e.last.clone())).collect();
        out.sort_by(|(a, _), (b, _)| (&a.provider, &a.account, &a.model).cmp(&(&b.provider, &b.account, &b.model)));
        out
    }

    /// Checks by (provider, account, result), models added up, sorted; only counts above zero.
    pub fn counts(&self) -> Vec<(Arc<str>, Arc<str>, CheckResult, u64)> {
        let mut sums: HashMap<(Arc<str>, Arc<str>), [u64; CheckResult::ALL.len()]> = HashMap::new();
        for (k, e) in self.entries.lock().iter() {
            let sum = sums.entry((k.provider.clone(), k.account.clone())).or_default();
            for (total, n) in sum.iter_mut().zip(e.counts) {
                *total = total.saturating_add(n);
            }
        }
        let mut out: Vec<_> = sums
            .into_iter()
            .flat_map(|((p, a), counts)| {
                CheckResult::ALL
                    .into_iter()
                    .zip(counts)
                    .filter(|(_, n)| *n > 0)
                    .map(move |(r, n)| (p.clone(), a.clone(), r, n))
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1, a.2 as usize).cmp(&(&b.0, &b.1, b.2 as usize)));
        out
    }

    /// Forgets every check for which `keep` is false (accounts no longer checked).
    pub fn retain(&self, keep: impl Fn(&CheckKey) -> bool) {
        self.entries.lock().retain(|k, _| keep(k));
    }
}
