//! `${env:NAME}`, `${file:PATH}` and `${redacted:FINGERPRINT}` in string
//! values, resolved where the document is read. `$${` writes a literal `${`.

use crate::model::{Problem, is_fingerprint};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Secret files larger than this are refused (a secret is a line, not a blob).
const MAX_SECRET_FILE: u64 = 64 * 1024;

type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where references are looked up: the environment and the file system.
pub struct Resolver {
    /// `None`: references are refused, nothing is read (a server reading a client's document).
    env: Option<EnvLookup>,
    base_dir: Option<PathBuf>,
}

impl Resolver {
    /// The process environment; relative `${file:...}` paths from the working directory.
    pub fn process() -> Self {
        Self { env: Some(Box::new(|name| std::env::var(name).ok())), base_dir: None }
    }

    /// No environment and no file system: `${env:...}` and `${file:...}` are
    /// refused, so a document from someone else (the control plane reading a
    /// client's `Apply`) can never make this process read its own secrets.
    /// `$${` and `${redacted:...}` still work.
    pub fn refusing() -> Self {
        Self { env: None, base_dir: None }
    }

    /// A fixed environment (tests, or a client resolving on someone's behalf).
    pub fn with_env(vars: HashMap<String, String>) -> Self {
        Self { env: Some(Box::new(move |name| vars.get(name).cloned())), base_dir: None }
    }

    /// Relative `${file:...}` paths are taken from `dir` (the document's folder).
    pub fn relative_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Resolves one string value exactly as the parser does (for a client that
    /// resolves a document before sending it, e.g. `syctl apply`). With
    /// `secret`, a whole-value `${redacted:...}` marker is kept as is.
    pub fn resolve_value(&self, raw: &str, secret: bool) -> Result<String, Problem> {
        self.resolve(raw, secret)
    }

    /// Resolves every reference in `raw`. A `${redacted:...}` marker is kept
    /// as is, and only when it is the whole value and `redacted_ok`.
    pub(crate) fn resolve(&self, raw: &str, redacted_ok: bool) -> Result<String, Problem> {
        if !raw.contains("${") {
            return Ok(raw.to_owned());
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                continue;
            }
            let Some(body) = tail.strip_prefix("${") else {
                out.push('$');
                rest = &tail[1..];
                continue;
            };
            let end = body.find('}').ok_or_else(|| Problem::Invalid("unterminated ${...} reference".into()))?;
            let (reference, after) = (&body[..end], &body[end + 1..]);
            match reference.split_once(':') {
                Some((kind @ ("env" | "file"), _)) if self.env.is_none() => return Err(not_here(kind)),
                Some(("env", name)) => out.push_str(&self.env_var(name)?),
                Some(("file", path)) => out.push_str(&self.file(path)?),
                Some(("redacted", fp)) => {
                    if !is_fingerprint(fp) {
                        return Err(Problem::Invalid(format!("invalid fingerprint in ${{redacted:{fp}}}")));
                    }
                    if !redacted_ok || at != 0 || !after.is_empty() || !out.is_empty() {
                        return Err(Problem::Invalid("${redacted:...} may only stand for a whole secret value".into()));
                    }
                    return Ok(raw.to_owned());
                }
                _ => {
                    return Err(Problem::Invalid(format!(
                        "unknown reference ${{{reference}}} (use ${{env:NAME}} or ${{file:PATH}}; $${{ for a literal ${{)"
                    )));
                }
            }
            rest = after;
        }
        out.push_str(rest);
        Ok(out)
    }

    fn env_var(&self, name: &str) -> Result<String, Problem> {
        let valid = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(Problem::Invalid(format!("invalid environment variable name {name:?}")));
        }
        self.env.as_ref().and_then(|env| env(name)).ok_or_else(|| Problem::MissingEnv(name.to_owned()))
    }

    fn file(&self, path: &str) -> Result<String, Problem> {
        if path.is_empty() {
            return Err(Problem::Invalid("empty path in ${file:}".into()));
        }
        let full = match &self.base_dir {
            Some(dir) if Path::new(path).is_relative() => dir.join(path),
            _ => PathBuf::from(path),
        };
        let unreadable = |reason: String| Problem::UnreadableFile { path: path.to_owned(), reason };
        let meta = std::fs::metadata(&full).map_err(|e| unreadable(io_reason(&e)))?;
        if meta.len() > MAX_SECRET_FILE {
            return Err(unreadable(format!("larger than {MAX_SECRET_FILE} bytes")));
        }
        let text = std::fs::read_to_string(&full).map_err(|e| unreadable(io_reason(&e)))?;
        Ok(text.trim_end_matches(['\n', '\r']).to_owned())
    }
}

/// A reference this resolver does not read (see [`Resolver::refusing`]).
fn not_here(kind: &str) -> Problem {
    Problem::Invalid(format!(
        "${{{kind}:...}} is not read here: the sender resolves references before sending (syctl does); \
         write $${{ for a literal ${{"
    ))
}

/// The error kind without the OS's path echo (for messages that name the path themselves).
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver::with_env(HashMap::from([("KEY".into(), "sk-1".into()), ("HOST".into(), "h.example".into())]))
    }

    #[test]
    fn references() {
        let r = resolver();
        assert_eq!(r.resolve("plain", false), Ok("plain".into()));
        assert_eq!(r.resolve("${env:KEY}", false), Ok("sk-1".into()));
        assert_eq!(r.resolve("https://${env:HOST}/v1", false), Ok("https://h.example/v1".into()));
        assert_eq!(r.resolve("cost $5 and $${env:KEY}", false), Ok("cost $5 and ${env:KEY}".into()));
        assert_eq!(r.resolve("${env:NOPE}", false), Err(Problem::MissingEnv("NOPE".into())));
        assert_eq!(r.resolve("${redacted:0123456789ab}", true), Ok("${redacted:0123456789ab}".into()));
        assert!(r.resolve("${redacted:0123456789ab}", false).is_err());
        assert!(r.resolve("x${redacted:0123456789ab}", true).is_err());
        assert!(r.resolve("${redacted:zz}", true).is_err());
        assert!(r.resolve("${vault:x}", false).is_err());
        assert!(r.resolve("${env:KEY", false).is_err());
        assert!(r.resolve("${env:1BAD}", false).is_err());
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "sk-from-file\n").unwrap();
        let r = resolver().relative_to(dir.path());
        assert_eq!(r.resolve("${file:key}", false), Ok("sk-from-file".into()));
        let abs = format!("${{file:{}}}", dir.path().join("key").display());
        assert_eq!(r.resolve(&abs, false), Ok("sk-from-file".into()));
        assert_eq!(
            r.resolve("${file:missing}", false).unwrap_err().to_string(),
            "cannot read secret file missing: no such file"
        );
    }

    #[test]
    fn a_refusing_resolver_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("master.key");
        std::fs::write(&secret, "top-secret").unwrap();
        let r = Resolver::refusing();
        for raw in [format!("${{file:{}}}", secret.display()), "${env:PATH}".into(), "x-${env:HOME}-y".into()] {
            let problem = r.resolve(&raw, false).unwrap_err().to_string();
            assert!(problem.contains("is not read here") && !problem.contains("top-secret"), "{raw}: {problem}");
        }
        assert_eq!(r.resolve("cost $${env:KEY}", false), Ok("cost ${env:KEY}".into()));
        assert_eq!(r.resolve("${redacted:0123456789ab}", true), Ok("${redacted:0123456789ab}".into()));
    }
}
