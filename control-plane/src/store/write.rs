//! The one write path: lock, load, edit, validate, write back the objects
//! that changed, bump the revision, audit; all in one transaction.

use super::read::{self, context};
use super::spec::{AccountSpec, KeySpec, PriceSpec, ProviderSpec, RouteSpec, SettingsSpec};
use super::{Store, StoreError, now_ms};
use crate::crypto::MasterKey;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use switchyard_proto::model::{AlertChannelKind, ClientKey, Config, Provider, Route, Secret, Settings};

/// Who owns what a write creates: `apply` (managed: a later `apply --prune`
/// may delete it) or an imperative command (never pruned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Managed,
    Unmanaged,
}

/// Who asks for a write, and what it is called in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub ownership: Ownership,
}

/// What a write did: the Config revision after it (unchanged when nothing
/// changed or for a dry run) and the Config before and after the edit.
#[derive(Debug)]
pub struct Written {
    pub revision: u64,
    pub before: Config,
    pub after: Config,
}

impl Store {
    /// Applies `edit` to the current Config. The whole result is validated as
    /// a gateway.yaml would be; on any error nothing changes. Returns the
    /// Config revision after the write (unchanged when the edit changed nothing).
    pub async fn write<F>(&self, change: Change<'_>, edit: F) -> Result<u64, StoreError>
    where
        F: FnOnce(&mut Config) -> Result<(), StoreError>,
    {
        Ok(self.write_with(change, false, edit).await?.revision)
    }

    /// [`Store::write`], returning the Config before and after the edit; a
    /// `dry_run` validates the result exactly as a write would and rolls back.
    pub async fn write_with<F>(&self, change: Change<'_>, dry_run: bool, edit: F) -> Result<Written, StoreError>
    where
        F: FnOnce(&mut Config) -> Result<(), StoreError>,
    {
        let mut tx = self.pool.begin().await?;
        // The write lock first (SQLite: the database's; PostgreSQL: the revision
        // row), so concurrent writers queue instead of losing each other's changes.
        sqlx::query("UPDATE revision SET updated_at_ms = updated_at_ms WHERE id = 1").execute(&mut *tx).await?;
        let (revision, before) = read::load(&mut tx, &self.key).await?;
        let mut after = before.clone();
        edit(&mut after)?;
        after.validate().map_err(StoreError::Invalid)?;
        after.require_secrets().map_err(StoreError::Invalid)?;
        if after == before || dry_run {
            tx.rollback().await?;
            return Ok(Written { revision, before, after });
        }
        let next = revision + 1;
        let mut w = Writer { conn: &mut tx, key: &self.key, change, now: now_ms(), revision: next };
        w.providers(&before, &after).await?;
        w.routes(&before, &after).await?;
        w.keys(&before, &after).await?;
        w.settings(&before.settings, &after.settings).await?;
        super::prices::record(w.conn, next, &after).await?;
        sqlx::query("UPDATE revision SET config = $1, updated_at_ms = $2 WHERE id = 1")
            .bind(i64::try_from(next).unwrap_or(i64::MAX))
            .bind(w.now)
            .execute(&mut *tx)
            .await?;
        self.notify(&mut tx).await?;
        tx.commit().await?;
        tracing::info!(revision = next, actor = change.actor, action = change.action, "config written");
        Ok(Written { revision: next, before, after })
    }

    /// Tells the other replicas (PostgreSQL) that the store changed; delivered at commit.
    pub(super) async fn notify(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, 'changed')").bind(super::CHANNEL).execute(conn).await?;
        }
        Ok(())
    }

    /// Whether each object was created by `apply`, by (kind, name).
    pub async fn managed(&self) -> Result<HashMap<(String, String), bool>, StoreError> {
        let mut out = HashMap::new();
        for (table, all, _) in OWNED {
            let sql = all;
            for row in sqlx::query(sql).fetch_all(&self.pool).await? {
                out.insert((table.to_owned(), row.try_get("name")?), row.try_get::<i64, _>("managed")? != 0);
            }
        }
        Ok(out)
    }
}

/// Tables whose rows carry a `managed` flag: (table, every row, one row by name).
const OWNED: [(&str, &str, &str); 3] = [
    ("providers", "SELECT name, managed FROM providers", "SELECT managed FROM providers WHERE name = $1"),
    ("routes", "SELECT name, managed FROM routes", "SELECT managed FROM routes WHERE name = $1"),
    ("client_keys", "SELECT name, managed FROM client_keys", "SELECT managed FROM client_keys WHERE name = $1"),
];

struct Writer<'a> {
    conn: &'a mut AnyConnection,
    key: &'a MasterKey,
    change: Change<'a>,
    now: i64,
    revision: u64,
}

/// The objects of `old` and `new` matched by name: (before, after) per name, sorted.
fn pairs<'a, T>(old: &'a [T], new: &'a [T], name: impl Fn(&T) -> &str) -> Vec<(Option<&'a T>, Option<&'a T>)> {
    let mut map: std::collections::BTreeMap<&str, (Option<&T>, Option<&T>)> = Default::default();
    for o in old {
        map.entry(name(o)).or_default().0 = Some(o);
    }
    for n in new {
        map.entry(name(n)).or_default().1 = Some(n);
    }
    map.into_values().collect()
}

fn redacted(s: &Secret) -> String {
    s.to_redacted().expose().to_owned()
}

fn provider_json(p: &Provider) -> serde_json::Value {
    let accounts: Vec<_> = p
        .accounts
        .iter()
        .map(|a| json!({"name": a.name, "spec": AccountSpec::of(a), "api_key": redacted(&a.api_key)}))
        .collect();
    json!({"spec": ProviderSpec::of(p), "proxy": p.proxy.as_ref().map(redacted), "accounts": accounts})
}

fn route_json(r: &Route) -> serde_json::Value {
    let targets: Vec<_> = r
        .targets
        .iter()
        .map(|t| json!({"provider": t.provider, "model": t.model, "priority": t.priority, "price": t.price.as_ref().map(PriceSpec::of)}))
        .collect();
    json!({"spec": RouteSpec::of(r), "aliases": r.aliases, "targets": targets})
}

fn key_json(k: &ClientKey) -> serde_json::Value {
    json!({"spec": KeySpec::of(k), "key_sha256": k.key_sha256.to_hex()})
}

fn settings_json(s: &Settings) -> serde_json::Value {
    let channels: Vec<_> = s.alerts.channels.iter().map(|c| json!({"name": c.name, "kind": c.kind.as_str()})).collect();
    json!({"spec": SettingsSpec::of(s), "channels": channels})
}

impl Writer<'_> {
    async fn audit(
        &mut self,
        kind: &str,
        name: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, object_kind, object_name, before, after, config_revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.now)
        .bind(self.change.actor.to_owned())
        .bind(self.change.action.to_owned())
        .bind(kind.to_owned())
        .bind(name.to_owned())
        .bind(before.map(|v| v.to_string()))
        .bind(after.map(|v| v.to_string()))
        .bind(i64::try_from(self.revision).unwrap_or(i64::MAX))
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    fn managed(&self) -> bool {
        self.change.ownership == Ownership::Managed
    }

    /// The stored `managed` flag of an existing object, or this write's ownership for a new one.
    async fn ownership(&mut self, table: &'static str, name: &str, existed: bool) -> Result<bool, StoreError> {
        if !existed || self.managed() {
            return Ok(self.managed());
        }
        let Some((_, _, sql)) = OWNED.iter().find(|(t, _, _)| *t == table) else { return Ok(false) };
        let managed: Option<i64> =
            sqlx::query_scalar(*sql).bind(name.to_owned()).fetch_optional(&mut *self.conn).await?;
        Ok(managed.is_some_and(|m| m != 0))
    }

    async fn providers(&mut self, before: &Config, after: &Config) -> Result<(), StoreError> {
        for (old, new) in pairs(&before.providers, &after.providers, |p| &p.name) {
            if old == new {
                continue;
            }
            let name = new.or(old).map(|p| p.name.clone()).unwrap_or_default();
            match new {
                None => {
                    sqlx::query("DELETE FROM accounts WHERE provider = $1")
                        .bind(name.clone())
                        .execute(&mut *self.conn)
                        .await?;
                    sqlx::query("DELETE FROM providers WHERE name = $1")
                        .bind(name.clone())
                        .execute(&mut *self.conn)
                        .await?;
                }
                Some(p) => {
                    let managed = self.ownership("providers", &name, old.is_some()).await?;
                    let proxy = p
                        .proxy
                        .as_ref()
                        .map(|s| self.key.seal(s.expose().as_bytes(), &context("providers", &[&name, "proxy"])))
                        .transpose()?;
                    let mut spec = ProviderSpec::of(p);
                    spec.headers.clear();
                    for (header, value) in &p.headers {
                        let sealed = self.key.seal(value.expose().as_bytes(), &read::header_context(&name, header))?;
                        spec.sealed_headers.insert(header.clone(), sealed);
                    }
                    sqlx::query(
                        "INSERT INTO providers (name, spec, proxy_secret, managed, updated_at_ms) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, proxy_secret = excluded.proxy_secret, \
                         managed = excluded.managed, updated_at_ms = excluded.updated_at_ms",
                    )
                    .bind(name.clone())
                    .bind(serde_json::to_string(&spec)?)
                    .bind(proxy)
                    .bind(i64::from(managed))
                    .bind(self.now)
                    .execute(&mut *self.conn)
                    .await?;
                    sqlx::query("DELETE FROM accounts WHERE provider = $1")
                        .bind(name.clone())
                        .execute(&mut *self.conn)
                        .await?;
                    for (position, a) in p.accounts.iter().enumerate() {
                        let sealed =
                            self.key.seal(a.api_key.expose().as_bytes(), &context("accounts", &[&name, &a.name]))?;
                        sqlx::query(
                            "INSERT INTO accounts (provider, name, position, spec, api_key, api_key_fp) VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(name.clone())
                        .bind(a.name.clone())
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(serde_json::to_string(&AccountSpec::of(a))?)
                        .bind(sealed)
                        .bind(a.api_key.fingerprint())
                        .execute(&mut *self.conn)
                        .await?;
                    }
                }
            }
            self.audit("provider", &name, old.map(provider_json), new.map(provider_json)).await?;
        }
        Ok(())
    }

    async fn routes(&mut self, before: &Config, after: &Config) -> Result<(), StoreError> {
        for (old, new) in pairs(&before.models, &after.models, |r| &r.name) {
            if old == new {
                continue;
            }
            let name = new.or(old).map(|r| r.name.clone()).unwrap_or_default();
            sqlx::query("DELETE FROM route_aliases WHERE route = $1")
                .bind(name.clone())
                .execute(&mut *self.conn)
                .await?;
            sqlx::query("DELETE FROM route_targets WHERE route = $1")
                .bind(name.clone())
                .execute(&mut *self.conn)
                .await?;
            match new {
                None => {
                    sqlx::query("DELETE FROM routes WHERE name = $1")
                        .bind(name.clone())
                        .execute(&mut *self.conn)
                        .await?;
                }
                Some(r) => {
                    let managed = self.ownership("routes", &name, old.is_some()).await?;
                    sqlx::query(
                        "INSERT INTO routes (name, spec, managed, updated_at_ms) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, managed = excluded.managed, \
                         updated_at_ms = excluded.updated_at_ms",
                    )
                    .bind(name.clone())
                    .bind(serde_json::to_string(&RouteSpec::of(r))?)
                    .bind(i64::from(managed))
                    .bind(self.now)
                    .execute(&mut *self.conn)
                    .await?;
                    for (position, alias) in r.aliases.iter().enumerate() {
                        sqlx::query("INSERT INTO route_aliases (alias, route, position) VALUES ($1, $2, $3)")
                            .bind(alias.clone())
                            .bind(name.clone())
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .execute(&mut *self.conn)
                            .await?;
                    }
                    for (position, t) in r.targets.iter().enumerate() {
                        let price = t.price.as_ref();
                        sqlx::query(
                            "INSERT INTO route_targets (route, position, provider, model, priority, price_currency, \
                             input_per_mtok_micros, output_per_mtok_micros, cached_per_mtok_micros) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(name.clone())
                        .bind(i64::try_from(position).unwrap_or(i64::MAX))
                        .bind(t.provider.clone())
                        .bind(t.model.clone())
                        .bind(i64::from(t.priority))
                        .bind(price.map(|p| p.currency.clone()))
                        .bind(price.and_then(|p| p.input_per_mtok_micros))
                        .bind(price.and_then(|p| p.output_per_mtok_micros))
                        .bind(price.and_then(|p| p.cached_input_per_mtok_micros))
                        .execute(&mut *self.conn)
                        .await?;
                    }
                }
            }
            self.audit("route", &name, old.map(route_json), new.map(route_json)).await?;
        }
        Ok(())
    }

    async fn keys(&mut self, before: &Config, after: &Config) -> Result<(), StoreError> {
        for (old, new) in pairs(&before.keys, &after.keys, |k| &k.name) {
            if old == new {
                continue;
            }
            let name = new.or(old).map(|k| k.name.clone()).unwrap_or_default();
            match new {
                None => {
                    sqlx::query("DELETE FROM client_keys WHERE name = $1")
                        .bind(name.clone())
                        .execute(&mut *self.conn)
                        .await?;
                }
                Some(k) => {
                    let managed = self.ownership("client_keys", &name, old.is_some()).await?;
                    sqlx::query(
                        "INSERT INTO client_keys (name, key_sha256, spec, managed, updated_at_ms) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (name) DO UPDATE SET key_sha256 = excluded.key_sha256, spec = excluded.spec, \
                         managed = excluded.managed, updated_at_ms = excluded.updated_at_ms",
                    )
                    .bind(name.clone())
                    .bind(k.key_sha256.to_hex())
                    .bind(serde_json::to_string(&KeySpec::of(k))?)
                    .bind(i64::from(managed))
                    .bind(self.now)
                    .execute(&mut *self.conn)
                    .await?;
                }
            }
            self.audit("key", &name, old.map(key_json), new.map(key_json)).await?;
        }
        Ok(())
    }

    async fn settings(&mut self, old: &Settings, new: &Settings) -> Result<(), StoreError> {
        if old == new {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO settings (id, spec, updated_at_ms) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(serde_json::to_string(&SettingsSpec::of(new))?)
        .bind(self.now)
        .execute(&mut *self.conn)
        .await?;
        sqlx::query("DELETE FROM alert_channels").execute(&mut *self.conn).await?;
        for (position, c) in new.alerts.channels.iter().enumerate() {
            let (a, b) = match &c.kind {
                AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret } => {
                    (webhook, secret.as_ref())
                }
                AlertChannelKind::WeCom { webhook } => (webhook, None),
                AlertChannelKind::Webhook { url } => (url, None),
            };
            let seal = |column: &str, s: &Secret| {
                self.key.seal(s.expose().as_bytes(), &context("alert_channels", &[&c.name, column]))
            };
            let a = seal("a", a)?;
            let b = b.map(|s| seal("b", s)).transpose()?;
            sqlx::query("INSERT INTO alert_channels (name, position, kind, secret_a, secret_b, managed) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(c.name.clone())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(c.kind.as_str().to_owned())
                .bind(a)
                .bind(b)
                .bind(i64::from(self.managed()))
                .execute(&mut *self.conn)
                .await?;
        }
        self.audit("settings", "settings", Some(settings_json(old)), Some(settings_json(new))).await
    }
}
