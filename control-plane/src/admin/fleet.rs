//! Runtime state: balances set by hand, the fleet (the published snapshot's
//! versions, every node in the registry all replicas share, each endpoint's
//! breaker across the live nodes, and the accounts drained by their balance),
//! and the audit log.

use super::{AdminService, Caller};
use crate::error::{invalid, required};
use crate::nodes::LOST_AFTER;
use crate::store::{AuditRecord, Balance, EndpointHealth, NodeRecord, now_ms};
use std::collections::BTreeMap;
use switchyard_proto::model::units::check_currency;
use switchyard_proto::pb;
use tonic::Status;

/// Sets an account's balance (runtime state: the Runtime revision moves, the
/// Config's does not); the reply carries the current Config revision.
pub async fn set_balance(
    svc: &AdminService,
    caller: &Caller,
    r: pb::SetBalanceRequest,
) -> Result<pb::WriteResult, Status> {
    if r.provider.is_empty() {
        return Err(required("provider"));
    }
    if r.account.is_empty() {
        return Err(required("account"));
    }
    check_currency(&r.currency).map_err(|e| invalid("currency", e))?;
    // The published Config answers "no such account" cheaply; the store checks again in its transaction.
    let snapshot = svc.publisher.current();
    let known = snapshot
        .config
        .message
        .providers
        .iter()
        .any(|p| p.name == r.provider && p.accounts.iter().any(|a| a.name == r.account));
    if !known {
        return Err(Status::not_found(format!("account \"{}/{}\" does not exist", r.provider, r.account)));
    }
    let balance = Balance {
        provider: r.provider,
        account: r.account,
        currency: r.currency,
        amount_micros: r.amount_micros,
        source: "manual".into(),
        poller: None,
        updated_at_ms: now_ms(),
    };
    svc.store.set_balance(&balance, &caller.name).await.map_err(super::status)?;
    let revision = svc.store.revision().await.map_err(super::status)?;
    let config_version = svc.published(revision).await?;
    Ok(pb::WriteResult { config_version })
}

fn version(kind: pb::ResourceType, version: u64, hash: &[u8]) -> pb::ResourceVersion {
    pb::ResourceVersion { r#type: kind as i32, version, hash: hash.to_vec() }
}

fn resource_type(kind: &str) -> pb::ResourceType {
    match kind {
        "config" => pb::ResourceType::Config,
        "runtime" => pb::ResourceType::Runtime,
        _ => pb::ResourceType::Unspecified,
    }
}

fn node_status(n: NodeRecord) -> pb::NodeStatus {
    let acked = [(pb::ResourceType::Config, &n.config), (pb::ResourceType::Runtime, &n.runtime)]
        .into_iter()
        .filter(|(_, (v, hash))| *v > 0 || !hash.is_empty())
        .map(|(kind, (v, hash))| version(kind, *v, &hex::decode(hash).unwrap_or_default()))
        .collect();
    let (last_nack, last_nack_at_ms) = match n.last_nack {
        Some(nack) => {
            let message = pb::Nack {
                r#type: resource_type(&nack.kind) as i32,
                response_nonce: String::new(),
                error_detail: nack.error,
                held: None,
            };
            (Some(message), nack.at_ms)
        }
        None => (None, 0),
    };
    pb::NodeStatus {
        node: Some(pb::Node {
            id: n.id,
            region: n.region,
            zone: n.zone,
            labels: n.labels.into_iter().collect(),
            build_version: n.build_version,
            boot_id: n.boot_id,
        }),
        connected: n.connected,
        last_seen_ms: n.last_seen_ms,
        acked,
        last_nack,
        last_nack_at_ms,
        last_heartbeat_ms: n.last_heartbeat_ms,
        inflight_requests: n.inflight_requests,
    }
}

/// The live nodes' rows per endpoint, sorted by provider, account, route
/// and upstream model; the open and half-open ones by node id.
fn endpoints(rows: Vec<EndpointHealth>) -> Vec<pb::EndpointHealth> {
    let mut by_endpoint: BTreeMap<(String, String, String, String), Vec<EndpointHealth>> = BTreeMap::new();
    for r in rows {
        let key = (r.provider.clone(), r.account.clone(), r.route.clone(), r.upstream_model.clone());
        by_endpoint.entry(key).or_default().push(r);
    }
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    by_endpoint
        .into_iter()
        .map(|((provider, account, route, upstream_model), mut rows)| {
            rows.sort_by(|a, b| a.node_id.cmp(&b.node_id));
            let open = rows.iter().filter(|r| r.state == "open").count();
            let half_open = rows.iter().filter(|r| r.state == "half_open").count();
            let not_closed = rows
                .iter()
                .filter(|r| r.state == "open" || r.state == "half_open")
                .map(|r| pb::EndpointNodeState {
                    node_id: r.node_id.clone(),
                    state: r.state.clone(),
                    reason: r.reason.clone(),
                    open_for_ms: u64::try_from(r.open_for_ms).unwrap_or(0),
                    at_ms: r.at_ms,
                })
                .collect();
            pb::EndpointHealth {
                provider,
                account,
                route,
                upstream_model,
                nodes: count(rows.len()),
                open: count(open),
                half_open: count(half_open),
                not_closed,
            }
        })
        .collect()
}

pub async fn status(svc: &AdminService) -> Result<pb::FleetStatusResponse, Status> {
    let snapshot = svc.publisher.current();
    let nodes = svc.store.fleet().await.map_err(super::status)?;
    let lost_after = i64::try_from(LOST_AFTER.as_millis()).unwrap_or(i64::MAX);
    let health = svc.store.live_endpoint_health(lost_after).await.map_err(super::status)?;
    Ok(pb::FleetStatusResponse {
        config: Some(version(pb::ResourceType::Config, snapshot.config.version, snapshot.config.hash.as_bytes())),
        runtime: Some(version(pb::ResourceType::Runtime, snapshot.runtime.version, snapshot.runtime.hash.as_bytes())),
        nodes: nodes.into_iter().map(node_status).collect(),
        endpoints: endpoints(health),
        drained: super::balances::drained(svc).await?,
    })
}

/// The object an audit entry names; accounts and balances are `provider/account`.
fn object(kind: &str, name: String) -> pb::ObjectRef {
    let split = |kind: pb::ObjectKind, name: String| match name.split_once('/') {
        Some((parent, name)) => pb::ObjectRef { kind: kind as i32, name: name.to_owned(), parent: parent.to_owned() },
        None => pb::ObjectRef { kind: kind as i32, name, parent: String::new() },
    };
    let kind = match kind {
        "provider" => pb::ObjectKind::Provider,
        "account" | "balance" => return split(pb::ObjectKind::Account, name),
        "route" => pb::ObjectKind::Route,
        "key" => pb::ObjectKind::Key,
        "settings" => pb::ObjectKind::Settings,
        "alert_channel" => pb::ObjectKind::AlertChannel,
        "node_token" => pb::ObjectKind::NodeToken,
        "admin_token" => pb::ObjectKind::AdminToken,
        _ => pb::ObjectKind::Unspecified,
    };
    pb::ObjectRef { kind: kind as i32, name, parent: String::new() }
}

fn entry(a: AuditRecord) -> pb::AuditEntry {
    pb::AuditEntry {
        at_ms: a.at_ms,
        actor: a.actor,
        action: a.action,
        object: Some(object(&a.object_kind, a.object_name)),
        before: a.before.unwrap_or_default(),
        after: a.after.unwrap_or_default(),
    }
}

/// Entries since `since_ms`, newest first: 100 unless `limit` says otherwise, at most 1000.
pub async fn audit(svc: &AdminService, q: pb::AuditQuery) -> Result<pb::AuditList, Status> {
    let records = svc.store.audit_log(q.since_ms, q.limit).await.map_err(super::status)?;
    Ok(pb::AuditList { entries: records.into_iter().map(entry).collect() })
}
