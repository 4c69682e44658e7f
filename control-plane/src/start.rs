//! Starting the control plane in-process (the binary and the tests share it).

use crate::admin::AdminService;
use crate::alert::{Alerts, Trigger};
use crate::auth::AuthLayer;
use crate::crypto::{CryptoError, MasterKey};
use crate::discovery::Discovery;
use crate::nodes::Nodes;
use crate::snapshot::Publisher;
use crate::store::{ANY_NODE, Backend, CHANNEL, Role, Store, StoreError};
use crate::telemetry::{self, Counters, TelemetryService};
use crate::tls::{self, TlsError, TlsFiles};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::document;
use switchyard_proto::listen::{self, Connections, Listener};
use switchyard_proto::model::ConfigErrors;
use switchyard_proto::ops_token::OpsToken;
use switchyard_proto::pb::admin_server::AdminServer;
use switchyard_proto::pb::config_discovery_server::ConfigDiscoveryServer;
use switchyard_proto::pb::telemetry_server::TelemetryServer;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Options {
    /// `sqlite://PATH` or `postgres://...`
    pub database: String,
    pub http_listen: SocketAddr,
    /// ConfigDiscovery, Telemetry and Admin.
    pub grpc_listen: SocketAddr,
    /// 64 hex chars.
    pub master_key: String,
    /// A gateway.yaml applied at start (creates and updates, never deletes).
    pub bootstrap: Option<PathBuf>,
    /// The bootstrap admin token (role admin, named `bootstrap`).
    pub admin_token: Option<String>,
    /// The bootstrap node token (any node id, named `bootstrap`).
    pub node_token: Option<String>,
    /// `--ops-token-file`: the bearer token `http_listen`'s `/metrics` requires
    /// (`/healthz` stays open); `None`: open to whoever reaches the listener.
    pub ops_token: Option<OpsToken>,
    /// How often the snapshot is rebuilt from the store without a notification.
    pub poll_interval: Duration,
    /// gRPC over TLS (and mTLS with a client CA); `None`: plaintext h2c.
    pub tls: Option<TlsFiles>,
    /// The listeners' connection bounds and first-bytes deadline.
    pub connections: ConnectionOptions,
    /// How balance polls run (timeout, lease, concurrency).
    pub balance: crate::balance::Tuning,
    /// How model discovery runs (its interval; zero turns it off).
    pub discovery: crate::catalog::Tuning,
}

/// What the listeners admit.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Open connections on `grpc_listen` at most (`--max-connections`).
    pub max: usize,
    /// Open connections on `http_listen` at most (`--http-max-connections`).
    pub http_max: usize,
    /// A connection must send its first bytes within this (`--first-byte-timeout`).
    pub first_byte_timeout: Duration,
}

impl Default for ConnectionOptions {
    /// `max` from the descriptor limit, leaving the http listener its own.
    fn default() -> Self {
        let http_max = listen::DEFAULT_ADMIN_MAX_CONNECTIONS;
        Self {
            max: listen::derived_max_connections(1, http_max as u64),
            http_max,
            first_byte_timeout: listen::DEFAULT_FIRST_BYTE_TIMEOUT,
        }
    }
}

/// The master key and the tokens never appear in Debug output.
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<none>" };
        f.debug_struct("Options")
            .field("database", &redact_url(&self.database))
            .field("http_listen", &self.http_listen)
            .field("grpc_listen", &self.grpc_listen)
            .field("master_key", &"<redacted>")
            .field("bootstrap", &self.bootstrap)
            .field("admin_token", &redacted(self.admin_token.is_some()))
            .field("node_token", &redacted(self.node_token.is_some()))
            .field("ops_token", &redacted(self.ops_token.is_some()))
            .field("poll_interval", &self.poll_interval)
            .field("tls", &self.tls)
            .field("balance", &self.balance)
            .field("discovery", &self.discovery)
            .finish()
    }
}

/// A database URL without its password (`postgres://user:secret@host/db`).
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://<redacted>@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The secrets in the options are wiped from memory once used (the ops token wipes itself).
impl Drop for Options {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.master_key.zeroize();
        self.admin_token.zeroize();
        self.node_token.zeroize();
    }
}

impl Options {
    /// Defaults for everything but the database and the master key.
    pub fn new(database: impl Into<String>, master_key: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 9091)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            master_key: master_key.into(),
            bootstrap: None,
            admin_token: None,
            node_token: None,
            ops_token: None,
            poll_interval: POLL,
            tls: None,
            connections: ConnectionOptions::default(),
            balance: Default::default(),
            discovery: Default::default(),
        }
    }
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
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Alerts(#[from] crate::alert::AlertsError),
}

pub struct ControlPlane;

impl ControlPlane {
    pub async fn start(options: Options) -> Result<Handle, StartError> {
        let key = MasterKey::from_hex(&options.master_key)?;
        let tls = options.tls.as_ref().map(tls::server_config).transpose()?;
        let store = Arc::new(Store::open(&options.database, key).await?);
        if let Some(path) = &options.bootstrap {
            // The same file on every replica gives the same store: the write is a no-op when nothing differs.
            let fail = |errors| StartError::Bootstrap { path: path.display().to_string(), errors };
            let config = document::load_file(path).map_err(fail)?;
            let revision = store.apply_document(config, "bootstrap", "bootstrap").await?;
            tracing::info!(revision, path = %path.display(), "bootstrap applied");
        }
        if let Some(token) = &options.admin_token
            && !store.put_admin_token("bootstrap", Role::Admin, token).await?
        {
            tracing::warn!(
                "the bootstrap admin token (--admin-token-file) was revoked and stays revoked; a new token in the file replaces it"
            );
        }
        if let Some(token) = &options.node_token
            && !store.put_node_token("bootstrap", ANY_NODE, token, "bootstrap node token (--node-token-file)").await?
        {
            tracing::warn!(
                "the bootstrap node token (--node-token-file) was revoked and stays revoked; a new token in the file replaces it"
            );
        }
        let publisher = Publisher::new(store.clone()).await?;
        let nodes = Arc::new(Nodes::default());
        let bind = |addr: SocketAddr| async move {
            let listener =
                tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
            let local = listener.local_addr().map_err(|source| StartError::Bind { addr, source })?;
            Ok::<_, StartError>((listener, local))
        };
        let (http, http_addr) = bind(options.http_listen).await?;
        let (grpc, grpc_addr) = bind(options.grpc_listen).await?;
        let limits = &options.connections;
        let grpc_connections = Connections::new("grpc", limits.max);
        let http_connections = Connections::new("http", limits.http_max);
        // gRPC clients over the bound are closed at once; HTTP ones get a 503 first.
        let grpc = Listener::new(grpc, grpc_connections.clone(), limits.first_byte_timeout);
        let http = Listener::new(http, http_connections.clone(), limits.first_byte_timeout)
            .refuse_with(listen::http_refusal("text/plain", "too many connections\n"));
        let (stop, stopped) = watch::channel(false);
        let discovery = Discovery {
            store: store.clone(),
            publisher: publisher.clone(),
            nodes: nodes.clone(),
            stop: stopped.clone(),
        };
        let counters = Arc::new(Counters::default());
        let runtime_due = Arc::new(Notify::new());
        let alerts = Alerts::new()?;
        let telemetry = TelemetryService::new(
            store.clone(),
            publisher.clone(),
            counters.clone(),
            runtime_due.clone(),
            alerts.trigger(),
            stopped.clone(),
        );
        let metrics = crate::http::Sources {
            store: store.clone(),
            publisher: publisher.clone(),
            nodes: nodes.clone(),
            telemetry: counters.clone(),
            connections: vec![grpc_connections, http_connections],
            alerts: alerts.metrics(),
        };
        let mut tasks =
            vec![tokio::spawn(crate::http::serve(http, metrics, options.ops_token.clone(), stopped.clone()))];
        let transport = match &options.tls {
            None => "h2c",
            Some(TlsFiles { client_ca: None, .. }) => "tls",
            Some(TlsFiles { client_ca: Some(_), .. }) => "mtls",
        };
        let admin = AdminService {
            store: store.clone(),
            publisher: publisher.clone(),
            nodes: nodes.clone(),
            alerts: alerts.clone(),
        };
        tasks.push(tokio::spawn(grpc_server(store.clone(), grpc, tls, discovery, telemetry, admin, stopped.clone())));
        if store.backend() == Backend::Postgres {
            tasks.push(tokio::spawn(listen(store.url().to_owned(), publisher.clone(), stopped.clone())));
        }
        tasks.push(tokio::spawn(crate::nodes::persist(
            nodes.clone(),
            store.clone(),
            publisher.clone(),
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(telemetry::publish_runtime(
            store.clone(),
            publisher.clone(),
            runtime_due,
            stopped.clone(),
        )));
        tasks.push(tokio::spawn(telemetry::retention(store.clone(), publisher.clone(), stopped.clone())));
        tasks.extend(alerts.spawn(store.clone(), publisher.clone(), stopped.clone()));
        tasks.push(tokio::spawn(poll(publisher.clone(), options.poll_interval, stopped.clone())));
        tasks.push(tokio::spawn(crate::catalog::run(
            store.clone(),
            publisher.clone(),
            options.discovery.clone(),
            stopped.clone(),
        )));
        let replica: Arc<str> = crate::balance::replica_id().into();
        tasks.push(crate::balance::spawn(
            store.clone(),
            publisher.clone(),
            options.balance.clone(),
            replica.clone(),
            {
                let alerts = alerts.trigger();
                Arc::new(move || alerts.notify())
            },
            stopped,
        ));
        tracing::info!(
            %http_addr,
            %grpc_addr,
            grpc = transport,
            backend = ?store.backend(),
            max_connections = limits.max,
            http_max_connections = limits.http_max,
            "switchyard-control started"
        );
        let alerts = alerts.trigger();
        Ok(Handle { http_addr, grpc_addr, store, publisher, nodes, telemetry: counters, replica, alerts, stop, tasks })
    }
}

pub struct Handle {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub store: Arc<Store>,
    pub publisher: Arc<Publisher>,
    pub nodes: Arc<Nodes>,
    /// Telemetry counters (what `/metrics` shows).
    pub telemetry: Arc<Counters>,
    /// This replica's id (the owner of its balance poll leases).
    pub replica: Arc<str>,
    /// Asks the alert evaluator for a pass soon.
    pub alerts: Trigger,
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

/// Snapshots may carry tens of thousands of keys: well past gRPC's 4 MiB default.
const MAX_SNAPSHOT: usize = 64 << 20;
/// What a node sends on its config stream (hello, ACKs, NACKs with their reason) is small.
const MAX_NODE_REQUEST: usize = 1 << 20;
/// An Admin call: at most a gateway.yaml document and its envelope. Also the
/// bound on a message's size after decompression (tonic applies it to both).
const MAX_ADMIN_REQUEST: usize = document::MAX_DOCUMENT_BYTES + (64 << 10);
/// Safety net for changes made by another replica or directly in the database.
const POLL: Duration = Duration::from_secs(2);

/// Calls open at once on one connection (a node uses two; syctl one).
const MAX_STREAMS_PER_CONNECTION: u32 = 128;

async fn grpc_server(
    store: Arc<Store>,
    listener: Listener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    discovery: Discovery,
    reports: TelemetryService,
    admin: AdminService,
    mut stop: watch::Receiver<bool>,
) {
    // Large snapshots arrive packed (gzip once per revision, see `switchyard_proto::packed`):
    // compressing each stream's copy again would cost CPU per node for nothing.
    let service = ConfigDiscoveryServer::new(discovery)
        .max_decoding_message_size(MAX_NODE_REQUEST)
        .max_encoding_message_size(MAX_SNAPSHOT)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        // Checked at start (`tls::server_config`): this does not fail.
        server = match server.tls_config(tls) {
            Ok(server) => server,
            Err(e) => {
                tracing::error!(error = %e, "gRPC TLS configuration refused");
                return;
            }
        };
    }
    let served = server
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_connection_age(Duration::from_secs(30 * 60))
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        // Tokens are checked from the headers, before any body is read or decompressed.
        .layer(AuthLayer::new(store))
        .add_service(service)
        .add_service(
            TelemetryServer::new(reports)
                .max_decoding_message_size(telemetry::MAX_MESSAGE)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
        )
        .add_service(
            AdminServer::new(admin)
                .max_decoding_message_size(MAX_ADMIN_REQUEST)
                .max_encoding_message_size(MAX_SNAPSHOT)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .send_compressed(tonic::codec::CompressionEncoding::Gzip),
        )
        .serve_with_incoming_shutdown(listener.incoming(), async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "gRPC server failed");
    }
}

async fn poll(publisher: Arc<Publisher>, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = publisher.refresh().await {
            tracing::warn!(error = %e, "snapshot refresh failed");
        }
    }
}

/// PostgreSQL: every replica rebuilds its snapshot when any replica writes.
async fn listen(url: String, publisher: Arc<Publisher>, mut stop: watch::Receiver<bool>) {
    loop {
        let session = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            // Changes made while not listening.
            let _ = publisher.refresh().await;
            loop {
                listener.recv().await?;
                if let Err(e) = publisher.refresh().await {
                    tracing::warn!(error = %e, "snapshot refresh failed");
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = session => if let Err(e) = result {
                tracing::warn!(error = %e, "store notifications lost; reconnecting (polling meanwhile)");
            },
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let mut options = Options::new("postgres://cp:db-password-1@db.internal/switchyard", key);
        options.admin_token = Some("admin-token-secret-0123".into());
        options.node_token = Some("node-token-secret-0123".into());
        let shown = format!("{options:?}");
        for secret in [key, "db-password-1", "admin-token-secret", "node-token-secret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("db.internal/switchyard"), "{shown}");
    }
}
