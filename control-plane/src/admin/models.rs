//! `ListProviderModels`: what model discovery last read for a provider.

use super::{AdminService, status};
use crate::error::required;
use switchyard_proto::pb;
use tonic::Status;

pub async fn list(svc: &AdminService, r: pb::ObjectRef) -> Result<pb::ProviderModels, Status> {
    if r.name.is_empty() {
        return Err(required("name"));
    }
    let (_, config) = svc.store.load().await.map_err(status)?;
    if config.provider(&r.name).is_none() {
        return Err(Status::not_found(format!("provider {:?} does not exist", r.name)));
    }
    let found = svc.store.provider_models(&r.name).await.map_err(status)?;
    Ok(pb::ProviderModels {
        provider: r.name,
        models: found.models.into_iter().collect(),
        fetched_at_ms: found.fetched_at_ms,
        checked_at_ms: found.checked_at_ms,
        error: found.error.unwrap_or_default(),
    })
}
