//! Incremental Server-Sent Events parser for passing upstream streams through event by event.
//!
//! Owns the byte-level framing of `text/event-stream` bodies (the WHATWG EventSource parsing
//! rules): splitting an arbitrarily chunked byte stream into events, decoding the fields the
//! proxy needs (`event`, `data`, `id`), and keeping each event's exact input bytes in
//! [`Event::raw`] so a pass-through stream can be forwarded byte for byte. It knows nothing about
//! OpenAI or Anthropic payloads; callers interpret [`Event::data`].
//!
//! Guarantees:
//! * chunk boundaries may fall anywhere (inside a UTF-8 character, between `\r` and `\n`, inside a
//!   field name): the parsed fields never depend on how the input was split;
//! * every input byte ends up in exactly one [`Event::raw`] or in [`SseParser::finish`], in order,
//!   so forwarding all of them reproduces the upstream body exactly;
//! * memory is bounded: an event longer than `max_event_bytes` is an error, and the parser holds at
//!   most one partial event plus the chunk being pushed;
//! * amortised O(n): each byte is copied once and scanned once, and a complete event is split off
//!   the buffer without copying.
//!
//! Departures from a browser's `EventSource`, all deliberate for a proxy:
//! * every blank line yields an [`Event`], even one without `data` (a comment keep-alive, an
//!   `event:` without data, or a stray blank line), so no byte is held back or dropped;
//! * `id` is the id field of *this* event, not the stream's running "last event ID";
//! * `retry` and unknown fields are ignored, comment bodies are never decoded, and an `event`,
//!   `data` or `id` value that is not UTF-8 is an error ([`SseError::NotUtf8`]) rather than being
//!   replaced with U+FFFD.

use bytes::{Bytes, BytesMut};

/// The UTF-8 byte order mark, skipped (but kept in [`Event::raw`]) at the very start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Initial buffer capacity; the buffer grows (up to the largest chunk plus one event) as needed.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// One complete event, with the exact raw bytes it spanned in the input (so it can be forwarded
/// byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's input bytes, from its first line through its terminating blank line.
    ///
    /// Concatenating every `raw` and then [`SseParser::finish`] reproduces the input exactly. Two
    /// kinds of bytes that belong to no line are carried at the start of a `raw`: the stream's
    /// UTF-8 BOM (first event) and, when a chunk ended between the `\r` and `\n` of the blank line
    /// that ended the previous event, that `\n` (the previous event was emitted at the `\r`
    /// instead of waiting for the next chunk). Both are harmless to forward in order.
    pub raw: Bytes,
    /// The `event:` field (the last one wins); `None` when absent.
    pub event: Option<String>,
    /// The `data:` lines joined with `'\n'`; `None` when the event had no `data` line.
    pub data: Option<String>,
    /// The `id:` field (the last one wins; a value containing NUL is ignored); `None` when absent.
    pub id: Option<String>,
    /// `true` when the event has no field lines: only `:` comments (keep-alives), or nothing but
    /// its blank line.
    pub is_comment_only: bool,
}

impl Event {
    /// Whether this is the OpenAI end-of-stream sentinel, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.as_deref() == Some("[DONE]")
    }
}

/// Why [`SseParser::push`] failed. After an error the parser is spent: every later `push`
/// returns the same error and [`SseParser::finish`] returns `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event (or the unterminated tail of the stream) is longer than this many bytes.
    #[error("SSE event larger than {0} bytes")]
    TooLarge(usize),
    /// An `event`, `data` or `id` value is not valid UTF-8.
    #[error("SSE event is not UTF-8")]
    NotUtf8,
}

/// Splits a chunked `text/event-stream` body into [`Event`]s.
///
/// Feed chunks in order with [`push`](Self::push); at end of stream call
/// [`finish`](Self::finish) to get any unterminated trailing bytes.
#[derive(Debug)]
pub struct SseParser {
    /// Input not yet emitted: the current partial event. Index 0 is the start of its `raw`.
    buf: BytesMut,
    /// Offset in `buf` where the next unparsed line starts.
    line_start: usize,
    /// Offset in `buf` up to which the current line has been searched for a line end.
    searched: usize,
    /// The last line ended with a `\r` at the end of the input so far: a `\n` next is part of it.
    skip_lf: bool,
    /// Leading bytes of `buf` that end the previous event (the `\n` of its `\r\n` blank line,
    /// come in a later chunk): 0 or 1, counted for no event.
    carried: usize,
    /// No byte after a possible BOM prefix has been seen yet.
    at_stream_start: bool,
    /// Fields of the current partial event, from its complete lines.
    fields: Fields,
    max_event_bytes: usize,
    failed: Option<SseError>,
}

impl SseParser {
    /// A parser that rejects any event longer than `max_event_bytes` (counting its raw bytes,
    /// including line ends and the terminating blank line, but not the `\n` of a `\r\n` blank
    /// line: the event is complete at the `\r`, and the `\n` may come in the next chunk).
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(INITIAL_CAPACITY.min(max_event_bytes.saturating_add(1))),
            line_start: 0,
            searched: 0,
            skip_lf: false,
            carried: 0,
            at_stream_start: true,
            fields: Fields::default(),
            max_event_bytes,
            failed: None,
        }
    }

    /// Feed the next chunk; returns every event completed by it (possibly none).
    ///
    /// On error, events completed earlier in the same chunk are not returned: the stream is
    /// broken and the caller is expected to abort it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SseError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let result = self.parse(chunk);
        if let Err(error) = result {
            self.failed = Some(error);
            self.buf = BytesMut::new();
            self.fields = Fields::default();
        }
        result
    }

    /// At end of stream: the bytes of an unterminated trailing event, if any, so the caller can
    /// still forward them. `None` when the input ended on an event boundary (or after an error).
    ///
    /// These bytes may also be only a `\n` completing the previous event's final `\r\n`, or only
    /// a BOM; forwarding them keeps the output identical to the input.
    pub fn finish(self) -> Option<Bytes> {
        if self.failed.is_some() || self.buf.is_empty() { None } else { Some(self.buf.freeze()) }
    }

    /// Bytes held for the current partial event.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn parse(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SseError> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();

        if self.at_stream_start {
            let seen = self.buf.len().min(BOM.len());
            if self.buf[..seen] == BOM[..seen] {
                if seen < BOM.len() {
                    return self.bounded(events); // a BOM prefix: cannot be a complete line yet
                }
                self.line_start = BOM.len();
                self.searched = BOM.len();
            }
            self.at_stream_start = false;
        }

        loop {
            if self.skip_lf {
                let Some(&next) = self.buf.get(self.line_start) else { break };
                if next == b'\n' {
                    if self.line_start == 0 {
                        self.carried = 1; // the previous event ended at its blank line's \r
                    }
                    self.line_start += 1;
                    self.searched = self.line_start;
                }
                self.skip_lf = false;
            }
            let Some(offset) = find_line_end(&self.buf[self.searched..]) else {
                self.searched = self.buf.len();
                break;
            };
            let line_end = self.searched + offset;
            let mut next_line = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next_line) {
                    Some(b'\n') => next_line += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            // Counted through the line end's first byte: a `\n` after a `\r` may not have come
            // yet (it counts with what follows it, or for no event after a blank line).
            if line_end + 1 - self.carried > self.max_event_bytes {
                return Err(SseError::TooLarge(self.max_event_bytes));
            }
            if line_end == self.line_start {
                let raw = self.buf.split_to(next_line).freeze();
                events.push(self.fields.take(raw));
                self.carried = 0;
                self.line_start = 0;
                self.searched = 0;
            } else {
                self.fields.line(&self.buf[self.line_start..line_end])?;
                self.line_start = next_line;
                self.searched = next_line;
            }
        }

        self.bounded(events)
    }

    /// `events`, unless the partial event held is over the bound.
    fn bounded(&self, events: Vec<Event>) -> Result<Vec<Event>, SseError> {
        if self.buf.len() - self.carried > self.max_event_bytes {
            return Err(SseError::TooLarge(self.max_event_bytes));
        }
        Ok(events)
    }
}

/// The decoded fields of the event being parsed.
#[derive(Debug, Default)]
struct Fields {
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
    /// Any non-comment line so far.
    has_field_line: bool,
}

impl Fields {
    /// Interpret one complete, non-empty line (without its line end).
    fn line(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line.first() == Some(&b':') {
            return Ok(()); // comment
        }
        self.has_field_line = true;
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                let value = utf8(value)?;
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
            b"event" => set(&mut self.event, utf8(value)?),
            b"id" if !value.contains(&0) => set(&mut self.id, utf8(value)?),
            _ => {}
        }
        Ok(())
    }

    /// The finished event, leaving `self` empty for the next one.
    fn take(&mut self, raw: Bytes) -> Event {
        let Fields { event, data, id, has_field_line } = std::mem::take(self);
        Event { raw, event, data, id, is_comment_only: !has_field_line }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, SseError> {
    std::str::from_utf8(bytes).map_err(|_| SseError::NotUtf8)
}

/// Replace a field's value, reusing its allocation when the field repeats.
fn set(field: &mut Option<String>, value: &str) {
    match field {
        Some(existing) => {
            existing.clear();
            existing.push_str(value);
        }
        None => *field = Some(value.to_owned()),
    }
}

/// Offset of the first `\r` or `\n` in `hay`.
///
/// Scans a word at a time (SWAR): data lines are long and this is the parser's inner loop.
fn find_line_end(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CRS: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let has_zero_byte = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS != 0;
    let is_line_end = |b: &u8| *b == b'\n' || *b == b'\r';

    let mut words = hay.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let Some(bytes) = word.first_chunk::<8>() else { break };
        let w = u64::from_ne_bytes(*bytes);
        if has_zero_byte(w ^ LFS) || has_zero_byte(w ^ CRS) {
            return word.iter().position(is_line_end).map(|i| start + i);
        }
        start += 8;
    }
    words.remainder().iter().position(is_line_end).map(|i| start + i)
}

pub mod bounded;

#[cfg(test)]
mod tests;
