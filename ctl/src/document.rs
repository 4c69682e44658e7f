//! A gateway.yaml as `apply`/`diff` send it: `${env:...}` and `${file:...}`
//! resolved here (files relative to the document's folder), with the
//! parser's own resolver, at the YAML-value level (string scalars only, never
//! mapping keys), so quoting stays correct; resolved text is escaped (`$${`)
//! so the server reads it literally; `${redacted:FP}` markers pass through.
//! The result is parsed locally before anything is sent, so its errors come
//! with their paths without a round trip.

use crate::config::Env;
use crate::error::Error;
use serde_norway::Value;
use std::path::Path;
use switchyard_proto::document::{self, MAX_DOCUMENT_BYTES, Resolver};
use switchyard_proto::model::{Config, Problem};

/// A document ready to send.
#[derive(Debug)]
pub struct Prepared {
    /// Resolved gateway.yaml text.
    pub text: String,
    /// Client keys whose `key` was replaced by a dummy (`diff --ignore-secrets`).
    pub dummy_keys: Vec<String>,
}

/// Where secrets sit in gateway.yaml, with indices written `[]`.
const SECRET_PATHS: [&str; 6] = [
    "providers[].proxy",
    "providers[].accounts[].api_key",
    "keys[].key",
    "settings.alerts.channels[].webhook",
    "settings.alerts.channels[].secret",
    "settings.alerts.channels[].url",
];

/// Reads `path` as YAML (not resolved yet).
pub fn read_yaml(path: &Path) -> Result<Value, Error> {
    let fail = |message: String| Error::Document { file: path.display().to_string(), errors: vec![message] };
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(format!("cannot read: {}", switchyard_proto::document::io_reason(&e))))?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(fail(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read: {}", switchyard_proto::document::io_reason(&e))))?;
    serde_norway::from_str(&text).map_err(|e| fail(format!("invalid YAML: {e}")))
}

/// Resolves the references in `value`, read from `path` (relative
/// `${file:...}` are taken from its folder); each problem with its path.
/// Returns the paths of secrets replaced by a dummy (`ignore_secrets`).
pub fn resolve(value: &mut Value, path: &Path, env: &Env, ignore_secrets: bool) -> Result<Vec<String>, Error> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let resolver = Resolver::with_env(env.vars().clone()).relative_to(dir);
    let mut walk = Walk { resolver: &resolver, ignore_secrets, errors: Vec::new(), dummies: Vec::new() };
    walk.value(value, "");
    if !walk.errors.is_empty() {
        return Err(Error::Document { file: path.display().to_string(), errors: walk.errors });
    }
    Ok(walk.dummies)
}

/// [`read_yaml`] then [`resolve`].
pub fn read_resolved(path: &Path, env: &Env, ignore_secrets: bool) -> Result<(Value, Vec<String>), Error> {
    let mut value = read_yaml(path)?;
    let dummies = resolve(&mut value, path, env, ignore_secrets)?;
    Ok((value, dummies))
}

/// Reads, resolves and checks a whole gateway.yaml.
pub fn prepare(path: &Path, env: &Env, ignore_secrets: bool) -> Result<Prepared, Error> {
    let file = path.display().to_string();
    let (value, dummies) = read_resolved(path, env, ignore_secrets)?;
    let text = serde_norway::to_string(&value)
        .map_err(|e| Error::Document { file: file.clone(), errors: vec![format!("cannot write it back: {e}")] })?;
    let config = check(&text).map_err(|errors| Error::Document { file, errors })?;
    let dummy_keys = dummies
        .iter()
        .filter_map(|p| p.strip_prefix("keys["))
        .filter_map(|rest| rest.split_once(']'))
        .filter_map(|(i, _)| i.parse::<usize>().ok())
        .filter_map(|i| config.keys.get(i).map(|k| k.name.clone()))
        .collect();
    Ok(Prepared { text, dummy_keys })
}

/// Parses resolved text as the control plane will (nothing left to resolve but markers).
pub fn check(text: &str) -> Result<Config, Vec<String>> {
    document::parse(text, &Resolver::refusing()).map_err(|e| e.iter().map(ToString::to_string).collect())
}

struct Walk<'r> {
    resolver: &'r Resolver,
    ignore_secrets: bool,
    errors: Vec<String>,
    /// Paths of secrets replaced by a dummy.
    dummies: Vec<String>,
}

impl Walk<'_> {
    fn value(&mut self, v: &mut Value, path: &str) {
        match v {
            Value::String(s) => self.string(s, path),
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &format!("{path}[{i}]"));
                }
            }
            Value::Mapping(m) => {
                for (k, item) in m.iter_mut() {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other).map(|s| s.trim().to_owned()).unwrap_or_default(),
                    };
                    let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                    self.value(item, &child);
                }
            }
            Value::Tagged(t) => self.value(&mut t.value, path),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn string(&mut self, s: &mut String, path: &str) {
        match self.resolver.resolve_value(s, true) {
            // A kept `${redacted:...}` marker stays a marker; anything else is now literal text.
            Ok(resolved) if resolved == *s && resolved.starts_with("${redacted:") => {}
            Ok(resolved) => *s = escape(&resolved),
            Err(Problem::MissingEnv(_) | Problem::UnreadableFile { .. }) if self.ignore_secrets && is_secret(path) => {
                *s = escape(&dummy(path));
                self.dummies.push(path.to_owned());
            }
            Err(problem) => self.errors.push(format!("{path}: {problem}")),
        }
    }
}

/// Text the resolver reads back as itself: `${` is written `$${`.
fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

/// `providers[2].accounts[0].api_key` -> `providers[].accounts[].api_key`.
fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            c => out.push(c),
        }
    }
    out
}

pub fn is_secret(path: &str) -> bool {
    let shape = shape(path);
    SECRET_PATHS.contains(&shape.as_str()) || shape.starts_with("providers[].headers.")
}

/// A stand-in that validates where the secret would: URLs where a URL goes,
/// a distinct long-enough value for each client key.
fn dummy(path: &str) -> String {
    let shape = shape(path);
    if shape.ends_with(".proxy") {
        "http://ignored-secret.invalid".into()
    } else if shape.ends_with(".webhook") || shape.ends_with(".url") {
        "https://ignored-secret.invalid/".into()
    } else if shape == "keys[].key" {
        format!("ignored-secret-{path}")
    } else {
        "ignored-secret".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_positions() {
        assert!(is_secret("providers[2].accounts[0].api_key"));
        assert!(is_secret("providers[0].proxy"));
        assert!(is_secret("keys[10].key"));
        assert!(is_secret("settings.alerts.channels[1].secret"));
        assert!(!is_secret("providers[0].base_url"));
        assert!(!is_secret("keys[0].key_sha256"));
    }

    #[test]
    fn resolves_escapes_and_keeps_markers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.txt"), "sk-from-file\n").unwrap();
        let doc = r#"
providers:
  - name: p
    kind: openai-compatible
    base_url: "http://${env:HOST}/v1"
    headers: {"X-Literal": "a$${b}"}
    accounts:
      - {name: a, api_key: "${file:key.txt}"}
      - {name: b, api_key: "${env:KEY_B}"}
      - {name: c, api_key: "${redacted:0123456789ab}"}
      - {name: d, api_key: "${env:HASH}"}
"#;
        let path = dir.path().join("gateway.yaml");
        std::fs::write(&path, doc).unwrap();
        let env = Env::new().with("HOST", "h.example").with("KEY_B", "sk-b: 'quoted' #x").with("HASH", "${env:NOPE}");
        let (value, _) = read_resolved(&path, &env, false).unwrap();
        let p = &value["providers"][0];
        assert_eq!(p["base_url"].as_str(), Some("http://h.example/v1"));
        assert_eq!(p["headers"]["X-Literal"].as_str(), Some("a$${b}"));
        assert_eq!(p["accounts"][0]["api_key"].as_str(), Some("sk-from-file"));
        assert_eq!(p["accounts"][2]["api_key"].as_str(), Some("${redacted:0123456789ab}"));
        assert_eq!(p["accounts"][3]["api_key"].as_str(), Some("$${env:NOPE}"));
        let prepared = prepare(&path, &env, false).unwrap();
        let config = check(&prepared.text).unwrap();
        let accounts = &config.providers[0].accounts;
        assert_eq!(accounts[1].api_key.expose(), "sk-b: 'quoted' #x");
        assert_eq!(accounts[3].api_key.expose(), "${env:NOPE}", "a resolved value is never resolved again");
        assert_eq!(config.providers[0].headers["X-Literal"].expose(), "a${b}");
    }

    #[test]
    fn errors_name_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.yaml");
        std::fs::write(
            &path,
            "providers:\n  - {name: p, kind: openai, accounts: [{name: a, api_key: \"${env:MISSING}\"}]}\n",
        )
        .unwrap();
        let e = prepare(&path, &Env::new(), false).unwrap_err();
        assert_eq!(
            e.lines(),
            vec![format!(
                "{}: providers[0].accounts[0].api_key: environment variable MISSING is not set",
                path.display()
            )]
        );
        let ok = check(&prepare(&path, &Env::new(), true).unwrap().text).unwrap();
        assert_eq!(ok.providers[0].accounts[0].api_key.expose(), "ignored-secret");

        std::fs::write(
            &path,
            "providers:\n  - {name: p, kind: openai, wieght: 1, accounts: [{name: a, api_key: x}]}\n",
        )
        .unwrap();
        let e = prepare(&path, &Env::new(), false).unwrap_err();
        assert!(e.lines()[0].ends_with("providers[0].wieght: unknown field"), "{:?}", e.lines());
    }
}
