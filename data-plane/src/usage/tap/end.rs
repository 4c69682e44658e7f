//! [`End`]: what closes a stream cleanly in each API the tap knows.

use super::super::scan::{member, skip_ws};
use memchr::memmem::Finder;
use std::sync::LazyLock;

static FINISH_REASON: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("\"finish_reason\""));

/// What says, in a stream's API, that the stream is complete: the rule the
/// tap checks a stream against (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `/chat/completions`, `/completions`: `data: [DONE]`, or a choice's
    /// non-null `finish_reason`.
    Chat,
    /// `/responses`: a `response.completed`, `response.incomplete`,
    /// `response.failed` or `error` event.
    Responses,
    /// `/messages` (Anthropic's): a `message_stop` or `error` event.
    Messages,
}

impl End {
    /// The rule for a stream answered on `api_path` (the upstream's path
    /// after `/v1`); `None` for an API the tap does not know.
    pub fn for_path(api_path: &str) -> Option<End> {
        match api_path {
            "/chat/completions" | "/completions" => Some(End::Chat),
            "/responses" => Some(End::Responses),
            "/messages" => Some(End::Messages),
            _ => None,
        }
    }

    /// Whether this event (`name`: its `event:` field; `data`: valid JSON) ends the stream.
    pub(super) fn ends(self, name: Option<&str>, data: &str) -> bool {
        let last: &[&str] = match self {
            End::Chat => return finishes(data),
            End::Responses => &["response.completed", "response.incomplete", "response.failed", "error"],
            End::Messages => &["message_stop", "error"],
        };
        match name {
            Some(name) => last.contains(&name),
            // No `event:` line: the event's `type` says what it is.
            None => member(data, "type").is_some_and(|t| {
                let kind = data[t.value].strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                kind.is_some_and(|kind| last.contains(&kind))
            }),
        }
    }
}

/// Whether a chat chunk has a `finish_reason` that is not `null` (the key's
/// quotes cannot occur unescaped inside a string value).
fn finishes(data: &str) -> bool {
    let b = data.as_bytes();
    FINISH_REASON.find_iter(b).any(|at| {
        let colon = skip_ws(b, at + FINISH_REASON.needle().len());
        b.get(colon) == Some(&b':') && !matches!(b.get(skip_ws(b, colon + 1)), None | Some(b'n'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_markers() {
        assert!(End::Chat.ends(None, r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#));
        assert!(End::Chat.ends(None, r#"{"choices":[{"text":"","finish_reason" : "length"}]}"#));
        assert!(
            !End::Chat
                .ends(None, r#"{"choices":[{"delta":{"content":"\"finish_reason\":\"stop\""},"finish_reason":null}]}"#)
        );
        assert!(!End::Chat.ends(None, r#"{"choices":[]}"#));
        let completed = r#"{"type":"response.completed","response":{"id":"resp_1"}}"#;
        assert!(End::Responses.ends(Some("response.completed"), completed));
        assert!(End::Responses.ends(None, completed));
        assert!(!End::Responses.ends(Some("response.output_text.delta"), r#"{"type":"response.output_text.delta"}"#));
        assert!(!End::Responses.ends(None, r#"{"delta":"response.completed"}"#));
        assert!(End::Messages.ends(Some("message_stop"), r#"{"type":"message_stop"}"#));
        assert!(End::Messages.ends(None, r#"{"type":"error","error":{}}"#));
        assert!(!End::Messages.ends(Some("message_delta"), r#"{"type":"message_delta"}"#));
        assert_eq!(End::for_path("/embeddings"), None);
    }
}
