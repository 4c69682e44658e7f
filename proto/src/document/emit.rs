//! Writes a [`Config`] back as a `gateway.yaml` document (`syctl export`).
//!
//! The output never holds a secret: each one is written as its
//! `${redacted:FINGERPRINT}` marker, and client keys as their `key_sha256`.
//! Fields equal to their defaults are left out, mappings keep the README's
//! order, and every value is spelled so that [`super::parse`] reads back
//! exactly the config it came from (secrets as their markers).

use crate::model::units::{format_duration, format_money, format_size, parse_money};
use crate::model::{
    Account, AlertChannel, AlertChannelKind, BalancePolicy, Budget, ClientKey, Config, OnDisconnect, Price, Provider,
    Route, Secret, Settings, Strategy, StreamUsage, Target, TimeoutOverrides,
};
use std::time::Duration;

/// Flow collections (`{...}`, `[...]`) longer than this are written in block style.
const MAX_LINE: usize = 100;

/// The document for `config`: block style at the top, flow style for small leaf maps.
pub fn emit(config: &Config) -> String {
    let mut sections = Vec::new();
    if !config.providers.is_empty() {
        sections.push(("providers", Node::Seq(config.providers.iter().map(provider).collect(), Style::Block)));
    }
    if !config.models.is_empty() {
        sections.push(("models", Node::Seq(config.models.iter().map(route).collect(), Style::Block)));
    }
    if !config.keys.is_empty() {
        sections.push(("keys", Node::Seq(config.keys.iter().map(key).collect(), Style::Block)));
    }
    let settings = settings(&config.settings);
    if !settings.is_empty() {
        sections.push(("settings", Node::Map(settings, Style::Block)));
    }
    if sections.is_empty() {
        // An empty document reads as an error; this is the empty config.
        sections.push(("providers", Node::Seq(Vec::new(), Style::Flow)));
    }
    let mut out = String::new();
    for (i, (name, node)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push(':');
        write_value(&mut out, node, 0);
    }
    out
}

// ---------------------------------------------------------------------------
// The config as a tree of nodes.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `{a: 1}` / `[a, b]` when it fits on the line, block style otherwise.
    Flow,
    Block,
}

enum Node {
    /// A string as the document spells it (references escaped); quoted when YAML needs it.
    Str(String),
    /// A number, boolean or keyword that is written as is.
    Raw(String),
    Map(Entries, Style),
    Seq(Vec<Node>, Style),
}

enum Key {
    /// A field of the schema, written as the README spells it.
    Field(&'static str),
    /// A free-form key (a header name), quoted when YAML needs it.
    Text(String),
}

impl Key {
    fn write(&self, flow: bool) -> String {
        match self {
            Self::Field(name) => (*name).to_owned(),
            Self::Text(s) => quote(s, flow),
        }
    }
}

type Entries = Vec<(Key, Node)>;

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

fn provider(p: &Provider) -> Node {
    let mut m = Entries::new();
    put(&mut m, "name", text(&p.name));
    put(&mut m, "kind", raw(p.kind.as_str()));
    // Always written, even when it is the kind's default: the export says where traffic goes.
    put(&mut m, "base_url", text(&p.base_url));
    if !p.headers.is_empty() {
        // Header names are mapping keys, which the resolver does not read.
        let headers = p.headers.iter().map(|(k, v)| (Key::Text(k.clone()), text(v))).collect();
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
    put(&mut m, "accounts", Node::Seq(p.accounts.iter().map(account).collect(), Style::Block));
    Node::Map(m, Style::Block)
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

fn route(r: &Route) -> Node {
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

fn key(k: &ClientKey) -> Node {
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
    Node::Map(m, Style::Block)
}

fn budget(b: &Budget) -> Node {
    let mut m = Entries::new();
    put(&mut m, "currency", text(&b.currency));
    put(&mut m, "amount", money(b.amount_micros));
    put(&mut m, "period", raw(b.period.as_str()));
    Node::Map(m, Style::Flow)
}

/// The settings that differ from their defaults, section by section.
fn settings(s: &Settings) -> Entries {
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
        AlertChannelKind::DingTalk { webhook, secret: signing } => {
            put(&mut m, "webhook", secret(webhook));
            if let Some(s) = signing {
                put(&mut m, "secret", secret(s));
            }
        }
        AlertChannelKind::Webhook { url } => put(&mut m, "url", secret(url)),
    }
    Node::Map(m, Style::Block)
}

// ---------------------------------------------------------------------------
// Writing the tree.

/// After `key:` on the current line: the value, then the end of the line.
/// `indent` is the key's column.
fn write_value(out: &mut String, node: &Node, indent: usize) {
    let (empty, style) = match node {
        Node::Str(_) | Node::Raw(_) => {
            out.push(' ');
            out.push_str(&scalar_of(node, false));
            out.push('\n');
            return;
        }
        Node::Map(entries, style) => (entries.is_empty(), *style),
        Node::Seq(items, style) => (items.is_empty(), *style),
    };
    if empty || style == Style::Flow {
        let column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
        let flow = flow_text(node);
        if empty || column + 1 + flow.len() <= MAX_LINE {
            out.push(' ');
            out.push_str(&flow);
            out.push('\n');
            return;
        }
    }
    match node {
        Node::Str(_) | Node::Raw(_) => {}
        Node::Map(entries, _) => {
            out.push('\n');
            write_entries(out, entries, indent + 2, None);
        }
        Node::Seq(items, _) => {
            out.push('\n');
            let dash = format!("{}- ", " ".repeat(indent + 2));
            for item in items {
                match item {
                    Node::Map(entries, _) if !entries.is_empty() => {
                        write_entries(out, entries, indent + 4, Some(&dash));
                    }
                    Node::Map(..) | Node::Seq(..) => {
                        out.push_str(&dash);
                        out.push_str(&flow_text(item));
                        out.push('\n');
                    }
                    Node::Str(_) | Node::Raw(_) => {
                        out.push_str(&dash);
                        out.push_str(&scalar_of(item, false));
                        out.push('\n');
                    }
                }
            }
        }
    }
}

/// `key: value` lines at `indent`; the first line starts with `first` (a list item's `- `) when given.
fn write_entries(out: &mut String, entries: &[(Key, Node)], indent: usize, first: Option<&str>) {
    for (i, (key, value)) in entries.iter().enumerate() {
        match first {
            Some(dash) if i == 0 => out.push_str(dash),
            _ => out.push_str(&" ".repeat(indent)),
        }
        out.push_str(&key.write(false));
        out.push(':');
        write_value(out, value, indent);
    }
}

fn flow_text(node: &Node) -> String {
    match node {
        Node::Str(_) | Node::Raw(_) => scalar_of(node, true),
        Node::Map(entries, _) => {
            let items: Vec<String> =
                entries.iter().map(|(k, v)| format!("{}: {}", k.write(true), flow_text(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Node::Seq(items, _) => {
            let items: Vec<String> = items.iter().map(flow_text).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn scalar_of(node: &Node, flow: bool) -> String {
    match node {
        Node::Str(s) => quote(s, flow),
        Node::Raw(s) => s.clone(),
        Node::Map(..) | Node::Seq(..) => flow_text(node),
    }
}

// ---------------------------------------------------------------------------
// YAML scalars.

/// `s` as a YAML scalar that reads back as the string `s`: plain when that is
/// unambiguous (in YAML 1.1 and 1.2 alike), double-quoted otherwise.
fn quote(s: &str, flow: bool) -> String {
    if plain_ok(s, flow) { s.to_owned() } else { double_quoted(s) }
}

fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, '_' | '.' | '/' | '$' | '(' | '\\' | '^' | ';')
        || (!first.is_ascii() && first.is_alphanumeric());
    if !first_ok || s.ends_with(|c: char| c.is_whitespace() || c == ':') {
        return false;
    }
    let chars_ok = s.chars().all(|c| match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' => true,
        '-' | '_' | '.' | '/' | '@' | '+' | '=' | '~' | '%' | '&' | '?' | '!' | '*' | '$' | '(' | ')' | ';' => true,
        '\'' | '"' | '<' | '>' | '|' | '^' | '\\' | '#' | '`' => true,
        // Flow indicators (and `:` before one) end a plain scalar inside `{...}`.
        ':' | ',' | '[' | ']' | '{' | '}' => !flow,
        c => !c.is_ascii() && c.is_alphanumeric(),
    });
    chars_ok && !s.contains(": ") && !s.contains(" #") && !is_keyword(s) && !looks_numeric(s)
}

/// Words that YAML 1.1 or 1.2 reads as null, a boolean or something else than a string.
fn is_keyword(s: &str) -> bool {
    const WORDS: &[&str] = &["null", "~", "true", "false", "yes", "no", "y", "n", "on", "off", "<<", "="];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Anything a YAML implementation might read as a number or a date:
/// integers in any base, floats, `.inf`/`.nan`, `1_000`, sexagesimal `1:30`, `2024-10-21...`.
fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan" | "inf" | "nan" | "infinity") {
        return true;
    }
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") {
        return true;
    }
    let b = s.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return true;
    }
    t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b':' | b'e' | b'E' | b'+' | b'-'))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            // Line breaks in YAML 1.1, the byte-order mark, and everything outside YAML's printable set.
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;
    use serde_norway::Value;

    fn read(yaml: &str) -> Value {
        serde_norway::from_str::<Value>(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"))
    }

    #[test]
    fn scalars_read_back_as_the_same_string() {
        let cases = [
            "plain",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "NULL",
            "~",
            "",
            " ",
            "1",
            "-1",
            "+1",
            "1.0",
            "1.",
            ".5",
            "1e5",
            "1E-5",
            "0x10",
            "0o17",
            "0b11",
            "1_000",
            "1:30",
            "12:30:00",
            ".inf",
            "-.Inf",
            ".nan",
            "NaN",
            "inf",
            "Infinity",
            "007",
            "0",
            "2024-10-21",
            "2027-01-01T00:00:00Z",
            "<<",
            "=",
            "-",
            "--",
            "---",
            "...",
            "?",
            "? x",
            "- x",
            ":",
            "a:",
            "a: b",
            "a:b",
            "a #b",
            "a#b",
            "#x",
            "&a",
            "*a",
            "!tag",
            "!!str",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "> x",
            "'q'",
            "\"dq\"",
            "it's",
            "{a}",
            "[a]",
            "a,b",
            "a]",
            "a}",
            "{",
            "${env:X}",
            "$${x}",
            "${redacted:0123456789ab}",
            " lead",
            "trail ",
            "two  spaces",
            "tab\tx",
            "new\nline",
            "\n",
            "cr\rx",
            "nul\0x",
            "bell\u{7}",
            "del\u{7f}",
            "nel\u{85}x",
            "ls\u{2028}x",
            "ps\u{2029}x",
            "bom\u{feff}x",
            "\u{feff}",
            "nbsp\u{a0}",
            "é",
            "模型-v1",
            "emoji 😀",
            "back\\slash",
            "a\\nb",
            "c1\u{9f}",
            "https://api.openai.com/v1",
            "http://[::1]:8080/x?a=b&c=d#frag",
            "5xx",
            "429",
        ];
        for s in cases {
            for flow in [false, true] {
                let q = quote(s, flow);
                let doc = if flow { format!("{{k: {q}, z: 1}}") } else { format!("k: {q}\nz: 1\n") };
                let v = read(&doc);
                assert_eq!(v.get("k").and_then(Value::as_str), Some(s), "{s:?} written as {q:?} (flow: {flow})");
                let key_doc = if flow { format!("{{{q}: 1}}") } else { format!("{q}: 1\n") };
                let v = read(&key_doc);
                let Value::Mapping(m) = v else { panic!("{key_doc:?}") };
                assert_eq!(m.keys().next().and_then(Value::as_str), Some(s), "key {s:?} written as {q:?}");
            }
        }
        assert_eq!(quote("gpt-4o-mini", true), "gpt-4o-mini");
        assert_eq!(quote("${redacted:0123456789ab}", false), "${redacted:0123456789ab}");
        assert_eq!(quote("${redacted:0123456789ab}", true), "\"${redacted:0123456789ab}\"");
        assert_eq!(quote("30s", true), "30s");
        assert_eq!(quote("yes", false), "\"yes\"");
    }
}
