//! A pool of HTTP/2 connections to one upstream origin that opens another
//! connection when the open ones are at the server's stream limit, so
//! concurrent requests are neither refused nor queued behind a full
//! connection (hyper and reqwest put every request to a host on one
//! connection).
//!
//! The request path takes no lock: the connection list is an `ArcSwap`; a
//! request picks the least-loaded open connection with room and reserves a
//! stream slot on it with a compare-and-swap (only while in-flight < the
//! server's SETTINGS_MAX_CONCURRENT_STREAMS). Only when none has room does it
//! take the pool's opening mutex, which serializes opening (so 400 waiting
//! requests open 4 connections, not 400): it re-checks, drops closed
//! connections, opens one (within the connect timeout), publishes the new
//! list, and releases. At [`MAX_CONNECTIONS`] it queues on the least-loaded
//! connection instead (HTTP/2 holds the stream until one ends). A slot is
//! released when the response body ends or is dropped, or at once when
//! sending fails. A request that hyper gives back unsent (its connection had
//! gone: closed, or GOAWAY) is tried once more on another connection.
//!
//! Each connection's task drives it, records the server's stream limit after
//! every poll, closes it after the idle timeout with nothing in flight, and
//! marks it closed when it ends (server close, keepalive timeout, pool gone).
//! Until its server's first SETTINGS arrive, a connection assumes the limit
//! the pool's previous connections learnt (100 for the first).

use super::body::OutgoingBody;
use super::connect::{DEFAULT_STREAM_LIMIT, Driver, Target};
use super::error::SendError;
use super::{Broken, Upstream};
use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, Request, StatusCode};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http2::SendRequest;
use slots::Slots;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::Instant;

/// Most connections one pool opens; beyond, requests queue on the least-loaded one.
pub const MAX_CONNECTIONS: usize = 256;

pub struct H2Pool {
    /// Open connections (and, until the next prune, some that closed).
    conns: ArcSwap<Vec<Arc<Conn>>>,
    /// Serializes opening; holds when the last attempt failed and how, so the
    /// requests that queued behind a failed attempt fail with it instead of
    /// each trying again in turn.
    opening: tokio::sync::Mutex<Option<(Instant, Failed)>>,
    target: Target,
    /// The stream limit the latest connection's server announced: what a new
    /// connection assumes until its own SETTINGS arrive.
    known_limit: Arc<AtomicUsize>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    epoch: Instant,
}

#[derive(Clone, Copy)]
enum Failed {
    Timeout,
    Connect,
}

struct Conn {
    send: SendRequest<OutgoingBody>,
    /// Shared with the connection's task (which must not hold `send`, or the
    /// connection would outlive the pool).
    slots: Arc<Slots>,
}

/// A reserved stream slot; dropping it releases the slot.
struct Slot(Arc<Conn>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.release();
    }
}

impl H2Pool {
    /// A pool for `base_url`'s origin (nothing is connected until the first request).
    pub fn new(base_url: &str, connect_timeout: Duration, idle_timeout: Duration) -> Result<Arc<H2Pool>, String> {
        Ok(Arc::new(H2Pool {
            conns: ArcSwap::from_pointee(Vec::new()),
            opening: tokio::sync::Mutex::new(None),
            target: Target::new(base_url)?,
            known_limit: Arc::new(AtomicUsize::new(DEFAULT_STREAM_LIMIT)),
            connect_timeout,
            idle_timeout,
            max_connections: MAX_CONNECTIONS,
            epoch: Instant::now(),
        }))
    }

    /// `scheme://host:port` of `base_url`: a pool serves one origin.
    pub fn origin(base_url: &str) -> String {
        url::Url::parse(base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.load().iter().filter(|c| !c.slots.is_closed()).count()
    }

    /// Sends `request` (absolute URI) on a connection with room, opening one if needed.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<OutgoingBody>,
    ) -> Result<(StatusCode, HeaderMap, Upstream), SendError> {
        let mut retried = false;
        loop {
            let slot = match self.try_reserve() {
                Some(slot) => slot,
                None => self.reserve_slow().await?,
            };
            let mut send = slot.0.send.clone();
            match send.try_send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let slot = (!body.is_end_stream()).then_some(slot);
                    return Ok((parts.status, parts.headers, Box::pin(ResponseBody { body, slot })));
                }
                Err(mut e) => match e.take_message() {
                    // Never sent: the connection had gone. Once more, on another.
                    Some(unsent) if !retried => {
                        slot.0.slots.close();
                        retried = true;
                        request = unsent;
                    }
                    // Possibly sent (a keepalive timeout is not the connect timeout): never `Timeout` or `Connect`.
                    _ => return Err(SendError::Other(e.into_error().into())),
                },
            }
        }
    }

    /// The fast path: a slot on the least-loaded open connection with room.
    fn try_reserve(&self) -> Option<Slot> {
        let conns = self.conns.load();
        // A lost race (the connection filled meanwhile) looks again, a few times.
        for _ in 0..4 {
            let best = conns.iter().filter(|c| c.slots.has_room()).min_by_key(|c| c.slots.in_flight())?;
            if best.slots.try_reserve() {
                return Some(Slot(Arc::clone(best)));
            }
        }
        None
    }

    /// The slow path, one request at a time: re-check, then open a connection
    /// (or, at the bound, queue on the least-loaded one).
    async fn reserve_slow(self: &Arc<Self>) -> Result<Slot, SendError> {
        let asked = Instant::now();
        let mut last_failure = self.opening.lock().await;
        if let Some(slot) = self.try_reserve() {
            return Ok(slot);
        }
        if let Some((at, failed)) = *last_failure
            && at >= asked
        {
            let reason = "the connection attempt this request waited for failed";
            return Err(match failed {
                Failed::Timeout => SendError::Timeout,
                Failed::Connect => SendError::Connect(reason.into()),
            });
        }
        let mut open: Vec<Arc<Conn>> = self.conns.load().iter().filter(|c| !c.slots.is_closed()).cloned().collect();
        if open.len() >= self.max_connections
            && let Some(least) = open.iter().min_by_key(|c| c.slots.in_flight())
            && least.slots.force_reserve()
        {
            return Ok(Slot(Arc::clone(least)));
        }
        let limit = self.known_limit.load(Ordering::Relaxed);
        let (send, driver) = match tokio::time::timeout(self.connect_timeout, self.target.connect(limit)).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => {
                *last_failure = Some((Instant::now(), Failed::Connect));
                return Err(SendError::Connect(e));
            }
            Err(_) => {
                *last_failure = Some((Instant::now(), Failed::Timeout));
                return Err(SendError::Timeout);
            }
        };
        *last_failure = None;
        let slots = Arc::new(Slots::new(self.epoch, 1, limit));
        let known = Arc::clone(&self.known_limit);
        tokio::spawn(drive(driver, Arc::clone(&slots), known, Arc::downgrade(self), self.idle_timeout));
        let conn = Arc::new(Conn { send, slots });
        open.push(Arc::clone(&conn));
        tracing::debug!(connections = open.len(), "upstream HTTP/2 connection opened");
        self.conns.store(Arc::new(open));
        Ok(Slot(conn))
    }

    /// Drops closed connections from the list.
    async fn prune(&self) {
        let _opening = self.opening.lock().await;
        let conns = self.conns.load();
        if conns.iter().any(|c| c.slots.is_closed()) {
            let open: Vec<Arc<Conn>> = conns.iter().filter(|c| !c.slots.is_closed()).cloned().collect();
            self.conns.store(Arc::new(open));
        }
    }
}

/// Runs one connection until it ends or stays idle too long.
async fn drive(
    mut driver: Driver,
    slots: Arc<Slots>,
    known_limit: Arc<AtomicUsize>,
    pool: Weak<H2Pool>,
    idle_timeout: Duration,
) {
    let mut idle = std::pin::pin!(tokio::time::sleep(idle_timeout));
    let ended = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = driver.poll(cx) {
            return Poll::Ready(result.err());
        }
        // Updated by the server's SETTINGS (the first ones arrive after the handshake).
        let limit = driver.max_send_streams().max(1);
        if slots.limit.load(Ordering::Relaxed) != limit {
            slots.limit.store(limit, Ordering::Relaxed);
            known_limit.store(limit, Ordering::Relaxed);
        }
        while idle.as_mut().poll(cx).is_ready() {
            match slots.idle_check(idle_timeout) {
                Some(next) => idle.as_mut().reset(next),
                None => return Poll::Ready(None),
            }
        }
        Poll::Pending
    })
    .await;
    slots.close();
    match ended {
        Some(e) => tracing::debug!(error = %e, "upstream HTTP/2 connection ended"),
        None => tracing::debug!("upstream HTTP/2 connection closed (idle or done)"),
    }
    drop(driver);
    if let Some(pool) = pool.upgrade() {
        pool.prune().await;
    }
}

/// A response body that holds its stream slot until it ends or is dropped.
struct ResponseBody {
    body: Incoming,
    slot: Option<Slot>,
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, Broken>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                None => {
                    this.slot = None;
                    return Poll::Ready(None);
                }
                Some(Err(_)) => {
                    this.slot = None;
                    return Poll::Ready(Some(Err(Broken)));
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if this.body.is_end_stream() {
                            this.slot = None;
                        }
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // Trailers: the end follows.
                }
            }
        }
    }
}

mod slots;
#[cfg(test)]
mod tests;
