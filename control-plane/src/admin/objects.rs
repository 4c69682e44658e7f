//! Imperative CRUD of the declarative objects: providers, accounts, routes,
//! client keys and settings. Every write goes through [`Store::write`]
//! (validation of the whole resulting config, revision bump and audit, all in
//! one transaction) as an unmanaged change, then is published at once. Reads
//! return secrets only as `${redacted:FP}` markers, to every caller; a put
//! may send such a marker back to keep the stored secret.
//!
//! [`Store::write`]: crate::store::Store::write

use super::{AdminService, Caller, status};
use crate::error::{invalid, required};
use crate::store::{Change, ObjectMeta, Ownership, StoreError, resolve_channel, resolve_provider, resolve_secret};
use switchyard_proto::model::{ClientKey, Config, ConfigError, ConfigErrors, KeyHash};
use switchyard_proto::pb;
use switchyard_proto::wire::objects as wire;
use tonic::Status;

/// Wire conversion errors, one per line, each with its path.
fn conversion(errors: ConfigErrors) -> Status {
    Status::invalid_argument(errors.to_string())
}

fn exclusive(create_only: bool, update_only: bool) -> Result<(), Status> {
    if create_only && update_only {
        return Err(invalid("update_only", "cannot be combined with create_only"));
    }
    Ok(())
}

fn change<'a>(caller: &'a Caller, action: &'a str) -> Change<'a> {
    Change { actor: &caller.name, action, ownership: Ownership::Unmanaged }
}

/// Validation errors of the written object under the request's own path
/// (`providers[3].accounts[0].weight` -> `provider.accounts[0].weight`);
/// errors elsewhere in the config keep theirs.
fn refocus(e: StoreError, focus: Option<String>, to: &str) -> StoreError {
    let (StoreError::Invalid(errors), Some(from)) = (&e, focus) else { return e };
    let errors = errors
        .iter()
        .map(|error| {
            let mut error = error.clone();
            if let Some(rest) = error.path.strip_prefix(&from)
                && (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            {
                error.path = format!("{to}{rest}");
            }
            error
        })
        .collect();
    StoreError::Invalid(ConfigErrors(errors))
}

/// A successful write: published to connected nodes at once.
pub(super) async fn written(svc: &AdminService, version: u64) -> Result<pb::WriteResult, Status> {
    let config_version = svc.published(version).await?;
    Ok(pb::WriteResult { config_version })
}

fn meta(m: Option<&ObjectMeta>) -> pb::ObjectMeta {
    let m = m.copied().unwrap_or_default();
    pb::ObjectMeta { managed: m.managed, updated_at_ms: m.updated_at_ms }
}

/// Replaces the item at `at`, or appends it; returns where it went.
fn upsert<T>(items: &mut Vec<T>, at: Option<usize>, item: T) -> usize {
    match at {
        Some(i) => {
            items[i] = item;
            i
        }
        None => {
            items.push(item);
            items.len() - 1
        }
    }
}

fn not_found(what: &str, name: &str) -> StoreError {
    StoreError::NotFound(format!("{what} {name:?} does not exist"))
}

fn exists(what: &str, name: &str) -> StoreError {
    StoreError::Exists(format!("{what} {name:?} exists"))
}

/// Create-only / update-only against whether the object exists.
fn check_presence(what: &str, name: &str, found: bool, create_only: bool, update_only: bool) -> Result<(), StoreError> {
    match (found, create_only, update_only) {
        (true, true, _) => Err(exists(what, name)),
        (false, _, true) => Err(not_found(what, name)),
        _ => Ok(()),
    }
}

pub async fn list_providers(svc: &AdminService) -> Result<pb::ProviderList, Status> {
    let listing = svc.store.listing().await.map_err(status)?;
    let providers = listing
        .config
        .providers
        .iter()
        .map(|p| pb::ProviderEntry {
            provider: Some(pb::Provider::from(&p.redacted())),
            meta: Some(meta(listing.providers.get(&p.name))),
        })
        .collect();
    Ok(pb::ProviderList { providers })
}

pub async fn put_provider(
    svc: &AdminService,
    caller: &Caller,
    r: pb::PutProviderRequest,
) -> Result<pb::WriteResult, Status> {
    exclusive(r.create_only, r.update_only)?;
    let message = r.provider.ok_or_else(|| required("provider"))?;
    if message.name.is_empty() {
        return Err(required("provider.name"));
    }
    let mut provider = wire::provider(message, "provider").map_err(conversion)?;
    let keep_accounts = provider.accounts.is_empty();
    let mut focus = None;
    let result = svc
        .store
        .write(change(caller, "provider.put"), |config| {
            let at = config.providers.iter().position(|p| p.name == provider.name);
            check_presence("provider", &provider.name, at.is_some(), r.create_only, r.update_only)?;
            let stored = at.map(|i| &config.providers[i]);
            if keep_accounts && let Some(stored) = stored {
                provider.accounts = stored.accounts.clone();
            }
            resolve_provider("provider", &mut provider, stored)?;
            let i = upsert(&mut config.providers, at, provider);
            focus = Some(format!("providers[{i}]"));
            Ok(())
        })
        .await;
    let version = result.map_err(|e| status(refocus(e, focus, "provider")))?;
    written(svc, version).await
}

pub async fn put_account(
    svc: &AdminService,
    caller: &Caller,
    r: pb::PutAccountRequest,
) -> Result<pb::WriteResult, Status> {
    exclusive(r.create_only, r.update_only)?;
    if r.provider.is_empty() {
        return Err(required("provider"));
    }
    let message = r.account.ok_or_else(|| required("account"))?;
    if message.name.is_empty() {
        return Err(required("account.name"));
    }
    let mut account = wire::account(message, "account").map_err(conversion)?;
    let provider = r.provider;
    let mut focus = None;
    let result = svc
        .store
        .write(change(caller, "account.put"), |config| {
            let i = config
                .providers
                .iter()
                .position(|p| p.name == provider)
                .ok_or_else(|| not_found("provider", &provider))?;
            let p = &mut config.providers[i];
            let at = p.accounts.iter().position(|a| a.name == account.name);
            let full = format!("{provider}/{}", account.name);
            check_presence("account", &full, at.is_some(), r.create_only, r.update_only)?;
            resolve_secret("account.api_key", &mut account.api_key, at.map(|j| &p.accounts[j].api_key))?;
            let j = upsert(&mut p.accounts, at, account);
            focus = Some(format!("providers[{i}].accounts[{j}]"));
            Ok(())
        })
        .await;
    let version = result.map_err(|e| status(refocus(e, focus, "account")))?;
    written(svc, version).await
}

pub async fn list_routes(svc: &AdminService) -> Result<pb::RouteList, Status> {
    let listing = svc.store.listing().await.map_err(status)?;
    let routes = listing
        .config
        .models
        .iter()
        .map(|r| pb::RouteEntry { route: Some(r.into()), meta: Some(meta(listing.routes.get(&r.name))) })
        .collect();
    Ok(pb::RouteList { routes })
}

pub async fn put_route(svc: &AdminService, caller: &Caller, r: pb::PutRouteRequest) -> Result<pb::WriteResult, Status> {
    exclusive(r.create_only, r.update_only)?;
    let message = r.route.ok_or_else(|| required("route"))?;
    if message.name.is_empty() {
        return Err(required("route.name"));
    }
    let route = wire::route(message, "route").map_err(conversion)?;
    let mut focus = None;
    let result = svc
        .store
        .write(change(caller, "route.put"), |config| {
            let at = config.models.iter().position(|m| m.name == route.name);
            check_presence("route", &route.name, at.is_some(), r.create_only, r.update_only)?;
            let i = upsert(&mut config.models, at, route);
            focus = Some(format!("models[{i}]"));
            Ok(())
        })
        .await;
    let version = result.map_err(|e| status(refocus(e, focus, "route")))?;
    written(svc, version).await
}

pub async fn list_keys(svc: &AdminService) -> Result<pb::KeyList, Status> {
    let listing = svc.store.listing().await.map_err(status)?;
    let keys = listing
        .config
        .keys
        .iter()
        .map(|k| pb::KeyEntry { key: Some(k.into()), meta: Some(meta(listing.keys.get(&k.name))) })
        .collect();
    Ok(pb::KeyList { keys })
}

/// Puts `key` (replacing or adding by name); with `keep_hash` an existing
/// key keeps its stored SHA-256.
async fn write_key(
    svc: &AdminService,
    caller: &Caller,
    action: &str,
    mut key: ClientKey,
    keep_hash: bool,
    create_only: bool,
    update_only: bool,
) -> Result<u64, Status> {
    let mut focus = None;
    let result = svc
        .store
        .write(change(caller, action), |config| {
            let at = config.keys.iter().position(|k| k.name == key.name);
            check_presence("key", &key.name, at.is_some(), create_only, update_only)?;
            if keep_hash {
                let Some(i) = at else {
                    let message = "required for a new key (32 bytes; CreateKey generates a key)";
                    return Err(StoreError::Invalid(ConfigErrors::single(ConfigError::invalid(
                        "key.key_sha256",
                        message,
                    ))));
                };
                key.key_sha256 = config.keys[i].key_sha256;
            }
            let i = upsert(&mut config.keys, at, key);
            focus = Some(format!("keys[{i}]"));
            Ok(())
        })
        .await;
    result.map_err(|e| status(refocus(e, focus, "key")))
}

/// A fresh client key: shown once, only its SHA-256 is kept.
pub async fn create_key(
    svc: &AdminService,
    caller: &Caller,
    r: pb::CreateKeyRequest,
) -> Result<pb::CreateKeyResponse, Status> {
    let mut message = r.key.ok_or_else(|| required("key"))?;
    if message.name.is_empty() {
        return Err(required("key.name"));
    }
    // Ignored: the server makes the key.
    message.key_sha256 = vec![0; 32];
    let mut key = wire::key(message, "key").map_err(conversion)?;
    let secret = super::tokens::generate("sk-sy-")?;
    key.key_sha256 = KeyHash::of(&secret);
    let version = write_key(svc, caller, "key.create", key, false, true, false).await?;
    let config_version = svc.published(version).await?;
    Ok(pb::CreateKeyResponse { key: secret, config_version })
}

pub async fn put_key(svc: &AdminService, caller: &Caller, r: pb::PutKeyRequest) -> Result<pb::WriteResult, Status> {
    exclusive(r.create_only, r.update_only)?;
    let mut message = r.key.ok_or_else(|| required("key"))?;
    if message.name.is_empty() {
        return Err(required("key.name"));
    }
    // No hash given: an existing key keeps its own (a new one is refused in the write).
    let keep_hash = message.key_sha256.is_empty();
    if keep_hash {
        message.key_sha256 = vec![0; 32];
    }
    let key = wire::key(message, "key").map_err(conversion)?;
    let version = write_key(svc, caller, "key.put", key, keep_hash, r.create_only, r.update_only).await?;
    written(svc, version).await
}

fn kind_name(kind: pb::ObjectKind) -> &'static str {
    match kind {
        pb::ObjectKind::Provider => "provider",
        pb::ObjectKind::Account => "account",
        pb::ObjectKind::Route => "route",
        pb::ObjectKind::Key => "key",
        pb::ObjectKind::Settings => "settings",
        pb::ObjectKind::AlertChannel => "alert channel",
        pb::ObjectKind::NodeToken => "node token",
        pb::ObjectKind::AdminToken => "admin token",
        pb::ObjectKind::Unspecified => "unspecified",
    }
}

/// Removes the named object from `config`; `NotFound` when it is not there.
fn remove(config: &mut Config, kind: pb::ObjectKind, parent: &str, name: &str) -> Result<(), StoreError> {
    match kind {
        pb::ObjectKind::Provider => {
            let i = config.providers.iter().position(|p| p.name == name).ok_or_else(|| not_found("provider", name))?;
            config.providers.remove(i);
        }
        pb::ObjectKind::Account => {
            let p =
                config.providers.iter_mut().find(|p| p.name == parent).ok_or_else(|| not_found("provider", parent))?;
            let full = format!("{parent}/{name}");
            let j = p.accounts.iter().position(|a| a.name == name).ok_or_else(|| not_found("account", &full))?;
            p.accounts.remove(j);
        }
        pb::ObjectKind::Route => {
            let i = config.models.iter().position(|r| r.name == name).ok_or_else(|| not_found("route", name))?;
            config.models.remove(i);
        }
        pb::ObjectKind::Key => {
            let i = config.keys.iter().position(|k| k.name == name).ok_or_else(|| not_found("key", name))?;
            config.keys.remove(i);
        }
        other => return Err(StoreError::Refused(format!("{} cannot be deleted here", kind_name(other)))),
    }
    Ok(())
}

/// Deletes a provider, account (`parent` names its provider), route or key.
/// Whatever still refers to it makes validation refuse, naming the field.
pub async fn delete(
    svc: &AdminService,
    caller: &Caller,
    kind: pb::ObjectKind,
    r: pb::ObjectRef,
) -> Result<pb::WriteResult, Status> {
    if r.kind != pb::ObjectKind::Unspecified as i32 && r.kind != kind as i32 {
        return Err(invalid("kind", format!("this call deletes a {}", kind_name(kind))));
    }
    if !matches!(kind, pb::ObjectKind::Provider | pb::ObjectKind::Account | pb::ObjectKind::Route | pb::ObjectKind::Key)
    {
        return Err(invalid("kind", format!("a {} cannot be deleted here", kind_name(kind))));
    }
    if r.name.is_empty() {
        return Err(required("name"));
    }
    if kind == pb::ObjectKind::Account && r.parent.is_empty() {
        return Err(required("parent"));
    }
    let action = format!("{}.delete", kind_name(kind));
    let version = svc
        .store
        .write(change(caller, &action), |config| remove(config, kind, &r.parent, &r.name))
        .await
        .map_err(status)?;
    written(svc, version).await
}

pub async fn set_enabled(
    svc: &AdminService,
    caller: &Caller,
    r: pb::SetEnabledRequest,
) -> Result<pb::WriteResult, Status> {
    let object = r.object.ok_or_else(|| required("object"))?;
    let kind = pb::ObjectKind::try_from(object.kind).unwrap_or(pb::ObjectKind::Unspecified);
    if kind == pb::ObjectKind::Unspecified {
        return Err(invalid("object.kind", "required (provider, account or key)"));
    }
    if !matches!(kind, pb::ObjectKind::Provider | pb::ObjectKind::Account | pb::ObjectKind::Key) {
        return Err(invalid(
            "object.kind",
            format!("a {} has no enabled flag (providers, accounts and keys do)", kind_name(kind)),
        ));
    }
    if object.name.is_empty() {
        return Err(required("object.name"));
    }
    if kind == pb::ObjectKind::Account && object.parent.is_empty() {
        return Err(required("object.parent"));
    }
    let (name, parent, enabled) = (object.name, object.parent, r.enabled);
    let action = format!("{}.{}", kind_name(kind), if enabled { "enable" } else { "disable" });
    let version = svc
        .store
        .write(change(caller, &action), |config| {
            let flag = match kind {
                pb::ObjectKind::Provider => {
                    let p = config
                        .providers
                        .iter_mut()
                        .find(|p| p.name == name)
                        .ok_or_else(|| not_found("provider", &name))?;
                    &mut p.enabled
                }
                pb::ObjectKind::Account => {
                    let p = config
                        .providers
                        .iter_mut()
                        .find(|p| p.name == parent)
                        .ok_or_else(|| not_found("provider", &parent))?;
                    let full = format!("{parent}/{name}");
                    let a =
                        p.accounts.iter_mut().find(|a| a.name == name).ok_or_else(|| not_found("account", &full))?;
                    &mut a.enabled
                }
                _ => {
                    let k = config.keys.iter_mut().find(|k| k.name == name).ok_or_else(|| not_found("key", &name))?;
                    &mut k.enabled
                }
            };
            *flag = enabled;
            Ok(())
        })
        .await
        .map_err(status)?;
    written(svc, version).await
}

pub async fn get_settings(svc: &AdminService) -> Result<pb::Settings, Status> {
    let (_, config) = svc.store.load().await.map_err(status)?;
    Ok(pb::Settings::from(&config.settings.redacted()))
}

pub async fn put_settings(
    svc: &AdminService,
    caller: &Caller,
    message: pb::Settings,
) -> Result<pb::WriteResult, Status> {
    let mut settings = wire::settings(message).map_err(conversion)?;
    let version = svc
        .store
        .write(change(caller, "settings.put"), |config| {
            for (i, c) in settings.alerts.channels.iter_mut().enumerate() {
                let stored = config.settings.alerts.channels.iter().find(|s| s.name == c.name);
                resolve_channel(&format!("settings.alerts.channels[{i}]"), c, stored)?;
            }
            config.settings = settings;
            Ok(())
        })
        .await
        .map_err(status)?;
    written(svc, version).await
}
