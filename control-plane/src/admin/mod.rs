//! `Admin`: everything `syctl` does, over gRPC. Every call carries an admin
//! token (`Authorization: Bearer`); viewers read, admins also write. Reads
//! never return secrets, to anyone: they come back as `${redacted:FP}`
//! markers. Store errors become gRPC statuses here, in one place.

mod alerts;
mod balances;
mod fleet;
mod gitops;
mod models;
mod objects;
mod plan;
mod probe;
mod tokens;
mod usage;

use crate::alert::Alerts;
pub use crate::auth::Caller;
use crate::auth::identity;
pub(crate) use crate::error::store_status as status;
use crate::nodes::Nodes;
use crate::snapshot::Publisher;
use crate::store::Store;
use std::sync::Arc;
use switchyard_proto::pb::admin_server::Admin;
use switchyard_proto::pb::{self, Settings};
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub nodes: Arc<Nodes>,
    pub alerts: Alerts,
}

impl AdminService {
    /// The caller the auth layer admitted.
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        identity::<Caller, T>(request)
    }

    /// A caller allowed to write.
    fn writer<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.caller(request)?.writer()
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

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Admin for AdminService {
    async fn apply(&self, r: Request<pb::ApplyRequest>) -> Reply<pb::Plan> {
        let caller = if r.get_ref().dry_run { self.caller(&r)? } else { self.writer(&r)? };
        gitops::apply(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn export(&self, r: Request<pb::ExportRequest>) -> Reply<pb::ExportResponse> {
        self.caller(&r)?;
        gitops::export(self).await.map(Response::new)
    }

    async fn list_providers(&self, r: Request<pb::ListRequest>) -> Reply<pb::ProviderList> {
        self.caller(&r)?;
        objects::list_providers(self).await.map(Response::new)
    }

    async fn put_provider(&self, r: Request<pb::PutProviderRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::put_provider(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_provider(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::delete(self, &caller, pb::ObjectKind::Provider, r.into_inner()).await.map(Response::new)
    }

    async fn put_account(&self, r: Request<pb::PutAccountRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::put_account(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_account(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::delete(self, &caller, pb::ObjectKind::Account, r.into_inner()).await.map(Response::new)
    }

    async fn list_routes(&self, r: Request<pb::ListRequest>) -> Reply<pb::RouteList> {
        self.caller(&r)?;
        objects::list_routes(self).await.map(Response::new)
    }

    async fn put_route(&self, r: Request<pb::PutRouteRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::put_route(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_route(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::delete(self, &caller, pb::ObjectKind::Route, r.into_inner()).await.map(Response::new)
    }

    async fn list_keys(&self, r: Request<pb::ListRequest>) -> Reply<pb::KeyList> {
        self.caller(&r)?;
        objects::list_keys(self).await.map(Response::new)
    }

    async fn create_key(&self, r: Request<pb::CreateKeyRequest>) -> Reply<pb::CreateKeyResponse> {
        let caller = self.writer(&r)?;
        objects::create_key(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn put_key(&self, r: Request<pb::PutKeyRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::put_key(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn delete_key(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::delete(self, &caller, pb::ObjectKind::Key, r.into_inner()).await.map(Response::new)
    }

    async fn set_enabled(&self, r: Request<pb::SetEnabledRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::set_enabled(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn get_settings(&self, r: Request<pb::GetSettingsRequest>) -> Reply<Settings> {
        self.caller(&r)?;
        objects::get_settings(self).await.map(Response::new)
    }

    async fn put_settings(&self, r: Request<Settings>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        objects::put_settings(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn set_balance(&self, r: Request<pb::SetBalanceRequest>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        fleet::set_balance(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn list_balances(&self, r: Request<pb::BalanceQuery>) -> Reply<pb::BalanceList> {
        self.caller(&r)?;
        balances::list(self, r.into_inner()).await.map(Response::new)
    }

    async fn fleet_status(&self, r: Request<pb::FleetStatusRequest>) -> Reply<pb::FleetStatusResponse> {
        self.caller(&r)?;
        fleet::status(self).await.map(Response::new)
    }

    async fn query_usage(&self, r: Request<pb::UsageQuery>) -> Reply<pb::UsageReport> {
        self.caller(&r)?;
        usage::query(self, r.into_inner()).await.map(Response::new)
    }

    async fn list_audit(&self, r: Request<pb::AuditQuery>) -> Reply<pb::AuditList> {
        self.caller(&r)?;
        fleet::audit(self, r.into_inner()).await.map(Response::new)
    }

    async fn test_provider(&self, r: Request<pb::ObjectRef>) -> Reply<pb::ProviderTestResult> {
        self.writer(&r)?;
        probe::test_provider(self, r.into_inner()).await.map(Response::new)
    }

    async fn list_provider_models(&self, r: Request<pb::ObjectRef>) -> Reply<pb::ProviderModels> {
        self.caller(&r)?;
        models::list(self, r.into_inner()).await.map(Response::new)
    }

    async fn test_alert(&self, r: Request<pb::AlertTestRequest>) -> Reply<pb::AlertTestResult> {
        self.writer(&r)?;
        alerts::test(self, r.into_inner()).await.map(Response::new)
    }

    async fn list_alerts(&self, r: Request<pb::ListRequest>) -> Reply<pb::AlertList> {
        self.caller(&r)?;
        alerts::list(self).await.map(Response::new)
    }

    async fn create_node_token(&self, r: Request<pb::CreateNodeTokenRequest>) -> Reply<pb::CreatedToken> {
        let caller = self.writer(&r)?;
        tokens::create_node_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn list_node_tokens(&self, r: Request<pb::ListRequest>) -> Reply<pb::TokenList> {
        self.caller(&r)?;
        tokens::list_node_tokens(self).await.map(Response::new)
    }

    async fn revoke_node_token(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        tokens::revoke_node_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn create_admin_token(&self, r: Request<pb::CreateAdminTokenRequest>) -> Reply<pb::CreatedToken> {
        let caller = self.writer(&r)?;
        tokens::create_admin_token(self, &caller, r.into_inner()).await.map(Response::new)
    }

    async fn list_admin_tokens(&self, r: Request<pb::ListRequest>) -> Reply<pb::TokenList> {
        self.caller(&r)?;
        tokens::list_admin_tokens(self).await.map(Response::new)
    }

    async fn revoke_admin_token(&self, r: Request<pb::ObjectRef>) -> Reply<pb::WriteResult> {
        let caller = self.writer(&r)?;
        tokens::revoke_admin_token(self, &caller, r.into_inner()).await.map(Response::new)
    }
}
