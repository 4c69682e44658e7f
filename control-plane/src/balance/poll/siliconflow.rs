//! SiliconFlow: `GET /v1/user/info` (https://docs.siliconflow.cn/cn/api-reference/userinfo/get-user-info,
//! and the same on docs.siliconflow.com):
//!
//! ```json
//! {"code": 20000, "message": "OK", "status": true,
//!  "data": {"id": "userid", "name": "username", "balance": "0.88", "status": "normal",
//!           "chargeBalance": "88.00", "totalBalance": "88.88", ...}}
//! ```
//!
//! Amounts are decimal strings: `balance` (granted), `chargeBalance` (topped
//! up), `totalBalance` (both, what is read; `balance` when it is absent). The
//! answer names no currency: CNY on `siliconflow.cn`, USD on the international
//! `siliconflow.com`.

use super::{Ctx, Reading, amount, regional_currency};
use serde_json::Value;

const PATH: &str = "/v1/user/info";

pub(super) async fn read(cx: &Ctx<'_>) -> Result<Reading, String> {
    let body = cx.get_json(PATH).await?;
    let amount_micros = parse(&body).map_err(|e| cx.unexpected(PATH, &e))?;
    let currency = regional_currency(cx, &["siliconflow.cn"], &["siliconflow.com"], "CNY");
    Ok(Reading { currency, amount_micros })
}

fn parse(body: &Value) -> Result<i64, String> {
    if body.get("status").and_then(Value::as_bool) == Some(false) {
        let message = body.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("status false: {message}"));
    }
    match body.pointer("/data/totalBalance") {
        Some(Value::Null) | None => amount(body, "/data/balance"),
        Some(_) => amount(body, "/data/totalBalance"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_example() {
        let body = json!({"code": 20000, "message": "OK", "status": true, "data": {
            "id": "userid", "name": "username", "image": "user_avatar_image_url", "email": "user_email_address",
            "isAdmin": false, "balance": "0.88", "status": "normal", "introduction": "", "role": "",
            "chargeBalance": "88.00", "totalBalance": "88.88"}});
        assert_eq!(parse(&body), Ok(88_880_000));
    }

    #[test]
    fn balance_when_there_is_no_total() {
        assert_eq!(parse(&json!({"status": true, "data": {"balance": "1.5"}})), Ok(1_500_000));
        assert_eq!(parse(&json!({"status": true, "data": {}})), Err("no data.balance".into()));
        assert_eq!(
            parse(&json!({"code": 30001, "message": "bad token", "status": false})),
            Err("status false: bad token".into())
        );
    }
}
