//! The account's key masked in everything that comes from an upstream (an
//! upstream that echoes request headers would otherwise hand the gateway's
//! `Bearer sk-...` to the client): error bodies, JSON answers, and streams,
//! where the key may be split across chunks.
//!
//! Cost on the hot path: one `memmem` search per chunk and a `memchr` for
//! the key's first byte over the chunk's last `key length - 1` bytes; a chunk
//! that neither contains the key nor ends with the start of it passes on
//! untouched, without a copy. Only a chunk ending with the start of the key
//! holds that tail back (it is not the end of an SSE event: no event waits).

use super::{Broken, Upstream};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use memchr::memmem::Finder;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the key is replaced with.
pub const REDACTED: &[u8] = b"[redacted]";
/// Shorter keys are not searched for (they would match ordinary text).
const MIN_SECRET: usize = 4;

/// What to look for: an account's key, its searcher built once per snapshot
/// (not per request). Keys shorter than [`MIN_SECRET`] are not searched for.
#[derive(Clone)]
pub struct Secret(Option<Arc<Finder<'static>>>);

impl Secret {
    pub fn new(secret: &str) -> Self {
        Self((secret.len() >= MIN_SECRET).then(|| Arc::new(Finder::new(secret.as_bytes()).into_owned())))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scrub::Secret(<redacted>)")
    }
}

/// `body` with every occurrence of `secret` masked.
pub fn bytes(body: Bytes, secret: &Secret) -> Bytes {
    let Some(finder) = &secret.0 else { return body };
    if finder.find(&body).is_none() {
        return body;
    }
    let mut out = BytesMut::with_capacity(body.len());
    let at = mask(finder, &body, &mut out);
    out.extend_from_slice(&body[at..]);
    out.freeze()
}

/// Appends `data` to `out` up to the end of the last occurrence of the
/// secret, each one masked; returns where that end is.
fn mask(finder: &Finder<'_>, data: &[u8], out: &mut BytesMut) -> usize {
    let mut at = 0;
    for found in finder.find_iter(data) {
        out.extend_from_slice(&data[at..found]);
        out.extend_from_slice(REDACTED);
        at = found + finder.needle().len();
    }
    at
}

/// `upstream` with every occurrence of `secret` masked, across chunk boundaries too.
pub fn stream(upstream: Upstream, secret: &Secret) -> Upstream {
    match Scrubber::new(secret) {
        Some(scrubber) => Box::pin(Scrubbed { upstream, scrubber, ended: false }),
        None => upstream,
    }
}

/// Masks a secret in a byte stream fed chunk by chunk.
pub struct Scrubber {
    finder: Arc<Finder<'static>>,
    /// The end of the last chunk, held back: the start of the secret.
    carry: Vec<u8>,
}

impl Scrubber {
    pub fn new(secret: &Secret) -> Option<Self> {
        secret.0.clone().map(|finder| Self { finder, carry: Vec::new() })
    }

    /// `chunk` with the secret masked, less a tail that may be the start of
    /// it (kept for the next chunk).
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        let needle = self.finder.needle();
        if self.carry.is_empty() && self.finder.find(&chunk).is_none() {
            let hold = partial_tail(&chunk, needle);
            if hold > 0 {
                self.carry.extend_from_slice(&chunk[chunk.len() - hold..]);
            }
            return chunk.slice(..chunk.len() - hold);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(&chunk);
        let mut out = BytesMut::with_capacity(data.len());
        let at = mask(&self.finder, &data, &mut out);
        let keep = data.len() - partial_tail(&data[at..], needle);
        out.extend_from_slice(&data[at..keep]);
        data.drain(..keep);
        self.carry = data;
        out.freeze()
    }

    /// What is still held back, at the end of the stream (it was not the secret).
    pub fn finish(&mut self) -> Option<Bytes> {
        (!self.carry.is_empty()).then(|| Bytes::from(std::mem::take(&mut self.carry)))
    }
}

/// The length of the longest proper prefix of `needle` that `hay` ends with.
fn partial_tail(hay: &[u8], needle: &[u8]) -> usize {
    let Some(&first) = needle.first() else { return 0 };
    let start = hay.len().saturating_sub(needle.len() - 1);
    // The earliest candidate is the longest.
    memchr::memchr_iter(first, &hay[start..])
        .map(|i| &hay[start + i..])
        .find(|tail| needle.starts_with(tail))
        .map_or(0, <[u8]>::len)
}

struct Scrubbed {
    upstream: Upstream,
    scrubber: Scrubber,
    ended: bool,
}

impl Stream for Scrubbed {
    type Item = Result<Bytes, Broken>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let out = this.scrubber.push(chunk);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Poll::Ready(Some(Err(broken))) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(broken)));
                }
                Poll::Ready(None) => {
                    this.ended = true;
                    return Poll::Ready(this.scrubber.finish().map(Ok));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const KEY: &str = "sk-secret-123";

    fn key() -> Secret {
        Secret::new(KEY)
    }

    #[test]
    fn a_body_has_every_occurrence_masked() {
        let body = Bytes::from_static(b"{\"error\":\"bad key sk-secret-123 given\",\"h\":\"Bearer sk-secret-123\"}");
        assert_eq!(
            bytes(body.clone(), &key()),
            Bytes::from_static(b"{\"error\":\"bad key [redacted] given\",\"h\":\"Bearer [redacted]\"}")
        );
        assert_eq!(bytes(body.clone(), &Secret::new("other-key")), body);
        let clean = Bytes::from_static(b"{\"a\":\"sk-secret\"}");
        assert_eq!(bytes(clean.clone(), &key()).as_ptr(), clean.as_ptr(), "untouched, not copied");
    }

    #[tokio::test]
    async fn a_key_split_anywhere_across_chunks_is_masked() {
        let text = "data: {\"echo\":\"Bearer sk-secret-123\"}\n\ndata: sk-secret-12 sk-sk-secret-123s\n\n";
        let expected = text.replace(KEY, "[redacted]");
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let chunks = [&text[..a], &text[a..b], &text[b..]].map(|s| Ok(Bytes::copy_from_slice(s.as_bytes())));
                let out: Vec<_> = stream(futures_util::stream::iter(chunks).boxed(), &key()).collect().await;
                let joined: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
                assert_eq!(String::from_utf8(joined).unwrap(), expected, "split at {a}, {b}");
            }
        }
    }

    #[test]
    fn only_a_tail_that_starts_the_key_is_held_back() {
        let mut s = Scrubber::new(&key()).unwrap();
        assert_eq!(&s.push(Bytes::from_static(b"data: x\n\n"))[..], b"data: x\n\n");
        assert_eq!(&s.push(Bytes::from_static(b"Bearer sk-se"))[..], b"Bearer ");
        assert_eq!(&s.push(Bytes::from_static(b"ssion"))[..], b"sk-session");
        assert_eq!(s.finish(), None);
        assert_eq!(&s.push(Bytes::from_static(b"end sk"))[..], b"end ");
        assert_eq!(s.finish(), Some(Bytes::from_static(b"sk")));
    }
}
