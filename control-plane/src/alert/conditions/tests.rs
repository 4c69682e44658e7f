use super::*;
use crate::alert::facts::{AccountFacts, PollFacts};
use crate::store::{Balance, EndpointHealth, NackRecord};
use switchyard_proto::model::BalancePolicy;

const NOW: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

fn thresholds() -> Thresholds {
    Thresholds::of(&Alerts::default(), NOW - 3600 * 1000)
}

fn account(name: &str, amount: Option<i64>, below: Option<i64>) -> AccountFacts {
    AccountFacts {
        provider: "main".into(),
        account: name.into(),
        enabled: true,
        policy: Some(BalancePolicy { currency: "USD".into(), alert_below_micros: below }),
        balance: amount.map(|amount_micros| Balance {
            provider: "main".into(),
            account: name.into(),
            currency: "USD".into(),
            amount_micros,
            source: "manual".into(),
            poller: None,
            updated_at_ms: NOW - 5 * MIN,
        }),
        time_to_empty: None,
    }
}

fn node(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.into(),
        region: "eu".into(),
        zone: String::new(),
        labels: Default::default(),
        build_version: "0.1.0".into(),
        boot_id: "boot".into(),
        connected: true,
        config: (7, "hash".into()),
        runtime: (3, "hash".into()),
        last_nack: None,
        first_seen_ms: NOW - 100 * MIN,
        last_seen_ms: NOW - 1000,
        last_heartbeat_ms: NOW - 1000,
        inflight_requests: 0,
    }
}

fn health(node: &str, account: &str, route: &str, state: &str, reason: &str) -> EndpointHealth {
    EndpointHealth {
        node_id: node.into(),
        boot_id: "boot".into(),
        provider: "main".into(),
        account: account.into(),
        route: route.into(),
        upstream_model: "up/model".into(),
        state: state.into(),
        reason: reason.into(),
        open_for_ms: 30_000,
        at_ms: NOW - MIN,
    }
}

fn facts() -> Facts {
    Facts {
        now_ms: NOW,
        nodes: vec![node("n1"), node("n2"), node("n3")],
        config_version: 7,
        config_since_ms: NOW - 60 * MIN,
        runtime_version: 3,
        ..Facts::default()
    }
}

fn keys(f: &Facts, t: &Thresholds) -> Vec<String> {
    evaluate(f, t).into_iter().map(|c| c.key).collect()
}

#[test]
fn balances_low_drained_and_time_to_empty() {
    let mut f = facts();
    f.accounts = vec![
        account("fine", Some(50_000_000), Some(10_000_000)),
        account("low", Some(4_200_000), Some(10_000_000)),
        account("drained", Some(0), Some(10_000_000)),
        account("negative", Some(-1), None),
        account("unset", None, Some(10_000_000)),
        account("no-threshold", Some(1), None),
    ];
    let mut other_currency = account("cny", Some(1_000_000), Some(10_000_000));
    other_currency.balance.as_mut().unwrap().currency = "CNY".into();
    f.accounts.push(other_currency);
    let mut disabled = account("off", Some(0), Some(10_000_000));
    disabled.enabled = false;
    f.accounts.push(disabled);
    let mut burning = account("burning", Some(30_000_000), Some(10_000_000));
    burning.time_to_empty = Some(Duration::from_secs(5 * 3600 + 1234));
    f.accounts.push(burning);
    let mut slow = account("slow", Some(30_000_000), Some(10_000_000));
    slow.time_to_empty = Some(Duration::from_secs(3 * 86_400));
    f.accounts.push(slow);
    let t = thresholds();
    assert_eq!(
        keys(&f, &t),
        [
            "account_drained:main/drained",
            "account_drained:main/negative",
            "balance_low:main/drained",
            "balance_low:main/low",
            "time_to_empty:main/burning",
        ]
    );
    let all = evaluate(&f, &t);
    let low = all.iter().find(|c| c.key == "balance_low:main/low").unwrap();
    assert_eq!(low.subject, "main/low balance 4.2 USD is below 10 USD");
    assert!(low.text.contains("manual, as of 2027-01-15 07:55:00 UTC"), "{}", low.text);
    assert_eq!(low.labels["account"], "low");
    assert_eq!(low.event.severity(), Severity::Warning);
    let drained = all.iter().find(|c| c.key == "account_drained:main/drained").unwrap();
    assert_eq!(drained.event.severity(), Severity::Critical);
    let tte = all.iter().find(|c| c.event == Event::TimeToEmpty).unwrap();
    assert_eq!(tte.subject, "main/burning runs out in about 5h20m");
    // The wording changes by steps, not at every pass.
    let mut later = f.clone();
    let burning = later.accounts.iter_mut().find(|a| a.account == "burning").unwrap();
    burning.time_to_empty = Some(Duration::from_secs(5 * 3600 + 1234 - 30));
    let tte_later = evaluate(&later, &t).into_iter().find(|c| c.event == Event::TimeToEmpty).unwrap();
    assert_eq!(tte_later, *tte);
    assert!(tte.text.contains("less than time_to_empty_below (1d)"), "{}", tte.text);
}

#[test]
fn an_endpoint_open_on_enough_nodes() {
    let mut f = facts();
    f.endpoints = vec![
        health("n1", "a", "chat", "open", "consecutive_failures"),
        health("n2", "a", "chat", "half_open", "failure_rate"),
        health("n3", "a", "chat", "closed", ""),
        // Open on one node only: below open_on_nodes (2).
        health("n1", "b", "chat", "open", "rate_limited"),
        health("n2", "b", "chat", "closed", ""),
    ];
    let t = thresholds();
    assert_eq!(keys(&f, &t), ["endpoint_open:main/a/chat/up/model"]);
    let c = &evaluate(&f, &t)[0];
    assert_eq!(c.subject, "main/a (chat -> up/model) is open on 2 of 3 nodes");
    assert!(c.text.contains("n1, n2") && c.text.contains("consecutive_failures, failure_rate"), "{}", c.text);
    // With one live node, open on it is enough.
    f.nodes.truncate(1);
    f.endpoints.retain(|h| h.node_id == "n1");
    assert_eq!(keys(&f, &t), ["endpoint_open:main/a/chat/up/model", "endpoint_open:main/b/chat/up/model"]);
    // open_on_nodes: 1 alerts on any open breaker.
    let mut f = facts();
    f.endpoints = vec![health("n1", "b", "chat", "open", "rate_limited")];
    let one = Thresholds { open_on_nodes: 1, ..thresholds() };
    assert_eq!(keys(&f, &one), ["endpoint_open:main/b/chat/up/model"]);
}

#[test]
fn refused_keys_and_spent_quotas_alert_per_account_on_one_node() {
    let mut f = facts();
    f.endpoints = vec![
        health("n1", "a", "chat", "open", "auth"),
        health("n1", "a", "embed", "open", "auth"),
        health("n2", "a", "chat", "half_open", "auth"),
        health("n1", "q", "chat", "open", "quota"),
        // Closed again: nothing.
        health("n1", "c", "chat", "closed", "auth"),
    ];
    let all = evaluate(&f, &thresholds());
    let keys: Vec<&str> = all.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["key_refused:main/a", "quota_exhausted:main/q"], "no endpoint_open for them: {keys:?}");
    assert!(all[0].text.contains("as reported by n1, n2"), "{}", all[0].text);
    assert!(all[0].subject.contains("401/403") && all[1].subject.contains("402"), "{all:?}");
    assert_eq!(all[0].labels["reason"], "auth");
}

#[test]
fn nodes_lost_stale_and_nacking() {
    let mut f = facts();
    let mut lost = node("lost");
    (lost.connected, lost.last_seen_ms, lost.last_heartbeat_ms) = (false, NOW - 10 * MIN, NOW - 11 * MIN);
    let mut blip = node("blip");
    (blip.connected, blip.last_seen_ms, blip.last_heartbeat_ms) = (false, NOW - 2 * MIN, 0);
    let mut gone = node("gone");
    (gone.connected, gone.last_seen_ms, gone.last_heartbeat_ms) = (false, NOW - 25 * 3600 * 1000, 0);
    let mut stale = node("stale");
    stale.config = (6, "old".into());
    let mut nack = node("nack");
    nack.config = (6, "old".into());
    nack.last_nack = Some(NackRecord {
        kind: "config".into(),
        error: "models[0].targets[0].provider: unknown provider \"x\"".into(),
        at_ms: NOW - 30 * MIN,
        superseded: false,
    });
    let mut recovered = node("recovered");
    recovered.last_nack = Some(NackRecord { superseded: true, ..nack.last_nack.clone().unwrap() });
    // Telemetry alone keeps a node live.
    let mut telemetry_only = node("telemetry-only");
    (telemetry_only.connected, telemetry_only.last_seen_ms) = (false, NOW - 30 * MIN);
    f.nodes = vec![lost, blip, gone, stale, nack, recovered, telemetry_only];
    let t = thresholds();
    assert_eq!(keys(&f, &t), ["node_lost:lost", "node_nack:nack", "node_stale:stale"]);
    let all = evaluate(&f, &t);
    assert_eq!(all[0].subject, "data plane lost is lost: no contact since 2027-01-15 07:50:00 UTC");
    assert!(all[1].text.contains("unknown provider \"x\""), "{}", all[1].text);
    assert_eq!(all[2].subject, "data plane stale is stale: Config 6 of 7");

    // A Config made a minute ago: nodes behind it are not stale yet.
    f.config_since_ms = NOW - MIN;
    assert_eq!(keys(&f, &t), ["node_lost:lost", "node_nack:nack"]);
    // Watching began two minutes ago: a node silent for ten is not lost yet.
    let just_started = Thresholds { watching_since_ms: NOW - 2 * MIN, ..t };
    assert_eq!(keys(&f, &just_started), ["node_nack:nack"]);
}

#[test]
fn pollers_failing_repeatedly() {
    let mut f = facts();
    let poll = |account: &str, failures| PollFacts {
        provider: "main".into(),
        account: account.into(),
        failures,
        last_error: "HTTP 401: invalid key\nsecond line".into(),
    };
    f.polls = vec![poll("a", 2), poll("b", POLL_FAILURES), poll("c", 10)];
    let all = evaluate(&f, &thresholds());
    assert_eq!(all.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["poll_failing:main/b", "poll_failing:main/c"]);
    assert!(all[0].text.ends_with("Latest error: HTTP 401: invalid key second line"), "{}", all[0].text);
}

#[test]
fn every_event_has_its_own_name() {
    let mut names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Event::ALL.len());
}
