//! The model-field extractor (`proxy/json.rs`): on valid JSON its `model`,
//! `stream` and stream-usage edit agree with serde_json's reading of the body
//! (duplicates and wrong types refused), the model's span covers exactly its
//! value, and the body with the model replaced (or inserted) and usage asked
//! for is JSON with exactly one `model`, that model, and every other member
//! untouched.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_fuzz::Members;
use switchyard_proxy::fuzzing::{apply, insert_model, probe, replace_model};

/// The name spliced in: one that needs escaping.
const SPLICED: &str = "up/\"mod\\el\"\u{1}é";

/// What a reading of the whole body says `probe` must find.
struct Expected {
    model: Option<String>,
    stream: bool,
    /// The `include_usage` edit is needed (only a stream gets one).
    usage_edit: bool,
}

fn expected(top: &Members<'_>) -> Option<Expected> {
    if ["model", "stream", "stream_options"].iter().any(|name| top.count(name) > 1) {
        return None; // duplicate field
    }
    let value = |name: &str| top.get(name).map(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    let model = match value("model") {
        None => None,
        // An empty name (the default model), so that the null is replaced.
        Some(Some(Value::Null)) => Some(String::new()),
        Some(Some(Value::String(s))) => Some(s),
        Some(_) => return None,
    };
    let stream = match value("stream") {
        None | Some(Some(Value::Null)) => false,
        Some(Some(Value::Bool(b))) => b,
        Some(_) => return None,
    };
    let usage_edit = match top.get("stream_options") {
        _ if !stream => false,
        None => true,
        Some(raw) if raw.get() == "null" => true,
        Some(raw) if raw.get().starts_with('{') => {
            let options = Members::parse(raw.get())?;
            if options.count("include_usage") > 1 {
                return None;
            }
            match options.get("include_usage").map(|v| v.get()) {
                None | Some("false" | "null") => true,
                Some(_) => false,
            }
        }
        Some(_) => false,
    };
    Some(Expected { model, stream, usage_edit })
}

fuzz_target!(|data: &[u8]| {
    let got = probe(data);
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(got.is_err(), "a body that is not UTF-8 is refused");
        return;
    };
    let Some(top) = Members::parse(text) else {
        assert!(got.is_err(), "probe accepted what serde_json refuses as a JSON object: {text:?}");
        return;
    };
    // serde_json reads escapes only where it unescapes: a lone surrogate in a
    // value probe skips is JSON enough for probe (and the upstream decides).
    if serde_json::from_str::<Value>(text).is_err() {
        return;
    }
    let Some(want) = expected(&top) else {
        assert!(got.is_err(), "probe accepted a duplicate or mistyped field: {text:?}");
        return;
    };
    let p = got.unwrap_or_else(|e| panic!("probe refused a good body ({e}): {text:?}"));
    assert_eq!(p.stream, want.stream);
    assert_eq!(&text[p.open..p.open + 1], "{");
    assert!(text[..p.open].bytes().all(|b| b.is_ascii_whitespace()), "only JSON whitespace before the object");
    match (&p.model, &want.model) {
        (Some((model, span)), Some(want)) => {
            assert_eq!(model, want);
            let raw = top.get("model").expect("a model member").get();
            assert_eq!(&text[span.clone()], raw, "the span covers exactly the model's value");
        }
        (None, None) => {}
        (got, want) => panic!("probe found model {got:?}, serde_json {want:?}: {text:?}"),
    }
    assert_eq!(p.usage_edit.is_some(), want.usage_edit, "usage edit {:?}: {text:?}", p.usage_edit);

    // Splice as the proxy does for an attempt and read the result back.
    let body = Bytes::copy_from_slice(data);
    let mut edits: Vec<_> = p.usage_edit.iter().cloned().collect();
    match &p.model {
        Some((_, span)) => edits.push(replace_model(span.clone(), SPLICED)),
        None => edits.insert(0, insert_model(&body, p.open, SPLICED)),
    }
    let out: Vec<u8> = apply(&body, edits).concat();
    let out = String::from_utf8(out).expect("a spliced body is UTF-8");
    let back = Members::parse(&out).unwrap_or_else(|| panic!("the spliced body is not a JSON object: {out:?}"));
    assert_eq!(back.count("model"), 1, "exactly one model in {out:?}");
    let model: String = serde_json::from_str(back.get("model").expect("a model").get()).expect("a string");
    assert_eq!(model, SPLICED);
    if p.usage_edit.is_some() {
        let options: Value = serde_json::from_str(back.get("stream_options").expect("stream_options").get())
            .expect("stream_options is JSON");
        assert_eq!(options["include_usage"], true, "{out:?}");
    }
    let untouched = ["model", "stream_options"];
    assert_eq!(top.others(&untouched), back.others(&untouched), "the other members are untouched: {out:?}");
});
