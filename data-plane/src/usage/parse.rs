//! Reading the usage an upstream reported. Runs in the sink task, off the
//! request path, on bytes the request path handed over untouched.

use serde::Deserialize;

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

/// The most tokens one count may say: far above any context window, far
/// below what sums and prices could overflow. An upstream that reports more
/// is believed up to this.
pub const MAX_TOKENS: u64 = 1 << 32;

/// A token count: an integer, or a float some servers send, rounded; at most
/// [`MAX_TOKENS`]; a negative one is zero.
#[derive(Clone, Copy)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let count = match n.as_u64() {
            Some(n) => n,
            // Also every integer beyond u64 (`1e30`, or 30 digits, read as a float).
            None => n.as_f64().filter(|f| *f >= 0.0).map_or(0, |f| f.min(MAX_TOKENS as f64).round() as u64),
        };
        Ok(Count(count.min(MAX_TOKENS)))
    }
}

/// The usage in a `usage` value (a JSON answer's or a stream's usage
/// object, copied on the request path); `None` when there is none (`null`,
/// or without token counts) or the text is not one.
///
/// Reads Chat Completions names (`prompt_tokens`, `completion_tokens`,
/// `prompt_tokens_details.cached_tokens`, `completion_tokens_details.reasoning_tokens`),
/// Responses API names (`input_tokens`, `output_tokens`, `input_tokens_details`,
/// `output_tokens_details`) and DeepSeek's `prompt_cache_hit_tokens`. Cached
/// tokens are part of the prompt and reasoning tokens part of the completion:
/// neither is taken to exceed its whole.
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
    let (prompt, completion) = (prompt.unwrap_or(0), completion.unwrap_or(0));
    let cached = detail(&f.prompt_tokens_details, |d| d.cached_tokens)
        .or_else(|| detail(&f.input_tokens_details, |d| d.cached_tokens))
        .or(n(f.prompt_cache_hit_tokens))
        .unwrap_or(0);
    let reasoning = detail(&f.completion_tokens_details, |d| d.reasoning_tokens)
        .or_else(|| detail(&f.output_tokens_details, |d| d.reasoning_tokens))
        .unwrap_or(0);
    Some(Tokens { prompt, completion, cached: cached.min(prompt), reasoning: reasoning.min(completion) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_completions_usage_with_every_kind() {
        let usage = br#"{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0}}"#;
        assert_eq!(usage_value(usage), Some(Tokens { prompt: 2006, completion: 300, cached: 1920, reasoning: 192 }));
    }

    #[test]
    fn other_shapes() {
        let responses = br#"{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":123}"#;
        assert_eq!(usage_value(responses), Some(Tokens { prompt: 36, completion: 87, cached: 0, reasoning: 64 }));
        let deepseek =
            br#"{"prompt_tokens":10,"completion_tokens":5,"prompt_cache_hit_tokens":8,"prompt_cache_miss_tokens":2}"#;
        assert_eq!(usage_value(deepseek), Some(Tokens { prompt: 10, completion: 5, cached: 8, reasoning: 0 }));
        let embeddings = br#"{"prompt_tokens":8,"total_tokens":8}"#;
        assert_eq!(usage_value(embeddings), Some(Tokens { prompt: 8, ..Tokens::default() }));
        let nulls = br#"{"prompt_tokens":3,"completion_tokens":null,"prompt_tokens_details":null}"#;
        assert_eq!(usage_value(nulls), Some(Tokens { prompt: 3, ..Tokens::default() }));
        assert_eq!(usage_value(br#"{"prompt_tokens":2.0,"completion_tokens":1}"#).map(|t| t.prompt), Some(2));
    }

    #[test]
    fn no_usage() {
        assert_eq!(usage_value(b"null"), None);
        assert_eq!(usage_value(b"{}"), None);
        assert_eq!(usage_value(br#"{"total_tokens":3}"#), None);
        assert_eq!(usage_value(b"[1,2]"), None);
        assert_eq!(usage_value(b"not json"), None);
    }

    #[test]
    fn huge_counts_are_clamped_and_parts_never_exceed_their_whole() {
        let huge = br#"{"prompt_tokens":18446744073709551615,"completion_tokens":1e300,"prompt_tokens_details":{"cached_tokens":99999999999999999999999999},"completion_tokens_details":{"reasoning_tokens":5}}"#;
        assert_eq!(
            usage_value(huge),
            Some(Tokens { prompt: MAX_TOKENS, completion: MAX_TOKENS, cached: MAX_TOKENS, reasoning: 5 })
        );
        let parts = br#"{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":50},"completion_tokens_details":{"reasoning_tokens":9}}"#;
        assert_eq!(usage_value(parts), Some(Tokens { prompt: 10, completion: 4, cached: 10, reasoning: 4 }));
        assert_eq!(usage_value(br#"{"prompt_tokens":-5,"completion_tokens":-1.5}"#), Some(Tokens::default()));
    }
}
