//! Fake balance endpoints of every provider the control plane polls, on a
//! [`FakeUpstream`] (so the same server also answers chat completions: a
//! provider's `base_url` can point at it for both). Accounts are told apart
//! by their API key (`Authorization: Bearer KEY`); an unknown key gets 401.
//! Shapes are the providers' documented ones:
//!
//! * DeepSeek `GET /user/balance`: `{"is_available", "balance_infos": [{"currency",
//!   "total_balance", "granted_balance", "topped_up_balance"}]}`, decimal strings;
//! * OpenRouter `GET /api/v1/key`: `{"data": {"label", "limit", "limit_remaining",
//!   "usage", ...}}` (`null` limits for a key without one) and `GET /api/v1/credits`:
//!   `{"data": {"total_credits", "total_usage"}}`, numbers; `/credits` is 403 for a
//!   key that is not a management key;
//! * SiliconFlow `GET /v1/user/info`: `{"code": 20000, "message": "OK", "status": true,
//!   "data": {"balance", "chargeBalance", "totalBalance", ...}}`, decimal strings;
//! * Moonshot `GET /v1/users/me/balance`: `{"code": 0, "data": {"available_balance",
//!   "voucher_balance", "cash_balance"}, "scode": "0x0", "status": true}`, numbers;
//! * new-api `GET /api/usage/token`: `{"code": true, "message": "ok", "data": {"object":
//!   "token_usage", "total_granted", "total_used", "total_available", "unlimited_quota", ...}}`
//!   in quota units (500,000 per USD); one-api has no such path (404) but
//!   `GET /v1/dashboard/billing/subscription` `{"object": "billing_subscription",
//!   "hard_limit_usd", ...}` and `GET /v1/dashboard/billing/usage` `{"object": "list",
//!   "total_usage"}` (cents), which new-api serves too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::fake_upstream::{Options, Responder};
use crate::{FakeUpstream, Reply};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What an account has, as its provider keeps it.
#[derive(Debug, Clone)]
pub struct Funds {
    /// What is left, micro-units (the sum of what the shape splits).
    pub micros: i64,
    /// DeepSeek names it in the answer; the other shapes do not.
    pub currency: String,
    /// Already spent (OpenRouter's `usage` and `total_usage`, one-api's used quota).
    pub used_micros: i64,
    /// OpenRouter: what the key's own credit limit leaves (`None`: no limit).
    pub key_limit_micros: Option<i64>,
    /// OpenRouter: a management key, which may read `/api/v1/credits`.
    pub management: bool,
    /// one-api/new-api: the relay is new-api (it has `/api/usage/token`).
    pub new_api: bool,
    /// one-api/new-api: the token has unlimited quota.
    pub unlimited: bool,
    /// DeepSeek's `is_available`.
    pub available: bool,
}

impl Funds {
    pub fn new(micros: i64, currency: &str) -> Funds {
        Funds {
            micros,
            currency: currency.to_owned(),
            used_micros: 0,
            key_limit_micros: None,
            management: true,
            new_api: true,
            unlimited: false,
            available: true,
        }
    }
}

/// How the fake answers one key's balance requests.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// The documented shape with the account's funds.
    Answer,
    /// This status with an OpenAI-style error body.
    Status(u16),
    /// This long before answering.
    Delay(Duration),
    /// Never answers (an hour).
    Hang,
    /// 401 with a message quoting the key and every header value it received
    /// (as some providers do with the key).
    Echo,
}

/// One balance request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    /// The bearer key ("" when none).
    pub key: String,
    /// When it arrived.
    pub at: tokio::time::Instant,
}

#[derive(Default)]
struct State {
    funds: Mutex<HashMap<String, Funds>>,
    behaviour: Mutex<HashMap<String, Behaviour>>,
    /// Every key's behaviour when it has none of its own.
    default: Mutex<Option<Behaviour>>,
    hits: Mutex<Vec<Hit>>,
    count: watch::Sender<usize>,
}

/// The fake: its [`FakeUpstream`] (chat completions and everything else as
/// usual) with the balance endpoints in front.
pub struct FakeBalance {
    pub upstream: FakeUpstream,
    state: Arc<State>,
}

const PATHS: [&str; 8] = [
    "/user/balance",
    "/api/v1/key",
    "/api/v1/credits",
    "/v1/user/info",
    "/v1/users/me/balance",
    "/api/usage/token",
    "/v1/dashboard/billing/subscription",
    "/v1/dashboard/billing/usage",
];

impl FakeBalance {
    pub async fn start() -> FakeBalance {
        let state = Arc::new(State::default());
        let answer = state.clone();
        let respond = Responder(Arc::new(move |parts: &http::request::Parts| answer.respond(parts)));
        let upstream = FakeUpstream::start_with(Options { respond: Some(respond), ..Default::default() }).await;
        FakeBalance { upstream, state }
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        self.upstream.base_url()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.upstream.addr())
    }

    /// Sets (or replaces) what the account with `key` has.
    pub fn set(&self, key: &str, funds: Funds) {
        self.state.funds.lock().insert(key.to_owned(), funds);
    }

    /// Changes what the account with `key` has left.
    pub fn set_micros(&self, key: &str, micros: i64) {
        self.state.funds.lock().get_mut(key).expect("funds set for the key").micros = micros;
    }

    pub fn behave(&self, key: &str, behaviour: Behaviour) {
        self.state.behaviour.lock().insert(key.to_owned(), behaviour);
    }

    /// Every key's behaviour unless it has its own.
    pub fn behave_all(&self, behaviour: Behaviour) {
        *self.state.default.lock() = Some(behaviour);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().clone()
    }

    /// Balance requests made with `key`.
    pub fn hits_of(&self, key: &str) -> usize {
        self.state.hits.lock().iter().filter(|h| h.key == key).count()
    }

    /// Resolves once at least `n` balance requests arrived (10 s at most).
    pub async fn wait_for_hits(&self, n: usize) {
        let mut count = self.state.count.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(10), count.wait_for(|c| *c >= n)).await;
        assert!(waited.is_ok(), "expected {n} balance requests, got {:?}", self.hits());
    }
}

/// Micro-units as a decimal string with two or more places (`"110.00"`).
fn decimal(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
    let frac = format!("{frac:06}");
    let frac = frac.trim_end_matches('0');
    format!("{sign}{int}.{frac:0<2}")
}

/// Micro-units as a JSON number.
fn number(micros: i64) -> Value {
    json!(micros as f64 / 1e6)
}

impl State {
    fn respond(&self, parts: &http::request::Parts) -> Option<Reply> {
        let path = parts.uri.path();
        if parts.method != http::Method::GET || !PATHS.contains(&path) {
            return None;
        }
        let key = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_owned();
        {
            let mut hits = self.hits.lock();
            hits.push(Hit { path: path.to_owned(), key: key.clone(), at: tokio::time::Instant::now() });
            self.count.send_replace(hits.len());
        }
        let behaviour = self
            .behaviour
            .lock()
            .get(&key)
            .cloned()
            .or_else(|| self.default.lock().clone())
            .unwrap_or(Behaviour::Answer);
        if let Behaviour::Echo = behaviour {
            let values: Vec<&str> = parts.headers.values().filter_map(|v| v.to_str().ok()).collect();
            let message = format!("Incorrect API key provided: {key}; you sent {}", values.join(", "));
            return Some(Reply::error(401, "invalid_request_error", &message));
        }
        let Some(funds) = self.funds.lock().get(&key).cloned() else {
            return Some(Reply::error(401, "invalid_request_error", "Authentication Fails (no such API key)"));
        };
        match behaviour {
            Behaviour::Answer => Some(answer(path, &funds)),
            Behaviour::Status(status) => Some(Reply::error(status, "api_error", "the fake says no")),
            Behaviour::Delay(delay) => Some(Reply::delayed(delay, answer(path, &funds))),
            Behaviour::Hang => Some(Reply::delayed(Duration::from_secs(3600), answer(path, &funds))),
            Behaviour::Echo => None,
        }
    }
}

fn answer(path: &str, f: &Funds) -> Reply {
    let quota = |micros: i64| micros / 2;
    let body = match path {
        "/user/balance" => json!({
            "is_available": f.available,
            "balance_infos": [{"currency": f.currency, "total_balance": decimal(f.micros),
                               "granted_balance": "0.00", "topped_up_balance": decimal(f.micros)}],
        }),
        "/api/v1/key" => json!({"data": {
            "label": "sk-or-v1-fak...e00",
            "limit": f.key_limit_micros.map(|l| number(l + f.used_micros)),
            "limit_remaining": f.key_limit_micros.map(number),
            "limit_reset": null,
            "usage": number(f.used_micros),
            "is_free_tier": false,
            "is_management_key": f.management,
        }}),
        "/api/v1/credits" if !f.management => {
            return Reply::error(403, "forbidden", "Only management keys can perform this operation");
        }
        "/api/v1/credits" => json!({"data": {
            "total_credits": number(f.micros + f.used_micros), "total_usage": number(f.used_micros),
        }}),
        "/v1/user/info" => json!({"code": 20000, "message": "OK", "status": true, "data": {
            "id": "userid", "name": "", "image": "", "email": "", "isAdmin": false,
            "balance": "0.00", "status": "normal", "introduction": "", "role": "",
            "chargeBalance": decimal(f.micros), "totalBalance": decimal(f.micros),
        }}),
        "/v1/users/me/balance" => json!({"code": 0, "scode": "0x0", "status": true, "data": {
            "available_balance": number(f.micros), "voucher_balance": 0, "cash_balance": number(f.micros),
        }}),
        "/api/usage/token" if !f.new_api => {
            return Reply::Raw { status: 404, headers: vec![], body: bytes::Bytes::from_static(b"404 page not found") };
        }
        "/api/usage/token" => json!({"code": true, "message": "ok", "data": {
            "object": "token_usage", "name": "Default Token",
            "total_granted": quota(f.micros + f.used_micros), "total_used": quota(f.used_micros),
            "total_available": quota(f.micros), "unlimited_quota": f.unlimited,
            "model_limits": {}, "model_limits_enabled": false, "expires_at": 0,
        }}),
        "/v1/dashboard/billing/subscription" => {
            let limit = if f.unlimited { json!(100000000) } else { number(f.micros + f.used_micros) };
            json!({"object": "billing_subscription", "has_payment_method": true, "soft_limit_usd": limit,
                   "hard_limit_usd": limit, "system_hard_limit_usd": limit, "access_until": 0})
        }
        "/v1/dashboard/billing/usage" => json!({"object": "list", "total_usage": f.used_micros as f64 / 1e4}),
        _ => return Reply::error(404, "not_found", "no such path"),
    };
    Reply::json(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_as_providers_write_them() {
        assert_eq!(decimal(110_000_000), "110.00");
        assert_eq!(decimal(880_000), "0.88");
        assert_eq!(decimal(1_234_567), "1.234567");
        assert_eq!(decimal(-1_500_000), "-1.50");
        assert_eq!(decimal(0), "0.00");
    }
}
