//! Runtime state, kept apart from the declarative config: balance amounts
//! (polled, or set by hand) and spend. Never in gateway.yaml, never touched
//! by apply; a change bumps the Runtime revision, never the Config's.

use super::{Store, StoreError};
use sqlx::Row;
use switchyard_proto::model::units::check_currency;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub provider: String,
    pub account: String,
    pub currency: String,
    pub amount_micros: i64,
    /// `manual` (set by hand, decremented by priced usage) or `polled`.
    pub source: String,
    /// The poller that read a polled balance (a `BalanceApi` name).
    pub poller: Option<String>,
    /// When it was set or polled (decrements by usage leave it alone).
    pub updated_at_ms: i64,
}

impl Store {
    /// Sets an account's balance; the account must exist. Returns the Runtime revision.
    pub async fn set_balance(&self, b: &Balance, actor: &str) -> Result<u64, StoreError> {
        check_currency(&b.currency).map_err(StoreError::Refused)?;
        let mut tx = self.pool().begin().await?;
        let runtime: i64 =
            sqlx::query_scalar("UPDATE revision SET runtime = runtime + 1 WHERE id = 1 RETURNING runtime")
                .fetch_one(&mut *tx)
                .await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM accounts WHERE provider = $1 AND name = $2")
            .bind(b.provider.clone())
            .bind(b.account.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::Refused(format!("no account {}/{}", b.provider, b.account)));
        }
        sqlx::query(
            "INSERT INTO balances (provider, account, currency, amount_micros, source, poller, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider, account) DO UPDATE SET \
             currency = excluded.currency, amount_micros = excluded.amount_micros, source = excluded.source, \
             poller = excluded.poller, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(b.provider.clone())
        .bind(b.account.clone())
        .bind(b.currency.clone())
        .bind(b.amount_micros)
        .bind(b.source.clone())
        .bind(b.poller.clone())
        .bind(b.updated_at_ms)
        .execute(&mut *tx)
        .await?;
        let after = serde_json::json!({"currency": b.currency, "amount_micros": b.amount_micros, "source": b.source});
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, object_kind, object_name, before, after, config_revision) \
             SELECT $1, $2, 'balance.set', 'balance', $3, NULL, $4, config FROM revision WHERE id = 1",
        )
        .bind(b.updated_at_ms)
        .bind(actor.to_owned())
        .bind(format!("{}/{}", b.provider, b.account))
        .bind(after.to_string())
        .execute(&mut *tx)
        .await?;
        self.notify(&mut tx).await?;
        tx.commit().await?;
        Ok(u64::try_from(runtime).unwrap_or(0))
    }

    pub async fn balances(&self) -> Result<Vec<Balance>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider, account, currency, amount_micros, source, poller, updated_at_ms FROM balances \
             ORDER BY provider, account",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Balance {
                    provider: r.try_get("provider")?,
                    account: r.try_get("account")?,
                    currency: r.try_get("currency")?,
                    amount_micros: r.try_get("amount_micros")?,
                    source: r.try_get("source")?,
                    poller: r.try_get("poller")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                })
            })
            .collect()
    }

    /// The Runtime revision.
    pub async fn runtime_revision(&self) -> Result<u64, StoreError> {
        let rev: i64 = sqlx::query_scalar("SELECT runtime FROM revision WHERE id = 1").fetch_one(self.pool()).await?;
        Ok(u64::try_from(rev).unwrap_or(0))
    }
}
