//! Passing an upstream response body through to the client as it arrives.
//!
//! Each body is pumped by a task of its own ([`Pump`]) into an [`Outlet`]
//! that the client's body reads from: the task owns the upstream, the
//! deadlines, the usage record and the request's in-flight slot, so they
//! hold whether or not the client reads. SSE bodies go through the
//! incremental parser and leave event by event (never buffered whole; an
//! event is capped, and held in the body budget while large); the first
//! event was already awaited by [`super::forward`] so that nothing reaches
//! the client before the upstream has produced something. Gaps longer than
//! `idle` and streams longer than `total` end with an OpenAI-style error
//! event and `data: [DONE]`, never a hang; other bodies are forwarded chunk
//! by chunk under the same deadlines and end broken instead. A client that
//! takes nothing for `limits.client_write_timeout` while there is something
//! for it is treated as gone, and its body ends broken.
//!
//! Accounting: every SSE event passes the usage [`Tap`] (which tallies the
//! text, keeps the usage object, and removes what an injected `include_usage`
//! added), and the stream's end finishes its [`Meter`]. A client that left
//! (its body dropped, or stalled) is an ending too, handled by the provider's
//! `on_disconnect`: `close` drops the upstream response at once, which closes
//! the upstream request (generation and spend stop), and records an estimate;
//! `drain` reads on without forwarding ([`super::drain`]), for the usage the
//! upstream reports.

use super::drain::Drained;
use super::outlet::{self, Outlet, Stop};
use crate::body::ProxyBody;
use crate::budget::BodyBudget;
use crate::error::{Ingress, ProxyError};
use crate::ingress::{Back, ClientStream};
use crate::sse::Event;
use crate::sse::bounded::{Events, EventsError};
use crate::usage::tap::Tap;
use crate::usage::{Meter, Status};
use bytes::{Bytes, BytesMut};
use ending::Outcome;
use futures_util::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::OnDisconnect;
use tokio::time::Instant;

pub use crate::upstream::Upstream;
pub use ending::{Fault, Tail};

mod ending;

/// Most bytes gathered into one frame for the client.
const COALESCE_BYTES: usize = 64 * 1024;

/// The body's usage accounting.
pub struct Accounting {
    pub meter: Meter,
    /// `Some` for SSE bodies when accounting is on or the stream's integrity
    /// is checked ([`Tap::checking`]).
    pub tap: Option<Tap>,
    pub on_disconnect: OnDisconnect,
    /// The status the client got.
    pub http_status: u16,
}

/// Reads SSE from `upstream` until the first event carrying data, within
/// `deadline`. Returns the events read so far (comments included) and the parser.
pub async fn first_event(
    upstream: &mut Upstream,
    deadline: Instant,
    budget: &BodyBudget,
) -> Result<(Vec<Event>, Events), FirstEventError> {
    let mut parser = Events::new(budget);
    let mut out = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(FirstEventError::Timeout),
            Ok(None) => return Err(FirstEventError::Ended),
            Ok(Some(Err(_))) => return Err(FirstEventError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        let events = parser.push(&chunk).map_err(|e| match e {
            EventsError::Malformed => FirstEventError::Broken,
            EventsError::TooLarge | EventsError::Budget => FirstEventError::TooLarge(e),
        })?;
        let has_data = events.iter().any(|e| e.data.is_some());
        out.extend(events);
        if has_data {
            return Ok((out, parser));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstEventError {
    Timeout,
    Ended,
    Broken,
    /// The event is over the cap, or the body budget cannot hold it.
    TooLarge(EventsError),
}

/// The events' bytes for the client: through the tap when there is one.
fn forward(tap: Option<&mut Tap>, events: Vec<Event>) -> Option<Bytes> {
    if let Some(tap) = tap {
        return tap.forward(events);
    }
    if events.len() == 1 {
        return events.into_iter().next().map(|e| e.raw);
    }
    let mut out = BytesMut::with_capacity(events.iter().map(|e| e.raw.len()).sum());
    for e in events {
        out.extend_from_slice(&e.raw);
    }
    (!out.is_empty()).then(|| out.freeze())
}

/// What a streamed body is read from, and in which API it leaves.
pub struct Source {
    pub upstream: Upstream,
    /// The SSE parser, for streams (`None`: bytes passed through as they come).
    pub events: Option<Events>,
    /// The events already read (to judge the stream's start).
    pub first: Vec<Event>,
    /// The client's API, for the error event that ends a stream cut short.
    pub ingress: Ingress,
    /// Turns the chat chunks into the client's API's events (a client API
    /// translated to chat completions; the [`Back`] names its error kinds);
    /// `None`: the events pass as they are.
    pub client: Option<(Box<dyn ClientStream>, Back)>,
}

/// The client's body: the `first` events (already read) then the rest of
/// `upstream` (SSE when `events` is given), pumped by a task of its own, with
/// `idle` allowed between chunks and nothing after `deadline`.
pub fn body(source: Source, idle: Duration, deadline: Instant, tail: Tail, account: Accounting) -> ProxyBody {
    let Source { upstream, events, first, ingress, client } = source;
    let provider = tail.endpoint.provider.name.clone();
    let (outlet, body) = outlet::pair(tail.endpoint.provider.client_write);
    let pump = Pump { upstream, events, idle, deadline, provider, account, ingress, client, tail: Some(tail) };
    tokio::spawn(pump.run(outlet, first));
    body
}

/// Everything a streamed body holds, owned by its task.
struct Pump {
    upstream: Upstream,
    /// `Some` for SSE bodies.
    events: Option<Events>,
    idle: Duration,
    deadline: Instant,
    provider: Arc<str>,
    account: Accounting,
    ingress: Ingress,
    client: Option<(Box<dyn ClientStream>, Back)>,
    tail: Option<Tail>,
}

/// How a pumped body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The upstream body ended.
    Ended,
    /// Cut short.
    Failed(Fault),
    /// The client's body was dropped.
    Left,
    /// The client took nothing for `client_write_timeout`.
    Stalled,
}

impl From<Stop> for Ending {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Gone => Ending::Left,
            Stop::Stalled => Ending::Stalled,
            Stop::Deadline => Ending::Failed(Fault::Total),
        }
    }
}

impl Pump {
    async fn run(mut self, mut outlet: Outlet, first: Vec<Event>) {
        let first = self.outgoing(first);
        let ending = self.pass(&mut outlet, first).await;
        match ending {
            // Ended cleanly, but without its API's end marker: as cut.
            Ending::Ended if self.account.tap.as_ref().is_some_and(Tap::truncated) => {
                self.cut(outlet, Fault::Truncated);
            }
            Ending::Ended => {
                // An unterminated last event, if any; for a client API, the events owed after the chat stream.
                let last = self.events.take().and_then(Events::finish);
                let last = match self.client.as_mut() {
                    None => Ok(last),
                    Some((client, _)) => client.finish().map(|b| (!b.is_empty()).then(|| Bytes::from(b))),
                };
                match last {
                    Ok(last) => {
                        self.finish(Status::Ok);
                        self.settle(Outcome::Served);
                        outlet.close(last);
                    }
                    Err(_) => self.cut(outlet, Fault::Broken),
                }
            }
            Ending::Failed(fault) => self.cut(outlet, fault),
            Ending::Left => {
                self.settle(Outcome::Served);
                self.left().await;
            }
            Ending::Stalled => {
                tracing::warn!(provider = %self.provider, "the client accepted nothing for limits.client_write_timeout; stream ended");
                self.settle(Outcome::Neutral);
                outlet.abort("the client stopped reading");
                self.left().await;
            }
        }
        // Dropping `self` closes the upstream request and frees the in-flight slot.
    }

    /// Ends a stream cut short (`fault` says why): with the error event of
    /// the client's API when it is an event stream, broken otherwise; the
    /// ending is recorded as such (usage, the endpoint's breaker and metrics).
    fn cut(&mut self, outlet: Outlet, fault: Fault) {
        self.finish(if fault.is_timeout() { Status::Timeout } else { Status::StreamError });
        self.settle(Outcome::Cut(fault));
        let code = fault.code();
        tracing::warn!(provider = %self.provider, code, reason = fault.reason(), "upstream stream ended early");
        if self.events.take().is_none() {
            return outlet.abort("upstream stream failed");
        }
        let error = ProxyError::StreamCut(self.provider.to_string(), code);
        let last = match (self.client.as_mut(), self.ingress) {
            (Some((client, back)), _) => client.error(back.error_kind(&error), &error.to_string()),
            (None, Ingress::Anthropic) => {
                format!("event: error\ndata: {}\n\n", error.body(Ingress::Anthropic)).into_bytes()
            }
            (None, Ingress::OpenAi) => format!("data: {}\n\ndata: [DONE]\n\n", error.body_json()).into_bytes(),
        };
        outlet.close(Some(Bytes::from(last)));
    }

    /// The events' bytes for the client: tapped, and turned into the client's
    /// API's events when there is a [`ClientStream`]; then, when the stream
    /// cannot go on past them, why (a malformed event, left out, or one the
    /// client's API cannot be made of).
    fn outgoing(&mut self, events: Vec<Event>) -> (Option<Bytes>, Option<Fault>) {
        let tap = self.account.tap.as_mut();
        let Some((client, _)) = self.client.as_mut() else {
            let bytes = forward(tap, events);
            let malformed = self.account.tap.as_ref().is_some_and(|t| t.malformed);
            return (bytes, malformed.then_some(Fault::Malformed));
        };
        let mut tap = tap;
        let mut out = Vec::new();
        let mut fault = None;
        for event in events {
            if let Some(tap) = tap.as_deref_mut() {
                tap.observe(&event);
                if tap.malformed {
                    fault = Some(Fault::Malformed);
                    break;
                }
            }
            match event.data.as_deref() {
                // `[DONE]`: the closing events come at the body's end ([`Pump::run`]).
                None | Some("[DONE]") => {}
                Some(data) => match client.chunk(data) {
                    Ok(bytes) => out.extend(bytes),
                    Err(_) => {
                        fault = Some(Fault::Untranslatable);
                        break;
                    }
                },
            }
        }
        ((!out.is_empty()).then(|| Bytes::from(out)), fault)
    }

    /// Forwards the upstream to the client until one of them ends it, from
    /// the `first` bytes (and why the stream cannot go on past them).
    async fn pass(&mut self, outlet: &mut Outlet, first: (Option<Bytes>, Option<Fault>)) -> Ending {
        let (mut bytes, mut fault) = first;
        let mut ended = None;
        loop {
            if let Some(bytes) = bytes.take().filter(|b| !b.is_empty())
                && let Err(stop) = outlet.send(bytes, Some(self.deadline)).await
            {
                return stop.into();
            }
            if let Some(fault) = fault {
                return Ending::Failed(fault);
            }
            match ended {
                Some(Ended::Broken) => return Ending::Failed(Fault::Broken),
                Some(Ended::Clean) => return Ending::Ended,
                None => {}
            }
            let wait = (Instant::now() + self.idle).min(self.deadline);
            let next = tokio::select! {
                biased;
                next = tokio::time::timeout_at(wait, self.upstream.next()) => next,
                () = outlet.gone() => return Ending::Left,
            };
            let chunk = match next {
                Err(_) if Instant::now() >= self.deadline => return Ending::Failed(Fault::Total),
                Err(_) => return Ending::Failed(Fault::Idle),
                Ok(Some(Ok(chunk))) => chunk,
                Ok(Some(Err(_))) => return Ending::Failed(Fault::Broken),
                Ok(None) => return Ending::Ended,
            };
            // Whatever else the upstream has already delivered leaves in the same
            // frame: one write to the client instead of one per event.
            let (chunk, end) = coalesce(&mut self.upstream, chunk);
            ended = end;
            (bytes, fault) = match self.events.as_mut().map(|events| events.push(&chunk)) {
                None => (Some(chunk), None),
                Some(Ok(events)) => self.outgoing(events),
                Some(Err(e)) => return Ending::Failed(Fault::Events(e)),
            };
        }
    }

    /// The client left (or stalled) before the end, by `on_disconnect`.
    async fn left(&mut self) {
        let a = &mut self.account;
        if !a.meter.is_on() {
            return;
        }
        // `[DONE]` was handed over already: the client got the whole answer.
        if a.tap.as_ref().is_some_and(|t| t.done) {
            return self.finish(Status::Ok);
        }
        if a.on_disconnect == OnDisconnect::Drain
            && let (Some(events), Some(tap)) = (self.events.take(), a.tap.take())
        {
            let drained = Drained {
                upstream: std::mem::replace(&mut self.upstream, futures_util::stream::empty().boxed()),
                events,
                tap,
                meter: std::mem::replace(&mut a.meter, Meter::off()),
                http_status: a.http_status,
                idle: self.idle,
                deadline: self.deadline,
            };
            // The in-flight slot stays taken until the drain ends.
            return drained.run().await;
        }
        // `close`: the upstream response is dropped with `self`, right after this.
        self.finish(Status::ClientClosed);
    }

    /// Records the stream's usage (once: a finished meter is off).
    fn finish(&mut self, status: Status) {
        let a = &mut self.account;
        a.meter.streamed(status, a.http_status, a.tap.as_mut());
    }

    /// What the endpoint learns of the body's ending (once).
    fn settle(&mut self, outcome: Outcome) {
        if let Some(tail) = self.tail.as_mut() {
            tail.settle(outcome);
        }
    }
}

impl Drop for Pump {
    /// Dropped unfinished (the runtime shut down under it): the client is gone.
    fn drop(&mut self) {
        self.finish(Status::ClientClosed);
    }
}

/// How the upstream body ended, seen while coalescing and reported after the chunk.
enum Ended {
    Clean,
    Broken,
}

/// Appends to `first` the chunks the upstream has ready now, without waiting,
/// up to [`COALESCE_BYTES`]; an end or error met on the way is returned too.
fn coalesce(upstream: &mut Upstream, first: Bytes) -> (Bytes, Option<Ended>) {
    let mut more: Option<BytesMut> = None;
    let mut len = first.len();
    let mut ended = None;
    while len < COALESCE_BYTES {
        match upstream.as_mut().next().now_or_never() {
            Some(Some(Ok(chunk))) => {
                len += chunk.len();
                more.get_or_insert_with(|| BytesMut::from(&first[..])).extend_from_slice(&chunk);
            }
            Some(Some(Err(_))) => {
                ended = Some(Ended::Broken);
                break;
            }
            Some(None) => {
                ended = Some(Ended::Clean);
                break;
            }
            None => break,
        }
    }
    (more.map_or(first, BytesMut::freeze), ended)
}

#[cfg(test)]
mod tests;
