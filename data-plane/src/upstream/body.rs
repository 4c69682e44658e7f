//! The one body type every upstream request carries, whichever client sends
//! it: nothing, a buffered body in slices, or the client's own body streamed
//! through.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

pub enum OutgoingBody {
    Empty,
    /// A buffered body in slices, with its exact length as the size hint.
    Parts(VecDeque<Bytes>),
    /// The client's body, streamed through unbuffered (uploads).
    Stream(Incoming),
}

impl Body for OutgoingBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            OutgoingBody::Empty => Poll::Ready(None),
            OutgoingBody::Parts(parts) => Poll::Ready(parts.pop_front().map(|b| Ok(Frame::data(b)))),
            OutgoingBody::Stream(incoming) => Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutgoingBody::Empty => true,
            OutgoingBody::Parts(parts) => parts.is_empty(),
            OutgoingBody::Stream(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutgoingBody::Empty => SizeHint::with_exact(0),
            OutgoingBody::Parts(parts) => SizeHint::with_exact(parts.iter().map(|b| b.len() as u64).sum()),
            OutgoingBody::Stream(incoming) => incoming.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn parts_go_out_in_order_with_their_exact_length() {
        let body = OutgoingBody::Parts(VecDeque::from([Bytes::from_static(b"ab"), Bytes::from_static(b"cde")]));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(bytes.as_deref(), Some(&b"abcde"[..]));
        let empty = OutgoingBody::Empty;
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }
}
