//! Reading the usage an upstream reported. Runs in the sink task, off the
//! request path, on bytes the request path handed over untouched.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: u64,
    /// Includes the reasoning tokens, as OpenAI counts them.
    pub completion: u64,
    /// Prompt tokens served from the provider's cache (part of `prompt`).
    pub cached: u64,
    /// Reasoning tokens (part of `completion`).
    pub reasoning: u64,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    usage: Option<Fields>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// A `usage` object's counts, read straight into numbers (no tree is built);
/// other fields are skipped, `null` is absent.
#[derive(Deserialize, Default)]
struct Fields {
    prompt_tokens: Option<Count>,
    completion_tokens: Option<Count>,
    input_tokens: Option<Count>,
    output_tokens: Option<Count>,
    prompt_cache_hit_tokens: Option<Count>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
    input_tokens_details: Option<Details>,
    output_tokens_details: Option<Details>,
}

#[derive(Deserialize, Default)]
struct Details {
    cached_tokens: Option<Count>,
    reasoning_tokens: Option<Count>,
}

/// A token count: an integer, or a float some servers send, rounded.
#[derive(Clone, Copy)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        Ok(Count(n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64)).unwrap_or(0)))
    }
}

/// The usage in an OpenAI JSON object (a response body, or a stream's usage
/// chunk): its top-level `usage`, else `response.usage` (Responses API
/// events). `None` when there is none (absent, `null`, or without token
/// counts) or the text is not a JSON object.
///
/// Reads Chat Completions names (`prompt_tokens`, `completion_tokens`,
/// `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`),
/// Responses API names (`input_tokens`, `output_tokens`, `input_tokens_details`,
/// `output_tokens_details`) and DeepSeek's `prompt_cache_hit_tokens`.
pub fn usage(json: &[u8]) -> Option<Tokens> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let envelope: Envelope<'_> = serde_json::from_slice(json).ok()?;
    envelope.usage.and_then(tokens).or_else(|| usage(envelope.response?.get().as_bytes()))
}

/// The usage in a `usage` value itself (a JSON answer's, cut out on the request path).
pub fn usage_value(json: &[u8]) -> Option<Tokens> {
    tokens(serde_json::from_slice::<Option<Fields>>(json).ok()??)
}

fn tokens(f: Fields) -> Option<Tokens> {
    let n = |c: Option<Count>| c.map(|c| c.0);
    let detail = |d: &Option<Details>, pick: fn(&Details) -> Option<Count>| n(d.as_ref().and_then(pick));
    let prompt = n(f.prompt_tokens).or(n(f.input_tokens));
    let completion = n(f.completion_tokens).or(n(f.output_tokens));
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    Some(Tokens {
        prompt: prompt.unwrap_or(0),
        completion: completion.unwrap_or(0),
        cached: detail(&f.prompt_tokens_details, |d| d.cached_tokens)
            .or_else(|| detail(&f.input_tokens_details, |d| d.cached_tokens))
            .or(n(f.prompt_cache_hit_tokens))
            .unwrap_or(0),
        reasoning: detail(&f.completion_tokens_details, |d| d.reasoning_tokens)
            .or_else(|| detail(&f.output_tokens_details, |d| d.reasoning_tokens))
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_completions_usage_with_every_kind() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"usage"}}],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0}}}"#;
        assert_eq!(usage(body), Some(Tokens { prompt: 2006, completion: 300, cached: 1920, reasoning: 192 }));
    }

    #[test]
    fn other_shapes() {
        let responses = br#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":123}}}"#;
        assert_eq!(usage(responses), Some(Tokens { prompt: 36, completion: 87, cached: 0, reasoning: 64 }));
        let deepseek = br#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}}"#;
        assert_eq!(usage(deepseek), Some(Tokens { prompt: 10, completion: 5, cached: 8, reasoning: 0 }));
        let embeddings = br#"{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(usage(embeddings), Some(Tokens { prompt: 8, ..Tokens::default() }));
        let nulls = br#"{"usage":{"prompt_tokens":3,"completion_tokens":null,"prompt_tokens_details":null}}"#;
        assert_eq!(usage(nulls), Some(Tokens { prompt: 3, ..Tokens::default() }));
    }

    #[test]
    fn no_usage() {
        assert_eq!(usage(br#"{"usage":null}"#), None);
        assert_eq!(usage(br#"{"usage":{}}"#), None);
        assert_eq!(usage(br#"{"choices":[]}"#), None);
        assert_eq!(usage(b"[1,2]"), None);
        assert_eq!(usage(b"not json"), None);
        assert_eq!(usage_value(b"null"), None);
        assert_eq!(usage_value(br#"{"prompt_tokens":2.0,"completion_tokens":1}"#).map(|t| t.prompt), Some(2));
    }
}
