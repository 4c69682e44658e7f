//! GitOps: `Apply` a gateway.yaml document (with its plan; dry runs and
//! pruning) and `Export` the store as one.

use super::plan::plan;
use super::{AdminService, Caller, status};
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::pb;
use tonic::Status;

pub async fn apply(svc: &AdminService, caller: &Caller, request: pb::ApplyRequest) -> Result<pb::Plan, Status> {
    let planned = plan_apply(svc, caller, &request).await;
    if request.dry_run {
        // A dry run writes no Config, so nothing else records who looked at what.
        let outcome = match &planned {
            Ok(plan) => {
                serde_json::json!({"outcome": "planned", "changes": plan.changes.len(), "prune": request.prune})
            }
            Err(status) => serde_json::json!({"outcome": "refused", "code": format!("{:?}", status.code())}),
        };
        svc.store
            .audit_event(&caller.name, "apply.dry_run", "document", "apply", Some(outcome))
            .await
            .map_err(status)?;
    }
    planned
}

async fn plan_apply(svc: &AdminService, caller: &Caller, request: &pb::ApplyRequest) -> Result<pb::Plan, Status> {
    // The client resolved `${env:...}` and `${file:...}`: the control plane never reads
    // its own environment or files for a caller (a viewer could read the master key).
    let declared = document::parse(&request.document, &Resolver::refusing())
        .map_err(|errors| Status::invalid_argument(format!("document: {errors}")))?;
    let (written, managed) =
        svc.store.apply(declared.clone(), &caller.name, request.prune, request.dry_run).await.map_err(status)?;
    let changes = plan(&written.before, &written.after, &declared, &managed, request.prune);
    let applied = !request.dry_run && written.before != written.after;
    if applied {
        svc.published(written.revision).await?;
    }
    let warnings = switchyard_proto::model::inert_settings(&declared);
    Ok(pb::Plan { changes, applied, config_version: written.revision, warnings })
}

pub async fn export(svc: &AdminService) -> Result<pb::ExportResponse, Status> {
    let (config_version, config) = svc.store.load().await.map_err(status)?;
    Ok(pb::ExportResponse { document: document::emit(&config), config_version })
}
