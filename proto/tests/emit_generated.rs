#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `document::emit` on generated configs: a few hundred seeded configs
//! varying every field round-trip without their secrets.

mod common;

use common::export::{TRICKY, assert_no_secret, assert_round_trip, is_header_value, is_model_name};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use switchyard_proto::model::*;

/// SplitMix64: small, seeded, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.next() % span,
            None => self.next(),
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }

    fn maybe<T>(&mut self, percent: u64, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.chance(percent) { Some(f(self)) } else { None }
    }

    fn string(&mut self, alphabet: &[char], max_len: u64) -> String {
        (0..self.range(1, max_len)).map(|_| *self.pick(alphabet)).collect()
    }
}

const NAME_CHARS: &[char] = &['a', 'b', 'x', 'Y', 'Z', '0', '1', '9', '.', '_', '-'];
const NAME_WORDS: &[&str] = &[
    "openai",
    "main",
    "true",
    "False",
    "null",
    "NULL",
    "yes",
    "no",
    "Y",
    "n",
    "on",
    "OFF",
    "1",
    "0",
    "007",
    "-1",
    "1.0",
    "1e5",
    "0x10",
    "0o17",
    "0b1",
    "1_000",
    ".5",
    ".inf",
    ".nan",
    "nan",
    "inf",
    "2024-10-21",
    "-",
    "--",
    "---",
    "...",
    ".",
    "_",
    "a.b-c_d",
];
const ANY_CHARS: &[char] = &[
    'a', 'Z', '0', '9', ' ', ' ', '\t', '\n', '\r', ':', '#', ',', '[', ']', '{', '}', '$', '$', '{', '\\', '"', '\'',
    '-', '?', '&', '*', '!', '|', '>', '%', '@', '`', '~', '.', '+', '_', '/', '=', 'é', '模', '😀', '\u{85}',
    '\u{2028}', '\u{feff}', '\u{a0}', '\0', '\u{7f}', '\u{9f}',
];
const HEADER_NAME_CHARS: &[char] =
    &['a', 'B', 'x', '0', '9', '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'];
const CURRENCIES: &[&str] = &["USD", "CNY", "EUR", "YES", "OFF", "NAN", "INF", "NUL", "TRU"];
const URLS: &[&str] = &[
    "https://api.openai.com/v1",
    "http://localhost:8080",
    "https://h.example/a#b",
    "https://h.example/?q=a,b&c={d}",
    "https://user:pw@h.example:8443/x",
    "http://例え.jp/v1",
    "https://h.example/${x}/$${y}",
    "https://h.example/a b",
    " https://padded.example ",
    "https://h.example/yes: no #c",
    "HTTPS://UPPER.EXAMPLE",
    "http://[::1]:9/",
    "https://openrouter.ai/api/v1",
];

fn unique(rng: &mut Rng, used: &mut HashSet<String>, mut make: impl FnMut(&mut Rng) -> String) -> String {
    for _ in 0..50 {
        let s = make(rng);
        if used.insert(s.clone()) {
            return s;
        }
    }
    let s = format!("{}-{}", make(rng), used.len());
    assert!(used.insert(s.clone()));
    s
}

fn name(rng: &mut Rng) -> String {
    if rng.chance(40) { (*rng.pick(NAME_WORDS)).to_owned() } else { rng.string(NAME_CHARS, 12) }
}

fn any_string(rng: &mut Rng) -> String {
    if rng.chance(30) { (*rng.pick(TRICKY)).to_owned() } else { rng.string(ANY_CHARS, 16) }
}

/// An exact model name (no `*`: that would make it a wildcard route, or be misplaced).
fn model_name(rng: &mut Rng) -> String {
    loop {
        let s = any_string(rng);
        if is_model_name(&s) && !s.contains('*') {
            return s;
        }
    }
}

/// A wildcard route's name: an exact name's prefix and `*`, or `*` alone.
fn wildcard_name(rng: &mut Rng) -> String {
    if rng.chance(20) { "*".to_owned() } else { format!("{}*", model_name(rng)) }
}

/// An upstream model without `*`.
fn non_blank(rng: &mut Rng) -> String {
    loop {
        let s = any_string(rng);
        if !s.trim().is_empty() && !s.contains('*') {
            return s;
        }
    }
}

fn currency(rng: &mut Rng) -> String {
    if rng.chance(50) {
        (*rng.pick(CURRENCIES)).to_owned()
    } else {
        (0..3).map(|_| char::from(b'A' + rng.range(0, 25) as u8)).collect()
    }
}

fn money(rng: &mut Rng) -> i64 {
    let micros = match rng.range(0, 6) {
        0 => 0,
        1 => rng.range(0, 1_000_000),
        2 => rng.range(0, 100_000) * 10_000,
        3 => rng.range(0, 1_000_000) * 1_000_000,
        4 => rng.range(0, 1_000_000_000_000),
        5 => rng.range(0, i64::MAX as u64),
        _ => i64::MAX as u64,
    };
    micros as i64
}

/// A duration > 0 and <= 3650d, at millisecond resolution.
fn duration(rng: &mut Rng) -> Duration {
    let ms = match rng.range(0, 5) {
        0 => rng.range(1, 999),
        1 => rng.range(1, 600) * 1_000,
        2 => rng.range(1, 600) * 60_000,
        3 => rng.range(1, 3_650) * 86_400_000,
        4 => rng.range(1, 48) * 3_600_000 + rng.range(0, 3_599_999),
        _ => rng.range(1, 3_650 * 86_400_000),
    };
    Duration::from_millis(ms)
}

fn size(rng: &mut Rng) -> u64 {
    match rng.range(0, 4) {
        0 => rng.range(1, 1024) << 10,
        1 => rng.range(1, 1024) << 20,
        2 => rng.range(1, 16) << 30,
        3 => rng.range(1, 100_000_000),
        _ => rng.range(1, u64::MAX),
    }
}

fn secret(rng: &mut Rng, make: impl FnOnce(String) -> String) -> Secret {
    if rng.chance(10) {
        // Already a marker (an export being re-exported).
        let digits = rng.range(8, 64) as usize;
        let fp: String = (0..digits).map(|_| *rng.pick(&['0', '7', 'a', 'f', 'A', 'F'])).collect();
        return Secret::redacted_marker(&fp);
    }
    Secret::new(make(format!("sk-GEN-{:016x}", rng.next())))
}

fn price(rng: &mut Rng) -> Price {
    loop {
        let p = Price {
            currency: currency(rng),
            input_per_mtok_micros: rng.maybe(70, money),
            output_per_mtok_micros: rng.maybe(70, money),
            cached_input_per_mtok_micros: rng.maybe(40, money),
        };
        if p.input_per_mtok_micros.is_some()
            || p.output_per_mtok_micros.is_some()
            || p.cached_input_per_mtok_micros.is_some()
        {
            return p;
        }
    }
}

fn provider(rng: &mut Rng, used: &mut HashSet<String>) -> Provider {
    let kind = *rng.pick(&ProviderKind::ALL);
    let mut headers = BTreeMap::new();
    let mut lower = HashSet::new();
    for _ in 0..rng.range(0, 4) {
        let name = rng.string(HEADER_NAME_CHARS, 10);
        let reserved = ["authorization", "api-key", "x-api-key", "x-goog-api-key", "host", "content-length"];
        if reserved.contains(&name.to_ascii_lowercase().as_str()) || !lower.insert(name.to_ascii_lowercase()) {
            continue;
        }
        // Values are secrets: a tricky prefix on a value that cannot occur elsewhere in the export.
        let value = loop {
            let prefix = any_string(rng);
            let v = secret(rng, |s| format!("{prefix}{s}"));
            if is_header_value(v.expose()) {
                break v;
            }
        };
        headers.insert(name, value);
    }
    let proxy = rng.maybe(30, |rng| secret(rng, |s| format!("http://user:{s}@proxy.example:3128")));
    let duration_or_none = |rng: &mut Rng| rng.maybe(30, duration);
    let timeout = TimeoutOverrides {
        connect: duration_or_none(rng),
        first_token: duration_or_none(rng),
        idle: duration_or_none(rng),
        total: duration_or_none(rng),
    };
    let mut accounts_used = HashSet::new();
    let accounts = (0..rng.range(1, 3))
        .map(|_| Account {
            name: unique(rng, &mut accounts_used, name),
            api_key: secret(rng, |s| s),
            weight: if rng.chance(50) { 1 } else { rng.range(1, u64::from(u32::MAX)) as u32 },
            enabled: rng.chance(80),
            balance: rng
                .maybe(30, |rng| BalancePolicy { currency: currency(rng), alert_below_micros: rng.maybe(60, money) }),
        })
        .collect();
    Provider {
        name: unique(rng, used, name),
        kind,
        base_url: if rng.chance(50) {
            format!("https://p{}.example/v1", rng.range(0, 99))
        } else {
            (*rng.pick(URLS)).to_owned()
        },
        headers,
        http2: proxy.is_none() && rng.chance(30),
        health_check: rng.maybe(30, |rng| {
            let interval = Duration::from_secs(rng.range(1, 3600));
            HealthCheck {
                interval,
                timeout: Duration::from_millis(rng.range(1, interval.as_millis() as u64)),
                request: *rng.pick(&HealthRequest::ALL),
            }
        }),
        proxy,
        timeout,
        stream_usage: if rng.chance(70) { StreamUsage::Inject } else { StreamUsage::Never },
        on_disconnect: if rng.chance(70) { OnDisconnect::Close } else { OnDisconnect::Drain },
        enabled: rng.chance(80),
        balance_api: rng.maybe(40, |rng| *rng.pick(&BalanceApi::ALL)),
        api_version: (kind == ProviderKind::Azure).then(|| non_blank(rng)),
        default_max_tokens: (kind == ProviderKind::Anthropic)
            .then(|| rng.maybe(60, |rng| rng.range(1, u64::from(u32::MAX)) as u32))
            .flatten(),
        accounts,
    }
}

fn route(rng: &mut Rng, providers: &[Provider], public: &mut HashSet<String>) -> Route {
    let wildcard = rng.chance(25);
    let name = unique(rng, public, if wildcard { wildcard_name } else { model_name });
    let aliases =
        if wildcard { Vec::new() } else { (0..rng.range(0, 3)).map(|_| unique(rng, public, model_name)).collect() };
    let mut pairs = HashSet::new();
    let mut targets = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let provider = rng.pick(providers).name.clone();
        // A wildcard route's target may be a pattern too (`*`, `prefix*`) or a fixed model.
        let model = match rng.range(0, 3) {
            0 if wildcard => "*".to_owned(),
            1 if wildcard => format!("{}*", non_blank(rng)),
            _ => non_blank(rng),
        };
        if !pairs.insert((provider.clone(), model.clone())) {
            continue;
        }
        targets.push(Target {
            provider,
            model,
            priority: if rng.chance(50) { 0 } else { rng.range(0, u64::from(u32::MAX)) as u32 },
            price: rng.maybe(30, price),
        });
    }
    Route { name, aliases, strategy: *rng.pick(&Strategy::ALL), price: rng.maybe(50, price), targets }
}

fn key(rng: &mut Rng, used: &mut HashSet<String>, hashes: &mut HashSet<KeyHash>, public: &[String]) -> ClientKey {
    let key_sha256 = loop {
        let mut h = [0u8; 32];
        if rng.chance(20) {
            // All decimal digits in hex: looks like a number to YAML.
            h.fill(0x11 * rng.range(0, 9) as u8);
        } else {
            for b in &mut h {
                *b = rng.next() as u8;
            }
        }
        if hashes.insert(KeyHash(h)) {
            break KeyHash(h);
        }
    };
    let (min, max) = (jiff::Timestamp::MIN.as_second(), jiff::Timestamp::MAX.as_second());
    ClientKey {
        name: unique(rng, used, name),
        key_sha256,
        models: rng.maybe(50, |rng| (0..rng.range(0, 3)).map(|_| rng.pick(public).clone()).collect()),
        allow_direct: rng.chance(30),
        rpm: rng.maybe(40, |rng| rng.range(1, u64::from(u32::MAX)) as u32),
        tpm: rng.maybe(40, |rng| rng.range(1, u64::MAX)),
        budget: rng.maybe(40, |rng| Budget {
            currency: currency(rng),
            amount_micros: money(rng),
            period: *rng.pick(&BudgetPeriod::ALL),
        }),
        expires_unix: rng.maybe(40, |rng| {
            if rng.chance(50) {
                1_798_761_600 + rng.range(0, 10 * 365 * 86_400) as i64
            } else {
                min + rng.range(0, (max - min) as u64) as i64
            }
        }),
        log_bodies: rng.maybe(40, |rng| rng.chance(50)),
        enabled: rng.chance(80),
        passthrough: rng.maybe(40, passthrough),
    }
}

/// Sorted, unique methods (at least one); unique prefixes, `/` among them now and then.
fn passthrough(rng: &mut Rng) -> Passthrough {
    let methods: Vec<HttpMethod> = HttpMethod::ALL.into_iter().filter(|_| rng.chance(60)).collect();
    let methods = if methods.is_empty() { vec![*rng.pick(&HttpMethod::ALL)] } else { methods };
    let words = ["files", "batches", "fine_tuning", "jobs", "v2", "a.b", "x~y", "file-1", "_"];
    let mut paths = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let path = if rng.chance(10) {
            "/".to_owned()
        } else {
            (0..rng.range(1, 4)).map(|_| format!("/{}", rng.pick(&words))).collect()
        };
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    Passthrough { methods, paths }
}

fn settings(rng: &mut Rng, public: &[String]) -> Settings {
    let mut s = Settings::default();
    if !public.is_empty() && rng.chance(50) {
        s.default_model = Some(rng.pick(public).clone());
    }
    let sometimes = |rng: &mut Rng| rng.chance(40);
    if sometimes(rng) {
        s.timeout.connect = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.first_token = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.idle = duration(rng);
    }
    if sometimes(rng) {
        s.timeout.total = duration(rng);
    }
    if sometimes(rng) {
        s.retry.max_attempts = rng.range(1, 10) as u32;
    }
    if sometimes(rng) {
        s.retry.on = RetryCondition::ALL.into_iter().filter(|_| rng.chance(50)).collect();
    }
    let b = &mut s.breaker;
    if sometimes(rng) {
        b.consecutive_failures = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) {
        b.failure_rate = match rng.range(0, 3) {
            0 => *rng.pick(&[1.0, 0.1, 0.3, 1e-9, 5e-324, 0.999_999_999_999_999_9]),
            _ => (rng.range(1, 1 << 53) as f64) / ((1u64 << 53) as f64),
        };
    }
    if sometimes(rng) {
        b.window = duration(rng);
    }
    if sometimes(rng) {
        b.min_requests = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) {
        b.cooldown = duration(rng);
    }
    if sometimes(rng) || b.max_cooldown < b.cooldown {
        b.max_cooldown = b.cooldown + Duration::from_millis(rng.range(0, 1 << 40));
    }
    let l = &mut s.limits;
    if sometimes(rng) {
        l.max_body = size(rng);
    }
    if sometimes(rng) {
        l.max_concurrency = rng.range(1, u64::from(u32::MAX)) as u32;
    }
    if sometimes(rng) || l.max_buffered_bodies < l.max_body {
        l.max_buffered_bodies = l.max_body.saturating_add(if rng.chance(50) { 0 } else { size(rng) });
    }
    if sometimes(rng) {
        l.client_write_timeout = duration(rng);
    }
    if sometimes(rng) {
        s.logging.request_bodies = true;
    }
    if sometimes(rng) {
        s.logging.retention = duration(rng);
    }
    if sometimes(rng) {
        s.logging.max_body_bytes = if rng.chance(20) { 0 } else { size(rng) };
    }
    if sometimes(rng) {
        s.usage_retention = duration(rng);
    }
    if sometimes(rng) {
        s.snapshot_fail_closed_after = Some(duration(rng));
    }
    if sometimes(rng) {
        s.balance_poll_interval = duration(rng);
    }
    if sometimes(rng) {
        s.alerts.evaluate_every = duration(rng);
    }
    if sometimes(rng) {
        s.alerts.quiet_period = if rng.chance(20) { Duration::ZERO } else { duration(rng) };
    }
    if sometimes(rng) {
        s.alerts.time_to_empty_below = duration(rng);
    }
    if sometimes(rng) {
        s.alerts.open_on_nodes = rng.range(1, 50) as u32;
    }
    if sometimes(rng) {
        s.alerts.node_grace = duration(rng);
    }
    let mut used = HashSet::new();
    for _ in 0..rng.range(0, 3) {
        let kind = match rng.range(0, 4) {
            0 => AlertChannelKind::DingTalk {
                webhook: secret(rng, |s| format!("https://oapi.dingtalk.com/robot/send?access_token={s}")),
                secret: rng.maybe(50, |rng| secret(rng, |s| format!("SEC{s}"))),
            },
            1 => AlertChannelKind::Feishu {
                webhook: secret(rng, |s| format!("https://open.feishu.cn/open-apis/bot/v2/hook/{s}")),
                secret: rng.maybe(50, |rng| secret(rng, |s| s)),
            },
            2 => AlertChannelKind::WeCom {
                webhook: secret(rng, |s| format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={s}")),
            },
            _ => AlertChannelKind::Webhook { url: secret(rng, |s| format!("https://hooks.example.com/{s}")) },
        };
        s.alerts.channels.push(AlertChannel { name: unique(rng, &mut used, name), kind });
    }
    s
}

fn generate(rng: &mut Rng) -> Config {
    let mut used = HashSet::new();
    let providers: Vec<Provider> = (0..rng.range(0, 4)).map(|_| provider(rng, &mut used)).collect();
    let mut public_set = HashSet::new();
    let models: Vec<Route> = if providers.is_empty() {
        Vec::new()
    } else {
        (0..rng.range(1, 4)).map(|_| route(rng, &providers, &mut public_set)).collect()
    };
    let public: Vec<String> = models.iter().flat_map(|r| std::iter::once(&r.name).chain(&r.aliases)).cloned().collect();
    // The default model is an exact name or alias; a key's allowlist may name a wildcard route.
    let exact: Vec<String> = public.iter().filter(|n| !n.ends_with('*')).cloned().collect();
    let (mut used, mut hashes) = (HashSet::new(), HashSet::new());
    let keys = if public.is_empty() { 0 } else { rng.range(0, 4) };
    let keys = (0..keys).map(|_| key(rng, &mut used, &mut hashes, &public)).collect();
    Config { providers, models, keys, settings: settings(rng, &exact) }
}

#[test]
fn generated_configs_round_trip_without_their_secrets() {
    let mut rng = Rng(0x5eed_f00d_e417);
    for i in 0..400 {
        let c = generate(&mut rng);
        c.validate().unwrap_or_else(|e| panic!("generated config {i} is invalid (a generator bug):\n{e}"));
        let out = assert_round_trip(&c);
        assert_no_secret(&c, &out);
        assert!(!out.contains("sk-GEN-"), "config {i}: a secret is in the export:\n{out}");
    }
}
