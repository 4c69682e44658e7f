#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The balance poll lease across control-plane replicas sharing one database:
//! two replicas on PostgreSQL poll each account exactly once; a replica that
//! died holding a lease hands the poll over when the lease expires (never
//! before); one that stops frees its leases at once.

use std::path::Path;
use std::time::Duration;
use switchyard_control::balance::Tuning;
use switchyard_control::crypto::MasterKey;
use switchyard_control::store::{PollTarget, Store, now_ms};
use switchyard_control::{ControlPlane, Handle, Options};
use switchyard_tests::cluster::{MASTER_KEY, NODE_TOKEN};
use switchyard_tests::eventually;
use switchyard_tests::fake_balance::{Behaviour, FakeBalance, Funds};
use switchyard_tests::postgres;

const ACCOUNTS: usize = 40;

fn key(i: usize) -> String {
    format!("sk-ds-{i:04}-0000000")
}

/// Provider `ds` (DeepSeek's balance API on `fake`) with `accounts` accounts, polled hourly.
fn document(fake: &FakeBalance, accounts: usize) -> String {
    let list: Vec<String> = (0..accounts).map(|i| format!("{{name: a{i}, api_key: \"{}\"}}", key(i))).collect();
    format!(
        r#"
providers:
  - {{name: ds, kind: openai-compatible, base_url: "{}", balance_api: deepseek, accounts: [{}]}}
models:
  - {{name: m, targets: [{{provider: ds, model: up}}]}}
settings: {{balance: {{poll_interval: 1h}}}}
"#,
        fake.base_url(),
        list.join(", ")
    )
}

fn options(url: &str, bootstrap: Option<&Path>, tuning: Tuning) -> Options {
    let mut options = Options::new(url.to_owned(), MASTER_KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.node_token = Some(NODE_TOKEN.to_owned());
    options.bootstrap = bootstrap.map(Path::to_path_buf);
    options.balance = tuning;
    options
}

async fn replica(url: &str, bootstrap: Option<&Path>, tuning: Tuning) -> Handle {
    ControlPlane::start(options(url, bootstrap, tuning)).await.unwrap()
}

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn two_replicas_on_postgresql_poll_each_account_exactly_once() {
    let Some(db) = postgres::database("two_replicas_on_postgresql_poll_each_account_exactly_once").await else {
        return;
    };
    let fake = FakeBalance::start().await;
    for i in 0..ACCOUNTS {
        fake.set(&key(i), Funds::new(1_000_000 + i as i64, "USD"));
    }
    // Slow enough answers that the two replicas' polls overlap.
    fake.behave_all(Behaviour::Delay(Duration::from_millis(40)));
    let tuning = Tuning { spread: Duration::from_millis(500), ..Default::default() };
    let a = replica(&db.url, None, tuning.clone()).await;
    let b = replica(&db.url, None, tuning).await;
    // Both are up when the accounts appear: both schedule them at once (B learns by NOTIFY).
    let dir = tempfile::tempdir().unwrap();
    let config = switchyard_proto::document::load_file(&write(dir.path(), &document(&fake, ACCOUNTS))).unwrap();
    a.store.apply_document(config, "test", "apply").await.unwrap();
    a.publisher.refresh().await.unwrap();

    eventually("every account polled", async || a.store.balances().await.unwrap().len() == ACCOUNTS).await;
    eventually("every lease freed", async || {
        a.store.poll_rows().await.unwrap().iter().all(|r| r.lease_owner.is_none())
    })
    .await;
    for i in 0..ACCOUNTS {
        assert_eq!(fake.hits_of(&key(i)), 1, "account a{i} polled more than once");
    }
    assert_eq!(fake.hits().len(), ACCOUNTS);
    let balances = b.store.balances().await.unwrap();
    assert!(balances.iter().all(|x| x.source == "polled" && x.poller.as_deref() == Some("deepseek")));
    a.shutdown().await;
    b.shutdown().await;
}

/// Writes the document into `url`'s store and leaves account a0 claimed by a
/// replica that then died: its lease runs for `lease` more. Returns the lease's end.
async fn dead_replica_holds(url: &str, fake: &FakeBalance, lease: Duration) -> i64 {
    let store = Store::open(url, MasterKey::from_hex(MASTER_KEY).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = switchyard_proto::document::load_file(&write(dir.path(), &document(fake, 1))).unwrap();
    let version = store.apply_document(config, "test", "apply").await.unwrap();
    let target = PollTarget { provider: "ds".into(), account: "a0".into(), poller: "deepseek".into() };
    store.sync_polls(version, &[target], |_| 0).await.unwrap().unwrap();
    let now = now_ms();
    let until = now + i64::try_from(lease.as_millis()).unwrap();
    assert_eq!(store.claim_poll("ds", "a0", "dead-replica", now, until).await.unwrap(), Some(0));
    store.close().await;
    until
}

async fn takes_over_after_the_lease(url: &str) {
    let fake = FakeBalance::start().await;
    fake.set(&key(0), Funds::new(2_500_000, "USD"));
    let lease_until = dead_replica_holds(url, &fake, Duration::from_millis(1500)).await;
    let tuning = Tuning { recheck: Duration::from_millis(100), spread: Duration::ZERO, ..Default::default() };
    let survivor = replica(url, None, tuning).await;
    eventually("the survivor polled a0", async || survivor.store.balances().await.unwrap().len() == 1).await;
    let row = survivor.store.poll_rows().await.unwrap().remove(0);
    assert!(row.last_attempt_ms.unwrap() >= lease_until, "claimed before the lease expired: {row:?}");
    assert_eq!((row.failures, row.lease_owner), (0, None));
    assert_eq!(fake.hits().len(), 1);
    survivor.shutdown().await;
}

#[tokio::test]
async fn a_dead_replicas_poll_is_taken_over_when_its_lease_expires_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    takes_over_after_the_lease(&format!("sqlite://{}/cp.db", dir.path().display())).await;
}

#[tokio::test]
async fn a_dead_replicas_poll_is_taken_over_when_its_lease_expires_postgresql() {
    let Some(db) = postgres::database("a_dead_replicas_poll_is_taken_over_when_its_lease_expires_postgresql").await
    else {
        return;
    };
    takes_over_after_the_lease(&db.url).await;
}

#[tokio::test]
async fn a_replica_that_stops_frees_its_leases_at_once() {
    let fake = FakeBalance::start().await;
    fake.set(&key(0), Funds::new(4_000_000, "USD"));
    fake.behave(&key(0), Behaviour::Hang);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cp.db", dir.path().display());
    let bootstrap = write(dir.path(), &document(&fake, 1));
    // A lease far longer than the test: only its release lets the next replica in.
    let tuning = Tuning {
        timeout: Duration::from_secs(300),
        lease: Duration::from_secs(600),
        recheck: Duration::from_millis(100),
        spread: Duration::ZERO,
        ..Default::default()
    };
    let first = replica(&url, Some(&bootstrap), tuning.clone()).await;
    fake.wait_for_hits(1).await;
    let held = first.store.poll_rows().await.unwrap().remove(0);
    assert_eq!(held.lease_owner.as_deref(), Some(&*first.replica));
    first.shutdown().await;

    fake.behave(&key(0), Behaviour::Answer);
    let second = replica(&url, None, tuning).await;
    eventually("the next replica polled", async || second.store.balances().await.unwrap().len() == 1).await;
    assert_eq!(second.store.balances().await.unwrap()[0].amount_micros, 4_000_000);
    assert_eq!(fake.hits().len(), 2);
    second.shutdown().await;
}
