//! Balances as the Admin API shows them: every account of the published
//! Config with its recorded balance (set by hand or polled, and by which
//! poller, when), its policy, its row in the shared poll schedule, its burn
//! rate over a window and the time to empty at that rate; and, for
//! `FleetStatus`, the accounts drained by their balance and why.

use super::AdminService;
use crate::balance::burn::{self, Burn, DEFAULT_WINDOW, MAX_WINDOW};
use crate::error::invalid;
use crate::store::{Balance, PollRow, now_ms};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use switchyard_proto::model::{Account, AccountRef, Provider};
use switchyard_proto::pb;
use tonic::Status;

type Key = (String, String);

fn key(p: &Provider, a: &Account) -> Key {
    (p.name.clone(), a.name.clone())
}

fn poll(row: &PollRow) -> pb::BalancePoll {
    pb::BalancePoll {
        poller: row.poller.clone(),
        next_due_ms: row.next_due_ms,
        last_attempt_ms: row.last_attempt_ms.unwrap_or(0),
        last_ok_ms: row.last_ok_ms.unwrap_or(0),
        failures: u64::try_from(row.failures).unwrap_or(0),
        last_error: row.last_error.clone().unwrap_or_default(),
        lease_owner: row.lease_owner.clone().unwrap_or_default(),
    }
}

/// One account's entry; `burns` and `window` only for the balance list.
fn entry(
    p: &Provider,
    a: &Account,
    balance: Option<&Balance>,
    row: Option<&PollRow>,
    burns: &[Burn],
    window: Option<Duration>,
) -> pb::AccountBalance {
    let api = p.effective_balance_api();
    let mut e = pb::AccountBalance {
        provider: p.name.clone(),
        account: a.name.clone(),
        policy_currency: a.balance.as_ref().map(|b| b.currency.clone()).unwrap_or_default(),
        alert_below_micros: a.balance.as_ref().and_then(|b| b.alert_below_micros),
        balance_api: pb::BalanceApi::from(Some(api)).into(),
        poll: row.map(poll),
        window_ms: window.map_or(0, |w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
        burn: burns
            .iter()
            .map(|b| pb::BurnRate {
                currency: b.currency.clone(),
                spent_micros: b.spent_micros,
                per_hour_micros: b.per_hour_micros(),
            })
            .collect(),
        enabled: p.enabled && a.enabled,
        ..Default::default()
    };
    if let Some(b) = balance {
        e.known = true;
        e.currency = b.currency.clone();
        e.amount_micros = b.amount_micros;
        e.source = b.source.clone();
        e.poller = b.poller.clone().unwrap_or_default();
        e.updated_at_ms = b.updated_at_ms;
        e.drained = b.amount_micros <= 0;
        e.time_to_empty_ms = burn::time_to_empty(b.amount_micros, &b.currency, burns)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }
    e
}

pub async fn list(svc: &AdminService, q: pb::BalanceQuery) -> Result<pb::BalanceList, Status> {
    if !q.account.is_empty() && q.provider.is_empty() {
        return Err(invalid("account", "needs provider"));
    }
    let window = match q.window_ms {
        0 => DEFAULT_WINDOW,
        ms => Duration::from_millis(ms),
    };
    if window > MAX_WINDOW {
        return Err(invalid("window_ms", "at most 90 days"));
    }
    let snapshot = svc.publisher.current();
    let config = snapshot.model();
    let providers: Vec<&Provider> =
        config.providers.iter().filter(|p| q.provider.is_empty() || p.name == q.provider).collect();
    if providers.is_empty() && !q.provider.is_empty() {
        return Err(Status::not_found(format!("provider {:?} does not exist", q.provider)));
    }
    let accounts: Vec<(&Provider, &Account)> = providers
        .iter()
        .flat_map(|p| p.accounts.iter().map(move |a| (*p, a)))
        .filter(|(_, a)| q.account.is_empty() || a.name == q.account)
        .collect();
    if accounts.is_empty() && !q.account.is_empty() {
        return Err(Status::not_found(format!("account \"{}/{}\" does not exist", q.provider, q.account)));
    }
    let balances: HashMap<Key, Balance> = svc
        .store
        .balances()
        .await
        .map_err(super::status)?
        .into_iter()
        .map(|b| ((b.provider.clone(), b.account.clone()), b))
        .collect();
    let rows: HashMap<Key, PollRow> = svc
        .store
        .poll_rows()
        .await
        .map_err(super::status)?
        .into_iter()
        .map(|r| ((r.provider.clone(), r.account.clone()), r))
        .collect();
    let burns: BTreeMap<AccountRef, Vec<Burn>> =
        burn::burn_rates(&svc.store, window, now_ms()).await.map_err(super::status)?;
    let mut balances: Vec<pb::AccountBalance> = accounts
        .into_iter()
        .map(|(p, a)| {
            let k = key(p, a);
            let spent =
                burns.get(&AccountRef { provider: k.0.clone(), account: k.1.clone() }).map_or(&[][..], Vec::as_slice);
            entry(p, a, balances.get(&k), rows.get(&k), spent, Some(window))
        })
        .collect();
    balances.sort_by(|x, y| (&x.provider, &x.account).cmp(&(&y.provider, &y.account)));
    Ok(pb::BalanceList { balances })
}

/// The Config's accounts whose balance is at or below zero, by provider and account.
pub async fn drained(svc: &AdminService) -> Result<Vec<pb::AccountBalance>, Status> {
    let snapshot = svc.publisher.current();
    let config = snapshot.model();
    let balances: HashMap<Key, Balance> = svc
        .store
        .balances()
        .await
        .map_err(super::status)?
        .into_iter()
        .filter(|b| b.amount_micros <= 0)
        .map(|b| ((b.provider.clone(), b.account.clone()), b))
        .collect();
    if balances.is_empty() {
        return Ok(Vec::new());
    }
    let rows: HashMap<Key, PollRow> = svc
        .store
        .poll_rows()
        .await
        .map_err(super::status)?
        .into_iter()
        .map(|r| ((r.provider.clone(), r.account.clone()), r))
        .collect();
    let mut out = Vec::new();
    for p in &config.providers {
        for a in &p.accounts {
            let k = key(p, a);
            if let Some(b) = balances.get(&k) {
                out.push(entry(p, a, Some(b), rows.get(&k), &[], None));
            }
        }
    }
    out.sort_by(|x, y| (&x.provider, &x.account).cmp(&(&y.provider, &y.account)));
    Ok(out)
}
