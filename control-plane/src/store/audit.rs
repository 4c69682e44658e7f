//! Reading the audit log, and recording the changes that are not Config
//! writes (credentials): who did what to which object, when. Config writes
//! are audited by [`Store::write`] itself, in their own transaction.

use super::{Store, StoreError, now_ms};
use sqlx::{AnyConnection, Row};

/// The most entries one query returns.
pub const AUDIT_MAX: u32 = 1000;
/// Entries returned when the query names no limit.
pub const AUDIT_DEFAULT: u32 = 100;

/// One audit log entry; `before`/`after` are JSON with secrets masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    /// `provider`, `route`, `key`, `settings`, `balance`, `node_token`, `admin_token`, ...
    pub object_kind: String,
    /// For accounts and balances `provider/account`.
    pub object_name: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub config_revision: u64,
}

/// Appends one entry stamped now, at the current Config revision.
pub(super) async fn record(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    kind: &str,
    name: &str,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at_ms, actor, action, object_kind, object_name, before, after, config_revision) \
         SELECT $1, $2, $3, $4, $5, NULL, $6, config FROM revision WHERE id = 1",
    )
    .bind(now_ms())
    .bind(actor.to_owned())
    .bind(action.to_owned())
    .bind(kind.to_owned())
    .bind(name.to_owned())
    .bind(after.map(|v| v.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Entries at or after `since_ms`, newest first; `limit` 0 means
    /// [`AUDIT_DEFAULT`], and at most [`AUDIT_MAX`] are returned.
    pub async fn audit_log(&self, since_ms: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = if limit == 0 { AUDIT_DEFAULT } else { limit.min(AUDIT_MAX) };
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, object_kind, object_name, before, after, config_revision FROM audit_log \
             WHERE at_ms >= $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object_kind: r.try_get("object_kind")?,
                    object_name: r.try_get("object_name")?,
                    before: r.try_get("before")?,
                    after: r.try_get("after")?,
                    config_revision: u64::try_from(r.try_get::<i64, _>("config_revision")?).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Records a change that is not a Config write (a credential created or
    /// revoked): `after` must hold no secret.
    pub async fn audit_event(
        &self,
        actor: &str,
        action: &str,
        kind: &str,
        name: &str,
        after: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        record(&mut conn, actor, action, kind, name, after).await
    }
}
