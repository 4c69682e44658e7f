//! Switchyard's control plane (`switchyard-control`): the store of
//! providers, accounts, routes and keys ([`store`]), its secrets box
//! ([`crypto`]), and the process around them ([`ControlPlane`]).
//!
//! Config flow: `store (writes validated in one transaction, revision bumped)
//! -> snapshot (the Config at a revision, with its content hash)`; the
//! distribution stream to data planes and the Admin service build on it.
//!
//! Telemetry flow: `data plane batch -> telemetry (auth, validate, price)
//! -> store (one transaction: batch key, usage events, rollups, health,
//! spend, balances) -> ack`; spend moves the Runtime the snapshot carries.
//!
//! Alert flow: `store (balances, breakers, nodes) -> alert (conditions,
//! deduplicated state, one replica at a time) -> channels`.

pub mod admin;
pub mod alert;
pub mod auth;
pub mod balance;
pub mod catalog;
pub mod crypto;
pub mod discovery;
mod error;
mod http;
pub mod nodes;
mod outbound;
pub mod snapshot;
mod start;
pub mod store;
pub mod telemetry;
mod tls;

pub use start::{ConnectionOptions, ControlPlane, Handle, Options, StartError};
pub use tls::{TlsError, TlsFiles};
