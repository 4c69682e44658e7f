//! Credentials: node tokens (bound to a node id) and admin tokens (role
//! admin or viewer). A token is generated here, returned once, and stored
//! only as its SHA-256; it never appears in a log, an error or the audit log.
//! The last active admin-role token cannot be revoked.

use super::{AdminService, Caller, status};
use crate::error::{invalid, required};
use crate::store::{Role, TokenRecord};
use switchyard_proto::pb;
use tonic::Status;

/// Characters of a generated secret.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 43 base62 characters carry just over 256 bits.
const SECRET_LEN: usize = 43;
/// The name of the token `--admin-token-file` / `--node-token-file` install.
const BOOTSTRAP: &str = "bootstrap";

/// `prefix` and 256 random bits in base62, from the system's CSPRNG.
pub(super) fn generate(prefix: &str) -> Result<String, Status> {
    let mut out = String::with_capacity(prefix.len() + SECRET_LEN);
    out.push_str(prefix);
    let mut drawn = 0;
    let mut buf = [0u8; 64];
    while drawn < SECRET_LEN {
        aws_lc_rs::rand::fill(&mut buf).map_err(|_| Status::internal("the random number generator failed"))?;
        // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
        for b in buf.iter().filter(|b| **b < 248).take(SECRET_LEN - drawn) {
            out.push(char::from(ALPHABET[usize::from(*b % 62)]));
            drawn += 1;
        }
    }
    Ok(out)
}

/// Token names and node ids follow the config's names: 1-128 of letters, digits, `.`, `_`, `-`.
fn check_name(path: &str, name: &str) -> Result<(), Status> {
    if name.is_empty() {
        return Err(required(path));
    }
    let ok = name.len() <= 128 && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(invalid(path, format!("invalid name {name:?} (1-128 of letters, digits, '.', '_', '-')")));
    }
    Ok(())
}

fn info(t: TokenRecord) -> pb::TokenInfo {
    pb::TokenInfo {
        name: t.name,
        subject: t.subject,
        created_at_ms: t.created_at_ms,
        last_used_ms: t.last_used_ms,
        revoked: t.revoked_at_ms.is_some(),
    }
}

async fn current(svc: &AdminService) -> Result<pb::WriteResult, Status> {
    Ok(pb::WriteResult { config_version: svc.store.revision().await.map_err(status)? })
}

/// A token for node `node_id` (named after it; a second one replaces the first).
pub async fn create_node_token(
    svc: &AdminService,
    caller: &Caller,
    r: pb::CreateNodeTokenRequest,
) -> Result<pb::CreatedToken, Status> {
    check_name("node_id", &r.node_id)?;
    if r.node_id == BOOTSTRAP {
        return Err(invalid("node_id", "\"bootstrap\" is the name of the bootstrap node token; choose another id"));
    }
    let token = generate("sy-node-")?;
    svc.store.put_node_token(&r.node_id, &r.node_id, &token, &r.description).await.map_err(status)?;
    let after = serde_json::json!({"node_id": r.node_id, "description": r.description});
    svc.store
        .audit_event(&caller.name, "node_token.create", "node_token", &r.node_id, Some(after))
        .await
        .map_err(status)?;
    Ok(pb::CreatedToken { name: r.node_id, token })
}

pub async fn list_node_tokens(svc: &AdminService) -> Result<pb::TokenList, Status> {
    let tokens = svc.store.node_tokens().await.map_err(status)?;
    Ok(pb::TokenList { tokens: tokens.into_iter().map(info).collect() })
}

pub async fn revoke_node_token(
    svc: &AdminService,
    caller: &Caller,
    r: pb::ObjectRef,
) -> Result<pb::WriteResult, Status> {
    if r.name.is_empty() {
        return Err(required("name"));
    }
    if !svc.store.revoke_node_token(&r.name).await.map_err(status)? {
        return Err(Status::not_found(format!("no active node token named {:?}", r.name)));
    }
    svc.store.audit_event(&caller.name, "node_token.revoke", "node_token", &r.name, None).await.map_err(status)?;
    current(svc).await
}

pub async fn create_admin_token(
    svc: &AdminService,
    caller: &Caller,
    r: pb::CreateAdminTokenRequest,
) -> Result<pb::CreatedToken, Status> {
    check_name("name", &r.name)?;
    let role = match pb::AdminRole::try_from(r.role) {
        Ok(pb::AdminRole::Admin) => Role::Admin,
        Ok(pb::AdminRole::Viewer) => Role::Viewer,
        Ok(pb::AdminRole::Unspecified) => return Err(invalid("role", "required (admin or viewer)")),
        Err(_) => return Err(invalid("role", format!("unknown value {} (expected admin or viewer)", r.role))),
    };
    let token = generate("sy-admin-")?;
    svc.store.create_admin_token(&caller.name, &r.name, role, &token).await.map_err(status)?;
    Ok(pb::CreatedToken { name: r.name, token })
}

pub async fn list_admin_tokens(svc: &AdminService) -> Result<pb::TokenList, Status> {
    let tokens = svc.store.admin_tokens().await.map_err(status)?;
    Ok(pb::TokenList { tokens: tokens.into_iter().map(info).collect() })
}

pub async fn revoke_admin_token(
    svc: &AdminService,
    caller: &Caller,
    r: pb::ObjectRef,
) -> Result<pb::WriteResult, Status> {
    if r.name.is_empty() {
        return Err(required("name"));
    }
    svc.store.revoke_admin_token_guarded(&caller.name, &r.name).await.map_err(status)?;
    current(svc).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_base62() {
        let a = generate("sk-sy-").unwrap();
        let b = generate("sk-sy-").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "sk-sy-".len() + SECRET_LEN);
        assert!(a["sk-sy-".len()..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
