//! Reading one account's balance from its provider: one module per poller,
//! each with the exact request and response shape of the provider's docs
//! (cited in its module comment) and a pure parser tested on the documented
//! examples.
//!
//! Every poller calls `GET` on the provider's base URL's origin (scheme, host
//! and port) plus the documented path, with the provider's static headers and
//! `Authorization: Bearer <the account's key>`, through the provider's proxy,
//! with the provider's connect timeout; the whole read (all its requests) is
//! bounded by the caller's timeout. Bodies are read up to 16 KiB. An error
//! names the path and what was wrong, never the key, a header value or the
//! proxy URL.

mod deepseek;
mod moonshot;
mod oneapi;
mod openrouter;
mod siliconflow;

use crate::outbound::{self, describe, scrub, upstream_message};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::time::Duration;
use switchyard_proto::model::{Account, BalanceApi, Provider};

/// What a poll read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// ISO 4217, from the answer where it says, else the provider's documented currency.
    pub currency: String,
    pub amount_micros: i64,
}

/// What one poll needs: the HTTP client built for the provider, the provider
/// and the account.
pub struct Ctx<'a> {
    pub client: &'a reqwest::Client,
    pub provider: &'a Provider,
    pub account: &'a Account,
}

/// A response as a poller sees it: its status and up to 16 KiB of its body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub(super) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, if it is.
    pub(super) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Reads `account`'s balance with `api`'s poller, within `timeout`.
pub async fn read(
    api: BalanceApi,
    provider: &Provider,
    account: &Account,
    connect: Duration,
    timeout: Duration,
) -> Result<Reading, String> {
    let client = outbound::provider_client(provider, connect, timeout)?;
    let cx = Ctx { client: &client, provider, account };
    read_with(api, &cx, timeout).await
}

/// [`read`] with a client already built for the provider.
pub async fn read_with(api: BalanceApi, cx: &Ctx<'_>, timeout: Duration) -> Result<Reading, String> {
    let polled = async {
        match api {
            BalanceApi::None => Err("no balance API applies (balance_api: none)".to_owned()),
            BalanceApi::DeepSeek => deepseek::read(cx).await,
            BalanceApi::OpenRouter => openrouter::read(cx).await,
            BalanceApi::SiliconFlow => siliconflow::read(cx).await,
            BalanceApi::Moonshot => moonshot::read(cx).await,
            BalanceApi::OneApi => oneapi::read(cx).await,
        }
    };
    match tokio::time::timeout(timeout, polled).await {
        Ok(read) => read,
        Err(_) => Err(format!("timed out after {}", switchyard_proto::model::units::format_duration(timeout))),
    }
}

impl Ctx<'_> {
    /// The base URL's origin plus `path`.
    fn url(&self, path: &str) -> Result<Url, String> {
        let base = Url::parse(&self.provider.base_url).map_err(|_| "invalid base_url".to_owned())?;
        base.join(path).map_err(|_| "invalid base_url".to_owned())
    }

    /// The base URL's host, lower case.
    pub(super) fn host(&self) -> String {
        Url::parse(&self.provider.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default()
    }

    /// The account's balance policy currency, if it has one.
    pub(super) fn policy_currency(&self) -> Option<&str> {
        self.account.balance.as_ref().map(|b| b.currency.as_str())
    }

    /// What must never appear in an error: the key, header values, the proxy URL.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![self.account.api_key.expose()];
        secrets.extend(self.provider.headers.values().map(|v| v.expose()));
        secrets.extend(self.provider.proxy.as_ref().map(|p| p.expose()));
        secrets
    }

    fn headers(&self) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.provider.headers {
            // Validated when written; skip rather than fail on what cannot happen.
            if let (Ok(n), Ok(mut v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose()))
            {
                v.set_sensitive(true);
                headers.insert(n, v);
            }
        }
        let bearer = format!("Bearer {}", self.account.api_key.expose());
        let mut auth =
            HeaderValue::from_str(&bearer).map_err(|_| "the API key is not a valid header value".to_owned())?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    /// `GET path`: its status and body, or why there was no answer.
    pub(super) async fn get(&self, path: &str) -> Result<Answer, String> {
        let url = self.url(path)?;
        let headers = self.headers()?;
        let response = self
            .client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {}", describe(&e, &self.secrets())))?;
        let status = response.status().as_u16();
        Ok(Answer { status, body: outbound::body(response).await })
    }

    /// `GET path`, which must answer 2xx with a JSON body.
    pub(super) async fn get_json(&self, path: &str) -> Result<Value, String> {
        let answer = self.get(path).await?;
        if !answer.ok() {
            return Err(self.refused(path, &answer));
        }
        answer.json().ok_or_else(|| format!("GET {path}: the answer is not JSON"))
    }

    /// An error for a non-2xx answer: its status and the provider's message, if any.
    pub(super) fn refused(&self, path: &str, answer: &Answer) -> String {
        match upstream_message(&answer.body) {
            Some(message) => scrub(&format!("GET {path}: HTTP {}: {message}", answer.status), &self.secrets()),
            None => format!("GET {path}: HTTP {}", answer.status),
        }
    }

    /// An error for an answer not in the documented shape.
    pub(super) fn unexpected(&self, path: &str, what: &str) -> String {
        scrub(&format!("GET {path}: unexpected answer: {what}"), &self.secrets())
    }
}

/// The field at `pointer` (`/data/balance`), or what is missing.
pub(super) fn field<'v>(value: &'v Value, pointer: &str) -> Result<&'v Value, String> {
    match value.pointer(pointer) {
        Some(Value::Null) | None => Err(format!("no {}", pointer.trim_start_matches('/').replace('/', "."))),
        Some(v) => Ok(v),
    }
}

/// The amount at `pointer`, in micro-units.
pub(super) fn amount(value: &Value, pointer: &str) -> Result<i64, String> {
    let name = pointer.trim_start_matches('/').replace('/', ".");
    super::amount::micros(field(value, pointer)?).map_err(|e| format!("{name}: {e}"))
}

/// The currency a host implies: `cn` hosts (mainland platforms) bill in CNY,
/// the international ones in USD; another host (a proxy, a test) takes the
/// account's policy currency, else `fallback`.
pub(super) fn regional_currency(cx: &Ctx<'_>, cn: &[&str], international: &[&str], fallback: &str) -> String {
    let host = cx.host();
    let on = |suffixes: &[&str]| suffixes.iter().any(|s| host == *s || host.ends_with(&format!(".{s}")));
    if on(cn) {
        "CNY".to_owned()
    } else if on(international) {
        "USD".to_owned()
    } else {
        cx.policy_currency().unwrap_or(fallback).to_owned()
    }
}
