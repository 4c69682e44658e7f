//! The SSE parser as the proxy runs it on upstream streams: events at most
//! [`MAX_EVENT_BYTES`], and a partial event larger than
//! [`FREE_BYTES`](crate::budget::FREE_BYTES) held in the body budget while it
//! is buffered, so many streams sending huge events cannot add up past
//! `limits.max_buffered_bodies`.

use super::{Event, SseError, SseParser};
use crate::budget::{BodyBudget, FREE_BYTES, Reserved};
use bytes::Bytes;

/// Largest single SSE event accepted from an upstream (a streamed image's
/// base64 fits; a runaway line does not).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Why a stream's events cannot be read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsError {
    /// Not SSE as the proxy reads it (a field that is not UTF-8).
    Malformed,
    /// An event over [`MAX_EVENT_BYTES`].
    TooLarge,
    /// The body budget cannot hold the partial event now.
    Budget,
}

impl EventsError {
    /// The stream error code for the client and the logs.
    pub fn code(self) -> &'static str {
        match self {
            EventsError::Malformed => "upstream_stream_malformed",
            EventsError::TooLarge => "upstream_event_too_large",
            EventsError::Budget => "upstream_buffer_budget_exhausted",
        }
    }
}

pub struct Events {
    parser: SseParser,
    budget: BodyBudget,
    /// Covers the partial event while it is larger than `FREE_BYTES`.
    reserved: Reserved,
}

impl Events {
    pub fn new(budget: &BodyBudget) -> Self {
        Self { parser: SseParser::new(MAX_EVENT_BYTES), budget: budget.clone(), reserved: None }
    }

    /// The events `chunk` completes. A chunk itself is bounded by whoever read
    /// it; what stays behind (the partial event) is what may grow.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, EventsError> {
        let events = self.parser.push(chunk).map_err(|e| {
            self.reserved = None;
            match e {
                SseError::TooLarge(_) => EventsError::TooLarge,
                SseError::NotUtf8 => EventsError::Malformed,
            }
        })?;
        let held = self.parser.buffered();
        if held <= FREE_BYTES {
            self.reserved = None;
        } else if self.budget.reserve(&mut self.reserved, held).is_err() {
            // The partial event goes with the parser: the caller ends the stream.
            self.parser = SseParser::new(0);
            return Err(EventsError::Budget);
        }
        Ok(events)
    }

    /// The bytes of an unterminated last event, at the end of the stream.
    pub fn finish(self) -> Option<Bytes> {
        self.parser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_partial_event_is_held_in_the_budget_until_it_completes() {
        let budget = BodyBudget::new();
        budget.resize(1 << 20);
        let mut events = Events::new(&budget);
        let big = vec![b'x'; 200 * 1024];
        assert!(events.push(b"data: ").unwrap().is_empty());
        assert!(events.push(&big).unwrap().is_empty());
        assert!(budget.usage().0 >= 200 * 1024, "{:?}", budget.usage());
        let done = events.push(b"\n\n").unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(budget.usage().0, 0);
    }

    #[test]
    fn an_event_the_budget_cannot_hold_or_over_the_cap_ends_the_stream() {
        let budget = BodyBudget::new();
        budget.resize(128 * 1024);
        let mut events = Events::new(&budget);
        assert_eq!(events.push(&[b'x'; 200 * 1024]), Err(EventsError::Budget));
        assert_eq!(budget.usage().0, 0);

        budget.resize(64 << 20);
        let mut events = Events::new(&budget);
        let mut result = Ok(Vec::new());
        for _ in 0..=MAX_EVENT_BYTES / (1 << 20) {
            result = events.push(&[b'y'; 1 << 20]);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventsError::TooLarge));
    }
}
