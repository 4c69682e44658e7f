//! Gemini's API, under any version (`/v1beta`, `/v1`):
//! `POST /{version}/models/{model}:generateContent` answers a
//! GenerateContentResponse; `:streamGenerateContent?alt=sse` the same in SSE
//! events (one per text piece, `\r\n\r\n`-separated as Google sends them; the
//! last with `finishReason` and the whole `usageMetadata`), or without
//! `alt=sse` those events as one JSON array; `:countTokens` its
//! `totalTokens`; `:embedContent` and `:batchEmbedContents` deterministic
//! vectors, with `usageMetadata.promptTokenCount` the input's words; `GET /{version}/models` a model list. The model is the path's,
//! percent-decoded.
//!
//! As Google does, a request without an API key (`x-goog-api-key`, `key=` in
//! the query, or a bearer token) gets 403 `PERMISSION_DENIED`, and a body
//! that is not a JSON object 400 `INVALID_ARGUMENT`.

use serde_json::{Value, json};

use super::conversation::{Answer, Conversation, Tool};
use super::embeddings::{EMBEDDING_DIMENSIONS, MAX_EMBEDDING_DIMENSIONS, vector};
use super::{RecordedRequest, fails, json_object, prompt_words};
use crate::fake_upstream::reply::{Chunk, Reply};

pub(super) fn error(code: u16, status: &str, message: &str) -> Reply {
    Reply::json(code, json!({"error": {"code": code, "message": message, "status": status}}))
}

/// One of Gemini's endpoints.
#[derive(Debug)]
pub(super) enum Endpoint {
    /// `GET /{version}/models`.
    Models,
    /// `POST /{version}/models/{model}:{method}`, the model percent-decoded.
    Call { model: String, method: &'static str },
}

const METHODS: [&str; 5] =
    ["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"];

/// The Gemini endpoint a request is for, None when it is none of Gemini's.
pub(super) fn endpoint(request: &RecordedRequest) -> Option<Endpoint> {
    let (version, rest) = request.uri.path().strip_prefix('/')?.split_once('/')?;
    if !version.starts_with('v') {
        return None;
    }
    if request.method == http::Method::GET && rest == "models" {
        return Some(Endpoint::Models);
    }
    let (model, method) = rest.strip_prefix("models/")?.rsplit_once(':')?;
    let method = METHODS.into_iter().find(|known| *known == method)?;
    (request.method == http::Method::POST).then(|| Endpoint::Call { model: percent_decode(model), method })
}

pub(super) fn reply(request: &RecordedRequest, endpoint: Endpoint, seq: u64) -> Reply {
    if let Some(refusal) = authorized(request) {
        return refusal;
    }
    let (model, method) = match endpoint {
        Endpoint::Models => return models(),
        Endpoint::Call { model, method } => (model, method),
    };
    let Some(body) = json_object(request) else {
        return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.");
    };
    if fails(&model) {
        return error(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
        );
    }
    let sse = request.uri.query().is_some_and(|query| query.split('&').any(|pair| pair == "alt=sse"));
    match method {
        "generateContent" => generate(&body, &model, seq, None),
        "streamGenerateContent" => generate(&body, &model, seq, Some(sse)),
        "countTokens" => {
            let request = body.get("generateContentRequest").unwrap_or(&body);
            let n = prompt_tokens(request);
            Reply::json(200, json!({"totalTokens": n, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}]}))
        }
        "embedContent" => match embedding(&body) {
            Some(embedding) => {
                let usage = embedding_usage(prompt_words(body.get("content").unwrap_or(&Value::Null)));
                Reply::json(200, json!({"embedding": embedding, "usageMetadata": usage}))
            }
            None => error(400, "INVALID_ARGUMENT", "* EmbedContentRequest.content: content is not specified"),
        },
        _ => {
            let requests = body.get("requests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            match requests.iter().map(embedding).collect::<Option<Vec<Value>>>() {
                Some(embeddings) if !embeddings.is_empty() => {
                    let words = requests.iter().map(|r| prompt_words(r.get("content").unwrap_or(&Value::Null))).sum();
                    Reply::json(200, json!({"embeddings": embeddings, "usageMetadata": embedding_usage(words)}))
                }
                _ => error(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: contents is not specified"),
            }
        }
    }
}

/// None when the request carries an API key, else Google's refusal.
fn authorized(request: &RecordedRequest) -> Option<Reply> {
    let in_query = request.uri.query().is_some_and(|query| query.split('&').any(|pair| pair.starts_with("key=")));
    if request.header("x-goog-api-key").is_some() || request.header("authorization").is_some() || in_query {
        return None;
    }
    Some(error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or \
         other form of API consumer identity to call this API.",
    ))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn prompt_tokens(body: &Value) -> u64 {
    (prompt_words(body.get("systemInstruction").unwrap_or(&Value::Null))
        + prompt_words(body.get("contents").unwrap_or(&Value::Null)))
    .max(1)
}

/// The conversation of a GenerateContentRequest: the last user turn's text,
/// images and `functionResponse`s, and the function declarations.
fn conversation(body: &Value) -> Conversation<'_> {
    let mut conversation = Conversation::default();
    let contents = body.get("contents").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let user = contents.iter().rev().find(|c| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user");
    let parts = user.and_then(|user| user.get("parts")).and_then(Value::as_array).map(Vec::as_slice);
    for part in parts.unwrap_or_default() {
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            conversation.add_text(text);
        } else if let Some(data) = part.get("inlineData") {
            conversation.images.push(data.get("mimeType").and_then(Value::as_str).unwrap_or("").to_owned());
        } else if part.get("fileData").is_some() {
            conversation.images.push("url".to_owned());
        } else if let Some(response) = part.pointer("/functionResponse/response") {
            let text = match response.get("content") {
                Some(Value::String(content)) => content.clone(),
                _ => response.to_string(),
            };
            conversation.tool_results.push(text);
        }
    }
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let declarations = tools.iter().filter_map(|tool| tool.get("functionDeclarations")?.as_array()).flatten();
    conversation.tools = declarations
        .filter_map(|declaration| {
            let parameters = declaration.get("parametersJsonSchema").or_else(|| declaration.get("parameters"));
            Some(Tool { name: declaration.get("name")?.as_str()?, parameters })
        })
        .collect();
    conversation
}

/// `generateContent` (`stream` None), or `streamGenerateContent` as SSE
/// (`Some(true)`) or a JSON array (`Some(false)`).
fn generate(body: &Value, model: &str, seq: u64, stream: Option<bool>) -> Reply {
    let answer = conversation(body).answer(model);
    let (prompt, output) = (prompt_tokens(body), answer.completion_tokens());
    let usage = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
    });
    let event = |parts: Value, last: bool| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        let mut usage = usage.clone();
        if last {
            candidate["finishReason"] = json!("STOP");
        } else {
            usage = json!({"promptTokenCount": prompt, "totalTokenCount": prompt});
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": format!("fakeResponse{seq}")
        })
    };
    let events: Vec<Value> = match (&answer, stream) {
        (Answer::Text(pieces), None) => vec![event(json!([{"text": pieces.concat()}]), true)],
        (Answer::Text(pieces), Some(_)) => {
            let last = pieces.len().saturating_sub(1);
            pieces.iter().enumerate().map(|(i, piece)| event(json!([{"text": piece}]), i == last)).collect()
        }
        (Answer::Call { name, arguments }, _) => {
            vec![event(json!([{"functionCall": {"name": name, "args": arguments}}]), true)]
        }
    };
    match stream {
        None => Reply::json(200, events.into_iter().next().unwrap_or(Value::Null)),
        Some(false) => Reply::json(200, Value::Array(events)),
        Some(true) => Reply::sse(events.iter().map(|e| Chunk::bytes(format!("data: {e}\r\n\r\n"))).collect()),
    }
}

/// The embedding of `{"content": {"parts": [...]}, "outputDimensionality": N}`.
fn embedding(request: &Value) -> Option<Value> {
    let parts = request.pointer("/content/parts")?.as_array()?;
    let text: Vec<&str> = parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect();
    let dimensions = match request.get("outputDimensionality").and_then(Value::as_u64) {
        Some(n @ 1..=MAX_EMBEDDING_DIMENSIONS) => n as usize,
        _ => EMBEDDING_DIMENSIONS,
    };
    Some(json!({"values": vector(&text.join("\n"), dimensions)}))
}

/// An embedding answer's `EmbeddingUsageMetadata`: the input's words as its tokens.
fn embedding_usage(words: u64) -> Value {
    json!({"promptTokenCount": words, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": words}]})
}

fn models() -> Reply {
    Reply::json(
        200,
        json!({
            "models": [
                {
                    "name": "models/gemini-2.5-flash",
                    "version": "001",
                    "displayName": "Gemini 2.5 Flash",
                    "inputTokenLimit": 1_048_576,
                    "outputTokenLimit": 65_536,
                    "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
                    "temperature": 1,
                    "topP": 0.95,
                    "topK": 64,
                    "maxTemperature": 2,
                    "thinking": true
                },
                {
                    "name": "models/gemini-embedding-001",
                    "version": "001",
                    "displayName": "Gemini Embedding 001",
                    "inputTokenLimit": 2048,
                    "outputTokenLimit": 1,
                    "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens"]
                }
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_undoes_the_proxys_encoding() {
        assert_eq!(percent_decode("my%20model%2Fv1%3Fx"), "my model/v1?x");
        assert_eq!(percent_decode("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
