//! Fixtures of real upstream streams, each re-fed split at every byte offset and byte by byte.

use super::*;

const MAX: usize = 64 * 1024;

/// An OpenAI chat completion stream with `stream_options.include_usage`: role chunk, content
/// chunks with CJK text and emoji, the finish chunk, the usage chunk and `[DONE]`.
const OPENAI: &str = concat!(
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":"你好"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":"！👋 今天"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":"过得怎么样？🚀"},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    "\n\n",
    r#"data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#,
    "\n\n",
    "data: [DONE]\n\n",
);

/// An Anthropic Messages stream: `event:` lines, a `ping`, Japanese text and an emoji.
const ANTHROPIC: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
    "\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\n",
    "event: ping\n",
    r#"data: {"type": "ping"}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"こんにちは"}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"！😀"}}"#,
    "\n\n",
    "event: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":0}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
    "\n\n",
    "event: message_stop\n",
    r#"data: {"type":"message_stop"}"#,
    "\n\n",
);

/// Multi-line data, comment keep-alives, ids, `retry`, unknown fields, colon-less lines, spacing.
const FIELDS: &str = concat!(
    ": keep-alive\n\n",
    ":\n\n",
    "id: 1\nevent: update\ndata: first line\ndata:second line\ndata:  two spaces\n\n",
    ": comment inside\ndata\n\n",
    "retry: 3000\n\n",
    "foo: bar\ndata: x\nevent: a\nevent: b\nid: 7\nid: 8\n\n",
    "data:\ndata\ndata: \n\n",
    "\n",
    "data: a:b: c\n\n",
    "id: bad\0id\ndata: nul id ignored\n\n",
    "Data: case matters\n\n",
);

/// A stream that ends inside an event.
const TRUNCATED: &str = "data: complete\n\ndata: {\"partial\": \"中文";

fn crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

fn lone_cr(s: &str) -> String {
    s.replace('\n', "\r")
}

fn with_bom(s: &str) -> Vec<u8> {
    [BOM, s.as_bytes()].concat()
}

/// Every fixture, in every line-ending flavour, with and without a BOM.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for (name, text) in [("openai", OPENAI), ("anthropic", ANTHROPIC), ("fields", FIELDS), ("truncated", TRUNCATED)] {
        all.push((format!("{name}/lf"), text.as_bytes().to_vec()));
        all.push((format!("{name}/crlf"), crlf(text).into_bytes()));
        all.push((format!("{name}/cr"), lone_cr(text).into_bytes()));
        all.push((format!("{name}/bom"), with_bom(text)));
    }
    all.push(("mixed".into(), b"data: a\r\ndata: b\rdata: c\n\r\n: x\r\r\n\n".to_vec()));
    all
}

/// Feed `pieces` in order; returns the events and what `finish` returned.
fn feed<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Event>, Option<Bytes>) {
    let mut parser = SseParser::new(MAX);
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(parser.push(piece).unwrap());
        assert!(parser.buffered() <= MAX);
    }
    (events, parser.finish())
}

fn concat_raw(events: &[Event], tail: Option<&Bytes>) -> Vec<u8> {
    let mut out: Vec<u8> = events.iter().flat_map(|e| e.raw.iter().copied()).collect();
    out.extend(tail.into_iter().flat_map(|t| t.iter().copied()));
    out
}

/// Undo the one way raw boundaries depend on chunking: a `\n` carried at the start of the next
/// raw because a chunk ended between the `\r` and `\n` that ended an event.
fn normalize(mut events: Vec<Event>, mut tail: Option<Bytes>) -> (Vec<Event>, Option<Bytes>) {
    for i in 1..events.len() {
        if events[i - 1].raw.ends_with(b"\r") && events[i].raw.starts_with(b"\n") {
            events[i - 1].raw = [&events[i - 1].raw[..], b"\n"].concat().into();
            events[i].raw = events[i].raw.slice(1..);
        }
    }
    if let (Some(last), Some(t)) = (events.last_mut(), tail.as_ref())
        && last.raw.ends_with(b"\r")
        && t.starts_with(b"\n")
    {
        last.raw = [&last.raw[..], b"\n"].concat().into();
        tail = (t.len() > 1).then(|| t.slice(1..));
    }
    (events, tail)
}

#[test]
fn every_split_matches_one_shot() {
    for (name, input) in fixtures() {
        let (expected, expected_tail) = feed([&input[..]]);
        assert_eq!(concat_raw(&expected, expected_tail.as_ref()), input, "{name}: one shot");

        for at in 0..=input.len() {
            let (events, tail) = feed([&input[..at], &input[at..]]);
            assert_eq!(concat_raw(&events, tail.as_ref()), input, "{name}: split at {at}");
            let (events, tail) = normalize(events, tail);
            assert_eq!(events, expected, "{name}: split at {at}");
            assert_eq!(tail, expected_tail, "{name}: split at {at}");
        }

        let (events, tail) = feed(input.chunks(1));
        assert_eq!(concat_raw(&events, tail.as_ref()), input, "{name}: byte by byte");
        assert_eq!(normalize(events, tail), (expected, expected_tail), "{name}: byte by byte");
    }
}

/// Fields are the same whatever the line endings or BOM; only `raw` differs.
#[test]
fn line_endings_and_bom_do_not_change_fields() {
    let fields = |input: &[u8]| {
        let (events, tail) = feed([input]);
        let fields: Vec<_> = events.into_iter().map(|e| (e.event, e.data, e.id, e.is_comment_only)).collect();
        (fields, tail.is_some())
    };
    for text in [OPENAI, ANTHROPIC, FIELDS, TRUNCATED] {
        let lf = fields(text.as_bytes());
        assert_eq!(fields(crlf(text).as_bytes()), lf);
        assert_eq!(fields(lone_cr(text).as_bytes()), lf);
        assert_eq!(fields(&with_bom(text)), lf);
    }
}

#[test]
fn openai_stream() {
    let (events, tail) = feed([OPENAI.as_bytes()]);
    assert_eq!(tail, None);
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e.event.is_none() && e.id.is_none() && !e.is_comment_only));
    let data: Vec<&str> = events.iter().map(|e| e.data.as_deref().unwrap()).collect();
    assert!(data[0].contains(r#""role":"assistant""#));
    assert!(data[1].contains(r#""content":"你好""#));
    assert!(data[2].contains(r#""content":"！👋 今天""#));
    assert!(data[3].contains(r#""content":"过得怎么样？🚀""#));
    assert!(data[5].contains(r#""total_tokens":29"#));
    assert!(events[..6].iter().all(|e| !e.is_done()));
    assert!(events[6].is_done());
    assert_eq!(&events[6].raw[..], b"data: [DONE]\n\n");
    assert_eq!(&events[1].raw[..], format!("data: {}\n\n", data[1]).as_bytes());
}

#[test]
fn anthropic_stream() {
    let (events, tail) = feed([ANTHROPIC.as_bytes()]);
    assert_eq!(tail, None);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[2].data.as_deref(), Some(r#"{"type": "ping"}"#));
    assert!(events[3].data.as_deref().unwrap().contains("こんにちは"));
    assert!(events[4].data.as_deref().unwrap().contains("！😀"));
    assert!(events.iter().all(|e| !e.is_done() && !e.is_comment_only));
}

#[test]
fn field_rules() {
    let (events, tail) = feed([FIELDS.as_bytes()]);
    assert_eq!(tail, None);
    let summary: Vec<_> =
        events.iter().map(|e| (e.event.as_deref(), e.data.as_deref(), e.id.as_deref(), e.is_comment_only)).collect();
    assert_eq!(
        summary,
        [
            (None, None, None, true),
            (None, None, None, true),
            (Some("update"), Some("first line\nsecond line\n two spaces"), Some("1"), false),
            (None, Some(""), None, false),
            (None, None, None, false),
            (Some("b"), Some("x"), Some("8"), false),
            (None, Some("\n\n"), None, false),
            (None, None, None, true),
            (None, Some("a:b: c"), None, false),
            (None, Some("nul id ignored"), None, false),
            (None, None, None, false),
        ]
    );
    assert_eq!(&events[0].raw[..], b": keep-alive\n\n");
    assert_eq!(&events[7].raw[..], b"\n");
}

#[test]
fn bom_is_skipped_only_at_stream_start() {
    let (events, _) = feed([&with_bom("data: x\n\n")[..]]);
    assert_eq!(events[0].data.as_deref(), Some("x"));
    assert_eq!(&events[0].raw[..], with_bom("data: x\n\n"));

    // Later, it is part of a field name, so the line is an unknown field.
    let (events, _) = feed([&[b"data: x\n\n", BOM, b"data: y\n\n"].concat()[..]]);
    assert_eq!(events[1].data, None);

    // Two BOMs: only the first is skipped.
    let (events, _) = feed([&[BOM, BOM, b"data: y\n\n"].concat()[..]]);
    assert_eq!(events[0].data, None);

    // A stream that is only a BOM (prefix) is handed back by finish.
    let mut parser = SseParser::new(MAX);
    assert!(parser.push(&BOM[..2]).unwrap().is_empty());
    assert_eq!(parser.finish().as_deref(), Some(&BOM[..2]));
}

#[test]
fn split_crlf_after_event_emits_at_the_cr() {
    let mut parser = SseParser::new(MAX);
    let first = parser.push(b"data: a\r\n\r").unwrap();
    assert_eq!(first.len(), 1, "a complete event is not held back waiting for the next chunk");
    assert_eq!(&first[0].raw[..], b"data: a\r\n\r");
    assert_eq!(first[0].data.as_deref(), Some("a"));

    // The `\n` completes the blank line: it is not a second blank line (no empty event).
    let second = parser.push(b"\ndata: b\r\n\r\n").unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(&second[0].raw[..], b"\ndata: b\r\n\r\n");
    assert_eq!(second[0].data.as_deref(), Some("b"));
    assert_eq!(parser.finish(), None);

    // Split between the `\r` and `\n` of a field line: still one line end.
    let (events, tail) = feed([&b"data: a\r"[..], b"\n\r\n"]);
    assert_eq!(tail, None);
    assert_eq!(events.len(), 1);
    assert_eq!(&events[0].raw[..], b"data: a\r\n\r\n");

    // A stream ending right after the `\r`: finish has nothing left, or only the `\n`.
    let (events, tail) = feed([&b"data: a\r\r"[..]]);
    assert_eq!((events.len(), tail), (1, None));
    let (_, tail) = feed([&b"data: a\r\r"[..], b"\n"]);
    assert_eq!(tail.as_deref(), Some(&b"\n"[..]));
}

#[test]
fn finish_returns_trailing_partial_event() {
    let mut parser = SseParser::new(MAX);
    let events = parser.push(TRUNCATED.as_bytes()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data.as_deref(), Some("complete"));
    let tail = "data: {\"partial\": \"中文";
    assert_eq!(parser.buffered(), tail.len());
    assert_eq!(parser.finish().as_deref(), Some(tail.as_bytes()));

    // Complete lines without the closing blank line are still a partial event.
    let (events, tail) = feed([&b"event: x\ndata: y\n"[..]]);
    assert!(events.is_empty());
    assert_eq!(tail.as_deref(), Some(&b"event: x\ndata: y\n"[..]));

    // A split in the middle of a UTF-8 character.
    let bytes = "data: 🚀\n\n".as_bytes();
    let mut parser = SseParser::new(MAX);
    assert!(parser.push(&bytes[..8]).unwrap().is_empty());
    assert_eq!(parser.finish().as_deref(), Some(&bytes[..8]));

    let (events, tail) = feed([]);
    assert!(events.is_empty());
    assert_eq!(tail, None);
}

#[test]
fn size_bound() {
    let event = b"data: 0123456789\n\n"; // 18 bytes
    let input = [&event[..], event].concat();

    // Exactly at the bound: fine, fed whole or byte by byte.
    for pieces in [vec![&input[..]], input.chunks(1).collect()] {
        let mut parser = SseParser::new(event.len());
        let n: usize = pieces.into_iter().map(|p| parser.push(p).unwrap().len()).sum();
        assert_eq!(n, 2);
    }

    // One byte over: an error, whether the event is complete in the chunk or still partial.
    let mut parser = SseParser::new(event.len() - 1);
    assert_eq!(parser.push(&input), Err(SseError::TooLarge(event.len() - 1)));
    let mut parser = SseParser::new(event.len() - 1);
    let results: Vec<_> = event.chunks(1).map(|b| parser.push(b)).collect();
    assert!(results[..event.len() - 1].iter().all(Result::is_ok));
    assert_eq!(results[event.len() - 1], Err(SseError::TooLarge(event.len() - 1)));

    // A line that never ends stays bounded.
    let mut parser = SseParser::new(1000);
    let mut result = Ok(Vec::new());
    for _ in 0..100 {
        result = parser.push(b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        if result.is_err() {
            break;
        }
        assert!(parser.buffered() <= 1000);
    }
    assert_eq!(result, Err(SseError::TooLarge(1000)));
    assert_eq!(SseError::TooLarge(1000).to_string(), "SSE event larger than 1000 bytes");

    // The parser is spent after an error.
    assert_eq!(parser.push(b"\n\n"), Err(SseError::TooLarge(1000)));
    assert_eq!(parser.buffered(), 0);
    assert_eq!(parser.finish(), None);

    // Many small events in one large chunk are fine.
    let many = event.repeat(10_000);
    let (events, tail) = {
        let mut parser = SseParser::new(event.len());
        (parser.push(&many).unwrap(), parser.finish())
    };
    assert_eq!((events.len(), tail), (10_000, None));
}

/// Found by fuzz/sse: a BOM's first bytes were held past a bound smaller than them.
#[test]
fn a_bom_prefix_counts_against_the_bound() {
    let mut parser = SseParser::new(1);
    assert_eq!(parser.push(b"\xEF"), Ok(Vec::new()));
    assert_eq!(parser.push(b"\xBB"), Err(SseError::TooLarge(1)));
    let mut parser = SseParser::new(0);
    assert_eq!(parser.push(b"\xEF"), Err(SseError::TooLarge(0)));
}

/// Found by fuzz/sse: whether an event at the bound that ends in a blank `\r\n` was too large
/// depended on whether its `\n` came in the same chunk (it counted for this event, or for the
/// next, where it is carried). It counts for neither.
#[test]
fn a_blank_lines_lf_counts_for_no_event() {
    let input = b"x:1\r\r\na:1\n\n"; // two events of 5 bytes, the first's \n aside
    for cut in 0..=input.len() {
        let mut parser = SseParser::new(5);
        let (a, b) = input.split_at(cut);
        let mut events = parser.push(a).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        events.extend(parser.push(b).unwrap_or_else(|e| panic!("cut at {cut}: {e}")));
        assert_eq!(events.len(), 2, "cut at {cut}");
    }
    let mut parser = SseParser::new(4);
    assert_eq!(parser.push(input), Err(SseError::TooLarge(4)));
}

/// Found by fuzz/sse: a line at the bound ending in `\r\n` was too large when its `\n` came in
/// the same chunk, and read (here: not UTF-8) when it came in the next.
#[test]
fn a_lines_crlf_is_judged_alike_however_cut() {
    let input = b"data:\xff\r\n\n";
    for cut in 0..=input.len() {
        let mut parser = SseParser::new(7);
        let (a, b) = input.split_at(cut);
        let result = parser.push(a).and_then(|_| parser.push(b));
        assert_eq!(result, Err(SseError::NotUtf8), "cut at {cut}");
    }
}

#[test]
fn not_utf8() {
    let mut parser = SseParser::new(MAX);
    assert_eq!(parser.push(b"data: \xff\xfe\n\n"), Err(SseError::NotUtf8));
    assert_eq!(parser.push(b"data: ok\n\n"), Err(SseError::NotUtf8));
    assert_eq!(SseError::NotUtf8.to_string(), "SSE event is not UTF-8");

    for line in [&b"event: \xc3\n\n"[..], b"id: \xe4\xbd\n\n", b"data: \xf0\x9f\x9a\n\n"] {
        assert_eq!(SseParser::new(MAX).push(line), Err(SseError::NotUtf8));
    }

    // Comments and unknown fields are forwarded, never decoded.
    let (events, _) = feed([&b": \xff\n\nretry\xff: \xfe\n\n"[..]]);
    assert_eq!(events.len(), 2);
    assert!(events[0].is_comment_only);
}

/// Throughput on a ~10 MB OpenAI-style stream. Not an assertion; run with
/// `cargo test --release -p switchyard-proxy --lib sse::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: prints MB/s"]
#[allow(clippy::disallowed_types, reason = "wall-clock measurement outside any runtime")]
fn throughput() {
    let one = OPENAI.as_bytes();
    let input = one.repeat(10 * 1024 * 1024 / one.len());
    for chunk_size in [64 * 1024, 16 * 1024, 1400, 64] {
        let mut best = f64::MAX;
        let mut count = 0;
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let mut parser = SseParser::new(MAX);
            count = 0;
            for chunk in input.chunks(chunk_size) {
                count += parser.push(chunk).unwrap().len();
            }
            assert!(parser.finish().is_none());
            best = best.min(start.elapsed().as_secs_f64());
        }
        let mb = input.len() as f64 / 1e6;
        println!(
            "sse throughput: {mb:.1} MB in {chunk_size}-byte chunks, {count} events: {:.0} MB/s, {:.0} ns/event",
            mb / best,
            best * 1e9 / count as f64
        );
    }
}
