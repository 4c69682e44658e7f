//! Reading an upstream answer whole: a JSON answer (to validate it, read its
//! usage and scrub it) under [`MAX_JSON_BODY`] and the body budget, or an
//! error body, cut at [`MAX_ERROR_BODY`].

use super::stream::Upstream;
use crate::budget::{BodyBudget, FREE_BYTES, Reserved};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

/// Upstream error bodies are read up to this size (to classify and scrub them) and cut beyond.
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// A non-streamed JSON answer is read whole up to this size; a larger one is refused (502).
pub const MAX_JSON_BODY: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    Timeout,
    /// The body broke off.
    Broken,
    /// Over [`MAX_JSON_BODY`].
    TooLarge,
    /// The body budget cannot hold it now.
    Budget,
}

/// The whole body within `deadline`, and its share of `budget` (taken as it
/// grows past [`FREE_BYTES`]).
pub async fn read(
    upstream: &mut Upstream,
    deadline: Instant,
    budget: &BodyBudget,
) -> Result<(Bytes, Reserved), ReadError> {
    let mut out = BytesMut::new();
    let mut reserved = None;
    loop {
        match tokio::time::timeout_at(deadline, upstream.next()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(None) => return Ok((out.freeze(), reserved)),
            Ok(Some(Err(_))) => return Err(ReadError::Broken),
            Ok(Some(Ok(chunk))) => {
                let len = out.len() + chunk.len();
                if len > MAX_JSON_BODY {
                    return Err(ReadError::TooLarge);
                }
                if len > FREE_BYTES {
                    budget.reserve(&mut reserved, len).map_err(|_| ReadError::Budget)?;
                }
                if out.is_empty() {
                    out = BytesMut::from(chunk);
                } else {
                    out.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// At most `max` bytes of the body, within `deadline` (`None` when it did not end in time).
pub async fn read_bounded(mut stream: Upstream, deadline: Instant, max: usize) -> Option<Bytes> {
    let mut out = BytesMut::new();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            out.extend_from_slice(&chunk[..chunk.len().min(max - out.len())]);
            if out.len() >= max {
                break;
            }
        }
    };
    tokio::time::timeout_at(deadline, read).await.ok()?;
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Broken;

    fn chunks(n: usize, size: usize) -> Upstream {
        futures_util::stream::iter((0..n).map(move |_| Ok::<_, Broken>(Bytes::from(vec![b' '; size])))).boxed()
    }

    #[tokio::test]
    async fn an_answer_is_held_in_the_budget_and_refused_past_it_or_its_cap() {
        let budget = BodyBudget::new();
        budget.resize(1 << 20);
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let (body, reserved) = read(&mut chunks(4, 100 * 1024), far, &budget).await.unwrap();
        assert_eq!(body.len(), 400 * 1024);
        assert_eq!(budget.usage().0, 400 * 1024);
        drop(reserved);
        let (_, reserved) = read(&mut chunks(1, 1024), far, &budget).await.unwrap();
        assert!(reserved.is_none(), "a small answer needs no reservation");
        assert_eq!(read(&mut chunks(11, 100 * 1024), far, &budget).await.unwrap_err(), ReadError::Budget);
        assert_eq!(budget.usage().0, 0);
        budget.resize(1 << 30);
        let over = MAX_JSON_BODY / (1 << 20) + 1;
        assert_eq!(read(&mut chunks(over, 1 << 20), far, &budget).await.unwrap_err(), ReadError::TooLarge);
    }
}
