use clap::Parser;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchyard_control::{ConnectionOptions, ControlPlane, Options, TlsFiles};
use switchyard_proto::listen;
use switchyard_proto::ops_token::OpsToken;

/// Switchyard control plane: the store of providers, accounts, routes and keys.
#[derive(Parser, Debug)]
#[command(name = "switchyard-control", version)]
struct Args {
    /// sqlite://PATH (created if missing) or postgres://...
    #[arg(long, env = "SWITCHYARD_DATABASE", default_value = "sqlite://./switchyard.db")]
    database: String,
    /// gRPC: ConfigDiscovery for data planes.
    #[arg(long, env = "SWITCHYARD_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// /healthz and /metrics.
    #[arg(long, env = "SWITCHYARD_HTTP_LISTEN", default_value = "127.0.0.1:9091")]
    http_listen: SocketAddr,
    /// File holding a token (16 or more characters) that /metrics requires as
    /// `Authorization: Bearer`; /healthz stays open.
    #[arg(long, env = "SWITCHYARD_OPS_TOKEN_FILE")]
    ops_token_file: Option<PathBuf>,
    /// File holding the master key: 64 hex chars (openssl rand -hex 32); encrypts upstream secrets.
    #[arg(long, env = "SWITCHYARD_MASTER_KEY_FILE")]
    master_key_file: PathBuf,
    /// gateway.yaml applied at start (creates and updates, never deletes).
    #[arg(long, env = "SWITCHYARD_BOOTSTRAP")]
    bootstrap: Option<PathBuf>,
    /// File holding the bootstrap admin token (any string of 16 or more characters).
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// File holding the bootstrap node token (per-node tokens are made with syctl).
    #[arg(long, env = "SWITCHYARD_NODE_TOKEN_FILE")]
    node_token_file: Option<PathBuf>,
    /// Serve gRPC over TLS with this certificate chain (PEM, leaf first; with --tls-key).
    #[arg(long, env = "SWITCHYARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "SWITCHYARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Open connections on --grpc-listen at most; past it new ones are closed at once
    /// (default: from the open-files limit, RLIMIT_NOFILE).
    #[arg(long, env = "SWITCHYARD_MAX_CONNECTIONS", value_parser = listen::parse_max_connections)]
    max_connections: Option<usize>,
    /// Open connections on --http-listen at most.
    #[arg(
        long,
        env = "SWITCHYARD_HTTP_MAX_CONNECTIONS",
        default_value_t = listen::DEFAULT_ADMIN_MAX_CONNECTIONS,
        value_parser = listen::parse_max_connections
    )]
    http_max_connections: usize,
    /// A connection that has not sent its first bytes (the HTTP/2 preface, a
    /// TLS hello, a request line) within this is closed (e.g. 10s, 500ms).
    #[arg(long, env = "SWITCHYARD_FIRST_BYTE_TIMEOUT", default_value = "10s", value_parser = listen::parse_first_byte_timeout)]
    first_byte_timeout: Duration,
    /// Require client certificates signed by this CA (PEM) on gRPC (mTLS; needs --tls-cert).
    #[arg(long, env = "SWITCHYARD_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// How often each provider's model list is read (model discovery; e.g. 6h, 30m); 0 turns it off
    /// (`syctl provider test` still reads it).
    #[arg(long, env = "SWITCHYARD_MODEL_DISCOVERY_INTERVAL", default_value = "6h", value_parser = switchyard_proto::model::units::parse_duration)]
    model_discovery_interval: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
            eprintln!("switchyard-control: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read --{flag} {}: {e}", path.display()))
    };
    let master_key = read("master-key-file", &args.master_key_file)?;
    let admin_token = args.admin_token_file.as_ref().map(|p| read("admin-token-file", p)).transpose()?;
    let node_token = args.node_token_file.as_ref().map(|p| read("node-token-file", p)).transpose()?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key, client_ca: args.tls_client_ca }),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let mut options = Options::new(args.database, master_key);
    options.http_listen = args.http_listen;
    options.grpc_listen = args.grpc_listen;
    options.bootstrap = args.bootstrap;
    options.admin_token = admin_token;
    options.node_token = node_token;
    options.ops_token = args.ops_token_file.as_deref().map(OpsToken::read).transpose()?;
    options.tls = tls;
    options.connections = ConnectionOptions {
        max: args
            .max_connections
            .unwrap_or_else(|| listen::derived_max_connections(1, args.http_max_connections as u64)),
        http_max: args.http_max_connections,
        first_byte_timeout: args.first_byte_timeout,
    };
    options.discovery.interval = args.model_discovery_interval;
    let handle = ControlPlane::start(options).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
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
