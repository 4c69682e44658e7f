//! The control plane's store: the one source of truth for everything data
//! planes serve, on SQLite (default, zero set-up) or PostgreSQL (production,
//! several replicas).
//!
//! Every declarative write goes through [`Store::write`]: in one transaction
//! it takes the write lock, loads the whole Config, applies the change,
//! validates the result exactly as a gateway.yaml is validated, writes it
//! back, bumps the Config revision and appends to the audit log. A refused
//! write changes nothing; concurrent writers are serialised by the lock on
//! the revision row, so none loses another's change.

mod apply;
mod audit;
mod credentials;
mod fleet;
mod listing;
mod migrate;
mod models;
mod polls;
mod prices;
mod read;
mod runtime;
mod spec;
mod tokens;
mod usage;
mod write;

pub use apply::{Managed, resolve_channel, resolve_provider, resolve_secret};
pub use audit::{AUDIT_DEFAULT, AUDIT_MAX, AuditRecord};
pub use credentials::TokenRecord;
pub use fleet::{NackRecord, NodeRecord};
pub use listing::{Listing, ObjectMeta};
pub use models::ProviderModels;
pub use polls::{Finished, PollOutcome, PollRow, PollTarget, Synced};
pub use prices::{Cost, Pricing, RoutePricing, TargetPricing};
pub use runtime::Balance;
pub use tokens::{ANY_NODE, MIN_TOKEN_LEN, Role};
pub use usage::{
    AccountCost, BalanceDelta, BreakerEvent, EndpointHealth, HeartbeatInfo, IngestBatch, Ingested, PricedUsage,
    SpendDelta, UsageGroup, UsageTotals,
};
pub use write::{Change, Ownership, Written};

use crate::crypto::{CryptoError, MasterKey};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;
use switchyard_proto::model::{Config, ConfigErrors};

/// The PostgreSQL notification channel replicas listen on for store changes.
pub const CHANNEL: &str = "switchyard_changes";

/// Waits this long for SQLite's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    Url,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the master key does not match the one this database was created with; \
         refusing to start (secrets would not decrypt)"
    )]
    WrongMasterKey,
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The resulting config is invalid; nothing was changed.
    #[error("{0}")]
    Invalid(ConfigErrors),
    #[error("{0}")]
    Refused(String),
    /// The object a change names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A create named an object that exists.
    #[error("{0}")]
    Exists(String),
    /// A bug (a task that panicked), not a property of the data.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Wall-clock Unix milliseconds (stored timestamps).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub struct Store {
    pool: AnyPool,
    backend: Backend,
    key: MasterKey,
    url: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects (creating a SQLite file if missing), runs the migrations and
    /// checks the master key against the database's.
    pub async fn open(url: &str, key: MasterKey) -> Result<Store, StoreError> {
        install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let sep = if rest.contains('?') { '&' } else { '?' };
            let url = if rest.contains("mode=") { url.to_owned() } else { format!("{url}{sep}mode=rwc") };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::Url);
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            let busy = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
            options = options.max_connections(4).after_connect(move |conn, _| {
                let busy = busy.clone();
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute(sqlx::AssertSqlSafe(busy)).await?;
                    Ok(())
                })
            });
        } else {
            options = options.max_connections(16);
        }
        let pool = options.connect(&url).await?;
        migrate::run(&pool, backend).await?;
        let store = Store { pool, backend, key, url };
        store.check_master_key().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The database URL (for a PostgreSQL LISTEN connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first start records a check value; later starts must open it.
    async fn check_master_key(&self) -> Result<(), StoreError> {
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'master_key_check'")
            .fetch_optional(&self.pool)
            .await?;
        match stored {
            Some(check) if self.key.verify_check_value(&check) => Ok(()),
            Some(_) => Err(StoreError::WrongMasterKey),
            None => {
                let check = self.key.check_value()?;
                // Another replica starting at the same time may win: then its value must match ours.
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('master_key_check', $1) ON CONFLICT (key) DO NOTHING",
                )
                .bind(check)
                .execute(&self.pool)
                .await?;
                Box::pin(self.check_master_key()).await
            }
        }
    }

    /// The current Config and its revision.
    pub async fn load(&self) -> Result<(u64, Config), StoreError> {
        let mut conn = self.pool.acquire().await?;
        read::load(&mut conn, &self.key).await
    }

    /// The current Config revision.
    pub async fn revision(&self) -> Result<u64, StoreError> {
        let rev: i64 = sqlx::query_scalar("SELECT config FROM revision WHERE id = 1").fetch_one(&self.pool).await?;
        Ok(u64::try_from(rev).unwrap_or(0))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
