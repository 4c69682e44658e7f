//! Request translation: input items, options, tools, the echo, and every refusal.

use serde_json::{Value, json};

use super::*;

fn translate(body: Value) -> (Value, Request) {
    let request = request(body.to_string().as_bytes()).unwrap();
    (serde_json::from_slice(&request.inbound.chat).unwrap(), request)
}

fn chat(body: Value) -> Value {
    translate(body).0
}

fn refused(body: Value) -> String {
    match request(body.to_string().as_bytes()) {
        Err(TranslateError::Request(message)) => message,
        other => panic!("expected a request error, got {other:?}"),
    }
}

#[test]
fn a_string_input_is_one_user_message_and_instructions_lead() {
    let (out, request) = translate(json!({"model": "claude-sonnet-4-5", "instructions": "Be terse.", "input": "Hi"}));
    assert_eq!(
        out,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        })
    );
    assert!(!request.inbound.stream);
    assert_eq!(request.inbound.model, "claude-sonnet-4-5");
    assert_eq!(request.echo.model(), "claude-sonnet-4-5");
}

#[test]
fn the_documented_function_calling_round_trip_keeps_its_order() {
    // OpenAI's function calling guide: the model's function_call items, then their outputs.
    let out = chat(json!({
        "model": "m",
        "input": [
            {"role": "developer", "content": "Use the tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris and Bogotá?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking both.", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
             "arguments": "{\"location\":\"Paris\"}", "status": "completed"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "get_weather",
             "arguments": "{\"location\":\"Bogotá\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "24C"}]},
            {"type": "function_call", "call_id": "call_3", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_3", "output": []},
            {"role": "user", "content": "Thanks"},
        ],
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Bogotá?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking both."}], "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Bogotá\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "24C"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_3", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_3", "content": ""},
            {"role": "user", "content": "Thanks"},
        ])
    );
}

#[test]
fn images_files_and_refusals_become_chat_parts() {
    let out = chat(json!({
        "model": "m",
        "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "low"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            ]},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
            {"role": "system", "content": [{"type": "input_text", "text": "Stay polite."}]},
        ],
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}},
                {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
            ]},
            {"role": "assistant", "content": null, "refusal": "I can't help with that."},
            {"role": "system", "content": [{"type": "text", "text": "Stay polite."}]},
        ])
    );
}

#[test]
fn options_map_to_their_chat_names() {
    let out = chat(json!({
        "model": "m",
        "input": "Hi",
        "max_output_tokens": 512,
        "temperature": 0.2,
        "top_p": 1,
        "top_logprobs": 3,
        "include": ["message.output_text.logprobs", "reasoning.encrypted_content"],
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "user": "u-1",
        "safety_identifier": "s-1",
        "prompt_cache_key": "k-1",
        "service_tier": "flex",
        "metadata": {"team": "search"},
        "store": false,
        "truncation": "disabled",
        "max_tool_calls": 3,
        "stream": false,
        "stream_options": {"include_obfuscation": false},
    }));
    assert_eq!(
        out,
        json!({
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_completion_tokens": 512,
            "temperature": 0.2,
            "top_p": 1,
            "logprobs": true,
            "top_logprobs": 3,
            "reasoning_effort": "high",
            "response_format": {"type": "json_object"},
            "verbosity": "low",
            "user": "u-1",
            "safety_identifier": "s-1",
            "prompt_cache_key": "k-1",
            "service_tier": "flex",
        })
    );
}

#[test]
fn a_stream_asks_for_usage() {
    let (out, request) = translate(json!({"model": "m", "input": "Hi", "stream": true}));
    assert!(request.inbound.stream);
    assert_eq!(out["stream"], json!(true));
    assert_eq!(out["stream_options"], json!({"include_usage": true}));
}

#[test]
fn function_tools_tool_choice_and_json_schema_translate() {
    let schema = json!({"type": "object", "properties": {"location": {"type": "string"}},
        "required": ["location"], "additionalProperties": false});
    let out = chat(json!({
        "model": "m",
        "input": "Weather?",
        "tools": [
            {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": schema,
             "strict": true},
            {"type": "function", "name": "get_time", "parameters": null, "strict": null,
             "output_schema": {"type": "string"}, "allowed_callers": ["direct"]},
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": false,
        "text": {"format": {"type": "json_schema", "name": "weather", "description": "A report",
            "schema": {"type": "object"}, "strict": true}},
    }));
    assert_eq!(
        out["tools"],
        json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                "parameters": schema, "strict": true}},
            {"type": "function", "function": {"name": "get_time"}},
        ])
    );
    assert_eq!(out["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}));
    assert_eq!(out["parallel_tool_calls"], json!(false));
    assert_eq!(
        out["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "weather", "description": "A report",
            "schema": {"type": "object"}, "strict": true}})
    );

    let out = chat(json!({
        "model": "m",
        "input": "Weather?",
        "tools": [{"type": "function", "name": "get_weather", "parameters": schema, "strict": false}],
        "tool_choice": {"type": "allowed_tools", "mode": "required",
            "tools": [{"type": "function", "name": "get_weather"}]},
    }));
    assert_eq!(
        out["tool_choice"],
        json!({"type": "allowed_tools", "allowed_tools": {"mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_weather"}}]}})
    );
    for mode in ["none", "auto", "required"] {
        let out = chat(json!({"model": "m", "input": "x", "tool_choice": mode,
            "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": false}]}));
        assert_eq!(out["tool_choice"], json!(mode));
        assert!(out.get("parallel_tool_calls").is_none());
    }
}

#[test]
fn without_tools_tool_options_are_not_sent() {
    let out = chat(json!({"model": "m", "input": "x", "tool_choice": "auto", "parallel_tool_calls": true,
        "tools": []}));
    assert_eq!(out, json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(
        refused(json!({"model": "m", "input": "x", "tool_choice": "required"})),
        "tool_choice: names a tool, but `tools` declares none"
    );
}

#[test]
fn the_echo_holds_what_the_response_repeats() {
    let (_, request) = translate(json!({
        "model": "m",
        "instructions": "Be terse.",
        "input": "Hi",
        "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}],
        "tool_choice": "required",
        "temperature": 1,
        "max_output_tokens": 100,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        "metadata": {"k": "v"},
        "user": "u",
        "service_tier": "priority",
    }));
    assert_eq!(
        Value::Object(request.echo.fields),
        json!({
            "instructions": "Be terse.",
            "tools": [{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"},
                "strict": null}],
            "parallel_tool_calls": true,
            "tool_choice": "required",
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
            "max_output_tokens": 100,
            "max_tool_calls": null,
            "temperature": 1,
            "top_p": null,
            "top_logprobs": null,
            "reasoning": {"effort": "low", "summary": null},
            "user": "u",
            "metadata": {"k": "v"},
            "truncation": "disabled",
        })
    );

    let (_, request) = translate(json!({"model": "m", "input": "Hi"}));
    assert_eq!(
        Value::Object(request.echo.fields),
        json!({
            "instructions": null,
            "tools": [],
            "parallel_tool_calls": true,
            "tool_choice": "auto",
            "text": {"format": {"type": "text"}},
            "max_output_tokens": null,
            "max_tool_calls": null,
            "temperature": null,
            "top_p": null,
            "top_logprobs": null,
            "reasoning": {"effort": null, "summary": null},
            "metadata": {},
            "truncation": "disabled",
        })
    );
}

#[test]
fn stored_state_is_refused_naming_the_field() {
    let storage = "cannot be translated to chat completions: this gateway stores no responses, conversations \
         or prompts for providers that speak chat completions; send the whole conversation in `input`";
    for (key, value) in [
        ("previous_response_id", json!("resp_123")),
        ("conversation", json!("conv_123")),
        ("conversation", json!({"id": "conv_123"})),
        ("prompt", json!({"id": "pmpt_123", "version": "2"})),
    ] {
        let mut body = json!({"model": "m", "input": "Hi"});
        body[key] = value;
        assert_eq!(refused(body), format!("{key}: a stored response, conversation or prompt {storage}"));
    }
    assert_eq!(
        refused(json!({"model": "m", "input": "Hi", "store": true})),
        "store: true cannot be translated to chat completions: this gateway stores no responses for providers \
         that speak chat completions; omit `store` or set it to false"
    );
    assert!(refused(json!({"model": "m", "input": "Hi", "background": true})).starts_with("background: true "));
    assert_eq!(
        refused(json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]})),
        "input[0]: an item_reference cannot be translated to chat completions: this gateway stores no items"
    );
    // The defaults and explicit "no" are served.
    for (key, value) in [("store", json!(false)), ("store", json!(null)), ("background", json!(false))] {
        let mut body = json!({"model": "m", "input": "Hi"});
        body[key] = value;
        assert!(request(body.to_string().as_bytes()).is_ok(), "{key}");
    }
}

#[test]
fn what_only_openai_runs_is_refused_naming_the_field() {
    let cases = [
        (
            json!({"tools": [{"type": "function", "name": "f", "parameters": {}, "strict": true},
            {"type": "web_search"}]}),
            "tools[1].type: \"web_search\"",
        ),
        (json!({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}), "tools[0].type: \"file_search\""),
        (
            json!({"tools": [{"type": "computer_use_preview", "display_width": 1024, "display_height": 768,
            "environment": "browser"}]}),
            "tools[0].type: \"computer_use_preview\"",
        ),
        (
            json!({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
            "tools[0].type: \"code_interpreter\"",
        ),
        (json!({"tools": [{"type": "mcp", "server_label": "x"}]}), "tools[0].type: \"mcp\""),
        (json!({"tools": [{"type": "custom", "name": "x"}]}), "tools[0].type: \"custom\""),
        (
            json!({"tools": [{"type": "function", "name": "f", "parameters": {}, "strict": true,
            "defer_loading": true}]}),
            "tools[0].defer_loading: true",
        ),
        (
            json!({"tools": [{"type": "function", "name": "f", "parameters": {}, "strict": true,
            "allowed_callers": ["programmatic"]}]}),
            "tools[0].allowed_callers: a programmatic caller",
        ),
        (json!({"tool_choice": {"type": "web_search_preview"}}), "tool_choice.type: \"web_search_preview\""),
        (
            json!({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "file_search"}]},
            "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": true}]}),
            "tool_choice.tools[0].type: \"file_search\"",
        ),
        (json!({"include": ["file_search_call.results"]}), "include[0]: \"file_search_call.results\""),
        (
            json!({"include": ["reasoning.encrypted_content", "web_search_call.action.sources"]}),
            "include[1]: \"web_search_call.action.sources\"",
        ),
        (json!({"include": ["message.input_image.image_url"]}), "include[0]: \"message.input_image.image_url\""),
        (json!({"truncation": "auto"}), "truncation: \"auto\""),
        (json!({"moderation": {"model": "omni-moderation-latest"}}), "moderation: moderation"),
        (json!({"context_management": [{"type": "compaction"}]}), "context_management: compaction"),
        (json!({"reasoning": {"mode": "pro"}}), "reasoning.mode: \"pro\""),
        (json!({"reasoning": {"context": "all_turns"}}), "reasoning.context: \"all_turns\""),
    ];
    for (extra, start) in cases {
        let mut body = json!({"model": "m", "input": "Hi"});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let message = refused(body);
        assert!(message.starts_with(&format!("{start} cannot be translated to chat completions: ")), "{message}");
    }
}

#[test]
fn input_that_has_no_chat_form_is_refused_naming_its_path() {
    let user = |part: Value| json!({"model": "m", "input": [{"role": "user", "content": [part]}]});
    let cases = [
        (
            user(json!({"type": "input_image", "file_id": "file-1", "detail": "auto"})),
            "input[0].content[0].file_id: an image file_id cannot be translated to chat completions: uploaded files \
             cannot be read by this model's provider; send the image as `image_url` (a URL or a data: URL)",
        ),
        (
            user(json!({"type": "input_image", "image_url": "https://x/y.png", "detail": "original"})),
            "input[0].content[0].detail: \"original\" cannot be translated to chat completions: chat completions \
             knows only \"auto\", \"low\" and \"high\"",
        ),
        (
            user(json!({"type": "input_file", "file_id": "file-1"})),
            "input[0].content[0].file_id: a file_id cannot be translated to chat completions: this model's provider \
             cannot fetch files; send the file inline as `file_data`",
        ),
        (
            user(json!({"type": "input_file", "file_url": "https://x/y.pdf"})),
            "input[0].content[0].file_url: a file_url cannot be translated to chat completions: this model's \
             provider cannot fetch files; send the file inline as `file_data`",
        ),
        (
            json!({"model": "m", "input": [{"role": "system", "content": [
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}]}]}),
            "input[0].content[0].type: \"input_image\" cannot be translated to chat completions: a system message \
             of chat completions cannot hold it",
        ),
        (
            json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1", "status": "completed"}]}),
            "input[0].type: \"web_search_call\" cannot be translated to chat completions: only messages, function \
             calls and their outputs have a chat-completions form",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c",
            "output": [{"type": "input_image", "image_url": "https://x/y.png"}]}]}),
            "input[0].output[0].type: \"input_image\" cannot be translated to chat completions: a chat-completions \
             tool message holds text only",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}",
            "namespace": "ns"}]}),
            "input[0].namespace: a namespace cannot be translated to chat completions: namespaced tools cannot be \
             declared in chat completions",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(refused(body), expected);
    }
}

#[test]
fn malformed_bodies_are_refused_naming_the_field() {
    let cases = [
        (json!([]), "the request body: a JSON object is required"),
        (json!({"input": "x"}), "model: a string is required"),
        (json!({"model": "m"}), "input: at least one input item (or `instructions`) is required"),
        (json!({"model": "m", "input": 3}), "input: a string or an array of input items is required"),
        (json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}), "input[0].role: \"robot\" is not a role"),
        (
            json!({"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]}),
            "input[0].arguments: a string is required",
        ),
        (
            json!({"model": "m", "input": "x", "max_output_tokens": 0}),
            "max_output_tokens: a positive integer is required",
        ),
        (json!({"model": "m", "input": "x", "temperature": "hot"}), "temperature: a number is required"),
        (json!({"model": "m", "input": "x", "top_logprobs": 21}), "top_logprobs: an integer from 0 to 20 is required"),
        (
            json!({"model": "m", "input": "x", "include": ["everything"]}),
            "include[0]: \"everything\" is not a known include value",
        ),
        (json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}), "tools[0].name: a string is required"),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}),
            "text.format.schema: a JSON schema object is required",
        ),
        (json!({"model": "m", "input": "x", "metadata": {"n": 1}}), "metadata: an object of strings is required"),
        (json!({"model": "m", "input": "x", "stream": "yes"}), "stream: a boolean is required"),
    ];
    for (body, expected) in cases {
        assert_eq!(refused(body), expected);
    }
    assert!(
        matches!(request(b"{"), Err(TranslateError::Request(m)) if m.starts_with("the request body is not valid JSON"))
    );
}
