//! Flags in the document's spelling (`30s`, `0.15`, `2027-01-01T00:00:00Z`)
//! to the wire's integers and back, with proto's parsers so the CLI and
//! gateway.yaml agree.

use crate::error::Error;
use std::time::Duration;
use switchyard_proto::model::units::{check_currency, format_duration, format_money, parse_duration, parse_money};

pub fn duration_ms(flag: &str, s: &str) -> Result<u64, Error> {
    let d = parse_duration(s).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn money(flag: &str, s: &str) -> Result<i64, Error> {
    parse_money(s).map_err(|e| Error::Usage(format!("{flag}: {e}")))
}

/// A non-negative amount (prices, budgets, alert thresholds).
pub fn amount(flag: &str, s: &str) -> Result<i64, Error> {
    let micros = money(flag, s)?;
    if micros < 0 {
        return Err(Error::Usage(format!("{flag}: must not be negative (got {s})")));
    }
    Ok(micros)
}

pub fn currency(flag: &str, s: &str) -> Result<String, Error> {
    check_currency(s).map_err(|e| Error::Usage(format!("{flag}: {e}")))?;
    Ok(s.to_owned())
}

pub fn show_ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

pub fn show_money(micros: i64) -> String {
    format_money(micros)
}

/// A balance with at least two decimals: `0.00`, `12.50`, `4.898436`.
pub fn show_amount(micros: i64) -> String {
    let text = format_money(micros);
    match text.split_once('.') {
        None => format!("{text}.00"),
        Some((_, frac)) if frac.len() == 1 => format!("{text}0"),
        Some(_) => text,
    }
}

/// A span in its two largest units: `1d20h`, `35m`, `42s`, `0s`.
pub fn short_span(ms: u64) -> String {
    let mut left = ms / 1000;
    if left == 0 {
        return "0s".into();
    }
    let mut parts = Vec::new();
    for (unit, per) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= per && parts.len() < 2 {
            parts.push(format!("{}{unit}", left / per));
            left %= per;
        } else if !parts.is_empty() {
            break;
        }
    }
    parts.concat()
}

/// RFC 3339 (`2027-01-01T00:00:00Z`) or a date (midnight UTC), as Unix seconds.
pub fn timestamp(flag: &str, s: &str) -> Result<i64, Error> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>()
        && let Ok(ts) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(ts.timestamp().as_second());
    }
    Err(Error::Usage(format!("{flag}: invalid time {s:?} (expected RFC 3339, e.g. 2027-01-01T00:00:00Z)")))
}

/// Unix seconds as RFC 3339 UTC.
pub fn show_unix(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

/// Unix milliseconds as RFC 3339 UTC to the second; `-` for 0 (never).
pub fn show_ms_time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    show_unix(ms.div_euclid(1000))
}

/// JSON: RFC 3339, or null for 0 (never).
pub fn json_ms_time(ms: i64) -> serde_json::Value {
    if ms <= 0 { serde_json::Value::Null } else { show_ms_time(ms).into() }
}

/// `12s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn ago(ms: i64, now: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    let secs = (now - ms).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `now - since` for a `--since 24h` flag.
pub fn since_ms(s: &str) -> Result<i64, Error> {
    let ms = duration_ms("--since", s)?;
    Ok(now_ms().saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_spans_for_people() {
        assert_eq!(show_amount(0), "0.00");
        assert_eq!(show_amount(12_500_000), "12.50");
        assert_eq!(show_amount(-1_500_000), "-1.50");
        assert_eq!(show_amount(4_898_436), "4.898436");
        assert_eq!(short_span(0), "0s");
        assert_eq!(short_span(42_999), "42s");
        assert_eq!(short_span(35 * 60_000), "35m");
        assert_eq!(short_span(44 * 3_600_000 + 13 * 60_000), "1d20h");
        assert_eq!(short_span(86_400_000 + 5 * 60_000), "1d", "the units after the largest are consecutive");
    }
}
