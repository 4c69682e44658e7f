//! Generated `switchyard.v1` messages and services.

#![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]

tonic::include_proto!("switchyard.v1");

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}
