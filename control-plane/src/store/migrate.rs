//! The schema, embedded: `migrations/sqlite` or `migrations/postgres`, run
//! at start with sqlx's migrator (which takes a database lock, so replicas
//! starting together apply each migration once).

use super::Backend;
use sqlx::AnyPool;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{SqlSafeStr, migrate::MigrateError};
use std::borrow::Cow;

const SQLITE: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("../../../migrations/sqlite/0001_store.sql")),
    (2, "fleet", include_str!("../../../migrations/sqlite/0002_fleet.sql")),
    (3, "usage", include_str!("../../../migrations/sqlite/0003_usage.sql")),
    (4, "prices", include_str!("../../../migrations/sqlite/0004_prices.sql")),
    (5, "balance_polls", include_str!("../../../migrations/sqlite/0005_balance_polls.sql")),
    (6, "alerts", include_str!("../../../migrations/sqlite/0006_alerts.sql")),
    (7, "model_discovery", include_str!("../../../migrations/sqlite/0007_model_discovery.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("../../../migrations/postgres/0001_store.sql")),
    (2, "fleet", include_str!("../../../migrations/postgres/0002_fleet.sql")),
    (3, "usage", include_str!("../../../migrations/postgres/0003_usage.sql")),
    (4, "prices", include_str!("../../../migrations/postgres/0004_prices.sql")),
    (5, "balance_polls", include_str!("../../../migrations/postgres/0005_balance_polls.sql")),
    (6, "alerts", include_str!("../../../migrations/postgres/0006_alerts.sql")),
    (7, "model_discovery", include_str!("../../../migrations/postgres/0007_model_discovery.sql")),
];

pub async fn run(pool: &AnyPool, backend: Backend) -> Result<(), MigrateError> {
    let files = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations: Vec<Migration> = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    let migrator = Migrator { migrations: Cow::Owned(migrations), ..Migrator::DEFAULT };
    migrator.run(pool).await
}
