//! Reading a request body that must be buffered (to route on its `model`, and
//! to resend it): bounded by `limits.max_body`, by the global body budget,
//! and by a timeout, so a slow or huge client cannot hold memory or a slot.

use crate::error::ProxyError;
use crate::state::Shared;
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// A buffered body and its share of the body budget, released when the last
/// clone is dropped (the usage record keeps one for the prompt estimate).
pub use crate::budget::Held as Buffered;

pub async fn read(
    shared: &Shared,
    body: Incoming,
    content_length: Option<u64>,
    max: u64,
) -> Result<Buffered, ProxyError> {
    if content_length.is_some_and(|n| n > max) {
        return Err(ProxyError::BodyTooLarge(max));
    }
    let read = async {
        let mut reserved = None;
        let mut buf = BytesMut::new();
        if let Some(n) = content_length {
            let n = usize::try_from(n).map_err(|_| ProxyError::BodyTooLarge(max))?;
            shared.bodies.reserve(&mut reserved, n).map_err(|_| ProxyError::BufferBudget)?;
            buf.reserve(n);
        }
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ProxyError::BadRequest("The request body was cut off.".into()))?;
            let Ok(data) = frame.into_data() else { continue };
            if (buf.len() + data.len()) as u64 > max {
                return Err(ProxyError::BodyTooLarge(max));
            }
            shared.bodies.reserve(&mut reserved, buf.len() + data.len()).map_err(|_| ProxyError::BufferBudget)?;
            buf.extend_from_slice(&data);
        }
        Ok(Buffered::new(buf.freeze(), reserved))
    };
    tokio::time::timeout(shared.body_timeout, read).await.map_err(|_| ProxyError::BodyTimeout)?
}
