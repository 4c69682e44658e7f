//! `syctl account ...`: a provider's accounts (upstream API keys); their
//! balances are [`crate::balance`]'s. The key comes from `--api-key-file` or `--api-key-env`; a `set`
//! without one sends the stored key's `${redacted:FP}` marker back, which
//! keeps it.

use crate::Ctx;
use crate::balance;
use crate::cli::{AccountCmd, AccountFlags, ApiKeyFlags};
use crate::client::Reply;
use crate::error::Error;
use crate::output::{self, Table, yes_no};
use crate::provider::{account_json, balance_policy, find, list_all};
use crate::secrets;
use crate::units;
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: AccountCmd) -> Result<i32, Error> {
    match cmd {
        AccountCmd::List { provider } => list(ctx, provider.as_deref()).await,
        AccountCmd::Add { provider, name, key, spec } => {
            let api_key = read_key(&key, ctx)?
                .ok_or_else(|| Error::Usage("--api-key-file or --api-key-env is required".into()))?;
            let mut account = pb::Account {
                name: name.clone(),
                api_key: Some(pb::SecretValue { value: api_key }),
                weight: 1,
                enabled: true,
                balance: None,
            };
            apply_flags(&mut account, &spec)?;
            let mut c = ctx.connect().await?;
            let request = pb::PutAccountRequest {
                provider: provider.clone(),
                account: Some(account),
                create_only: true,
                update_only: false,
            };
            let r = c.rpc.put_account(request).await.reply(&c.url)?;
            ctx.written("account", &format!("{provider}/{name}"), "created", r.config_version)
        }
        AccountCmd::Set { provider, name, key, spec, no_balance_policy } => {
            let new_key = read_key(&key, ctx)?;
            let mut c = ctx.connect().await?;
            let p = find(&mut c, &provider).await?.provider.unwrap_or_default();
            let mut account = p
                .accounts
                .into_iter()
                .find(|a| a.name == name)
                .ok_or_else(|| Error::not_found(format!("provider {provider:?} has no account {name:?}")))?;
            if let Some(value) = new_key {
                account.api_key = Some(pb::SecretValue { value });
            }
            if no_balance_policy {
                account.balance = None;
            }
            apply_flags(&mut account, &spec)?;
            let request = pb::PutAccountRequest {
                provider: provider.clone(),
                account: Some(account),
                create_only: false,
                update_only: true,
            };
            let r = c.rpc.put_account(request).await.reply(&c.url)?;
            ctx.written("account", &format!("{provider}/{name}"), "updated", r.config_version)
        }
        AccountCmd::Enable { provider, name } => enabled(ctx, &provider, &name, true).await,
        AccountCmd::Disable { provider, name } => enabled(ctx, &provider, &name, false).await,
        AccountCmd::Rm { provider, name } => {
            let mut c = ctx.connect().await?;
            let r = c.rpc.delete_account(reference(&provider, &name)).await.reply(&c.url)?;
            ctx.written("account", &format!("{provider}/{name}"), "deleted", r.config_version)
        }
        AccountCmd::Balance(cmd) => balance::run(ctx, cmd).await,
    }
}

fn reference(provider: &str, name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: pb::ObjectKind::Account.into(), name: name.to_owned(), parent: provider.to_owned() }
}

fn read_key(key: &ApiKeyFlags, ctx: &Ctx<'_>) -> Result<Option<String>, Error> {
    let flags = ("--api-key-file", "--api-key-env");
    secrets::either(key.api_key_file.as_deref(), key.api_key_env.as_deref(), flags, ctx.env)
}

fn apply_flags(a: &mut pb::Account, f: &AccountFlags) -> Result<(), Error> {
    if let Some(w) = f.weight {
        a.weight = w;
    }
    if let Some(currency) = &f.balance_currency {
        let currency = units::currency("--balance-currency", currency)?;
        let policy = a.balance.get_or_insert_with(Default::default);
        policy.currency = currency;
    }
    if let Some(below) = &f.alert_below {
        let micros = units::amount("--alert-below", below)?;
        let policy = a
            .balance
            .as_mut()
            .ok_or_else(|| Error::Usage("--alert-below needs a balance policy: give --balance-currency too".into()))?;
        policy.alert_below_micros = Some(micros);
    }
    Ok(())
}

async fn enabled(ctx: &mut Ctx<'_>, provider: &str, name: &str, enabled: bool) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let request = pb::SetEnabledRequest { object: Some(reference(provider, name)), enabled };
    let r = c.rpc.set_enabled(request).await.reply(&c.url)?;
    let action = if enabled { "enabled" } else { "disabled" };
    ctx.written("account", &format!("{provider}/{name}"), action, r.config_version)
}

async fn list(ctx: &mut Ctx<'_>, only: Option<&str>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let providers: Vec<pb::Provider> = match only {
        Some(name) => vec![find(&mut c, name).await?.provider.unwrap_or_default()],
        None => list_all(&mut c).await?.into_iter().filter_map(|e| e.provider).collect(),
    };
    if ctx.json() {
        let items: Vec<Value> = providers
            .iter()
            .flat_map(|p| {
                p.accounts.iter().map(|a| {
                    let mut v = account_json(a);
                    v["provider"] = Value::from(p.name.clone());
                    v
                })
            })
            .collect();
        output::json(ctx.out, &json!({ "accounts": items }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["PROVIDER", "NAME", "WEIGHT", "ENABLED", "API KEY", "BALANCE POLICY"]);
    for p in &providers {
        for a in &p.accounts {
            t.row(vec![
                p.name.clone(),
                a.name.clone(),
                a.weight.to_string(),
                yes_no(a.enabled),
                a.api_key.as_ref().map_or_else(|| "-".into(), |s| s.value.clone()),
                balance_policy(a.balance.as_ref()),
            ]);
        }
    }
    output::table(ctx.out, &t, "no accounts")?;
    Ok(0)
}
