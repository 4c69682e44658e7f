//! WeCom (WeChat Work) group robots: `POST` the robot's webhook URL
//! (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`; the key is
//! the credential) a `markdown` message of at most 4096 bytes of content.
//! The answer is `{"errcode": 0, "errmsg": "ok"}`; anything else is a refusal.

use super::{Failure, Request, coded_answer};
use crate::alert::notice::{Notice, render};
use reqwest::{StatusCode, Url};
use serde_json::json;

/// "api freq out of limit": more than 20 messages a minute to one robot.
const RATE_LIMITED: &[i64] = &[45_009];

pub(super) fn request(webhook: &str, notices: &[Notice], max_bytes: usize) -> Result<Request, String> {
    let url = Url::parse(webhook).map_err(|_| "invalid webhook URL".to_owned())?;
    let message = render(notices, max_bytes);
    Ok(Request { url, body: json!({"msgtype": "markdown", "markdown": {"content": message.with_heading()}}) })
}

pub(super) fn check(status: StatusCode, body: &[u8]) -> Result<(), Failure> {
    coded_answer("WeCom", status, body, &[("errcode", "errmsg")], RATE_LIMITED)
}
