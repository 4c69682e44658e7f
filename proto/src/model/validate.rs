//! Whole-config validation shared by every edge (gateway.yaml, the wire):
//! names, duplicates, references, alias clashes, wildcard routes, ranges,
//! kind-specific fields.
//! Errors never quote a secret.

use super::units::check_currency;
use super::{
    AlertChannelKind, Config, ConfigError, ConfigErrors, HealthCheck, Passthrough, Price, Problem, Provider,
    ProviderKind, Route, Settings, TimeoutOverrides, Timeouts, wildcard,
};
use std::collections::HashMap;
use std::time::Duration;

/// Headers the gateway itself sets; a provider's `headers` may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
];

/// Longer durations are surely mistakes (and would overflow deadline arithmetic).
const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// Passthrough path prefixes longer than this are surely mistakes.
const MAX_PASSTHROUGH_PREFIX: usize = 256;

/// The model name that means "the default model".
pub const AUTO_MODEL: &str = "auto";

impl Config {
    /// Checks the whole config; every problem is reported, in document order.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut v = Validator::default();
        v.providers(self);
        v.models(self);
        v.keys(self);
        v.settings(self, &self.settings);
        ConfigErrors(v.errors).into_result()
    }
}

#[derive(Default)]
struct Validator {
    errors: Vec<ConfigError>,
}

impl Validator {
    fn err(&mut self, path: impl Into<String>, problem: Problem) {
        self.errors.push(ConfigError::new(path, problem));
    }

    fn invalid(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::invalid(path, message));
    }

    /// Names: non-empty, letters, digits, `.`, `_`, `-` (so `provider:model` stays unambiguous).
    fn name(&mut self, path: String, name: &str) {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            self.invalid(path, format!("invalid name {name:?} (1-128 of letters, digits, '.', '_', '-')"));
        }
    }

    /// Records `name` at `path`; reports a duplicate of an earlier one.
    fn unique<'a>(&mut self, seen: &mut HashMap<&'a str, String>, what: &'static str, name: &'a str, path: String) {
        match seen.get(name) {
            Some(first) => {
                let first = first.clone();
                self.err(path, Problem::Duplicate { what, name: name.to_owned(), first });
            }
            None => {
                seen.insert(name, path);
            }
        }
    }

    fn positive(&mut self, path: String, d: Duration) {
        if d.is_zero() {
            self.invalid(path, "must be greater than zero");
        } else if d > MAX_DURATION {
            self.invalid(path, "must not exceed 3650d");
        }
    }

    /// A secret URL is never quoted back, and a `${redacted:...}` marker is not checked.
    fn secret_url(&mut self, path: String, secret: &super::Secret) {
        if secret.redacted_fingerprint().is_none() {
            self.url(path, secret.expose(), &["http", "https"], false);
        }
    }

    fn url(&mut self, path: String, value: &str, schemes: &[&str], quote: bool) {
        let shown = if quote { format!(" {value:?}") } else { String::new() };
        match url::Url::parse(value) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => {}
            Ok(u) => self.invalid(
                path,
                format!("URL{shown} must use {} with a host (got {}:)", schemes.join(" or "), u.scheme()),
            ),
            Err(e) => self.invalid(path, format!("invalid URL{shown}: {e}")),
        }
    }

    fn price(&mut self, path: String, price: &Price) {
        if let Err(e) = check_currency(&price.currency) {
            self.invalid(format!("{path}.currency"), e);
        }
        let rates = [
            ("input_per_mtok", price.input_per_mtok_micros),
            ("output_per_mtok", price.output_per_mtok_micros),
            ("cached_input_per_mtok", price.cached_input_per_mtok_micros),
        ];
        if rates.iter().all(|(_, r)| r.is_none()) {
            self.invalid(path.clone(), "a price needs input_per_mtok or output_per_mtok");
        }
        for (field, rate) in rates {
            if let Some(r) = rate.filter(|r| *r < 0) {
                self.err(format!("{path}.{field}"), Problem::Negative(super::units::format_money(r)));
            }
        }
    }

    fn timeouts(&mut self, path: &str, t: &Timeouts) {
        self.positive(format!("{path}.connect"), t.connect);
        self.positive(format!("{path}.first_token"), t.first_token);
        self.positive(format!("{path}.idle"), t.idle);
        self.positive(format!("{path}.total"), t.total);
    }

    fn timeout_overrides(&mut self, path: &str, t: &TimeoutOverrides) {
        for (field, d) in [("connect", t.connect), ("first_token", t.first_token), ("idle", t.idle), ("total", t.total)]
        {
            if let Some(d) = d {
                self.positive(format!("{path}.{field}"), d);
            }
        }
    }

    /// At least [`HealthCheck::MIN_INTERVAL`] apart; one check ends before the next is due.
    fn health_check(&mut self, path: &str, check: &HealthCheck) {
        if check.interval < HealthCheck::MIN_INTERVAL {
            self.invalid(format!("{path}.interval"), "must be at least 1s");
        } else {
            self.positive(format!("{path}.interval"), check.interval);
        }
        if check.timeout > check.interval && check.interval >= HealthCheck::MIN_INTERVAL {
            self.invalid(format!("{path}.timeout"), "must not exceed interval");
        } else {
            self.positive(format!("{path}.timeout"), check.timeout);
        }
    }

    fn providers(&mut self, config: &Config) {
        let mut names = HashMap::new();
        for (i, p) in config.providers.iter().enumerate() {
            let path = format!("providers[{i}]");
            self.name(format!("{path}.name"), &p.name);
            self.unique(&mut names, "provider", &p.name, format!("{path}.name"));
            self.provider(&path, p);
        }
    }

    fn provider(&mut self, path: &str, p: &Provider) {
        self.url(format!("{path}.base_url"), &p.base_url, &["http", "https"], true);
        let mut lower = HashMap::new();
        for (name, value) in &p.headers {
            let hpath = format!("{path}.headers.{name}");
            if let Some(first) = lower.insert(name.to_ascii_lowercase(), name) {
                self.invalid(hpath, format!("header names are case-insensitive: same header as {first:?}"));
            } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                self.invalid(hpath, "invalid header name");
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                self.invalid(hpath, "this header is set by the gateway and cannot be overridden");
            } else if http::HeaderValue::from_str(value.expose()).is_err() {
                self.invalid(hpath, "invalid header value");
            }
        }
        if let Some(proxy) = &p.proxy {
            self.secret_url(format!("{path}.proxy"), proxy);
            if p.http2 {
                self.invalid(format!("{path}.http2"), "cannot be combined with proxy");
            }
        }
        self.timeout_overrides(&format!("{path}.timeout"), &p.timeout);
        if let Some(check) = &p.health_check {
            self.health_check(&format!("{path}.health_check"), check);
        }
        match (p.kind, &p.api_version) {
            (ProviderKind::Azure, None) => self.invalid(format!("{path}.api_version"), "required for kind azure"),
            (ProviderKind::Azure, Some(v)) if v.trim().is_empty() => {
                self.invalid(format!("{path}.api_version"), "must not be empty")
            }
            (kind, Some(_)) if kind != ProviderKind::Azure => self.invalid(
                format!("{path}.api_version"),
                format!("only for kind azure (this provider is {})", kind.as_str()),
            ),
            _ => {}
        }
        match (p.kind, p.default_max_tokens) {
            (ProviderKind::Anthropic, Some(0)) => {
                self.invalid(format!("{path}.default_max_tokens"), "must be at least 1")
            }
            (kind, Some(_)) if kind != ProviderKind::Anthropic => self.invalid(
                format!("{path}.default_max_tokens"),
                format!("only for kind anthropic (this provider is {})", kind.as_str()),
            ),
            _ => {}
        }
        if p.accounts.is_empty() {
            self.invalid(format!("{path}.accounts"), "a provider needs at least one account");
        }
        let mut names = HashMap::new();
        for (j, a) in p.accounts.iter().enumerate() {
            let apath = format!("{path}.accounts[{j}]");
            self.name(format!("{apath}.name"), &a.name);
            self.unique(&mut names, "account", &a.name, format!("{apath}.name"));
            if a.api_key.expose().is_empty() {
                self.invalid(format!("{apath}.api_key"), "must not be empty");
            } else if http::HeaderValue::from_str(a.api_key.expose()).is_err() {
                // Refused here rather than by every data plane (a NACK fleet-wide); the value is not quoted.
                self.invalid(
                    format!("{apath}.api_key"),
                    "not usable in an HTTP header (control characters or line breaks)",
                );
            }
            if a.weight == 0 {
                self.invalid(
                    format!("{apath}.weight"),
                    "must be at least 1 (use enabled: false to take an account out)",
                );
            }
            if let Some(b) = &a.balance {
                if let Err(e) = check_currency(&b.currency) {
                    self.invalid(format!("{apath}.balance.currency"), e);
                }
                if let Some(below) = b.alert_below_micros.filter(|v| *v < 0) {
                    self.err(
                        format!("{apath}.balance.alert_below"),
                        Problem::Negative(super::units::format_money(below)),
                    );
                }
            }
        }
    }

    fn models(&mut self, config: &Config) {
        // Every public name and alias, with where it was first declared.
        let mut names: HashMap<&str, (String, String)> = HashMap::new();
        for (i, r) in config.models.iter().enumerate() {
            let path = format!("models[{i}].name");
            if r.name.trim().is_empty() || r.name.len() > 256 || r.name.chars().any(char::is_whitespace) {
                self.invalid(path.clone(), format!("invalid model name {:?} (1-256 characters, no spaces)", r.name));
            } else if r.name == AUTO_MODEL {
                self.invalid(path.clone(), "\"auto\" is reserved: it means settings.default_model");
            } else if wildcard::misplaced(&r.name) {
                self.invalid(
                    path.clone(),
                    format!(
                        "invalid model name {:?}: '*' may only end a name (a wildcard route, such as gpt-*)",
                        r.name
                    ),
                );
            }
            match names.get(r.name.as_str()) {
                Some((first, _)) => {
                    // Two wildcard routes with the same prefix are the same name.
                    let what = if r.wildcard_prefix().is_some() { "wildcard model" } else { "model" };
                    let first = first.clone();
                    self.err(path, Problem::Duplicate { what, name: r.name.clone(), first });
                }
                None => {
                    names.insert(&r.name, (path, format!("model {:?}", r.name)));
                }
            }
        }
        for (i, r) in config.models.iter().enumerate() {
            for (k, alias) in r.aliases.iter().enumerate() {
                let path = format!("models[{i}].aliases[{k}]");
                if alias.trim().is_empty() || alias.chars().any(char::is_whitespace) {
                    self.invalid(path, format!("invalid alias {alias:?} (no spaces)"));
                    continue;
                }
                if alias == AUTO_MODEL {
                    self.invalid(path, "\"auto\" is reserved: it means settings.default_model");
                    continue;
                }
                if r.wildcard_prefix().is_some() {
                    self.invalid(path, format!("a wildcard route has no aliases (an alias is one exact name: give {alias:?} a route of its own)"));
                    continue;
                }
                if alias.contains(wildcard::WILDCARD) {
                    self.invalid(path, format!("invalid alias {alias:?}: an alias is an exact name, without '*' (make a wildcard route for a pattern)"));
                    continue;
                }
                match names.get(alias.as_str()) {
                    Some((first, what)) => {
                        let other = format!("{what} ({first})");
                        self.err(path, Problem::AliasClash { alias: alias.clone(), other });
                    }
                    None => {
                        names.insert(alias, (path, format!("an alias of model {:?}", r.name)));
                    }
                }
            }
            self.route(config, i, r);
        }
    }

    fn route(&mut self, config: &Config, i: usize, r: &Route) {
        let path = format!("models[{i}]");
        if let Some(price) = &r.price {
            self.price(format!("{path}.price"), price);
        }
        if r.targets.is_empty() {
            self.invalid(format!("{path}.targets"), "a model needs at least one target");
        }
        let mut seen: HashMap<(&str, &str), String> = HashMap::new();
        for (t, target) in r.targets.iter().enumerate() {
            let tpath = format!("{path}.targets[{t}]");
            if config.provider(&target.provider).is_none() {
                let name = target.provider.clone();
                self.err(format!("{tpath}.provider"), Problem::UnknownReference { what: "provider", name });
            }
            if target.model.trim().is_empty() {
                self.invalid(format!("{tpath}.model"), "must not be empty");
            } else if target.model.contains(wildcard::WILDCARD) {
                self.target_pattern(&format!("{tpath}.model"), r, &target.model);
            }
            if let Some(first) = seen.get(&(target.provider.as_str(), target.model.as_str())) {
                let (name, first) = (format!("{}/{}", target.provider, target.model), first.clone());
                self.err(tpath.clone(), Problem::Duplicate { what: "target", name, first });
            } else {
                seen.insert((&target.provider, &target.model), tpath.clone());
            }
            if let Some(price) = &target.price {
                self.price(format!("{tpath}.price"), price);
            }
        }
    }

    /// A target model with `*`: only in a wildcard route, only at its end.
    fn target_pattern(&mut self, path: &str, r: &Route, model: &str) {
        if r.wildcard_prefix().is_none() {
            self.invalid(
                path,
                format!(
                    "'*' in a target model stands for what a wildcard route matched; the route {:?} is not one (its name does not end in *)",
                    r.name
                ),
            );
        } else if wildcard::misplaced(model) {
            self.invalid(path, format!("invalid target model {model:?}: '*' may only end it"));
        }
    }

    fn keys(&mut self, config: &Config) {
        let mut names = HashMap::new();
        let mut hashes = HashMap::new();
        for (i, k) in config.keys.iter().enumerate() {
            let path = format!("keys[{i}]");
            self.name(format!("{path}.name"), &k.name);
            self.unique(&mut names, "key", &k.name, format!("{path}.name"));
            match hashes.get(&k.key_sha256) {
                Some(first) => self.invalid(path.clone(), format!("same key value as {first}")),
                None => {
                    hashes.insert(k.key_sha256, format!("{path} ({:?})", k.name));
                }
            }
            for (m, model) in k.models.iter().flatten().enumerate() {
                if config.route(model).is_none() {
                    let name = model.clone();
                    self.err(format!("{path}.models[{m}]"), Problem::UnknownReference { what: "model", name });
                }
            }
            if k.rpm == Some(0) {
                self.invalid(format!("{path}.rpm"), "must be at least 1");
            }
            if k.tpm == Some(0) {
                self.invalid(format!("{path}.tpm"), "must be at least 1");
            }
            if let Some(p) = &k.passthrough {
                self.passthrough(&format!("{path}.passthrough"), p);
            }
            if let Some(b) = &k.budget {
                if let Err(e) = check_currency(&b.currency) {
                    self.invalid(format!("{path}.budget.currency"), e);
                }
                if b.amount_micros < 0 {
                    self.err(
                        format!("{path}.budget.amount"),
                        Problem::Negative(super::units::format_money(b.amount_micros)),
                    );
                }
            }
        }
    }

    fn passthrough(&mut self, path: &str, p: &Passthrough) {
        if p.methods.is_empty() {
            self.invalid(format!("{path}.methods"), "must not be empty (omit it for GET, POST and DELETE)");
        }
        if p.paths.is_empty() {
            self.invalid(format!("{path}.paths"), "must list at least one path prefix, such as /files");
        }
        let mut seen = HashMap::new();
        for (i, prefix) in p.paths.iter().enumerate() {
            let ppath = format!("{path}.paths[{i}]");
            match passthrough_prefix(prefix) {
                Err(e) => self.invalid(ppath, e),
                Ok(()) => self.unique(&mut seen, "path", prefix, ppath),
            }
        }
    }

    fn settings(&mut self, config: &Config, s: &Settings) {
        if let Some(m) = &s.default_model {
            match config.route(m) {
                None => {
                    let name = m.clone();
                    self.err("settings.default_model", Problem::UnknownReference { what: "model", name });
                }
                Some(r) if r.wildcard_prefix().is_some() => self.invalid(
                    "settings.default_model",
                    format!("{m:?} is a wildcard route; the default model must be an exact name or alias"),
                ),
                Some(_) => {}
            }
        }
        self.timeouts("settings.timeout", &s.timeout);
        if !(1..=10).contains(&s.retry.max_attempts) {
            self.invalid(
                "settings.retry.max_attempts",
                format!("must be between 1 and 10 (got {})", s.retry.max_attempts),
            );
        }
        let b = &s.breaker;
        if b.consecutive_failures == 0 {
            self.invalid("settings.breaker.consecutive_failures", "must be at least 1");
        }
        if !(b.failure_rate > 0.0 && b.failure_rate <= 1.0) {
            self.invalid("settings.breaker.failure_rate", format!("must be in (0, 1] (got {})", b.failure_rate));
        }
        self.positive("settings.breaker.window".into(), b.window);
        if b.min_requests == 0 {
            self.invalid("settings.breaker.min_requests", "must be at least 1");
        }
        self.positive("settings.breaker.cooldown".into(), b.cooldown);
        if b.max_cooldown < b.cooldown {
            self.invalid("settings.breaker.max_cooldown", "must not be less than cooldown");
        }
        let l = &s.limits;
        if l.max_body == 0 {
            self.invalid("settings.limits.max_body", "must be greater than zero");
        }
        if l.max_concurrency == 0 {
            self.invalid("settings.limits.max_concurrency", "must be at least 1");
        }
        if l.max_buffered_bodies < l.max_body {
            self.invalid("settings.limits.max_buffered_bodies", "must not be less than max_body");
        }
        self.positive("settings.limits.client_write_timeout".into(), l.client_write_timeout);
        self.positive("settings.logging.retention".into(), s.logging.retention);
        self.positive("settings.usage.retention".into(), s.usage_retention);
        if let Some(d) = s.snapshot_fail_closed_after {
            self.positive("settings.snapshot.fail_closed_after".into(), d);
        }
        self.positive("settings.balance.poll_interval".into(), s.balance_poll_interval);
        self.positive("settings.alerts.evaluate_every".into(), s.alerts.evaluate_every);
        self.positive("settings.alerts.time_to_empty_below".into(), s.alerts.time_to_empty_below);
        self.positive("settings.alerts.node_grace".into(), s.alerts.node_grace);
        if s.alerts.open_on_nodes == 0 {
            self.invalid("settings.alerts.open_on_nodes", "must be at least 1");
        }
        let mut names = HashMap::new();
        for (i, c) in s.alerts.channels.iter().enumerate() {
            let path = format!("settings.alerts.channels[{i}]");
            self.name(format!("{path}.name"), &c.name);
            self.unique(&mut names, "alert channel", &c.name, format!("{path}.name"));
            match &c.kind {
                AlertChannelKind::DingTalk { webhook, .. }
                | AlertChannelKind::Feishu { webhook, .. }
                | AlertChannelKind::WeCom { webhook } => self.secret_url(format!("{path}.webhook"), webhook),
                AlertChannelKind::Webhook { url } => self.secret_url(format!("{path}.url"), url),
            }
        }
    }
}

/// A passthrough prefix: `/` (every path), or `/` and segments of letters,
/// digits, `-`, `_`, `.`, `~` (not `.` or `..`), after `/v1`.
fn passthrough_prefix(prefix: &str) -> Result<(), String> {
    if prefix == "/" {
        return Ok(());
    }
    if prefix.len() > MAX_PASSTHROUGH_PREFIX {
        return Err(format!("longer than {MAX_PASSTHROUGH_PREFIX} characters"));
    }
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err(format!("{prefix:?} must start with '/' (a path after /v1, such as /files)"));
    };
    if rest == "v1" {
        return Err("\"/v1\": paths are after /v1 (write / for every path)".into());
    }
    if let Some(after) = rest.strip_prefix("v1/") {
        return Err(format!("{prefix:?}: paths are after /v1, so write /{after}"));
    }
    for segment in rest.split('/') {
        let plain = segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if segment.is_empty() || segment == "." || segment == ".." || !plain {
            return Err(format!(
                "{prefix:?} is not a plain path: segments of letters, digits, '-', '_', '.', '~' (not '.' or '..'), with no trailing '/'"
            ));
        }
    }
    Ok(())
}
