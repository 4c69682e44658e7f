//! `syctl model ...`: public models (routes): aliases, targets and prices.
//! Every edit is read-modify-write of the whole route with `update_only`.

use crate::Ctx;
use crate::cli::{AliasCmd, ModelCmd, PriceCmd, TargetCmd};
use crate::client::{Client, Reply};
use crate::error::Error;
use crate::names;
use crate::output::{self, Table, or_dash, yes_no};
use crate::units::{self, json_ms_time, show_money, show_ms_time};
use serde_json::{Value, json};
use switchyard_proto::pb;

pub async fn run(ctx: &mut Ctx<'_>, cmd: ModelCmd) -> Result<i32, Error> {
    match cmd {
        ModelCmd::List => list(ctx).await,
        ModelCmd::Get { name } => get(ctx, &name).await,
        ModelCmd::Add { name, target, strategy, alias } => {
            let targets = target.iter().map(|t| parse_target(t)).collect::<Result<Vec<_>, _>>()?;
            let route = pb::Route {
                name: name.clone(),
                aliases: alias,
                strategy: strategy.map_or(pb::Strategy::P2c, |s| s.to_pb()).into(),
                price: None,
                targets,
            };
            let mut c = ctx.connect().await?;
            let request = pb::PutRouteRequest { route: Some(route), create_only: true, update_only: false };
            let r = c.rpc.put_route(request).await.reply(&c.url)?;
            ctx.written("model", &name, "created", r.config_version)
        }
        ModelCmd::Set { name, strategy } => {
            edit(ctx, &name, |r| {
                if let Some(s) = strategy {
                    r.strategy = s.to_pb().into();
                }
                Ok(())
            })
            .await
        }
        ModelCmd::Rm { name } => {
            let mut c = ctx.connect().await?;
            let r = c.rpc.delete_route(reference(&name)).await.reply(&c.url)?;
            ctx.written("model", &name, "deleted", r.config_version)
        }
        ModelCmd::Alias(AliasCmd::Add { name, alias }) => {
            edit(ctx, &name, |r| {
                if r.aliases.contains(&alias) {
                    return Err(Error::status(
                        tonic::Code::AlreadyExists,
                        format!("model {name:?} already has alias {alias:?}"),
                    ));
                }
                r.aliases.push(alias.clone());
                Ok(())
            })
            .await
        }
        ModelCmd::Alias(AliasCmd::Rm { name, alias }) => {
            edit(ctx, &name, |r| {
                let before = r.aliases.len();
                r.aliases.retain(|a| *a != alias);
                if r.aliases.len() == before {
                    return Err(Error::not_found(format!("model {name:?} has no alias {alias:?}")));
                }
                Ok(())
            })
            .await
        }
        ModelCmd::Target(TargetCmd::Add { name, provider, model, priority }) => {
            edit(ctx, &name, |r| {
                if r.targets.iter().any(|t| t.provider == provider && t.model == model) {
                    let message = format!("model {name:?} already has target {provider}:{model}");
                    return Err(Error::status(tonic::Code::AlreadyExists, message));
                }
                r.targets.push(pb::Target { provider: provider.clone(), model: model.clone(), priority, price: None });
                Ok(())
            })
            .await
        }
        ModelCmd::Target(TargetCmd::Rm { name, provider, model }) => {
            edit(ctx, &name, |r| {
                let before = r.targets.len();
                r.targets.retain(|t| !(t.provider == provider && t.model == model));
                if r.targets.len() == before {
                    return Err(Error::not_found(format!("model {name:?} has no target {provider}:{model}")));
                }
                Ok(())
            })
            .await
        }
        ModelCmd::Price(PriceCmd::Set { name, currency, input, output_price, cached, target }) => {
            let price = pb::Price {
                currency: units::currency("--currency", &currency)?,
                input_per_mtok_micros: input.map(|s| units::amount("--input", &s)).transpose()?,
                output_per_mtok_micros: output_price.map(|s| units::amount("--output", &s)).transpose()?,
                cached_input_per_mtok_micros: cached.map(|s| units::amount("--cached", &s)).transpose()?,
            };
            if price.input_per_mtok_micros.is_none() && price.output_per_mtok_micros.is_none() {
                return Err(Error::Usage("model price set: give --input or --output (or both)".into()));
            }
            let target = target.map(|t| split_target(&t)).transpose()?;
            edit(ctx, &name, |r| {
                *price_slot(r, &name, target.as_ref())? = Some(price.clone());
                Ok(())
            })
            .await
        }
        ModelCmd::Price(PriceCmd::Rm { name, target }) => {
            let target = target.map(|t| split_target(&t)).transpose()?;
            edit(ctx, &name, |r| {
                let slot = price_slot(r, &name, target.as_ref())?;
                if slot.take().is_none() {
                    return Err(Error::not_found(format!("model {name:?}: no price set there")));
                }
                Ok(())
            })
            .await
        }
    }
}

fn reference(name: &str) -> pb::ObjectRef {
    pb::ObjectRef { kind: pb::ObjectKind::Route.into(), name: name.to_owned(), parent: String::new() }
}

/// The route's default price, or one target's.
fn price_slot<'r>(
    r: &'r mut pb::Route,
    name: &str,
    target: Option<&(String, String)>,
) -> Result<&'r mut Option<pb::Price>, Error> {
    match target {
        None => Ok(&mut r.price),
        Some((provider, model)) => r
            .targets
            .iter_mut()
            .find(|t| t.provider == *provider && t.model == *model)
            .map(|t| &mut t.price)
            .ok_or_else(|| Error::not_found(format!("model {name:?} has no target {provider}:{model}"))),
    }
}

/// `PROVIDER:MODEL` (the model may itself contain `:`).
fn split_target(s: &str) -> Result<(String, String), Error> {
    match s.split_once(':') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok((p.to_owned(), m.to_owned())),
        _ => Err(Error::Usage(format!("--target {s:?}: expected PROVIDER:MODEL"))),
    }
}

/// `PROVIDER:MODEL[@PRIORITY]`: the priority is what follows the last `@`
/// when that is all digits.
pub fn parse_target(s: &str) -> Result<pb::Target, Error> {
    let (spec, priority) = match s.rsplit_once('@') {
        Some((spec, digits)) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            let priority = digits
                .parse::<u32>()
                .map_err(|_| Error::Usage(format!("--target {s:?}: priority {digits} is too large")))?;
            (spec, priority)
        }
        _ => (s, 0),
    };
    let (provider, model) =
        split_target(spec).map_err(|_| Error::Usage(format!("--target {s:?}: expected PROVIDER:MODEL[@PRIORITY]")))?;
    Ok(pb::Target { provider, model, priority, price: None })
}

async fn list_all(c: &mut Client) -> Result<Vec<pb::RouteEntry>, Error> {
    Ok(c.rpc.list_routes(pb::ListRequest {}).await.reply(&c.url)?.routes)
}

async fn find(c: &mut Client, name: &str) -> Result<pb::RouteEntry, Error> {
    list_all(c)
        .await?
        .into_iter()
        .find(|e| e.route.as_ref().is_some_and(|r| r.name == name))
        .ok_or_else(|| Error::not_found(format!("model {name:?} does not exist")))
}

/// Read, change, write back with `update_only`.
async fn edit(
    ctx: &mut Ctx<'_>,
    name: &str,
    change: impl FnOnce(&mut pb::Route) -> Result<(), Error>,
) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let mut route = find(&mut c, name).await?.route.unwrap_or_default();
    change(&mut route)?;
    let request = pb::PutRouteRequest { route: Some(route), create_only: false, update_only: true };
    let r = c.rpc.put_route(request).await.reply(&c.url)?;
    ctx.written("model", name, "updated", r.config_version)
}

async fn list(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entries = list_all(&mut c).await?;
    if ctx.json() {
        let items: Vec<Value> = entries.iter().map(route_json).collect();
        output::json(ctx.out, &json!({ "models": items }))?;
        return Ok(0);
    }
    let mut t = Table::new(&["NAME", "ALIASES", "STRATEGY", "TARGETS", "PRICE", "MANAGED"]);
    for e in &entries {
        let r = e.route.clone().unwrap_or_default();
        let targets = r.targets.iter().map(target_text).collect::<Vec<_>>().join(", ");
        t.row(vec![
            r.name.clone(),
            or_dash(r.aliases.join(",")),
            names::strategy(r.strategy).into(),
            targets,
            price_text(r.price.as_ref()),
            yes_no(e.meta.as_ref().is_some_and(|m| m.managed)),
        ]);
    }
    output::table(ctx.out, &t, "no models")?;
    Ok(0)
}

async fn get(ctx: &mut Ctx<'_>, name: &str) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let entry = find(&mut c, name).await?;
    if ctx.json() {
        output::json(ctx.out, &route_json(&entry))?;
        return Ok(0);
    }
    let r = entry.route.clone().unwrap_or_default();
    let meta = entry.meta.unwrap_or_default();
    let pairs = [
        ("name", r.name.clone()),
        ("aliases", or_dash(r.aliases.join(", "))),
        ("strategy", names::strategy(r.strategy).into()),
        ("price", price_text(r.price.as_ref())),
        ("managed", yes_no(meta.managed)),
        ("updated", show_ms_time(meta.updated_at_ms)),
    ];
    output::write(ctx.out, &output::fields(&pairs))?;
    let mut t = Table::new(&["PROVIDER", "MODEL", "PRIORITY", "PRICE"]);
    for target in &r.targets {
        t.row(vec![
            target.provider.clone(),
            target.model.clone(),
            target.priority.to_string(),
            price_text(target.price.as_ref()),
        ]);
    }
    output::write(ctx.out, "\ntargets:")?;
    output::write(ctx.out, &t.render())?;
    Ok(0)
}

fn target_text(t: &pb::Target) -> String {
    format!("{}:{}@{}", t.provider, t.model, t.priority)
}

/// `USD in 0.15 out 0.6 cached 0.075` (per million tokens).
fn price_text(p: Option<&pb::Price>) -> String {
    let Some(p) = p else { return "-".into() };
    let mut parts = vec![p.currency.clone()];
    for (label, v) in
        [("in", p.input_per_mtok_micros), ("out", p.output_per_mtok_micros), ("cached", p.cached_input_per_mtok_micros)]
    {
        if let Some(v) = v {
            parts.push(format!("{label} {}", show_money(v)));
        }
    }
    parts.join(" ")
}

fn price_json(p: Option<&pb::Price>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "currency": p.currency,
            "input_per_mtok": p.input_per_mtok_micros.map(show_money),
            "output_per_mtok": p.output_per_mtok_micros.map(show_money),
            "cached_input_per_mtok": p.cached_input_per_mtok_micros.map(show_money),
        }),
    }
}

fn route_json(e: &pb::RouteEntry) -> Value {
    let r = e.route.clone().unwrap_or_default();
    let meta = e.meta.unwrap_or_default();
    let targets: Vec<Value> = r
        .targets
        .iter()
        .map(|t| {
            let price = price_json(t.price.as_ref());
            json!({"provider": t.provider, "model": t.model, "priority": t.priority, "price": price})
        })
        .collect();
    json!({
        "name": r.name,
        "aliases": r.aliases,
        "strategy": names::strategy(r.strategy),
        "price": price_json(r.price.as_ref()),
        "targets": targets,
        "managed": meta.managed,
        "updated_at": json_ms_time(meta.updated_at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("openai:gpt-4o-mini@2").unwrap();
        assert_eq!((t.provider.as_str(), t.model.as_str(), t.priority), ("openai", "gpt-4o-mini", 2));
        let t = parse_target("openrouter:openai/gpt-4o-mini").unwrap();
        assert_eq!((t.model.as_str(), t.priority), ("openai/gpt-4o-mini", 0));
        let t = parse_target("ollama:llama3:8b").unwrap();
        assert_eq!((t.provider.as_str(), t.model.as_str()), ("ollama", "llama3:8b"));
        let t = parse_target("vertex:claude@20240620@1").unwrap();
        assert_eq!((t.model.as_str(), t.priority), ("claude@20240620", 1));
        assert!(parse_target("nocolon").is_err());
        assert!(parse_target(":m").is_err());
    }
}
