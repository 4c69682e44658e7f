//! The one thing read out of a serving certificate besides what rustls
//! checks: when it expires (`/status`, and the metric operators alert on).
//! A minimal DER walk to `tbsCertificate.validity.notAfter` (RFC 5280
//! §4.1); anything it does not understand is `None`, never an error, since
//! rustls has accepted the certificate already.

/// `notAfter` of a DER certificate, as a timestamp.
pub(crate) fn not_after(der: &[u8]) -> Option<jiff::Timestamp> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (mut tbs, _) = element(certificate, SEQUENCE)?;
    // version [0] EXPLICIT (absent in v1 certificates), serialNumber, signature, issuer.
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs, VERSION)?.1;
    }
    for tag in [INTEGER, SEQUENCE, SEQUENCE] {
        tbs = element(tbs, tag)?.1;
    }
    let (validity, _) = element(tbs, SEQUENCE)?;
    let (_, _, rest) = any(validity)?; // notBefore
    let (tag, value, _) = any(rest)?;
    time(tag, value)
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The contents of an element with `tag` at the start of `der`, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match any(der)? {
        (t, contents, rest) if t == tag => Some((contents, rest)),
        _ => None,
    }
}

/// (tag, contents, rest) of the element at the start of `der` (single-byte tags, definite lengths).
fn any(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, der) = der.split_first()?;
    let (&first, mut der) = der.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || der.len() < n {
            return None;
        }
        let (bytes, rest) = der.split_at(n);
        der = rest;
        bytes.iter().fold(0usize, |len, b| (len << 8) | usize::from(*b))
    };
    (der.len() >= len).then(|| (tag, &der[..len], &der[len..]))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn time(tag: u8, value: &[u8]) -> Option<jiff::Timestamp> {
    let text = std::str::from_utf8(value).ok()?;
    let digits = text.strip_suffix('Z')?;
    let full = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy: u32 = digits[..2].parse().ok()?;
            format!("{}{digits}", if yy >= 50 { "19" } else { "20" })
        }
        (GENERALIZED_TIME, 14) => digits.to_owned(),
        _ => return None,
    };
    if !full.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let f = |r: std::ops::Range<usize>| &full[r];
    format!("{}-{}-{}T{}:{}:{}Z", f(0..4), f(4..6), f(6..8), f(8..10), f(10..12), f(12..14)).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_time_forms_and_the_century_of_utc_time() {
        let ts = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(time(UTC_TIME, b"270101120000Z"), Some(ts("2027-01-01T12:00:00Z")));
        assert_eq!(time(UTC_TIME, b"991231235959Z"), Some(ts("1999-12-31T23:59:59Z")));
        assert_eq!(time(GENERALIZED_TIME, b"20500101000000Z"), Some(ts("2050-01-01T00:00:00Z")));
        assert_eq!(time(UTC_TIME, b"2701011200Z"), None);
        assert_eq!(time(GENERALIZED_TIME, b"2050010100000+Z"), None);
        assert_eq!(time(UTC_TIME, b"271301120000Z"), None, "month 13");
    }

    #[test]
    fn lengths_short_and_long_and_truncated() {
        assert_eq!(any(&[0x30, 0x02, 1, 2, 9]), Some((0x30, &[1u8, 2][..], &[9u8][..])));
        let long: Vec<u8> = [0x30, 0x81, 0x80].into_iter().chain([7u8; 128]).collect();
        assert_eq!(any(&long).map(|(_, c, r)| (c.len(), r.len())), Some((128, 0)));
        assert_eq!(any(&[0x30, 0x05, 1, 2]), None);
        assert_eq!(any(&[0x30, 0x80]), None, "indefinite length is not DER");
        assert_eq!(not_after(b"not a certificate"), None);
    }
}
