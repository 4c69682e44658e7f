use clap::Parser;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchyard_proto::listen;
use switchyard_proto::ops_token::OpsToken;
use switchyard_proxy::cp_client::ControlPlaneTls;
use switchyard_proxy::telemetry::TelemetryOptions;
use switchyard_proxy::tls::TlsFiles;
use switchyard_proxy::{ControlPlaneOptions, DataPlane, Options, Source};

/// Switchyard data plane: an OpenAI-compatible LLM proxy.
#[derive(Parser, Debug)]
#[command(name = "switchyard-proxy", version)]
struct Args {
    /// gateway.yaml to serve from (standalone mode, hot-reloaded).
    #[arg(
        long,
        env = "SWITCHYARD_CONFIG",
        required_unless_present = "control_plane",
        conflicts_with = "control_plane"
    )]
    config: Option<PathBuf>,
    /// Control-plane URL(s), comma-separated (e.g. http://cp-1:50051,http://cp-2:50051).
    #[arg(long, env = "SWITCHYARD_CONTROL_PLANE", value_delimiter = ',', requires_all = ["token_file", "cache_dir"])]
    control_plane: Vec<String>,
    /// File holding this node's token.
    #[arg(long, env = "SWITCHYARD_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Where the last-known-good snapshot is kept (encrypted, mode 0600).
    #[arg(long, env = "SWITCHYARD_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// This node's id (default: the host name).
    #[arg(long, env = "SWITCHYARD_NODE_ID")]
    node_id: Option<String>,
    #[arg(long, env = "SWITCHYARD_REGION", default_value = "")]
    region: String,
    #[arg(long, env = "SWITCHYARD_ZONE", default_value = "")]
    zone: String,
    /// Trust this CA (PEM) for https:// control planes, besides the system's roots.
    #[arg(long, env = "SWITCHYARD_CONTROL_PLANE_CA", requires = "control_plane")]
    control_plane_ca: Option<PathBuf>,
    /// Present this client certificate (PEM) to https:// control planes (mTLS; with --client-key).
    #[arg(long, env = "SWITCHYARD_CLIENT_CERT", requires_all = ["control_plane", "client_key"])]
    client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "SWITCHYARD_CLIENT_KEY", requires_all = ["control_plane", "client_cert"])]
    client_key: Option<PathBuf>,
    /// Allow http:// control-plane URLs to hosts that are not loopback (node token and upstream keys in clear).
    #[arg(long, env = "SWITCHYARD_ALLOW_INSECURE_CONTROL_PLANE", requires = "control_plane")]
    allow_insecure_control_plane: bool,
    /// Validate --config, print `ok` or every error (one per line), exit 0 or 1.
    #[arg(long)]
    check: bool,
    /// Where OpenAI clients connect (HTTP/1.1 and h2c; HTTPS with --tls-cert).
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve --listen over TLS with this certificate chain (PEM, leaf first; with --tls-key).
    /// Re-read when it changes.
    #[arg(long, env = "SWITCHYARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SWITCHYARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve --admin-listen over TLS with this certificate chain (PEM; with --admin-tls-key).
    #[arg(long, env = "SWITCHYARD_ADMIN_TLS_CERT", requires = "admin_tls_key")]
    admin_tls_cert: Option<PathBuf>,
    /// The private key of --admin-tls-cert (PEM).
    #[arg(long, env = "SWITCHYARD_ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    admin_tls_key: Option<PathBuf>,
    /// How often the TLS certificate and key files are read again; a changed
    /// pair that checks out serves new connections (e.g. 10s, 1m).
    #[arg(long, env = "SWITCHYARD_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = listen::parse_positive_duration)]
    tls_reload_interval: Duration,
    /// A TLS handshake not done within this is dropped (e.g. 10s).
    #[arg(long, env = "SWITCHYARD_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = listen::parse_positive_duration)]
    tls_handshake_timeout: Duration,
    /// /metrics, /status, /healthz, /readyz.
    #[arg(long, env = "SWITCHYARD_ADMIN_LISTEN", default_value = "127.0.0.1:9901")]
    admin_listen: SocketAddr,
    /// File holding a token (16 or more characters) that /metrics and /status
    /// require as `Authorization: Bearer`; /healthz and /readyz stay open.
    #[arg(long, env = "SWITCHYARD_OPS_TOKEN_FILE")]
    ops_token_file: Option<PathBuf>,
    /// Open connections on --listen at most; past it new ones get a 503 and are closed
    /// (default: from the open-files limit, RLIMIT_NOFILE).
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", value_parser = listen::parse_max_connections)]
    max_connections: Option<usize>,
    /// Open connections on --admin-listen at most.
    #[arg(
        long,
        env = "SWITCHYARD_ADMIN_MAX_CONNECTIONS",
        default_value_t = listen::DEFAULT_ADMIN_MAX_CONNECTIONS,
        value_parser = listen::parse_max_connections
    )]
    admin_max_connections: usize,
    /// A connection that has not sent its first bytes (a request line, or the
    /// HTTP/2 preface) within this is closed (e.g. 10s, 500ms).
    #[arg(long, env = "SWITCHYARD_FIRST_BYTE_TIMEOUT", default_value = "10s", value_parser = listen::parse_first_byte_timeout)]
    first_byte_timeout: Duration,
    /// On SIGTERM, open requests and streams get this many seconds to finish.
    #[arg(long, env = "SWITCHYARD_GRACE_SECONDS", default_value_t = 30)]
    grace_seconds: u64,
    /// Runtime worker threads (default: one per core). 1 runs everything on one
    /// thread, which saves cross-thread wake-ups for small deployments.
    #[arg(long, env = "SWITCHYARD_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Where usage records go: `local` (switchyard_tokens_total, /status), or
    /// `none` (accounting off: no records, no usage injection; for measuring
    /// what accounting costs).
    #[arg(long, env = "SWITCHYARD_USAGE_SINK", default_value = "local", value_parser = ["local", "none"], hide = true)]
    usage_sink: String,
    /// Unacked telemetry (usage records, health events) kept in --cache-dir
    /// while no control plane acks it, at most this many MiB; past it the
    /// oldest is dropped and counted in switchyard_telemetry_dropped_total.
    #[arg(long, env = "SWITCHYARD_TELEMETRY_SPOOL_MB", default_value_t = 256)]
    telemetry_spool_mb: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        let Some(config) = &args.config else {
            eprintln!("--check needs --config");
            return ExitCode::FAILURE;
        };
        return check(config);
    }
    init_logging();
    let mut builder = match args.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchyard-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let source = match args.config {
        Some(path) => Source::File(path),
        None => {
            let token_file = args.token_file.ok_or_else(|| anyhow::anyhow!("--control-plane needs --token-file"))?;
            let token = std::fs::read_to_string(&token_file)
                .map_err(|e| anyhow::anyhow!("cannot read --token-file {}: {e}", token_file.display()))?;
            let cache_dir = args.cache_dir.ok_or_else(|| anyhow::anyhow!("--control-plane needs --cache-dir"))?;
            let id = match args.node_id {
                Some(id) => id,
                None => std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default(),
            };
            if id.is_empty() {
                anyhow::bail!("no node id: give --node-id");
            }
            let node = switchyard_proto::pb::Node {
                id,
                region: args.region,
                zone: args.zone,
                build_version: env!("CARGO_PKG_VERSION").to_owned(),
                // Set at start, with the telemetry's boot id.
                ..Default::default()
            };
            let tls = ControlPlaneTls { ca: args.control_plane_ca, cert: args.client_cert, key: args.client_key };
            Source::ControlPlane(ControlPlaneOptions {
                urls: args.control_plane,
                token,
                cache_dir,
                node,
                tls,
                telemetry: TelemetryOptions { max_bytes: args.telemetry_spool_mb << 20, ..TelemetryOptions::default() },
                allow_insecure: args.allow_insecure_control_plane,
            })
        }
    };
    let mut options = Options::with_source(args.listen, source);
    if args.usage_sink == "none" {
        options.usage.mode = switchyard_proxy::usage::Mode::Off;
    }
    options.admin_listen = Some(args.admin_listen);
    options.ops_token = args.ops_token_file.as_deref().map(OpsToken::read).transpose()?;
    options.grace = Duration::from_secs(args.grace_seconds);
    options.connections.admin_max = args.admin_max_connections;
    options.connections.max =
        args.max_connections.unwrap_or_else(|| listen::derived_max_connections(2, args.admin_max_connections as u64));
    options.connections.first_byte_timeout = args.first_byte_timeout;
    options.tls.api = tls_files(args.tls_cert, args.tls_key, "--tls-cert and --tls-key")?;
    options.tls.admin = tls_files(args.admin_tls_cert, args.admin_tls_key, "--admin-tls-cert and --admin-tls-key")?;
    options.tls.reload_interval = args.tls_reload_interval;
    options.tls.handshake_timeout = args.tls_handshake_timeout;
    let handle = DataPlane::start(options).await?;
    shutdown_signal().await?;
    tracing::info!("shutting down: draining open requests");
    handle.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// A certificate and its key: both or neither.
fn tls_files(cert: Option<PathBuf>, key: Option<PathBuf>, flags: &str) -> anyhow::Result<Option<TlsFiles>> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        _ => anyhow::bail!("{flags} go together"),
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}

fn check(config: &std::path::Path) -> ExitCode {
    match switchyard_proxy::check::check_file(config) {
        Ok(warnings) => {
            for w in warnings {
                println!("warning: {w}");
            }
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in errors {
                println!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// JSON logs when stderr is not a terminal; `RUST_LOG` filters (default info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().init();
    }
}
