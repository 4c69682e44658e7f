//! `POST /v1/messages/count_tokens` for providers without a token count:
//! the request's system prompt, messages and tools translated as for
//! `/v1/messages` and measured with the gateway's estimator
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
    let chat = prompt(&parse(body)?)?;
    let chat = serde_json::to_vec(&chat)
        .map_err(|e| TranslateError::Request(format!("the translated request could not be written: {e}")))?;
    Ok(estimate::prompt_tokens(&chat))
}

/// The count_tokens answer: `{"input_tokens": N}`.
pub fn count_tokens_body(input_tokens: u64) -> Vec<u8> {
    format!("{{\"input_tokens\":{input_tokens}}}").into_bytes()
}
