//! Generic JSON webhooks: one `POST` per notice, `Content-Type:
//! application/json`, any 2xx answer a success. The document:
//!
//! ```json
//! {"source": "switchyard", "test": false, "event": "balance_low",
//!  "key": "balance_low:openai/team-a", "severity": "warning",
//!  "state": "firing", "reminder": false, "subject": "...", "text": "...",
//!  "labels": {"provider": "openai", "account": "team-a", "currency": "USD"},
//!  "since": "2026-01-02T15:04:05Z", "since_ms": 1767366245000,
//!  "at": "2026-01-02T15:04:05Z", "at_ms": 1767366245000}
//! ```
//!
//! `state` is `firing` or `resolved` (`test` for `syctl alert test`),
//! `reminder` is true for a condition still firing after `quiet_period`,
//! `since` is when the condition started firing, `at` when this was sent.

use super::Request;
use crate::alert::notice::{Change, Notice};
use crate::alert::when::rfc3339;
use reqwest::Url;
use serde_json::json;

pub(super) fn document(n: &Notice) -> serde_json::Value {
    json!({
        "source": "switchyard",
        "test": n.change == Change::Test,
        "event": n.event,
        "key": n.key,
        "severity": n.severity.as_str(),
        "state": n.state(),
        "reminder": n.change == Change::Reminder,
        "subject": n.subject,
        "text": n.text,
        "labels": n.labels,
        "since": rfc3339(n.since_ms),
        "since_ms": n.since_ms,
        "at": rfc3339(n.at_ms),
        "at_ms": n.at_ms,
    })
}

/// The first notice's document ([`super::messages`] gives webhooks one notice per message).
pub(super) fn request(url: &str, notices: &[Notice]) -> Result<Request, String> {
    let url = Url::parse(url).map_err(|_| "invalid URL".to_owned())?;
    let n = notices.first().ok_or_else(|| "nothing to send".to_owned())?;
    Ok(Request { url, body: document(n) })
}
