//! Active health checks: for each enabled account of a provider with a
//! `health_check`, a background task sends a cheap request on an interval
//! ([`request`]: the model list, or one token from each routed upstream
//! model) and feeds the outcome to the breakers of the account's endpoints
//! ([`crate::breaker::Breaker::admit_check`]): an endpoint that died is opened
//! before a user reaches it, and an Open one is probed by the check once its
//! cooldown is over, so it closes again without user traffic.
//!
//! Bounds: one task per account, which sends its checks one after the other
//! (never two at once to an endpoint), each within the check's `timeout`; the
//! first check comes at a random point of the first interval and the next
//! ones an interval (give or take a tenth, at random) after the previous
//! round began, so a fleet's checks spread out rather than arrive together.
//!
//! [`spawn`] starts the supervisor, which keeps exactly the tasks the current
//! Runtime asks for: it wakes on every Runtime swap (`Shared::swaps`), stops
//! the tasks of accounts that are gone, disabled or no longer checked,
//! restarts those whose `health_check` changed, and aborts them all on
//! shutdown. Results ([`board`]) go to `/status` and
//! `switchyard_health_checks_total`.

pub mod request;
mod schedule;

#[cfg(test)]
mod tests;

pub use crate::health_board::{Board, CheckKey, CheckResult, LastCheck};

use crate::runtime::Runtime;
use crate::state::Shared;
use futures_util::future::BoxFuture;
use request::{Outcome, Target};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use switchyard_proto::model::{HealthCheck, HealthRequest};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Sends one check and judges its answer; the scheduler bounds it in time.
pub trait Prober: Send + Sync + 'static {
    fn probe<'a>(&'a self, target: Target<'a>) -> BoxFuture<'a, Outcome>;
}

/// The real one: HTTP to the provider ([`request::run`]).
struct Http;

impl Prober for Http {
    fn probe<'a>(&'a self, target: Target<'a>) -> BoxFuture<'a, Outcome> {
        Box::pin(request::run(target))
    }
}

/// A checked account: (provider, account) names.
type AccountId = (Arc<str>, Arc<str>);

/// Starts the supervisor; it ends, with every check, once `stop` is set.
pub fn spawn(shared: Arc<Shared>, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    spawn_with(shared, stop, Arc::new(Http))
}

/// [`spawn`] with another prober (tests script one).
pub fn spawn_with(shared: Arc<Shared>, stop: watch::Receiver<bool>, prober: Arc<dyn Prober>) -> JoinHandle<()> {
    tokio::spawn(supervise(shared, stop, prober))
}

async fn supervise(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, prober: Arc<dyn Prober>) {
    let mut swaps = shared.swaps.subscribe();
    let mut running: HashMap<AccountId, (HealthCheck, JoinHandle<()>)> = HashMap::new();
    loop {
        swaps.borrow_and_update();
        reconcile(&shared, &mut running, &prober);
        tokio::select! {
            _ = crate::state::stopped(&mut stop) => break,
            changed = swaps.changed() => if changed.is_err() { break },
        }
    }
    for (_, (_, task)) in running.drain() {
        task.abort();
        let _ = task.await;
    }
}

/// Starts, stops and restarts account tasks to match the current Runtime,
/// and forgets the results of what is no longer checked.
fn reconcile(
    shared: &Arc<Shared>,
    running: &mut HashMap<AccountId, (HealthCheck, JoinHandle<()>)>,
    prober: &Arc<dyn Prober>,
) {
    let rt = shared.runtime.load_full();
    let wanted = rt.as_deref().map(wanted).unwrap_or_default();
    running.retain(|id, (check, task)| {
        let keep = wanted.get(id) == Some(check) && !task.is_finished();
        if !keep {
            task.abort();
            tracing::debug!(provider = %id.0, account = %id.1, "health checks stopped");
        }
        keep
    });
    for (id, check) in &wanted {
        if !running.contains_key(id) {
            tracing::debug!(provider = %id.0, account = %id.1, request = check.request.as_str(), "health checks started");
            let task = tokio::spawn(schedule::account(shared.clone(), id.clone(), *check, prober.clone()));
            running.insert(id.clone(), (*check, task));
        }
    }
    let keys = rt.as_deref().map(|rt| checked_keys(rt, &wanted)).unwrap_or_default();
    shared.metrics.health_checks.retain(|k| keys.contains(k));
}

/// The accounts to check: enabled, of an enabled provider with a `health_check`.
fn wanted(rt: &Runtime) -> HashMap<AccountId, HealthCheck> {
    let mut out = HashMap::new();
    for p in rt.config.providers.iter().filter(|p| p.enabled) {
        let Some(check) = p.health_check else { continue };
        for a in p.accounts.iter().filter(|a| a.enabled) {
            out.insert((Arc::from(p.name.as_str()), Arc::from(a.name.as_str())), check);
        }
    }
    out
}

/// What the wanted checks report under: each account (`models`), or each of
/// its routed upstream models (`chat`).
fn checked_keys(rt: &Runtime, wanted: &HashMap<AccountId, HealthCheck>) -> HashSet<CheckKey> {
    let mut keys = HashSet::new();
    for ((provider, account), check) in wanted {
        match check.request {
            HealthRequest::Models => {
                keys.insert(CheckKey { provider: provider.clone(), account: account.clone(), model: None });
            }
            HealthRequest::Chat => {
                let routed =
                    rt.endpoints.iter().filter(|e| e.provider.name == *provider && e.account().name == *account);
                keys.extend(routed.map(|e| CheckKey {
                    provider: provider.clone(),
                    account: account.clone(),
                    model: Some(e.upstream_model.clone()),
                }));
            }
        }
    }
    keys
}
