//! `QueryUsage`: requests, errors, tokens by kind, cost and latency
//! percentiles since a time, grouped by key, model (route), provider,
//! account (`provider/account`) or node; one row per (group, currency) when
//! a group was priced in more than one currency (unpriced usage has currency
//! ""). Sums come from the per-minute rollups (and the raw events for the
//! part of a minute `since_ms` cuts), so they match what was sent exactly.
//! Percentiles come from the rollups' log-bucket histograms: within ~6%.

use super::AdminService;
use crate::store::{UsageGroup, UsageTotals};
use switchyard_proto::pb;
use tonic::Status;

fn group(by: i32) -> Result<UsageGroup, Status> {
    match pb::UsageGroupBy::try_from(by) {
        Ok(pb::UsageGroupBy::Key) => Ok(UsageGroup::Key),
        Ok(pb::UsageGroupBy::Model) => Ok(UsageGroup::Route),
        Ok(pb::UsageGroupBy::Provider) => Ok(UsageGroup::Provider),
        Ok(pb::UsageGroupBy::Account) => Ok(UsageGroup::Account),
        Ok(pb::UsageGroupBy::Node) => Ok(UsageGroup::Node),
        _ => Err(Status::invalid_argument("group_by: required (key, model, provider, account or node)")),
    }
}

fn row(t: UsageTotals) -> pb::UsageRow {
    pb::UsageRow {
        group: t.group,
        requests: t.requests,
        errors: t.errors,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        cached_tokens: t.cached_tokens,
        reasoning_tokens: t.reasoning_tokens,
        currency: t.currency,
        cost_micros: t.cost_micros,
        latency_p50_us: t.latency.percentile(50),
        latency_p99_us: t.latency.percentile(99),
        first_token_p50_us: t.first_token.percentile(50),
        first_token_p99_us: t.first_token.percentile(99),
    }
}

pub async fn query(svc: &AdminService, q: pb::UsageQuery) -> Result<pb::UsageReport, Status> {
    let by = group(q.group_by)?;
    let key = q.key.as_deref().filter(|k| !k.is_empty());
    let totals = svc.store.usage(by, q.since_ms, key).await.map_err(super::status)?;
    Ok(pb::UsageReport { rows: totals.into_iter().map(row).collect() })
}
