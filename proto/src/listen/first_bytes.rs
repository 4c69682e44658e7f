//! The first-bytes deadline on a stream: reads fail (and the connection is
//! closed by its server) unless enough arrives to tell HTTP/1 from HTTP/2
//! in time. On an accepted TCP stream ([`super::Connection`]) it covers the
//! first request, or a TLS ClientHello; servers that terminate TLS
//! themselves put a second one on the decrypted stream
//! ([`super::Deadline::guard`]), so a client that completes its handshake and
//! then sends nothing is closed too.

use super::Connections;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// `S` until its first bytes arrived within the deadline; then `S` as it is.
pub struct FirstBytes<S> {
    stream: S,
    /// `None` once the first bytes arrived.
    pending: Option<Pending>,
    /// Counts a deadline that passed.
    connections: Arc<Connections>,
}

struct Pending {
    deadline: Pin<Box<Sleep>>,
    sniff: Sniff,
}

impl<S> FirstBytes<S> {
    /// The deadline starts now.
    pub(super) fn new(stream: S, connections: Arc<Connections>, timeout: Duration) -> Self {
        let pending = Some(Pending { deadline: Box::pin(tokio::time::sleep(timeout)), sniff: Sniff::default() });
        Self { stream, pending, connections }
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Whether the deadline still runs.
    pub fn awaiting_first_bytes(&self) -> bool {
        self.pending.is_some()
    }
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

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(pending) = &mut this.pending else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                // End of stream is the reader's to see; nothing to wait for after it.
                if read.is_empty() || pending.sniff.feed(read) {
                    this.pending = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match pending.deadline.as_mut().poll(cx) {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    #[tokio::test(start_paused = true)]
    async fn reads_fail_after_the_deadline_unless_the_first_bytes_came() {
        let connections = Connections::new("api", 4);
        let mut buf = [0u8; 64];
        let (_silent, server) = tokio::io::duplex(64);
        let mut guarded = FirstBytes::new(server, connections.clone(), Duration::from_secs(5));
        let e = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(connections.timed_out(), 1);

        let (mut peer, server) = tokio::io::duplex(64);
        let mut guarded = FirstBytes::new(server, connections.clone(), Duration::from_secs(5));
        peer.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(guarded.read(&mut buf).await.unwrap(), 16);
        assert!(!guarded.awaiting_first_bytes());
        // After the first bytes, silence is the HTTP layer's to time out, not this one's.
        let silent = tokio::time::timeout(Duration::from_secs(60), guarded.read(&mut buf)).await;
        assert!(silent.is_err(), "still waiting for the peer");
        assert_eq!(connections.timed_out(), 1);
    }
}
