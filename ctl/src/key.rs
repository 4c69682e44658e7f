//! `syctl key ...`: client API keys. `create` has the server generate the
//! key (`CreateKey`) and prints it once; the control plane keeps only its
//! SHA-256, so no later command can show it.

use crate::Ctx;
use crate::cli::{KeyCmd, KeyFlags};
use crate::client::{Client, Reply};
use crate::error::Error;
use crate::names;
use crate::output::{self, Table, or_dash, yes_no};
use crate::units::{self, json_ms_time, show_money, show_ms_time, show_unix};
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: KeyCmd) -> Result<i32, Error> {
    match cmd {
        KeyCmd::List => list(ctx).await,
        KeyCmd::Get { name } => get(ctx, &name).await,
        KeyCmd::Create { name, spec } => {
            let mut key = pb::ClientKey { name: name.clone(), enabled: true, ..Default::default() };
            apply_flags(&mut key, &spec)?;
            let mut c = ctx.connect().await?;
            let created = c.rpc.create_key(pb::CreateKeyRequest { key: Some(key) }).await.reply(&c.url)?;
            if ctx.json() {
                let value = json!({"name": name, "key": created.key, "config_version": created.config_version});
                output::json(ctx.out, &value)?;
            } else {
                let text = format!(
                    "key {name} created (config version {})\n\n    {}\n\n\
                     This is the only time the key is shown: store it now.",
                    created.config_version, created.key
                );
                output::write(ctx.out, &text)?;
            }
            Ok(0)
        }
        KeyCmd::Set { name, spec, all_models, no_rpm, no_tpm, no_budget, no_expires, no_passthrough } => {
            let mut c = ctx.connect().await?;
            let mut key = find(&mut c, &name).await?.key.unwrap_or_default();
            if all_models {
                key.models = None;
            }
            if no_rpm {
                key.rpm = None;
            }
            if no_tpm {
                key.tpm = None;
            }
            if no_budget {
                key.budget = None;
            }
            if no_expires {
                key.expires_unix = None;
            }
            if no_passthrough {
                key.passthrough = None;
            }
            apply_flags(&mut key, &spec)?;
            let request = pb::PutKeyRequest { key: Some(key), create_only: false, update_only: true };
            let r = c.rpc.put_key(request).await.reply(&c.url)?;
            ctx.written("key", &name, "updated", r.config_version)
        }
        KeyCmd::Enable { name } => enabled(ctx, &name, true).await,
        KeyCmd::Disable { name } => enabled(ctx, &name, false).await,
        KeyCmd::Rm { name } => {
            let mut c = ctx.connect().await?;
            let r = c.rpc.delete_key(reference(&name)).await.reply(&c.url)?;
            ctx.written("key", &name, "deleted", r.config_version)
        }
    }
}

fn reference(name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: pb::ObjectKind::Key.into(), name: name.to_owned(), parent: String::new() }
}

fn apply_flags(k: &mut pb::ClientKey, f: &KeyFlags) -> Result<(), Error> {
    if let Some(models) = &f.models {
        let models: Vec<String> = models.iter().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
        if models.is_empty() {
            return Err(Error::Usage("--models: give at least one model (or --all-models)".into()));
        }
        k.models = Some(pb::ModelAllowlist { models });
    }
    if let Some(rpm) = f.rpm {
        k.rpm = Some(rpm);
    }
    if let Some(tpm) = f.tpm {
        k.tpm = Some(tpm);
    }
    if let Some(b) = &f.budget {
        k.budget = Some(parse_budget(b)?);
    }
    if let Some(t) = &f.expires {
        k.expires_unix = Some(units::timestamp("--expires", t)?);
    }
    if let Some(b) = f.allow_direct {
        k.allow_direct = b;
    }
    if let Some(b) = f.log_bodies {
        k.log_bodies = Some(b);
    }
    passthrough_flags(k, f)
}

/// `--passthrough-paths` sets the paths (keeping the methods, or all three
/// for a new policy); `--passthrough-methods` the methods of a policy that
/// has or gets paths. The control plane validates the paths.
fn passthrough_flags(k: &mut pb::ClientKey, f: &KeyFlags) -> Result<(), Error> {
    if f.passthrough_paths.is_none() && f.passthrough_methods.is_none() {
        return Ok(());
    }
    let mut policy = match (k.passthrough.take(), &f.passthrough_paths) {
        (Some(policy), _) => policy,
        (None, Some(_)) => pb::PassthroughPolicy {
            methods: [pb::HttpMethod::Get, pb::HttpMethod::Post, pb::HttpMethod::Delete].map(Into::into).to_vec(),
            paths: Vec::new(),
        },
        (None, None) => {
            return Err(Error::Usage(
                "--passthrough-methods: the key has no passthrough policy; give --passthrough-paths too".into(),
            ));
        }
    };
    if let Some(paths) = &f.passthrough_paths {
        policy.paths = paths.iter().map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect();
        if policy.paths.is_empty() {
            return Err(Error::Usage("--passthrough-paths: give at least one path (or --no-passthrough)".into()));
        }
    }
    if let Some(methods) = &f.passthrough_methods {
        let mut parsed = Vec::new();
        for m in methods.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
            let method = names::parse_http_method(m).ok_or_else(|| {
                Error::Usage(format!("--passthrough-methods: unknown method {m:?} (expected GET, POST or DELETE)"))
            })?;
            parsed.push(i32::from(method));
        }
        if parsed.is_empty() {
            return Err(Error::Usage("--passthrough-methods: give at least one of GET, POST, DELETE".into()));
        }
        parsed.sort_unstable();
        parsed.dedup();
        policy.methods = parsed;
    }
    k.passthrough = Some(policy);
    Ok(())
}

/// `GET,POST /files,/batches`, or `-`.
fn passthrough_text(p: Option<&pb::PassthroughPolicy>) -> String {
    match p {
        None => "-".into(),
        Some(p) => {
            let methods: Vec<&str> = p.methods.iter().map(|m| names::http_method(*m)).collect();
            format!("{} {}", methods.join(","), p.paths.join(","))
        }
    }
}

/// `50USD/month`, `50 USD/month`, `0.5EUR/day`.
pub fn parse_budget(s: &str) -> Result<pb::Budget, Error> {
    let bad = || Error::Usage(format!("--budget {s:?}: expected AMOUNT CURRENCY/PERIOD, e.g. 50USD/month"));
    let (amount_currency, period) = s.split_once('/').ok_or_else(bad)?;
    let period = names::parse_budget_period(period.trim()).ok_or_else(|| {
        Error::Usage(format!("--budget {s:?}: unknown period {:?} (expected day, week, month or total)", period.trim()))
    })?;
    let t = amount_currency.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?;
    let (amount, currency) = (t[..split].trim(), t[split..].trim());
    Ok(pb::Budget {
        currency: units::currency("--budget", currency)?,
        amount_micros: units::amount("--budget", amount)?,
        period: period.into(),
    })
}

async fn list_all(c: &mut Client) -> Result<Vec<pb::KeyEntry>, Error> {
    Ok(c.rpc.list_keys(pb::ListRequest {}).await.reply(&c.url)?.keys)
}

async fn find(c: &mut Client, name: &str) -> Result<pb::KeyEntry, Error> {
    list_all(c)
        .await?
        .into_iter()
        .find(|e| e.key.as_ref().is_some_and(|k| k.name == name))
        .ok_or_else(|| Error::not_found(format!("key {name:?} does not exist")))
}

async fn enabled(ctx: &mut Ctx<'_>, name: &str, enabled: bool) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let request = pb::SetEnabledRequest { object: Some(reference(name)), enabled };
    let r = c.rpc.set_enabled(request).await.reply(&c.url)?;
    ctx.written("key", name, if enabled { "enabled" } else { "disabled" }, r.config_version)
}

fn models_text(k: &pb::ClientKey) -> String {
    match &k.models {
        None => "all".into(),
        Some(m) => m.models.join(","),
    }
}

fn budget_text(b: Option<&pb::Budget>) -> String {
    match b {
        None => "-".into(),
        Some(b) => format!("{}{}/{}", show_money(b.amount_micros), b.currency, names::budget_period(b.period)),
    }
}

async fn list(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entries = list_all(&mut c).await?;
    if ctx.json() {
        let items: Vec<Value> = entries.iter().map(key_json).collect();
        output::json(ctx.out, &json!({ "keys": items }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["NAME", "MODELS", "RPM", "TPM", "BUDGET", "EXPIRES", "ENABLED", "MANAGED"]);
    for e in &entries {
        let k = e.key.clone().unwrap_or_default();
        t.row(vec![
            k.name.clone(),
            models_text(&k),
            k.rpm.map_or_else(|| "-".into(), |v| v.to_string()),
            k.tpm.map_or_else(|| "-".into(), |v| v.to_string()),
            budget_text(k.budget.as_ref()),
            k.expires_unix.map_or_else(|| "never".into(), show_unix),
            yes_no(k.enabled),
            yes_no(e.meta.as_ref().is_some_and(|m| m.managed)),
        ]);
    }
    output::table(ctx.out, &t, "no keys")?;
    Ok(0)
}

async fn get(ctx: &mut Ctx<'_>, name: &str) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entry = find(&mut c, name).await?;
    if ctx.json() {
        output::json(ctx.out, &key_json(&entry))?;
        return Ok(0);
    }
    let k = entry.key.clone().unwrap_or_default();
    let meta = entry.meta.unwrap_or_default();
    let pairs = [
        ("name", k.name.clone()),
        ("key_sha256", or_dash(hex::encode(&k.key_sha256))),
        ("models", models_text(&k)),
        ("allow_direct", yes_no(k.allow_direct)),
        ("rpm", k.rpm.map_or_else(|| "-".into(), |v| v.to_string())),
        ("tpm", k.tpm.map_or_else(|| "-".into(), |v| v.to_string())),
        ("budget", budget_text(k.budget.as_ref())),
        ("expires", k.expires_unix.map_or_else(|| "never".into(), show_unix)),
        ("log_bodies", k.log_bodies.map_or_else(|| "default".into(), yes_no)),
        ("passthrough", passthrough_text(k.passthrough.as_ref())),
        ("enabled", yes_no(k.enabled)),
        ("managed", yes_no(meta.managed)),
        ("updated", show_ms_time(meta.updated_at_ms)),
    ];
    output::write(ctx.out, &output::fields(&pairs))?;
    Ok(0)
}

fn key_json(e: &pb::KeyEntry) -> Value {
    let k = e.key.clone().unwrap_or_default();
    let meta = e.meta.unwrap_or_default();
    json!({
        "name": k.name,
        "key_sha256": hex::encode(&k.key_sha256),
        "models": k.models.as_ref().map(|m| m.models.clone()),
        "allow_direct": k.allow_direct,
        "rpm": k.rpm,
        "tpm": k.tpm,
        "budget": k.budget.as_ref().map(|b| json!({
            "currency": b.currency,
            "amount": show_money(b.amount_micros),
            "period": names::budget_period(b.period),
        })),
        "expires": k.expires_unix.map(show_unix),
        "log_bodies": k.log_bodies,
        "passthrough": k.passthrough.as_ref().map(|p| json!({
            "methods": p.methods.iter().map(|m| names::http_method(*m)).collect::<Vec<_>>(),
            "paths": p.paths,
        })),
        "enabled": k.enabled,
        "managed": meta.managed,
        "updated_at": json_ms_time(meta.updated_at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets() {
        let b = parse_budget("50USD/month").unwrap();
        assert_eq!(
            (b.amount_micros, b.currency.as_str(), b.period),
            (50_000_000, "USD", pb::BudgetPeriod::Month as i32)
        );
        let b = parse_budget("0.5 EUR/day").unwrap();
        assert_eq!((b.amount_micros, b.currency.as_str()), (500_000, "EUR"));
        assert!(parse_budget("50USD").is_err());
        assert!(parse_budget("50usd/month").is_err());
        assert!(parse_budget("50USD/year").unwrap_err().to_string().contains("unknown period"));
        assert!(parse_budget("-5USD/day").is_err());
    }
}
