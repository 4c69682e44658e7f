//! OpenAI's `POST /v1/embeddings` as Gemini's `models/{model}:batchEmbedContents`.
//!
//! Every request goes as a batch, one `EmbedContentRequest` per input (a
//! batch of one for a single string): one request shape and one answer shape
//! whatever the client sent, where `embedContent` would serve only the
//! single-string case.
//!
//! | OpenAI | Gemini |
//! |---|---|
//! | `model` | the URL's model, and each request's `model` (`models/{model}`) |
//! | `input`: a string, or an array of strings | `requests[i].content.parts[0].text`, in order |
//! | `input`: token ids (an array of integers, or of arrays of integers) | refused (400 naming `input`): Gemini takes text only |
//! | `dimensions` | each request's `outputDimensionality` |
//! | `encoding_format` `float` (default) / `base64` | answered as JSON numbers / base64 of little-endian `f32`s, as OpenAI does |
//! | `user` | dropped (Gemini has no counterpart) |
//!
//! The answer: `{"object": "list", "data": [{"object": "embedding", "index":
//! i, "embedding": ...}], "model", "usage": {"prompt_tokens", "total_tokens"}}`,
//! `embeddings[i]` as `data[i]`. `usage` is Gemini's `usageMetadata` when it
//! reports one (`promptTokenCount`); without it, the gateway's estimate of the
//! input ([`crate::usage::estimate`]), flagged so that accounting records an
//! estimate rather than a count.

use super::resource;
use crate::translate::{Answer, Ask, TranslateError, Translated};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[cfg(test)]
mod tests;

/// OpenAI embeddings request body (already naming the upstream model) -> BatchEmbedContentsRequest body.
pub fn request(openai: &[u8]) -> Result<Translated, TranslateError> {
    let req: Value = serde_json::from_slice(openai).map_err(|e| bad(format!("the request body is not JSON: {e}")))?;
    let Some(req) = req.as_object() else { return Err(bad("the request body is not a JSON object")) };
    let model = match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(bad("model: required")),
    };
    let texts = inputs(req.get("input"))?;
    let dimensions = match given(req, "dimensions") {
        None => None,
        Some(v) => {
            Some(v.as_u64().filter(|&n| n > 0).ok_or_else(|| bad("dimensions: a positive integer is required"))?)
        }
    };
    let base64 = match given(req, "encoding_format") {
        None => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(other) => return Err(bad(format!("encoding_format: {other} is not one of \"float\", \"base64\""))),
    };
    let name = resource(&model);
    let requests: Vec<Value> = texts
        .iter()
        .map(|text| {
            let mut one = Map::new();
            one.insert("model".into(), Value::String(name.clone()));
            one.insert("content".into(), json!({"parts": [{"text": text}]}));
            if let Some(n) = dimensions {
                one.insert("outputDimensionality".into(), n.into());
            }
            Value::Object(one)
        })
        .collect();
    let estimated_tokens = crate::usage::estimate::prompt_tokens(openai);
    Ok(Translated {
        body: json!({"requests": requests}).to_string().into_bytes(),
        stream: false,
        include_usage: false,
        model,
        ask: Ask::Embeddings { inputs: texts.len(), base64, estimated_tokens },
    })
}

fn bad(message: impl Into<String>) -> TranslateError {
    TranslateError::Request(message.into())
}

fn given<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// The texts of `input`: a string, or a non-empty array of strings.
fn inputs(input: Option<&Value>) -> Result<Vec<&str>, TranslateError> {
    const TOKENS: &str = "input: token ids are not supported by gemini providers (send the text)";
    let texts = match input {
        Some(Value::String(text)) => vec![text.as_str()],
        Some(Value::Array(items)) if items.is_empty() => return Err(bad("input: must not be an empty array")),
        Some(Value::Array(items)) => {
            let mut texts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(text) => texts.push(text.as_str()),
                    Value::Number(_) | Value::Array(_) => return Err(bad(TOKENS)),
                    other => return Err(bad(format!("input[{i}]: {other} is not a string"))),
                }
            }
            texts
        }
        None | Some(Value::Null) => return Err(bad("input: required")),
        Some(other) => return Err(bad(format!("input: {other} is not a string or an array of strings"))),
    };
    match texts.iter().position(|t| t.is_empty()) {
        Some(_) if input.is_some_and(Value::is_string) => Err(bad("input: must not be an empty string")),
        Some(i) => Err(bad(format!("input[{i}]: must not be an empty string"))),
        None => Ok(texts),
    }
}

#[derive(Deserialize)]
struct Batch {
    #[serde(default)]
    embeddings: Vec<Embedding>,
    #[serde(rename = "usageMetadata")]
    usage: Option<UsageMetadata>,
}

#[derive(Deserialize)]
struct Embedding {
    #[serde(default)]
    values: Vec<f32>,
}

#[derive(Deserialize)]
struct UsageMetadata {
    #[serde(rename = "promptTokenCount")]
    prompt: Option<u64>,
    #[serde(rename = "totalTokenCount")]
    total: Option<u64>,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Item>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// A BatchEmbedContentsResponse -> OpenAI's embeddings list, for a request
/// that asked `ask` of `model` (the upstream model, named back).
pub fn response(body: &[u8], model: &str, ask: Ask) -> Result<Answer, TranslateError> {
    let Ask::Embeddings { inputs, base64, estimated_tokens } = ask else {
        return Err(TranslateError::Response("not an embeddings request".into()));
    };
    let batch: Batch = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Response(format!("the gemini embeddings answer is not as documented: {e}")))?;
    if batch.embeddings.len() != inputs {
        return Err(TranslateError::Response(format!(
            "gemini answered {} embeddings for {inputs} inputs",
            batch.embeddings.len()
        )));
    }
    let mut data = Vec::with_capacity(inputs);
    for (index, embedding) in batch.embeddings.into_iter().enumerate() {
        if embedding.values.is_empty() {
            return Err(TranslateError::Response(format!("gemini's embedding {index} has no values")));
        }
        let embedding =
            if base64 { Vector::Base64(encode(&embedding.values)) } else { Vector::Float(embedding.values) };
        data.push(Item { object: "embedding", index, embedding });
    }
    let reported = batch.usage.and_then(|u| u.prompt.or(u.total));
    let tokens = reported.unwrap_or(estimated_tokens);
    let list = List { object: "list", data, model, usage: Usage { prompt_tokens: tokens, total_tokens: tokens } };
    let body = serde_json::to_vec(&list)
        .map_err(|e| TranslateError::Response(format!("the embeddings answer could not be written: {e}")))?;
    Ok(Answer { body, usage_estimated: reported.is_none() })
}

/// OpenAI's base64 embedding: the `f32`s little-endian, in standard base64.
fn encode(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
