//! A client's `/v1/messages`, `/v1/responses` or count_tokens body -> the
//! chat-completions request the proxy routes: a refusal is always a client
//! error (400), and a translation is a JSON object naming the request's
//! model, with messages of the roles chat providers know (tool results
//! naming their call, tool calls with an id, a name and string arguments),
//! and a stream exactly when asked, one that asks for usage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_proxy::ingress::Api;
use switchyard_proxy::translate::TranslateError;

fuzz_target!(|data: &[u8]| {
    for api in [Api::Messages, Api::Responses, Api::CountTokens] {
        let inbound = match api.request(data) {
            Ok((inbound, _)) => inbound,
            Err(TranslateError::Request(_)) => continue,
            Err(e @ TranslateError::Response(_)) => panic!("{api:?}: a request refused as a response error: {e}"),
        };
        let input: Value = serde_json::from_slice(data).expect("a translated request was JSON");
        let chat: Value = serde_json::from_slice(&inbound.chat).expect("the translation is JSON");
        assert_eq!(input["model"], inbound.model.as_str(), "{api:?}");
        assert_eq!(chat["model"], inbound.model.as_str(), "{api:?}");
        let messages = chat["messages"].as_array().expect("messages is an array");
        for message in messages {
            let role = message["role"].as_str().expect("a message has a role");
            assert!(["system", "user", "assistant", "tool"].contains(&role), "{api:?}: role {role}");
            if role == "tool" {
                assert!(message["tool_call_id"].is_string(), "{api:?}: {message}");
            }
            for call in message.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                assert_eq!(role, "assistant");
                assert!(call["id"].is_string() && call["type"] == "function", "{api:?}: {call}");
                assert!(call["function"]["name"].is_string(), "{api:?}: {call}");
                assert!(call["function"]["arguments"].is_string(), "{api:?}: {call}");
            }
        }
        let asked = api != Api::CountTokens && input["stream"] == true;
        assert_eq!(inbound.stream, asked, "{api:?}");
        assert_eq!(chat.get("stream") == Some(&Value::Bool(true)), asked, "{api:?}: {chat}");
        if asked {
            assert_eq!(chat["stream_options"]["include_usage"], true, "{api:?}: a stream asks for usage");
        }
    }
});
