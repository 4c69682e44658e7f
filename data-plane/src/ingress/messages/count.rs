//! `POST /v1/messages/count_tokens`: the request's system prompt, messages
//! and tools translated as for `/v1/messages` (what a `gemini` provider's
//! `countTokens` is asked, [`count_request`]) and, for providers without a
//! token count, measured with the gateway's estimator
//! ([`crate::usage::estimate`]: chat framing per message, 85 tokens an image,
//! tool definitions as the text of their JSON). An estimate, not the
//! provider's tokenizer.

use super::request::{parse, prompt};
use crate::translate::TranslateError;
use crate::usage::estimate;

#[cfg(test)]
mod tests;

/// The input tokens of a count_tokens request body (`model`, `messages`,
/// optional `system`, `tools`, `tool_choice`; whatever else it carries is
/// not read). Errors name the field, as for `/v1/messages`.
pub fn estimate_input_tokens(body: &[u8]) -> Result<u64, TranslateError> {
    let (chat, _) = count_request(body)?;
    Ok(estimate::prompt_tokens(&chat))
}

/// A count_tokens request body as the chat completions prompt it counts
/// (`model`, `messages` with the system prompt, `tools`, `tool_choice`:
/// what `/v1/messages` would send), and the model it names.
pub fn count_request(body: &[u8]) -> Result<(Vec<u8>, String), TranslateError> {
    let chat = prompt(&parse(body)?)?;
    let model = chat.get("model").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let chat = serde_json::to_vec(&chat)
        .map_err(|e| TranslateError::Request(format!("the translated request could not be written: {e}")))?;
    Ok((chat, model))
}

/// The count_tokens answer: `{"input_tokens": N}`.
pub fn count_tokens_body(input_tokens: u64) -> Vec<u8> {
    format!("{{\"input_tokens\":{input_tokens}}}").into_bytes()
}
