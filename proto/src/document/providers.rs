//! `providers:` and their `accounts:`.

use super::reader::{Cx, Obj};
use crate::model::{
    Account, BalanceApi, BalancePolicy, HealthCheck, HealthRequest, OnDisconnect, Provider, ProviderKind, Secret,
    StreamUsage, TimeoutOverrides,
};
use serde_norway::Value;
use std::collections::BTreeMap;

pub(super) const KINDS: [(&str, ProviderKind); 5] = [
    ("openai", ProviderKind::OpenAi),
    ("openai-compatible", ProviderKind::OpenAiCompatible),
    ("azure", ProviderKind::Azure),
    ("anthropic", ProviderKind::Anthropic),
    ("gemini", ProviderKind::Gemini),
];

/// The base URL a kind gets when the document names none.
fn default_base_url(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::OpenAiCompatible | ProviderKind::Azure => None,
    }
}

pub(super) fn provider(cx: &mut Cx<'_>, mut o: Obj<'_>) -> Provider {
    let name = cx.required(&mut o, "name").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
    let kind = cx.required(&mut o, "kind").and_then(|(v, p)| cx.choice(v, &p, &KINDS));
    let base_url = match o.take("base_url") {
        Some((v, p)) => cx.string(v, &p).unwrap_or_default(),
        None => match kind.and_then(default_base_url) {
            Some(url) => url.to_owned(),
            None => {
                if kind.is_some() {
                    cx.err(o.child("base_url"), crate::model::Problem::Missing);
                }
                String::new()
            }
        },
    };
    let mut headers = BTreeMap::new();
    if let Some((v, p)) = o.take("headers") {
        for (name, value) in cx.entries(v, &p) {
            if let Some(value) = cx.secret(value, &format!("{p}.{name}")) {
                headers.insert(name, value);
            }
        }
    }
    let proxy = o.take("proxy").and_then(|(v, p)| cx.secret(v, &p));
    let timeout = o.take("timeout").map(|(v, p)| timeout_overrides(cx, v, &p)).unwrap_or_default();
    let stream_usage = o
        .take("stream_usage")
        .and_then(|(v, p)| cx.choice(v, &p, &[("inject", StreamUsage::Inject), ("never", StreamUsage::Never)]))
        .unwrap_or_default();
    let on_disconnect = o
        .take("on_disconnect")
        .and_then(|(v, p)| cx.choice(v, &p, &[("close", OnDisconnect::Close), ("drain", OnDisconnect::Drain)]))
        .unwrap_or_default();
    let enabled = o.take("enabled").and_then(|(v, p)| cx.bool(v, &p)).unwrap_or(true);
    let balance_api = o.take("balance_api").and_then(|(v, p)| {
        let options = BalanceApi::ALL.map(|b| (b.as_str(), b));
        cx.choice(v, &p, &options)
    });
    let api_version = o.take("api_version").and_then(|(v, p)| cx.string(v, &p));
    let default_max_tokens = o.take("default_max_tokens").and_then(|(v, p)| cx.u32(v, &p));
    let http2 = o.take("http2").and_then(|(v, p)| cx.bool(v, &p)).unwrap_or(false);
    let health_check = o.take("health_check").and_then(|(v, p)| health_check(cx, v, &p));
    let mut accounts = Vec::new();
    if let Some((v, p)) = cx.required(&mut o, "accounts") {
        for a in cx.objects(v, &p) {
            accounts.push(account(cx, a));
        }
    }
    o.finish(cx);
    Provider {
        name,
        kind: kind.unwrap_or(ProviderKind::OpenAiCompatible),
        base_url,
        headers,
        proxy,
        timeout,
        stream_usage,
        on_disconnect,
        enabled,
        balance_api,
        api_version,
        default_max_tokens,
        http2,
        health_check,
        accounts,
    }
}

/// `health_check: {interval, timeout, request}`, each field defaulted.
fn health_check(cx: &mut Cx<'_>, v: &Value, path: &str) -> Option<HealthCheck> {
    let mut o = cx.obj(v, path)?;
    let d = HealthCheck::default();
    let interval = o.take("interval").and_then(|(v, p)| cx.duration(v, &p)).unwrap_or(d.interval);
    let timeout = o.take("timeout").and_then(|(v, p)| cx.duration(v, &p)).unwrap_or(d.timeout);
    let request = o
        .take("request")
        .and_then(|(v, p)| cx.choice(v, &p, &HealthRequest::ALL.map(|r| (r.as_str(), r))))
        .unwrap_or(d.request);
    o.finish(cx);
    Some(HealthCheck { interval, timeout, request })
}

fn account(cx: &mut Cx<'_>, mut o: Obj<'_>) -> Account {
    let name = cx.required(&mut o, "name").and_then(|(v, p)| cx.string(v, &p)).unwrap_or_default();
    let api_key = cx.required(&mut o, "api_key").and_then(|(v, p)| cx.secret(v, &p)).unwrap_or_else(|| Secret::new(""));
    let weight = o.take("weight").and_then(|(v, p)| cx.u32(v, &p)).unwrap_or(1);
    let enabled = o.take("enabled").and_then(|(v, p)| cx.bool(v, &p)).unwrap_or(true);
    let balance = o.take("balance").and_then(|(v, p)| {
        let mut b = cx.obj(v, &p)?;
        let currency = cx.required(&mut b, "currency").and_then(|(v, p)| cx.string(v, &p));
        let alert_below_micros = b.take("alert_below").and_then(|(v, p)| cx.amount(v, &p));
        b.finish(cx);
        Some(BalancePolicy { currency: currency?, alert_below_micros })
    });
    o.finish(cx);
    Account { name, api_key, weight, enabled, balance }
}

pub(super) fn timeout_overrides(cx: &mut Cx<'_>, v: &Value, path: &str) -> TimeoutOverrides {
    let Some(mut o) = cx.obj(v, path) else { return TimeoutOverrides::default() };
    let mut d = |field: &str| o.take(field).and_then(|(v, p)| cx.duration(v, &p));
    let t =
        TimeoutOverrides { connect: d("connect"), first_token: d("first_token"), idle: d("idle"), total: d("total") };
    o.finish(cx);
    t
}
