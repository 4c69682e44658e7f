//! Switchyard's data plane (`switchyard-proxy`).

pub mod check;
