//! Admin tokens (roles `admin`, `viewer`) and node tokens (bound to a node
//! id; the bootstrap node token to any). Only their SHA-256 is stored; the
//! token itself is shown once, where it is made.

use super::{Store, StoreError, now_ms};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// Tokens shorter than this are refused: they would be guessable.
pub const MIN_TOKEN_LEN: usize = 16;
/// The node id of the bootstrap node token: any node may use it.
pub const ANY_NODE: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Admin, Role::Viewer].into_iter().find(|r| r.as_str() == s)
    }
}

pub(super) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

pub(super) fn check(token: &str) -> Result<(), StoreError> {
    if token.trim().chars().count() < MIN_TOKEN_LEN {
        return Err(StoreError::Refused(format!("a token needs at least {MIN_TOKEN_LEN} characters")));
    }
    Ok(())
}

/// A token's last use is written at most this often: a read per call, not a write.
const STAMP_EVERY_MS: i64 = 60_000;

fn stale(last_used_ms: Option<i64>) -> bool {
    last_used_ms.is_none_or(|at| now_ms().saturating_sub(at) >= STAMP_EVERY_MS)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;
type Scalar<'q> = sqlx::query::QueryScalar<'q, sqlx::Any, Option<i64>, sqlx::any::AnyArguments>;

impl Store {
    /// Writes a token's last use; a failure is logged, never refuses the call.
    async fn stamp(&self, query: Query<'_>, name: &str) {
        if let Err(e) = query.bind(now_ms()).bind(name.to_owned()).execute(self.pool()).await {
            tracing::warn!(error = %e, "could not record a token's last use");
        }
    }

    /// Whether the token `name` (read by `query`, its `revoked_at_ms`) is active.
    async fn active(&self, query: Scalar<'_>, name: &str) -> Result<bool, StoreError> {
        Ok(query.bind(name.to_owned()).fetch_one(self.pool()).await?.is_none())
    }

    /// Creates or replaces the admin token `name` (the bootstrap token, test
    /// set-ups). Presenting the same token again changes nothing: a revoked
    /// one stays revoked (a restart with the same `--admin-token-file` does
    /// not undo `syctl admin token revoke`); a different token replaces it.
    /// Returns whether the stored token is active.
    pub async fn put_admin_token(&self, name: &str, role: Role, token: &str) -> Result<bool, StoreError> {
        check(token)?;
        sqlx::query(
            "INSERT INTO admin_tokens (name, role, token_sha256, created_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256, \
             created_at_ms = excluded.created_at_ms, last_used_ms = NULL, revoked_at_ms = NULL \
             WHERE admin_tokens.token_sha256 <> excluded.token_sha256",
        )
        .bind(name.to_owned())
        .bind(role.as_str().to_owned())
        .bind(digest(token))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        self.active(sqlx::query_scalar("SELECT revoked_at_ms FROM admin_tokens WHERE name = $1"), name).await
    }

    /// The role of a presented admin token, unless unknown or revoked.
    pub async fn admin_role(&self, token: &str) -> Result<Option<Role>, StoreError> {
        Ok(self.admin_caller(token).await?.map(|(_, role)| role))
    }

    /// The name and role of a presented admin token, unless unknown or
    /// revoked. A read; the token's last use is written at most once a
    /// minute, and never for an unknown token.
    pub async fn admin_caller(&self, token: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, last_used_ms FROM admin_tokens WHERE token_sha256 = $1 AND revoked_at_ms IS NULL",
        )
        .bind(digest(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (name, role): (String, String) = (row.try_get("name")?, row.try_get("role")?);
        if stale(row.try_get("last_used_ms")?) {
            self.stamp(sqlx::query("UPDATE admin_tokens SET last_used_ms = $1 WHERE name = $2"), &name).await;
        }
        Ok(Role::parse(&role).map(|role| (name, role)))
    }

    pub async fn revoke_admin_token(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE admin_tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL")
            .bind(now_ms())
            .bind(name.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates or replaces the node token `name`, bound to `node_id` ([`ANY_NODE`] for the bootstrap token).
    /// As for admin tokens, the same token again changes nothing (a revoked one stays revoked).
    /// Returns whether the stored token is active.
    pub async fn put_node_token(
        &self,
        name: &str,
        node_id: &str,
        token: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        check(token)?;
        sqlx::query(
            "INSERT INTO node_tokens (name, node_id, token_sha256, description, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, token_sha256 = excluded.token_sha256, \
             description = excluded.description, created_at_ms = excluded.created_at_ms, last_used_ms = NULL, \
             revoked_at_ms = NULL WHERE node_tokens.token_sha256 <> excluded.token_sha256",
        )
        .bind(name.to_owned())
        .bind(node_id.to_owned())
        .bind(digest(token))
        .bind(description.to_owned())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        self.active(sqlx::query_scalar("SELECT revoked_at_ms FROM node_tokens WHERE name = $1"), name).await
    }

    /// The node id a presented node token is bound to ([`ANY_NODE`] for the
    /// bootstrap token); `None` when the token is unknown or revoked. A read,
    /// with the last use written as for admin tokens.
    pub async fn node_token_binding(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT name, node_id, last_used_ms FROM node_tokens WHERE token_sha256 = $1 AND revoked_at_ms IS NULL",
        )
        .bind(digest(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (name, node_id): (String, String) = (row.try_get("name")?, row.try_get("node_id")?);
        if stale(row.try_get("last_used_ms")?) {
            self.stamp(sqlx::query("UPDATE node_tokens SET last_used_ms = $1 WHERE name = $2"), &name).await;
        }
        Ok(Some(node_id))
    }

    /// Whether a presented node token lets `node_id` in.
    pub async fn node_token_allows(&self, token: &str, node_id: &str) -> Result<bool, StoreError> {
        let bound = self.node_token_binding(token).await?;
        Ok(bound.is_some_and(|b| b == ANY_NODE || b == node_id))
    }

    pub async fn revoke_node_token(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE node_tokens SET revoked_at_ms = $1 WHERE name = $2 AND revoked_at_ms IS NULL")
            .bind(now_ms())
            .bind(name.to_owned())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
