//! Stripping what the injection added, checked byte for byte against the same
//! stream without it, with the stream split at every offset.

use super::*;
use crate::sse::SseParser;

const USAGE: &str = r#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#;

#[derive(Clone, Copy)]
enum Style {
    /// OpenAI's own: compact, `"usage":null` last.
    Compact,
    /// Python's `json.dumps` default separators: `"usage": null`.
    Spaced,
    /// `"usage":null` as the first member.
    First,
    /// `"usage":null` between other members.
    Middle,
}

/// A chat completion stream; with `usage`, as OpenAI sends it under
/// `stream_options.include_usage` (a `usage` member in every chunk, a last
/// chunk with no choices that carries it).
fn stream(style: Style, usage: bool, line_end: &str) -> String {
    let (colon, comma) = match style {
        Style::Spaced => (": ", ", "),
        _ => (":", ","),
    };
    let head = format!(
        "\"id\"{colon}\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\"{comma}\"object\"{colon}\"chat.completion.chunk\"{comma}\"created\"{colon}1741570283{comma}\"model\"{colon}\"gpt-4o-2024-08-06\""
    );
    let chunk = |choices: &str, usage_value: Option<&str>| {
        let choices = format!("\"choices\"{colon}{choices}");
        let body = match (usage_value, style) {
            (None, _) => format!("{{{head}{comma}{choices}}}"),
            (Some(u), Style::First) => format!("{{\"usage\"{colon}{u}{comma}{head}{comma}{choices}}}"),
            (Some(u), Style::Middle) => format!("{{{head}{comma}\"usage\"{colon}{u}{comma}{choices}}}"),
            (Some(u), _) => format!("{{{head}{comma}{choices}{comma}\"usage\"{colon}{u}}}"),
        };
        format!("data: {body}{line_end}{line_end}")
    };
    let u = usage.then_some("null");
    let deltas = [
        r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
        r#"[{"index":0,"delta":{"content":"你好"},"logprobs":null,"finish_reason":null}]"#,
        r#"[{"index":0,"delta":{"content":"！👋 the word \"usage\": null is text"},"logprobs":null,"finish_reason":null}]"#,
        r#"[{"index":0,"delta":{"content":"usage"},"logprobs":null,"finish_reason":null}]"#,
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#,
    ];
    let mut out = String::from(": OPENROUTER PROCESSING") + line_end + line_end;
    for d in deltas {
        out += &chunk(d, u);
    }
    if usage {
        out += &chunk("[]", Some(USAGE));
    }
    out + "data: [DONE]" + line_end + line_end
}

/// Runs `input`, cut into `pieces`, through a parser and a tap; returns what
/// the client gets and the tap (checking the chat stream's integrity, which
/// changes nothing in a well-formed one).
fn run<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, strip: bool) -> (Vec<u8>, Tap) {
    let mut parser = SseParser::new(1 << 20);
    let mut tap = Tap::new(strip, Text::Chat).checking(Some(End::Chat));
    let mut out = Vec::new();
    for piece in pieces {
        if let Some(bytes) = tap.forward(parser.push(piece).unwrap()) {
            out.extend_from_slice(&bytes);
        }
    }
    if let Some(rest) = parser.finish() {
        out.extend_from_slice(&rest);
    }
    (out, tap)
}

#[test]
fn stripping_gives_the_stream_without_injection_at_every_split() {
    for style in [Style::Compact, Style::Spaced, Style::First, Style::Middle] {
        for line_end in ["\n", "\r\n"] {
            let with = stream(style, true, line_end);
            let without = stream(style, false, line_end);
            assert_ne!(with, without);
            let input = with.as_bytes();
            for at in 0..=input.len() {
                let (out, tap) = run([&input[..at], &input[at..]], true);
                assert_eq!(String::from_utf8(out).unwrap(), without, "split at {at}");
                assert!(tap.done && tap.complete && !tap.malformed && !tap.truncated());
                let usage = tap.usage.unwrap();
                assert!(std::str::from_utf8(&usage).unwrap().contains("\"cached_tokens\":3"), "split at {at}");
            }
            let (out, _) = run(input.chunks(1), true);
            assert_eq!(String::from_utf8(out).unwrap(), without, "byte by byte");
            let (out, _) = run(input.chunks(7), true);
            assert_eq!(String::from_utf8(out).unwrap(), without, "7 at a time");
        }
    }
}

#[test]
fn a_client_that_asked_gets_everything_untouched() {
    let with = stream(Style::Compact, true, "\n");
    let (out, tap) = run([with.as_bytes()], false);
    assert_eq!(String::from_utf8(out).unwrap(), with);
    assert!(tap.usage.is_some());
}

#[test]
fn a_stream_without_usage_passes_untouched_and_is_tallied() {
    let without = stream(Style::Compact, false, "\n");
    let (out, tap) = run([without.as_bytes()], true);
    assert_eq!(String::from_utf8(out).unwrap(), without);
    assert!(tap.usage.is_none());
    let mut expected = Tally::default();
    for text in ["", "你好", "！👋 the word \"usage\": null is text", "usage"] {
        expected.text(text);
    }
    assert_eq!(tap.content.tokens(), expected.tokens());
}

#[test]
fn reasoning_and_tool_arguments_are_tallied() {
    let mut tap = Tap::new(false, Text::Chat);
    let events = [
        r#"{"choices":[{"delta":{"reasoning_content":"Let me think"}}]}"#,
        r#"{"choices":[{"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}}]}"#,
    ];
    let mut parser = SseParser::new(1 << 16);
    for e in events {
        tap.forward(parser.push(format!("data: {e}\n\n").as_bytes()).unwrap());
    }
    assert_eq!(tap.reasoning.tokens(), crate::usage::estimate::text_tokens("Let me think"));
    assert_eq!(tap.content.tokens(), crate::usage::estimate::text_tokens("{\"city\":\"Paris\"}"));
}

#[test]
fn a_usage_chunk_with_choices_keeps_its_choices() {
    // Some compatible upstreams put usage on the last content chunk.
    let mut tap = Tap::new(true, Text::Chat);
    let mut parser = SseParser::new(1 << 16);
    let input = format!("data: {{\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}}}],\"usage\":{USAGE}}}\n\n");
    let out = tap.forward(parser.push(input.as_bytes()).unwrap()).unwrap();
    assert_eq!(&out[..], b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
    assert!(tap.usage.is_some());
}

#[test]
fn multi_line_events_are_rebuilt() {
    let mut tap = Tap::new(true, Text::Chat);
    let mut parser = SseParser::new(1 << 16);
    let input = "id: 4\ndata: {\"choices\":[],\ndata: \"usage\":null,\"x\":1}\n\n";
    let out = tap.forward(parser.push(input.as_bytes()).unwrap()).unwrap();
    assert_eq!(&out[..], b"id: 4\ndata: {\"choices\":[],\"x\":1}\n\n");
}

#[test]
fn members_are_found_at_the_top_level_only() {
    let json = r#"{"a":{"usage":1},"b":"\"usage\"","usage" : {"x":[1,{"y":"}"}]} , "c":2}"#;
    let m = member(json, "usage").unwrap();
    assert_eq!(&json[m.value.clone()], r#"{"x":[1,{"y":"}"}]}"#);
    assert_eq!(&json[m.removal], r#","usage" : {"x":[1,{"y":"}"}]}"#);
    assert_eq!(member(r#"{"a":{"usage":1}}"#, "usage"), None);
    assert_eq!(member("[1]", "usage"), None);
    let first = r#"{ "usage": null,  "a": 1}"#;
    assert_eq!(&first[member(first, "usage").unwrap().removal], r#""usage": null,  "#);
    assert_eq!(trailing_null_usage(r#"{"a":1 ,  "usage" : null }"#), Some(6..24));
    assert_eq!(trailing_null_usage(r#"{"usage":null}"#), None, "the only member: the general path");
    assert_eq!(trailing_null_usage(r#"{"a":"x\",\"usage\":null}"}"#), None);
    assert!(has_usage_object(r#"{"type":"response.completed","response":{"usage" : {"input_tokens":1}}}"#));
    assert!(!has_usage_object(r#"{"content":"usage"}"#));
}

#[test]
fn only_the_usage_object_is_kept_and_only_while_small() {
    let input = format!("data: {{\"choices\":[],\"usage\":{USAGE}}}\n\n");
    let (_, tap) = run([input.as_bytes()], false);
    assert_eq!(tap.usage.as_deref(), Some(USAGE.as_bytes()));

    let nested = format!(
        "data: {{\"type\":\"response.completed\",\"response\":{{\"id\":\"r\",\"output\":[{{\"text\":\"{}\"}}],\"usage\":{USAGE}}}}}\n\n",
        "x".repeat(100_000)
    );
    let (_, tap) = run([nested.as_bytes()], false);
    assert_eq!(tap.usage.as_deref(), Some(USAGE.as_bytes()), "the Responses API's response.usage, not the event");

    let huge = format!(
        "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"x\":\"{}\"}}}}\n\n",
        "y".repeat(MAX_USAGE_BYTES)
    );
    let (_, tap) = run([huge.as_bytes()], false);
    assert!(tap.usage.is_none(), "too large to keep: estimated instead");
}

#[test]
fn a_malformed_event_and_what_follows_never_reach_the_client() {
    let good = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n";
    let bad = "data: {\"choices\":[{\"delta\":{\"content\":\"lo\n\n";
    let after = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let input = format!("{good}{bad}{after}");
    let input = input.as_bytes();
    for at in 0..=input.len() {
        let (out, tap) = run([&input[..at], &input[at..]], true);
        assert!(tap.malformed, "split at {at}");
        assert!(!tap.complete && !tap.truncated(), "split at {at}");
        let out = String::from_utf8(out).unwrap();
        // What comes after the malformed event is the pump's to drop; the tap left out the event.
        assert!(out.starts_with(good) && !out.contains("\"lo"), "split at {at}: {out}");
    }
    // Unchecked (an API the tap does not know), it passes as it came.
    let mut tap = Tap::new(false, Text::None);
    let out = tap.forward(SseParser::new(1 << 16).push(bad.as_bytes()).unwrap()).unwrap();
    assert_eq!(&out[..], bad.as_bytes());
    assert!(!tap.malformed && !tap.truncated());
}

#[test]
fn a_stream_without_its_end_marker_is_truncated() {
    let content = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n";
    let (_, tap) = run([content.as_bytes()], false);
    assert!(tap.truncated());
    // A finish_reason is enough (the usage chunk and [DONE] may be lost after it).
    let finished = format!("{content}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"length\"}}]}}\n\n");
    let (_, tap) = run([finished.as_bytes()], false);
    assert!(!tap.truncated());
    let done = format!("{content}data: [DONE]\n\n");
    let (_, tap) = run([done.as_bytes()], false);
    assert!(!tap.truncated());
    // An unterminated [DONE] is no event (SDKs never see it either).
    let unterminated = format!("{content}data: [DONE]");
    let (_, tap) = run([unterminated.as_bytes()], false);
    assert!(tap.truncated());

    let mut responses = Tap::new(false, Text::None).checking(Some(End::Responses));
    let mut parser = SseParser::new(1 << 16);
    let delta =
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n";
    responses.forward(parser.push(delta.as_bytes()).unwrap());
    assert!(responses.truncated());
    let completed = "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n";
    responses.forward(parser.push(completed.as_bytes()).unwrap());
    assert!(!responses.truncated());
}
