//! The token estimator, used when an upstream never reports usage (a stream
//! that was cut, a client that left, a provider with `stream_usage: never`).
//!
//! It counts the way BPE tokenizers split text, without their vocabularies:
//!
//! | text | tokens |
//! |---|---|
//! | a word of ASCII letters and digits (with the space before it) | 1 per 8 characters, rounded up (`the`, `generated`: 1; `internationalization`: 3) |
//! | a word with other letters (accents, Cyrillic, Greek, Arabic, Indic...) | 1 per 4 characters, rounded up |
//! | a run of punctuation and symbols | 1 per 2 characters, rounded up (`.` 1, `",` 1, `{"` 1) |
//! | a single space between words | 0 (it belongs to the next word) |
//! | a longer run of whitespace (indentation, blank lines) | 1 |
//! | a CJK character (Han, kana, Hangul, CJK punctuation, fullwidth forms) | 1 |
//! | any other character outside the Basic Multilingual Plane (emoji) | 1 |
//!
//! Prompts add OpenAI's chat framing: 3 tokens per message, 1 more when it
//! has a `name`, 3 to prime the reply; an image part counts 85 tokens (its
//! low-detail price, a floor: a high-detail image costs more). Tool
//! definitions count as the text of their JSON.
//!
//! Calibrated against `o200k_base` (GPT-4o and later) and `cl100k_base`
//! (GPT-4, GPT-3.5): English prose lands within about 10% of both (they
//! agree on English); CJK text lands between the two, since `o200k_base`
//! needs about 0.7 token per Chinese or Japanese character and `cl100k_base`
//! about 1. Other vocabularies (Llama, Qwen, DeepSeek) differ by a similar
//! margin. The tests state the ranges.

use serde_json::Value;

/// Tokens of one image part in a prompt (OpenAI's low-detail price).
pub const IMAGE_TOKENS: u64 = 85;
/// Chat framing per message, for a `name`, and to prime the reply.
const PER_MESSAGE: u64 = 3;
const PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;

/// ASCII word characters per token.
const ASCII_WORD: u32 = 8;
/// Word characters per token in a word with non-ASCII letters.
const OTHER_WORD: u32 = 4;
/// Punctuation characters per token.
const PUNCT: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Run {
    #[default]
    None,
    AsciiWord,
    OtherWord,
    Punct,
    Space,
}

/// A running count over text that arrives in pieces (stream deltas): a word
/// split across two pieces counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    tokens: u64,
    run: Run,
    len: u32,
}

impl Tally {
    pub fn text(&mut self, text: &str) {
        for c in text.chars() {
            self.char(c);
        }
    }

    pub fn char(&mut self, c: char) {
        let run = if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                Run::AsciiWord
            } else if c.is_ascii_whitespace() {
                Run::Space
            } else {
                Run::Punct
            }
        } else if single(c) {
            self.flush();
            self.tokens += 1;
            return;
        } else if c.is_alphabetic() || ('\u{300}'..='\u{36f}').contains(&c) {
            Run::OtherWord
        } else if c.is_whitespace() {
            Run::Space
        } else {
            Run::Punct
        };
        match (self.run, run) {
            (a, b) if a == b => {}
            // "café", "naïve": one word, counted at the denser rate.
            (Run::AsciiWord, Run::OtherWord) => self.run = Run::OtherWord,
            (Run::OtherWord, Run::AsciiWord) => {}
            _ => {
                self.flush();
                self.run = run;
            }
        }
        self.len = self.len.saturating_add(1);
    }

    /// Ends the current word (between two separate texts).
    pub fn flush(&mut self) {
        let n = self.len;
        self.tokens += u64::from(match self.run {
            Run::None => 0,
            Run::AsciiWord => n.div_ceil(ASCII_WORD),
            Run::OtherWord => n.div_ceil(OTHER_WORD),
            Run::Punct => n.div_ceil(PUNCT),
            Run::Space => u32::from(n > 1),
        });
        self.run = Run::None;
        self.len = 0;
    }

    /// The estimate so far, the current word included.
    pub fn tokens(&self) -> u64 {
        let mut done = *self;
        done.flush();
        done.tokens
    }
}

/// CJK characters and everything outside the BMP: a token each.
fn single(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF       // Hangul Jamo
        | 0x2E80..=0x2FDF     // CJK radicals
        | 0x3000..=0x303F     // CJK punctuation
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x3100..=0x31FF     // Bopomofo, Hangul compatibility Jamo, Katakana extensions
        | 0x3200..=0x4DBF     // enclosed CJK, CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xA960..=0xA97F     // Hangul Jamo extended
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0xFE30..=0xFE4F     // CJK compatibility forms
        | 0xFF00..=0xFFEF     // fullwidth forms ("！", "，")
        | 0x10000..)
}

/// Tokens of one text.
pub fn text_tokens(text: &str) -> u64 {
    let mut tally = Tally::default();
    tally.text(text);
    tally.tokens()
}

/// Feeds the JSON string that starts at `json[at]` (its opening quote) to
/// `tally`, decoding escapes; returns the index after its closing quote, or
/// `None` when there is no string there or it is unterminated.
pub fn feed_json_string(json: &str, at: usize, tally: &mut Tally) -> Option<usize> {
    let rest = json.get(at..)?.strip_prefix('"')?;
    let mut chars = rest.char_indices();
    let mut high: Option<u32> = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(at + 1 + i + 1),
            '\\' => {
                let (_, e) = chars.next()?;
                let decoded = match e {
                    'n' | 'r' | 't' | 'b' | 'f' => ' ',
                    'u' => {
                        let mut code = 0u32;
                        for _ in 0..4 {
                            code = code * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        if (0xD800..0xDC00).contains(&code) {
                            high = Some(code);
                            continue;
                        }
                        let code = match high.take() {
                            Some(h) if (0xDC00..0xE000).contains(&code) => {
                                0x10000 + ((h - 0xD800) << 10) + (code - 0xDC00)
                            }
                            _ => code,
                        };
                        char::from_u32(code).unwrap_or('\u{fffd}')
                    }
                    other => other,
                };
                tally.char(decoded);
            }
            c => tally.char(c),
        }
    }
    None
}

/// Prompt tokens of an OpenAI request body: chat `messages`, completion
/// `prompt`, embedding or Responses `input`, `instructions`, tool definitions.
/// 0 for a body that is not JSON.
pub fn prompt_tokens(body: &[u8]) -> u64 {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else { return 0 };
    let mut tokens = 0;
    if let Some(Value::Array(messages)) = body.get("messages") {
        for m in messages {
            tokens += PER_MESSAGE + message_tokens(m);
        }
        if !messages.is_empty() {
            tokens += REPLY_PRIMING;
        }
    }
    for field in ["prompt", "input", "instructions", "system"] {
        if let Some(v) = body.get(field) {
            tokens += value_tokens(v);
        }
    }
    for field in ["tools", "functions"] {
        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
            tokens += text_tokens(&v.to_string());
        }
    }
    tokens
}

fn message_tokens(m: &Value) -> u64 {
    let Value::Object(m) = m else { return value_tokens(m) };
    let mut tokens = m.get("content").map_or(0, value_tokens);
    if let Some(Value::String(name)) = m.get("name") {
        tokens += PER_NAME + text_tokens(name);
    }
    if let Some(Value::Array(calls)) = m.get("tool_calls") {
        for call in calls {
            if let Some(f) = call.get("function") {
                tokens += f.get("name").map_or(0, value_tokens) + f.get("arguments").map_or(0, value_tokens);
            }
        }
    }
    tokens
}

/// Text in a prompt-like value: strings, token ids (1 each), content parts
/// (`text`, images), messages (`content`), recursively.
fn value_tokens(v: &Value) -> u64 {
    match v {
        Value::String(s) => text_tokens(s),
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(value_tokens).sum(),
        Value::Object(part) => {
            let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.contains("image") || part.contains_key("image_url") {
                return IMAGE_TOKENS;
            }
            if part.contains_key("role") {
                return PER_MESSAGE + message_tokens(v);
            }
            part.get("text").or_else(|| part.get("content")).map_or(0, value_tokens)
        }
        Value::Null | Value::Bool(_) => 0,
    }
}

/// Completion tokens of a non-streamed response that reported no usage: the
/// text of its choices (chat messages, tool call arguments, reasoning, or
/// completion `text`). Reasoning text is counted into `reasoning` too.
pub fn response_tokens(body: &[u8]) -> (u64, u64) {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else { return (0, 0) };
    let (mut completion, mut reasoning) = (0, 0);
    let Some(Value::Array(choices)) = body.get("choices") else { return (0, 0) };
    for choice in choices {
        if let Some(Value::String(text)) = choice.get("text") {
            completion += text_tokens(text);
        }
        let Some(message) = choice.get("message") else { continue };
        if let Some(Value::String(text)) = message.get("content") {
            completion += text_tokens(text);
        }
        for field in ["reasoning_content", "reasoning"] {
            if let Some(Value::String(text)) = message.get(field) {
                let n = text_tokens(text);
                completion += n;
                reasoning += n;
            }
        }
        if let Some(Value::Array(calls)) = message.get("tool_calls") {
            for call in calls {
                if let Some(f) = call.get("function") {
                    completion += f.get("name").map_or(0, value_tokens) + f.get("arguments").map_or(0, value_tokens);
                }
            }
        }
    }
    (completion, reasoning)
}

#[cfg(test)]
mod tests;
