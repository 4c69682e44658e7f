//! `syctl node token ...` and `syctl token ...`: credentials. A created
//! token is printed once; the control plane keeps only its SHA-256.

use crate::Ctx;
use crate::cli::{NodeTokenCmd, TokenCmd};
use crate::client::Reply;
use crate::error::Error;
use crate::output::{self, Table, yes_no};
use crate::units::{json_ms_time, show_ms_time};
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn node(ctx: &mut Ctx<'_>, cmd: NodeTokenCmd) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    match cmd {
        NodeTokenCmd::Create { node_id, description } => {
            let request = pb::CreateNodeTokenRequest { node_id: node_id.clone(), description };
            let created = c.rpc.create_node_token(request).await.reply(&c.url)?;
            created_once(ctx, "node token", &created, &format!("for node {node_id}"))
        }
        NodeTokenCmd::List => {
            let list = c.rpc.list_node_tokens(pb::ListRequest {}).await.reply(&c.url)?;
            show(ctx, &list.tokens, "NODE ID", "node_id", "no node tokens")
        }
        NodeTokenCmd::Revoke { node_id } => {
            let object =
                pb::ObjectRef { kind: pb::ObjectKind::NodeToken.into(), name: node_id.clone(), parent: String::new() };
            c.rpc.revoke_node_token(object).await.reply(&c.url)?;
            revoked(ctx, "node token", &node_id)
        }
    }
}

pub async fn admin(ctx: &mut Ctx<'_>, cmd: TokenCmd) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    match cmd {
        TokenCmd::Create { name, role } => {
            let request = pb::CreateAdminTokenRequest { name: name.clone(), role: role.to_pb().into() };
            let created = c.rpc.create_admin_token(request).await.reply(&c.url)?;
            let role = match role {
                crate::names::RoleArg::Admin => "admin",
                crate::names::RoleArg::Viewer => "viewer",
            };
            created_once(ctx, "admin token", &created, &format!("with role {role}"))
        }
        TokenCmd::List => {
            let list = c.rpc.list_admin_tokens(pb::ListRequest {}).await.reply(&c.url)?;
            show(ctx, &list.tokens, "ROLE", "role", "no admin tokens")
        }
        TokenCmd::Revoke { name } => {
            let object =
                pb::ObjectRef { kind: pb::ObjectKind::AdminToken.into(), name: name.clone(), parent: String::new() };
            c.rpc.revoke_admin_token(object).await.reply(&c.url)?;
            revoked(ctx, "admin token", &name)
        }
    }
}

fn created_once(ctx: &mut Ctx<'_>, what: &str, created: &pb::CreatedToken, detail: &str) -> Result<i32, Error> {
    if ctx.json() {
        output::json(ctx.out, &json!({"name": created.name, "token": created.token}))?;
    } else {
        let text = format!(
            "{what} {} created {detail}\n\n    {}\n\nThis is the only time the token is shown: store it now.",
            created.name, created.token
        );
        output::write(ctx.out, &text)?;
    }
    Ok(0)
}

fn revoked(ctx: &mut Ctx<'_>, what: &str, name: &str) -> Result<i32, Error> {
    if ctx.json() {
        output::json(ctx.out, &json!({"name": name, "action": "revoked"}))?;
    } else {
        output::write(ctx.out, &format!("{what} {name} revoked"))?;
    }
    Ok(0)
}

fn show(ctx: &mut Ctx<'_>, tokens: &[pb::TokenInfo], subject: &str, field: &str, empty: &str) -> Result<i32, Error> {
    if ctx.json() {
        let items: Vec<Value> = tokens
            .iter()
            .map(|t| {
                let mut v = json!({
                    "name": t.name,
                    "created_at": json_ms_time(t.created_at_ms),
                    "last_used_at": json_ms_time(t.last_used_ms.unwrap_or(0)),
                    "revoked": t.revoked,
                });
                v[field] = Value::from(t.subject.clone());
                v
            })
            .collect();
        output::json(ctx.out, &json!({ "tokens": items }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["NAME", subject, "CREATED", "LAST USED", "REVOKED"]);
    for token in tokens {
        t.row(vec![
            token.name.clone(),
            token.subject.clone(),
            show_ms_time(token.created_at_ms),
            token.last_used_ms.map_or_else(|| "never".into(), show_ms_time),
            yes_no(token.revoked),
        ]);
    }
    output::table(ctx.out, &t, empty)?;
    Ok(0)
}
