#![allow(clippy::unwrap_used, clippy::expect_used)]
//! How many accounts one control plane polls per minute against the fake
//! balance endpoints (DeepSeek's shape), every account due at once: prints
//! the figure, asserts only that every account was polled once. Run with
//! `cargo test -p switchyard-tests --test balance_bench -- --ignored --nocapture`
//! (PostgreSQL too when a server answers, see `switchyard_tests::postgres`).

use std::time::Duration;
use switchyard_control::balance::Tuning;
use switchyard_control::crypto::MasterKey;
use switchyard_control::store::{PollTarget, Store};
use switchyard_control::{ControlPlane, Options};
use switchyard_tests::cluster::MASTER_KEY;
use switchyard_tests::fake_balance::{Behaviour, FakeBalance, Funds};
use switchyard_tests::postgres;
use tokio::time::Instant;

const PROVIDERS: usize = 10;
const PER_PROVIDER: usize = 200;

fn key(p: usize, a: usize) -> String {
    format!("sk-bench-{p:02}-{a:04}-000")
}

fn document(fake: &FakeBalance) -> String {
    let mut yaml = String::from("providers:\n");
    for p in 0..PROVIDERS {
        let accounts: Vec<String> =
            (0..PER_PROVIDER).map(|a| format!("{{name: a{a}, api_key: \"{}\"}}", key(p, a))).collect();
        yaml.push_str(&format!(
            "  - {{name: p{p}, kind: openai-compatible, base_url: \"{}\", balance_api: deepseek, accounts: [{}]}}\n",
            fake.base_url(),
            accounts.join(", ")
        ));
    }
    yaml.push_str(
        "models:\n  - {name: m, targets: [{provider: p0, model: up}]}\nsettings: {balance: {poll_interval: 1h}}\n",
    );
    yaml
}

/// Polls every account once from `url`'s store; returns accounts per minute.
async fn rate(url: &str, latency: Option<Duration>) -> f64 {
    let fake = FakeBalance::start().await;
    for p in 0..PROVIDERS {
        for a in 0..PER_PROVIDER {
            fake.set(&key(p, a), Funds::new(1_000_000, "USD"));
        }
    }
    if let Some(latency) = latency {
        fake.behave_all(Behaviour::Delay(latency));
    }
    // The accounts and their rows, all due now, before the control plane starts.
    let store = Store::open(url, MasterKey::from_hex(MASTER_KEY).unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    std::fs::write(&path, document(&fake)).unwrap();
    let version =
        store.apply_document(switchyard_proto::document::load_file(&path).unwrap(), "bench", "apply").await.unwrap();
    let targets: Vec<PollTarget> = (0..PROVIDERS)
        .flat_map(|p| {
            (0..PER_PROVIDER).map(move |a| PollTarget {
                provider: format!("p{p}"),
                account: format!("a{a}"),
                poller: "deepseek".into(),
            })
        })
        .collect();
    store.sync_polls(version, &targets, |_| 0).await.unwrap().unwrap();
    store.close().await;

    let mut options = Options::new(url.to_owned(), MASTER_KEY);
    options.http_listen = "127.0.0.1:0".parse().unwrap();
    options.grpc_listen = "127.0.0.1:0".parse().unwrap();
    options.balance = Tuning { spread: Duration::ZERO, ..Default::default() };
    let started = Instant::now();
    let cp = ControlPlane::start(options).await.unwrap();
    let total = PROVIDERS * PER_PROVIDER;
    let deadline = started + Duration::from_secs(600);
    let polled = async || -> usize {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM balances").fetch_one(cp.store.pool()).await.unwrap();
        usize::try_from(n).unwrap()
    };
    while polled().await < total {
        assert!(Instant::now() < deadline, "not every account polled in 10 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(fake.hits().len(), total, "each account polled once");
    cp.shutdown().await;
    total as f64 / elapsed.as_secs_f64() * 60.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn accounts_polled_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |n: &str| format!("sqlite://{}/{n}.db", dir.path().display());
    let total = PROVIDERS * PER_PROVIDER;
    for (label, latency) in [("answers at once", None), ("answers in 50 ms", Some(Duration::from_millis(50)))] {
        let per_minute = rate(&sqlite(label.replace(' ', "_").as_str()), latency).await;
        println!("balance polls, SQLite, fake {label}: {total} accounts, {per_minute:.0} per minute (8 at once)");
        if let Some(db) = postgres::database("accounts_polled_per_minute").await {
            let per_minute = rate(&db.url, latency).await;
            println!(
                "balance polls, PostgreSQL, fake {label}: {total} accounts, {per_minute:.0} per minute (8 at once)"
            );
        }
    }
}
