//! The little of a JSON body routing needs (`model`, `stream`), read without
//! building a tree, and the splice that replaces `model` in the raw bytes so
//! everything else (a 10 MB image, fields we never heard of) passes untouched.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::ops::Range;

#[derive(Debug, PartialEq)]
pub struct Probe {
    /// The model's value and where its JSON string sits in the body.
    pub model: Option<(String, Range<usize>)>,
    pub stream: bool,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    stream: Option<bool>,
}

/// Validates the whole body as a JSON object and finds `model` and `stream`.
pub fn probe(body: &[u8]) -> Result<Probe, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    if !text.trim_start().starts_with('{') {
        return Err("expected a JSON object".into());
    }
    let top: Top<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let model = match top.model {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => {
            let value: String = serde_json::from_str(raw.get()).map_err(|_| "'model' must be a string".to_owned())?;
            // `raw` borrows from `text`: its offset locates the value in the body.
            let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            Some((value, start..start + raw.get().len()))
        }
    };
    Ok(Probe { model, stream: top.stream.unwrap_or(false) })
}

/// The body with `span` replaced by `model` as a JSON string: three slices of
/// the original, nothing copied but the new value. Their total length is the
/// new Content-Length.
pub fn splice(body: &Bytes, span: Range<usize>, model: &str) -> [Bytes; 3] {
    [body.slice(..span.start), Bytes::from(json_string(model)), body.slice(span.end..)]
}

/// The body (a JSON object, as [`probe`] checked) with `"model"` added as its
/// first member, for requests that named none and got the default model.
pub fn insert_model(body: &Bytes, model: &str) -> Vec<Bytes> {
    let open = body.iter().position(|b| *b == b'{').unwrap_or(0);
    let empty = body[open + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let member = format!("\"model\":{}{}", json_string(model), if empty { "" } else { "," });
    vec![body.slice(..=open), Bytes::from(member), body.slice(open + 1..)]
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(parts: &[Bytes; 3]) -> String {
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
        assert_eq!(probe(nested).unwrap(), Probe { model: None, stream: false });
    }

    #[test]
    fn splice_changes_only_the_model() {
        let body = Bytes::from_static(br#"{"model":"smart","x":[1,2,{"model":"keep"}],"unknown_field":"\u00e9"}"#);
        let (_, span) = probe(&body).unwrap().model.unwrap();
        let out = joined(&splice(&body, span, "openai/gpt-4o-mini"));
        assert_eq!(out, r#"{"model":"openai/gpt-4o-mini","x":[1,2,{"model":"keep"}],"unknown_field":"\u00e9"}"#);
        let escaped = Bytes::from_static(br#"{"model":"a\"b"}"#);
        let (value, span) = probe(&escaped).unwrap().model.unwrap();
        assert_eq!(value, "a\"b");
        assert_eq!(joined(&splice(&escaped, span, "q\"x")), r#"{"model":"q\"x"}"#);
    }

    #[test]
    fn insert_adds_the_model_first() {
        let joined =
            |parts: Vec<Bytes>| parts.iter().map(|p| String::from_utf8(p.to_vec()).unwrap()).collect::<String>();
        assert_eq!(joined(insert_model(&Bytes::from_static(b" {\"a\":1}"), "m")), r#" {"model":"m","a":1}"#);
        assert_eq!(joined(insert_model(&Bytes::from_static(b"{ }"), "m")), r#"{"model":"m" }"#);
    }

    #[test]
    fn bad_bodies() {
        assert!(probe(b"{").is_err());
        assert!(probe(b"[1]").unwrap_err().contains("object"));
        assert!(probe(br#"{"model":1}"#).unwrap_err().contains("string"));
        assert!(probe(br#"{"model":"a","model":"b"}"#).unwrap_err().contains("duplicate"));
        assert!(probe(br#"{"stream":"yes"}"#).is_err());
        assert!(probe(b"\xff").is_err());
        assert_eq!(probe(br#"{"model":null}"#).unwrap().model, None);
    }
}
