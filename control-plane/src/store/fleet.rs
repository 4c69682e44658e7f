//! The fleet as every replica sees it: the node registry (who is connected
//! where, what each node ACKed, its last NACK), the number of live nodes the
//! Runtime resource carries (each key's rpm/tpm is shared among them), and
//! key spend per budget period. All of it is runtime state: a change bumps
//! the Runtime revision, never the Config's.

use super::{Store, StoreError, now_ms};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};

/// One data plane as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    pub region: String,
    pub zone: String,
    pub labels: BTreeMap<String, String>,
    pub build_version: String,
    pub boot_id: String,
    pub connected: bool,
    /// Version and hex hash of the Config it ACKed last (0 and "" = none).
    pub config: (u64, String),
    pub runtime: (u64, String),
    pub last_nack: Option<NackRecord>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// When its latest telemetry heartbeat arrived (control-plane clock; 0 =
    /// never) and the requests then in flight. Heartbeats write these;
    /// [`Store::record_node`] leaves them alone.
    pub last_heartbeat_ms: i64,
    pub inflight_requests: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NackRecord {
    /// `config` or `runtime`.
    #[serde(rename = "type")]
    pub kind: String,
    pub error: String,
    pub at_ms: i64,
    /// The node ACKed this type since the NACK: it no longer refuses it
    /// (absent in records written before it existed).
    #[serde(default)]
    pub superseded: bool,
}

/// A live node (a `nodes` row), `$1` being the loss horizon: connected and
/// stamped by its replica since then, or a telemetry heartbeat since then.
pub(super) const LIVE_NODE: &str = "((connected = 1 AND last_seen_ms >= $1) OR last_heartbeat_ms >= $1)";

fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Inserts or updates a node (its first sighting is kept).
    pub async fn record_node(&self, n: &NodeRecord) -> Result<(), StoreError> {
        let labels = serde_json::to_string(&n.labels).map_err(|e| StoreError::Internal(e.to_string()))?;
        let nack = n
            .last_nack
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO nodes (id, region, zone, labels, build_version, first_seen_ms, last_seen_ms, boot_id, \
             connected, config_version, config_hash, runtime_version, runtime_hash, last_nack) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (id) DO UPDATE SET region = excluded.region, zone = excluded.zone, \
             labels = excluded.labels, build_version = excluded.build_version, last_seen_ms = excluded.last_seen_ms, \
             boot_id = excluded.boot_id, connected = excluded.connected, config_version = excluded.config_version, \
             config_hash = excluded.config_hash, runtime_version = excluded.runtime_version, \
             runtime_hash = excluded.runtime_hash, last_nack = excluded.last_nack",
        )
        .bind(n.id.clone())
        .bind(n.region.clone())
        .bind(n.zone.clone())
        .bind(labels)
        .bind(n.build_version.clone())
        .bind(n.first_seen_ms)
        .bind(n.last_seen_ms)
        .bind(n.boot_id.clone())
        .bind(i64::from(n.connected))
        .bind(version(n.config.0))
        .bind(n.config.1.clone())
        .bind(version(n.runtime.0))
        .bind(n.runtime.1.clone())
        .bind(nack)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every node ever seen, by id.
    pub async fn fleet(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, region, zone, labels, build_version, first_seen_ms, last_seen_ms, boot_id, connected, \
             config_version, config_hash, runtime_version, runtime_hash, last_nack, last_heartbeat_ms, \
             inflight_requests FROM nodes ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("nodes.{what}: {e}"));
        rows.iter()
            .map(|r| {
                let labels: String = r.try_get("labels")?;
                let nack: Option<String> = r.try_get("last_nack")?;
                let count = |c: &str| r.try_get::<i64, _>(c).map(|v| u64::try_from(v).unwrap_or(0));
                Ok(NodeRecord {
                    id: r.try_get("id")?,
                    region: r.try_get("region")?,
                    zone: r.try_get("zone")?,
                    labels: serde_json::from_str(&labels).map_err(|e| corrupt("labels", e))?,
                    build_version: r.try_get("build_version")?,
                    boot_id: r.try_get("boot_id")?,
                    connected: r.try_get::<i64, _>("connected")? != 0,
                    config: (count("config_version")?, r.try_get("config_hash")?),
                    runtime: (count("runtime_version")?, r.try_get("runtime_hash")?),
                    last_nack: nack
                        .map(|n| serde_json::from_str(&n))
                        .transpose()
                        .map_err(|e| corrupt("last_nack", e))?,
                    first_seen_ms: r.try_get("first_seen_ms")?,
                    last_seen_ms: r.try_get("last_seen_ms")?,
                    last_heartbeat_ms: r.try_get("last_heartbeat_ms")?,
                    inflight_requests: count("inflight_requests")?,
                })
            })
            .collect()
    }

    /// Counts the live nodes (connected, and seen within `lost_after_ms` by
    /// their replica; or with a telemetry heartbeat within it). When that
    /// differs from the count the Runtime carries, records it and bumps the
    /// Runtime revision. Returns (count, bumped).
    pub async fn sync_live_nodes(&self, lost_after_ms: i64) -> Result<(u32, bool), StoreError> {
        let since = now_ms().saturating_sub(lost_after_ms);
        let mut tx = self.pool().begin().await?;
        // The write lock first, as every writer takes it: a read-then-write
        // transaction on SQLite could not upgrade while another writer holds it.
        sqlx::query("UPDATE revision SET updated_at_ms = updated_at_ms WHERE id = 1").execute(&mut *tx).await?;
        let live: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM nodes WHERE {LIVE_NODE}")))
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
        // Re-checked under the row lock: two replicas noticing the same change bump once.
        let bumped =
            sqlx::query("UPDATE revision SET live_nodes = $1, runtime = runtime + 1 WHERE id = 1 AND live_nodes <> $1")
                .bind(live)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if bumped {
            self.notify(&mut tx).await?;
        }
        tx.commit().await?;
        Ok((u32::try_from(live).unwrap_or(u32::MAX), bumped))
    }

    /// The live-node count the current Runtime revision carries.
    pub async fn live_nodes(&self) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT live_nodes FROM revision WHERE id = 1").fetch_one(self.pool()).await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// Adds to a key's spend in the budget period starting at `period_start_ms`
    /// (0 for a budget that never resets), in the period's one currency (a
    /// different one is refused: amounts are never mixed). Returns the Runtime revision.
    pub async fn add_spend(
        &self,
        key: &str,
        period_start_ms: i64,
        currency: &str,
        micros: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let added = sqlx::query(
            "INSERT INTO spend (key_name, period_start_ms, currency, amount_micros) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key_name, period_start_ms) DO UPDATE SET amount_micros = spend.amount_micros + excluded.amount_micros \
             WHERE spend.currency = excluded.currency",
        )
        .bind(key.to_owned())
        .bind(period_start_ms)
        .bind(currency.to_owned())
        .bind(micros)
        .execute(&mut *tx)
        .await?;
        if added.rows_affected() == 0 {
            return Err(StoreError::Refused(format!(
                "key {key:?}: this period's spend is kept in another currency than {currency}"
            )));
        }
        let runtime: i64 =
            sqlx::query_scalar("UPDATE revision SET runtime = runtime + 1 WHERE id = 1 RETURNING runtime")
                .fetch_one(&mut *tx)
                .await?;
        self.notify(&mut tx).await?;
        tx.commit().await?;
        Ok(u64::try_from(runtime).unwrap_or(0))
    }

    /// Spend by (key, period start) for periods starting at or after
    /// `since_ms`, plus every never-resetting (period 0) total; amounts in
    /// another currency than the row's are the caller's to ignore.
    pub async fn spend(&self, since_ms: i64) -> Result<HashMap<(String, i64), (String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_name, period_start_ms, currency, amount_micros FROM spend \
             WHERE period_start_ms = 0 OR period_start_ms >= $1",
        )
        .bind(since_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    (r.try_get("key_name")?, r.try_get("period_start_ms")?),
                    (r.try_get("currency")?, r.try_get("amount_micros")?),
                ))
            })
            .collect()
    }
}
