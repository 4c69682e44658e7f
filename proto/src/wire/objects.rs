//! One object at a time, for the Admin service's imperative CRUD: the same
//! field conversions `TryFrom<pb::Config>` applies, with every error under
//! `path` (e.g. `provider.accounts[0].api_key`). Only the fields are checked
//! here; the whole config is validated where the object is written (so
//! references and duplicates are judged against everything else).

use super::{Errors, config, settings as wire_settings};
use crate::model::{Account, ClientKey, ConfigErrors, Provider, Route, Settings};
use crate::pb;

/// A provider (with its accounts), errors under `path`.
pub fn provider(message: pb::Provider, path: &str) -> Result<Provider, ConfigErrors> {
    let mut errors = Errors::default();
    let converted = config::provider(&mut errors, path, message);
    errors.finish(converted)
}

/// One account, errors under `path`.
pub fn account(message: pb::Account, path: &str) -> Result<Account, ConfigErrors> {
    let mut errors = Errors::default();
    let converted = config::account(&mut errors, path, message);
    errors.finish(converted)
}

/// A model route, errors under `path`.
pub fn route(message: pb::Route, path: &str) -> Result<Route, ConfigErrors> {
    let mut errors = Errors::default();
    let converted = config::route(&mut errors, path, message);
    errors.finish(converted)
}

/// A client key (`key_sha256` must be 32 bytes), errors under `path`.
pub fn key(message: pb::ClientKey, path: &str) -> Result<ClientKey, ConfigErrors> {
    let mut errors = Errors::default();
    let converted = config::key(&mut errors, path, message);
    errors.finish(converted)
}

/// Settings; errors are under `settings.` as in a whole config.
pub fn settings(message: pb::Settings) -> Result<Settings, ConfigErrors> {
    let mut errors = Errors::default();
    let converted = wire_settings::settings(&mut errors, message);
    errors.finish(converted)
}
