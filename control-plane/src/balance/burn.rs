//! How fast accounts spend: the priced usage the store holds (the per-minute
//! rollups telemetry writes) over a window, as a rate per hour, and how long a
//! balance lasts at that rate. `syctl account balance show` and the Admin API
//! show it; time-to-empty alerts use it.

use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_proto::model::AccountRef;

/// The window `show` uses unless asked otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(6 * 3600);
/// The longest window accepted (usage older than `settings.usage.retention` is gone anyway).
pub const MAX_WINDOW: Duration = Duration::from_secs(90 * 86_400);

const HOUR_MS: i128 = 3_600_000;

/// What one account spent in one currency over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burn {
    pub currency: String,
    pub window: Duration,
    pub spent_micros: i64,
}

impl Burn {
    /// The average spend per hour over the window (micro-units, rounded down).
    pub fn per_hour_micros(&self) -> i64 {
        let window_ms = i128::try_from(self.window.as_millis()).unwrap_or(i128::MAX).max(1);
        i64::try_from(i128::from(self.spent_micros) * HOUR_MS / window_ms).unwrap_or(i64::MAX)
    }
}

/// Every account's spend over the `window` before `now_ms`, per currency
/// (sorted), by account; accounts that spent nothing priced are absent.
pub async fn burn_rates(
    store: &Store,
    window: Duration,
    now_ms: i64,
) -> Result<BTreeMap<AccountRef, Vec<Burn>>, StoreError> {
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    let mut out: BTreeMap<AccountRef, Vec<Burn>> = BTreeMap::new();
    for c in store.account_costs(now_ms.saturating_sub(window_ms)).await? {
        let account = AccountRef { provider: c.provider, account: c.account };
        out.entry(account).or_default().push(Burn { currency: c.currency, window, spent_micros: c.cost_micros });
    }
    Ok(out)
}

/// How long `balance_micros` of `currency` lasts at the account's burn in
/// that currency; `None` when nothing is being spent in it (or nothing is left).
pub fn time_to_empty(balance_micros: i64, currency: &str, burns: &[Burn]) -> Option<Duration> {
    let rate = burns.iter().find(|b| b.currency == currency)?;
    if balance_micros <= 0 || rate.spent_micros <= 0 {
        return None;
    }
    let window_ms = i128::try_from(rate.window.as_millis()).ok()?;
    let ms = i128::from(balance_micros) * window_ms / i128::from(rate.spent_micros);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(currency: &str, hours: u64, spent_micros: i64) -> Burn {
        Burn { currency: currency.into(), window: Duration::from_secs(hours * 3600), spent_micros }
    }

    #[test]
    fn the_rate_is_the_window_spend_per_hour() {
        assert_eq!(burn("USD", 6, 3_000_000).per_hour_micros(), 500_000);
        assert_eq!(burn("USD", 6, 1).per_hour_micros(), 0, "rounded down");
        assert_eq!(burn("USD", 0, 1).per_hour_micros(), 3_600_000, "an empty window counts as 1 ms");
    }

    #[test]
    fn time_to_empty_in_the_balance_currency() {
        let burns = [burn("CNY", 6, 60_000_000), burn("USD", 6, 3_000_000)];
        // 12 USD at 0.5 USD/h: 24 h.
        assert_eq!(time_to_empty(12_000_000, "USD", &burns), Some(Duration::from_secs(24 * 3600)));
        // 5 CNY at 10 CNY/h: 30 min.
        assert_eq!(time_to_empty(5_000_000, "CNY", &burns), Some(Duration::from_secs(1800)));
        assert_eq!(time_to_empty(5_000_000, "EUR", &burns), None, "not spent in that currency");
        assert_eq!(time_to_empty(0, "USD", &burns), None, "nothing left");
        assert_eq!(time_to_empty(5, "USD", &[burn("USD", 6, 0)]), None, "not being spent");
    }
}
