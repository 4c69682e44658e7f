//! Starting the control plane in-process (the binary and the tests share it).

use crate::crypto::{CryptoError, MasterKey};
use crate::store::{ANY_NODE, Role, Store, StoreError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use switchyard_proto::document;
use switchyard_proto::model::ConfigErrors;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Options {
    /// `sqlite://PATH` or `postgres://...`
    pub database: String,
    pub http_listen: SocketAddr,
    /// 64 hex chars.
    pub master_key: String,
    /// A gateway.yaml applied at start (creates and updates, never deletes).
    pub bootstrap: Option<PathBuf>,
    /// The bootstrap admin token (role admin, named `bootstrap`).
    pub admin_token: Option<String>,
    /// The bootstrap node token (any node id, named `bootstrap`).
    pub node_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    MasterKey(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--bootstrap {path}:\n{errors}")]
    Bootstrap { path: String, errors: ConfigErrors },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct ControlPlane;

impl ControlPlane {
    pub async fn start(options: Options) -> Result<Handle, StartError> {
        let key = MasterKey::from_hex(&options.master_key)?;
        let store = Arc::new(Store::open(&options.database, key).await?);
        if let Some(path) = &options.bootstrap {
            // The same file on every replica gives the same store: the write is a no-op when nothing differs.
            let fail = |errors| StartError::Bootstrap { path: path.display().to_string(), errors };
            let config = document::load_file(path).map_err(fail)?;
            let revision = store.apply_document(config, "bootstrap", "bootstrap").await?;
            tracing::info!(revision, path = %path.display(), "bootstrap applied");
        }
        if let Some(token) = &options.admin_token {
            store.put_admin_token("bootstrap", Role::Admin, token).await?;
        }
        if let Some(token) = &options.node_token {
            store.put_node_token("bootstrap", ANY_NODE, token, "bootstrap node token (--node-token-file)").await?;
        }
        let listener = tokio::net::TcpListener::bind(options.http_listen)
            .await
            .map_err(|source| StartError::Bind { addr: options.http_listen, source })?;
        let http_addr =
            listener.local_addr().map_err(|source| StartError::Bind { addr: options.http_listen, source })?;
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![tokio::spawn(crate::http::serve(listener, store.clone(), stopped))];
        tracing::info!(%http_addr, backend = ?store.backend(), "switchyard-control started");
        Ok(Handle { http_addr, store, stop, tasks })
    }
}

pub struct Handle {
    pub http_addr: SocketAddr,
    pub store: Arc<Store>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Handle {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.store.close().await;
    }
}
