//! Switchyard's shared vocabulary: the `switchyard.v1` wire protocol ([`pb`]),
//! the validated domain model both planes use ([`model`]), and the
//! `gateway.yaml` document that describes a model ([`document`]).
//!
//! Raw wire types stop at the transport edge: they become [`model`] types
//! through `TryFrom`, which validates them exactly as a `gateway.yaml` is.

pub mod canonical;
pub mod cleartext;
pub mod document;
#[cfg(feature = "listen")]
pub mod listen;
pub mod model;
pub mod ops_token;
pub mod packed;
pub mod pb;
pub mod pem;
pub mod wire;
