//! The count_tokens estimate and its answer.

use serde_json::{Value, json};

use super::*;

fn count(body: Value) -> u64 {
    estimate_input_tokens(body.to_string().as_bytes()).unwrap()
}

#[test]
fn counts_system_messages_and_tools_as_the_estimator_counts_chat() {
    // No max_tokens: count_tokens requests carry none.
    let body = json!({
        "model": "claude-sonnet-4-5",
        "system": "You are a scientist.",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "look", "input": {"zoom": 2}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "A cat on a mat."}]},
        ],
        "tools": [{"name": "look", "description": "Look closer", "input_schema": {"type": "object"}}],
    });
    let chat = json!({
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are a scientist."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "look", "arguments": "{\"zoom\":2}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "A cat on a mat."},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Look closer",
            "parameters": {"type": "object"}}}],
    });
    let expected = estimate::prompt_tokens(chat.to_string().as_bytes());
    assert_eq!(count(body.clone()), expected);
    // 4 messages of framing, the reply's priming, an image: well above the text alone.
    assert!(expected > 4 * 3 + 3 + estimate::IMAGE_TOKENS, "{expected}");

    // More text, more tokens.
    let mut longer = body;
    longer["system"] = json!("You are a scientist who explains everything at great length, with examples.");
    assert!(count(longer) > expected);
}

#[test]
fn refusals_name_the_field_and_the_answer_is_anthropics_shape() {
    assert_eq!(
        estimate_input_tokens(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]})
                .to_string()
                .as_bytes()
        ),
        Err(TranslateError::Request(
            "messages[0].content[0].type: \"video\" is not supported by chat-completions providers".into()
        ))
    );
    assert_eq!(
        estimate_input_tokens(b"{\"messages\": []}"),
        Err(TranslateError::Request("model: a string is required".into()))
    );
    assert_eq!(serde_json::from_slice::<Value>(&count_tokens_body(2095)).unwrap(), json!({"input_tokens": 2095}));
}
