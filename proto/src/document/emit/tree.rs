//! The config as a tree of YAML nodes: defaults left out, secrets as markers,
//! values spelled so the parser reads them back exactly.

use super::scalar::quote;
use crate::model::units::{format_duration, format_money, format_size, parse_money};
use crate::model::{
    Account, AlertChannel, AlertChannelKind, BalancePolicy, Budget, ClientKey, HealthCheck, HttpMethod, OnDisconnect,
    Passthrough, Price, Provider, Route, Secret, Settings, Strategy, StreamUsage, Target, TimeoutOverrides,
};
use std::time::Duration;

// ---------------------------------------------------------------------------
// The config as a tree of nodes.

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    /// `{a: 1}` / `[a, b]` when it fits on the line, block style otherwise.
    Flow,
    Block,
}

pub(super) enum Node {
    /// A string as the document spells it (references escaped); quoted when YAML needs it.
    Str(String),
    /// A number, boolean or keyword that is written as is.
    Raw(String),
    Map(Entries, Style),
    Seq(Vec<Node>, Style),
}

pub(super) enum Key {
    /// A field of the schema, written as the README spells it.
    Field(&'static str),
    /// A free-form key (a header name), quoted when YAML needs it.
    Text(String),
}

impl Key {
    pub(super) fn write(&self, flow: bool) -> String {
        match self {
            Self::Field(name) => (*name).to_owned(),
            Self::Text(s) => quote(s, flow),
        }
    }
}

pub(super) type Entries = Vec<(Key, Node)>;

fn put(entries: &mut Entries, key: &'static str, node: Node) {
    entries.push((Key::Field(key), node));
}

/// A string the parser reads through the reference resolver: `${` is written `$${`.
fn text(s: &str) -> Node {
    Node::Str(s.replace("${", "$${"))
}

/// A secret as its `${redacted:FINGERPRINT}` marker; a marker stays as it is.
fn secret(s: &Secret) -> Node {
    // Marker-shaped text that is not a well-formed marker is a secret: it gets its own marker.
    Node::Str(s.to_redacted().expose().to_owned())
}

fn raw(s: impl Into<String>) -> Node {
    Node::Raw(s.into())
}

fn num(n: impl ToString) -> Node {
    Node::Raw(n.to_string())
}

fn flag(b: bool) -> Node {
    raw(if b { "true" } else { "false" })
}

fn duration(d: Duration) -> Node {
    Node::Str(format_duration(d))
}

fn size(bytes: u64) -> Node {
    let s = format_size(bytes);
    if s.bytes().all(|b| b.is_ascii_digit()) { Node::Raw(s) } else { Node::Str(s) }
}

/// A decimal number (`50.0`, `0.075`) when the parser's float path reads it
/// back exactly, else a quoted decimal string (more digits than a float holds).
fn money(micros: i64) -> Node {
    let mut s = format_money(micros);
    if !s.contains('.') {
        s.push_str(".0");
    }
    let exact =
        s.parse::<f64>().ok().filter(|f| f.is_finite()).is_some_and(|f| parse_money(&format!("{f}")) == Ok(micros));
    if exact { Node::Raw(s) } else { Node::Str(format_money(micros)) }
}

fn float(f: f64) -> Node {
    if f.is_nan() {
        return raw(".nan");
    }
    if f.is_infinite() {
        return raw(if f > 0.0 { ".inf" } else { "-.inf" });
    }
    // Display is the shortest decimal that reads back as the same float, never in exponent form.
    let mut s = format!("{f}");
    if !s.contains('.') {
        s.push_str(".0");
    }
    Node::Raw(s)
}

/// Unix seconds as RFC 3339 UTC.
fn timestamp(seconds: i64) -> Node {
    match jiff::Timestamp::from_second(seconds) {
        Ok(ts) => Node::Str(ts.to_string()),
        // Outside what any document can say; the parser will name the field.
        Err(_) => num(seconds),
    }
}

fn strings(items: &[String]) -> Node {
    Node::Seq(items.iter().map(|s| text(s)).collect(), Style::Flow)
}

pub(super) fn provider(p: &Provider) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&p.name));
    put(&mut m, "kind", raw(p.kind.as_str()));
    // Always written, even when it is the kind's default: the export says where traffic goes.
    put(&mut m, "base_url", text(&p.base_url));
    if !p.headers.is_empty() {
        // Header names are mapping keys, which the resolver does not read.
        let headers = p.headers.iter().map(|(k, v)| (Key::Text(k.clone()), secret(v))).collect();
        put(&mut m, "headers", Node::Map(headers, Style::Flow));
    }
    if let Some(proxy) = &p.proxy {
        put(&mut m, "proxy", secret(proxy));
    }
    let timeout = timeout_overrides(&p.timeout);
    if !timeout.is_empty() {
        put(&mut m, "timeout", Node::Map(timeout, Style::Flow));
    }
    if p.stream_usage != StreamUsage::default() {
        put(&mut m, "stream_usage", raw(p.stream_usage.as_str()));
    }
    if p.on_disconnect != OnDisconnect::default() {
        put(&mut m, "on_disconnect", raw(p.on_disconnect.as_str()));
    }
    if !p.enabled {
        put(&mut m, "enabled", flag(false));
    }
    if let Some(b) = p.balance_api {
        put(&mut m, "balance_api", raw(b.as_str()));
    }
    if let Some(v) = &p.api_version {
        put(&mut m, "api_version", text(v));
    }
    if let Some(n) = p.default_max_tokens {
        put(&mut m, "default_max_tokens", num(n));
    }
    if p.http2 {
        put(&mut m, "http2", flag(true));
    }
    if let Some(check) = &p.health_check {
        put(&mut m, "health_check", health_check(check));
    }
    put(&mut m, "accounts", Node::Seq(p.accounts.iter().map(account).collect(), Style::Block));
    Node::Map(m, Style::Block)
}

/// Every field written, defaults too: the export says how often and with what each account is checked.
fn health_check(c: &HealthCheck) -> Node {
    let mut m = Entries::new();
    put(&mut m, "interval", duration(c.interval));
    put(&mut m, "timeout", duration(c.timeout));
    put(&mut m, "request", raw(c.request.as_str()));
    Node::Map(m, Style::Flow)
}

fn timeout_overrides(t: &TimeoutOverrides) -> Entries {
    let mut m = Entries::new();
    for (field, d) in [("connect", t.connect), ("first_token", t.first_token), ("idle", t.idle), ("total", t.total)] {
        if let Some(d) = d {
            put(&mut m, field, duration(d));
        }
    }
    m
}

fn account(a: &Account) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&a.name));
    put(&mut m, "api_key", secret(&a.api_key));
    if a.weight != 1 {
        put(&mut m, "weight", num(a.weight));
    }
    if !a.enabled {
        put(&mut m, "enabled", flag(false));
    }
    if let Some(b) = &a.balance {
        put(&mut m, "balance", balance(b));
    }
    Node::Map(m, Style::Block)
}

fn balance(b: &BalancePolicy) -> Node {
    let mut m = Entries::new();
    put(&mut m, "currency", text(&b.currency));
    if let Some(below) = b.alert_below_micros {
        put(&mut m, "alert_below", money(below));
    }
    Node::Map(m, Style::Flow)
}

pub(super) fn route(r: &Route) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&r.name));
    if !r.aliases.is_empty() {
        put(&mut m, "aliases", strings(&r.aliases));
    }
    if r.strategy != Strategy::default() {
        put(&mut m, "strategy", raw(r.strategy.as_str()));
    }
    if let Some(p) = &r.price {
        put(&mut m, "price", price(p));
    }
    put(&mut m, "targets", Node::Seq(r.targets.iter().map(target).collect(), Style::Block));
    Node::Map(m, Style::Block)
}

fn target(t: &Target) -> Node {
    let mut m = Entries::new();
    put(&mut m, "provider", text(&t.provider));
    put(&mut m, "model", text(&t.model));
    if t.priority != 0 {
        put(&mut m, "priority", num(t.priority));
    }
    if let Some(p) = &t.price {
        put(&mut m, "price", price(p));
    }
    Node::Map(m, Style::Block)
}

fn price(p: &Price) -> Node {
    let mut m = Entries::new();
    put(&mut m, "currency", text(&p.currency));
    let rates = [
        ("input_per_mtok", p.input_per_mtok_micros),
        ("output_per_mtok", p.output_per_mtok_micros),
        ("cached_input_per_mtok", p.cached_input_per_mtok_micros),
    ];
    for (field, rate) in rates {
        if let Some(r) = rate {
            put(&mut m, field, money(r));
        }
    }
    Node::Map(m, Style::Flow)
}

pub(super) fn key(k: &ClientKey) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&k.name));
    put(&mut m, "key_sha256", Node::Str(k.key_sha256.to_hex()));
    if let Some(models) = &k.models {
        put(&mut m, "models", strings(models));
    }
    if k.allow_direct {
        put(&mut m, "allow_direct", flag(true));
    }
    if let Some(rpm) = k.rpm {
        put(&mut m, "rpm", num(rpm));
    }
    if let Some(tpm) = k.tpm {
        put(&mut m, "tpm", num(tpm));
    }
    if let Some(b) = &k.budget {
        put(&mut m, "budget", budget(b));
    }
    if let Some(t) = k.expires_unix {
        put(&mut m, "expires", timestamp(t));
    }
    if let Some(log) = k.log_bodies {
        put(&mut m, "log_bodies", flag(log));
    }
    if !k.enabled {
        put(&mut m, "enabled", flag(false));
    }
    if let Some(p) = &k.passthrough {
        put(&mut m, "passthrough", passthrough(p));
    }
    Node::Map(m, Style::Block)
}

/// `methods` left out when it is the default (all of them).
fn passthrough(p: &Passthrough) -> Node {
    let mut m = Entries::new();
    if p.methods != HttpMethod::ALL {
        put(&mut m, "methods", Node::Seq(p.methods.iter().map(|x| raw(x.as_str())).collect(), Style::Flow));
    }
    put(&mut m, "paths", strings(&p.paths));
    Node::Map(m, Style::Flow)
}

fn budget(b: &Budget) -> Node {
    let mut m = Entries::new();
    put(&mut m, "currency", text(&b.currency));
    put(&mut m, "amount", money(b.amount_micros));
    put(&mut m, "period", raw(b.period.as_str()));
    Node::Map(m, Style::Flow)
}

/// The settings that differ from their defaults, section by section.
pub(super) fn settings(s: &Settings) -> Entries {
    let d = Settings::default();
    let mut m = Entries::new();
    if let Some(model) = &s.default_model {
        put(&mut m, "default_model", text(model));
    }
    let mut section = |name: &'static str, fields: Vec<(&'static str, Option<Node>)>| {
        let fields: Entries = fields.into_iter().filter_map(|(k, v)| Some((Key::Field(k), v?))).collect();
        if !fields.is_empty() {
            put(&mut m, name, Node::Map(fields, Style::Flow));
        }
    };
    let dur = |v: Duration, default: Duration| (v != default).then(|| duration(v));
    let (t, dt) = (&s.timeout, &d.timeout);
    section(
        "timeout",
        vec![
            ("connect", dur(t.connect, dt.connect)),
            ("first_token", dur(t.first_token, dt.first_token)),
            ("idle", dur(t.idle, dt.idle)),
            ("total", dur(t.total, dt.total)),
        ],
    );
    let on = s.retry.on.iter().map(|c| raw(c.as_str())).collect();
    section(
        "retry",
        vec![
            ("max_attempts", (s.retry.max_attempts != d.retry.max_attempts).then(|| num(s.retry.max_attempts))),
            ("on", (s.retry.on != d.retry.on).then_some(Node::Seq(on, Style::Flow))),
        ],
    );
    let (b, db) = (&s.breaker, &d.breaker);
    section(
        "breaker",
        vec![
            (
                "consecutive_failures",
                (b.consecutive_failures != db.consecutive_failures).then(|| num(b.consecutive_failures)),
            ),
            ("failure_rate", (b.failure_rate != db.failure_rate).then(|| float(b.failure_rate))),
            ("window", dur(b.window, db.window)),
            ("min_requests", (b.min_requests != db.min_requests).then(|| num(b.min_requests))),
            ("cooldown", dur(b.cooldown, db.cooldown)),
            ("max_cooldown", dur(b.max_cooldown, db.max_cooldown)),
        ],
    );
    let (l, dl) = (&s.limits, &d.limits);
    section(
        "limits",
        vec![
            ("max_body", (l.max_body != dl.max_body).then(|| size(l.max_body))),
            ("max_concurrency", (l.max_concurrency != dl.max_concurrency).then(|| num(l.max_concurrency))),
            (
                "max_buffered_bodies",
                (l.max_buffered_bodies != dl.max_buffered_bodies).then(|| size(l.max_buffered_bodies)),
            ),
            ("client_write_timeout", dur(l.client_write_timeout, dl.client_write_timeout)),
        ],
    );
    let (g, dg) = (&s.logging, &d.logging);
    section(
        "logging",
        vec![
            ("request_bodies", (g.request_bodies != dg.request_bodies).then(|| flag(g.request_bodies))),
            ("retention", dur(g.retention, dg.retention)),
            ("max_body_bytes", (g.max_body_bytes != dg.max_body_bytes).then(|| size(g.max_body_bytes))),
        ],
    );
    section("usage", vec![("retention", dur(s.usage_retention, d.usage_retention))]);
    section("snapshot", vec![("fail_closed_after", s.snapshot_fail_closed_after.map(duration))]);
    section("balance", vec![("poll_interval", dur(s.balance_poll_interval, d.balance_poll_interval))]);
    let (a, da) = (&s.alerts, &d.alerts);
    let mut alerts = Entries::new();
    if let Some(n) = dur(a.evaluate_every, da.evaluate_every) {
        put(&mut alerts, "evaluate_every", n);
    }
    if let Some(n) = dur(a.quiet_period, da.quiet_period) {
        put(&mut alerts, "quiet_period", n);
    }
    if let Some(n) = dur(a.time_to_empty_below, da.time_to_empty_below) {
        put(&mut alerts, "time_to_empty_below", n);
    }
    if a.open_on_nodes != da.open_on_nodes {
        put(&mut alerts, "open_on_nodes", num(a.open_on_nodes));
    }
    if let Some(n) = dur(a.node_grace, da.node_grace) {
        put(&mut alerts, "node_grace", n);
    }
    if !a.channels.is_empty() {
        put(&mut alerts, "channels", Node::Seq(a.channels.iter().map(channel).collect(), Style::Block));
    }
    if !alerts.is_empty() {
        put(&mut m, "alerts", Node::Map(alerts, Style::Block));
    }
    m
}

fn channel(c: &AlertChannel) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&c.name));
    put(&mut m, "kind", raw(c.kind.as_str()));
    match &c.kind {
        AlertChannelKind::DingTalk { webhook, secret: signing }
        | AlertChannelKind::Feishu { webhook, secret: signing } => {
            put(&mut m, "webhook", secret(webhook));
            if let Some(s) = signing {
                put(&mut m, "secret", secret(s));
            }
        }
        AlertChannelKind::WeCom { webhook } => put(&mut m, "webhook", secret(webhook)),
        AlertChannelKind::Webhook { url } => put(&mut m, "url", secret(url)),
    }
    Node::Map(m, Style::Block)
}
