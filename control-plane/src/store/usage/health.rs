//! Endpoint health: each node's latest breaker state per endpoint (the
//! `endpoint_health` rows [`super::write`] upserts from breaker transitions),
//! the heartbeat that clears what a node's earlier boots left there (and,
//! when it lists the node's breakers that are not closed, closes what it no
//! longer lists), and the rows the fleet's view counts.
//!
//! A node's rows count only while the node is live (the rule
//! [`Store::sync_live_nodes`] counts by: connected and stamped within the
//! loss timeout, or a heartbeat within it) and only those of its current
//! boot, the one its config stream last announced. A node restarted under
//! the same id leaves its old boot's rows behind: the new boot's heartbeats
//! delete those older than themselves, so an endpoint open before a restart
//! is never shown open for good.

use super::*;
use crate::store::fleet::LIVE_NODE;
use crate::store::now_ms;

/// The latest breaker state of one endpoint on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    pub node_id: String,
    pub boot_id: String,
    pub provider: String,
    pub account: String,
    pub route: String,
    pub upstream_model: String,
    /// `closed`, `open` or `half_open` (see [`breaker_word`]).
    pub state: String,
    pub reason: String,
    pub open_for_ms: i64,
    /// When the node made the transition (the node's clock).
    pub at_ms: i64,
}

/// A batch's latest heartbeat: stamps the node (receive time, requests in
/// flight) and deletes the node's rows of other boots older than the heartbeat.
pub(super) async fn record_heartbeat(
    conn: &mut AnyConnection,
    backend: Backend,
    b: &IngestBatch,
    h: &HeartbeatInfo,
) -> Result<(), StoreError> {
    // A node's first heartbeat may come before its config stream's registration is written:
    // the row is made here then, and the registration fills in the rest.
    sqlx::query(
        "INSERT INTO nodes (id, region, zone, labels, build_version, first_seen_ms, last_seen_ms, \
         last_heartbeat_ms, inflight_requests) VALUES ($3, '', '', '{}', '', $1, $1, $1, $2) \
         ON CONFLICT (id) DO UPDATE SET last_heartbeat_ms = excluded.last_heartbeat_ms, \
         inflight_requests = excluded.inflight_requests, last_seen_ms = CASE WHEN nodes.last_seen_ms < \
         excluded.last_seen_ms THEN excluded.last_seen_ms ELSE nodes.last_seen_ms END",
    )
    .bind(b.received_at_ms)
    .bind(big(h.inflight_requests))
    .bind(&b.node_id)
    .execute(&mut *conn)
    .await?;
    // Both times are the node's clock; a late heartbeat of an old boot
    // (resent from a spool) is older than the new boot's rows and spares them.
    sqlx::query("DELETE FROM endpoint_health WHERE node_id = $1 AND boot_id <> $2 AND at_ms < $3")
        .bind(&b.node_id)
        .bind(&b.boot_id)
        .bind(h.at_ms)
        .execute(&mut *conn)
        .await?;
    if let Some(listed) = &h.breakers {
        reconcile(conn, backend, b, h.at_ms, listed).await?;
    }
    Ok(())
}

/// A heartbeat that lists the boot's breakers not closed: those are stored
/// as of the heartbeat, and every other endpoint of the boot not closed in
/// the store (and older than the heartbeat) is closed, so a transition the
/// node lost does not leave a stale state.
async fn reconcile(
    conn: &mut AnyConnection,
    backend: Backend,
    b: &IngestBatch,
    at_ms: i64,
    listed: &[pb::BreakerTransition],
) -> Result<(), StoreError> {
    let states: Vec<(&pb::BreakerTransition, i64)> = listed.iter().map(|t| (t, at_ms)).collect();
    super::write::upsert_health(conn, backend, &b.node_id, &b.boot_id, &states).await?;
    let stale: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT provider, account, route, upstream_model FROM endpoint_health \
         WHERE node_id = $1 AND boot_id = $2 AND state <> 'closed' AND at_ms < $3",
    )
    .bind(&b.node_id)
    .bind(&b.boot_id)
    .bind(at_ms)
    .fetch_all(&mut *conn)
    .await?;
    let open: HashSet<(&str, &str, &str, &str)> = listed
        .iter()
        .map(|t| (t.provider.as_str(), t.account.as_str(), t.route.as_str(), t.upstream_model.as_str()))
        .collect();
    for (provider, account, route, model) in &stale {
        if open.contains(&(provider.as_str(), account.as_str(), route.as_str(), model.as_str())) {
            continue;
        }
        sqlx::query(
            "UPDATE endpoint_health SET state = 'closed', reason = '', open_for_ms = 0, at_ms = $1 \
             WHERE node_id = $2 AND provider = $3 AND account = $4 AND route = $5 AND upstream_model = $6 \
             AND at_ms < $1",
        )
        .bind(at_ms)
        .bind(&b.node_id)
        .bind(provider)
        .bind(account)
        .bind(route)
        .bind(model)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

const COLUMNS: &str = "h.node_id, h.boot_id, h.provider, h.account, h.route, h.upstream_model, h.state, h.reason, \
                       h.open_for_ms, h.at_ms";

fn row(r: &sqlx::any::AnyRow) -> Result<EndpointHealth, StoreError> {
    Ok(EndpointHealth {
        node_id: r.try_get("node_id")?,
        boot_id: r.try_get("boot_id")?,
        provider: r.try_get("provider")?,
        account: r.try_get("account")?,
        route: r.try_get("route")?,
        upstream_model: r.try_get("upstream_model")?,
        state: r.try_get("state")?,
        reason: r.try_get("reason")?,
        open_for_ms: r.try_get("open_for_ms")?,
        at_ms: r.try_get("at_ms")?,
    })
}

impl Store {
    /// Every row: each endpoint's latest breaker state per node, any boot,
    /// live or lost, by node and endpoint.
    pub async fn endpoint_health(&self) -> Result<Vec<EndpointHealth>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM endpoint_health h ORDER BY h.node_id, h.provider, h.account, h.route, \
             h.upstream_model"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }

    /// The rows the fleet counts (see the module docs): live nodes' (not lost
    /// for `lost_after_ms`), of each node's current boot; in no set order.
    pub async fn live_endpoint_health(&self, lost_after_ms: i64) -> Result<Vec<EndpointHealth>, StoreError> {
        let since = now_ms().saturating_sub(lost_after_ms);
        // A node that announced no boot id (an old data plane) keeps rows of any boot.
        let sql = format!(
            "SELECT {COLUMNS} FROM endpoint_health h JOIN nodes n ON n.id = h.node_id \
             WHERE (n.boot_id = h.boot_id OR n.boot_id = '') AND {LIVE_NODE}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(since).fetch_all(self.pool()).await?;
        rows.iter().map(row).collect()
    }
}
