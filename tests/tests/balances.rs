#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Balance polling on one control plane (SQLite) against the fake balance
//! endpoints: every poller reads its provider's documented shape (amount,
//! currency, source `polled` and the poller), with the account's key and the
//! provider's headers; accounts no poller applies to, or disabled, are never
//! polled; a failing poll records why (no secret in it) and backs off, then
//! recovers; a poll that hangs times out without holding up the others.

use std::path::Path;
use std::time::Duration;
use switchyard_control::balance::Tuning;
use switchyard_control::store::{Balance, Change, Ownership, PollRow};
use switchyard_control::{ControlPlane, Handle};
use switchyard_tests::cluster::control_plane_options;
use switchyard_tests::eventually;
use switchyard_tests::fake_balance::{Behaviour, FakeBalance, Funds};

/// First polls at once (no spread).
fn tuning() -> Tuning {
    Tuning { spread: Duration::ZERO, ..Default::default() }
}

async fn start(dir: &Path, document: &str, tuning: Tuning) -> Handle {
    let mut options = control_plane_options(dir, document, "127.0.0.1:0".parse().unwrap());
    options.balance = tuning;
    ControlPlane::start(options).await.unwrap()
}

async fn balance(cp: &Handle, provider: &str, account: &str) -> Option<Balance> {
    cp.store.balances().await.unwrap().into_iter().find(|b| b.provider == provider && b.account == account)
}

async fn row(cp: &Handle, provider: &str, account: &str) -> Option<PollRow> {
    cp.store.poll_rows().await.unwrap().into_iter().find(|r| r.provider == provider && r.account == account)
}

const TAIL: &str = r#"
models:
  - {name: m, targets: [{provider: plain, model: up}]}
keys:
  - {name: app, key: "sk-client-app-0123456789"}
"#;

/// One provider per poller (two one-api relays: new-api and one-api), all on `fake`.
fn every_poller(fake: &FakeBalance) -> String {
    let (base, origin) = (fake.base_url(), fake.origin());
    format!(
        r#"
providers:
  - name: ds
    kind: openai-compatible
    base_url: "{base}"
    balance_api: deepseek
    headers: {{X-Team: blue}}
    accounts:
      - {{name: a, api_key: "sk-ds-a-000000", balance: {{currency: USD, alert_below: 1}}}}
      - {{name: off, api_key: "sk-ds-off-00000", enabled: false}}
  - name: or
    kind: openai-compatible
    base_url: "{origin}/api/v1"
    balance_api: openrouter
    accounts:
      - {{name: mgmt, api_key: "sk-or-mgmt-0000"}}
      - {{name: inference, api_key: "sk-or-inf-00000"}}
      - {{name: nolimit, api_key: "sk-or-nolimit-0"}}
  - {{name: sf, kind: openai-compatible, base_url: "{base}", balance_api: siliconflow,
     accounts: [{{name: a, api_key: "sk-sf-a-000000", balance: {{currency: USD}}}}]}}
  - {{name: ms, kind: openai-compatible, base_url: "{base}", balance_api: moonshot,
     accounts: [{{name: a, api_key: "sk-ms-a-000000"}}]}}
  - {{name: na, kind: openai-compatible, base_url: "{base}", balance_api: oneapi,
     accounts: [{{name: a, api_key: "sk-na-a-000000"}}]}}
  - {{name: oa, kind: openai-compatible, base_url: "{base}", balance_api: oneapi,
     accounts: [{{name: a, api_key: "sk-oa-a-000000"}}]}}
  - {{name: plain, kind: openai-compatible, base_url: "{base}", accounts: [{{name: a, api_key: "sk-plain-00000"}}]}}
{TAIL}"#
    )
}

#[tokio::test]
async fn every_poller_reads_its_providers_documented_answer() {
    let fake = FakeBalance::start().await;
    fake.set("sk-ds-a-000000", Funds::new(110_000_000, "CNY"));
    fake.set("sk-ds-off-00000", Funds::new(1_000_000, "CNY"));
    fake.set("sk-or-mgmt-0000", Funds { used_micros: 25_750_000, ..Funds::new(74_750_000, "USD") });
    fake.set(
        "sk-or-inf-00000",
        Funds { management: false, key_limit_micros: Some(5_500_000), ..Funds::new(74_750_000, "USD") },
    );
    fake.set("sk-or-nolimit-0", Funds { management: false, ..Funds::new(74_750_000, "USD") });
    fake.set("sk-sf-a-000000", Funds::new(88_880_000, "USD"));
    fake.set("sk-ms-a-000000", Funds::new(49_588_940, "CNY"));
    fake.set("sk-na-a-000000", Funds::new(1_975_310, "USD"));
    fake.set("sk-oa-a-000000", Funds { new_api: false, used_micros: 7_305_000, ..Funds::new(17_695_000, "USD") });
    fake.set("sk-plain-00000", Funds::new(1_000_000, "USD"));
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path(), &every_poller(&fake), tuning()).await;

    let polled = [
        ("ds", "a", "deepseek", "CNY", 110_000_000),
        ("or", "mgmt", "openrouter", "USD", 74_750_000),
        ("or", "inference", "openrouter", "USD", 5_500_000),
        ("sf", "a", "siliconflow", "USD", 88_880_000),
        ("ms", "a", "moonshot", "CNY", 49_588_940),
        ("na", "a", "oneapi", "USD", 1_975_310),
        ("oa", "a", "oneapi", "USD", 17_695_000),
    ];
    eventually("every account polled", async || {
        cp.store.balances().await.unwrap().len() == polled.len()
            && row(&cp, "or", "nolimit").await.is_some_and(|r| r.failures > 0)
    })
    .await;
    for (provider, account, poller, currency, micros) in polled {
        let b = balance(&cp, provider, account).await.unwrap();
        assert_eq!(
            (b.currency.as_str(), b.amount_micros, b.source.as_str(), b.poller.as_deref()),
            (currency, micros, "polled", Some(poller)),
            "{provider}/{account}"
        );
        let r = row(&cp, provider, account).await.unwrap();
        assert_eq!(
            (r.failures, r.last_error.as_deref(), r.lease_owner.as_deref()),
            (0, None, None),
            "{provider}/{account}"
        );
        // Due again after the default interval (10m), jittered by 10%.
        assert!(r.last_ok_ms.is_some() && r.next_due_ms >= b.updated_at_ms + 540_000, "{r:?}");
    }
    // DeepSeek names CNY while the policy says USD: the polled currency is kept.
    assert_eq!(balance(&cp, "ds", "a").await.unwrap().currency, "CNY");
    // A key with no limit that may not read the credits has no balance to read.
    let failed = row(&cp, "or", "nolimit").await.unwrap();
    let error = failed.last_error.unwrap();
    assert!(error.contains("no credit limit"), "{error}");
    assert!(balance(&cp, "or", "nolimit").await.is_none());
    // Not polled: a disabled account, a provider no poller applies to.
    assert_eq!(fake.hits_of("sk-ds-off-00000") + fake.hits_of("sk-plain-00000"), 0);
    assert!(row(&cp, "ds", "off").await.is_none() && row(&cp, "plain", "a").await.is_none());
    // Each request went where the docs say, with the key and the provider's headers.
    let paths = |key: &str| fake.hits().into_iter().filter(|h| h.key == key).map(|h| h.path).collect::<Vec<_>>();
    assert_eq!(paths("sk-ds-a-000000"), ["/user/balance"]);
    assert_eq!(paths("sk-or-mgmt-0000"), ["/api/v1/key", "/api/v1/credits"]);
    assert_eq!(paths("sk-ms-a-000000"), ["/v1/users/me/balance"]);
    assert_eq!(paths("sk-sf-a-000000"), ["/v1/user/info"]);
    assert_eq!(paths("sk-na-a-000000"), ["/api/usage/token"]);
    assert_eq!(
        paths("sk-oa-a-000000"),
        ["/api/usage/token", "/v1/dashboard/billing/subscription", "/v1/dashboard/billing/usage"]
    );
    let ds = fake.upstream.requests().into_iter().find(|r| r.uri.path() == "/user/balance").unwrap();
    assert_eq!(ds.header("x-team"), Some("blue"));
    assert_eq!(ds.header("authorization"), Some("Bearer sk-ds-a-000000"));

    // An account no longer polled leaves the schedule; its balance stays.
    let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
    cp.store
        .write(change, |c| {
            c.providers[0].balance_api = Some(switchyard_proto::model::BalanceApi::None);
            Ok(())
        })
        .await
        .unwrap();
    cp.publisher.refresh().await.unwrap();
    eventually("ds/a leaves the schedule", async || row(&cp, "ds", "a").await.is_none()).await;
    assert_eq!(balance(&cp, "ds", "a").await.unwrap().amount_micros, 110_000_000);
    cp.shutdown().await;
}

fn one_provider(fake: &FakeBalance, interval: &str) -> String {
    format!(
        r#"
providers:
  - name: ds
    kind: openai-compatible
    base_url: "{}"
    balance_api: deepseek
    headers: {{X-Secret-Header: hdr-secret-value}}
    accounts:
      - {{name: a, api_key: "sk-ds-a-000000"}}
      - {{name: b, api_key: "sk-ds-b-000000"}}
  - {{name: plain, kind: openai-compatible, base_url: "{}", accounts: [{{name: a, api_key: "sk-plain-00000"}}]}}
settings: {{balance: {{poll_interval: {interval}}}}}
{TAIL}"#,
        fake.base_url(),
        fake.base_url()
    )
}

#[tokio::test]
async fn a_failing_poll_records_why_backs_off_and_recovers() {
    let fake = FakeBalance::start().await;
    fake.set("sk-ds-b-000000", Funds::new(3_000_000, "USD"));
    fake.set("sk-ds-a-000000", Funds::new(5_000_000, "USD"));
    fake.behave("sk-ds-a-000000", Behaviour::Status(401));
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_millis(200);
    let cp = start(dir.path(), &one_provider(&fake, "200ms"), tuning()).await;

    eventually("three failures in a row", async || row(&cp, "ds", "a").await.is_some_and(|r| r.failures >= 3)).await;
    let r = row(&cp, "ds", "a").await.unwrap();
    let error = r.last_error.clone().unwrap();
    assert_eq!(error, "GET /user/balance: HTTP 401: the fake says no");
    assert!(balance(&cp, "ds", "a").await.is_none(), "a failure writes no balance");
    // The account that answers is unaffected.
    assert_eq!(balance(&cp, "ds", "b").await.unwrap().amount_micros, 3_000_000);
    // Each retry waits twice as long as the one before (from the interval), never less than 90% of it.
    let times: Vec<_> = fake.hits().into_iter().filter(|h| h.key == "sk-ds-a-000000").map(|h| h.at).collect();
    for (n, pair) in times.windows(2).enumerate().take(3) {
        let waited = pair[1] - pair[0];
        let due = interval * (1 << n);
        assert!(waited >= due.mul_f64(0.9), "retry {}: waited {waited:?}, due after {due:?}", n + 1);
    }
    // The schedule holds the backoff: the next attempt is 2^(failures-1) intervals after the last.
    let failures = u32::try_from(r.failures).unwrap();
    let wait = r.next_due_ms - r.last_attempt_ms.unwrap();
    let backoff = (interval * (1 << (failures - 1))).min(interval * 8).as_millis() as i64;
    assert!(wait >= backoff * 9 / 10, "{wait} ms after the attempt, backoff {backoff} ms");

    // The key is accepted again: the next poll reads the balance and clears the failures.
    fake.behave("sk-ds-a-000000", Behaviour::Answer);
    eventually("recovered", async || row(&cp, "ds", "a").await.is_some_and(|r| r.failures == 0)).await;
    assert_eq!(balance(&cp, "ds", "a").await.unwrap().amount_micros, 5_000_000);
    assert_eq!(row(&cp, "ds", "a").await.unwrap().last_error, None);
    cp.shutdown().await;
}

#[tokio::test]
async fn errors_never_carry_the_key_or_header_values() {
    let fake = FakeBalance::start().await;
    fake.set("sk-ds-b-000000", Funds::new(1, "USD"));
    fake.behave("sk-ds-a-000000", Behaviour::Echo);
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path(), &one_provider(&fake, "1h"), tuning()).await;
    eventually("a failed", async || row(&cp, "ds", "a").await.is_some_and(|r| r.failures > 0)).await;
    let error = row(&cp, "ds", "a").await.unwrap().last_error.unwrap();
    assert!(error.starts_with("GET /user/balance: HTTP 401: Incorrect API key provided: <redacted>"), "{error}");
    assert!(!error.contains("sk-ds-a-000000") && !error.contains("hdr-secret-value"), "{error}");
    cp.shutdown().await;
}

#[tokio::test]
async fn a_poll_that_hangs_times_out_and_holds_up_no_other() {
    let fake = FakeBalance::start().await;
    fake.set("sk-ds-a-000000", Funds::new(5_000_000, "USD"));
    fake.set("sk-ds-b-000000", Funds::new(3_000_000, "USD"));
    fake.behave("sk-ds-a-000000", Behaviour::Hang);
    let dir = tempfile::tempdir().unwrap();
    let tuning = Tuning { timeout: Duration::from_millis(300), lease: Duration::from_secs(2), ..tuning() };
    let cp = start(dir.path(), &one_provider(&fake, "1h"), tuning).await;
    eventually("b polled", async || balance(&cp, "ds", "b").await.is_some()).await;
    eventually("a timed out", async || row(&cp, "ds", "a").await.is_some_and(|r| r.failures > 0)).await;
    let r = row(&cp, "ds", "a").await.unwrap();
    let error = r.last_error.unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert_eq!(r.lease_owner, None, "the lease is freed");
    cp.shutdown().await;
}

#[tokio::test]
async fn a_shorter_interval_applies_at_once() {
    let fake = FakeBalance::start().await;
    fake.set("sk-ds-a-000000", Funds::new(5_000_000, "USD"));
    fake.set("sk-ds-b-000000", Funds::new(3_000_000, "USD"));
    let dir = tempfile::tempdir().unwrap();
    let cp = start(dir.path(), &one_provider(&fake, "1h"), tuning()).await;
    eventually("both polled", async || cp.store.balances().await.unwrap().len() == 2).await;
    let change = Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged };
    cp.store
        .write(change, |c| {
            c.settings.balance_poll_interval = Duration::from_millis(300);
            Ok(())
        })
        .await
        .unwrap();
    cp.publisher.refresh().await.unwrap();
    eventually("polled again, not an hour later", async || fake.hits_of("sk-ds-a-000000") >= 3).await;
    cp.shutdown().await;
}
