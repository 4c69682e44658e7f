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

mod request;
mod response;
mod stream;

pub use request::request;
pub use response::{error_fields, error_message, response};
pub use stream::Stream;

/// The path (after the provider's base_url, which is like https://generativelanguage.googleapis.com)
/// for `model`: "/v1beta/models/{model}:generateContent", or for a stream
/// "/v1beta/models/{model}:streamGenerateContent?alt=sse". `model` is percent-encoded as a path
/// segment (a leading "models/" in the name is dropped).
pub fn path(model: &str, stream: bool) -> String {
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
    out.push_str(if stream { ":streamGenerateContent?alt=sse" } else { ":generateContent" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_model() {
        assert_eq!(path("gemini-2.5-flash", false), "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(path("models/gemini-2.5-pro", true), "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse");
        assert_eq!(path("my model/v1?x", false), "/v1beta/models/my%20model%2Fv1%3Fx:generateContent");
    }
}
