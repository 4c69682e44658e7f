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

impl Store {
    /// Creates or replaces the admin token `name`.
    pub async fn put_admin_token(&self, name: &str, role: Role, token: &str) -> Result<(), StoreError> {
        check(token)?;
        sqlx::query(
            "INSERT INTO admin_tokens (name, role, token_sha256, created_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256, \
             created_at_ms = excluded.created_at_ms, revoked_at_ms = NULL",
        )
        .bind(name.to_owned())
        .bind(role.as_str().to_owned())
        .bind(digest(token))
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The role of a presented admin token, unless unknown or revoked.
    pub async fn admin_role(&self, token: &str) -> Result<Option<Role>, StoreError> {
        Ok(self.admin_caller(token).await?.map(|(_, role)| role))
    }

    /// The name and role of a presented admin token, unless unknown or
    /// revoked; stamps its last use.
    pub async fn admin_caller(&self, token: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = sqlx::query(
            "UPDATE admin_tokens SET last_used_ms = $1 WHERE token_sha256 = $2 AND revoked_at_ms IS NULL \
             RETURNING name, role",
        )
        .bind(now_ms())
        .bind(digest(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (name, role): (String, String) = (row.try_get("name")?, row.try_get("role")?);
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
    pub async fn put_node_token(
        &self,
        name: &str,
        node_id: &str,
        token: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        check(token)?;
        sqlx::query(
            "INSERT INTO node_tokens (name, node_id, token_sha256, description, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, token_sha256 = excluded.token_sha256, \
             description = excluded.description, created_at_ms = excluded.created_at_ms, revoked_at_ms = NULL",
        )
        .bind(name.to_owned())
        .bind(node_id.to_owned())
        .bind(digest(token))
        .bind(description.to_owned())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The node id a presented node token is bound to ([`ANY_NODE`] for the
    /// bootstrap token); `None` when the token is unknown or revoked. Stamps its last use.
    pub async fn node_token_binding(&self, token: &str) -> Result<Option<String>, StoreError> {
        // Once per stream (config or telemetry), not per message: stamping the use costs nothing that matters.
        let bound: Option<String> = sqlx::query_scalar(
            "UPDATE node_tokens SET last_used_ms = $1 WHERE token_sha256 = $2 AND revoked_at_ms IS NULL \
             RETURNING node_id",
        )
        .bind(now_ms())
        .bind(digest(token))
        .fetch_optional(self.pool())
        .await?;
        Ok(bound)
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
