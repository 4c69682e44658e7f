//! [`is_json`] against cases written out and, for random texts, against serde_json.

use super::*;

fn serde_says(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[test]
fn valid_texts() {
    for text in [
        r#"{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"Hi \"you\" \\ \u00e9 \/"},"finish_reason":null}],"usage":null}"#,
        "  { \"a\" : [ 1 , -0.5e+10 , 2E-3 , 0 , true , false , null , \"\" , { } , [ ] ] }\r\n",
        "[]",
        "{}",
        "\"text\"",
        "-0",
        "123",
        "null",
        "{\"emoji\":\"👋 你好\",\"nested\":[[[[{\"x\":[]}]]]]}",
        "{\"lone\":\"\\ud800\"}",
    ] {
        assert!(is_json(text), "{text}");
        assert!(serde_says(text), "{text}");
    }
}

#[test]
fn invalid_texts() {
    for text in [
        "",
        "   ",
        "{",
        "}",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1}}",
        "{\"a\":1} x",
        "{\"a\":1}{\"b\":2}",
        "[1 2]",
        "{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hel",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"short \\u12\"",
        "\"raw \n newline\"",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "tru",
        "nul",
        "True",
        "NaN",
        "[DONE]",
        "{\"a\":1]",
        "[1}",
        "{\"a\" 1}",
        "{,}",
        "[,1]",
    ] {
        assert!(!is_json(text), "{text}");
        assert!(!serde_says(text), "{text}");
    }
}

#[test]
fn depth_is_bounded() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(is_json(&deep(MAX_DEPTH)));
    assert!(!is_json(&deep(MAX_DEPTH + 1)));
    let objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    assert!(is_json(&objects));
}

/// Mutations of real events (a byte dropped, doubled or replaced, the text
/// cut) judged as serde_json judges them.
#[test]
fn agrees_with_serde_json_on_mutated_events() {
    let seeds = [
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"a \"b\" \\n"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"x","sequence_number":4}"#,
        r#"[1.5e3,-0,true,false,null,{"k":["v",{}]},"\u00e9"]"#,
    ];
    let alphabet = b"{}[],:\"\\ 0123456789.eE+-truefalsn\tx";
    let mut rng = fastrand::Rng::with_seed(21);
    for seed in seeds {
        let bytes = seed.as_bytes();
        for _ in 0..20_000 {
            let mut text = bytes.to_vec();
            for _ in 0..rng.usize(1..=3) {
                let at = rng.usize(..text.len());
                match rng.u8(..4) {
                    0 => {
                        text.remove(at);
                    }
                    1 => text.insert(at, text[at]),
                    2 => text[at] = alphabet[rng.usize(..alphabet.len())],
                    _ => text.truncate(at),
                }
                if text.is_empty() {
                    break;
                }
            }
            let Ok(text) = std::str::from_utf8(&text) else { continue };
            assert_eq!(is_json(text), serde_says(text), "{text}");
        }
    }
}
