//! `gateway.yaml`: the declarative document (see the README's reference).
//!
//! Parsing is strict and complete: every problem in the document is
//! reported, each with its path (`providers[1].accounts[0].wieght: unknown
//! field`). Field-level problems come first, in document order, then the
//! whole-config checks of [`Config::validate`] (duplicates, references,
//! alias clashes) for the items that were themselves readable.

mod emit;
mod models;
mod providers;
mod reader;
mod resolve;
mod settings;

pub use emit::emit;
pub use models::MIN_CLIENT_KEY_LEN;
pub use resolve::{Resolver, io_reason};

use crate::model::{Config, ConfigError, ConfigErrors, Problem};
use reader::Cx;
use std::path::Path;

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// Parses and validates a document. Secrets may be `${redacted:...}` markers
/// (see [`Config::require_secrets`] for the places that need real values).
pub fn parse(text: &str, resolver: &Resolver) -> Result<Config, ConfigErrors> {
    if text.len() > MAX_DOCUMENT_BYTES {
        let message = format!("document is larger than {MAX_DOCUMENT_BYTES} bytes");
        return Err(ConfigErrors::single(ConfigError::invalid("", message)));
    }
    let value: serde_norway::Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(e) => return Err(ConfigErrors::single(ConfigError::invalid("", format!("invalid YAML: {e}")))),
    };
    let mut cx = Cx::new(resolver);
    let config = read_config(&mut cx, &value);
    let field_errors = cx.errors;
    let checked = config.as_ref().map(|c| c.validate());
    match (config, checked) {
        (Some(config), Some(Ok(()))) if field_errors.is_empty() => Ok(config),
        (_, Some(Err(ConfigErrors(cross)))) if !cx.dropped => {
            // A field that failed to read was given a placeholder: don't report it twice.
            let overlaps = |e: &ConfigError| field_errors.iter().any(|f| related(&f.path, &e.path));
            let mut all = field_errors.clone();
            all.extend(cross.into_iter().filter(|e| !overlaps(e)));
            Err(ConfigErrors(all))
        }
        _ => Err(ConfigErrors(field_errors)),
    }
}

/// Reads a document from disk for serving it: `${file:...}` paths relative
/// to its folder, and every secret must be a real value.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |message: String| ConfigErrors::single(ConfigError::invalid("", message));
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(fail(format!("{} is larger than {MAX_DOCUMENT_BYTES} bytes", path.display())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let config = parse(&text, &Resolver::process().relative_to(dir))?;
    config.require_secrets()?;
    Ok(config)
}

/// Whether one path is the other or contains it (`keys[1]` and `keys[1].key`).
fn related(a: &str, b: &str) -> bool {
    let contains = |outer: &str, inner: &str| {
        inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    contains(a, b) || contains(b, a)
}

fn read_config(cx: &mut Cx<'_>, value: &serde_norway::Value) -> Option<Config> {
    if value.is_null() {
        cx.err("", Problem::Invalid("the document is empty".into()));
        return None;
    }
    let mut o = cx.obj(value, "")?;
    let mut config = Config::default();
    if let Some((v, p)) = o.take("providers") {
        config.providers = cx.objects(v, &p).into_iter().map(|item| providers::provider(cx, item)).collect();
    }
    if let Some((v, p)) = o.take("models") {
        config.models = cx.objects(v, &p).into_iter().map(|item| models::route(cx, item)).collect();
    }
    if let Some((v, p)) = o.take("keys") {
        config.keys = cx.objects(v, &p).into_iter().map(|item| models::key(cx, item)).collect();
    }
    if let Some((v, p)) = o.take("settings")
        && let Some(s) = cx.obj(v, &p)
    {
        config.settings = settings::settings(cx, s);
    }
    o.finish(cx);
    Some(config)
}
