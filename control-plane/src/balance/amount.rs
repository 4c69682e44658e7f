//! Amounts as providers write them (JSON numbers such as `49.58894`, decimal
//! strings such as `"110.00"`, sometimes with an exponent) as integer
//! micro-units, rounded half away from zero to the sixth decimal place.

use serde_json::Value;
use switchyard_proto::model::units::MICROS_PER_UNIT;

/// Longest number text accepted.
const MAX_LEN: usize = 64;
/// Most significant digits kept exactly (an i128 holds 38).
const MAX_DIGITS: usize = 30;

/// A JSON number or a decimal string as micro-units.
pub fn micros(v: &Value) -> Result<i64, String> {
    match v {
        // serde_json prints an f64 as the shortest text that reads back the same.
        Value::Number(n) => decimal_micros(&n.to_string()),
        Value::String(s) => decimal_micros(s),
        other => Err(format!("expected an amount, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `-1.5`, `110.00`, `4.8984355238`, `2.5e-6` as micro-units.
pub fn decimal_micros(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad = || format!("invalid amount {:?}", truncate(t));
    if t.is_empty() || t.len() > MAX_LEN {
        return Err(bad());
    }
    let (negative, rest) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (number, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], rest[at + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_only(int) || !digits_only(frac) {
        return Err(bad());
    }
    let all = format!("{int}{frac}");
    let significant = all.trim_start_matches('0');
    if significant.len() > MAX_DIGITS {
        return Err(format!("amount {:?} has too many digits", truncate(t)));
    }
    let mantissa: i128 = if significant.is_empty() { 0 } else { significant.parse().map_err(|_| bad())? };
    // value = mantissa * 10^(exponent - frac digits); micros = value * 10^6.
    let frac_len = i32::try_from(frac.len()).map_err(|_| bad())?;
    let shift = exponent.saturating_sub(frac_len).saturating_add(6);
    let too_large = || format!("amount {:?} is too large", truncate(t));
    let magnitude: i128 = if shift >= 0 {
        let factor = 10i128.checked_pow(u32::try_from(shift).map_err(|_| too_large())?).ok_or_else(too_large)?;
        if mantissa == 0 { 0 } else { mantissa.checked_mul(factor).ok_or_else(too_large)? }
    } else {
        match 10i128.checked_pow(shift.unsigned_abs()) {
            // Half away from zero (the sign is applied below).
            Some(divisor) => (mantissa + divisor / 2) / divisor,
            None => 0,
        }
    };
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| too_large())
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_LEN).collect()
}

/// One-api / new-api quota units (500,000 per USD by default) as micro-USD.
pub fn quota_micros(units: i64) -> Result<i64, String> {
    const UNITS_PER_USD: i64 = 500_000;
    const MICROS_PER_QUOTA: i64 = MICROS_PER_UNIT / UNITS_PER_USD;
    units.checked_mul(MICROS_PER_QUOTA).ok_or_else(|| format!("quota {units} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimal_strings_and_numbers_become_micros() {
        assert_eq!(decimal_micros("110.00"), Ok(110_000_000));
        assert_eq!(decimal_micros("0.88"), Ok(880_000));
        assert_eq!(decimal_micros("-1.5"), Ok(-1_500_000));
        assert_eq!(decimal_micros("+3"), Ok(3_000_000));
        assert_eq!(decimal_micros(".5"), Ok(500_000));
        assert_eq!(decimal_micros("7."), Ok(7_000_000));
        assert_eq!(decimal_micros("0"), Ok(0));
        assert_eq!(decimal_micros(" 12 "), Ok(12_000_000));
        assert_eq!(micros(&json!(49.58894)), Ok(49_588_940));
        assert_eq!(micros(&json!(100000000)), Ok(100_000_000_000_000));
        assert_eq!(micros(&json!("88.88")), Ok(88_880_000));
    }

    #[test]
    fn more_than_six_places_round_half_away_from_zero() {
        assert_eq!(decimal_micros("4.8984355238"), Ok(4_898_436));
        assert_eq!(decimal_micros("0.0000005"), Ok(1));
        assert_eq!(decimal_micros("-0.0000005"), Ok(-1));
        assert_eq!(decimal_micros("0.0000004999"), Ok(0));
        assert_eq!(decimal_micros("2.5e-6"), Ok(3));
        assert_eq!(decimal_micros("1e-7"), Ok(0));
        assert_eq!(decimal_micros("1.25E2"), Ok(125_000_000));
        assert_eq!(decimal_micros("1e-300"), Ok(0));
        assert_eq!(micros(&json!(0.1 + 0.2)), Ok(300_000), "f64 noise rounds away");
    }

    #[test]
    fn nonsense_is_refused_with_the_text() {
        for bad in ["", "abc", "1.2.3", "NaN", "-", "1e", "1,5", "0x10", "--1", "1e5.5"] {
            assert!(decimal_micros(bad).is_err(), "{bad:?}");
        }
        assert!(decimal_micros("1e300").unwrap_err().contains("too large"));
        assert!(decimal_micros("99999999999999999999").unwrap_err().contains("too large"));
        assert!(decimal_micros(&"1".repeat(40)).is_err());
        assert_eq!(micros(&json!(null)), Err("expected an amount, found null".into()));
        assert_eq!(micros(&json!([1])), Err("expected an amount, found an array".into()));
    }

    #[test]
    fn quota_units_are_two_micro_dollars_each() {
        assert_eq!(quota_micros(500_000), Ok(1_000_000));
        assert_eq!(quota_micros(987_655), Ok(1_975_310));
        assert!(quota_micros(i64::MAX).is_err());
    }
}
