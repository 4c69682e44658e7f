//! The answers given when no reply is queued, in each provider's own API:
//! OpenAI's (chat completions, completions, embeddings, models, Responses),
//! Anthropic's (Messages) and Gemini's (generateContent and friends).
//!
//! What the fake says is decided once per request from a view of the
//! conversation that is the same for every API ([`conversation`]); each API's
//! module reads its request into that view and writes the answer in its own
//! shapes, streamed or whole.

mod anthropic;
mod chat;
mod conversation;
mod embeddings;
mod gemini;
mod responses;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::reply::Reply;
use super::{Api, RecordedRequest};

/// `completion_tokens` of every default greeting: the three pieces of
/// `"Hello from {model}"`.
pub const COMPLETION_TOKENS: u64 = 3;

/// A request for a model whose name starts with this is answered 500, in the
/// error shape of its API (for failover tests driven from outside the process).
pub const FAIL_PREFIX: &str = "fail-";

/// The API an endpoint belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// OpenAI's, served by OpenAI-compatible servers too.
    OpenAi,
    /// OpenAI's Responses API.
    Responses,
    Anthropic,
    Gemini,
}

fn serves(api: Api, owner: Owner) -> bool {
    match api {
        Api::All => true,
        Api::Openai => matches!(owner, Owner::OpenAi | Owner::Responses),
        Api::OpenaiCompatible => owner == Owner::OpenAi,
        Api::Anthropic => owner == Owner::Anthropic,
        Api::Gemini => owner == Owner::Gemini,
    }
}

pub(super) fn reply_for(request: &RecordedRequest, seq: u64, api: Api) -> Reply {
    let gemini = gemini::endpoint(request);
    let owner = match (request.method.as_str(), request.uri.path()) {
        ("POST", "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings") => Some(Owner::OpenAi),
        ("POST", "/v1/responses") => Some(Owner::Responses),
        ("POST", "/v1/messages" | "/v1/messages/count_tokens") => Some(Owner::Anthropic),
        // Every provider lists its models here: the fake's API, or for all of
        // them Anthropic's when its version header says so.
        ("GET", "/v1/models") => Some(match api {
            Api::Anthropic => Owner::Anthropic,
            Api::Gemini => Owner::Gemini,
            Api::All if request.header("anthropic-version").is_some() => Owner::Anthropic,
            _ => Owner::OpenAi,
        }),
        _ => gemini.as_ref().map(|_| Owner::Gemini),
    };
    let reply = match owner {
        None => echo(request),
        Some(owner) if !serves(api, owner) => not_found(api, request),
        Some(owner) => match (request.method.as_str(), request.uri.path(), gemini) {
            ("POST", "/v1/chat/completions", _) => {
                chat::with_model(request, |body, model| chat::chat(body, model, seq))
            }
            ("POST", "/v1/completions", _) => {
                chat::with_model(request, |body, model| chat::completion(body, model, seq))
            }
            ("POST", "/v1/embeddings", _) => chat::with_model(request, embeddings::embeddings),
            ("POST", "/v1/responses", _) => {
                chat::with_model(request, |body, model| responses::create(body, model, seq))
            }
            ("POST", "/v1/messages", _) => anthropic::messages(request, seq),
            ("POST", "/v1/messages/count_tokens", _) => anthropic::count_tokens(request),
            ("GET", "/v1/models", _) if owner == Owner::Anthropic => anthropic::models(request),
            ("GET", "/v1/models", _) if owner == Owner::OpenAi => embeddings::models(),
            (_, _, Some(endpoint)) => gemini::reply(request, endpoint, seq),
            _ => echo(request),
        },
    };
    with_request_id(reply, seq)
}

/// What `api`'s provider answers for an endpoint it does not have.
fn not_found(api: Api, request: &RecordedRequest) -> Reply {
    let path = request.uri.path();
    match api {
        Api::Anthropic => anthropic::error(404, "not_found_error", "Not Found"),
        Api::Gemini => {
            gemini::error(404, "NOT_FOUND", &format!("The requested URL {path} was not found on this server."))
        }
        _ => Reply::error(404, "invalid_request_error", &format!("Invalid URL ({} {path})", request.method)),
    }
}

fn with_request_id(reply: Reply, seq: u64) -> Reply {
    let id = ("x-request-id".to_owned(), format!("req_fake{seq}"));
    match reply {
        Reply::Json { status, mut headers, body } => {
            headers.push(id);
            Reply::Json { status, headers, body }
        }
        Reply::Sse { status, mut headers, chunks } => {
            headers.push(id);
            Reply::Sse { status, headers, chunks }
        }
        other => other,
    }
}

/// The body as a JSON object, if it is one.
fn json_object(request: &RecordedRequest) -> Option<Value> {
    serde_json::from_slice::<Value>(&request.body).ok().filter(Value::is_object)
}

fn fails(model: &str) -> bool {
    model.starts_with(FAIL_PREFIX)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Words in a prompt-like value: strings count their words, numbers (token ids)
/// one each, arrays, and objects' `content`, `text` or `parts` recursively (so
/// OpenAI messages and parts, Anthropic blocks and Gemini contents all count).
fn prompt_words(value: &Value) -> u64 {
    match value {
        Value::String(text) => words(text),
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(prompt_words).sum(),
        Value::Object(part) => {
            part.get("content").or_else(|| part.get("text")).or_else(|| part.get("parts")).map_or(0, prompt_words)
        }
        Value::Null | Value::Bool(_) => 0,
    }
}

fn is_true(body: &Value, pointer: &str) -> bool {
    body.pointer(pointer) == Some(&Value::Bool(true))
}

fn echo(request: &RecordedRequest) -> Reply {
    Reply::json(
        200,
        serde_json::json!({
            "echo": {
                "method": request.method.as_str(),
                "path": request.uri.path(),
                "query": request.uri.query(),
                "body_bytes": request.body.len(),
                "content_type": request.header("content-type")
            }
        }),
    )
}

#[cfg(test)]
mod tests;
