//! The data plane's incremental SSE parser, fed one input whole, cut where the
//! fuzzer chose, and one byte at a time: the same events (fields), the same
//! error, every input byte in exactly one event's `raw` or the tail, and never
//! more than `max_event_bytes` (and a carried `\n`) held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::Cut;
use switchyard_proxy::sse::{Event, SseError, SseParser};

struct Fed {
    events: Vec<Event>,
    tail: Option<bytes::Bytes>,
    error: Option<SseError>,
}

fn feed(chunks: &[&[u8]], max: usize) -> Fed {
    let mut parser = SseParser::new(max);
    let mut events = Vec::new();
    for chunk in chunks {
        match parser.push(chunk) {
            Ok(more) => events.extend(more),
            Err(error) => {
                assert_eq!(parser.push(b"data: x\n\n"), Err(error), "a failed parser stays failed");
                assert_eq!(parser.finish(), None, "a failed parser has no tail");
                return Fed { events, tail: None, error: Some(error) };
            }
        }
        // One more: the `\n` of the last event's `\r\n` blank line, counted for no event.
        assert!(parser.buffered() <= max + 1, "{} bytes held with a limit of {max}", parser.buffered());
    }
    Fed { events, tail: parser.finish(), error: None }
}

/// What a consumer sees of an event: `event`, `data`, `id`, `is_comment_only`.
type Fields<'a> = (&'a Option<String>, &'a Option<String>, &'a Option<String>, bool);

/// The events as a consumer sees them; `raw` alone may differ with the cuts (a
/// `\n` completing a `\r\n` moves to the next event when a cut falls between).
fn fields(events: &[Event]) -> Vec<Fields<'_>> {
    events.iter().map(|e| (&e.event, &e.data, &e.id, e.is_comment_only)).collect()
}

fn assert_reproduces(fed: &Fed, body: &[u8]) {
    let mut out: Vec<u8> = fed.events.iter().flat_map(|e| e.raw.iter().copied()).collect();
    out.extend(fed.tail.iter().flat_map(|t| t.iter().copied()));
    assert_eq!(out, body, "the raw bytes and the tail are the input");
}

fuzz_target!(|data: &[u8]| {
    let Some(cut) = Cut::new(data) else { return };
    // A small limit reaches TooLarge; the large one is above any input.
    let max = if cut.flags & 0x80 != 0 { usize::from(cut.flags & 0x7f) * 8 } else { 1 << 20 };
    let whole = feed(&[cut.body], max);
    let split = feed(&cut.chunks(), max);
    let bytes: Vec<&[u8]> = cut.body.chunks(1).collect();
    let bytewise = feed(&bytes, max);

    assert_eq!(whole.error, split.error, "where the input was cut changed the outcome");
    assert_eq!(whole.error, bytewise.error, "where the input was cut changed the outcome");
    if whole.error.is_none() {
        assert_eq!(fields(&whole.events), fields(&split.events), "where the input was cut changed the events");
        assert_eq!(fields(&whole.events), fields(&bytewise.events), "where the input was cut changed the events");
        for fed in [&whole, &split, &bytewise] {
            assert_reproduces(fed, cut.body);
        }
    } else {
        // Events completed in the failing chunk are dropped with it; those
        // returned before are the ones a byte-by-byte feed returned first.
        let (all, some) = (fields(&bytewise.events), fields(&split.events));
        assert!(some.len() <= all.len() && all[..some.len()] == some[..], "events before the error differ");
        assert!(whole.events.is_empty());
    }
    for event in &whole.events {
        assert!(event.raw.ends_with(b"\n") || event.raw.ends_with(b"\r"), "an event ends with its blank line");
    }
});
