//! The poll scheduler, one task per control-plane replica, apart from the
//! config stream and everything else:
//!
//! 1. when the Config revision moves, the `balance_polls` rows are made to
//!    match it (an enabled account of an enabled provider whose effective
//!    `balance_api` is not `none`; a shorter poll interval brings later due
//!    times forward) and the HTTP clients are rebuilt;
//! 2. due rows are claimed (one conditional `UPDATE` each, see
//!    [`Store::claim_poll`]) while fewer than [`Tuning::concurrency`] polls
//!    run, and each claimed account is polled in its own task, bounded by
//!    [`Tuning::timeout`], under a lease of [`Tuning::lease`];
//! 3. its result is written by the lease holder ([`Store::finish_poll`]):
//!    a reading becomes the balance, a failure counts and keeps its reason,
//!    and the next due time follows [`super::timing`]; a flip of the
//!    account's drained state republishes the snapshot at once;
//! 4. the task sleeps until the next row may become claimable, a poll
//!    finishes, the Config moves, or [`Tuning::recheck`] passes (another
//!    replica's lease may expire).
//!
//! A failing poller is logged and recorded, never fatal; a store error waits
//! for the next pass. Stopping aborts the running polls and frees this
//! replica's leases, so another replica takes its rows at once.

use super::poll::{self, Ctx};
use super::timing;
use crate::snapshot::Publisher;
use crate::store::{Finished, PollOutcome, PollTarget, Store, now_ms};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::{BalanceApi, Config};
use tokio::sync::watch;
use tokio::task::{self, JoinSet};

/// How polls run (process settings; the interval is the Config's
/// `settings.balance.poll_interval`).
#[derive(Debug, Clone)]
pub struct Tuning {
    /// One poll, all its requests, start to end.
    pub timeout: Duration,
    /// How long a claimed row stays this replica's: longer than `timeout`.
    pub lease: Duration,
    /// Polls at once on this replica.
    pub concurrency: usize,
    /// The longest sleep between two looks at the schedule (other replicas'
    /// leases expiring, rows another replica added).
    pub recheck: Duration,
    /// A newly polled account's first poll falls within this (or the
    /// interval, if shorter).
    pub spread: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(30),
            concurrency: 8,
            recheck: Duration::from_secs(5),
            spread: Duration::from_secs(10),
        }
    }
}

/// Never wake sooner than this after a pass (a row due "now" that another
/// replica is claiming must not make this one spin).
const MIN_WAIT: Duration = Duration::from_millis(50);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

type Key = (String, String);

pub(super) struct Scheduler {
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub replica: Arc<str>,
    pub tuning: Tuning,
    pub polled: Polled,
}

/// Called after each poll's result is written (the alert evaluator's trigger).
pub type Polled = Arc<dyn Fn() + Send + Sync>;

/// What the scheduler keeps between passes.
struct State {
    rng: fastrand::Rng,
    /// The Config revision the rows were synced for.
    synced: Option<u64>,
    /// The accounts polled as of that revision, and their poller.
    targets: HashMap<Key, BalanceApi>,
    /// `settings.balance.poll_interval` as of that revision.
    interval: Option<Duration>,
    /// Per provider, for the synced revision.
    clients: HashMap<String, reqwest::Client>,
    polls: JoinSet<()>,
    running: HashMap<task::Id, Key>,
}

impl Scheduler {
    pub(super) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut config = self.publisher.subscribe();
        let mut state = State {
            rng: fastrand::Rng::new(),
            synced: None,
            targets: HashMap::new(),
            interval: None,
            clients: HashMap::new(),
            polls: JoinSet::new(),
            running: HashMap::new(),
        };
        loop {
            let wake = self.pass(&mut state).await;
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                Some(done) = state.polls.join_next_with_id(), if !state.polls.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!(error = %e, "a balance poll task failed");
                            e.id()
                        }
                    };
                    state.running.remove(&id);
                }
                changed = config.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(wake) => {}
            }
        }
        state.polls.abort_all();
        while state.polls.join_next().await.is_some() {}
        match self.store.release_polls(&self.replica).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "balance poll leases released"),
            Err(e) => tracing::warn!(error = %e, "cannot release balance poll leases; they expire"),
        }
    }

    /// Syncs, claims and spawns what it can; returns how long to sleep.
    async fn pass(&self, state: &mut State) -> Duration {
        let snapshot = self.publisher.current();
        let config = snapshot.model().clone();
        let interval = config.settings.balance_poll_interval;
        if state.synced != Some(snapshot.config.version) {
            match self.sync(state, &config, snapshot.config.version).await {
                Ok(true) => state.synced = Some(snapshot.config.version),
                // Woken again when the snapshot moves on.
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot schedule balance polls; retrying");
                    return self.tuning.recheck;
                }
            }
        }
        if state.targets.is_empty() {
            // Nothing to poll: wait for the Config to change.
            return Duration::from_secs(24 * 3600);
        }
        let now = now_ms();
        let free = self.tuning.concurrency.saturating_sub(state.polls.len());
        if free > 0 {
            self.claim(state, &config, free, now, interval).await;
        }
        if state.polls.len() >= self.tuning.concurrency {
            // A finishing poll wakes the loop.
            return self.tuning.recheck;
        }
        match self.store.next_poll_ms(now).await {
            Ok(Some(next)) => Duration::from_millis(u64::try_from(next - now).unwrap_or(0))
                .clamp(MIN_WAIT, self.tuning.recheck.max(MIN_WAIT)),
            Ok(None) => self.tuning.recheck,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the balance poll schedule");
                self.tuning.recheck
            }
        }
    }

    /// The rows for `config`'s (revision `version`) polled accounts; the
    /// clients for its providers. False when the store holds a later Config.
    async fn sync(&self, state: &mut State, config: &Config, version: u64) -> Result<bool, crate::store::StoreError> {
        let mut targets = BTreeMap::new();
        for p in config.providers.iter().filter(|p| p.enabled) {
            let api = p.effective_balance_api();
            if api == BalanceApi::None {
                continue;
            }
            for a in p.accounts.iter().filter(|a| a.enabled) {
                targets.insert((p.name.clone(), a.name.clone()), api);
            }
        }
        let rows: Vec<PollTarget> = targets
            .iter()
            .map(|((provider, account), api)| PollTarget {
                provider: provider.clone(),
                account: account.clone(),
                poller: api.as_str().to_owned(),
            })
            .collect();
        let now = now_ms();
        let interval = config.settings.balance_poll_interval;
        let (mut rng, spread) = (state.rng.fork(), self.tuning.spread);
        let first_due = |_: &PollTarget| timing::first_due(now, interval, spread, &mut rng);
        let Some(synced) = self.store.sync_polls(version, &rows, first_due).await? else {
            // Another replica wrote a later Config: this one syncs when its snapshot has it.
            tracing::debug!(version, "balance polls not synced: the store holds a later Config");
            return Ok(false);
        };
        if synced != Default::default() {
            tracing::info!(
                polled = rows.len(),
                added = synced.added,
                changed = synced.changed,
                removed = synced.removed,
                "balance polls scheduled"
            );
        }
        if state.interval.is_some_and(|before| interval < before) {
            // A shorter interval applies now, not after each row's old due time.
            let moved = self.store.pull_polls_in(now.saturating_add(ms(interval))).await?;
            tracing::info!(moved, interval = ?interval, "balance poll interval shortened");
        }
        state.interval = Some(interval);
        state.targets = targets.into_iter().collect();
        state.clients.clear();
        Ok(true)
    }

    async fn claim(&self, state: &mut State, config: &Arc<Config>, free: usize, now: i64, interval: Duration) {
        let limit = free + state.running.len();
        let due = match self.store.due_polls(&self.replica, now, limit).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the due balance polls");
                return;
            }
        };
        for key in due {
            if state.polls.len() >= self.tuning.concurrency {
                break;
            }
            let Some(api) = state.targets.get(&key).copied() else { continue };
            if state.running.values().any(|k| *k == key) {
                continue;
            }
            let lease_until = now.saturating_add(ms(self.tuning.lease));
            let failures = match self.store.claim_poll(&key.0, &key.1, &self.replica, now, lease_until).await {
                Ok(Some(failures)) => failures,
                // Another replica was first.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, provider = %key.0, account = %key.1, "cannot claim a balance poll");
                    continue;
                }
            };
            let client = match self.client(state, config, &key.0) {
                Ok(client) => client,
                Err(error) => {
                    // Not worth a task: record the failure at once.
                    let job = self.job(state, config, &key, api, None, failures, interval);
                    job.finish(PollOutcome::Failed { error }).await;
                    continue;
                }
            };
            let job = self.job(state, config, &key, api, Some(client), failures, interval);
            let handle = state.polls.spawn(job.run());
            state.running.insert(handle.id(), key);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        state: &mut State,
        config: &Arc<Config>,
        key: &Key,
        api: BalanceApi,
        client: Option<reqwest::Client>,
        failures: i64,
        interval: Duration,
    ) -> Job {
        Job {
            store: self.store.clone(),
            publisher: self.publisher.clone(),
            replica: self.replica.clone(),
            polled: self.polled.clone(),
            target: PollTarget { provider: key.0.clone(), account: key.1.clone(), poller: api.as_str().to_owned() },
            api,
            config: config.clone(),
            client,
            failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
            timeout: self.tuning.timeout,
            interval,
            rng: state.rng.fork(),
        }
    }

    /// The provider's client (built once per Config revision).
    fn client(&self, state: &mut State, config: &Config, provider: &str) -> Result<reqwest::Client, String> {
        if let Some(client) = state.clients.get(provider) {
            return Ok(client.clone());
        }
        let p = config.provider(provider).ok_or_else(|| format!("no provider {provider:?}"))?;
        let connect = p.timeout.resolve(&config.settings.timeout).connect;
        let client = crate::outbound::provider_client(p, connect, self.tuning.timeout)?;
        state.clients.insert(provider.to_owned(), client.clone());
        Ok(client)
    }
}

/// One claimed account's poll.
struct Job {
    store: Arc<Store>,
    publisher: Arc<Publisher>,
    replica: Arc<str>,
    polled: Polled,
    target: PollTarget,
    api: BalanceApi,
    config: Arc<Config>,
    client: Option<reqwest::Client>,
    /// Consecutive failures before this poll.
    failures: u32,
    timeout: Duration,
    interval: Duration,
    rng: fastrand::Rng,
}

impl Job {
    async fn run(self) {
        let read = match (&self.client, self.config.provider(&self.target.provider)) {
            (Some(client), Some(provider)) => match provider.account(&self.target.account) {
                Some(account) => poll::read_with(self.api, &Ctx { client, provider, account }, self.timeout).await,
                None => Err("the account no longer exists".to_owned()),
            },
            _ => Err("the provider no longer exists".to_owned()),
        };
        let outcome = match read {
            Ok(r) => PollOutcome::Read { currency: r.currency, amount_micros: r.amount_micros },
            Err(error) => PollOutcome::Failed { error },
        };
        self.finish(outcome).await;
    }

    async fn finish(mut self, outcome: PollOutcome) {
        let now = now_ms();
        let t = &self.target;
        let next_due = match &outcome {
            PollOutcome::Read { currency, amount_micros } => {
                tracing::info!(
                    provider = %t.provider,
                    account = %t.account,
                    poller = %t.poller,
                    currency = %currency,
                    amount = %switchyard_proto::model::units::format_money(*amount_micros),
                    "balance polled"
                );
                timing::after_success(now, self.interval, &mut self.rng)
            }
            PollOutcome::Failed { error } => {
                let failures = self.failures.saturating_add(1);
                tracing::warn!(
                    provider = %t.provider,
                    account = %t.account,
                    poller = %t.poller,
                    failures,
                    error = %error,
                    "balance poll failed"
                );
                timing::after_failure(now, self.interval, failures, &mut self.rng)
            }
        };
        match self.store.finish_poll(&self.replica, t, &outcome, now, next_due).await {
            Ok(Finished::Written { runtime: Some(revision) }) => {
                tracing::info!(provider = %t.provider, account = %t.account, runtime = revision, "drained state changed");
                if let Err(e) = self.publisher.refresh().await {
                    tracing::warn!(error = %e, "snapshot refresh after a balance poll failed; polling will catch up");
                }
                (self.polled)();
            }
            Ok(Finished::Written { runtime: None }) => (self.polled)(),
            Ok(Finished::LeaseLost) => tracing::warn!(
                provider = %t.provider,
                account = %t.account,
                "a balance poll outlived its lease; its result is dropped"
            ),
            Err(e) => tracing::warn!(
                provider = %t.provider,
                account = %t.account,
                error = %e,
                "cannot store a balance poll's result; it is polled again"
            ),
        }
    }
}
