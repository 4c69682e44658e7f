//! Listing the declarative objects for the Admin service: the Config
//! together with each object's ownership (`managed`: created by `apply`) and
//! when it last changed, read in one transaction so they agree.

use super::read;
use super::{Store, StoreError};
use sqlx::Row;
use std::collections::HashMap;
use switchyard_proto::model::Config;

/// Ownership and last change of one stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectMeta {
    /// Created by `apply` (so `apply --prune` may delete it).
    pub managed: bool,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

/// The Config at a revision, with the metadata of its objects by name.
#[derive(Debug, Clone)]
pub struct Listing {
    pub revision: u64,
    pub config: Config,
    pub providers: HashMap<String, ObjectMeta>,
    pub routes: HashMap<String, ObjectMeta>,
    pub keys: HashMap<String, ObjectMeta>,
    /// 0 when the settings were never written (defaults).
    pub settings_updated_at_ms: i64,
}

impl Store {
    /// The current Config (secrets decrypted: redact before showing it) and
    /// the metadata of every provider, route and key.
    pub async fn listing(&self) -> Result<Listing, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (revision, config) = read::load(&mut tx, &self.key).await?;
        let meta = |rows: Vec<sqlx::any::AnyRow>| -> Result<HashMap<String, ObjectMeta>, StoreError> {
            rows.iter()
                .map(|r| {
                    let meta = ObjectMeta {
                        managed: r.try_get::<i64, _>("managed")? != 0,
                        updated_at_ms: r.try_get("updated_at_ms")?,
                    };
                    Ok((r.try_get("name")?, meta))
                })
                .collect()
        };
        let providers =
            meta(sqlx::query("SELECT name, managed, updated_at_ms FROM providers").fetch_all(&mut *tx).await?)?;
        let routes = meta(sqlx::query("SELECT name, managed, updated_at_ms FROM routes").fetch_all(&mut *tx).await?)?;
        let keys =
            meta(sqlx::query("SELECT name, managed, updated_at_ms FROM client_keys").fetch_all(&mut *tx).await?)?;
        let settings_updated_at_ms: Option<i64> =
            sqlx::query_scalar("SELECT updated_at_ms FROM settings WHERE id = 1").fetch_optional(&mut *tx).await?;
        tx.rollback().await?;
        Ok(Listing {
            revision,
            config,
            providers,
            routes,
            keys,
            settings_updated_at_ms: settings_updated_at_ms.unwrap_or(0),
        })
    }
}
