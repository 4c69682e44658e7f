//! `models:` (public routes, aliases, prices, targets) and `keys:`.

use super::reader::{Cx, Obj};
use crate::model::{
    Budget, BudgetPeriod, ClientKey, HttpMethod, KeyHash, Passthrough, Price, Problem, Route, Strategy, Target,
};
use serde_norway::Value;

/// Client keys shorter than this are refused: they would be guessable.
pub const MIN_CLIENT_KEY_LEN: usize = 16;

pub(super) fn route(cx: &mut Cx<'_>, mut o: Obj<'_>) -> Route {
    let name = cx.required(&mut o, "name").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
    let aliases = o.take("aliases").map(|(v, p)| cx.strings(v, &p)).unwrap_or_default();
    let strategy = o
        .take("strategy")
        .and_then(|(v, p)| {
            let options = Strategy::ALL.map(|s| (s.as_str(), s));
            cx.choice(v, &p, &options)
        })
        .unwrap_or_default();
    let route_price = o.take("price").and_then(|(v, p)| price(cx, v, &p));
    let mut targets = Vec::new();
    if let Some((v, p)) = cx.required(&mut o, "targets") {
        for mut to in cx.objects(v, &p) {
            let provider = cx.required(&mut to, "provider").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
            let model = cx.required(&mut to, "model").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
            let priority = to.take("priority").and_then(|(v, p)| cx.u32(v, &p)).unwrap_or(0);
            let target_price = to.take("price").and_then(|(v, p)| price(cx, v, &p));
            to.finish(cx);
            targets.push(Target { provider, model, priority, price: target_price });
        }
    }
    o.finish(cx);
    Route { name, aliases, strategy, price: route_price, targets }
}

fn price(cx: &mut Cx<'_>, v: &Value, path: &str) -> Option<Price> {
    let mut o = cx.obj(v, path)?;
    let currency = cx.required(&mut o, "currency").and_then(|(v, p)| cx.string(v, &p));
    let mut rate = |field: &str| o.take(field).and_then(|(v, p)| cx.amount(v, &p));
    let input = rate("input_per_mtok");
    let output = rate("output_per_mtok");
    let cached = rate("cached_input_per_mtok");
    o.finish(cx);
    Some(Price {
        currency: currency?,
        input_per_mtok_micros: input,
        output_per_mtok_micros: output,
        cached_input_per_mtok_micros: cached,
    })
}

pub(super) fn key(cx: &mut Cx<'_>, mut o: Obj<'_>) -> ClientKey {
    let name = cx.required(&mut o, "name").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
    let key_sha256 = key_hash(cx, &mut o).unwrap_or(KeyHash([0; 32]));
    let models = o.take("models").map(|(v, p)| cx.strings(v, &p));
    let allow_direct = o.take("allow_direct").and_then(|(v, p)| cx.bool(v, &p)).unwrap_or(false);
    let rpm = o.take("rpm").and_then(|(v, p)| cx.u32(v, &p));
    let tpm = o.take("tpm").and_then(|(v, p)| cx.u64(v, &p));
    let budget = o.take("budget").and_then(|(v, p)| {
        let mut b = cx.obj(v, &p)?;
        let currency = cx.required(&mut b, "currency").and_then(|(v, p)| cx.string(v, &p));
        let amount = cx.required(&mut b, "amount").and_then(|(v, p)| cx.amount(v, &p));
        let period = cx.required(&mut b, "period").and_then(|(v, p)| {
            let options = BudgetPeriod::ALL.map(|p| (p.as_str(), p));
            cx.choice(v, &p, &options)
        });
        b.finish(cx);
        Some(Budget { currency: currency?, amount_micros: amount?, period: period? })
    });
    let expires_unix = o.take("expires").and_then(|(v, p)| {
        let s = cx.string(v, &p)?;
        parse_timestamp(&s).map_err(|m| cx.err(p, Problem::Invalid(m))).ok()
    });
    let log_bodies = o.take("log_bodies").and_then(|(v, p)| cx.bool(v, &p));
    let enabled = o.take("enabled").and_then(|(v, p)| cx.bool(v, &p)).unwrap_or(true);
    let passthrough = o.take("passthrough").and_then(|(v, p)| passthrough(cx, v, &p));
    o.finish(cx);
    ClientKey {
        name,
        key_sha256,
        models,
        allow_direct,
        rpm,
        tpm,
        budget,
        expires_unix,
        log_bodies,
        enabled,
        passthrough,
    }
}

/// `{methods: [GET, ...], paths: [/files, ...]}`; `methods` defaults to all
/// three, and comes out sorted without duplicates.
fn passthrough(cx: &mut Cx<'_>, v: &Value, path: &str) -> Option<Passthrough> {
    let mut o = cx.obj(v, path)?;
    let methods = match o.take("methods") {
        None => Some(HttpMethod::ALL.to_vec()),
        Some((v, p)) => {
            let options = HttpMethod::ALL.map(|m| (m.as_str(), m));
            let items = cx.seq(v, &p);
            let mut methods: Vec<HttpMethod> = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| cx.choice(item, &format!("{p}[{i}]"), &options))
                .collect();
            let complete = methods.len() == items.len();
            methods.sort_unstable();
            methods.dedup();
            complete.then_some(methods)
        }
    };
    let paths = cx.required(&mut o, "paths").map(|(v, p)| cx.strings(v, &p));
    o.finish(cx);
    Some(Passthrough { methods: methods?, paths: paths? })
}

/// Exactly one of `key` (hashed here, never kept) and `key_sha256`.
fn key_hash(cx: &mut Cx<'_>, o: &mut Obj<'_>) -> Option<KeyHash> {
    match (o.take("key"), o.take("key_sha256")) {
        (Some((v, p)), None) => {
            let secret = cx.secret(v, &p)?;
            if secret.redacted_fingerprint().is_some() {
                cx.err(p, Problem::Invalid("client keys cannot be redacted; give key_sha256 instead".into()));
                return None;
            }
            if secret.expose().chars().count() < MIN_CLIENT_KEY_LEN {
                cx.err(
                    p,
                    Problem::Invalid(format!("too short: a client key needs at least {MIN_CLIENT_KEY_LEN} characters")),
                );
                return None;
            }
            Some(KeyHash::of(secret.expose()))
        }
        (None, Some((v, p))) => {
            let hex = cx.string(v, &p)?;
            let hash = KeyHash::from_hex(&hex.to_ascii_lowercase());
            if hash.is_none() {
                cx.err(p, Problem::Invalid("expected 64 hex digits (a SHA-256)".into()));
            }
            hash
        }
        (Some(_), Some(_)) => {
            cx.err(o.path.clone(), Problem::Invalid("give either key or key_sha256, not both".into()));
            None
        }
        (None, None) => {
            cx.err(o.child("key"), Problem::Missing);
            None
        }
    }
}

/// RFC 3339 (`2027-01-01T00:00:00Z`, `2027-01-01T08:00:00+08:00`) or a date (midnight UTC).
fn parse_timestamp(s: &str) -> Result<i64, String> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts.as_second());
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>()
        && let Ok(ts) = date.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(ts.timestamp().as_second());
    }
    Err(format!("invalid time {s:?} (expected RFC 3339, e.g. 2027-01-01T00:00:00Z)"))
}
