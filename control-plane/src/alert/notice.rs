//! What is sent: one notice per condition that started firing, is still
//! firing after `quiet_period` (a reminder) or cleared, and how the chat
//! channels show a batch of them (markdown, every message naming
//! "Switchyard" so keyword-mode robots accept it, bounded in size).

use super::conditions::Severity;
use super::when::time;
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_proto::model::units::format_duration;

/// The word every message carries (keyword-mode DingTalk and Feishu robots
/// accept only messages containing a configured keyword).
pub const KEYWORD: &str = "Switchyard";
/// Notices in one chat message at most; the rest are counted.
pub const MAX_PER_MESSAGE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Firing,
    /// Still firing, `quiet_period` after the last message.
    Reminder,
    Resolved,
    /// `syctl alert test`.
    Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub change: Change,
    pub key: String,
    pub event: String,
    pub severity: Severity,
    pub subject: String,
    pub text: String,
    pub labels: BTreeMap<String, String>,
    /// When the condition started firing (Unix ms).
    pub since_ms: i64,
    /// When this notice was made.
    pub at_ms: i64,
}

impl Notice {
    /// The message `syctl alert test` sends to `channel`.
    pub fn test(channel: &str, at_ms: i64) -> Notice {
        Notice {
            change: Change::Test,
            key: "test".into(),
            event: "test".into(),
            severity: Severity::Warning,
            subject: format!("test alert to channel \"{channel}\""),
            text: format!("{KEYWORD} test alert: channel \"{channel}\" receives {KEYWORD} alerts."),
            labels: BTreeMap::from([("channel".to_owned(), channel.to_owned())]),
            since_ms: at_ms,
            at_ms,
        }
    }

    /// `firing` (reminders included), `resolved`, or `test`.
    pub fn state(&self) -> &'static str {
        match self.change {
            Change::Firing | Change::Reminder => "firing",
            Change::Resolved => "resolved",
            Change::Test => "test",
        }
    }

    fn word(&self) -> &'static str {
        match self.change {
            Change::Firing => "FIRING",
            Change::Reminder => "STILL FIRING",
            Change::Resolved => "RESOLVED",
            Change::Test => "TEST",
        }
    }

    fn block(&self) -> String {
        let head = match self.change {
            Change::Test => format!("**{}**", self.word()),
            _ => format!("**{}** · {} · {}", self.word(), self.severity.as_str(), self.event),
        };
        let lasted = format_duration(Duration::from_secs(
            u64::try_from(self.at_ms.saturating_sub(self.since_ms)).unwrap_or(0) / 1000,
        ));
        let when = match self.change {
            Change::Firing => format!("Since {}", time(self.since_ms)),
            Change::Reminder => format!("Firing since {} ({lasted})", time(self.since_ms)),
            Change::Resolved => format!("Cleared at {}, after {lasted}", time(self.at_ms)),
            Change::Test => format!("Sent at {}", time(self.at_ms)),
        };
        format!("{head}\n\n**{}**\n\n{}\n\n{when}", self.subject, self.text)
    }
}

/// A chat message: a title (notifications show it) and a markdown body
/// (the notices, without the title).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub title: String,
    pub body: String,
}

impl Rendered {
    /// The body under the title as a heading, for channels without a title of their own.
    pub fn with_heading(&self) -> String {
        format!("#### {}\n\n{}", self.title, self.body)
    }
}

/// Longest title.
const TITLE_LEN: usize = 120;

/// `notices` as one markdown message whose body is at most `max_bytes` (its
/// heading, [`Rendered::with_heading`], adds at most `TITLE_LEN + 6`).
pub fn render(notices: &[Notice], max_bytes: usize) -> Rendered {
    let title = match notices {
        [one] if one.change == Change::Test => format!("{KEYWORD} test alert"),
        [one] => format!("{KEYWORD} {}: {}", one.word(), one.subject),
        many => {
            let count = |f: fn(&Notice) -> bool| many.iter().filter(|n| f(n)).count();
            let firing = count(|n| matches!(n.change, Change::Firing | Change::Reminder));
            let resolved = count(|n| n.change == Change::Resolved);
            format!("{KEYWORD}: {firing} firing, {resolved} resolved")
        }
    };
    let title = bounded(&title, TITLE_LEN);
    let mut body = String::new();
    let footer = |rest: usize| format!("\n\n... and {rest} more: `syctl alert list` shows them all.");
    for (i, n) in notices.iter().enumerate() {
        let block = if i == 0 { n.block() } else { format!("\n\n{}", n.block()) };
        let rest = notices.len() - i;
        if i >= MAX_PER_MESSAGE || body.len() + block.len() + footer(rest).len() > max_bytes {
            if i == 0 {
                // One notice always goes, cut to fit.
                body.push_str(&bounded(&block, max_bytes));
                continue;
            }
            body.push_str(&footer(rest));
            break;
        }
        body.push_str(&block);
    }
    Rendered { title, body }
}

/// At most `max` bytes, cut at a character boundary, with `...` when cut.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn notice(change: Change, key: &str) -> Notice {
        Notice {
            change,
            key: key.into(),
            event: "balance_low".into(),
            severity: Severity::Warning,
            subject: format!("{key} subject"),
            text: "text 余额不足".into(),
            labels: BTreeMap::new(),
            since_ms: 1_700_000_000_000,
            at_ms: 1_700_000_090_000,
        }
    }

    #[test]
    fn one_notice_is_titled_by_its_subject() {
        let r = render(&[notice(Change::Firing, "a")], 4000);
        assert_eq!(r.title, "Switchyard FIRING: a subject");
        assert!(r.body.starts_with("**FIRING** · warning · balance_low\n\n**a subject**"), "{}", r.body);
        assert!(r.with_heading().starts_with("#### Switchyard FIRING: a subject\n\n**FIRING**"), "{}", r.body);
        assert!(r.body.contains("Since 2023-11-14 22:13:20 UTC"), "{}", r.body);
        let r = render(&[notice(Change::Resolved, "a")], 4000);
        assert!(r.body.contains("Cleared at 2023-11-14 22:14:50 UTC, after 1m30s"), "{}", r.body);
        let r = render(&[Notice::test("ops", 0)], 4000);
        assert_eq!(r.title, "Switchyard test alert");
    }

    #[test]
    fn many_notices_are_counted_and_bounded() {
        let notices: Vec<Notice> = (0..50)
            .map(|i| notice(if i % 2 == 0 { Change::Firing } else { Change::Resolved }, &format!("k{i}")))
            .collect();
        let r = render(&notices, 4000);
        assert_eq!(r.title, "Switchyard: 25 firing, 25 resolved");
        assert!(r.body.len() <= 4000, "{}", r.body.len());
        assert!(r.body.contains("more: `syctl alert list`"), "{}", r.body);
        let r = render(&notices[..3], 100_000);
        assert!(r.body.contains("k2 subject") && !r.body.contains("more:"), "{}", r.body);
        let r = render(&notices, 100_000);
        assert_eq!(r.body.matches("subject**").count(), MAX_PER_MESSAGE);
        // One huge notice is cut, at a character boundary.
        let mut big = notice(Change::Firing, "big");
        big.text = "余".repeat(5000);
        let r = render(&[big], 1000);
        assert!(r.body.len() <= 1000 && r.body.ends_with("..."), "{}", r.body.len());
    }
}
