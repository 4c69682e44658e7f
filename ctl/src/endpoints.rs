//! The endpoints part of `syctl status`: each endpoint's breaker across the
//! live nodes, as `FleetStatus` counts it. The table lists the endpoints open
//! or half-open somewhere, with why and where; JSON has them all.

use crate::error::Error;
use crate::output::{self, Table};
use crate::units::json_ms_time;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use switchyard_proto::pb;

pub fn json(endpoints: &[pb::EndpointHealth]) -> Value {
    let one = |e: &pb::EndpointHealth| {
        let not_closed: Vec<Value> = e
            .not_closed
            .iter()
            .map(|n| {
                json!({
                    "node_id": n.node_id,
                    "state": n.state,
                    "reason": n.reason,
                    "open_for_ms": n.open_for_ms,
                    "at": json_ms_time(n.at_ms),
                })
            })
            .collect();
        json!({
            "provider": e.provider,
            "account": e.account,
            "route": e.route,
            "upstream_model": e.upstream_model,
            "nodes": e.nodes,
            "open": e.open,
            "half_open": e.half_open,
            "not_closed": not_closed,
        })
    };
    endpoints.iter().map(one).collect()
}

/// `auth on dp-1, dp-2; quota on dp-3`: each reason (by name) with its nodes
/// (by id); a node that gave none is listed under its state.
fn why(e: &pb::EndpointHealth) -> String {
    let mut reasons: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for n in &e.not_closed {
        let reason = if n.reason.is_empty() { n.state.replace('_', "-") } else { n.reason.clone() };
        reasons.entry(reason).or_default().push(&n.node_id);
    }
    let parts: Vec<String> =
        reasons.into_iter().map(|(reason, nodes)| format!("{reason} on {}", nodes.join(", "))).collect();
    parts.join("; ")
}

/// The `ENDPOINTS` section: a table of the endpoints not closed everywhere,
/// or a line saying there are none.
pub fn write(out: &mut dyn Write, endpoints: &[pb::EndpointHealth]) -> Result<(), Error> {
    output::write(out, "\nENDPOINTS")?;
    let mut t = Table::new(&["PROVIDER/ACCOUNT", "ROUTE", "MODEL", "OPEN", "HALF-OPEN", "WHY"]);
    for e in endpoints.iter().filter(|e| e.open > 0 || e.half_open > 0) {
        t.row(vec![
            format!("{}/{}", e.provider, e.account),
            e.route.clone(),
            e.upstream_model.clone(),
            format!("{}/{}", e.open, e.nodes),
            e.half_open.to_string(),
            why(e),
        ]);
    }
    let empty = match endpoints.len() {
        0 => "no live node has reported breaker state yet".to_owned(),
        1 => "the one reported endpoint is closed on every node".to_owned(),
        n => format!("all {n} reported endpoints are closed on every node"),
    };
    output::table(out, &t, &empty)
}
