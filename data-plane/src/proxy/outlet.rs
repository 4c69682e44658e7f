//! Where a response body meets its client: a task writes frames into a
//! channel (one frame of room, plus one slot kept for the last frame) and
//! the client's body reads them out as hyper sends them. The task, not the
//! client's reading, owns the upstream, the deadlines, the usage record and
//! the concurrency slot, so a client that stops reading cannot hold any of
//! them past `timeout.total` or `limits.client_write_timeout`.
//!
//! A frame waits for room at most `client_write_timeout` (and never past the
//! deadline it is given): a client that accepts nothing for that long while
//! there is something for it is treated as gone. The last frame (an error
//! event, or a broken-body error that makes hyper reset the connection)
//! always fits: its slot is reserved up front, so ending never waits.

use crate::body::{BoxError, ProxyBody, full};
use crate::budget::{FREE_BYTES, Held};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};
use tokio::time::Instant;

type Item = Result<Frame<Bytes>, BoxError>;

/// The writing end, held by the task that produces the body.
pub struct Outlet {
    tx: mpsc::Sender<Item>,
    last: Option<OwnedPermit<Item>>,
    write_timeout: Duration,
}

/// Why a frame could not be handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The client's body was dropped: the client left.
    Gone,
    /// The client accepted nothing for `client_write_timeout`.
    Stalled,
    /// The deadline passed while the client was not accepting.
    Deadline,
}

/// A body for the client and the outlet that feeds it.
pub fn pair(write_timeout: Duration) -> (Outlet, ProxyBody) {
    let (tx, rx) = mpsc::channel(2);
    // A fresh channel has room: the reservation cannot fail.
    let last = tx.clone().try_reserve_owned().ok();
    (Outlet { tx, last, write_timeout }, Inlet(rx).boxed_unsync())
}

impl Outlet {
    /// Hands `bytes` to the client, waiting while it has not taken the
    /// previous frame: at most `client_write_timeout`, and not past `deadline`.
    pub async fn send(&mut self, bytes: Bytes, deadline: Option<Instant>) -> Result<(), Stop> {
        let frame = Ok(Frame::data(bytes));
        let frame = match self.tx.try_send(frame) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(Stop::Gone),
            Err(TrySendError::Full(frame)) => frame,
        };
        let stalled = Instant::now() + self.write_timeout;
        let by = deadline.map_or(stalled, |d| d.min(stalled));
        match tokio::time::timeout_at(by, self.tx.reserve()).await {
            Ok(Ok(permit)) => {
                permit.send(frame);
                Ok(())
            }
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) if Some(by) == deadline => Err(Stop::Deadline),
            Err(_) => Err(Stop::Stalled),
        }
    }

    /// Resolves when the client's body is dropped.
    pub async fn gone(&self) {
        self.tx.closed().await;
    }

    /// Ends the body after what was handed over, with `last` as its final
    /// frame (never waits).
    pub fn close(mut self, last: Option<Bytes>) {
        if let (Some(permit), Some(bytes)) = (self.last.take(), last) {
            permit.send(Ok(Frame::data(bytes)));
        }
    }

    /// Ends the body with an error after what was handed over: hyper resets
    /// the stream (HTTP/2) or closes the connection (HTTP/1.1) once it gets there.
    pub fn abort(mut self, why: &'static str) {
        if let Some(permit) = self.last.take() {
            permit.send(Err(why.into()));
        }
    }
}

/// A body read whole (a JSON answer), for the client: at once when small;
/// else in slices by a task that keeps `body` (and its share of the body
/// budget) until the client has taken it all, or has taken nothing for
/// `write_timeout`.
pub fn whole(body: Held, write_timeout: Duration) -> ProxyBody {
    if body.bytes.len() <= FREE_BYTES {
        return full(body.bytes);
    }
    let (mut outlet, client) = pair(write_timeout);
    tokio::spawn(async move {
        // The whole of `body`, its reservation included (not just the field used below).
        let body = body;
        let mut at = 0;
        while at < body.bytes.len() {
            let end = body.bytes.len().min(at + FREE_BYTES);
            match outlet.send(body.bytes.slice(at..end), None).await {
                Ok(()) => at = end,
                Err(Stop::Gone) => return,
                Err(_) => {
                    tracing::warn!(
                        sent = at,
                        size = body.bytes.len(),
                        "client accepted nothing in time; answer dropped"
                    );
                    return outlet.abort("the client stopped reading");
                }
            }
        }
    });
    client
}

/// The client's body: whatever the outlet handed over, in order.
struct Inlet(mpsc::Receiver<Item>);

impl Body for Inlet {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.0.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(frame: Option<Item>) -> Option<Bytes> {
        frame.map(|f| f.ok().and_then(|f| f.into_data().ok()).unwrap_or_default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_takes_nothing_stalls_the_outlet_after_the_write_timeout() {
        let (mut outlet, mut body) = pair(Duration::from_secs(30));
        let far = Some(Instant::now() + Duration::from_secs(3600));
        outlet.send(Bytes::from_static(b"a"), far).await.unwrap();
        let start = Instant::now();
        assert_eq!(outlet.send(Bytes::from_static(b"b"), far).await, Err(Stop::Stalled));
        assert_eq!(start.elapsed(), Duration::from_secs(30));
        outlet.abort("stalled");
        assert_eq!(data(body.frame().await).as_deref(), Some(&b"a"[..]));
        assert!(body.frame().await.unwrap().is_err(), "then the body breaks");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_wins_over_a_longer_write_timeout() {
        let (mut outlet, _body) = pair(Duration::from_secs(30));
        let deadline = Instant::now() + Duration::from_secs(10);
        outlet.send(Bytes::from_static(b"a"), Some(deadline)).await.unwrap();
        assert_eq!(outlet.send(Bytes::from_static(b"b"), Some(deadline)).await, Err(Stop::Deadline));
        assert_eq!(Instant::now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_frame_always_fits_and_a_dropped_body_is_seen() {
        let (mut outlet, mut body) = pair(Duration::from_secs(30));
        let far = None;
        outlet.send(Bytes::from_static(b"a"), far).await.unwrap();
        outlet.close(Some(Bytes::from_static(b"end")));
        assert_eq!(data(body.frame().await).as_deref(), Some(&b"a"[..]));
        assert_eq!(data(body.frame().await).as_deref(), Some(&b"end"[..]));
        assert!(body.frame().await.is_none());

        let (mut outlet, body) = pair(Duration::from_secs(30));
        drop(body);
        outlet.gone().await;
        assert_eq!(outlet.send(Bytes::from_static(b"a"), far).await, Err(Stop::Gone));
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_answer_keeps_its_budget_share_until_taken_or_stalled() {
        let budget = crate::budget::BodyBudget::new();
        budget.resize(1 << 20);
        let mut reserved = None;
        budget.reserve(&mut reserved, 300 * 1024).unwrap();
        let answer = Held::new(Bytes::from(vec![b'x'; 300 * 1024]), reserved);
        let mut body = whole(answer.clone(), Duration::from_secs(30));
        drop(answer);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), FREE_BYTES);
        assert_eq!(budget.usage().0, 300 * 1024, "held while the client reads");
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(budget.usage().0, 0, "released once the client stalled");
        let mut rest = Vec::new();
        while let Some(frame) = body.frame().await {
            rest.push(frame.is_ok());
        }
        assert_eq!(rest.last(), Some(&false), "the body ends broken");
    }
}
