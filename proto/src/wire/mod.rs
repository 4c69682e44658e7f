//! Conversions between the `switchyard.v1` wire messages ([`crate::pb`]) and
//! the validated domain model ([`crate::model`]).
//!
//! * `From<&model::X> for pb::X` (and `From<model enum> for pb enum`): lossless
//!   and order-preserving. Durations become whole milliseconds (the model's
//!   resolution; a sub-millisecond part is dropped, a duration past `u64::MAX`
//!   ms saturates), secrets become [`pb::SecretValue`].
//! * `TryFrom<pb::Config> for model::Config` and `TryFrom<pb::Runtime> for
//!   model::RuntimeState`: every field-level problem is collected (not only the
//!   first) under the path `gateway.yaml` would use (`providers[1].accounts[0].api_key`),
//!   then the whole config goes through [`model::Config::validate`] and
//!   [`model::Config::require_secrets`], exactly as a document does.
//!
//! Wire rules the model cannot express on its own:
//! * a missing required message (`settings`, `settings.timeout`, an account's
//!   `api_key`, ...) is [`Problem::Missing`]; a provider's `timeout` overrides
//!   may be absent (nothing overridden);
//! * an enum's `UNSPECIFIED` value is an error, except `stream_usage` and
//!   `on_disconnect` (the default) and `balance_api` (inferred from the base URL);
//!   a number the enum does not know is always an error;
//! * `key_sha256` must be exactly 32 bytes; `settings.retry.on` is sorted and
//!   deduplicated.

mod config;
mod enums;
pub mod objects;
mod runtime;
mod settings;

use crate::model::{ConfigError, ConfigErrors, Problem, Secret};
use crate::pb;
use std::time::Duration;

/// Collects every error of one conversion, in message order.
#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    /// Records a missing required field; returns `None` to feed `?` later.
    fn missing<T>(&mut self, path: impl Into<String>) -> Option<T> {
        self.0.push(ConfigError::new(path, Problem::Missing));
        None
    }

    /// Records an invalid field; returns `None` to feed `?` later.
    fn invalid<T>(&mut self, path: impl Into<String>, message: impl Into<String>) -> Option<T> {
        self.0.push(ConfigError::invalid(path, message));
        None
    }

    /// `value`, or a [`Problem::Missing`] at `path` when it is absent.
    fn require<T>(&mut self, path: impl FnOnce() -> String, value: Option<T>) -> Option<T> {
        match value {
            Some(v) => Some(v),
            None => self.missing(path()),
        }
    }

    /// The converted value, or every error recorded.
    fn finish<T>(self, value: Option<T>) -> Result<T, ConfigErrors> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            // A `None` always comes with an error; the fallback only guards that invariant.
            _ if self.0.is_empty() => Err(ConfigErrors::single(ConfigError::invalid("", "conversion failed"))),
            _ => Err(ConfigErrors(self.0)),
        }
    }
}

/// Converts every item (so each reports its errors), then keeps them all or nothing.
fn convert_all<T, U>(items: Vec<T>, mut convert: impl FnMut(usize, T) -> Option<U>) -> Option<Vec<U>> {
    let converted: Vec<Option<U>> = items.into_iter().enumerate().map(|(i, item)| convert(i, item)).collect();
    converted.into_iter().collect()
}

/// Whole milliseconds, saturating at `u64::MAX`.
fn to_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Every `u64` of milliseconds fits a [`Duration`]; ranges are checked by `validate`.
fn from_ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

impl From<&Secret> for pb::SecretValue {
    fn from(secret: &Secret) -> Self {
        Self { value: secret.expose().to_owned() }
    }
}

fn secret(secret: pb::SecretValue) -> Secret {
    Secret::new(secret.value)
}
