//! `syctl alert list` (the conditions firing now: since when, last sent,
//! where each went) and `syctl alert test [--channel NAME]` (a test message
//! to one channel, or to every channel; exit 1 when any failed).

use crate::Ctx;
use crate::cli::AlertCmd;
use crate::client::Reply;
use crate::error::Error;
use crate::output::{self, Table};
use crate::units::{ago, json_ms_time, now_ms, show_ms_time};
use serde_json::json;
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: AlertCmd) -> Result<i32, Error> {
    match cmd {
        AlertCmd::List => list(ctx).await,
        AlertCmd::Test { channel } => test(ctx, channel).await,
    }
}

/// `ops ok, pager failed after 3 attempts`.
fn deliveries(a: &pb::ActiveAlert) -> String {
    let shown: Vec<String> =
        a.deliveries
            .iter()
            .map(|d| {
                if d.ok {
                    format!("{} ok", d.channel)
                } else {
                    format!("{} failed ({} attempts)", d.channel, d.attempts)
                }
            })
            .collect();
    output::or_dash(shown.join(", "))
}

async fn list(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let list = c.rpc.list_alerts(pb::ListRequest {}).await.reply(&c.url)?;
    if ctx.json() {
        let alerts: Vec<_> = list
            .alerts
            .iter()
            .map(|a| {
                let deliveries: Vec<_> = a
                    .deliveries
                    .iter()
                    .map(|d| {
                        json!({"channel": d.channel, "ok": d.ok, "attempts": d.attempts, "error": d.error, "at": json_ms_time(d.at_ms)})
                    })
                    .collect();
                json!({
                    "key": a.key,
                    "event": a.event,
                    "severity": a.severity,
                    "subject": a.subject,
                    "text": a.text,
                    "labels": a.labels.iter().collect::<std::collections::BTreeMap<_, _>>(),
                    "since": json_ms_time(a.since_ms),
                    "last_sent": json_ms_time(a.last_sent_ms),
                    "reminders": a.reminders,
                    "deliveries": deliveries,
                })
            })
            .collect();
        output::json(ctx.out, &json!({"evaluated_at": json_ms_time(list.evaluated_at_ms), "alerts": alerts}))?;
        return Ok(0);
    }
    let now = now_ms();
    let mut table = Table::new(&["SEVERITY", "EVENT", "SUBJECT", "SINCE", "LAST SENT", "CHANNELS"]);
    for a in &list.alerts {
        table.row(vec![
            a.severity.clone(),
            a.event.clone(),
            a.subject.clone(),
            show_ms_time(a.since_ms),
            ago(a.last_sent_ms, now),
            deliveries(a),
        ]);
    }
    let evaluated = if list.evaluated_at_ms > 0 { ago(list.evaluated_at_ms, now) } else { "never".into() };
    output::table(ctx.out, &table, "no alerts firing")?;
    output::write(ctx.out, &format!("last evaluated: {evaluated}"))?;
    Ok(0)
}

async fn test(ctx: &mut Ctx<'_>, channel: Option<String>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let result = c.rpc.test_alert(pb::AlertTestRequest { channel }).await.reply(&c.url)?;
    let failed = result.channels.iter().filter(|r| !r.ok).count();
    if ctx.json() {
        let channels: Vec<_> = result
            .channels
            .iter()
            .map(|r| json!({"channel": r.channel, "kind": r.kind, "ok": r.ok, "error": r.error, "latency_ms": r.latency_ms}))
            .collect();
        output::json(ctx.out, &json!({"channels": channels}))?;
    } else {
        let mut table = Table::new(&["CHANNEL", "KIND", "RESULT", "LATENCY", "ERROR"]);
        for r in &result.channels {
            let outcome = if r.ok { "sent" } else { "failed" };
            let latency = format!("{}ms", r.latency_ms);
            table.row(vec![
                r.channel.clone(),
                r.kind.clone(),
                outcome.into(),
                latency,
                output::or_dash(r.error.clone()),
            ]);
        }
        output::write(ctx.out, &table.render())?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
