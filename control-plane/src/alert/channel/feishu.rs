//! Feishu/Lark custom bots: `POST` the bot's webhook URL
//! (`https://open.feishu.cn/open-apis/bot/v2/hook/...`, or Lark's
//! `open.larksuite.com`) an `interactive` card whose header is the title and
//! whose one `markdown` element holds the notices. A bot with signature
//! verification takes `timestamp` (Unix seconds, as a string) and `sign` in
//! the JSON body, where `sign` = base64(HMAC-SHA256 keyed with
//! "{timestamp}\n{secret}" over an empty message); it refuses a timestamp
//! more than an hour off. A keyword bot takes messages containing its
//! keyword: every message contains "Switchyard". The answer is
//! `{"code": 0, "msg": "success"}` (older bots: `{"StatusCode": 0}`).

use super::{Failure, Request, coded_answer};
use crate::alert::conditions::Severity;
use crate::alert::notice::{Change, Notice, render};
use aws_lc_rs::hmac;
use base64::Engine as _;
use reqwest::{StatusCode, Url};
use serde_json::json;

/// Frequency limits on a bot.
const RATE_LIMITED: &[i64] = &[9499, 11_232];

/// base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", message = "")).
pub(super) fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, format!("{timestamp_s}\n{secret}").as_bytes());
    let tag = hmac::sign(&key, b"");
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The card's color: red for anything critical firing, orange for warnings,
/// green when everything resolved, blue for a test.
fn template(notices: &[Notice]) -> &'static str {
    let firing = |severity| {
        notices.iter().any(|n| matches!(n.change, Change::Firing | Change::Reminder) && n.severity == severity)
    };
    if firing(Severity::Critical) {
        "red"
    } else if firing(Severity::Warning) {
        "orange"
    } else if notices.iter().all(|n| n.change == Change::Test) {
        "blue"
    } else {
        "green"
    }
}

pub(super) fn request(
    webhook: &str,
    secret: Option<&str>,
    notices: &[Notice],
    now_ms: i64,
    max_bytes: usize,
) -> Result<Request, String> {
    let url = Url::parse(webhook).map_err(|_| "invalid webhook URL".to_owned())?;
    let message = render(notices, max_bytes);
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {"title": {"tag": "plain_text", "content": message.title}, "template": template(notices)},
            "elements": [{"tag": "markdown", "content": message.body}],
        },
    });
    if let (Some(secret), Some(fields)) = (secret, body.as_object_mut()) {
        let timestamp = now_ms / 1000;
        fields.insert("timestamp".into(), json!(timestamp.to_string()));
        fields.insert("sign".into(), json!(sign(secret, timestamp)));
    }
    Ok(Request { url, body })
}

pub(super) fn check(status: StatusCode, body: &[u8]) -> Result<(), Failure> {
    coded_answer("Feishu", status, body, &[("code", "msg"), ("StatusCode", "StatusMessage")], RATE_LIMITED)
}
