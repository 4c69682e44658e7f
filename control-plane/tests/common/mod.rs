//! Test databases: SQLite in a temporary folder, and PostgreSQL
//! (`SWITCHYARD_TEST_POSTGRES`, else the local server) in a fresh database
//! that is dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod admin;
pub mod telemetry;

use sqlx::Connection;

/// A database of one backend, removed when dropped (PostgreSQL) or with its folder (SQLite).
pub struct Db {
    pub label: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
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
}

pub fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/switchyard.db", dir.path().display());
    Db { label: "sqlite", url, _dir: Some(dir), pg_admin: None }
}

pub async fn postgres() -> Option<Db> {
    let admin = std::env::var("SWITCHYARD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => {
            assert!(std::env::var("SWITCHYARD_TEST_POSTGRES").is_err(), "SWITCHYARD_TEST_POSTGRES is set but: {e}");
            eprintln!("PostgreSQL tests skipped: no server at {admin} ({e})");
            return None;
        }
    };
    let name = format!("switchyard_test_{}", hex_id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.unwrap();
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("bad SWITCHYARD_TEST_POSTGRES {admin}"),
    };
    Some(Db { label: "postgres", url, _dir: None, pg_admin: Some((admin, name)) })
}

fn hex_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// Every backend available: SQLite always, PostgreSQL when a server answers.
pub async fn databases() -> Vec<Db> {
    let mut dbs = vec![sqlite()];
    dbs.extend(postgres().await);
    dbs
}
