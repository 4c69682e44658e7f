//! Why a request to an upstream got no response head, for both clients.

use crate::body::BoxError;

/// Why a request got no response head. The sources never quote the URL.
/// `Timeout` and `Connect` mean the request was never sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The connect timeout (the caller bounds the rest).
    #[error("timed out")]
    Timeout,
    #[error("connect error: {0}")]
    Connect(BoxError),
    /// The connection failed after it was made: the request may have been sent.
    #[error("request failed: {0}")]
    Other(BoxError),
}
