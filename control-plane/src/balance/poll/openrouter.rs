//! OpenRouter: two documented endpoints, both under `/api/v1`:
//!
//! * `GET /api/v1/key` (https://openrouter.ai/docs/api/api-reference/api-keys/get-current-key),
//!   any key: `{"data": {"label": "...", "limit": 100, "limit_remaining": 74.5,
//!   "usage": 25.5, ...}}`, `limit` and `limit_remaining` `null` for a key
//!   without a credit limit;
//! * `GET /api/v1/credits` (https://openrouter.ai/docs/api/api-reference/credits/get-credits),
//!   a management key only: `{"data": {"total_credits": 100.5, "total_usage": 25.75}}`.
//!
//! Amounts are USD numbers. The balance is the smaller of what the account's
//! credits leave (`total_credits - total_usage`) and what the key's limit
//! leaves (`limit_remaining`), of those the key can read: an inference key
//! refused `/credits` (401/403) counts by its limit alone.

use super::{Ctx, Reading, amount};
use serde_json::Value;

const KEY: &str = "/api/v1/key";
const CREDITS: &str = "/api/v1/credits";

pub(super) async fn read(cx: &Ctx<'_>) -> Result<Reading, String> {
    let key = cx.get_json(KEY).await?;
    let limit = key_remaining(&key).map_err(|e| cx.unexpected(KEY, &e))?;
    let answer = cx.get(CREDITS).await?;
    let credits = match answer.status {
        401 | 403 => None,
        _ if !answer.ok() => return Err(cx.refused(CREDITS, &answer)),
        _ => {
            let body = answer.json().ok_or_else(|| format!("GET {CREDITS}: the answer is not JSON"))?;
            Some(credits_left(&body).map_err(|e| cx.unexpected(CREDITS, &e))?)
        }
    };
    let amount_micros = match (credits, limit) {
        (Some(c), Some(l)) => c.min(l),
        (Some(c), None) => c,
        (None, Some(l)) => l,
        (None, None) => {
            return Err("the key has no credit limit and may not read /api/v1/credits (a management key may): \
                        set the balance by hand or use balance_api: none"
                .to_owned());
        }
    };
    Ok(Reading { currency: "USD".to_owned(), amount_micros })
}

/// What the key's own limit leaves; `None` for a key without a limit.
fn key_remaining(body: &Value) -> Result<Option<i64>, String> {
    match body.pointer("/data/limit_remaining") {
        None if body.get("data").is_none() => Err("no data".to_owned()),
        None | Some(Value::Null) => Ok(None),
        Some(_) => amount(body, "/data/limit_remaining").map(Some),
    }
}

fn credits_left(body: &Value) -> Result<i64, String> {
    let total = amount(body, "/data/total_credits")?;
    let used = amount(body, "/data/total_usage")?;
    Ok(total.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_examples() {
        let key = json!({"data": {"label": "sk-or-v1-au7...890", "limit": 100, "limit_remaining": 74.5,
            "limit_reset": "monthly", "usage": 25.5, "is_free_tier": false}});
        assert_eq!(key_remaining(&key), Ok(Some(74_500_000)));
        let credits = json!({"data": {"total_credits": 100.5, "total_usage": 25.75}});
        assert_eq!(credits_left(&credits), Ok(74_750_000));
    }

    #[test]
    fn a_key_without_a_limit_has_none() {
        let key = json!({"data": {"label": "x", "limit": null, "limit_remaining": null, "usage": 3.2}});
        assert_eq!(key_remaining(&key), Ok(None));
        assert_eq!(key_remaining(&json!({"data": {"usage": 1}})), Ok(None));
        assert_eq!(key_remaining(&json!({"error": "x"})), Err("no data".into()));
    }

    #[test]
    fn usage_past_the_credits_is_negative() {
        let credits = json!({"data": {"total_credits": 10, "total_usage": 10.0000015}});
        assert_eq!(credits_left(&credits), Ok(-2));
        assert_eq!(credits_left(&json!({"data": {"total_credits": 1}})), Err("no data.total_usage".into()));
    }
}
