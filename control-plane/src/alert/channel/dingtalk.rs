//! DingTalk custom robots: `POST` the robot's webhook URL
//! (`https://oapi.dingtalk.com/robot/send?access_token=...`) a `markdown`
//! message. A robot with the "sign" security setting takes `timestamp`
//! (Unix milliseconds) and `sign` = base64(HMAC-SHA256(secret,
//! "{timestamp}\n{secret}")), URL-encoded, as query parameters, and refuses a
//! timestamp more than an hour off. A keyword robot takes messages that
//! contain its keyword: every message contains "Switchyard". The answer is
//! `{"errcode": 0, "errmsg": "ok"}`; anything else is a refusal.

use super::{Failure, Request, coded_answer};
use crate::alert::notice::{Notice, render};
use aws_lc_rs::hmac;
use base64::Engine as _;
use reqwest::{StatusCode, Url};
use serde_json::json;

/// "send too fast": more than 20 messages a minute to one robot.
const RATE_LIMITED: &[i64] = &[130_101];

/// base64(HMAC-SHA256(secret, "{timestamp_ms}\n{secret}")).
pub(super) fn sign(secret: &str, timestamp_ms: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

pub(super) fn request(
    webhook: &str,
    secret: Option<&str>,
    notices: &[Notice],
    now_ms: i64,
    max_bytes: usize,
) -> Result<Request, String> {
    let mut url = Url::parse(webhook).map_err(|_| "invalid webhook URL".to_owned())?;
    if let Some(secret) = secret {
        url.query_pairs_mut().append_pair("timestamp", &now_ms.to_string()).append_pair("sign", &sign(secret, now_ms));
    }
    let message = render(notices, max_bytes);
    let body = json!({"msgtype": "markdown", "markdown": {"title": message.title, "text": message.with_heading()}});
    Ok(Request { url, body })
}

pub(super) fn check(status: StatusCode, body: &[u8]) -> Result<(), Failure> {
    coded_answer("DingTalk", status, body, &[("errcode", "errmsg")], RATE_LIMITED)
}
