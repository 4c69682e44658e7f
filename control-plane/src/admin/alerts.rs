//! `ListAlerts` (what is firing, since when, last sent, where it went) and
//! `TestAlert` (a test message to one channel or to all, one attempt each,
//! in parallel, through the same code as real alerts).

use super::{AdminService, status};
use crate::alert::channel;
use crate::alert::metrics::Outcome;
use crate::alert::notice::Notice;
use crate::alert::state;
use crate::store::now_ms;
use switchyard_proto::pb;
use switchyard_proto::pb::alert_test_result::ChannelResult;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::Status;

pub async fn list(svc: &AdminService) -> Result<pb::AlertList, Status> {
    let (listed, evaluated_at_ms) = state::list(svc.store.pool()).await.map_err(status)?;
    let alerts = listed
        .into_iter()
        .map(|(s, deliveries)| pb::ActiveAlert {
            key: s.key,
            event: s.event,
            severity: s.severity.as_str().to_owned(),
            subject: s.subject,
            text: s.text,
            labels: s.labels.into_iter().collect(),
            since_ms: s.since_ms,
            last_sent_ms: s.notified_ms,
            reminders: s.reminders,
            deliveries: deliveries
                .into_iter()
                .map(|d| pb::AlertDelivery {
                    channel: d.channel,
                    ok: d.ok,
                    attempts: d.attempts,
                    error: d.error,
                    at_ms: d.at_ms,
                })
                .collect(),
        })
        .collect();
    Ok(pb::AlertList { alerts, evaluated_at_ms })
}

pub async fn test(svc: &AdminService, r: pb::AlertTestRequest) -> Result<pb::AlertTestResult, Status> {
    let (_, config) = svc.store.load().await.map_err(status)?;
    let all = config.settings.alerts.channels;
    let channels = match &r.channel {
        Some(name) => {
            let c = all
                .into_iter()
                .find(|c| c.name == *name)
                .ok_or_else(|| Status::not_found(format!("alert channel {name:?} does not exist")))?;
            vec![c]
        }
        None if all.is_empty() => {
            return Err(Status::failed_precondition("no alert channels are configured (settings.alerts.channels)"));
        }
        None => all,
    };
    let mut sends = JoinSet::new();
    for (i, c) in channels.into_iter().enumerate() {
        let (client, metrics) = (svc.alerts.client().clone(), svc.alerts.metrics());
        sends.spawn(async move {
            let started = Instant::now();
            let sent = channel::attempt(&client, &c, &[Notice::test(&c.name, now_ms())]).await;
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            metrics.sent(&c.name, if sent.is_ok() { Outcome::Ok } else { Outcome::Failed });
            let error = sent.err().map(|f| f.message).unwrap_or_default();
            tracing::info!(channel = %c.name, ok = error.is_empty(), error = %error, "alert test");
            let result = ChannelResult {
                channel: c.name.clone(),
                kind: c.kind.as_str().to_owned(),
                ok: error.is_empty(),
                error,
                latency_ms,
            };
            (i, result)
        });
    }
    let mut results = Vec::new();
    while let Some(done) = sends.join_next().await {
        results.push(done.map_err(|e| Status::internal(format!("an alert test failed: {e}")))?);
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(pb::AlertTestResult { channels: results.into_iter().map(|(_, r)| r).collect() })
}
