//! Model discovery's tables (migration 0007): per provider, the models its
//! list endpoint named when last read, when that was, and why the last try
//! failed. A changed list bumps the Runtime revision (data planes list the
//! models for `allow_direct` keys); a failed read keeps the last good list.
//!
//! Replicas share the schedule: [`Store::claim_discovery`] takes a due
//! provider with one conditional `UPDATE`, so only one replica reads it.

use super::{Store, StoreError};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Rows per multi-row `INSERT` (two binds each, well under every backend's limit).
const INSERT_CHUNK: usize = 200;

/// What is known of one provider's list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderModels {
    pub models: BTreeSet<String>,
    /// The last successful read (ms since the epoch; 0 = never).
    pub fetched_at_ms: i64,
    /// The last attempt (0 = never).
    pub checked_at_ms: i64,
    /// The last attempt's failure, never a secret; `None` when it worked.
    pub error: Option<String>,
}

impl Store {
    /// Takes `provider`'s discovery if its last attempt is at least
    /// `interval_ms` old (or it never ran): true when this caller should read
    /// the list now. The attempt's time is written at once, so another
    /// replica asking in the meantime is refused.
    pub async fn claim_discovery(&self, provider: &str, now_ms: i64, interval_ms: i64) -> Result<bool, StoreError> {
        sqlx::query(
            "INSERT INTO model_discovery (provider, checked_at_ms) VALUES ($1, 0) ON CONFLICT (provider) DO NOTHING",
        )
        .bind(provider.to_owned())
        .execute(self.pool())
        .await?;
        let claimed =
            sqlx::query("UPDATE model_discovery SET checked_at_ms = $1 WHERE provider = $2 AND checked_at_ms <= $3")
                .bind(now_ms)
                .bind(provider.to_owned())
                .bind(now_ms.saturating_sub(interval_ms))
                .execute(self.pool())
                .await?
                .rows_affected();
        Ok(claimed > 0)
    }

    /// Stores what a read of `provider`'s list found: the list (replacing the
    /// old one; the Runtime revision moves when it changed) or why it failed
    /// (the old list stays). Returns whether the list changed.
    pub async fn record_models(
        &self,
        provider: &str,
        found: Result<&BTreeSet<String>, &str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The write lock first, as every writer takes it (SQLite cannot upgrade a reader).
        sqlx::query("UPDATE revision SET updated_at_ms = updated_at_ms WHERE id = 1").execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO model_discovery (provider, checked_at_ms) VALUES ($1, $2) ON CONFLICT (provider) DO NOTHING",
        )
        .bind(provider.to_owned())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let models = match found {
            Err(error) => {
                sqlx::query("UPDATE model_discovery SET checked_at_ms = $1, error = $2 WHERE provider = $3")
                    .bind(now_ms)
                    .bind(error.to_owned())
                    .bind(provider.to_owned())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(false);
            }
            Ok(models) => models,
        };
        sqlx::query(
            "UPDATE model_discovery SET checked_at_ms = $1, fetched_at_ms = $1, error = NULL WHERE provider = $2",
        )
        .bind(now_ms)
        .bind(provider.to_owned())
        .execute(&mut *tx)
        .await?;
        let old: BTreeSet<String> = sqlx::query_scalar("SELECT model FROM discovered_models WHERE provider = $1")
            .bind(provider.to_owned())
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let changed = old != *models;
        if changed {
            sqlx::query("DELETE FROM discovered_models WHERE provider = $1")
                .bind(provider.to_owned())
                .execute(&mut *tx)
                .await?;
            let all: Vec<&String> = models.iter().collect();
            for chunk in all.chunks(INSERT_CHUNK) {
                let rows: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
                let sql = format!("INSERT INTO discovered_models (provider, model) VALUES {}", rows.join(", "));
                let mut insert = sqlx::query(AssertSqlSafe(sql));
                for model in chunk {
                    insert = insert.bind(provider.to_owned()).bind((*model).clone());
                }
                insert.execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE revision SET runtime = runtime + 1 WHERE id = 1").execute(&mut *tx).await?;
            self.notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Forgets the providers not in `keep` (deleted ones). Returns whether a
    /// list was dropped (the Runtime revision then moved).
    pub async fn prune_discovery(&self, keep: &BTreeSet<String>) -> Result<bool, StoreError> {
        let known: Vec<String> =
            sqlx::query_scalar("SELECT provider FROM model_discovery").fetch_all(self.pool()).await?;
        let gone: Vec<String> = known.into_iter().filter(|p| !keep.contains(p)).collect();
        if gone.is_empty() {
            return Ok(false);
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE revision SET updated_at_ms = updated_at_ms WHERE id = 1").execute(&mut *tx).await?;
        let mut dropped = 0;
        for provider in &gone {
            sqlx::query("DELETE FROM model_discovery WHERE provider = $1")
                .bind(provider.clone())
                .execute(&mut *tx)
                .await?;
            dropped += sqlx::query("DELETE FROM discovered_models WHERE provider = $1")
                .bind(provider.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if dropped > 0 {
            sqlx::query("UPDATE revision SET runtime = runtime + 1 WHERE id = 1").execute(&mut *tx).await?;
            self.notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(dropped > 0)
    }

    /// Every provider's discovered models.
    pub async fn discovered_models(&self) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        let rows = sqlx::query("SELECT provider, model FROM discovered_models").fetch_all(self.pool()).await?;
        let mut all: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in rows {
            all.entry(row.try_get("provider")?).or_default().insert(row.try_get("model")?);
        }
        Ok(all)
    }

    /// One provider's list and discovery state (empty if never tried).
    pub async fn provider_models(&self, provider: &str) -> Result<ProviderModels, StoreError> {
        let mut found = ProviderModels::default();
        let state = sqlx::query("SELECT checked_at_ms, fetched_at_ms, error FROM model_discovery WHERE provider = $1")
            .bind(provider.to_owned())
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = state {
            found.checked_at_ms = row.try_get("checked_at_ms")?;
            found.fetched_at_ms = row.try_get("fetched_at_ms")?;
            found.error = row.try_get("error")?;
        }
        found.models = sqlx::query_scalar("SELECT model FROM discovered_models WHERE provider = $1")
            .bind(provider.to_owned())
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .collect();
        Ok(found)
    }
}
