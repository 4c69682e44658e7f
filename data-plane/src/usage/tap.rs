//! The stream tap: what each SSE event of an upstream stream tells the
//! accounting, and what of it the client must not see.
//!
//! For every data event it tallies the generated text (chat `content`,
//! `reasoning_content` and tool call `arguments`, completion `text`) for the
//! estimator, and keeps a copy of the last `usage` object (top-level, or a
//! Responses API event's `response.usage`), parsed later, off the request
//! path; one larger than [`MAX_USAGE_BYTES`] is not kept (the record is
//! estimated), so an upstream cannot park big copies in the usage channel.
//!
//! When the proxy injected `stream_options.include_usage` (the client did not
//! ask for it), it also removes exactly what that added, so the client gets
//! the bytes it would have got without it: the final event whose `choices` is
//! empty and whose `usage` is an object is dropped whole, and the
//! `"usage":null` member OpenAI then puts in every other chunk is cut out with
//! the separator and whitespace before it (or, for a first member, after it).
//!
//! Cost per event: OpenAI writes `"usage":null` last, so the common case is a
//! check of the event's last bytes and, when stripping, one copy without the
//! member; an event that does not mention `"usage"` is passed on untouched
//! after one substring search. Only an event that has `"usage"` elsewhere
//! (once per stream: the usage chunk) has its top-level members walked. The
//! text tally searches each event for `content":` and `arguments":`. Nothing
//! is parsed into a tree and nothing is allocated, bar the copy of the one
//! usage object.
//!
//! Integrity, for a stream whose API it knows ([`End`]): every `data:` must
//! be JSON (`[DONE]` aside), checked by the same walk over the event
//! ([`is_json`]: no tree, no allocation); the first event that is not stops
//! [`Tap::forward`] (it and what follows never reach the client) and sets
//! [`Tap::malformed`]. Until the API's end marker is seen the tap looks for
//! it (one more substring search per event for chat's `finish_reason`), so
//! that a stream that ends without it can be told from a complete one
//! ([`Tap::truncated`]).

use super::MAX_USAGE_BYTES;
use super::estimate::{Tally, feed_json_string};
use super::scan::{has_usage_object, is_empty_array, is_json, member, skip_ws, trailing_null_usage};
use crate::sse::Event;
use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;
use std::ops::Range;
use std::sync::LazyLock;

mod end;
pub use end::End;

/// The keys whose string values are generated text (`…content":` also
/// matches `reasoning_content`), and the usage key.
static CONTENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("content\":"));
static ARGUMENTS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("arguments\":"));
static TEXT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"text\":"));
static USAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"usage\""));
/// Which fields of a stream's events carry generated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// `/chat/completions`: `choices[].delta.content`, `reasoning_content`,
    /// `tool_calls[].function.arguments`.
    Chat,
    /// `/completions`: `choices[].text`.
    Completions,
    /// Anything else: nothing is tallied.
    None,
}

impl Text {
    pub fn for_path(api_path: &str) -> Self {
        match api_path {
            "/chat/completions" => Text::Chat,
            "/completions" => Text::Completions,
            _ => Text::None,
        }
    }
}

/// What to do with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Cut {
    Keep,
    /// Drop the whole event.
    Drop,
    /// Forward the event without these bytes of its `raw`.
    Remove(Range<usize>),
    /// Forward these bytes instead (a multi-line event that had to be rebuilt).
    Replace(Bytes),
}

#[derive(Debug)]
pub struct Tap {
    /// The proxy injected `include_usage`: remove what that added.
    strip: bool,
    text: Text,
    /// Generated text, reasoning excluded.
    pub content: Tally,
    pub reasoning: Tally,
    /// The last `usage` object seen (its JSON text).
    pub usage: Option<Bytes>,
    /// `data: [DONE]` was seen.
    pub done: bool,
    /// The integrity rule checked (`None`: none).
    end: Option<End>,
    /// The stream's end marker was seen ([`End`]).
    pub complete: bool,
    /// An event's `data` was not JSON: [`Tap::forward`] stopped before it,
    /// and the tap reads nothing more.
    pub malformed: bool,
    /// The last event was dropped or rebuilt and its raw bytes ended with
    /// `\r`: a `\n` starting the next one is its line end, to drop too.
    skip_lf: bool,
}

impl Tap {
    pub fn new(strip: bool, text: Text) -> Self {
        Self {
            strip,
            text,
            content: Tally::default(),
            reasoning: Tally::default(),
            usage: None,
            done: false,
            end: None,
            complete: false,
            malformed: false,
            skip_lf: false,
        }
    }

    /// The tap, checking the stream against `end` (see the module's doc).
    pub fn checking(mut self, end: Option<End>) -> Self {
        self.end = end;
        self
    }

    /// Checked, the stream ended without its end marker (nor a malformed event).
    pub fn truncated(&self) -> bool {
        self.end.is_some() && !self.complete && !self.malformed
    }

    /// The events for the client, as bytes; `None` when nothing is left of
    /// them. A malformed event and those after it are left out (see [`Tap::malformed`]).
    pub fn forward(&mut self, events: Vec<Event>) -> Option<Bytes> {
        let mut out = BytesMut::new();
        if events.len() == 1 {
            let event = events.into_iter().next()?;
            let cut = self.observe(&event);
            if self.malformed {
                return None;
            }
            let lead = self.lead(&event.raw, &cut);
            if cut == Cut::Keep && lead == 0 {
                return Some(event.raw);
            }
            out.reserve(event.raw.len());
            put(&event.raw, cut, lead, &mut out);
        } else {
            out.reserve(events.iter().map(|e| e.raw.len()).sum());
            for event in &events {
                let cut = self.observe(event);
                if self.malformed {
                    break;
                }
                let lead = self.lead(&event.raw, &cut);
                put(&event.raw, cut, lead, &mut out);
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }

    /// How many bytes at the start of `raw` belong to an event that was
    /// dropped or rebuilt: the parser gives the `\n` of an event's final
    /// `\r\n` to the next event when a chunk ends between the two.
    fn lead(&mut self, raw: &[u8], cut: &Cut) -> usize {
        let lead = usize::from(self.skip_lf && raw.starts_with(b"\n"));
        self.skip_lf = matches!(cut, Cut::Drop | Cut::Replace(_)) && raw.ends_with(b"\r");
        lead
    }

    /// Reads one event; says what of it the client may see.
    pub fn observe(&mut self, event: &Event) -> Cut {
        if self.malformed {
            return Cut::Drop;
        }
        let Some(data) = event.data.as_deref() else { return Cut::Keep };
        if data == "[DONE]" {
            self.done = true;
            self.complete |= self.end == Some(End::Chat);
            return Cut::Keep;
        }
        if let Some(end) = self.end {
            if !is_json(data) {
                self.malformed = true;
                return Cut::Drop;
            }
            if !self.complete {
                self.complete = end.ends(event.event.as_deref(), data);
            }
        }
        self.tally(data);
        if let Some(member) = trailing_null_usage(data) {
            return if self.strip { remove(event, data, member) } else { Cut::Keep };
        }
        if USAGE.find(data.as_bytes()).is_none() {
            return Cut::Keep;
        }
        match member(data, "usage") {
            Some(m) if &data[m.value.clone()] == "null" => {
                if self.strip {
                    remove(event, data, m.removal)
                } else {
                    Cut::Keep
                }
            }
            Some(m) if data[m.value.clone()].starts_with('{') => {
                self.keep_usage(&data[m.value.clone()]);
                if !self.strip {
                    return Cut::Keep;
                }
                let no_choices = member(data, "choices").is_none_or(|c| is_empty_array(&data[c.value]));
                if no_choices { Cut::Drop } else { remove(event, data, m.removal) }
            }
            Some(_) => Cut::Keep,
            None => {
                // Nested (`response.usage` in a Responses API event): read, never cut.
                if has_usage_object(data)
                    && let Some(response) = member(data, "response")
                    && let Some(usage) = member(&data[response.value.clone()], "usage")
                {
                    let response = &data[response.value];
                    if response[usage.value.clone()].starts_with('{') {
                        self.keep_usage(&response[usage.value]);
                    }
                }
                Cut::Keep
            }
        }
    }

    fn keep_usage(&mut self, value: &str) {
        if value.len() <= MAX_USAGE_BYTES {
            self.usage = Some(Bytes::copy_from_slice(value.as_bytes()));
        }
    }

    fn tally(&mut self, data: &str) {
        match self.text {
            Text::Chat => {
                self.strings(data, &CONTENT);
                self.strings(data, &ARGUMENTS);
            }
            Text::Completions => self.strings(data, &TEXT),
            Text::None => {}
        }
    }

    /// Feeds every string value of the members whose key ends with `key` (`…":`).
    fn strings(&mut self, data: &str, key: &Finder<'_>) {
        let len = key.needle().len();
        let mut from = 0;
        while let Some(found) = data.get(from..).and_then(|rest| key.find(rest.as_bytes())) {
            let key_at = from + found;
            let at = skip_ws(data.as_bytes(), key_at + len);
            let tally = if data[..key_at].ends_with("reasoning_") { &mut self.reasoning } else { &mut self.content };
            from = match feed_json_string(data, at, tally) {
                Some(end) => end,
                None => at.max(key_at + len),
            };
        }
    }
}

/// Whether one of `events` has `data` that is not JSON (`[DONE]` aside):
/// the first events of a checked stream, judged before any reaches the client.
pub fn malformed(events: &[Event]) -> bool {
    events.iter().filter_map(|e| e.data.as_deref()).any(|data| data != "[DONE]" && !is_json(data))
}

/// Appends what the client gets of an event's `raw` bytes, the first `lead`
/// of which belong to a previous event that was dropped or rebuilt. A `\n`
/// at the start of a dropped or rebuilt event belongs to the previous one,
/// which was kept: it stays.
fn put(raw: &[u8], cut: Cut, lead: usize, out: &mut BytesMut) {
    let carried = lead == 0 && raw.starts_with(b"\n");
    match cut {
        Cut::Keep => out.extend_from_slice(&raw[lead..]),
        Cut::Drop if carried => out.extend_from_slice(b"\n"),
        Cut::Drop => {}
        Cut::Remove(r) => {
            out.extend_from_slice(&raw[lead..r.start]);
            out.extend_from_slice(&raw[r.end..]);
        }
        Cut::Replace(bytes) => {
            if carried {
                out.extend_from_slice(b"\n");
            }
            out.extend_from_slice(&bytes);
        }
    }
}

/// `bytes[range]` of the data, as a cut of the event's raw bytes.
fn remove(event: &Event, data: &str, range: Range<usize>) -> Cut {
    if let Some(offset) = data_offset(&event.raw, data) {
        return Cut::Remove(offset + range.start..offset + range.end);
    }
    // Several data lines (or a BOM before the first): rebuild the event.
    let kept = [&data[..range.start], &data[range.end..]].concat();
    let mut out = String::with_capacity(kept.len() + 16);
    if let Some(name) = &event.event {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    if let Some(id) = &event.id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    for line in kept.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Cut::Replace(Bytes::from(out))
}

/// Where an event's only `data:` value starts in its raw bytes.
fn data_offset(raw: &[u8], data: &str) -> Option<usize> {
    if data.contains('\n') {
        return None;
    }
    // The usual shape: `data: {…}` first.
    if raw.get(6..6 + data.len()) == Some(data.as_bytes()) && raw.starts_with(b"data: ") {
        return Some(6);
    }
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..].iter().position(|b| *b == b'\n' || *b == b'\r').map_or(raw.len(), |i| at + i);
        if let Some(value) = raw[at..end].strip_prefix(b"data:") {
            let offset = at + 5 + usize::from(value.first() == Some(&b' '));
            return (raw.get(offset..offset + data.len()) == Some(data.as_bytes())).then_some(offset);
        }
        at = end + 1;
    }
    None
}

#[cfg(test)]
mod tests;
