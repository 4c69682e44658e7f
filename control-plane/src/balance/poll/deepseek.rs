//! DeepSeek: `GET /user/balance` (https://api-docs.deepseek.com/api/get-user-balance):
//!
//! ```json
//! {"is_available": true,
//!  "balance_infos": [{"currency": "CNY", "total_balance": "110.00",
//!                     "granted_balance": "10.00", "topped_up_balance": "100.00"}]}
//! ```
//!
//! Amounts are decimal strings, one entry per currency (CNY or USD). The entry
//! in the account's policy currency is taken, else the first. `is_available:
//! false` (the account may not call the API) is read as at most zero, so the
//! account drains.

use super::{Ctx, Reading, amount, field};
use serde_json::Value;

const PATH: &str = "/user/balance";

pub(super) async fn read(cx: &Ctx<'_>) -> Result<Reading, String> {
    let body = cx.get_json(PATH).await?;
    parse(&body, cx.policy_currency()).map_err(|e| cx.unexpected(PATH, &e))
}

fn parse(body: &Value, prefer: Option<&str>) -> Result<Reading, String> {
    let infos = field(body, "/balance_infos")?.as_array().ok_or("balance_infos is not a list")?;
    let currency_of = |info: &Value| info.get("currency").and_then(Value::as_str).map(str::to_owned);
    let info = prefer
        .and_then(|want| infos.iter().find(|i| currency_of(i).as_deref() == Some(want)))
        .or_else(|| infos.first())
        .ok_or("balance_infos is empty")?;
    let currency = currency_of(info).ok_or("balance_infos[].currency missing")?;
    let mut amount_micros = amount(info, "/total_balance")?;
    if body.get("is_available").and_then(Value::as_bool) == Some(false) {
        amount_micros = amount_micros.min(0);
    }
    Ok(Reading { currency, amount_micros })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn documented() -> Value {
        json!({"is_available": true, "balance_infos": [
            {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]})
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(parse(&documented(), None), Ok(Reading { currency: "CNY".into(), amount_micros: 110_000_000 }));
    }

    #[test]
    fn the_policy_currency_wins_among_several() {
        let body = json!({"is_available": true, "balance_infos": [
            {"currency": "CNY", "total_balance": "7.10"}, {"currency": "USD", "total_balance": "1.25"}]});
        assert_eq!(parse(&body, Some("USD")).unwrap().amount_micros, 1_250_000);
        assert_eq!(parse(&body, Some("EUR")).unwrap().currency, "CNY", "else the first");
    }

    #[test]
    fn unavailable_reads_as_at_most_zero() {
        let mut body = documented();
        body["is_available"] = json!(false);
        assert_eq!(parse(&body, None).unwrap().amount_micros, 0);
        body["balance_infos"][0]["total_balance"] = json!("-2.00");
        assert_eq!(parse(&body, None).unwrap().amount_micros, -2_000_000);
    }

    #[test]
    fn other_shapes_are_errors() {
        assert_eq!(parse(&json!({}), None), Err("no balance_infos".into()));
        assert_eq!(parse(&json!({"balance_infos": []}), None), Err("balance_infos is empty".into()));
        let bad = json!({"balance_infos": [{"currency": "CNY", "total_balance": "lots"}]});
        assert!(parse(&bad, None).unwrap_err().starts_with("total_balance: invalid amount"));
    }
}
