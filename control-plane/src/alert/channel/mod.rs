//! Alert channels: how a batch of notices becomes one HTTP request per
//! message (markdown for the chat robots, one JSON document per notice for
//! webhooks), signed where the channel has a secret, and how each provider's
//! answer is read. DingTalk, Feishu and WeCom answer HTTP 200 with an error
//! code in the body when they refuse a message: only code 0 is a success.
//!
//! A delivery makes at most [`ATTEMPTS`] attempts, each bounded by
//! [`ATTEMPT_TIMEOUT`], with [`BACKOFF`] between them, retrying only what can
//! succeed later (transport errors, HTTP 429/5xx, the providers' rate-limit
//! codes). Errors never carry a secret: no webhook URL (it holds the access
//! token or key), no signing secret.

pub mod deliver;
mod dingtalk;
mod feishu;
mod webhook;
mod wecom;

use super::metrics::{Metrics, Outcome};
use super::notice::Notice;
use crate::outbound::{self, describe, scrub};
use crate::store::now_ms;
use reqwest::{StatusCode, Url};
use std::time::Duration;
use switchyard_proto::model::{AlertChannel, AlertChannelKind};
use tokio::time::Instant;

/// One attempt, connection to answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per message, the first included.
pub const ATTEMPTS: u32 = 3;
/// Waits before the second and the third attempt.
pub const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];
/// A chat message's markdown body at most (WeCom takes 4096 bytes of
/// content; DingTalk and Feishu more): the rest is counted, not shown.
const CHAT_BYTES: usize = 3800;

/// The client every channel uses: bounded in time, no redirects (a redirect
/// would carry the token elsewhere), no environment proxy.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .no_proxy()
        .build()
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened, without secrets.
    pub message: String,
    /// Another attempt may succeed.
    pub retry: bool,
}

impl Failure {
    fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: false }
    }
}

/// One request to make: where (signature included) and what.
#[derive(Debug)]
struct Request {
    url: Url,
    body: serde_json::Value,
}

/// The secret strings a channel's errors must not show: its URLs and
/// secrets, and the parts of a URL that are tokens (query values, long path
/// segments) in case an answer quotes them alone.
fn secrets(kind: &AlertChannelKind) -> Vec<String> {
    let (url, secret) = match kind {
        AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret } => {
            (webhook, secret.as_ref())
        }
        AlertChannelKind::WeCom { webhook } => (webhook, None),
        AlertChannelKind::Webhook { url } => (url, None),
    };
    let mut out = vec![url.expose().to_owned()];
    out.extend(secret.map(|s| s.expose().to_owned()));
    if let Ok(u) = Url::parse(url.expose()) {
        out.extend(u.query_pairs().map(|(_, v)| v.into_owned()));
        out.extend(u.path_segments().into_iter().flatten().filter(|s| s.len() >= 8).map(str::to_owned));
        if let Some(password) = u.password() {
            out.push(password.to_owned());
        }
    }
    out.retain(|s| s.len() >= 4);
    out
}

/// The messages `notices` make on `kind`: one for a chat robot (it shows
/// up to [`super::notice::MAX_PER_MESSAGE`] and counts the rest), one per
/// notice for a webhook.
pub fn messages(kind: &AlertChannelKind, notices: Vec<Notice>) -> Vec<Vec<Notice>> {
    match kind {
        AlertChannelKind::Webhook { .. } => notices.into_iter().map(|n| vec![n]).collect(),
        _ if notices.is_empty() => Vec::new(),
        _ => vec![notices],
    }
}

/// One attempt to send `notices` as one message.
pub async fn attempt(client: &reqwest::Client, channel: &AlertChannel, notices: &[Notice]) -> Result<(), Failure> {
    let hidden = secrets(&channel.kind);
    let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
    // Signatures use the real wall clock: the providers check it against theirs.
    let now = now_ms();
    let request = match &channel.kind {
        AlertChannelKind::DingTalk { webhook, secret } => {
            dingtalk::request(webhook.expose(), secret.as_ref().map(|s| s.expose()), notices, now, CHAT_BYTES)
        }
        AlertChannelKind::Feishu { webhook, secret } => {
            feishu::request(webhook.expose(), secret.as_ref().map(|s| s.expose()), notices, now, CHAT_BYTES)
        }
        AlertChannelKind::WeCom { webhook } => wecom::request(webhook.expose(), notices, CHAT_BYTES),
        AlertChannelKind::Webhook { url } => webhook::request(url.expose(), notices),
    }
    .map_err(Failure::fatal)?;
    let response = client
        .post(request.url)
        .json(&request.body)
        .send()
        .await
        .map_err(|e| Failure { message: describe(&e, &hidden), retry: true })?;
    let status = response.status();
    let body = outbound::body(response).await;
    let answer = match &channel.kind {
        AlertChannelKind::DingTalk { .. } => dingtalk::check(status, &body),
        AlertChannelKind::Feishu { .. } => feishu::check(status, &body),
        AlertChannelKind::WeCom { .. } => wecom::check(status, &body),
        AlertChannelKind::Webhook { .. } => http_status(status),
    };
    answer.map_err(|f| Failure { message: scrub(&f.message, &hidden), ..f })
}

/// Success for 2xx; 408, 429 and 5xx may pass on a later attempt.
fn http_status(status: StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    let retry =
        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error();
    Err(Failure { message: format!("HTTP {}", status.as_u16()), retry })
}

/// A chat provider's JSON answer: `code_field` must be 0 (`rate_limited`
/// codes may pass later); `provider` names it in errors.
fn coded_answer(
    provider: &str,
    status: StatusCode,
    body: &[u8],
    fields: &[(&str, &str)],
    rate_limited: &[i64],
) -> Result<(), Failure> {
    if let Err(Failure { message, retry }) = http_status(status) {
        return Err(Failure { message: format!("{provider} answered {message}"), retry });
    }
    let answer: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    for (code_field, message_field) in fields {
        let Some(code) = answer.as_ref().and_then(|a| a.get(code_field)).and_then(serde_json::Value::as_i64) else {
            continue;
        };
        if code == 0 {
            return Ok(());
        }
        let text = answer.as_ref().and_then(|a| a.get(message_field)).and_then(|m| m.as_str()).unwrap_or("");
        return Err(Failure {
            message: format!("{provider} refused the message: {code_field} {code}: {text}"),
            retry: rate_limited.contains(&code),
        });
    }
    Err(Failure::fatal(format!("{provider}'s answer carries no {} 0", fields[0].0)))
}

/// What a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub ok: bool,
    pub attempts: u32,
    /// The last failure (no secrets); empty on success.
    pub error: String,
}

/// Sends one message, retrying as the module docs say, and counts it.
pub async fn deliver(
    client: &reqwest::Client,
    channel: &AlertChannel,
    notices: &[Notice],
    metrics: &Metrics,
) -> Delivered {
    let started = Instant::now();
    let mut attempts = 0;
    let mut error = String::new();
    while attempts < ATTEMPTS {
        attempts += 1;
        match attempt(client, channel, notices).await {
            Ok(()) => {
                metrics.sent(&channel.name, Outcome::Ok);
                tracing::info!(
                    channel = %channel.name,
                    kind = channel.kind.as_str(),
                    notices = notices.len(),
                    attempts,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "alert delivered"
                );
                return Delivered { ok: true, attempts, error: String::new() };
            }
            Err(failure) => {
                tracing::warn!(
                    channel = %channel.name,
                    kind = channel.kind.as_str(),
                    attempt = attempts,
                    retry = failure.retry && attempts < ATTEMPTS,
                    error = %failure.message,
                    "alert delivery attempt failed"
                );
                error = failure.message;
                if !failure.retry || attempts >= ATTEMPTS {
                    break;
                }
                metrics.retried(&channel.name);
                tokio::time::sleep(BACKOFF[(attempts as usize - 1).min(BACKOFF.len() - 1)]).await;
            }
        }
    }
    metrics.sent(&channel.name, Outcome::Failed);
    Delivered { ok: false, attempts, error }
}

#[cfg(test)]
mod tests;
