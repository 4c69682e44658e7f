//! OpenAI chat body -> Gemini GenerateContentRequest: a refusal is always a
//! client error, and a translation is a JSON object with a `contents` array,
//! the request's (non-empty) model carried beside it for the URL, and
//! `stream` as asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_proxy::translate::{TranslateError, gemini};

fuzz_target!(|data: &[u8]| {
    let translated = match gemini::request(data) {
        Ok(translated) => translated,
        Err(TranslateError::Request(_)) => return,
        Err(e @ TranslateError::Response(_)) => panic!("a request refused as a response error: {e}"),
    };
    let input: Value = serde_json::from_slice(data).expect("a translated request was JSON");
    let body: Value = serde_json::from_slice(&translated.body).expect("the translation is JSON");
    assert!(body["contents"].is_array(), "{body}");
    assert!(body.get("model").is_none(), "the model goes in the URL");
    assert!(!translated.model.is_empty());
    assert_eq!(input["model"], translated.model.as_str());
    assert_eq!(translated.stream, input["stream"] == true);
    assert_eq!(translated.include_usage, input["stream_options"]["include_usage"] == true);
    let path = gemini::path(&translated.model, gemini::chat_method(translated.stream));
    assert!(path.starts_with("/v1beta/models/") && !path["/v1beta/models/".len()..].contains('/'), "{path}");
});
