//! The request body, kept so each attempt can send it again: the client's
//! bytes with the model spliced in for the endpoint at hand, or, for uploads,
//! the client's stream itself (which can be sent only once).

use super::json;
use super::request::Buffered;
use bytes::Bytes;
use hyper::body::Incoming;
use std::ops::Range;

/// What one attempt sends.
pub enum OutBody {
    Empty,
    /// A buffered body, possibly spliced: sent with an exact Content-Length.
    Parts(Vec<Bytes>),
    /// The client's body, streamed through unbuffered (uploads).
    Stream(Incoming),
}

pub enum Payload {
    Empty,
    /// A JSON body and where its `model` is (`None`: it names none).
    Json {
        body: Buffered,
        model: Option<Range<usize>>,
        insert_model: bool,
    },
    Stream(Option<Incoming>),
}

impl Payload {
    /// The body for an endpoint whose upstream model is `model`; `None` once
    /// a streamed body has been sent (it cannot be resent).
    pub fn for_endpoint(&mut self, model: &str) -> Option<OutBody> {
        match self {
            Payload::Empty => Some(OutBody::Empty),
            Payload::Json { body, model: Some(span), .. } => {
                let bytes = &body.bytes;
                if bytes[span.clone()].len() == model.len() + 2
                    && &bytes[span.start + 1..span.end - 1] == model.as_bytes()
                {
                    Some(OutBody::Parts(vec![bytes.clone()]))
                } else {
                    Some(OutBody::Parts(json::splice(bytes, span.clone(), model).to_vec()))
                }
            }
            Payload::Json { body, model: None, insert_model: true } => {
                Some(OutBody::Parts(json::insert_model(&body.bytes, model)))
            }
            Payload::Json { body, model: None, insert_model: false } => Some(OutBody::Parts(vec![body.bytes.clone()])),
            Payload::Stream(incoming) => incoming.take().map(OutBody::Stream),
        }
    }

    /// Whether a failed attempt can be followed by another.
    pub fn resendable(&self) -> bool {
        !matches!(self, Payload::Stream(_))
    }
}
