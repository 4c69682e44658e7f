//! The Runtime overlay: drained accounts, per-key runtime state and discovered models.
//!
//! Names are not checked against a Config here (the two resources travel
//! apart); only what is wrong on its own is refused: empty names, `nodes == 0`.
//! A drained account listed twice is kept once.

use super::Errors;
use crate::model::{AccountRef, ConfigErrors, KeyRuntime, RuntimeState};
use crate::pb;

impl From<&RuntimeState> for pb::Runtime {
    fn from(state: &RuntimeState) -> Self {
        Self {
            drained_accounts: state.drained_accounts.iter().map(Into::into).collect(),
            keys: state.keys.iter().map(|(name, key)| (name.clone(), (*key).into())).collect(),
            discovered_models: state
                .discovered_models
                .iter()
                .map(|(provider, models)| {
                    (provider.clone(), pb::ModelList { models: models.iter().cloned().collect() })
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::Runtime> for RuntimeState {
    type Error = ConfigErrors;

    fn try_from(runtime: pb::Runtime) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let mut state = RuntimeState::default();
        for (i, a) in runtime.drained_accounts.into_iter().enumerate() {
            let path = format!("drained_accounts[{i}]");
            if a.provider.is_empty() {
                errors.invalid::<()>(format!("{path}.provider"), "must not be empty");
            }
            if a.account.is_empty() {
                errors.invalid::<()>(format!("{path}.account"), "must not be empty");
            }
            state.drained_accounts.insert(AccountRef { provider: a.provider, account: a.account });
        }
        for (name, key) in runtime.keys {
            if name.is_empty() {
                errors.invalid::<()>("keys", "a key name must not be empty");
            }
            if key.nodes == 0 {
                errors.invalid::<()>(format!("keys.{name}.nodes"), "must be at least 1");
            }
            state
                .keys
                .insert(name, KeyRuntime { remaining_budget_micros: key.remaining_budget_micros, nodes: key.nodes });
        }
        for (provider, list) in runtime.discovered_models {
            if provider.is_empty() {
                errors.invalid::<()>("discovered_models", "a provider name must not be empty");
            }
            if list.models.iter().any(String::is_empty) {
                errors.invalid::<()>(format!("discovered_models.{provider}"), "a model name must not be empty");
            }
            state.discovered_models.insert(provider, list.models.into_iter().collect());
        }
        errors.finish(Some(state))
    }
}

impl From<&AccountRef> for pb::AccountRef {
    fn from(a: &AccountRef) -> Self {
        Self { provider: a.provider.clone(), account: a.account.clone() }
    }
}

impl From<KeyRuntime> for pb::KeyRuntime {
    fn from(k: KeyRuntime) -> Self {
        Self { remaining_budget_micros: k.remaining_budget_micros, nodes: k.nodes }
    }
}
