//! The estimator against reference counts: `o200k` and `cl100k` are what
//! tiktoken's `o200k_base` and `cl100k_base` encodings give for each text.

use super::*;

struct Sample {
    text: &'static str,
    o200k: u64,
    cl100k: u64,
}

const ENGLISH: [Sample; 4] = [
    Sample { text: "The quick brown fox jumps over the lazy dog.", o200k: 10, cl100k: 10 },
    Sample { text: "Hello, world!", o200k: 4, cl100k: 4 },
    Sample {
        text: "Streaming responses let a client show the first words of an answer while the rest is still being \
               generated. The gateway passes every event through as it arrives, counts what it forwards, and, when \
               the upstream reports usage at the end, records the exact figures instead of its own estimate.",
        o200k: 56,
        cl100k: 56,
    },
    Sample {
        text: "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker who \
               repaired every clock in the valley. Children would gather at his window to watch the gears turn, and \
               he would tell them stories about the mountains, the rivers, and the people who had lived there long \
               before.",
        o200k: 66,
        cl100k: 66,
    },
];

const CJK: [Sample; 4] = [
    Sample { text: "你好，世界！今天天气很好。", o200k: 9, cl100k: 16 },
    Sample {
        text: "流式响应让客户端在其余内容仍在生成时就能显示答案的第一部分。网关在事件到达时逐个转发，统计转发的内容，\
               并在上游最终报告用量时记录准确的数字，而不是自己的估算。",
        o200k: 57,
        cl100k: 80,
    },
    Sample {
        text: "こんにちは、世界！今日はとても良い天気ですね。ストリーミング応答により、クライアントは残りの部分が\
               生成されている間に回答の最初の単語を表示できます。",
        o200k: 50,
        cl100k: 71,
    },
    Sample {
        text: "안녕하세요, 세계! 오늘 날씨가 정말 좋네요. 스트리밍 응답을 사용하면 클라이언트가 나머지를 생성하는 동안 \
               답변의 첫 단어를 표시할 수 있습니다.",
        o200k: 44,
        cl100k: 81,
    },
];

/// English: within 10% (plus one token) of the reference, which both encodings share.
#[test]
fn english_is_within_ten_percent() {
    for s in &ENGLISH {
        assert_eq!(s.o200k, s.cl100k);
        let est = text_tokens(s.text);
        let margin = s.o200k / 10 + 1;
        assert!(est.abs_diff(s.o200k) <= margin, "{est} vs {} for {:?}", s.o200k, s.text);
    }
    assert_eq!(text_tokens(ENGLISH[0].text), 10);
    assert_eq!(text_tokens(ENGLISH[1].text), 4);
}

/// CJK: between the o200k count and 1.1 x the cl100k count (about 1 per character).
#[test]
fn cjk_lies_between_the_two_encodings() {
    for s in &CJK {
        let est = text_tokens(s.text);
        assert!(
            est >= s.o200k && est * 10 <= s.cl100k * 11,
            "{est} not in {}..={} for {:?}",
            s.o200k,
            s.cl100k,
            s.text
        );
    }
    assert_eq!(text_tokens("你好，世界！今天天气很好。"), 13, "one per character, punctuation included");
}

#[test]
fn other_scripts_and_symbols() {
    // o200k 20, cl100k 34.
    let russian = text_tokens("Привет, мир! Сегодня прекрасная погода, и мы идём гулять в парк.");
    assert!((18..=34).contains(&russian), "{russian}");
    // o200k 14, cl100k 17.
    let french = text_tokens("Café, naïve, résumé: déjà vu à la française.");
    assert!((13..=17).contains(&french), "{french}");
    // o200k 21, cl100k 21.
    let json = text_tokens(r#"{"location": "Paris, France", "unit": "celsius", "days": 3}"#);
    assert!((17..=25).contains(&json), "{json}");
    assert_eq!(text_tokens("👋🚀"), 2);
    assert_eq!(text_tokens(""), 0);
    assert_eq!(text_tokens("internationalization"), 3);
}

#[test]
fn pieces_count_like_the_whole() {
    for s in ENGLISH.iter().chain(&CJK) {
        let whole = text_tokens(s.text);
        let chars: Vec<char> = s.text.chars().collect();
        for size in [1, 2, 3, 7] {
            let mut tally = Tally::default();
            for piece in chars.chunks(size) {
                tally.text(&piece.iter().collect::<String>());
            }
            assert_eq!(tally.tokens(), whole, "pieces of {size} of {:?}", s.text);
        }
    }
}

#[test]
fn json_strings_are_decoded() {
    let json = r#"{"content":"caf\u00e9 \"quoted\"\n\ud83d\ude80 \u4f60\u597d","x":1}"#;
    let at = json.find(r#""caf"#).unwrap();
    let mut tally = Tally::default();
    let end = feed_json_string(json, at, &mut tally).unwrap();
    assert_eq!(&json[end..], r#","x":1}"#);
    assert_eq!(tally.tokens(), text_tokens("café \"quoted\"\n🚀 你好"));
    assert_eq!(feed_json_string(r#""open"#, 0, &mut Tally::default()), None);
    assert_eq!(feed_json_string("null", 0, &mut Tally::default()), None);
}

#[test]
fn prompts_count_messages_parts_and_framing() {
    let body = serde_json::json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}
            ]},
        ]
    });
    let expected = 3 * 3
        + 3
        + text_tokens("You are a helpful assistant.")
        + 1
        + text_tokens("ann")
        + text_tokens("What is in this image?")
        + IMAGE_TOKENS
        + text_tokens("look")
        + text_tokens("{\"x\":1}");
    assert_eq!(prompt_tokens(body.to_string().as_bytes()), expected);
    let completion = serde_json::json!({"model": "m", "prompt": ["Say this is a test", [1, 2, 3]]});
    assert_eq!(prompt_tokens(completion.to_string().as_bytes()), text_tokens("Say this is a test") + 3);
    let embedding = serde_json::json!({"model": "m", "input": "你好"});
    assert_eq!(prompt_tokens(embedding.to_string().as_bytes()), 2);
    assert_eq!(prompt_tokens(b"not json"), 0);
}

#[test]
fn responses_without_usage_count_their_choices() {
    let body = serde_json::json!({
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello there", "reasoning_content": "Think"}},
            {"index": 1, "text": "world"}
        ]
    });
    let (completion, reasoning) = response_tokens(body.to_string().as_bytes());
    assert_eq!(reasoning, 1);
    assert_eq!(completion, 2 + 1 + 1);
}
