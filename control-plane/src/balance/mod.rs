//! Balances: the control plane reads what accounts have left from their
//! providers and keeps it as runtime state.
//!
//! Flow: `Config (which accounts, which poller, the interval) -> schedule
//! (balance_polls rows shared by the replicas, a lease per poll) -> poll (one
//! module per provider's documented balance API) -> store (the balance, source
//! polled; the schedule's next due time, failures, last error) -> snapshot (an
//! account at or below zero is drained: the Runtime revision moves and data
//! planes stop sending to it)`. [`burn`] turns stored priced usage into a rate
//! and a time to empty.

mod amount;
pub mod burn;
pub mod poll;
mod schedule;
mod timing;

pub use schedule::{Polled, Tuning};

use crate::snapshot::Publisher;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// This process's replica id (it holds balance poll leases under it): the
/// host name (a Kubernetes pod's name) and a random suffix, new every start.
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty() && h.len() <= 64);
    format!("{}-{:016x}", host.as_deref().unwrap_or("cp"), fastrand::u64(..))
}

/// Starts the poll scheduler (see [`schedule`]); it ends when `stop` turns true.
pub fn spawn(
    store: Arc<Store>,
    publisher: Arc<Publisher>,
    tuning: Tuning,
    replica: Arc<str>,
    polled: Polled,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(schedule::Scheduler { store, publisher, replica, tuning, polled }.run(stop))
}
