//! What may be passed through: the `/v1/*` paths the gateway does not serve
//! itself. Checked before the body is read or an endpoint chosen, in this
//! order: the method (GET, POST and DELETE, the only ones OpenAI's API uses;
//! 405 otherwise), then the path (it must stay under the provider's base
//! path, see [`crate::upstream::path`]; 400 otherwise).

use crate::error::ProxyError;
use crate::upstream::path;
use http::Method;

/// Refuses a passthrough request the gateway will not send; `full_path` is
/// the path as the client wrote it (for the message), `api_path` the part after `/v1`.
pub fn admit(method: &Method, full_path: &str, api_path: &str) -> Result<(), ProxyError> {
    if ![Method::GET, Method::POST, Method::DELETE].contains(method) {
        return Err(ProxyError::MethodNotAllowed(method.to_string()));
    }
    path::check(api_path).map_err(|why| ProxyError::bad_path(full_path, why))
}
