//! Moonshot / Kimi: `GET /v1/users/me/balance` (https://platform.moonshot.cn/docs/api/balance,
//! https://platform.moonshot.ai/docs/api/balance):
//!
//! ```json
//! {"code": 0, "data": {"available_balance": 49.58894, "voucher_balance": 46.58893,
//!                      "cash_balance": 3.00001}, "scode": "0x0", "status": true}
//! ```
//!
//! Amounts are numbers; `available_balance` (cash plus vouchers; at or below
//! zero the API refuses calls) is read. The answer names no currency: CNY on
//! `moonshot.cn`, USD on `moonshot.ai`.

use super::{Ctx, Reading, amount, regional_currency};
use serde_json::Value;

const PATH: &str = "/v1/users/me/balance";

pub(super) async fn read(cx: &Ctx<'_>) -> Result<Reading, String> {
    let body = cx.get_json(PATH).await?;
    let amount_micros = parse(&body).map_err(|e| cx.unexpected(PATH, &e))?;
    let currency = regional_currency(cx, &["moonshot.cn"], &["moonshot.ai"], "CNY");
    Ok(Reading { currency, amount_micros })
}

fn parse(body: &Value) -> Result<i64, String> {
    let ok = body.get("status").and_then(Value::as_bool) != Some(false)
        && body.get("code").and_then(Value::as_i64).is_none_or(|c| c == 0);
    if !ok {
        let code = body.get("code").map_or_else(|| "?".to_owned(), Value::to_string);
        let scode = body.get("scode").and_then(Value::as_str).unwrap_or("");
        return Err(format!("failure code {code} {scode}").trim_end().to_owned());
    }
    amount(body, "/data/available_balance")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_example() {
        let body = json!({"code": 0, "data": {"available_balance": 49.58894, "voucher_balance": 46.58893,
            "cash_balance": 3.00001}, "scode": "0x0", "status": true});
        assert_eq!(parse(&body), Ok(49_588_940));
    }

    #[test]
    fn in_band_failures_and_other_shapes_are_errors() {
        assert_eq!(parse(&json!({"code": 5, "scode": "0x5", "status": false})), Err("failure code 5 0x5".into()));
        assert_eq!(parse(&json!({"code": 0, "status": true, "data": {}})), Err("no data.available_balance".into()));
        let owing = json!({"code": 0, "status": true, "data": {"available_balance": 0, "cash_balance": -3.2}});
        assert_eq!(parse(&owing), Ok(0));
    }
}
