//! `syctl settings get|set`.
//!
//! `settings set -f FILE` replaces every setting with the file's: either the
//! `settings:` mapping of a gateway.yaml or a document holding `settings:`
//! (other sections are ignored); absent fields take their defaults, exactly
//! as in gateway.yaml. Without `-f`, the flags change single fields of the
//! current settings (read-modify-write). Alert secrets shown by `get` are
//! `${redacted:FP}` markers; sending one back keeps the stored secret.

use crate::Ctx;
use crate::cli::{SettingsCmd, SettingsSetArgs};
use crate::client::Reply;
use crate::document;
use crate::error::Error;
use crate::names;
use crate::output;
use crate::units::{self, show_ms};
use serde_json::{Value, json};
use serde_norway::{Mapping, Value as Yaml};
use std::path::Path;
use switchyard_proto::model::units::format_size;
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: SettingsCmd) -> Result<i32, Error> {
    match cmd {
        SettingsCmd::Get => {
            let mut c = ctx.connect().await?;
            let settings = c.rpc.get_settings(pb::GetSettingsRequest {}).await.reply(&c.url)?;
            let value = settings_json(&settings);
            if ctx.json() {
                output::json(ctx.out, &value)?;
            } else {
                let mut lines = Vec::new();
                flatten(&value, "", &mut lines);
                let pairs: Vec<(&str, String)> = lines.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                output::write(ctx.out, &output::fields(&pairs))?;
            }
            Ok(0)
        }
        SettingsCmd::Set(args) => set(ctx, args).await,
    }
}

async fn set(ctx: &mut Ctx<'_>, args: SettingsSetArgs) -> Result<i32, Error> {
    let (mut c, settings, action) = if let Some(file) = &args.file {
        // Checked before anything is sent.
        let settings = from_file(file, ctx.env)?;
        (ctx.connect().await?, settings, "replaced")
    } else {
        let mut c = ctx.connect().await?;
        let mut s = c.rpc.get_settings(pb::GetSettingsRequest {}).await.reply(&c.url)?;
        if let Some(m) = &args.default_model {
            s.default_model = Some(m.clone());
        }
        if args.no_default_model {
            s.default_model = None;
        }
        if let Some(n) = args.max_attempts {
            s.retry.get_or_insert_with(Default::default).max_attempts = n;
        }
        if let Some(d) = &args.fail_closed_after {
            s.snapshot_fail_closed_after_ms =
                if d == "off" { None } else { Some(units::duration_ms("--fail-closed-after", d)?) };
        }
        if let Some(b) = args.request_bodies {
            s.logging.get_or_insert_with(Default::default).request_bodies = b;
        }
        if let Some(d) = &args.balance_poll_interval {
            s.balance_poll_interval_ms = units::duration_ms("--balance-poll-interval", d)?;
        }
        (c, s, "updated")
    };
    let r = c.rpc.put_settings(settings).await.reply(&c.url)?;
    ctx.written("settings", "", action, r.config_version)
}

/// The settings a file gives, checked here as gateway.yaml's are.
fn from_file(file: &Path, env: &crate::Env) -> Result<pb::Settings, Error> {
    let yaml = document::read_yaml(file)?;
    let section = match &yaml {
        Yaml::Mapping(m) if m.contains_key("settings") => m.get("settings").cloned().unwrap_or(Yaml::Null),
        other => other.clone(),
    };
    let mut doc = Mapping::new();
    doc.insert("settings".into(), if section.is_null() { Yaml::Mapping(Mapping::new()) } else { section });
    let mut doc = Yaml::Mapping(doc);
    document::resolve(&mut doc, file, env, false)?;
    // The default model is checked against the control plane's models there;
    // here it only has to name some model, so a stand-in route carries it.
    if let Some(model) = doc.get("settings").and_then(|s| s.get("default_model")).filter(|m| m.is_string()).cloned() {
        let stand_in: Yaml = serde_norway::from_str(
            "providers: [{name: syctl-check, kind: openai, accounts: [{name: a, api_key: syctl-check}]}]",
        )
        .map_err(|e| Error::Usage(e.to_string()))?;
        if let (Yaml::Mapping(d), Yaml::Mapping(s)) = (&mut doc, stand_in) {
            d.extend(s);
            let route: Yaml = serde_norway::from_str("{targets: [{provider: syctl-check, model: m}]}")
                .map_err(|e| Error::Usage(e.to_string()))?;
            let mut route = match route {
                Yaml::Mapping(r) => r,
                _ => Mapping::new(),
            };
            route.insert("name".into(), model);
            d.insert("models".into(), Yaml::Sequence(vec![Yaml::Mapping(route)]));
        }
    }
    let file_name = file.display().to_string();
    let text = serde_norway::to_string(&doc)
        .map_err(|e| Error::Document { file: file_name.clone(), errors: vec![format!("cannot write it back: {e}")] })?;
    match document::check(&text) {
        Ok(config) => Ok(pb::Settings::from(&config.settings)),
        Err(errors) => {
            let errors: Vec<String> =
                errors.into_iter().filter(|e| !e.starts_with("providers") && !e.starts_with("models")).collect();
            let errors =
                if errors.is_empty() { vec!["settings.default_model: invalid model name".into()] } else { errors };
            Err(Error::Document { file: file_name, errors })
        }
    }
}

/// Settings in gateway.yaml's shape and spelling.
fn settings_json(s: &pb::Settings) -> Value {
    let t = s.timeout.unwrap_or_default();
    let r = s.retry.clone().unwrap_or_default();
    let b = s.breaker.unwrap_or_default();
    let l = s.limits.unwrap_or_default();
    let g = s.logging.unwrap_or_default();
    let a = s.alerts.clone().unwrap_or_default();
    let channels: Vec<Value> = a
        .channels
        .iter()
        .map(|c| match &c.kind {
            Some(pb::alert_channel::Kind::Dingtalk(d)) => json!({
                "name": c.name,
                "kind": "dingtalk",
                "webhook": d.webhook.as_ref().map(|s| s.value.clone()),
                "secret": d.secret.as_ref().map(|s| s.value.clone()),
            }),
            Some(pb::alert_channel::Kind::Feishu(f)) => json!({
                "name": c.name,
                "kind": "feishu",
                "webhook": f.webhook.as_ref().map(|s| s.value.clone()),
                "secret": f.secret.as_ref().map(|s| s.value.clone()),
            }),
            Some(pb::alert_channel::Kind::Wecom(w)) => json!({
                "name": c.name,
                "kind": "wecom",
                "webhook": w.webhook.as_ref().map(|s| s.value.clone()),
            }),
            Some(pb::alert_channel::Kind::Webhook(w)) => json!({
                "name": c.name,
                "kind": "webhook",
                "url": w.url.as_ref().map(|s| s.value.clone()),
            }),
            None => json!({"name": c.name, "kind": null}),
        })
        .collect();
    json!({
        "default_model": s.default_model,
        "timeout": {
            "connect": show_ms(t.connect_ms),
            "first_token": show_ms(t.first_token_ms),
            "idle": show_ms(t.idle_ms),
            "total": show_ms(t.total_ms),
        },
        "retry": {
            "max_attempts": r.max_attempts,
            "on": r.on.iter().map(|c| names::retry_condition(*c)).collect::<Vec<_>>(),
        },
        "breaker": {
            "consecutive_failures": b.consecutive_failures,
            "failure_rate": b.failure_rate,
            "window": show_ms(b.window_ms),
            "min_requests": b.min_requests,
            "cooldown": show_ms(b.cooldown_ms),
            "max_cooldown": show_ms(b.max_cooldown_ms),
        },
        "limits": {
            "max_body": format_size(l.max_body_bytes),
            "max_concurrency": l.max_concurrency,
            "max_buffered_bodies": format_size(l.max_buffered_bodies_bytes),
            "client_write_timeout": show_ms(l.client_write_timeout_ms),
        },
        "logging": {
            "request_bodies": g.request_bodies,
            "retention": show_ms(g.retention_ms),
            "max_body_bytes": format_size(g.max_body_bytes),
        },
        "usage": {"retention": show_ms(s.usage_retention_ms)},
        "snapshot": {"fail_closed_after": s.snapshot_fail_closed_after_ms.map(show_ms)},
        "balance": {"poll_interval": show_ms(s.balance_poll_interval_ms)},
        "alerts": {
            "evaluate_every": show_ms(a.evaluate_every_ms),
            "quiet_period": show_ms(a.quiet_period_ms),
            "time_to_empty_below": show_ms(a.time_to_empty_below_ms),
            "open_on_nodes": a.open_on_nodes,
            "node_grace": show_ms(a.node_grace_ms),
            "channels": channels,
        },
    })
}

/// `a.b.c: value` lines; lists of scalars joined, lists of objects by index.
fn flatten(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    let child = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(v, &child(k), out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Array(items) => {
            let text = items.iter().map(scalar).collect::<Vec<_>>().join(", ");
            out.push((path.to_owned(), if text.is_empty() { "-".into() } else { text }));
        }
        v => out.push((path.to_owned(), scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}
