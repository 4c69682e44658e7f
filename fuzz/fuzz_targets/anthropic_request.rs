//! OpenAI chat body -> Anthropic Messages request: a refusal is always a
//! client error (400, never "the provider's answer"), and a translation is a
//! JSON object naming the request's model, with a `messages` array, a
//! positive `max_tokens` above any thinking budget, and `stream` as asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_proxy::translate::{TranslateError, anthropic};

fuzz_target!(|data: &[u8]| {
    for default_max_tokens in [None, Some(2048)] {
        let translated = match anthropic::request(data, default_max_tokens) {
            Ok(translated) => translated,
            Err(TranslateError::Request(_)) => continue,
            Err(e @ TranslateError::Response(_)) => panic!("a request refused as a response error: {e}"),
        };
        let input: Value = serde_json::from_slice(data).expect("a translated request was JSON");
        let body: Value = serde_json::from_slice(&translated.body).expect("the translation is JSON");
        assert!(body.is_object());
        assert_eq!(input["model"], translated.model.as_str());
        assert_eq!(body["model"], translated.model.as_str());
        assert!(body["messages"].is_array(), "{body}");
        let max_tokens = body["max_tokens"].as_u64().expect("max_tokens is an integer");
        assert!(max_tokens > 0);
        if let Some(budget) = body.get("thinking").map(|t| t["budget_tokens"].as_u64().expect("a budget")) {
            assert!(budget >= 1024 && budget < max_tokens, "budget {budget}, max_tokens {max_tokens}");
        }
        assert_eq!(translated.stream, input["stream"] == true);
        assert_eq!(body.get("stream") == Some(&Value::Bool(true)), translated.stream);
        assert_eq!(translated.include_usage, input["stream_options"]["include_usage"] == true);
    }
});
