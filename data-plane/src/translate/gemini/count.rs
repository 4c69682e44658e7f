//! Anthropic's `POST /v1/messages/count_tokens` as Gemini's
//! `models/{model}:countTokens`. The count request comes as chat completions
//! (its `messages`, `system` and `tools`, translated as for `/v1/messages`);
//! it goes as the GenerateContentRequest a completion of that prompt would
//! send (so `systemInstruction` and `tools` are counted too), wrapped as
//! `{"generateContentRequest": {"model": "models/{model}", ...}}`, and
//! Gemini's `totalTokens` comes back as `{"input_tokens": N}`.

use super::resource;
use crate::translate::{Ask, TranslateError, Translated};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// A chat completions prompt (naming the upstream model) -> CountTokensRequest body.
pub fn request(chat: &[u8]) -> Result<Translated, TranslateError> {
    let mut translated = super::request(chat)?;
    let mut generate: serde_json::Map<String, Value> = serde_json::from_slice(&translated.body)
        .map_err(|e| TranslateError::Request(format!("the translated request could not be read: {e}")))?;
    generate.insert("model".into(), Value::String(resource(&translated.model)));
    translated.body = json!({"generateContentRequest": generate}).to_string().into_bytes();
    translated.stream = false;
    translated.include_usage = false;
    translated.ask = Ask::CountTokens;
    Ok(translated)
}

/// A CountTokensResponse -> Anthropic's `{"input_tokens": N}` (a missing
/// `totalTokens` is 0, which proto3's JSON leaves out).
pub fn response(body: &[u8]) -> Result<Vec<u8>, TranslateError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::Response(format!("the gemini count is not JSON: {e}")))?;
    let total = match answer.as_object().map(|a| a.get("totalTokens")) {
        Some(None) => 0,
        Some(Some(n)) => n.as_u64().ok_or_else(|| TranslateError::Response(format!("totalTokens: {n}")))?,
        None => return Err(TranslateError::Response("the gemini count is not a JSON object".into())),
    };
    Ok(format!("{{\"input_tokens\":{total}}}").into_bytes())
}
