//! A test database on PostgreSQL: `SWITCHYARD_TEST_POSTGRES` (an admin URL),
//! else the local server (`postgres://postgres@127.0.0.1:5432/postgres`); each
//! call creates a uniquely named database, dropped with the returned [`Db`].
//! When the variable is unset and no server answers, the caller is told to
//! skip (`None`, and "skipped" is printed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use sqlx::Connection;

pub struct Db {
    /// The test database's URL.
    pub url: String,
    admin: String,
    name: String,
}

impl Drop for Db {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop on a fresh runtime thread: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            });
        })
        .join();
    }
}

/// A fresh database, or `None` (skipped) when there is no server and none was asked for.
pub async fn database(test: &str) -> Option<Db> {
    let asked = std::env::var("SWITCHYARD_TEST_POSTGRES").ok();
    let admin = asked.clone().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => {
            assert!(asked.is_none(), "SWITCHYARD_TEST_POSTGRES is set but: {e}");
            eprintln!("{test}: skipped (no PostgreSQL at {admin}: {e})");
            return None;
        }
    };
    let name = format!("switchyard_test_{}", unique());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad SWITCHYARD_TEST_POSTGRES {admin}"),
    };
    Some(Db { url, admin, name })
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}
