//! The little of a JSON body routing and accounting need (`model`, `stream`,
//! `stream_options`), read without building a tree, and the edits that
//! replace `model` or ask for stream usage in the raw bytes, so everything
//! else (a 10 MB image, fields we never heard of) passes untouched.

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::ops::Range;

#[derive(Debug, PartialEq)]
pub struct Probe {
    /// The model's value and where its JSON string sits in the body
    /// (`null` reads as `""`, which means the default model).
    pub model: Option<(String, Range<usize>)>,
    pub stream: bool,
    /// The edit that makes a stream's body ask for stream usage
    /// (`stream_options.include_usage: true`); `None` when it is no stream,
    /// asks already, or has a `stream_options` we cannot amend.
    pub usage_edit: Option<Edit>,
    /// Where the body's top-level object opens.
    pub open: usize,
}

/// Replace `span` of the body with `text` (an empty span inserts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Range<usize>,
    pub text: Bytes,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    model: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(borrow, default, deserialize_with = "present")]
    stream_options: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamOptions<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    include_usage: Option<&'a RawValue>,
}

/// `Some` for any value present, `null` included (unlike `Option`'s own).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Validates the whole body as a JSON object and finds `model`, `stream` and
/// `stream_options`.
pub fn probe(body: &[u8]) -> Result<Probe, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let open = text.len() - text.trim_start().len();
    if !text[open..].starts_with('{') {
        return Err("expected a JSON object".into());
    }
    let top: Top<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // A RawValue borrows from `text`: its offset locates it in the body.
    let span = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + raw.get().len()
    };
    let model = match top.model {
        None => None,
        // Read as an empty name (the default model), so that the null is
        // replaced: inserting a second `model` would leave it to the upstream.
        Some(raw) if raw.get() == "null" => Some((String::new(), span(raw))),
        Some(raw) => {
            let value: String = serde_json::from_str(raw.get()).map_err(|_| "'model' must be a string".to_owned())?;
            Some((value, span(raw)))
        }
    };
    let usage_edit = match top.stream_options {
        None => Some(Edit {
            span: open + 1..open + 1,
            text: Bytes::from_static(br#""stream_options":{"include_usage":true},"#),
        }),
        Some(raw) if raw.get() == "null" => {
            Some(Edit { span: span(raw), text: Bytes::from_static(br#"{"include_usage":true}"#) })
        }
        Some(raw) if raw.get().starts_with('{') => {
            let options: StreamOptions<'_> = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            match options.include_usage.map(|v| (v, v.get())) {
                Some((_, "true")) => None,
                Some((v, "false" | "null")) => Some(Edit { span: span(v), text: Bytes::from_static(b"true") }),
                Some(_) => None,
                None => {
                    let at = span(raw).start + 1;
                    let empty = raw.get()[1..].trim_start().starts_with('}');
                    let text: &'static [u8] =
                        if empty { br#""include_usage":true"# } else { br#""include_usage":true,"# };
                    Some(Edit { span: at..at, text: Bytes::from_static(text) })
                }
            }
        }
        Some(_) => None,
    };
    let stream = top.stream.unwrap_or(false);
    // Only a stream: its body has a `stream` member, so the inserts' commas are right.
    Ok(Probe { model, stream, usage_edit: usage_edit.filter(|_| stream), open })
}

/// `"model":"…"` for a body that names no model: an edit inserting it first
/// in the object that opens at `open`.
pub fn insert_model(body: &[u8], open: usize, model: &str) -> Edit {
    let empty = body[open + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let member = format!("\"model\":{}{}", json_string(model), if empty { "" } else { "," });
    Edit { span: open + 1..open + 1, text: Bytes::from(member) }
}

/// The model's value at `span` replaced by `model`.
pub fn replace_model(span: Range<usize>, model: &str) -> Edit {
    Edit { span, text: Bytes::from(json_string(model)) }
}

/// The body with `edits` applied, as slices of the original and the new
/// text: nothing is copied but the new values. `edits` must not overlap;
/// at one position, they apply in their order. The total length of the parts
/// is the new Content-Length.
pub fn apply(body: &Bytes, mut edits: Vec<Edit>) -> Vec<Bytes> {
    edits.sort_by_key(|e| e.span.start);
    let mut parts = Vec::with_capacity(edits.len() * 2 + 1);
    let mut at = 0;
    for edit in edits {
        if edit.span.start > at {
            parts.push(body.slice(at..edit.span.start));
        }
        parts.push(edit.text);
        at = at.max(edit.span.end);
    }
    if at < body.len() {
        parts.push(body.slice(at..));
    }
    parts
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(parts: &[Bytes]) -> String {
        parts.iter().map(|p| String::from_utf8(p.to_vec()).unwrap()).collect()
    }

    #[test]
    fn finds_model_and_stream() {
        let body = br#"{"messages":[{"role":"user","content":"{\"model\":\"x\"}"}], "model" : "smart", "stream":true}"#;
        let p = probe(body).unwrap();
        let (model, span) = p.model.clone().unwrap();
        assert_eq!(model, "smart");
        assert_eq!(&body[span], br#""smart""#);
        assert!(p.stream);
        let nested = br#"{"a":{"model":"inner"},"stream":false}"#;
        let p = probe(nested).unwrap();
        assert_eq!((p.model, p.stream), (None, false));
    }

    #[test]
    fn replacing_changes_only_the_model() {
        let body = Bytes::from_static(br#"{"model":"smart","x":[1,2,{"model":"keep"}],"unknown_field":"\u00e9"}"#);
        let (_, span) = probe(&body).unwrap().model.unwrap();
        let out = joined(&apply(&body, vec![replace_model(span, "openai/gpt-4o-mini")]));
        assert_eq!(out, r#"{"model":"openai/gpt-4o-mini","x":[1,2,{"model":"keep"}],"unknown_field":"\u00e9"}"#);
        let escaped = Bytes::from_static(br#"{"model":"a\"b"}"#);
        let (value, span) = probe(&escaped).unwrap().model.unwrap();
        assert_eq!(value, "a\"b");
        assert_eq!(joined(&apply(&escaped, vec![replace_model(span, "q\"x")])), r#"{"model":"q\"x"}"#);
    }

    #[test]
    fn insert_adds_the_model_first() {
        let body = Bytes::from_static(b" {\"a\":1}");
        assert_eq!(joined(&apply(&body, vec![insert_model(&body, 1, "m")])), r#" {"model":"m","a":1}"#);
        let empty = Bytes::from_static(b"{ }");
        assert_eq!(joined(&apply(&empty, vec![insert_model(&empty, 0, "m")])), r#"{"model":"m" }"#);
    }

    /// The body with the model replaced and stream usage asked for.
    fn injected(body: &'static str) -> Option<String> {
        let body = Bytes::from_static(body.as_bytes());
        let p = probe(&body).unwrap();
        let mut edits = vec![p.usage_edit?];
        match p.model {
            Some((_, span)) => edits.push(replace_model(span, "up")),
            None => edits.insert(0, insert_model(&body, p.open, "up")),
        }
        let out = joined(&apply(&body, edits));
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["stream_options"]["include_usage"], true, "{out}");
        Some(out)
    }

    #[test]
    fn stream_usage_is_asked_for_by_splicing() {
        assert_eq!(
            injected(r#"{"model":"m","stream":true}"#).unwrap(),
            r#"{"stream_options":{"include_usage":true},"model":"up","stream":true}"#
        );
        assert_eq!(
            injected(r#"{"stream":true}"#).unwrap(),
            r#"{"model":"up","stream_options":{"include_usage":true},"stream":true}"#
        );
        assert_eq!(
            injected(r#"{"model":"m","stream":true,"stream_options":null}"#).unwrap(),
            r#"{"model":"up","stream":true,"stream_options":{"include_usage":true}}"#
        );
        assert_eq!(
            injected(r#"{"model":"m","stream":true,"stream_options":{ }}"#).unwrap(),
            r#"{"model":"up","stream":true,"stream_options":{"include_usage":true }}"#
        );
        assert_eq!(
            injected(r#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":true}}"#).unwrap(),
            r#"{"model":"up","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#
        );
        assert_eq!(
            injected(r#"{"model":"m","stream":true,"stream_options": {"include_usage" : false}}"#).unwrap(),
            r#"{"model":"up","stream":true,"stream_options": {"include_usage" : true}}"#
        );
        assert_eq!(
            injected(r#"{"model":"m","stream":true,"stream_options":{"include_usage":null}}"#).unwrap(),
            r#"{"model":"up","stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn stream_usage_already_asked_or_unfixable() {
        assert_eq!(injected(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#), None);
        assert_eq!(injected(r#"{"model":"m","stream":true,"stream_options":"yes"}"#), None);
        assert_eq!(injected(r#"{"model":"m","stream":true,"stream_options":{"include_usage":1}}"#), None);
    }

    #[test]
    fn bad_bodies() {
        assert!(probe(b"{").is_err());
        assert!(probe(b"[1]").unwrap_err().contains("object"));
        assert!(probe(br#"{"model":1}"#).unwrap_err().contains("string"));
        assert!(probe(br#"{"model":"a","model":"b"}"#).unwrap_err().contains("duplicate"));
        assert!(probe(br#"{"stream":"yes"}"#).is_err());
        assert!(probe(b"\xff").is_err());
        assert!(probe(br#"{"stream_options":{"include_usage":true,"include_usage":true}}"#).is_err());
    }

    /// Found by fuzz/json_probe: `"model": null` read as no model, so a
    /// second `model` was inserted before it (and upstreams take the last).
    #[test]
    fn a_null_model_is_replaced_not_doubled() {
        let body = Bytes::from_static(br#"{"messages":[],"model":null}"#);
        let p = probe(&body).unwrap();
        let (model, span) = p.model.clone().unwrap();
        assert_eq!(model, "", "null reads as an empty name: the default model");
        assert_eq!(&body[span.clone()], b"null");
        assert_eq!(joined(&apply(&body, vec![replace_model(span, "m")])), r#"{"messages":[],"model":"m"}"#);
    }

    /// Found by fuzz/json_probe: the usage edit of an empty object left a
    /// trailing comma. Only a stream asks for usage, and a stream's body is
    /// never empty.
    #[test]
    fn only_a_stream_gets_a_usage_edit() {
        for body in ["{}", " { }", r#"{"stream":false}"#, r#"{"model":"m"}"#] {
            assert_eq!(probe(body.as_bytes()).unwrap().usage_edit, None, "{body}");
        }
        assert!(probe(br#"{"stream":true}"#).unwrap().usage_edit.is_some());
    }
}
