//! Google Gemini (`models.generateContent` / `models.streamGenerateContent`)
//! behind OpenAI's chat completions.
//!
//! Gemini 3 models reject a follow-up request whose `functionCall` parts lost
//! their `thoughtSignature`. The signature travels to the client as
//! `tool_calls[].extra_content.google.thought_signature` (what Google's own
//! OpenAI endpoint does) and comes back from there; an assistant turn whose
//! calls carry none gets Google's documented placeholder signature so that
//! clients which drop unknown fields still work.
//!
//! `request` turns the OpenAI request into Gemini's, `response` the whole
//! answer (and an error body) back into OpenAI's, `stream` the SSE events.
//! `embed` does the same for OpenAI's embeddings (`batchEmbedContents`),
//! `count` for Anthropic's token count (`countTokens`).

pub mod count;
pub mod embed;
mod request;
mod response;
mod stream;

pub use request::request;
pub use response::{error_fields, error_message, response};
pub use stream::Stream;

/// The method a completion calls: `generateContent`, or for a stream
/// `streamGenerateContent?alt=sse` (Google's SSE, one response per event).
pub fn chat_method(stream: bool) -> &'static str {
    if stream { "streamGenerateContent?alt=sse" } else { "generateContent" }
}

/// `model` as the resource name Gemini's bodies carry: `models/{model}`.
pub fn resource(model: &str) -> String {
    format!("models/{}", model.strip_prefix("models/").unwrap_or(model))
}

/// The path (after the provider's base_url, which is like https://generativelanguage.googleapis.com)
/// of `model`'s `method`: "/v1beta/models/{model}:{method}", e.g. `generateContent` or
/// [`chat_method`]'s. `model` is percent-encoded as a path segment (a leading "models/" in the
/// name is dropped).
pub fn path(model: &str, method: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut out = String::from("/v1beta/models/");
    for b in model.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out.push(':');
    out.push_str(method);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_model() {
        assert_eq!(path("gemini-2.5-flash", chat_method(false)), "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(
            path("models/gemini-2.5-pro", chat_method(true)),
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(path("my model/v1?x", "countTokens"), "/v1beta/models/my%20model%2Fv1%3Fx:countTokens");
        assert_eq!(resource("gemini-embedding-001"), "models/gemini-embedding-001");
        assert_eq!(resource("models/gemini-embedding-001"), "models/gemini-embedding-001");
    }
}
