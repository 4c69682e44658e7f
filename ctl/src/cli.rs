//! The command line: `syctl [GLOBAL FLAGS] NOUN VERB ...` (clap derive).
//! Secrets are never arguments: they come from files or the environment.

use crate::names::{RoleArg, UsageByArg};
use crate::output::Format;
use clap::{ArgGroup, Args, Parser, Subcommand};

mod objects;
pub use objects::*;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "syctl",
    version,
    about = "Switchyard's admin CLI: manage the control plane's providers, models, keys and settings",
    after_help = "Endpoint and token: --endpoint/--token-file, then SWITCHYARD_ENDPOINT, SWITCHYARD_TOKEN \
                  (the token itself) or SWITCHYARD_TOKEN_FILE, then ~/.config/switchyard/config.toml \
                  (endpoint, token_file, ca_file). Default endpoint http://127.0.0.1:50051; http:// to a host \
                  that is not loopback needs --allow-insecure (or SWITCHYARD_ALLOW_INSECURE=1).\n\
                  TLS (https:// only): --ca-file or SWITCHYARD_CA_FILE; a client certificate with \
                  --client-cert/--client-key or SWITCHYARD_CLIENT_CERT/SWITCHYARD_CLIENT_KEY \
                  (config file: client_cert, client_key).\n\
                  Exit codes: 0 done, 1 error, 2 `diff` found changes."
)]
pub struct Cli {
    /// Control-plane gRPC URL (http:// or https://)
    #[arg(long, global = true, value_name = "URL", help_heading = "Global options")]
    pub endpoint: Option<String>,
    /// File holding the admin token
    #[arg(long, global = true, value_name = "FILE", help_heading = "Global options")]
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for an https:// endpoint
    #[arg(long, global = true, value_name = "FILE", help_heading = "Global options")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for a control plane that requires one (mTLS); with --client-key
    #[arg(long, global = true, value_name = "FILE", help_heading = "Global options")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert
    #[arg(long, global = true, value_name = "FILE", help_heading = "Global options")]
    pub client_key: Option<PathBuf>,
    /// Allow an http:// endpoint on a host that is not loopback (the admin token travels in clear)
    #[arg(long, global = true, help_heading = "Global options")]
    pub allow_insecure: bool,
    /// Output: aligned tables, or one JSON document for scripts (`-o json`)
    #[arg(
        short = 'o',
        long = "format",
        value_name = "FORMAT",
        global = true,
        value_enum,
        default_value_t = Format::Table,
        help_heading = "Global options"
    )]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upstream providers (and their first account)
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Provider accounts (upstream API keys) and their balances
    #[command(subcommand)]
    Account(AccountCmd),
    /// Public models: routes, aliases, targets, prices
    #[command(subcommand)]
    Model(ModelCmd),
    /// Client API keys
    #[command(subcommand)]
    Key(KeyCmd),
    /// Data-plane nodes
    #[command(subcommand)]
    Node(NodeCmd),
    /// Admin tokens (roles admin and viewer)
    #[command(subcommand)]
    Token(TokenCmd),
    /// Gateway settings
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// Alerts: what is firing, and channel tests
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Apply a gateway.yaml: create and update what it declares
    Apply(ApplyArgs),
    /// What `apply` would change (exit 2 when something would)
    Diff(DiffArgs),
    /// Print the control plane's config as a gateway.yaml (secrets redacted)
    Export,
    /// Config versions and every data plane: connected, ACKed versions, last NACK
    Status,
    /// The audit log: who changed what
    Audit(AuditArgs),
    /// Usage: requests, tokens and cost, grouped
    Usage(UsageArgs),
    /// GET a health page (/healthz, /readyz): exit 0 on a 2xx answer (container health checks; no token)
    Healthcheck {
        /// http://HOST[:PORT][/PATH]
        url: String,
        /// Give up after this long (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s", value_parser = switchyard_proto::model::units::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

// ---------------------------------------------------------------------------
// tokens

#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// Node tokens: each binds one node id
    #[command(subcommand)]
    Token(NodeTokenCmd),
}

#[derive(Debug, Subcommand)]
pub enum NodeTokenCmd {
    /// Create a token for one node id; printed once
    Create {
        node_id: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List node tokens
    List,
    /// Revoke a node's token
    Revoke { node_id: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create an admin token; printed once
    Create {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// List admin tokens
    List,
    /// Revoke an admin token
    Revoke { name: String },
}

// ---------------------------------------------------------------------------
// settings, alerts

#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Show the settings
    Get,
    /// Replace the settings from a file, or change a few fields
    Set(SettingsSetArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true)))]
pub struct SettingsSetArgs {
    /// A YAML file: the `settings:` mapping of gateway.yaml, or a document holding `settings:`
    #[arg(short = 'f', long, value_name = "FILE", group = "change")]
    pub file: Option<PathBuf>,
    /// The model used when a request names none (or "auto")
    #[arg(long, value_name = "MODEL", group = "change", conflicts_with_all = ["file", "no_default_model"])]
    pub default_model: Option<String>,
    /// No default model
    #[arg(long, group = "change", conflicts_with = "file")]
    pub no_default_model: bool,
    /// Attempts per request, the first included (1-10)
    #[arg(long, value_name = "N", group = "change", conflicts_with = "file")]
    pub max_attempts: Option<u32>,
    /// Refuse traffic after this long without the control plane ("off": never)
    #[arg(long, value_name = "DURATION|off", group = "change", conflicts_with = "file")]
    pub fail_closed_after: Option<String>,
    /// Log request bodies
    #[arg(long, value_name = "BOOL", group = "change", conflicts_with = "file")]
    pub request_bodies: Option<bool>,
    /// How often provider balances are polled
    #[arg(long, value_name = "DURATION", group = "change", conflicts_with = "file")]
    pub balance_poll_interval: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// The alert conditions firing now: since when, last sent, delivery per channel
    List,
    /// Send a test alert to every channel, or to one (exit 1 when any fails)
    Test {
        /// Only this channel
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },
}

// ---------------------------------------------------------------------------
// GitOps and fleet

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The gateway.yaml to apply (${env:...}/${file:...} resolved here)
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Show the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also delete objects an earlier apply created that the file omits
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The gateway.yaml to compare
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Secrets that cannot be resolved here are not compared (for CI without them)
    #[arg(long)]
    pub ignore_secrets: bool,
    /// Plan as `apply --prune` would (orphaned objects become deletions)
    #[arg(long)]
    pub prune: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How far back (e.g. 24h, 7d)
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub since: String,
    /// At most this many entries, newest first
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Group by
    #[arg(long, value_enum, default_value_t = UsageByArg::Model)]
    pub by: UsageByArg,
    /// How far back (e.g. 24h, 7d)
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub since: String,
    /// Only this client key's usage
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
