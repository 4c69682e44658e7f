//! `Admin`: everything `syctl` does, over gRPC. Every call carries an admin
//! token (`Authorization: Bearer`); viewers read, admins also write. Reads
//! never return secrets, to anyone: they come back as `${redacted:FP}`
//! markers. Store errors become gRPC statuses here, in one place.

mod fleet;
mod gitops;
mod objects;
mod plan;
mod probe;
mod tokens;
mod usage;

use crate::discovery::bearer;
use crate::nodes::Nodes;
use crate::snapshot::Publisher;
use crate::store::{Role, Store, StoreError};
use std::sync::Arc;
use switchyard_proto::pb::admin_server::Admin;
use switchyard_proto::pb::{self, Settings};
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub nodes: Arc<Nodes>,
}

/// Who is calling: the admin token's name (the audit log's actor) and role.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl AdminService {
    async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let token = bearer(request)?;
        match self.store.admin_caller(&token).await.map_err(status)? {
            Some((name, role)) => Ok(Caller { name, role }),
            None => Err(Status::unauthenticated("unknown or revoked admin token")),
        }
    }

    /// A caller allowed to write.
    async fn writer<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = self.caller(request).await?;
        if caller.role != Role::Admin {
            return Err(Status::permission_denied(format!(
                "token {:?} has role viewer: it can read but not change anything",
                caller.name
            )));
        }
        Ok(caller)
    }

    /// Republishes after a write so connected nodes get it at once (other
    /// replicas learn of it by notification or polling).
    async fn published(&self, version: u64) -> Result<u64, Status> {
        if let Err(e) = self.publisher.refresh().await {
            tracing::warn!(error = %e, "snapshot refresh after a write failed; polling will catch up");
        }
        Ok(version)
    }
}

/// The gRPC status for a store error: the one place they are mapped.
pub fn status(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(errors) => Status::invalid_argument(errors.to_string()),
        StoreError::Refused(message) => Status::failed_precondition(message),
        StoreError::NotFound(message) => Status::not_found(message),
        StoreError::Exists(message) => Status::already_exists(message),
        StoreError::Db(e) => {
            tracing::error!(error = %e, "database error");
            Status::unavailable("the database is unavailable; try again")
        }
        e => {
            tracing::error!(error = %e, "admin call failed");
            Status::internal(e.to_string())
        }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Admin for AdminService {
    async fn apply(&self, r: Request<pb::ApplyRequest>) -> Reply<pb::Plan> {
        let caller = if r.get_ref().dry_run { self.caller(&r).await? } else { self.writer(&r).await? };
        gitops::apply(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn export(&self, r: Request<pb::ExportRequest>) -> Reply<pb::ExportResponse> {
        self.caller(&r).await?;
        gitops::export(self).await.map(Response::new)
    }

    async fn list_providers(&self, r: Request<pb::ListRequest>) -> Reply<pb::ProviderList> {
        self.caller(&r).await?;
        objects::list_providers(self).await.map(Response::new)
    }

    async fn put_provider(&self, r: Request<pb::PutProviderRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::put_provider(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_provider(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::delete(self, &caller, pb::ObjectKind::Provider, r.into_inner()).await.map(Response::new)
    }

    async fn put_account(&self, r: Request<pb::PutAccountRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::put_account(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_account(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::delete(self, &caller, pb::ObjectKind::Account, r.into_inner()).await.map(Response::new)
    }

    async fn list_routes(&self, r: Request<pb::ListRequest>) -> Reply<pb::RouteList> {
        self.caller(&r).await?;
        objects::list_routes(self).await.map(Response::new)
    }

    async fn put_route(&self, r: Request<pb::PutRouteRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::put_route(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_route(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::delete(self, &caller, pb::ObjectKind::Route, r.into_inner()).await.map(Response::new)
    }

    async fn list_keys(&self, r: Request<pb::ListRequest>) -> Reply<pb::KeyList> {
        self.caller(&r).await?;
        objects::list_keys(self).await.map(Response::new)
    }

    async fn create_key(&self, r: Request<pb::CreateKeyRequest>) -> Reply<pb::CreateKeyResponse> {
        let caller = self.writer(&r).await?;
        objects::create_key(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn put_key(&self, r: Request<pb::PutKeyRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::put_key(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_key(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::delete(self, &caller, pb::ObjectKind::Key, r.into_inner()).await.map(Response::new)
    }

    async fn set_enabled(&self, r: Request<pb::SetEnabledRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::set_enabled(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn get_settings(&self, r: Request<pb::GetSettingsRequest>) -> Reply<Settings> {
        self.caller(&r).await?;
        objects::get_settings(self).await.map(Response::new)
    }

    async fn put_settings(&self, r: Request<Settings>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        objects::put_settings(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn set_balance(&self, r: Request<pb::SetBalanceRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        fleet::set_balance(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn fleet_status(&self, r: Request<pb::FleetStatusRequest>) -> Reply<pb::FleetStatusResponse> {
        self.caller(&r).await?;
        fleet::status(self).await.map(Response::new)
    }

    async fn query_usage(&self, r: Request<pb::UsageQuery>) -> Reply<pb::UsageReport> {
        self.caller(&r).await?;
        usage::query(self, r.into_inner()).await.map(Response::new)
    }

    async fn list_audit(&self, r: Request<pb::AuditQuery>) -> Reply<pb::AuditList> {
        self.caller(&r).await?;
        fleet::audit(self, r.into_inner()).await.map(Response::new)
    }

    async fn test_provider(&self, r: Request<pb::ObjectRef>) -> Reply<pb::ProviderTestResult> {
        self.writer(&r).await?;
        probe::test_provider(self, r.into_inner()).await.map(Response::new)
    }

    async fn test_alert(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        self.writer(&r).await?;
        probe::test_alert(self, r.into_inner()).await.map(Response::new)
    }

    async fn create_node_token(&self, r: Request<pb::CreateNodeTokenRequest>) -> Reply<pb::CreatedToken> {
        let caller = self.writer(&r).await?;
        tokens::create_node_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn list_node_tokens(&self, r: Request<pb::ListRequest>) -> Reply<pb::TokenList> {
        self.caller(&r).await?;
        tokens::list_node_tokens(self).await.map(Response::new)
    }

    async fn revoke_node_token(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        tokens::revoke_node_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn create_admin_token(&self, r: Request<pb::CreateAdminTokenRequest>) -> Reply<pb::CreatedToken> {
        let caller = self.writer(&r).await?;
        tokens::create_admin_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn list_admin_tokens(&self, r: Request<pb::ListRequest>) -> Reply<pb::TokenList> {
        self.caller(&r).await?;
        tokens::list_admin_tokens(self).await.map(Response::new)
    }

    async fn revoke_admin_token(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r).await?;
        tokens::revoke_admin_token(self, &caller, r.into_inner()).await.map(Response::new)
    }
}
