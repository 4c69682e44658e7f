//! `syctl provider ...`: upstream providers. Edits are read-modify-write:
//! the provider is listed (secrets come back as `${redacted:FP}` markers,
//! which the server resolves to the stored secrets when they are sent back),
//! the given fields change, and it is written with `update_only`.

use crate::Ctx;
use crate::cli::{ProviderCmd, ProviderFlags};
use crate::client::{Client, Reply};
use crate::error::Error;
use crate::names;
use crate::output::{self, Table, or_dash, yes_no};
use crate::probe;
use crate::secrets;
use crate::units::{json_ms_time, show_money, show_ms, show_ms_time};
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: ProviderCmd) -> Result<i32, Error> {
    match cmd {
        ProviderCmd::List => list(ctx).await,
        ProviderCmd::Get { name } => get(ctx, &name).await,
        ProviderCmd::Add { name, spec, account, api_key_file, api_key_env } => {
            let kind = spec.kind.ok_or_else(|| Error::Usage("provider add: --kind is required".into()))?;
            let base_url = match (&spec.base_url, kind.default_base_url()) {
                (Some(url), _) => url.clone(),
                (None, Some(url)) => url.to_owned(),
                (None, None) => {
                    return Err(Error::Usage(format!(
                        "provider add: --base-url is required for kind {}",
                        names::provider_kind(kind.to_pb().into())
                    )));
                }
            };
            let mut provider = pb::Provider {
                name: name.clone(),
                kind: kind.to_pb().into(),
                base_url,
                enabled: true,
                timeout: Some(pb::TimeoutOverrides::default()),
                ..Default::default()
            };
            apply_flags(&mut provider, &spec)?;
            if let Some(account) = account {
                let files = ("--api-key-file", "--api-key-env");
                let key = secrets::either(api_key_file.as_deref(), api_key_env.as_deref(), files, ctx.env)?
                    .ok_or_else(|| Error::Usage("--account needs --api-key-file or --api-key-env".into()))?;
                provider.accounts.push(pb::Account {
                    name: account,
                    api_key: Some(pb::SecretValue { value: key }),
                    weight: 1,
                    enabled: true,
                    balance: None,
                });
            }
            let mut c = ctx.connect().await?;
            let request = pb::PutProviderRequest { provider: Some(provider), create_only: true, update_only: false };
            let r = c.rpc.put_provider(request).await.reply(&c.url)?;
            ctx.written("provider", &name, "created", r.config_version)
        }
        ProviderCmd::Set { name, spec, remove_header, no_proxy } => {
            let mut c = ctx.connect().await?;
            let mut provider = find(&mut c, &name).await?.provider.unwrap_or_default();
            if let Some(kind) = spec.kind {
                provider.kind = kind.to_pb().into();
            }
            if let Some(url) = &spec.base_url {
                provider.base_url = url.clone();
            }
            for header in &remove_header {
                let before = provider.headers.len();
                provider.headers.retain(|k, _| !k.eq_ignore_ascii_case(header));
                if provider.headers.len() == before {
                    return Err(Error::Usage(format!("--remove-header: provider {name} has no header {header:?}")));
                }
            }
            if no_proxy {
                provider.proxy = None;
            }
            apply_flags(&mut provider, &spec)?;
            let request = pb::PutProviderRequest { provider: Some(provider), create_only: false, update_only: true };
            let r = c.rpc.put_provider(request).await.reply(&c.url)?;
            ctx.written("provider", &name, "updated", r.config_version)
        }
        ProviderCmd::Enable { name } => enabled(ctx, &name, true).await,
        ProviderCmd::Disable { name } => enabled(ctx, &name, false).await,
        ProviderCmd::Rm { name } => {
            let mut c = ctx.connect().await?;
            let r = c.rpc.delete_provider(reference(&name)).await.reply(&c.url)?;
            ctx.written("provider", &name, "deleted", r.config_version)
        }
        ProviderCmd::Test { name } => probe::test(ctx, &name).await,
        ProviderCmd::Models { name } => probe::models(ctx, &name).await,
    }
}

pub fn reference(name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: pb::ObjectKind::Provider.into(), name: name.to_owned(), parent: String::new() }
}

/// The flags that were given, applied to `p`.
fn apply_flags(p: &mut pb::Provider, f: &ProviderFlags) -> Result<(), Error> {
    for header in &f.header {
        let (k, v) =
            header.split_once('=').ok_or_else(|| Error::Usage(format!("--header {header:?}: expected NAME=VALUE")))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(Error::Usage(format!("--header {header:?}: the name is empty")));
        }
        p.headers.retain(|name, _| !name.eq_ignore_ascii_case(k));
        p.headers.insert(k.to_owned(), v.to_owned());
    }
    if let Some(path) = &f.proxy_file {
        p.proxy = Some(pb::SecretValue { value: secrets::from_file("--proxy-file", path)? });
    }
    if let Some(v) = &f.api_version {
        p.api_version = Some(v.clone());
    }
    if let Some(n) = f.default_max_tokens {
        p.default_max_tokens = Some(n);
    }
    if let Some(b) = f.http2 {
        p.http2 = b;
    }
    if let Some(s) = f.stream_usage {
        p.stream_usage = s.to_pb().into();
    }
    if let Some(d) = f.on_disconnect {
        p.on_disconnect = d.to_pb().into();
    }
    if let Some(b) = f.balance_api {
        p.balance_api = b.to_pb().into();
    }
    let timeout = p.timeout.get_or_insert_with(Default::default);
    let durations = [
        ("--connect-timeout", &f.connect_timeout, &mut timeout.connect_ms),
        ("--first-token-timeout", &f.first_token_timeout, &mut timeout.first_token_ms),
        ("--idle-timeout", &f.idle_timeout, &mut timeout.idle_ms),
        ("--total-timeout", &f.total_timeout, &mut timeout.total_ms),
    ];
    for (flag, value, field) in durations {
        if let Some(s) = value {
            *field = Some(crate::units::duration_ms(flag, s)?);
        }
    }
    Ok(())
}

pub async fn list_all(c: &mut Client) -> Result<Vec<pb::ProviderEntry>, Error> {
    Ok(c.rpc.list_providers(pb::ListRequest {}).await.reply(&c.url)?.providers)
}

pub async fn find(c: &mut Client, name: &str) -> Result<pb::ProviderEntry, Error> {
    list_all(c)
        .await?
        .into_iter()
        .find(|e| e.provider.as_ref().is_some_and(|p| p.name == name))
        .ok_or_else(|| Error::not_found(format!("provider {name:?} does not exist")))
}

async fn enabled(ctx: &mut Ctx<'_>, name: &str, enabled: bool) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let request = pb::SetEnabledRequest { object: Some(reference(name)), enabled };
    let r = c.rpc.set_enabled(request).await.reply(&c.url)?;
    ctx.written("provider", name, if enabled { "enabled" } else { "disabled" }, r.config_version)
}

async fn list(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entries = list_all(&mut c).await?;
    if ctx.json() {
        let items: Vec<Value> = entries.iter().map(provider_json).collect();
        output::json(ctx.out, &json!({ "providers": items }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["NAME", "KIND", "BASE URL", "ACCOUNTS", "ENABLED", "MANAGED"]);
    for e in &entries {
        let p = e.provider.clone().unwrap_or_default();
        let accounts = p.accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(",");
        let managed = e.meta.as_ref().is_some_and(|m| m.managed);
        t.row(vec![
            p.name,
            names::provider_kind(p.kind).into(),
            p.base_url,
            or_dash(accounts),
            yes_no(p.enabled),
            yes_no(managed),
        ]);
    }
    output::table(ctx.out, &t, "no providers")?;
    Ok(0)
}

async fn get(ctx: &mut Ctx<'_>, name: &str) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entry = find(&mut c, name).await?;
    if ctx.json() {
        output::json(ctx.out, &provider_json(&entry))?;
        return Ok(0);
    }
    let p = entry.provider.clone().unwrap_or_default();
    let meta = entry.meta.unwrap_or_default();
    let headers = p.headers.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    let mut pairs = vec![
        ("name", p.name.clone()),
        ("kind", names::provider_kind(p.kind).into()),
        ("base_url", p.base_url.clone()),
        ("enabled", yes_no(p.enabled)),
        ("headers", or_dash(headers)),
        ("proxy", p.proxy.as_ref().map_or_else(|| "-".into(), |s| s.value.clone())),
        ("timeout", or_dash(timeouts(p.timeout.as_ref()))),
        ("stream_usage", names::stream_usage(p.stream_usage).into()),
        ("on_disconnect", names::on_disconnect(p.on_disconnect).into()),
        ("balance_api", names::balance_api(p.balance_api).into()),
        ("http2", yes_no(p.http2)),
        ("health_check", health_check(p.health_check.as_ref())),
    ];
    if let Some(v) = &p.api_version {
        pairs.push(("api_version", v.clone()));
    }
    if let Some(n) = p.default_max_tokens {
        pairs.push(("default_max_tokens", n.to_string()));
    }
    pairs.push(("managed", yes_no(meta.managed)));
    pairs.push(("updated", show_ms_time(meta.updated_at_ms)));
    output::write(ctx.out, &output::fields(&pairs))?;
    output::write(ctx.out, "\naccounts:")?;
    output::write(ctx.out, &account_table(&p).render())?;
    Ok(0)
}

/// `models every 30s (timeout 5s)`, or `off`.
fn health_check(c: Option<&pb::HealthCheck>) -> String {
    match c {
        None => "off".into(),
        Some(c) => format!(
            "{} every {} (timeout {})",
            names::health_request(c.request),
            show_ms(c.interval_ms),
            show_ms(c.timeout_ms)
        ),
    }
}

/// `connect=5s first_token=60s` for the overrides that are set.
fn timeouts(t: Option<&pb::TimeoutOverrides>) -> String {
    let Some(t) = t else { return String::new() };
    let parts =
        [("connect", t.connect_ms), ("first_token", t.first_token_ms), ("idle", t.idle_ms), ("total", t.total_ms)];
    parts.iter().filter_map(|(k, v)| v.map(|ms| format!("{k}={}", show_ms(ms)))).collect::<Vec<_>>().join(" ")
}

pub fn account_table(p: &pb::Provider) -> Table {
    let mut t = Table::new(&["NAME", "WEIGHT", "ENABLED", "API KEY", "BALANCE POLICY"]);
    for a in &p.accounts {
        t.row(vec![
            a.name.clone(),
            a.weight.to_string(),
            yes_no(a.enabled),
            a.api_key.as_ref().map_or_else(|| "-".into(), |s| s.value.clone()),
            balance_policy(a.balance.as_ref()),
        ]);
    }
    t
}

pub fn balance_policy(b: Option<&pb::BalancePolicy>) -> String {
    match b {
        None => "-".into(),
        Some(b) => match b.alert_below_micros {
            Some(below) => format!("{} (alert below {})", b.currency, show_money(below)),
            None => b.currency.clone(),
        },
    }
}

pub fn provider_json(e: &pb::ProviderEntry) -> Value {
    let p = e.provider.clone().unwrap_or_default();
    let meta = e.meta.unwrap_or_default();
    let t = p.timeout.unwrap_or_default();
    let timeout: serde_json::Map<String, Value> =
        [("connect", t.connect_ms), ("first_token", t.first_token_ms), ("idle", t.idle_ms), ("total", t.total_ms)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), Value::from(show_ms(v?)))))
            .collect();
    json!({
        "name": p.name,
        "kind": names::provider_kind(p.kind),
        "base_url": p.base_url,
        "headers": p.headers,
        "proxy": p.proxy.as_ref().map(|s| s.value.clone()),
        "timeout": timeout,
        "stream_usage": names::stream_usage(p.stream_usage),
        "on_disconnect": names::on_disconnect(p.on_disconnect),
        "enabled": p.enabled,
        "balance_api": names::balance_api(p.balance_api),
        "api_version": p.api_version,
        "default_max_tokens": p.default_max_tokens,
        "http2": p.http2,
        "health_check": p.health_check.as_ref().map(|c| json!({
            "interval": show_ms(c.interval_ms),
            "timeout": show_ms(c.timeout_ms),
            "request": names::health_request(c.request),
        })),
        "accounts": p.accounts.iter().map(account_json).collect::<Vec<_>>(),
        "managed": meta.managed,
        "updated_at": json_ms_time(meta.updated_at_ms),
    })
}

pub fn account_json(a: &pb::Account) -> Value {
    json!({
        "name": a.name,
        "api_key": a.api_key.as_ref().map(|s| s.value.clone()),
        "weight": a.weight,
        "enabled": a.enabled,
        "balance": a.balance.as_ref().map(|b| json!({
            "currency": b.currency,
            "alert_below": b.alert_below_micros.map(show_money),
        })),
    })
}
