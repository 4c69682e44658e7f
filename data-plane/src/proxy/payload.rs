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

/// A JSON body kept for resending, and where its `model` is.
pub struct JsonBody {
    pub body: Buffered,
    /// Where the `model` value is (`None`: the body names none).
    pub model: Option<Range<usize>>,
    /// Write a `model` in when the body names none.
    pub insert_model: bool,
    /// Where the top-level object opens.
    pub open: usize,
    /// How to ask for stream usage (`None`: the client asked, or the body is not a stream).
    pub usage_edit: Option<Edit>,
}

pub enum Payload {
    Empty,
    Json(JsonBody),
    /// A client API other than chat completions ([`crate::ingress`]): the
    /// client's body for providers that speak that API, and its chat
    /// translation for the others (`Err`: why it has none).
    Ingress {
        native: JsonBody,
        chat: Result<JsonBody, String>,
    },
    Stream(Option<Incoming>),
}

impl JsonBody {
    /// The bytes to send for `model`: the model spliced in, and stream usage
    /// asked for when `inject`; the flag says whether it was.
    fn for_model(&self, model: &str, inject: bool) -> (OutBody, bool) {
        let bytes = &self.body.bytes;
        let mut edits = Vec::new();
        match &self.model {
            Some(span)
                if !(bytes[span.clone()].len() == model.len() + 2
                    && &bytes[span.start + 1..span.end - 1] == model.as_bytes()) =>
            {
                edits.push(json::replace_model(span.clone(), model));
            }
            Some(_) => {}
            None if self.insert_model => edits.push(json::insert_model(bytes, self.open, model)),
            None => {}
        }
        let injected = match &self.usage_edit {
            Some(edit) if inject => {
                edits.push(edit.clone());
                true
            }
            _ => false,
        };
        let parts = if edits.is_empty() { vec![bytes.clone()] } else { json::apply(bytes, edits) };
        (OutBody::Parts(parts), injected)
    }
}

impl Payload {
    /// The body for an endpoint whose upstream model is `model` (`native`: it
    /// speaks the client's API), asking for stream usage when `inject` (and
    /// the client did not); `None` once a streamed body has been sent (it
    /// cannot be resent). The flag says
    /// whether the usage request was injected.
    pub fn for_endpoint(&mut self, model: &str, inject: bool, native: bool) -> Option<(OutBody, bool)> {
        match self {
            Payload::Empty => Some((OutBody::Empty, false)),
            Payload::Json(json) => Some(json.for_model(model, inject)),
            Payload::Ingress { native: body, .. } if native => Some(body.for_model(model, false)),
            Payload::Ingress { chat, .. } => chat.as_ref().ok().map(|chat| chat.for_model(model, false)),
            Payload::Stream(incoming) => incoming.take().map(|b| (OutBody::Stream(b), false)),
        }
    }

    /// Whether a failed attempt can be followed by another.
    pub fn resendable(&self) -> bool {
        !matches!(self, Payload::Stream(_))
    }
}
