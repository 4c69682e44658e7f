//! The one-api / new-api relay family, read with the account's own API key
//! (a relay token, `sk-...`):
//!
//! 1. new-api's token usage, `GET /api/usage/token` (QuantumNous/new-api
//!    `controller/token.go` `GetTokenUsage`; docs `docs/en/api/token-usage.md`):
//!    `{"code": true, "message": "ok", "data": {"object": "token_usage",
//!    "total_granted": 1000000, "total_used": 12345, "total_available": 987655,
//!    "unlimited_quota": false, ...}}`, in quota units (500,000 per USD unless
//!    the relay changed `QuotaPerUnit`);
//! 2. where that does not exist (one-api answers another path with its web
//!    page or 404), the OpenAI-style billing endpoints both serve
//!    (songquanpeng/one-api `router/dashboard.go`, `controller/billing.go`
//!    `GetSubscription`/`GetUsage`): `GET /v1/dashboard/billing/subscription`
//!    `{"object": "billing_subscription", "hard_limit_usd": F, ...}` where the
//!    limit is the token's (or user's) remaining plus used quota in USD, and
//!    `GET /v1/dashboard/billing/usage` `{"object": "list", "total_usage": F}`
//!    in US cents; the balance is `hard_limit_usd - total_usage / 100`.
//!
//! A token with unlimited quota (`unlimited_quota`, or one-api's
//! `hard_limit_usd` of 100000000) has no balance to read: an error. The relay
//! is taken to show quota in USD (its default); `/api/user/self` is not used
//! (it needs a user access token, not the API key the account holds).

use super::{Answer, Ctx, Reading, amount, field};
use crate::balance::amount::quota_micros;
use serde_json::Value;

const TOKEN_USAGE: &str = "/api/usage/token";
const SUBSCRIPTION: &str = "/v1/dashboard/billing/subscription";
const USAGE: &str = "/v1/dashboard/billing/usage";
/// What one-api reports as the limit of a token with unlimited quota.
const UNLIMITED_USD: i64 = 100_000_000 * 1_000_000;
const UNLIMITED: &str = "the relay token has unlimited quota: no balance to read (use balance_api: none)";

pub(super) async fn read(cx: &Ctx<'_>) -> Result<Reading, String> {
    let answer = cx.get(TOKEN_USAGE).await?;
    if let Some(read) = token_usage(cx, &answer)? {
        return Ok(usd(read?));
    }
    let subscription = cx.get_json(SUBSCRIPTION).await?;
    let limit = billing_limit(&subscription).map_err(|e| cx.unexpected(SUBSCRIPTION, &e))?;
    let usage = cx.get_json(USAGE).await?;
    let used = billing_used(&usage).map_err(|e| cx.unexpected(USAGE, &e))?;
    Ok(usd(limit.saturating_sub(used)))
}

fn usd(amount_micros: i64) -> Reading {
    Reading { currency: "USD".to_owned(), amount_micros }
}

/// `None` when the relay has no token usage endpoint (one-api): try the
/// billing endpoints. A refused key is an error here and now.
fn token_usage(cx: &Ctx<'_>, answer: &Answer) -> Result<Option<Result<i64, String>>, String> {
    match answer.status {
        401 | 403 => return Err(cx.refused(TOKEN_USAGE, answer)),
        _ if !answer.ok() => return Ok(None),
        _ => {}
    }
    let Some(body) = answer.json() else { return Ok(None) };
    if body.pointer("/data/total_available").is_none() {
        return Ok(None);
    }
    Ok(Some(parse_token_usage(&body).map_err(|e| cx.unexpected(TOKEN_USAGE, &e))))
}

fn parse_token_usage(body: &Value) -> Result<i64, String> {
    if body.pointer("/data/unlimited_quota").and_then(Value::as_bool) == Some(true) {
        return Err(UNLIMITED.to_owned());
    }
    let units = field(body, "/data/total_available")?.as_i64().ok_or("data.total_available is not an integer")?;
    quota_micros(units)
}

/// A 200 with `{"error": {...}}` is how one-api reports a failure here.
fn in_band_error(body: &Value) -> Result<(), String> {
    match body.pointer("/error/message").and_then(Value::as_str) {
        Some(message) => Err(format!("error: {message}")),
        None => Ok(()),
    }
}

fn billing_limit(body: &Value) -> Result<i64, String> {
    in_band_error(body)?;
    let limit = amount(body, "/hard_limit_usd")?;
    if limit >= UNLIMITED_USD {
        return Err(UNLIMITED.to_owned());
    }
    Ok(limit)
}

/// `total_usage` is in cents.
fn billing_used(body: &Value) -> Result<i64, String> {
    in_band_error(body)?;
    let cents = amount(body, "/total_usage")?;
    Ok((cents + cents.signum() * 50) / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_api_token_usage_in_quota_units() {
        let body = json!({"code": true, "message": "ok", "data": {"object": "token_usage", "name": "Default Token",
            "total_granted": 1000000, "total_used": 12345, "total_available": 987655, "unlimited_quota": false,
            "model_limits": {"gpt-4o-mini": 500000}, "model_limits_enabled": false, "expires_at": 0}});
        assert_eq!(parse_token_usage(&body), Ok(1_975_310));
        let mut unlimited = body.clone();
        unlimited["data"]["unlimited_quota"] = json!(true);
        assert_eq!(parse_token_usage(&unlimited), Err(UNLIMITED.into()));
        unlimited["data"]["total_available"] = json!(1.5);
        unlimited["data"]["unlimited_quota"] = json!(false);
        assert!(parse_token_usage(&unlimited).is_err());
    }

    #[test]
    fn one_api_billing_limit_minus_usage_in_cents() {
        let subscription = json!({"object": "billing_subscription", "has_payment_method": true,
            "soft_limit_usd": 25.0, "hard_limit_usd": 25.0, "system_hard_limit_usd": 25.0, "access_until": 0});
        let usage = json!({"object": "list", "total_usage": 730.5});
        assert_eq!(billing_limit(&subscription), Ok(25_000_000));
        assert_eq!(billing_used(&usage), Ok(7_305_000));
        assert_eq!(billing_used(&json!({"total_usage": 0.00005})), Ok(1), "half a micro-dollar rounds up");
    }

    #[test]
    fn unlimited_and_in_band_errors() {
        assert_eq!(billing_limit(&json!({"hard_limit_usd": 100000000})), Err(UNLIMITED.into()));
        let failed = json!({"error": {"message": "record not found", "type": "one_api_error"}});
        assert_eq!(billing_limit(&failed), Err("error: record not found".into()));
        assert_eq!(billing_used(&failed), Err("error: record not found".into()));
    }
}
