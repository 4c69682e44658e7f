//! What may be passed through: the `/v1/*` paths the gateway does not serve
//! itself. Checked before the body is read or an endpoint chosen, in this
//! order: the method (GET, POST and DELETE, the only ones OpenAI's API uses;
//! 405 otherwise), the path (it must stay under the provider's base path, see
//! [`crate::upstream::path`]; 400 otherwise), then the key's policy (403):
//! every key may call the [`MODEL_ENDPOINTS`]; anything else (files,
//! batches, fine-tunes, assistants, stored responses: the shared upstream
//! account's objects) only what its `passthrough` opens.

use crate::error::{ProxyError, echo};
use crate::runtime::KeyEntry;
use crate::upstream::path;
use http::Method;
use switchyard_proto::model::HttpMethod;

/// POSTs that serve a model (a JSON `model` is routed and checked against
/// the key's allowlist; an upload goes to the default model) and read or
/// delete no account-wide object: open to every key. The chat, completion
/// and embedding endpoints are served by the gateway itself.
const MODEL_ENDPOINTS: &[&str] = &[
    "/audio/speech",
    "/audio/transcriptions",
    "/audio/translations",
    "/images/edits",
    "/images/generations",
    "/images/variations",
    "/moderations",
    "/responses",
    "/responses/compact",
    "/responses/input_tokens",
];

/// Refuses a passthrough request the gateway will not send; `full_path` is
/// the path as the client wrote it (for the message), `api_path` the part after `/v1`.
pub fn admit(key: &KeyEntry, method: &Method, full_path: &str, api_path: &str) -> Result<(), ProxyError> {
    let method = match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::DELETE => HttpMethod::Delete,
        _ => return Err(ProxyError::MethodNotAllowed(method.to_string())),
    };
    path::check(api_path).map_err(|why| ProxyError::bad_path(full_path, why))?;
    if method == HttpMethod::Post && MODEL_ENDPOINTS.contains(&api_path) {
        return Ok(());
    }
    let fix = match &key.passthrough {
        Some(policy) if policy.allows(method, api_path) => return Ok(()),
        Some(policy) if policy.covers(api_path) => {
            "the key's passthrough policy opens this path for other methods only \
             (an operator can add the method to keys[].passthrough.methods)"
        }
        _ => {
            "only the model endpoints are open to it, and its passthrough policy does not open this path \
             (an operator can open it with keys[].passthrough.paths)"
        }
    };
    Err(ProxyError::PassthroughNotAllowed { key: key.name.clone(), method: method.as_str(), path: echo(api_path), fix })
}
