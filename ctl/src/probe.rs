//! `syctl provider test` and `syctl provider models`: what the control plane
//! reads from a provider (each account's answer, the discovered model list).

use crate::Ctx;
use crate::client::Reply;
use crate::error::Error;
use crate::output::{self, Table, or_dash};
use crate::units::{json_ms_time, show_ms_time};
use serde_json::{Value, json};

pub async fn test(ctx: &mut Ctx<'_>, name: &str) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let result = c.rpc.test_provider(reference(name)).await.reply(&c.url)?;
    let failed = result.accounts.iter().any(|a| !a.ok);
    if ctx.json() {
        let accounts: Vec<Value> = result
            .accounts
            .iter()
            .map(|a| {
                json!({
                    "account": a.account,
                    "ok": a.ok,
                    "http_status": if a.http_status == 0 { None } else { Some(a.http_status) },
                    "latency_ms": a.latency_ms,
                    "error": if a.error.is_empty() { None } else { Some(&a.error) },
                })
            })
            .collect();
        let models = json!({
            "discovered": result.models_discovered,
            "error": if result.models_error.is_empty() { None } else { Some(&result.models_error) },
        });
        output::json(ctx.out, &json!({ "provider": name, "ok": !failed, "accounts": accounts, "models": models }))?;
    } else {
        let mut t = Table::new(&["ACCOUNT", "RESULT", "HTTP", "LATENCY", "ERROR"]);
        for a in &result.accounts {
            t.row(vec![
                a.account.clone(),
                if a.ok { "ok" } else { "failed" }.into(),
                if a.http_status == 0 { "-".into() } else { a.http_status.to_string() },
                format!("{}ms", a.latency_ms),
                or_dash(a.error.replace('\n', " ")),
            ]);
        }
        output::table(ctx.out, &t, &format!("provider {name} has no accounts to test"))?;
        match result.models_discovered {
            Some(n) => writeln!(ctx.out, "models: {n} discovered (syctl provider models {name})")?,
            None => writeln!(ctx.out, "models: not read: {}", result.models_error.replace('\n', " "))?,
        }
    }
    // Scripts can tell a failed test from a passed one.
    Ok(if failed { 1 } else { 0 })
}

pub async fn models(ctx: &mut Ctx<'_>, name: &str) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let r = c.rpc.list_provider_models(reference(name)).await.reply(&c.url)?;
    if ctx.json() {
        let value = json!({
            "provider": r.provider,
            "models": r.models,
            "fetched_at": json_ms_time(r.fetched_at_ms),
            "checked_at": json_ms_time(r.checked_at_ms),
            "error": if r.error.is_empty() { None } else { Some(&r.error) },
        });
        output::json(ctx.out, &value)?;
        return Ok(0);
    }
    let mut t = Table::new(&["MODEL", "DIRECT NAME"]);
    for m in &r.models {
        t.row(vec![m.clone(), format!("{name}/{m}")]);
    }
    let empty = if r.checked_at_ms == 0 {
        format!("no model list read for provider {name} yet (syctl provider test {name} reads it)")
    } else {
        format!("provider {name} listed no models")
    };
    output::table(ctx.out, &t, &empty)?;
    writeln!(ctx.out, "read: {}", show_ms_time(r.fetched_at_ms))?;
    if !r.error.is_empty() {
        writeln!(
            ctx.out,
            "last try ({}) failed: {}",
            show_ms_time(r.checked_at_ms),
            or_dash(r.error.replace('\n', " "))
        )?;
    }
    Ok(0)
}

fn reference(name: &str) -> switchyard_proto::pb::ObjectRef {
    use switchyard_proto::pb;
    pb::ObjectRef { kind: pb::ObjectKind::Provider.into(), name: name.to_owned(), parent: String::new() }
}
