//! One accepted connection: the TCP stream, its slot in the listener's
//! bound (given back when the connection is dropped), and the first-bytes
//! deadline, which closes it unless it sends enough to tell HTTP/1 from
//! HTTP/2 in time.

use super::Connections;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub struct Connection {
    stream: TcpStream,
    /// `None` once the first bytes arrived.
    first_bytes: Option<FirstBytes>,
    connections: Arc<Connections>,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    pub(super) fn new(
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        connections: Arc<Connections>,
        timeout: Duration,
    ) -> Self {
        let first_bytes = Some(FirstBytes { deadline: Box::pin(tokio::time::sleep(timeout)), sniff: Sniff::default() });
        Self { stream, first_bytes, connections, _slot: slot }
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.stream.peer_addr().ok())
            .field("awaiting_first_bytes", &self.first_bytes.is_some())
            .finish()
    }
}

struct FirstBytes {
    deadline: Pin<Box<Sleep>>,
    sniff: Sniff,
}

/// Whether the bytes so far are enough for the HTTP/1-vs-HTTP/2 sniff: the
/// whole 24-byte HTTP/2 preface (or 24 bytes of anything, such as a TLS
/// ClientHello), or a complete line that is not the start of the preface
/// (an HTTP/1 request line). A partial preface is not enough.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sniff {
    seen: usize,
    /// The bytes so far differ from the preface's start.
    not_preface: bool,
    complete: bool,
}

impl Sniff {
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.complete {
                break;
            }
            if !self.not_preface && H2_PREFACE.get(self.seen) != Some(&b) {
                self.not_preface = true;
            }
            self.seen += 1;
            self.complete = self.seen >= H2_PREFACE.len() || (self.not_preface && b == b'\n');
        }
        self.complete
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(first) = &mut this.first_bytes else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                // End of stream is the reader's to see; nothing to wait for after it.
                if read.is_empty() || first.sniff.feed(read) {
                    this.first_bytes = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match first.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.connections.timed_out.fetch_add(1, Relaxed);
                    // Every later read fails too (the deadline stays expired): the server closes the connection.
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request within the first-byte timeout",
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// tonic's `remote_addr()` and TLS peer certificates work as on a bare `TcpStream`.
impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::Connected::connect_info(&self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(chunks: &[&[u8]]) -> bool {
        let mut sniff = Sniff::default();
        chunks.iter().any(|c| sniff.feed(c))
    }

    #[test]
    fn the_whole_h2_preface_is_enough_and_a_partial_one_is_not() {
        assert!(complete(&[H2_PREFACE]));
        assert!(complete(&[&H2_PREFACE[..10], &H2_PREFACE[10..]]));
        // The preface has a line break at byte 16: a line is not enough while it matches the preface.
        assert!(!complete(&[&H2_PREFACE[..16]]));
        assert!(!complete(&[&H2_PREFACE[..23]]));
    }

    #[test]
    fn an_http1_request_line_is_enough_and_half_a_line_is_not() {
        assert!(complete(&[b"GET / HTTP/1.1\r\n"]));
        assert!(complete(&[b"GET /v1/mo", b"dels HTTP/1.1\r\n"]));
        assert!(!complete(&[b"GET /v1/models HTTP/1"]));
        // A "line" that starts like the preface but leaves it.
        assert!(complete(&[b"PRX\n"]));
    }

    #[test]
    fn twenty_four_bytes_of_anything_are_enough() {
        assert!(complete(&[&[0x16; 24]]));
        assert!(!complete(&[&[0x16; 23]]));
    }
}
