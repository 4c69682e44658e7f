//! OpenAI's embeddings and model list, and the deterministic vectors Gemini's
//! embeddings share.

use serde_json::{Value, json};

use super::{prompt_words, words};
use crate::fake_upstream::reply::Reply;

pub(super) const EMBEDDING_DIMENSIONS: usize = 8;
pub(super) const MAX_EMBEDDING_DIMENSIONS: u64 = 4096;

pub(super) fn embeddings(body: &Value, model: &str) -> Reply {
    // Each input is (what seeds its vector, its token count).
    let inputs: Vec<(String, u64)> = match body.get("input") {
        Some(Value::String(text)) => vec![(text.clone(), words(text))],
        Some(Value::Array(items)) if items.first().is_some_and(Value::is_number) => {
            vec![(Value::Array(items.clone()).to_string(), items.len() as u64)]
        }
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|item| (item.to_string(), prompt_words(item))).collect()
        }
        _ => return Reply::error(400, "invalid_request_error", "'input' is a required property"),
    };
    let dimensions = match body.get("dimensions").and_then(Value::as_u64) {
        Some(n @ 1..=MAX_EMBEDDING_DIMENSIONS) => n as usize,
        _ => EMBEDDING_DIMENSIONS,
    };
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (seed, _))| {
            let vector = vector(seed, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64_encode(&bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let prompt_tokens = inputs.iter().map(|(_, tokens)| tokens).sum::<u64>().max(1);
    Reply::json(
        200,
        json!({
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        }),
    )
}

/// A deterministic vector in [-1, 1] seeded by the input (FNV-1a, then an LCG).
pub(super) fn vector(seed: &str, dimensions: usize) -> Vec<f32> {
    let mut state =
        seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (0..dimensions)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 40) as f32 / (1u64 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], group.get(1).copied().unwrap_or(0), group.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn models() -> Reply {
    Reply::json(
        200,
        json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system"}
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn vectors_are_deterministic_and_bounded() {
        assert_eq!(vector("a", 8), vector("a", 8));
        assert_ne!(vector("a", 8), vector("b", 8));
        assert!(vector("a", 64).iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}
