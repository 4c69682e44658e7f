use clap::Parser;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use switchyard_proxy::{DataPlane, Options};

/// Switchyard data plane: an OpenAI-compatible LLM proxy.
#[derive(Parser, Debug)]
#[command(name = "switchyard-proxy", version)]
struct Args {
    /// gateway.yaml to serve from (standalone mode, hot-reloaded).
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    config: PathBuf,
    /// Validate --config, print `ok` or every error (one per line), exit 0 or 1.
    #[arg(long)]
    check: bool,
    /// Where OpenAI clients connect (HTTP/1.1 and h2c).
    #[arg(long, env = "SWITCHYARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// /metrics, /status, /healthz, /readyz.
    #[arg(long, env = "SWITCHYARD_ADMIN_LISTEN", default_value = "127.0.0.1:9901")]
    admin_listen: SocketAddr,
    /// On SIGTERM, open requests and streams get this many seconds to finish.
    #[arg(long, env = "SWITCHYARD_GRACE_SECONDS", default_value_t = 30)]
    grace_seconds: u64,
    /// Runtime worker threads (default: one per core). 1 runs everything on one
    /// thread, which saves cross-thread wake-ups for small deployments.
    #[arg(long, env = "SWITCHYARD_WORKER_THREADS")]
    worker_threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check(&args.config);
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
    let mut options = Options::new(args.listen, args.config);
    options.admin_listen = Some(args.admin_listen);
    options.grace = Duration::from_secs(args.grace_seconds);
    let handle = DataPlane::start(options).await?;
    shutdown_signal().await?;
    tracing::info!("shutting down: draining open requests");
    handle.shutdown().await;
    tracing::info!("stopped");
    Ok(())
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
        Ok(()) => {
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
