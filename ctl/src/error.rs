//! What can go wrong, each as one line (`error: ...` on stderr): the
//! control plane's refusals in plain words, an unreachable control plane as
//! one line rather than a stack of transport errors, a document's problems
//! one per line with their paths.

use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Something asked for cannot be done as given (found before any call).
    #[error("{0}")]
    Usage(String),
    /// The control plane could not be reached.
    #[error("cannot reach the control plane at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The control plane refused or failed a call.
    #[error("{}", status_line(*.code, .message))]
    Status { code: Code, message: String },
    /// `syctl healthcheck`: the page did not answer 2xx.
    #[error("{url}: {reason}")]
    Health { url: String, reason: String },
    /// A document with problems, one per line (`path: problem`).
    #[error("{file}: {}", .errors.join("; "))]
    Document { file: String, errors: Vec<String> },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    pub fn status(code: Code, message: impl Into<String>) -> Self {
        Error::Status { code, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::status(Code::NotFound, message)
    }

    /// The lines to print, each after `error: `.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Error::Document { file, errors } => errors.iter().map(|e| format!("{file}: {e}")).collect(),
            e => vec![e.to_string()],
        }
    }
}

/// The status as one line: what the code means, then the server's message
/// (which names the offending field), its lines joined.
fn status_line(code: Code, message: &str) -> String {
    let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    let what = match code {
        Code::Unauthenticated => "the token was refused",
        Code::PermissionDenied => "permission denied",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::InvalidArgument => "invalid",
        Code::FailedPrecondition => "refused",
        Code::Unavailable => "the control plane is unavailable",
        Code::Unimplemented => "not supported by this control plane",
        Code::DeadlineExceeded => "the control plane did not answer in time",
        Code::ResourceExhausted => "too large or too many",
        _ => "the control plane failed",
    };
    if message.is_empty() { what.to_owned() } else { format!("{what}: {message}") }
}

/// The innermost cause of a transport failure in plain words
/// (`connection refused`), never the whole chain.
pub fn transport_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // An io::Error may wrap the real cause (a TLS error); prefer it when present.
            if let Some(inner) = io.get_ref() {
                return plain(&inner.to_string());
            }
            return io_kind(io);
        }
        innermost = err;
        current = err.source();
    }
    plain(&innermost.to_string())
}

fn io_kind(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        TimedOut => "timed out".into(),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        AddrNotAvailable => "address not available".into(),
        _ => plain(&e.to_string()),
    }
}

/// Drops the OS error number suffix (`Connection refused (os error 111)`).
fn plain(s: &str) -> String {
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => s,
    };
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown transport error".into(),
    }
}
