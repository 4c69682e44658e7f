use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Switchyard data plane: an OpenAI-compatible LLM proxy.
#[derive(Parser, Debug)]
#[command(name = "switchyard-proxy", version)]
struct Args {
    /// gateway.yaml to serve from (standalone mode).
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    config: PathBuf,
    /// Validate --config, print `ok` or every error (one per line), exit 0 or 1.
    #[arg(long, required = true)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return match switchyard_proxy::check::check_file(&args.config) {
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
        };
    }
    ExitCode::FAILURE
}
