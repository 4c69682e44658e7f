//! The request body, kept so each attempt can send it again: the client's
//! bytes with the model spliced in for the endpoint at hand (and, for a
//! provider with `stream_usage: inject`, stream usage asked for), or, for
//! uploads, the client's stream itself (which can be sent only once).

use super::json::{self, Edit};
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
        /// Where the top-level object opens.
        open: usize,
        /// How to ask for stream usage (`None`: the client asked, or the body is not a stream).
        usage_edit: Option<Edit>,
    },
    Stream(Option<Incoming>),
}

impl Payload {
    /// The body for an endpoint whose upstream model is `model`, asking for
    /// stream usage when `inject` (and the client did not); `None` once a
    /// streamed body has been sent (it cannot be resent). The flag says
    /// whether the usage request was injected.
    pub fn for_endpoint(&mut self, model: &str, inject: bool) -> Option<(OutBody, bool)> {
        match self {
            Payload::Empty => Some((OutBody::Empty, false)),
            Payload::Json { body, model: span, insert_model, open, usage_edit } => {
                let bytes = &body.bytes;
                let mut edits = Vec::new();
                match span {
                    Some(span)
                        if !(bytes[span.clone()].len() == model.len() + 2
                            && &bytes[span.start + 1..span.end - 1] == model.as_bytes()) =>
                    {
                        edits.push(json::replace_model(span.clone(), model));
                    }
                    Some(_) => {}
                    None if *insert_model => edits.push(json::insert_model(bytes, *open, model)),
                    None => {}
                }
                let injected = match usage_edit {
                    Some(edit) if inject => {
                        edits.push(edit.clone());
                        true
                    }
                    _ => false,
                };
                let parts = if edits.is_empty() { vec![bytes.clone()] } else { json::apply(bytes, edits) };
                Some((OutBody::Parts(parts), injected))
            }
            Payload::Stream(incoming) => incoming.take().map(|b| (OutBody::Stream(b), false)),
        }
    }

    /// Whether a failed attempt can be followed by another.
    pub fn resendable(&self) -> bool {
        !matches!(self, Payload::Stream(_))
    }
}
