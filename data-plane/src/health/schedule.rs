//! One account's checks, round after round until its task is aborted: when
//! each round is due, what it asks, and what the breakers learn from it.

use super::request::{Ask, Outcome, Target, Verdict};
use super::{AccountId, Prober};
use crate::health_board::{CheckKey, CheckResult, LastCheck};
use crate::runtime::{Endpoint, Runtime};
use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::{HealthCheck, HealthRequest};
use tokio::time::Instant;

/// The first round: at a random point of the first interval.
pub(super) fn first_delay(interval: Duration) -> Duration {
    interval.mul_f64(fastrand::f64())
}

/// Between two rounds' starts: the interval, give or take a tenth.
pub(super) fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * fastrand::f64())
}

/// Checks `id` every `check.interval` until aborted (or until the account is gone).
pub(super) async fn account(shared: Arc<Shared>, id: AccountId, check: HealthCheck, prober: Arc<dyn Prober>) {
    let mut due = Instant::now() + first_delay(check.interval);
    loop {
        tokio::time::sleep_until(due).await;
        let started = Instant::now();
        let Some(rt) = shared.runtime.load_full() else {
            due = started + jittered(check.interval);
            continue;
        };
        if !round(&shared, &rt, &id, &check, prober.as_ref()).await {
            return;
        }
        // A round longer than the interval (many models, slow answers) is followed at once, never overlapped.
        due = (started + jittered(check.interval)).max(Instant::now());
    }
}

/// One round: every question for the account, one after the other. `false`
/// when the account is no longer in the Runtime.
async fn round(shared: &Shared, rt: &Runtime, id: &AccountId, check: &HealthCheck, prober: &dyn Prober) -> bool {
    let Some(provider) = rt.provider(&id.0) else { return false };
    let Some(index) = provider.accounts.iter().position(|a| a.name == id.1) else { return false };
    let account = &provider.accounts[index];
    let endpoints: Vec<&Arc<Endpoint>> =
        rt.endpoints.iter().filter(|e| e.provider.name == provider.name && e.account == index).collect();
    let asks: Vec<Ask<'_>> = match check.request {
        HealthRequest::Models => vec![Ask::Models],
        HealthRequest::Chat => {
            let mut models: Vec<&str> = endpoints.iter().map(|e| &*e.upstream_model).collect();
            models.sort_unstable();
            models.dedup();
            models.into_iter().map(Ask::Chat).collect()
        }
    };
    for ask in asks {
        let group: Vec<&Arc<Endpoint>> = match ask {
            Ask::Models => endpoints.clone(),
            Ask::Chat(model) => endpoints.iter().copied().filter(|e| &*e.upstream_model == model).collect(),
        };
        // Drained (balance at zero) or disabled: out of rotation, nothing to learn.
        if !group.is_empty() && !group.iter().any(|e| e.enabled()) {
            continue;
        }
        let target = Target { provider, account, ask };
        one(shared, rt, id, check, prober, target, &group).await;
    }
    true
}

/// One check: permits first (so a transition meanwhile voids what it would teach), then the request.
async fn one(
    shared: &Shared,
    rt: &Runtime,
    id: &AccountId,
    check: &HealthCheck,
    prober: &dyn Prober,
    target: Target<'_>,
    group: &[&Arc<Endpoint>],
) {
    let permits: Vec<_> = group.iter().filter(|e| e.enabled()).filter_map(|e| e.breaker.admit_check()).collect();
    let sent = Instant::now();
    let outcome =
        tokio::time::timeout(check.timeout, prober.probe(target)).await.unwrap_or_else(|_| Outcome::timed_out());
    let latency = sent.elapsed();
    let policy = &rt.config.settings.breaker;
    for permit in permits {
        match outcome.verdict {
            Verdict::Healthy => permit.success(),
            Verdict::Failed(failure) => permit.failure(failure, policy),
            Verdict::Neutral => permit.neutral(),
        }
    }
    let model = match target.ask {
        Ask::Models => None,
        Ask::Chat(model) => Some(Arc::from(model)),
    };
    let key = CheckKey { provider: id.0.clone(), account: id.1.clone(), model };
    let board = &shared.metrics.health_checks;
    let before = board.result_of(&key);
    if before != Some(outcome.result) {
        let (provider, account, model) = (&*key.provider, &*key.account, key.model.as_deref());
        let reason = outcome.reason.as_deref();
        match outcome.result {
            CheckResult::Ok => tracing::info!(provider, account, model, "health check passed"),
            result => tracing::warn!(provider, account, model, result = result.as_str(), reason, "health check failed"),
        }
    }
    let last = LastCheck {
        request: target.ask.request(),
        result: outcome.result,
        reason: outcome.reason,
        latency,
        at: Instant::now(),
        at_unix_ms: crate::wall::unix_ms(),
    };
    board.record(key, last);
}
