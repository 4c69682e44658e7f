//! Secrets for imperative commands come from a file or an environment
//! variable, never from the command line (where `ps` and shell history see them).

use crate::config::Env;
use crate::error::Error;
use std::path::Path;
use switchyard_proto::document::io_reason;

/// Secret files larger than this are refused (a secret is a line, not a blob).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// The secret in `path` (trailing newline removed).
pub fn from_file(flag: &str, path: &Path) -> Result<String, Error> {
    let fail = |reason: String| Error::Usage(format!("cannot read {flag} {}: {reason}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(io_reason(&e)))?;
    if meta.len() > MAX_SECRET_FILE {
        return Err(fail(format!("larger than {MAX_SECRET_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(io_reason(&e)))?;
    let value = text.trim_end_matches(['\n', '\r']).to_owned();
    if value.trim().is_empty() {
        return Err(fail("the file is empty".into()));
    }
    Ok(value)
}

/// The secret in the environment variable `name`.
pub fn from_env(flag: &str, name: &str, env: &Env) -> Result<String, Error> {
    env.var(name)
        .map(str::to_owned)
        .ok_or_else(|| Error::Usage(format!("{flag}: environment variable {name} is not set")))
}

/// `--X-file F` or `--X-env VAR`, whichever was given.
pub fn either(
    file: Option<&Path>,
    var: Option<&str>,
    (file_flag, env_flag): (&str, &str),
    env: &Env,
) -> Result<Option<String>, Error> {
    match (file, var) {
        (Some(path), _) => from_file(file_flag, path).map(Some),
        (None, Some(name)) => from_env(env_flag, name, env).map(Some),
        (None, None) => Ok(None),
    }
}
