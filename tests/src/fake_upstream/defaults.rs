//! The answers given when no reply is queued: OpenAI-shaped, echoing the request.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::RecordedRequest;
use super::reply::{Chunk, Reply};

/// `completion_tokens` of every default completion: the three pieces of
/// `"Hello from {model}"`.
pub const COMPLETION_TOKENS: u64 = 3;

const FINGERPRINT: &str = "fp_fake";
const EMBEDDING_DIMENSIONS: usize = 8;
const MAX_EMBEDDING_DIMENSIONS: u64 = 4096;

pub(super) fn reply_for(request: &RecordedRequest, seq: u64) -> Reply {
    let reply = match (request.method.as_str(), request.uri.path()) {
        ("POST", "/v1/chat/completions") => with_model(request, |body, model| chat(body, model, seq)),
        ("POST", "/v1/completions") => with_model(request, |body, model| completion(body, model, seq)),
        ("POST", "/v1/embeddings") => with_model(request, embeddings),
        ("GET", "/v1/models") => models(),
        _ => echo(request),
    };
    with_request_id(reply, seq)
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

/// Parses the body as a JSON object with a string `model`, or answers 400 as
/// OpenAI does.
fn with_model(request: &RecordedRequest, answer: impl FnOnce(&Value, &str) -> Reply) -> Reply {
    let body = match serde_json::from_slice::<Value>(&request.body) {
        Ok(body) if body.is_object() => body,
        _ => {
            return Reply::error(
                400,
                "invalid_request_error",
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
                 HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            );
        }
    };
    match body.get("model").and_then(Value::as_str) {
        Some(model) => answer(&body, model),
        None => Reply::error(400, "invalid_request_error", "you must provide a model parameter"),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Words in a prompt-like value: strings count their words, numbers (token ids)
/// one each, arrays, messages' `content` and parts' `text` recursively.
fn prompt_words(value: &Value) -> u64 {
    match value {
        Value::String(text) => words(text),
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(prompt_words).sum(),
        Value::Object(part) => part.get("content").or_else(|| part.get("text")).map_or(0, prompt_words),
        Value::Null | Value::Bool(_) => 0,
    }
}

fn usage(prompt_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": prompt_tokens + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// `"Hello from {model}"` in the three pieces a stream sends.
fn pieces(model: &str) -> [String; 3] {
    ["Hello".to_owned(), " from".to_owned(), format!(" {model}")]
}

fn is_true(body: &Value, pointer: &str) -> bool {
    body.pointer(pointer) == Some(&Value::Bool(true))
}

/// The SSE reply for these chunk objects; with `include_usage`, every one gets
/// `"usage": null` and a last one with no choices carries `usage`.
fn stream(mut chunks: Vec<Value>, include_usage: bool, usage: Value) -> Reply {
    if include_usage {
        let mut last = chunks.last().cloned().unwrap_or_else(|| json!({}));
        for chunk in &mut chunks {
            chunk["usage"] = Value::Null;
        }
        last["choices"] = json!([]);
        last["usage"] = usage;
        chunks.push(last);
    }
    let events = chunks.iter().map(|chunk| Chunk::event(&chunk.to_string())).chain([Chunk::event("[DONE]")]);
    Reply::sse(events.collect())
}

fn chat(body: &Value, model: &str, seq: u64) -> Reply {
    let id = format!("chatcmpl-fake{seq}");
    let created = now();
    let usage = usage(prompt_words(body.get("messages").unwrap_or(&Value::Null)).max(1));
    if !is_true(body, "/stream") {
        return Reply::json(
            200,
            json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": pieces(model).concat(),
                        "refusal": null,
                        "annotations": []
                    },
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT
            }),
        );
    }
    let chunk = |delta: Value, finish_reason: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
        })
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null)];
    chunks.extend(pieces(model).map(|piece| chunk(json!({"content": piece}), Value::Null)));
    chunks.push(chunk(json!({}), json!("stop")));
    stream(chunks, is_true(body, "/stream_options/include_usage"), usage)
}

fn completion(body: &Value, model: &str, seq: u64) -> Reply {
    let id = format!("cmpl-fake{seq}");
    let created = now();
    let usage = usage(prompt_words(body.get("prompt").unwrap_or(&Value::Null)).max(1));
    let object = |text: &str, finish_reason: Value| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish_reason}]
        })
    };
    if !is_true(body, "/stream") {
        let mut object = object(&pieces(model).concat(), json!("stop"));
        object["usage"] = usage;
        return Reply::json(200, object);
    }
    let mut chunks: Vec<Value> = pieces(model).iter().map(|piece| object(piece, Value::Null)).collect();
    chunks.push(object("", json!("stop")));
    stream(chunks, is_true(body, "/stream_options/include_usage"), usage)
}

fn embeddings(body: &Value, model: &str) -> Reply {
    // Each input is (what seeds its vector, its token count).
    let inputs: Vec<(String, u64)> = match body.get("input") {
        Some(Value::String(text)) => vec![(text.clone(), words(text))],
        Some(Value::Array(items)) if items.first().is_some_and(Value::is_number) => {
            vec![(Value::Array(items.clone()).to_string(), items.len() as u64)]
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|item| (item.to_string(), prompt_words(item))).collect()
        }
        _ => return Reply::error(400, "invalid_request_error", "'input' is a required property"),
    };
    let dimensions = match body.get("dimensions").and_then(Value::as_u64) {
        Some(n @ 1..=MAX_EMBEDDING_DIMENSIONS) => n as usize,
        _ => EMBEDDING_DIMENSIONS,
    };
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (seed, _))| {
            let vector = vector(seed, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64_encode(&bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let prompt_tokens = inputs.iter().map(|(_, tokens)| tokens).sum::<u64>().max(1);
    Reply::json(
        200,
        json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        }),
    )
}

/// A deterministic vector in [-1, 1] seeded by the input (FNV-1a, then an LCG).
fn vector(seed: &str, dimensions: usize) -> Vec<f32> {
    let mut state =
        seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (0..dimensions)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], group.get(1).copied().unwrap_or(0), group.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn models() -> Reply {
    Reply::json(
        200,
        json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system"}
            ]
        }),
    )
}

fn echo(request: &RecordedRequest) -> Reply {
    Reply::json(
        200,
        json!({
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
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn vectors_are_deterministic_and_bounded() {
        assert_eq!(vector("a", 8), vector("a", 8));
        assert_ne!(vector("a", 8), vector("b", 8));
        assert!(vector("a", 64).iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}
