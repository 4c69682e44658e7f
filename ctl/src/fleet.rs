//! Runtime views: `syctl status` (config versions, the accounts drained by
//! their balance and why, every data plane with what it ACKed and its last
//! NACK, endpoints whose breakers are open on some node: see [`endpoints`]),
//! `syctl audit` and `syctl usage`.

use crate::Ctx;
use crate::balance::drained_reason;
use crate::cli::{AuditArgs, UsageArgs};
use crate::client::Reply;
use crate::endpoints;
use crate::error::Error;
use crate::names;
use crate::output::{self, Table, or_dash, yes_no};
use crate::units::{self, ago, json_ms_time, now_ms, show_money, show_ms_time};
use serde_json::{Value, json};
use switchyard_proto::pb;

/// Hashes are shown by their first 12 hex digits.
fn short(hash: &[u8]) -> String {
    let h = hex::encode(hash);
    h.get(..12).unwrap_or(&h).to_owned()
}

fn version_json(v: Option<&pb::ResourceVersion>) -> Value {
    match v {
        None => Value::Null,
        Some(v) => json!({"version": v.version, "hash": hex::encode(&v.hash)}),
    }
}

/// What a node ACKed for one type, against the control plane's current version.
fn acked(node: &pb::NodeStatus, kind: pb::ResourceType) -> Option<&pb::ResourceVersion> {
    node.acked.iter().find(|v| v.r#type == kind as i32)
}

fn acked_text(node: &pb::NodeStatus, kind: pb::ResourceType, current: Option<&pb::ResourceVersion>) -> String {
    match acked(node, kind) {
        None => "-".into(),
        Some(v) if current.is_some_and(|c| c.hash == v.hash) => format!("{} (current)", v.version),
        Some(v) => format!("{} (stale)", v.version),
    }
}

pub async fn status(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let s = c.rpc.fleet_status(pb::FleetStatusRequest {}).await.reply(&c.url)?;
    let now = now_ms();
    if ctx.json() {
        let nodes: Vec<Value> = s
            .nodes
            .iter()
            .map(|n| {
                let node = n.node.clone().unwrap_or_default();
                let ack = |kind| {
                    let current = if kind == pb::ResourceType::Config { s.config.as_ref() } else { s.runtime.as_ref() };
                    acked(n, kind).map(|v| {
                        json!({
                            "version": v.version,
                            "hash": hex::encode(&v.hash),
                            "current": current.is_some_and(|c| c.hash == v.hash),
                        })
                    })
                };
                json!({
                    "id": node.id,
                    "region": node.region,
                    "zone": node.zone,
                    "labels": node.labels,
                    "build_version": node.build_version,
                    "boot_id": node.boot_id,
                    "connected": n.connected,
                    "last_seen": json_ms_time(n.last_seen_ms),
                    "last_heartbeat": json_ms_time(n.last_heartbeat_ms),
                    "inflight_requests": n.inflight_requests,
                    "acked": {"config": ack(pb::ResourceType::Config), "runtime": ack(pb::ResourceType::Runtime)},
                    "last_nack": n.last_nack.as_ref().map(|k| json!({
                        "type": names::resource_type(k.r#type),
                        "error": k.error_detail,
                        "at": json_ms_time(n.last_nack_at_ms),
                        "held": version_json(k.held.as_ref()),
                    })),
                })
            })
            .collect();
        let value = json!({
            "config": version_json(s.config.as_ref()),
            "runtime": version_json(s.runtime.as_ref()),
            "nodes": nodes,
            "endpoints": endpoints::json(&s.endpoints),
            "drained": s.drained.iter().map(|b| json!({
                "provider": b.provider,
                "account": b.account,
                "balance": show_money(b.amount_micros),
                "currency": b.currency,
                "source": b.source,
                "poller": if b.poller.is_empty() { Value::Null } else { b.poller.clone().into() },
                "updated_at": json_ms_time(b.updated_at_ms),
                "reason": drained_reason(b, now),
            })).collect::<Vec<_>>(),
        });
        output::json(ctx.out, &value)?;
        return Ok(0);
    }
    let line = |name: &str, v: Option<&pb::ResourceVersion>| match v {
        Some(v) => (name.to_owned(), format!("version {}  hash {}", v.version, short(&v.hash))),
        None => (name.to_owned(), "-".into()),
    };
    let versions = [line("config", s.config.as_ref()), line("runtime", s.runtime.as_ref())];
    let pairs: Vec<(&str, String)> = versions.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    output::write(ctx.out, &output::fields(&pairs))?;
    if !s.drained.is_empty() {
        // Out of the usable set: data planes send nothing to them until the balance is above zero.
        let lines: Vec<String> = s
            .drained
            .iter()
            .map(|b| format!("drained  {}/{}: {}", b.provider, b.account, drained_reason(b, now)))
            .collect();
        output::write(ctx.out, &format!("\n{}", lines.join("\n")))?;
    }
    output::write(ctx.out, "")?;
    let mut t = Table::new(&[
        "NODE",
        "REGION",
        "ZONE",
        "BUILD",
        "CONNECTED",
        "CONFIG",
        "RUNTIME",
        "LAST SEEN",
        "HEARTBEAT",
        "LAST NACK",
    ]);
    for n in &s.nodes {
        let node = n.node.clone().unwrap_or_default();
        let nack = match &n.last_nack {
            None => "-".into(),
            Some(k) => format!(
                "{}: {} ({})",
                names::resource_type(k.r#type),
                k.error_detail.replace('\n', " "),
                ago(n.last_nack_at_ms, now)
            ),
        };
        t.row(vec![
            node.id,
            or_dash(node.region),
            or_dash(node.zone),
            or_dash(node.build_version),
            yes_no(n.connected),
            acked_text(n, pb::ResourceType::Config, s.config.as_ref()),
            acked_text(n, pb::ResourceType::Runtime, s.runtime.as_ref()),
            ago(n.last_seen_ms, now),
            // The node's last telemetry heartbeat: its usage reaches the control plane.
            if n.last_heartbeat_ms > 0 { ago(n.last_heartbeat_ms, now) } else { "-".into() },
            nack,
        ]);
    }
    output::write(ctx.out, "\n")?;
    output::table(ctx.out, &t, "no data planes have connected yet")?;
    if !s.nodes.is_empty() {
        endpoints::write(ctx.out, &s.endpoints)?;
    }
    Ok(0)
}

/// An audit entry's before/after: JSON when it is JSON, else the text.
fn audit_value(s: &str) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(s).unwrap_or_else(|_| Value::from(s))
}

pub async fn audit(ctx: &mut Ctx<'_>, args: AuditArgs) -> Result<i32, Error> {
    let since_ms = units::since_ms(&args.since)?;
    let mut c = ctx.connect().await?;
    let list = c.rpc.list_audit(pb::AuditQuery { since_ms, limit: args.limit }).await.reply(&c.url)?;
    if ctx.json() {
        let entries: Vec<Value> = list
            .entries
            .iter()
            .map(|e| {
                json!({
                    "at": json_ms_time(e.at_ms),
                    "actor": e.actor,
                    "action": e.action,
                    "object": names::object_json(e.object.as_ref()),
                    "before": audit_value(&e.before),
                    "after": audit_value(&e.after),
                })
            })
            .collect();
        output::json(ctx.out, &json!({ "entries": entries }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["TIME", "ACTOR", "ACTION", "OBJECT"]);
    for e in &list.entries {
        t.row(vec![show_ms_time(e.at_ms), e.actor.clone(), e.action.clone(), names::object(e.object.as_ref())]);
    }
    output::table(ctx.out, &t, &format!("no changes in the last {}", args.since))?;
    Ok(0)
}

fn micros_text(us: u64) -> String {
    match us {
        0 => "-".into(),
        us if us < 1_000 => format!("{us}us"),
        us if us < 1_000_000 => format!("{}ms", us / 1_000),
        us => format!("{:.2}s", us as f64 / 1e6),
    }
}

pub async fn usage(ctx: &mut Ctx<'_>, args: UsageArgs) -> Result<i32, Error> {
    let since_ms = units::since_ms(&args.since)?;
    let mut c = ctx.connect().await?;
    let query = pb::UsageQuery { group_by: args.by.to_pb().into(), since_ms, key: args.key.clone() };
    let report = c.rpc.query_usage(query).await.reply(&c.url)?;
    if ctx.json() {
        let rows: Vec<Value> = report
            .rows
            .iter()
            .map(|r| {
                json!({
                    "group": r.group,
                    "requests": r.requests,
                    "errors": r.errors,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "cached_tokens": r.cached_tokens,
                    "reasoning_tokens": r.reasoning_tokens,
                    "currency": r.currency,
                    "cost": show_money(r.cost_micros),
                    "latency_p50_us": r.latency_p50_us,
                    "latency_p99_us": r.latency_p99_us,
                    "first_token_p50_us": r.first_token_p50_us,
                    "first_token_p99_us": r.first_token_p99_us,
                })
            })
            .collect();
        output::json(ctx.out, &json!({ "rows": rows }))?;
        return Ok(0);
    }
    let by = format!("{:?}", args.by).to_uppercase();
    let mut t = Table::new(&[
        by.as_str(),
        "REQUESTS",
        "ERRORS",
        "PROMPT",
        "COMPLETION",
        "CACHED",
        "REASONING",
        "COST",
        "P50",
        "P99",
        "TTFT P50",
    ]);
    for r in &report.rows {
        // Unpriced usage has no currency; requests refused before routing have no model, provider or account.
        let cost = if r.currency.is_empty() {
            "-".to_owned()
        } else {
            format!("{} {}", show_money(r.cost_micros), r.currency)
        };
        t.row(vec![
            or_dash(r.group.as_str()),
            r.requests.to_string(),
            r.errors.to_string(),
            r.prompt_tokens.to_string(),
            r.completion_tokens.to_string(),
            r.cached_tokens.to_string(),
            r.reasoning_tokens.to_string(),
            cost,
            micros_text(r.latency_p50_us),
            micros_text(r.latency_p99_us),
            micros_text(r.first_token_p50_us),
        ]);
    }
    output::table(ctx.out, &t, &format!("no usage in the last {}", args.since))?;
    Ok(0)
}
