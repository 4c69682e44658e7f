//! `syctl apply`, `diff` and `export`: the declarative side. The file is
//! resolved and checked here ([`crate::document`]), sent whole, and the
//! control plane answers with the plan ([`crate::plan`]).

use crate::Ctx;
use crate::cli::{ApplyArgs, DiffArgs};
use crate::client::Reply;
use crate::document;
use crate::error::Error;
use crate::output;
use crate::plan::{self, Summary};
use serde_json::json;
use switchyard_proto::pb;

pub async fn apply(ctx: &mut Ctx<'_>, args: ApplyArgs) -> Result<i32, Error> {
    let prepared = document::prepare(&args.file, ctx.env, false)?;
    let mut c = ctx.connect().await?;
    let request = pb::ApplyRequest { document: prepared.text, dry_run: args.dry_run, prune: args.prune };
    let plan = c.rpc.apply(request).await.reply(&c.url)?;
    if ctx.json() {
        let mut value = plan::json(&plan);
        value["dry_run"] = args.dry_run.into();
        output::json(ctx.out, &value)?;
        return Ok(0);
    }
    let summary = Summary::of(&plan);
    let outcome = if args.dry_run {
        "Dry run: nothing was changed.".to_owned()
    } else if plan.applied && summary.create + summary.update + summary.delete > 0 {
        format!("Applied: config version {}.", plan.config_version)
    } else {
        format!("No changes: config version {}.", plan.config_version)
    };
    output::write(ctx.out, &format!("{}{outcome}", plan::render(&plan)))?;
    Ok(0)
}

/// Exit 2 when `apply` would change something (or something is orphaned), 0 otherwise.
pub async fn diff(ctx: &mut Ctx<'_>, args: DiffArgs) -> Result<i32, Error> {
    let prepared = document::prepare(&args.file, ctx.env, args.ignore_secrets)?;
    let mut c = ctx.connect().await?;
    let request = pb::ApplyRequest { document: prepared.text, dry_run: true, prune: args.prune };
    let mut plan = c.rpc.apply(request).await.reply(&c.url)?;
    if args.ignore_secrets {
        plan::ignore_secrets(&mut plan, &prepared.dummy_keys);
    }
    let changes = Summary::of(&plan).changes();
    if ctx.json() {
        output::json(ctx.out, &plan::json(&plan))?;
    } else {
        output::write(ctx.out, &plan::render(&plan))?;
    }
    Ok(if changes > 0 { 2 } else { 0 })
}

pub async fn export(ctx: &mut Ctx<'_>) -> Result<i32, Error> {
    let mut c = ctx.connect().await?;
    let exported = c.rpc.export(pb::ExportRequest {}).await.reply(&c.url)?;
    if ctx.json() {
        output::json(ctx.out, &json!({"document": exported.document, "config_version": exported.config_version}))?;
    } else {
        output::write(ctx.out, &exported.document)?;
    }
    Ok(0)
}
