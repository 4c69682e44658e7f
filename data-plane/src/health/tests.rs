//! The supervisor and the schedule on paused time, with a scripted prober:
//! off by default, the interval and its jitter, one check at a time, what
//! the breakers learn, timeouts, reloads and shutdown.

use super::request::{Ask, Outcome, Target, Verdict};
use super::*;
use crate::breaker::{Failure, Reason, State};
use crate::runtime::Overlay;
use crate::usage::{self, Usage};
use arc_swap::ArcSwapOption;
use parking_lot::Mutex;
use std::time::Duration;
use switchyard_proto::document::{self, Resolver};
use tokio::time::{Instant, sleep};

const YAML: &str = r#"
providers:
  - name: p
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
    health_check: {interval: 10s, timeout: 2s, request: models}
    accounts:
      - {name: a, api_key: "sk-a-000000000000"}
      - {name: b, api_key: "sk-b-000000000000"}
  - name: q
    kind: openai-compatible
    base_url: http://127.0.0.1:9/v1
    accounts:
      - {name: c, api_key: "sk-c-000000000000"}
models:
  - name: m1
    targets: [{provider: p, model: up-1}, {provider: q, model: up-q}]
  - name: m1b
    targets: [{provider: p, model: up-1}]
  - name: m2
    targets: [{provider: p, model: up-2}]
settings:
  breaker: {consecutive_failures: 5, cooldown: 5s, max_cooldown: 1m}
"#;

#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    account: String,
    model: Option<String>,
}

/// Answers every check with `outcome` after `delay` (or never, with `hang`),
/// keeping what it was asked and how many checks of one account overlapped.
struct Script {
    calls: Mutex<Vec<Call>>,
    outcome: Mutex<Outcome>,
    hang: Mutex<bool>,
    delay: Duration,
    inflight: Mutex<HashMap<String, usize>>,
    max_inflight: Mutex<usize>,
}

impl Script {
    fn new(delay: Duration) -> Arc<Script> {
        Arc::new(Script {
            calls: Mutex::new(Vec::new()),
            outcome: Mutex::new(Outcome::healthy()),
            hang: Mutex::new(false),
            delay,
            inflight: Mutex::new(HashMap::new()),
            max_inflight: Mutex::new(0),
        })
    }

    fn answer(&self, outcome: Outcome) {
        *self.outcome.lock() = outcome;
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().clone()
    }
}

/// Counts a check in flight until dropped (a timed-out check is dropped, not finished).
struct InFlight<'a>(&'a Script, String);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        *self.0.inflight.lock().entry(self.1.clone()).or_default() -= 1;
    }
}

impl Prober for Script {
    fn probe<'a>(&'a self, target: Target<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let account = target.account.name.to_string();
            let model = match target.ask {
                Ask::Models => None,
                Ask::Chat(m) => Some(m.to_owned()),
            };
            self.calls.lock().push(Call { at: Instant::now(), account: account.clone(), model });
            let now = {
                let mut inflight = self.inflight.lock();
                let n = inflight.entry(account.clone()).or_default();
                *n += 1;
                *n
            };
            let _guard = InFlight(self, account);
            {
                let mut max = self.max_inflight.lock();
                *max = (*max).max(now);
            }
            sleep(self.delay).await;
            let hang = *self.hang.lock();
            if hang {
                std::future::pending::<()>().await;
            }
            self.outcome.lock().clone()
        })
    }
}

fn shared() -> Arc<Shared> {
    let (usage, _rx) = Usage::new(usage::Mode::Off, 16);
    Arc::new(Shared::new(Arc::new(ArcSwapOption::empty()), Duration::from_secs(1), Arc::new(usage)))
}

fn install(shared: &Shared, yaml: &str) {
    let config = document::parse(yaml, &Resolver::process()).unwrap();
    let version = shared.runtime.load().as_ref().map_or(1, |rt| rt.version + 1);
    crate::source::install(shared, Arc::new(config), version, Arc::new(Overlay::default())).unwrap();
}

fn start(yaml: &str, script: &Arc<Script>) -> (Arc<Shared>, watch::Sender<bool>, JoinHandle<()>) {
    let shared = shared();
    install(&shared, yaml);
    let (stop, stopped) = watch::channel(false);
    let prober: Arc<dyn Prober> = script.clone();
    let task = spawn_with(shared.clone(), stopped, prober);
    (shared, stop, task)
}

/// Waits (in paused time, so at no cost) until `cond` holds, for ten minutes at most.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(600);
    while !cond() {
        assert!(Instant::now() < end, "still not: {what}");
        sleep(Duration::from_millis(100)).await;
    }
}

/// Every endpoint's (route, provider, account, upstream model, state, reason).
fn breakers(shared: &Shared) -> Vec<(String, String, String, String, State, Option<Reason>)> {
    let rt = shared.runtime.load_full().unwrap();
    rt.endpoints
        .iter()
        .map(|e| {
            let s = e.breaker.snapshot();
            let names = (e.route.to_string(), e.provider.name.to_string(), e.account().name.to_string());
            (names.0, names.1, names.2, e.upstream_model.to_string(), s.state, s.reason)
        })
        .collect()
}

fn states_of(shared: &Shared, provider: &str) -> Vec<(State, Option<Reason>)> {
    breakers(shared).into_iter().filter(|b| b.1 == provider).map(|b| (b.4, b.5)).collect()
}

fn key(account: &str, model: Option<&str>) -> CheckKey {
    CheckKey { provider: "p".into(), account: account.into(), model: model.map(Into::into) }
}

#[tokio::test(start_paused = true)]
async fn no_check_is_sent_without_a_health_check() {
    let script = Script::new(Duration::ZERO);
    let (shared, _stop, _task) =
        start(&YAML.replace("    health_check: {interval: 10s, timeout: 2s, request: models}\n", ""), &script);
    sleep(Duration::from_secs(3600)).await;
    assert!(script.calls().is_empty());
    assert!(shared.metrics.health_checks.all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn rounds_follow_the_jittered_interval_and_never_overlap() {
    let script = Script::new(Duration::from_secs(1));
    let began = Instant::now();
    let (_shared, _stop, _task) = start(&YAML.replace("request: models", "request: chat"), &script);
    sleep(Duration::from_secs(200)).await;
    let calls = script.calls();
    // Only p's accounts, each of its upstream models: up-1 once although two routes use it.
    for account in ["a", "b"] {
        for model in ["up-1", "up-2"] {
            let at: Vec<Instant> = calls
                .iter()
                .filter(|c| c.account == account && c.model.as_deref() == Some(model))
                .map(|c| c.at)
                .collect();
            assert!(at.len() >= 18 && at.len() <= 23, "{account}/{model}: {} checks in 200s", at.len());
            // The first within the first interval (plus the other model's check before it).
            assert!(at[0] - began < Duration::from_secs(11), "{account}/{model}: first at {:?}", at[0] - began);
            for gap in at.windows(2).map(|w| w[1] - w[0]) {
                assert!(gap >= Duration::from_secs(9) && gap <= Duration::from_secs(11), "{account}/{model}: {gap:?}");
            }
        }
    }
    assert!(calls.iter().all(|c| c.account != "c"), "q has no health_check");
    assert!(calls.iter().all(|c| c.model.is_some()), "chat asks a model");
    // The two models of an account are asked one after the other.
    assert_eq!(*script.max_inflight.lock(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_opens_what_it_speaks_for_and_a_passing_one_closes_it() {
    let script = Script::new(Duration::from_millis(50));
    script.answer(Outcome {
        verdict: Verdict::Failed(Failure::Server),
        result: CheckResult::ServerError,
        reason: Some("HTTP 503".into()),
    });
    let (shared, _stop, _task) = start(YAML, &script);
    let board = &shared.metrics.health_checks;
    until("both accounts checked", || board.all().len() == 2).await;
    // Every endpoint of p (three per account: m1, m1b, m2) opened at once; q's untouched.
    assert_eq!(states_of(&shared, "p"), vec![(State::Open, Some(Reason::HealthCheck)); 6]);
    assert_eq!(states_of(&shared, "q"), vec![(State::Closed, None)]);
    let last = board.for_endpoint("p", "a", "up-2").unwrap();
    assert_eq!(
        (last.request, last.result, last.reason.as_deref()),
        (HealthRequest::Models, CheckResult::ServerError, Some("HTTP 503"))
    );
    assert_eq!(last.latency, Duration::from_millis(50));

    // Healthy again: the next check is the probe once the cooldown (5s) is over, and closes them.
    script.answer(Outcome::healthy());
    until("closed again", || states_of(&shared, "p").iter().all(|s| *s == (State::Closed, None))).await;
    for account in ["a", "b"] {
        assert_eq!(board.result_of(&key(account, None)), Some(CheckResult::Ok));
    }
    let rt = shared.runtime.load_full().unwrap();
    assert!(rt.endpoints.iter().all(|e| e.breaker.snapshot().trips == 0));
    let counts: Vec<_> = board.counts().into_iter().map(|(p, a, r, n)| (p.to_string(), a.to_string(), r, n)).collect();
    assert_eq!(
        counts,
        [
            ("p".to_owned(), "a".to_owned(), CheckResult::Ok, 1),
            ("p".to_owned(), "a".to_owned(), CheckResult::ServerError, 1),
            ("p".to_owned(), "b".to_owned(), CheckResult::Ok, 1),
            ("p".to_owned(), "b".to_owned(), CheckResult::ServerError, 1),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_answers_times_out_and_opens() {
    let script = Script::new(Duration::ZERO);
    *script.hang.lock() = true;
    let (shared, _stop, _task) = start(YAML, &script);
    let board = &shared.metrics.health_checks;
    until("a check timed out", || board.result_of(&key("a", None)).is_some()).await;
    let last = board.for_endpoint("p", "a", "up-1").unwrap();
    assert_eq!((last.result, last.latency), (CheckResult::Timeout, Duration::from_secs(2)));
    let a: Vec<_> = breakers(&shared).into_iter().filter(|b| b.2 == "a").map(|b| (b.4, b.5)).collect();
    assert_eq!(a, vec![(State::Open, Some(Reason::HealthCheck)); 3]);
    // The check that timed out was dropped, not left running: nothing is in flight between checks.
    assert_eq!(script.inflight.lock().get("a").copied().unwrap_or(0), 0);
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_says_nothing_about_the_endpoint_teaches_its_breaker_nothing() {
    let script = Script::new(Duration::ZERO);
    script.answer(Outcome {
        verdict: Verdict::Neutral,
        result: CheckResult::Rejected,
        reason: Some("HTTP 404".into()),
    });
    let (shared, _stop, _task) = start(YAML, &script);
    let board = &shared.metrics.health_checks;
    until("both checked", || board.all().len() == 2).await;
    assert!(breakers(&shared).iter().all(|b| b.4 == State::Closed));
    assert_eq!(board.result_of(&key("b", None)), Some(CheckResult::Rejected));
}

#[tokio::test(start_paused = true)]
async fn reloads_stop_start_and_change_checks_and_shutdown_ends_them_all() {
    let script = Script::new(Duration::ZERO);
    let (shared, stop, task) = start(YAML, &script);
    until("checked", || script.calls().len() >= 2).await;

    // The provider's health_check removed: its tasks stop and its results are forgotten.
    let off = YAML.replace("    health_check: {interval: 10s, timeout: 2s, request: models}\n", "");
    install(&shared, &off);
    until("results forgotten", || shared.metrics.health_checks.all().is_empty()).await;
    let before = script.calls().len();
    sleep(Duration::from_secs(120)).await;
    assert_eq!(script.calls().len(), before, "no check after the reload");

    // Back, as chat: the new tasks ask each model.
    install(&shared, &YAML.replace("request: models", "request: chat"));
    until("chat checks", || script.calls()[before..].iter().filter(|c| c.model.is_some()).count() >= 4).await;
    assert!(script.calls()[before..].iter().all(|c| c.model.is_some()));
    let keys: Vec<CheckKey> = shared.metrics.health_checks.all().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [key("a", Some("up-1")), key("a", Some("up-2")), key("b", Some("up-1")), key("b", Some("up-2"))]);

    // An account disabled: only its task stops.
    install(
        &shared,
        &YAML
            .replace("request: models", "request: chat")
            .replace("\"sk-b-000000000000\"}", "\"sk-b-000000000000\", enabled: false}"),
    );
    until("b forgotten", || shared.metrics.health_checks.all().iter().all(|(k, _)| &*k.account == "a")).await;
    let n = script.calls().len();
    sleep(Duration::from_secs(60)).await;
    let later = &script.calls()[n..];
    assert!(!later.is_empty() && later.iter().all(|c| c.account == "a"), "{later:?}");

    // Shutdown: the supervisor ends with every check.
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(1), task).await.unwrap().unwrap();
    let n = script.calls().len();
    sleep(Duration::from_secs(120)).await;
    assert_eq!(script.calls().len(), n);
}
