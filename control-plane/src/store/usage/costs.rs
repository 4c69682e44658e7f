//! What accounts spent: priced usage summed per (provider, account, currency)
//! from the per-minute rollups (the burn rate of a balance).

use super::*;

/// One account's priced usage in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCost {
    pub provider: String,
    pub account: String,
    pub currency: String,
    pub cost_micros: i64,
}

impl Store {
    /// Priced usage since `since_ms` (the rollups' whole minutes from the
    /// first one starting at or after it), sorted by provider, account and
    /// currency; unpriced usage is left out.
    pub async fn account_costs(&self, since_ms: i64) -> Result<Vec<AccountCost>, StoreError> {
        let first_minute = minute_of(since_ms.saturating_add(MINUTE_MS - 1));
        let rows = sqlx::query(
            "SELECT provider, account, currency, CAST(SUM(cost_micros) AS BIGINT) AS cost FROM usage_minutes \
             WHERE minute_ms >= $1 AND currency <> '' GROUP BY provider, account, currency \
             ORDER BY provider, account, currency",
        )
        .bind(first_minute)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountCost {
                    provider: r.try_get("provider")?,
                    account: r.try_get("account")?,
                    currency: r.try_get("currency")?,
                    cost_micros: r.try_get("cost")?,
                })
            })
            .collect()
    }
}
