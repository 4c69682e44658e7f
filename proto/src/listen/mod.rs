//! Guarded TCP listeners, shared by the data plane's and the control plane's
//! servers, so that clients without a key or token cannot take the process's
//! file descriptors:
//!
//! * a **first-bytes deadline**: a connection must send enough to tell HTTP/1
//!   from HTTP/2 (the 24-byte HTTP/2 preface, or an HTTP/1 request line)
//!   within `first_byte_timeout`, else it is closed. After that, HTTP/1's
//!   header read timeout and HTTP/2's keepalive pings take over (the servers
//!   configure both). A server that terminates TLS itself puts a second
//!   deadline on the decrypted stream ([`Deadline::guard`]): the first
//!   request must follow the handshake in time too;
//! * a **bound on open connections** per listener: past it a new connection
//!   is refused at once (after a best-effort canned response, for HTTP
//!   listeners) and counted, while the open ones go on; a slot is given back
//!   when its connection is dropped;
//! * **TCP keepalive** on every accepted socket (and `TCP_NODELAY` when asked);
//! * **back-off on accept errors** (`EMFILE` and the like): bounded,
//!   exponential, logged at most every few seconds, never a spin.
//!
//! [`Listener::accept`] serves hyper accept loops; [`Listener::incoming`]
//! is the stream tonic's `serve_with_incoming*` takes.

mod backoff;
mod connection;
mod first_bytes;

pub use connection::Connection;
pub use first_bytes::FirstBytes;

use backoff::Backoff;
use bytes::Bytes;
use futures_util::Stream;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Default `--first-byte-timeout`.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound of the small listeners (`--admin-listen`, `--http-listen`):
/// probes and scrapers.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;
/// Descriptors left for everything but client connections (store, cache,
/// spool, logs, control-plane streams) when the bound is derived.
const RESERVED_FDS: u64 = 128;
/// A derived bound is never below this, whatever the descriptor limit.
const MIN_DERIVED: u64 = 16;
/// With no descriptor limit at all.
const UNLIMITED_DERIVED: u64 = 1 << 20;
/// Keepalive probes after this much silence, then every [`KEEPALIVE_INTERVAL`]:
/// a peer that vanished (no FIN, no RST) is noticed within minutes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// One listener's bound on open connections and what happened at its door.
#[derive(Debug)]
pub struct Connections {
    name: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    refused: AtomicU64,
    timed_out: AtomicU64,
    accept_errors: AtomicU64,
}

impl Connections {
    /// At most `max` (at least 1) open connections on the listener called `name` (a metric label).
    pub fn new(name: &'static str, max: usize) -> Arc<Self> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            name,
            max,
            slots: Arc::new(Semaphore::new(max)),
            refused: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits().min(self.max)
    }

    /// Connections refused because `max` were open.
    pub fn refused(&self) -> u64 {
        self.refused.load(Relaxed)
    }

    /// Connections closed because their first bytes did not arrive in time.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Relaxed)
    }

    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Relaxed)
    }
}

/// A bound derived from the process's descriptor limit (the soft
/// `RLIMIT_NOFILE`): what is left after `reserved` descriptors (the other
/// listeners' bounds) and [`RESERVED_FDS`], divided by the descriptors each
/// connection costs (`per_connection`: 2 when each may hold an upstream
/// connection too). At least [`MIN_DERIVED`].
pub fn derived_max_connections(per_connection: u64, reserved: u64) -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let max = match limit {
        Some(limit) => limit.saturating_sub(reserved + RESERVED_FDS) / per_connection.max(1),
        None => UNLIMITED_DERIVED,
    };
    usize::try_from(max.clamp(MIN_DERIVED, UNLIMITED_DERIVED)).unwrap_or(usize::MAX)
}

/// `--max-connections` and the like: a positive count.
pub fn parse_max_connections(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("invalid count {s:?}")),
    }
}

/// `--first-byte-timeout`: a positive duration (`500ms`, `10s`).
pub fn parse_first_byte_timeout(s: &str) -> Result<Duration, String> {
    parse_positive_duration(s)
}

/// A listener's other timeouts and intervals (TLS handshake, certificate reloads): a positive duration.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match crate::model::units::parse_duration(s)? {
        Duration::ZERO => Err("must be more than zero".to_owned()),
        d => Ok(d),
    }
}

/// A listener with the guards of this module.
pub struct Listener {
    tcp: TcpListener,
    connections: Arc<Connections>,
    first_byte_timeout: Duration,
    nodelay: bool,
    /// Written to a refused connection before it is closed.
    refusal: Option<Bytes>,
    backoff: Backoff,
}

impl Listener {
    pub fn new(tcp: TcpListener, connections: Arc<Connections>, first_byte_timeout: Duration) -> Self {
        Self { tcp, connections, first_byte_timeout, nodelay: false, refusal: None, backoff: Backoff::default() }
    }

    /// Sets `TCP_NODELAY` on accepted sockets.
    pub fn nodelay(mut self) -> Self {
        self.nodelay = true;
        self
    }

    /// Writes `response` (see [`http_refusal`]) to a connection refused for the bound, then closes it.
    pub fn refuse_with(mut self, response: Bytes) -> Self {
        self.refusal = Some(response);
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// This listener's first-bytes deadline, for streams it does not see (decrypted TLS).
    pub fn deadline(&self) -> Deadline {
        Deadline { connections: self.connections.clone(), timeout: self.first_byte_timeout }
    }

    /// The next connection admitted under the bound. Refuses (and counts)
    /// those over it, and pauses on accept errors; never fails.
    pub async fn accept(&mut self) -> Connection {
        loop {
            let stream = match self.tcp.accept().await {
                Ok((stream, _)) => stream,
                Err(e) if backoff::is_transient(&e) => continue,
                Err(e) => {
                    self.connections.accept_errors.fetch_add(1, Relaxed);
                    let pause = self.backoff.failed(self.connections.name, &e);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            self.backoff.succeeded();
            let Ok(slot) = self.connections.slots.clone().try_acquire_owned() else {
                self.connections.refused.fetch_add(1, Relaxed);
                refuse(&stream, self.refusal.as_deref());
                continue;
            };
            self.configure(&stream);
            return Connection::new(stream, slot, self.connections.clone(), self.first_byte_timeout);
        }
    }

    /// The admitted connections as a stream (for tonic); it never yields an error.
    pub fn incoming(self) -> impl Stream<Item = Result<Connection, Infallible>> + Send + 'static {
        futures_util::stream::unfold(self, |mut listener| async move {
            let connection = listener.accept().await;
            Some((Ok(connection), listener))
        })
    }

    fn configure(&self, stream: &TcpStream) {
        let socket = socket2::SockRef::from(stream);
        let keepalive = socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL);
        // Best effort: a socket that refuses an option is served all the same.
        let _ = socket.set_tcp_keepalive(&keepalive);
        if self.nodelay {
            let _ = stream.set_nodelay(true);
        }
    }
}

/// A listener's first-bytes deadline, to put on a stream again: on what a
/// TLS handshake yields, so that the first request must follow it within
/// the same timeout (a deadline that passes is counted as the listener's).
#[derive(Debug, Clone)]
pub struct Deadline {
    connections: Arc<Connections>,
    timeout: Duration,
}

impl Deadline {
    /// The deadline starts now.
    pub fn guard<S>(&self, stream: S) -> FirstBytes<S> {
        FirstBytes::new(stream, self.connections.clone(), self.timeout)
    }
}

/// Closes a connection over the bound without waiting on it: what the client
/// already sent is read and dropped (so the close is a FIN, not a reset that
/// could discard the answer), `response` is written if the socket takes it
/// at once, and the write side is shut.
fn refuse(stream: &TcpStream, response: Option<&[u8]>) {
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match stream.try_read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    if let Some(response) = response {
        let _ = stream.try_write(response);
    }
    let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Write);
}

/// `HTTP/1.1 503` with `body`, `Retry-After: 1` and `Connection: close`:
/// what an HTTP listener writes to a connection it refuses.
pub fn http_refusal(content_type: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// One metric: name (after the prefix), type, help, value.
type Series = (&'static str, &'static str, &'static str, fn(&Connections) -> u64);

/// The Prometheus text for `listeners`, metric names under `prefix`
/// (`switchyard`, `switchyard_cp`), labelled `listener`.
pub fn render_metrics(out: &mut String, prefix: &str, listeners: &[Arc<Connections>]) {
    let series: [Series; 5] = [
        ("connections_open", "gauge", "Connections open, by listener.", |c| c.open() as u64),
        ("connections_max", "gauge", "The bound on open connections, by listener.", |c| c.max() as u64),
        (
            "connections_refused_total",
            "counter",
            "Connections refused because the listener's bound was reached.",
            Connections::refused,
        ),
        (
            "connections_timed_out_total",
            "counter",
            "Connections closed because their first bytes did not arrive within the first-byte timeout.",
            Connections::timed_out,
        ),
        (
            "accept_errors_total",
            "counter",
            "Accept errors (out of file descriptors and the like), each followed by a pause.",
            Connections::accept_errors,
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}");
        for c in listeners {
            let _ = writeln!(out, "{prefix}_{name}{{listener=\"{}\"}} {}", c.name(), value(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_bound_leaves_room_and_is_never_tiny() {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let two = derived_max_connections(2, 64) as u64;
        let one = derived_max_connections(1, 64) as u64;
        assert!(two >= MIN_DERIVED && one >= two);
        if let Some(limit) = limit
            && limit > 64 + RESERVED_FDS + 2 * MIN_DERIVED
        {
            assert!(2 * two + 64 + RESERVED_FDS <= limit, "{two} connections of 2 fds fit in {limit}");
        }
    }

    #[test]
    fn flags_take_positive_values_only() {
        assert_eq!(parse_max_connections("500"), Ok(500));
        assert!(parse_max_connections("0").is_err() && parse_max_connections("-1").is_err());
        assert_eq!(parse_first_byte_timeout("200ms"), Ok(Duration::from_millis(200)));
        assert!(parse_first_byte_timeout("0s").is_err() && parse_first_byte_timeout("soon").is_err());
    }

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let r = http_refusal("application/json", "{\"x\":1}");
        let text = std::str::from_utf8(&r).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("\r\ncontent-length: 7\r\n") && text.contains("\r\nconnection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"x\":1}"));
    }

    #[test]
    fn metrics_name_each_listener() {
        let api = Connections::new("api", 10);
        api.refused.fetch_add(3, Relaxed);
        let mut out = String::new();
        render_metrics(&mut out, "switchyard", &[api, Connections::new("admin", 2)]);
        assert!(out.contains("switchyard_connections_open{listener=\"api\"} 0\n"));
        assert!(out.contains("switchyard_connections_max{listener=\"admin\"} 2\n"));
        assert!(out.contains("switchyard_connections_refused_total{listener=\"api\"} 3\n"));
        assert!(out.contains("# TYPE switchyard_connections_timed_out_total counter\n"));
    }
}
