//! Starting and stopping a data plane in-process: the binary and the tests
//! share this, so tests run the real thing on ephemeral ports.

use crate::breaker::events::Transitions;
use crate::cache::{Cache, CacheError};
use crate::control::{self, ControlPlaneOptions};
use crate::cp_client;
use crate::error::ProxyError;
use crate::server::{self, ConnLimits};
use crate::source::{self, LoadError};
use crate::state::Shared;
use crate::telemetry::{self, Link, Reporter, queue::Queue};
use crate::tls::{self, Port, ServerTls, TlsOptions};
use crate::usage::{self, Usage, UsageSink};
use arc_swap::ArcSwapOption;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use switchyard_proto::listen::{self, Connections, Listener};
use switchyard_proto::ops_token::OpsToken;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// `None`: no admin listener.
    pub admin_listen: Option<SocketAddr>,
    /// `--ops-token-file`: the bearer token the admin listener's `/status` and
    /// `/metrics` require; `None`: open to whoever reaches the listener.
    pub ops_token: Option<OpsToken>,
    /// Where the config comes from.
    pub source: Source,
    /// Open requests and streams get this long to finish on shutdown.
    pub grace: Duration,
    /// Clients must send request headers within this.
    pub header_timeout: Duration,
    /// Clients must send a buffered request body within this.
    pub body_timeout: Duration,
    /// Usage accounting.
    pub usage: UsageOptions,
    /// The listeners' connection bounds and first-bytes deadline.
    pub connections: ConnectionOptions,
    /// TLS on `listen` and on `admin_listen` (when there is one); plain by default.
    pub tls: TlsOptions,
}

/// What the listeners admit.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Open connections on `listen` at most (`--max-connections`).
    pub max: usize,
    /// Open connections on `admin_listen` at most (`--admin-max-connections`).
    pub admin_max: usize,
    /// A connection must send its first bytes within this (`--first-byte-timeout`).
    pub first_byte_timeout: Duration,
}

impl Default for ConnectionOptions {
    /// `max` from the descriptor limit: each client connection may hold an
    /// upstream one, and the admin listener keeps its own.
    fn default() -> Self {
        let admin_max = listen::DEFAULT_ADMIN_MAX_CONNECTIONS;
        Self {
            max: listen::derived_max_connections(2, admin_max as u64),
            admin_max,
            first_byte_timeout: listen::DEFAULT_FIRST_BYTE_TIMEOUT,
        }
    }
}

/// Usage accounting: on or off, the channel's size, and where records go
/// besides the local totals (`switchyard_tokens_total`, `/status`).
#[derive(Debug, Clone)]
pub struct UsageOptions {
    pub mode: usage::Mode,
    /// Records the channel holds before they are dropped (and counted).
    pub capacity: usize,
    /// Each gets every record, in batches, from the sink task.
    pub sinks: Vec<Arc<dyn UsageSink>>,
}

impl Default for UsageOptions {
    fn default() -> Self {
        Self { mode: usage::Mode::On, capacity: usage::DEFAULT_CAPACITY, sinks: Vec::new() }
    }
}

#[derive(Debug, Clone)]
// Built once at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Source {
    /// gateway.yaml on disk, hot-reloaded (standalone mode).
    File(PathBuf),
    /// Subscribed from the control plane, with a last-known-good cache.
    ControlPlane(ControlPlaneOptions),
}

impl Options {
    /// Standalone on a gateway.yaml.
    pub fn new(listen: SocketAddr, config: PathBuf) -> Self {
        Self::with_source(listen, Source::File(config))
    }

    pub fn with_source(listen: SocketAddr, source: Source) -> Self {
        Self {
            listen,
            admin_listen: None,
            ops_token: None,
            source,
            grace: Duration::from_secs(30),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            usage: UsageOptions::default(),
            connections: ConnectionOptions::default(),
            tls: TlsOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot watch the config file: {0}")]
    Watch(#[from] notify::Error),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Tls(#[from] cp_client::TlsError),
    #[error(transparent)]
    Insecure(#[from] cp_client::InsecureUrl),
    #[error(transparent)]
    ListenerTls(#[from] tls::TlsError),
}

pub struct DataPlane;

impl DataPlane {
    /// Loads the config (refusing to start on an invalid one), binds, and serves.
    pub async fn start(options: Options) -> Result<Handle, StartError> {
        if let Source::ControlPlane(cp) = &options.source {
            cp_client::check_cleartext(&cp.urls, cp.allow_insecure)?;
        }
        let (usage, records) = Usage::new(options.usage.mode, options.usage.capacity);
        let usage = Arc::new(usage);
        let mut shared = Shared::new(Arc::new(ArcSwapOption::empty()), options.body_timeout, usage.clone());
        let api_connections = Connections::new("api", options.connections.max);
        let admin_connections = Connections::new("admin", options.connections.admin_max);
        shared.connections.push(api_connections.clone());
        if options.admin_listen.is_some() {
            shared.connections.push(admin_connections.clone());
        }
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        // Read and checked before any port is bound; then re-read while serving.
        let mut listener_tls = |port, files: &Option<tls::TlsFiles>| -> Result<_, StartError> {
            let Some(files) = files else { return Ok(None) };
            let (tls, watcher) = ServerTls::start(port, files.clone(), &options.tls, stopped.clone())?;
            tasks.push(watcher);
            shared.tls.push(tls.clone());
            Ok(Some(tls))
        };
        let api_tls = listener_tls(Port::Api, &options.tls.api)?;
        let admin_tls = match options.admin_listen {
            Some(_) => listener_tls(Port::Admin, &options.tls.admin)?,
            None => None,
        };
        // Control-plane mode reports breaker transitions and queues telemetry.
        let reporting = match &options.source {
            Source::ControlPlane(cp) => {
                let transitions = Arc::new(Transitions::default());
                let queue = Arc::new(Queue::new(cp.telemetry.max_bytes));
                shared.transitions = Some(transitions.clone());
                shared.telemetry = Some(queue.clone());
                Some((cp, transitions, queue))
            }
            Source::File(_) => None,
        };
        let shared = Arc::new(shared);
        let mut sinks = options.usage.sinks.clone();
        if let Source::File(path) = &options.source {
            source::reload(path, &shared)?;
        }
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })
        };
        let listener = bind(options.listen).await?;
        let admin = match options.admin_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let limits = ConnLimits { header_timeout: options.header_timeout, grace: options.grace };
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: options.listen, source })?;
        let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
        let first_byte_timeout = options.connections.first_byte_timeout;
        let listener = Listener::new(listener, api_connections, first_byte_timeout)
            .nodelay()
            .refuse_with(listen::http_refusal("application/json", &ProxyError::TooManyConnections.body_json()));
        let admin = admin.map(|admin| {
            Listener::new(admin, admin_connections, first_byte_timeout)
                .nodelay()
                .refuse_with(listen::http_refusal("text/plain", "too many connections\n"))
        });

        let mut telemetry = None;
        match reporting {
            Some((cp, transitions, queue)) => {
                // Unconfirmed until a control plane answers.
                shared.mark_stale();
                let tls = cp_client::client_tls(&cp.urls, &cp.tls)?;
                let cache = Cache::new(&cp.cache_dir, &cp.token)?;
                control::restore(&shared, &cache);
                let reporter =
                    Reporter::open(cp.node.id.clone(), &cp.cache_dir, shared.clone(), transitions, queue).await;
                // The config stream announces the boot the telemetry comes from.
                let mut subscription = cp.clone();
                subscription.node.boot_id = reporter.boot_id().to_owned();
                tasks.push(tokio::spawn(control::run(
                    subscription,
                    tls.clone(),
                    shared.clone(),
                    cache,
                    stopped.clone(),
                )));
                sinks.push(reporter.clone());
                // Stopped only after the last records reached it (see `Handle::wait`).
                let (stop_telemetry, telemetry_stopped) = watch::channel(false);
                let link = Link { urls: cp.urls.clone(), token: cp.token.clone(), tls };
                let task = tokio::spawn(reporter.clone().run(link, cp.telemetry.clone(), telemetry_stopped));
                telemetry = Some(Telemetry { reporter, task, stop: stop_telemetry });
            }
            None => {
                if let Source::File(path) = &options.source {
                    tasks.push(source::spawn_watcher(path.clone(), shared.clone(), stopped.clone())?);
                }
            }
        }
        tasks.push(crate::health::spawn(shared.clone(), stopped.clone()));
        let s = shared.clone();
        tasks.push(tokio::spawn(server::serve(
            listener,
            api_tls,
            move |req| crate::proxy::handle(s.clone(), req),
            stopped.clone(),
            limits,
        )));
        if let Some(admin) = admin {
            let (s, ops) = (shared.clone(), options.ops_token.clone().map(Arc::new));
            tasks.push(tokio::spawn(server::serve(
                admin,
                admin_tls,
                move |req| crate::admin::handle(s.clone(), ops.clone(), req),
                stopped,
                limits,
            )));
        }
        let (close_usage, usage_closed) = watch::channel(false);
        let sink = records.map(|rx| tokio::spawn(usage::sink::run(usage, rx, sinks, usage_closed)));
        tracing::info!(
            %addr,
            admin = ?admin_addr,
            tls = options.tls.api.is_some(),
            admin_tls = admin_addr.is_some() && options.tls.admin.is_some(),
            ops_token = options.ops_token.is_some(),
            max_connections = options.connections.max,
            admin_max_connections = options.connections.admin_max,
            "switchyard-proxy serving"
        );
        let grace = options.grace;
        Ok(Handle { addr, admin_addr, shared, stop, tasks, grace, close_usage, sink, telemetry })
    }
}

/// A running data plane.
pub struct Handle {
    pub addr: SocketAddr,
    pub admin_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Streams whose client left, drained for their usage, get this long after the listeners stopped.
    grace: Duration,
    /// Closes the usage channel once the listeners have drained.
    close_usage: watch::Sender<bool>,
    sink: Option<JoinHandle<()>>,
    /// The telemetry reporter (control-plane mode): flushed after the sink task.
    telemetry: Option<Telemetry>,
}

struct Telemetry {
    reporter: Arc<Reporter>,
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

/// How long shutdown waits for the sink task to deliver the last records.
const SINK_FLUSH: Duration = Duration::from_secs(5);

impl Handle {
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Readiness goes false and listeners stop accepting; open requests go on.
    pub fn begin_shutdown(&self) {
        self.shared.draining.store(true, Relaxed);
        let _ = self.stop.send(true);
    }

    /// Shuts down and waits for open requests (up to the grace period).
    pub async fn shutdown(self) {
        self.begin_shutdown();
        self.wait().await;
    }

    /// The telemetry reporter, in control-plane mode.
    pub fn reporter(&self) -> Option<&Arc<Reporter>> {
        self.telemetry.as_ref().map(|t| &t.reporter)
    }

    /// Waits until every listener has drained, then for the last usage
    /// records to reach the sinks, then for the telemetry to be acked (or
    /// spooled for the next start).
    pub async fn wait(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        // Streams whose client left may still be read for their usage (`on_disconnect: drain`,
        // bounded in time): each holds an in-flight count until its record is made.
        let inflight = &self.shared.metrics.inflight;
        let drained = tokio::time::timeout(self.grace, async {
            while inflight.load(Relaxed) > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                inflight = inflight.load(Relaxed),
                "streams still being drained at shutdown; their usage records may be lost"
            );
        }
        let _ = self.close_usage.send(true);
        if let Some(sink) = self.sink
            && tokio::time::timeout(SINK_FLUSH, sink).await.is_err()
        {
            tracing::warn!("usage sink did not finish within {SINK_FLUSH:?}");
        }
        if let Some(t) = self.telemetry {
            t.reporter.flush(telemetry::FLUSH_TIMEOUT).await;
            let _ = t.stop.send(true);
            let _ = t.task.await;
        }
    }
}
