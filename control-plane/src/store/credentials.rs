//! Admin-service views and guarded changes of admin and node tokens: list
//! them (never their hashes), create an admin token without replacing an
//! active one, and revoke one without locking every admin out. Every change
//! is audited; a token itself is never stored, logged or audited.

use super::audit;
use super::tokens::{check, digest};
use super::{Role, Store, StoreError, now_ms};
use sqlx::Row;

/// One admin or node token as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    /// The node id a node token is bound to ([`super::ANY_NODE`] for the
    /// bootstrap token); the role of an admin token.
    pub subject: String,
    pub created_at_ms: i64,
    pub last_used_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

fn records(rows: &[sqlx::any::AnyRow], subject: &str) -> Result<Vec<TokenRecord>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(TokenRecord {
                name: r.try_get("name")?,
                subject: r.try_get(subject)?,
                created_at_ms: r.try_get("created_at_ms")?,
                last_used_ms: r.try_get("last_used_ms")?,
                revoked_at_ms: r.try_get("revoked_at_ms")?,
            })
        })
        .collect()
}

impl Store {
    /// Every admin token, revoked ones included, by name.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, created_at_ms, last_used_ms, revoked_at_ms FROM admin_tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        records(&rows, "role")
    }

    /// Every node token, revoked ones included, by name.
    pub async fn node_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, node_id, created_at_ms, last_used_ms, revoked_at_ms FROM node_tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        records(&rows, "node_id")
    }

    /// Creates the admin token `name`; refused ([`StoreError::Exists`]) while
    /// an active token has that name (a revoked one is replaced).
    pub async fn create_admin_token(&self, actor: &str, name: &str, role: Role, token: &str) -> Result<(), StoreError> {
        check(token)?;
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "INSERT INTO admin_tokens (name, role, token_sha256, created_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256, \
             created_at_ms = excluded.created_at_ms, last_used_ms = NULL, revoked_at_ms = NULL \
             WHERE admin_tokens.revoked_at_ms IS NOT NULL",
        )
        .bind(name.to_owned())
        .bind(role.as_str().to_owned())
        .bind(digest(token))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Exists(format!("admin token {name:?} exists; revoke it first to replace it")));
        }
        let after = serde_json::json!({"role": role.as_str()});
        audit::record(&mut tx, actor, "admin_token.create", "admin_token", name, Some(after)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes the active admin token `name`: [`StoreError::NotFound`] when
    /// none has that name, [`StoreError::Refused`] when it is the last active
    /// token with role admin (nobody could change anything any more).
    pub async fn revoke_admin_token_guarded(&self, actor: &str, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        // The store's write lock: two admins revoking each other's last tokens at once queue here.
        sqlx::query("UPDATE revision SET updated_at_ms = updated_at_ms WHERE id = 1").execute(&mut *tx).await?;
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM admin_tokens WHERE name = $1 AND revoked_at_ms IS NULL")
                .bind(name.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(role) = role else {
            return Err(StoreError::NotFound(format!("no active admin token named {name:?}")));
        };
        if Role::parse(&role) == Some(Role::Admin) {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM admin_tokens WHERE role = $1 AND revoked_at_ms IS NULL AND name <> $2",
            )
            .bind(Role::Admin.as_str().to_owned())
            .bind(name.to_owned())
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 {
                return Err(StoreError::Refused(format!(
                    "admin token {name:?} is the last active token with role admin: revoking it would lock \
                     everyone out; create another admin token first"
                )));
            }
        }
        sqlx::query("UPDATE admin_tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL")
            .bind(now_ms())
            .bind(name.to_owned())
            .execute(&mut *tx)
            .await?;
        audit::record(&mut tx, actor, "admin_token.revoke", "admin_token", name, None).await?;
        tx.commit().await?;
        Ok(())
    }
}
