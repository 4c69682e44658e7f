//! `syctl`, Switchyard's admin CLI: noun-verb commands over the control
//! plane's gRPC `Admin` service, and GitOps (`apply -f`, `diff`, `export`).
//!
//! Flow of one command: `cli` (clap: what was asked) -> `config` (which
//! control plane, which token) -> one module per noun (read, change, write
//! through `client`) -> `output` (aligned tables, or one JSON document with
//! `-o json`). Errors are one line each on stderr, `error: ...`.
//!
//! Exit codes: 0 done; 1 error; 2 `diff` found changes.
//!
//! The binary is a thin `main.rs` over [`run`], so tests drive every command
//! in-process against a control plane started on an ephemeral port.

mod account;
mod alert;
mod balance;
mod cli;
mod client;
mod config;
mod document;
mod endpoints;
mod error;
mod fleet;
mod gitops;
mod healthcheck;
mod key;
mod model;
mod names;
mod output;
mod plan;
mod probe;
mod provider;
mod secrets;
mod settings;
mod tokens;
mod units;

pub use config::Env;
pub use error::Error;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::io::Write;

/// Runs one `syctl` command line (`args` starts with the program name, as
/// `std::env::args` does) and returns its exit code. `env` stands for the
/// process environment (endpoint, token, `--api-key-env` and `${env:...}`
/// look-ups), so tests can give their own.
pub async fn run(args: impl IntoIterator<Item = String>, env: &Env, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let text = e.render().to_string();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = out.write_all(text.as_bytes());
                    0
                }
                _ => {
                    let _ = err.write_all(text.as_bytes());
                    1
                }
            };
        }
    };
    let mut ctx = Ctx { env, out, format: cli.output, flags: config::Flags::from(&cli) };
    match dispatch(&mut ctx, cli.command).await {
        Ok(code) => code,
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            for line in e.lines() {
                let _ = writeln!(err, "error: {line}");
            }
            1
        }
    }
}

/// What every command gets: where to write, in which format, and how to
/// reach the control plane (connected only by commands that need it).
pub(crate) struct Ctx<'a> {
    pub env: &'a Env,
    pub out: &'a mut dyn Write,
    pub format: output::Format,
    pub flags: config::Flags,
}

impl Ctx<'_> {
    /// Connects to the control plane named by the flags, environment or config file.
    pub async fn connect(&self) -> Result<client::Client, Error> {
        let target = config::resolve(&self.flags, self.env)?;
        client::Client::connect(&target).await
    }

    pub fn json(&self) -> bool {
        self.format == output::Format::Json
    }

    /// The outcome of a write: `provider openai created (config version 7)`,
    /// or `{"kind", "name", "action", "config_version"}`.
    pub fn written(&mut self, kind: &str, name: &str, action: &str, version: u64) -> Result<i32, Error> {
        if self.json() {
            let name = if name.is_empty() { None } else { Some(name) };
            let value = serde_json::json!({"kind": kind, "name": name, "action": action, "config_version": version});
            output::json(self.out, &value)?;
        } else {
            let what = if name.is_empty() { kind.to_owned() } else { format!("{kind} {name}") };
            output::write(self.out, &format!("{what} {action} (config version {version})"))?;
        }
        Ok(0)
    }
}

async fn dispatch(ctx: &mut Ctx<'_>, command: Command) -> Result<i32, Error> {
    match command {
        Command::Provider(cmd) => provider::run(ctx, cmd).await,
        Command::Account(cmd) => account::run(ctx, cmd).await,
        Command::Model(cmd) => model::run(ctx, cmd).await,
        Command::Key(cmd) => key::run(ctx, cmd).await,
        Command::Node(cli::NodeCmd::Token(cmd)) => tokens::node(ctx, cmd).await,
        Command::Token(cmd) => tokens::admin(ctx, cmd).await,
        Command::Settings(cmd) => settings::run(ctx, cmd).await,
        Command::Alert(cmd) => alert::run(ctx, cmd).await,
        Command::Apply(args) => gitops::apply(ctx, args).await,
        Command::Diff(args) => gitops::diff(ctx, args).await,
        Command::Export => gitops::export(ctx).await,
        Command::Status => fleet::status(ctx).await,
        Command::Audit(args) => fleet::audit(ctx, args).await,
        Command::Usage(args) => fleet::usage(ctx, args).await,
        Command::Healthcheck { url, timeout } => healthcheck::run(ctx, &url, timeout).await,
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "syctl", &mut script);
            ctx.out.write_all(&script)?;
            Ok(0)
        }
    }
}
