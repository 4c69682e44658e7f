//! The commands on the config's objects: providers, accounts and their
//! balances, models with their aliases, targets and prices, and client keys.

use crate::names::{BalanceApiArg, OnDisconnectArg, ProviderKindArg, StrategyArg, StreamUsageArg};
use clap::{ArgGroup, Args, Subcommand};
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// provider

#[derive(Debug, Subcommand)]
pub enum ProviderCmd {
    /// List providers
    List,
    /// Show one provider and its accounts
    Get { name: String },
    /// Create a provider (with its first account: a provider needs one)
    #[command(group(ArgGroup::new("api_key").args(["api_key_file", "api_key_env"]).requires("account")))]
    Add {
        name: String,
        #[command(flatten)]
        spec: ProviderFlags,
        /// Name of a first account to create with it
        #[arg(long, value_name = "NAME", requires = "api_key")]
        account: Option<String>,
        /// The first account's API key, read from this file
        #[arg(long, value_name = "FILE")]
        api_key_file: Option<PathBuf>,
        /// The first account's API key, read from this environment variable
        #[arg(long, value_name = "VAR")]
        api_key_env: Option<String>,
    },
    /// Change a provider: only the given flags change
    Set {
        name: String,
        #[command(flatten)]
        spec: ProviderFlags,
        /// Remove this extra header
        #[arg(long, value_name = "NAME")]
        remove_header: Vec<String>,
        /// Remove the outbound proxy
        #[arg(long, conflicts_with = "proxy_file")]
        no_proxy: bool,
    },
    /// Enable a provider
    Enable { name: String },
    /// Disable a provider (its accounts get no traffic)
    Disable { name: String },
    /// Delete a provider and its accounts
    Rm { name: String },
    /// Test each account's connection to the provider (and read its model list)
    Test { name: String },
    /// The models the provider's list endpoint named when last read (by the schedule or `test`)
    Models { name: String },
}

#[derive(Debug, Args)]
pub struct ProviderFlags {
    /// Provider kind (required for `add`)
    #[arg(long, value_enum)]
    pub kind: Option<ProviderKindArg>,
    /// Upstream base URL (default for openai, anthropic and gemini)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Extra static header sent upstream, NAME=VALUE (repeatable)
    #[arg(long, value_name = "NAME=VALUE")]
    pub header: Vec<String>,
    /// Outbound HTTP(S) proxy URL, read from this file (it may carry credentials)
    #[arg(long, value_name = "FILE")]
    pub proxy_file: Option<PathBuf>,
    /// azure only: the api-version query parameter
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
    /// anthropic only: max_tokens sent when the client gives none
    #[arg(long, value_name = "N")]
    pub default_max_tokens: Option<u32>,
    /// Upstream HTTP/2 (--http2=false to turn it off)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub http2: Option<bool>,
    /// Ask upstreams for stream usage (inject) or never send stream_options
    #[arg(long, value_enum)]
    pub stream_usage: Option<StreamUsageArg>,
    /// When a client leaves mid-stream: close the upstream, or drain it for exact usage
    #[arg(long, value_enum)]
    pub on_disconnect: Option<OnDisconnectArg>,
    /// Which balance poller applies (auto: inferred from the base URL)
    #[arg(long, value_enum)]
    pub balance_api: Option<BalanceApiArg>,
    /// Connect timeout override (e.g. 5s)
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// First-token timeout override (e.g. 60s)
    #[arg(long, value_name = "DURATION")]
    pub first_token_timeout: Option<String>,
    /// Idle (between stream events) timeout override
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Whole-request timeout override
    #[arg(long, value_name = "DURATION")]
    pub total_timeout: Option<String>,
}

// ---------------------------------------------------------------------------
// account

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// List accounts, of every provider or of one
    List { provider: Option<String> },
    /// Add an account to a provider
    #[command(group(ArgGroup::new("api_key").args(["api_key_file", "api_key_env"]).required(true)))]
    Add {
        provider: String,
        name: String,
        #[command(flatten)]
        key: ApiKeyFlags,
        #[command(flatten)]
        spec: AccountFlags,
    },
    /// Change an account: only the given flags change (the stored key stays unless a new one is given)
    #[command(group(ArgGroup::new("api_key").args(["api_key_file", "api_key_env"])))]
    Set {
        provider: String,
        name: String,
        #[command(flatten)]
        key: ApiKeyFlags,
        #[command(flatten)]
        spec: AccountFlags,
        /// Remove the balance policy
        #[arg(long, conflicts_with_all = ["balance_currency", "alert_below"])]
        no_balance_policy: bool,
    },
    /// Enable an account
    Enable { provider: String, name: String },
    /// Disable an account (it gets no traffic)
    Disable { provider: String, name: String },
    /// Delete an account
    Rm { provider: String, name: String },
    /// An account's balance (runtime state, never in gateway.yaml)
    #[command(subcommand)]
    Balance(BalanceCmd),
}

#[derive(Debug, Args)]
pub struct ApiKeyFlags {
    /// Read the upstream API key from this file
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Read the upstream API key from this environment variable
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct AccountFlags {
    /// Share of traffic within its priority tier (>= 1)
    #[arg(long, value_name = "N")]
    pub weight: Option<u32>,
    /// Balance policy: the balance's currency (e.g. USD)
    #[arg(long, value_name = "CURRENCY")]
    pub balance_currency: Option<String>,
    /// Balance policy: alert when the balance falls below this amount
    #[arg(long, value_name = "AMOUNT")]
    pub alert_below: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BalanceCmd {
    /// Set an account's balance (e.g. after a top-up)
    Set {
        provider: String,
        name: String,
        /// The balance, e.g. 25.50
        #[arg(allow_hyphen_values = true)]
        amount: String,
        /// Its currency (e.g. USD)
        #[arg(long)]
        currency: String,
    },
    /// Show balances: amount, source (polled by which poller, or set by hand),
    /// age, burn rate and time to empty; every account, a provider's, or one
    Show {
        /// A provider, or PROVIDER/ACCOUNT
        provider: Option<String>,
        /// One of its accounts
        name: Option<String>,
        /// The burn rate's window (priced usage over it, per hour)
        #[arg(long, default_value = "6h", value_name = "DURATION")]
        window: String,
    },
}

// ---------------------------------------------------------------------------
// model

#[derive(Debug, Subcommand)]
pub enum ModelCmd {
    /// List public models
    List,
    /// Show one model: aliases, targets, prices
    Get { name: String },
    /// Create a model
    Add {
        name: String,
        /// PROVIDER:MODEL[@PRIORITY] (repeatable; a model name ending in @digits needs an explicit @PRIORITY)
        #[arg(long, required = true, value_name = "PROVIDER:MODEL[@PRIORITY]")]
        target: Vec<String>,
        /// Balancing strategy within a priority tier
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
        /// Another public name for it (repeatable)
        #[arg(long, value_name = "ALIAS")]
        alias: Vec<String>,
    },
    /// Change a model's strategy
    Set {
        name: String,
        #[arg(long, value_enum)]
        strategy: Option<StrategyArg>,
    },
    /// Delete a model
    Rm { name: String },
    /// A model's aliases
    #[command(subcommand)]
    Alias(AliasCmd),
    /// A model's targets (upstream models)
    #[command(subcommand)]
    Target(TargetCmd),
    /// A model's prices (per million tokens)
    #[command(subcommand)]
    Price(PriceCmd),
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Add an alias
    Add { name: String, alias: String },
    /// Remove an alias
    Rm { name: String, alias: String },
}

#[derive(Debug, Subcommand)]
pub enum TargetCmd {
    /// Add a target
    Add {
        name: String,
        provider: String,
        model: String,
        /// Tried lowest first; equal priorities are balanced
        #[arg(long, default_value_t = 0)]
        priority: u32,
    },
    /// Remove a target
    Rm { name: String, provider: String, model: String },
}

#[derive(Debug, Subcommand)]
pub enum PriceCmd {
    /// Set the model's default price, or one target's
    Set {
        name: String,
        /// Currency of the prices (e.g. USD)
        #[arg(long)]
        currency: String,
        /// Input (prompt) price per million tokens, e.g. 0.15
        #[arg(long, value_name = "AMOUNT")]
        input: Option<String>,
        /// Output (completion) price per million tokens
        #[arg(long = "output", id = "output_price", value_name = "AMOUNT")]
        output_price: Option<String>,
        /// Cached-input price per million tokens (default: the input price)
        #[arg(long, value_name = "AMOUNT")]
        cached: Option<String>,
        /// Price this target (PROVIDER:MODEL) rather than the model's default
        #[arg(long, value_name = "PROVIDER:MODEL")]
        target: Option<String>,
    },
    /// Remove the model's default price, or one target's
    Rm {
        name: String,
        #[arg(long, value_name = "PROVIDER:MODEL")]
        target: Option<String>,
    },
}

// ---------------------------------------------------------------------------
// key

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// List client keys (never the keys themselves)
    List,
    /// Show one client key
    Get { name: String },
    /// Create a client key; the key is printed once and never again
    Create {
        name: String,
        #[command(flatten)]
        spec: KeyFlags,
    },
    /// Change a client key's limits: only the given flags change
    Set {
        name: String,
        #[command(flatten)]
        spec: KeyFlags,
        /// Allow every model
        #[arg(long, conflicts_with = "models")]
        all_models: bool,
        /// No requests-per-minute limit
        #[arg(long, conflicts_with = "rpm")]
        no_rpm: bool,
        /// No tokens-per-minute limit
        #[arg(long, conflicts_with = "tpm")]
        no_tpm: bool,
        /// No budget
        #[arg(long, conflicts_with = "budget")]
        no_budget: bool,
        /// Never expires
        #[arg(long, conflicts_with = "expires")]
        no_expires: bool,
        /// No passthrough policy: only the model endpoints
        #[arg(long, conflicts_with_all = ["passthrough_paths", "passthrough_methods"])]
        no_passthrough: bool,
    },
    /// Enable a key
    Enable { name: String },
    /// Disable a key (its requests get 401)
    Disable { name: String },
    /// Delete a key
    Rm { name: String },
}

#[derive(Debug, Args)]
pub struct KeyFlags {
    /// Models (public names or aliases) it may use, comma-separated; default all
    #[arg(long, value_delimiter = ',', value_name = "MODEL,...")]
    pub models: Option<Vec<String>>,
    /// Requests per minute
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// Tokens per minute
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
    /// Spend limit, AMOUNT CURRENCY/PERIOD (e.g. 50USD/month; periods day, week, month, total)
    #[arg(long, value_name = "AMOUNT+CURRENCY/PERIOD")]
    pub budget: Option<String>,
    /// Expiry time, RFC 3339 (e.g. 2027-01-01T00:00:00Z) or a date
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// May use "provider:model" to bypass routes (--allow-direct=false to revoke)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub allow_direct: Option<bool>,
    /// Log request bodies for this key (overrides settings.logging.request_bodies)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub log_bodies: Option<bool>,
    /// Passthrough path prefixes (after /v1) opened beside the model endpoints, comma-separated (e.g. /files,/batches; / = every path)
    #[arg(long, value_delimiter = ',', value_name = "PATH,...")]
    pub passthrough_paths: Option<Vec<String>>,
    /// Methods those paths open, comma-separated (GET, POST, DELETE); default all three
    #[arg(long, value_delimiter = ',', value_name = "METHOD,...")]
    pub passthrough_methods: Option<Vec<String>>,
}
