//! Durations (`500ms`, `30s`, `1h30m`, `7d`), sizes (`20MiB`, `512KB`, `1024`)
//! and money (decimal strings or numbers, kept as integer micro-units).

use std::time::Duration;

/// One currency unit in micro-units.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Parses `500ms`, `30s`, `10m`, `24h`, `7d` and sums of them (`1h30m`).
/// Millisecond resolution; zero is allowed here, ranges are checked by the caller.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (expected e.g. 500ms, 30s, 10m, 24h, 7d)");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let per_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total_ms = n
            .checked_mul(per_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// The shortest exact spelling: `90s` -> `1m30s`, `0` -> `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, per) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= per {
            out.push_str(&format!("{}{unit}", ms / per));
            ms %= per;
        }
    }
    out
}

/// Parses `20MiB`, `1GiB`, `512KiB`, `10MB`, `100KB`, `64B` or a plain byte count.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {s:?} (expected e.g. 1024, 64KiB, 20MiB, 1GiB)");
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let n: u64 = t[..digits].parse().map_err(|_| bad())?;
    let mult: u64 = match t[digits..].trim_start() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

/// Binary units when exact (`20MiB`), bytes otherwise.
pub fn format_size(bytes: u64) -> String {
    for (unit, per) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= per && bytes.is_multiple_of(per) {
            return format!("{}{unit}", bytes / per);
        }
    }
    bytes.to_string()
}

/// Parses a decimal amount (`10`, `0.075`, `-1.5`) exactly into micro-units.
pub fn parse_money(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return Err(format!("invalid amount {s:?} (expected a decimal number such as 10 or 0.075)"));
    }
    if frac.len() > 6 {
        return Err(format!("amount {s:?} has more than 6 decimal places"));
    }
    let too_large = || format!("amount {s:?} is too large");
    let int: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| too_large())? };
    let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| too_large())?;
    let micros = int.checked_mul(MICROS_PER_UNIT).and_then(|m| m.checked_add(frac_micros)).ok_or_else(too_large)?;
    Ok(if neg { -micros } else { micros })
}

/// Micro-units as the shortest decimal: `75000` -> `0.075`, `10000000` -> `10`.
pub fn format_money(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (int, frac) = (abs / MICROS_PER_UNIT as u64, abs % MICROS_PER_UNIT as u64);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:06}");
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// An ISO 4217-style currency code: three upper-case letters (`USD`, `CNY`).
pub fn check_currency(code: &str) -> Result<(), String> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(format!("invalid currency {code:?} (expected three upper-case letters, e.g. USD)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "30", "s", "1.5s", "10 min", "-1s", "5us", "1h 30m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            parse_duration("30").unwrap_err(),
            "invalid duration \"30\" (expected e.g. 500ms, 30s, 10m, 24h, 7d)"
        );
        assert!(parse_duration("99999999999999999d").unwrap_err().contains("too large"));
        for s in ["500ms", "30s", "10m", "1h30m", "7d", "1m0s500ms"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20MiB"), Ok(20 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        for bad in ["", "MiB", "1.5MiB", "20mib", "20 megabytes", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(format_size(20 << 20), "20MiB");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn money() {
        assert_eq!(parse_money("10"), Ok(10_000_000));
        assert_eq!(parse_money("10.0"), Ok(10_000_000));
        assert_eq!(parse_money("0.075"), Ok(75_000));
        assert_eq!(parse_money("0.15"), Ok(150_000));
        assert_eq!(parse_money(".5"), Ok(500_000));
        assert_eq!(parse_money("-1.5"), Ok(-1_500_000));
        assert_eq!(parse_money("0.000001"), Ok(1));
        assert_eq!(parse_money("0.0000001").unwrap_err(), "amount \"0.0000001\" has more than 6 decimal places");
        for bad in ["", ".", "1e3", "abc", "1,5", "--1"] {
            assert!(parse_money(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_money("99999999999999").unwrap_err().contains("too large"));
        for m in [0, 1, 75_000, 10_000_000, -1_500_000, 123_456_789] {
            assert_eq!(parse_money(&format_money(m)), Ok(m));
        }
        assert_eq!(format_money(75_000), "0.075");
    }

    #[test]
    fn currencies() {
        assert!(check_currency("USD").is_ok());
        assert!(check_currency("CNY").is_ok());
        assert!(check_currency("usd").is_err());
        assert!(check_currency("US").is_err());
    }
}
