//! The meter and the sink task, without a server.

use super::sink::resolve;
use super::*;
use std::sync::atomic::Ordering::Relaxed;

fn meter(usage: &Arc<Usage>) -> Meter {
    usage.meter(&Arc::from("app"), 7, Instant::now(), 1_700_000_000_000)
}

fn held(bytes: &'static [u8]) -> Held {
    Held::unreserved(Bytes::from_static(bytes))
}

fn on(capacity: usize) -> (Arc<Usage>, mpsc::Receiver<Draft>) {
    let (usage, rx) = Usage::new(Mode::On, capacity);
    (Arc::new(usage), rx.unwrap())
}

#[tokio::test]
async fn every_meter_sends_exactly_one_record() {
    let (usage, mut rx) = on(16);
    let mut m = meter(&usage);
    m.reject(429);
    m.reject(500);
    m.failed(502, false);
    drop(m);
    let draft = rx.try_recv().unwrap();
    assert_eq!((draft.record.status, draft.record.http_status), (Status::Rejected, 429));
    assert_eq!((&*draft.record.key, draft.record.config_version), ("app", 7));
    assert!(rx.try_recv().is_err(), "one record, whatever else is called");

    drop(meter(&usage));
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!(
        (r.status, r.http_status, r.source, r.tokens),
        (Status::ClientClosed, 499, Source::None, Tokens::default())
    );
}

#[tokio::test]
async fn a_client_gone_after_an_attempt_is_charged_the_prompt_only() {
    let (usage, mut rx) = on(16);
    let mut m = meter(&usage);
    m.request_body(&held(br#"{"messages":[{"role":"user","content":"Hello there"}]}"#));
    m.inner.as_mut().unwrap().record.attempts = 1;
    drop(m);
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!(r.status, Status::ClientClosed);
    assert_eq!(r.source, Source::Estimated);
    assert_eq!(r.tokens, Tokens { prompt: 3 + 3 + 2, completion: 0, cached: 0, reasoning: 0 });
}

#[tokio::test]
async fn answers_are_read_or_estimated_off_the_path() {
    let (usage, mut rx) = on(16);
    let usage_value = Bytes::from_static(
        br#"{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}"#,
    );
    let body = held(br#"{"choices":[{"message":{"content":"Hi there friend"}}]}"#);
    meter(&usage).answered(200, Some(usage_value), &body);
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!((r.status, r.source), (Status::Ok, Source::Reported));
    assert_eq!(r.tokens, Tokens { prompt: 9, completion: 4, cached: 2, reasoning: 1 });

    let mut m = meter(&usage);
    m.request_body(&held(br#"{"prompt":"Say hi"}"#));
    m.answered(200, None, &body);
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!(r.source, Source::Estimated);
    assert_eq!(r.tokens, Tokens { prompt: 2, completion: 3, cached: 0, reasoning: 0 });

    meter(&usage).answered(400, None, &body);
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!((r.status, r.source, r.tokens), (Status::UpstreamError, Source::None, Tokens::default()));
}

#[tokio::test]
async fn a_full_channel_drops_and_counts() {
    let (usage, mut rx) = on(2);
    for _ in 0..5 {
        meter(&usage).reject(429);
    }
    assert_eq!(usage.dropped.load(Relaxed), 3);
    assert!(rx.try_recv().is_ok() && rx.try_recv().is_ok() && rx.try_recv().is_err());
}

#[tokio::test]
async fn off_sends_nothing() {
    let (usage, rx) = Usage::new(Mode::Off, 4);
    assert!(rx.is_none());
    let usage = Arc::new(usage);
    let mut m = meter(&usage);
    assert!(!m.is_on());
    m.reject(429);
    assert_eq!(usage.dropped.load(Relaxed), 0);
}

#[tokio::test]
async fn the_sink_task_totals_delivers_and_flushes_on_close() {
    struct Capture(parking_lot::Mutex<Vec<UsageRecord>>);
    impl UsageSink for Capture {
        fn record<'a>(&'a self, records: &'a [UsageRecord]) -> futures_util::future::BoxFuture<'a, ()> {
            self.0.lock().extend_from_slice(records);
            Box::pin(async {})
        }
    }
    let (usage, rx) = on(16);
    let capture = Arc::new(Capture(parking_lot::Mutex::new(Vec::new())));
    let (close, closed) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sink::run(usage.clone(), rx, vec![capture.clone() as Arc<dyn UsageSink>], closed));
    let mut m = meter(&usage);
    m.inner.as_mut().unwrap().record.route = "smart".into();
    m.inner.as_mut().unwrap().record.provider = "main".into();
    m.inner.as_mut().unwrap().record.account = "a".into();
    let value = Bytes::from_static(
        br#"{"prompt_tokens":5,"completion_tokens":6,"completion_tokens_details":{"reasoning_tokens":2}}"#,
    );
    m.answered(200, Some(value), &held(b""));
    meter(&usage).reject(403);
    close.send(true).unwrap();
    task.await.unwrap();
    let records = capture.0.lock().clone();
    assert_eq!(records.len(), 2);
    assert!(records[0].request_id.ends_with("-0") && records[1].request_id.ends_with("-1"));
    assert_eq!(records[0].request_id.len(), 10);
    let t = &usage.totals;
    assert_eq!((t.records.load(Relaxed), t.reported.load(Relaxed), t.estimated.load(Relaxed)), (2, 1, 0));
    assert_eq!((t.tokens(0), t.tokens(1), t.tokens(2), t.tokens(3)), (5, 6, 0, 2));
    let mut text = String::new();
    t.render(&mut text, str::to_owned);
    assert!(
        text.contains(
            "switchyard_tokens_total{model=\"smart\",provider=\"main\",account=\"a\",kind=\"completion\"} 6\n"
        ),
        "{text}"
    );
    meter(&usage).reject(429);
    assert_eq!(usage.dropped.load(Relaxed), 1, "closed at shutdown: counted as dropped");
}

#[tokio::test]
async fn a_pending_record_keeps_its_bodies_in_the_budget_until_the_sink_read_them() {
    let budget = crate::budget::BodyBudget::new();
    budget.resize(1 << 20);
    let (usage, mut rx) = on(16);
    let mut m = meter(&usage);
    let mut reserved = None;
    budget.reserve(&mut reserved, 300 * 1024).unwrap();
    let request = Held::new(Bytes::from_static(br#"{"prompt":"Say hi"}"#), reserved);
    m.request_body(&request);
    drop(request);
    m.inner.as_mut().unwrap().record.attempts = 1;
    drop(m);
    assert_eq!(budget.usage().0, 300 * 1024, "the draft holds the request body's share");
    let r = resolve(rx.try_recv().unwrap(), "x".into());
    assert_eq!(r.tokens.prompt, 2);
    assert_eq!(budget.usage().0, 0, "released once read");
}

#[tokio::test]
async fn totals_saturate() {
    let (usage, rx) = on(16);
    let (close, closed) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(sink::run(usage.clone(), rx, Vec::new(), closed));
    let max = parse::MAX_TOKENS;
    let value = Bytes::from(format!(r#"{{"prompt_tokens":{max},"completion_tokens":{max}}}"#));
    for _ in 0..3 {
        meter(&usage).answered(200, Some(value.clone()), &held(b""));
    }
    usage.totals.tokens[0].store(u64::MAX - 1, Relaxed);
    meter(&usage).answered(200, Some(value), &held(b""));
    close.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(usage.totals.tokens(0), u64::MAX);
    assert_eq!(usage.totals.tokens(1), 4 * max);
}
