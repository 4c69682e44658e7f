//! Request translation: golden requests with every block type, options,
//! and refusals naming the field.

use super::*;

fn translate(body: Value) -> Inbound {
    request(body.to_string().as_bytes()).unwrap()
}

fn chat(body: Value) -> Value {
    serde_json::from_slice(&translate(body).chat).unwrap()
}

fn refused(body: Value) -> String {
    match request(body.to_string().as_bytes()) {
        Err(TranslateError::Request(message)) => message,
        other => panic!("expected a request error, got {other:?}"),
    }
}

/// A coding agent's second turn: every block type Anthropic documents for
/// user and assistant turns, a tool round trip, images and all options.
#[test]
fn every_block_type_and_option() {
    let inbound = translate(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "system": [
            {"type": "text", "text": "You are a coding agent."},
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these pictures, and the weather in Paris?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two tools needed.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "screenshot", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "is_error": true, "content": [
                    {"type": "text", "text": "partial capture"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                    {"type": "text", "text": "display 2 missing"},
                ]},
                {"type": "text", "text": "Thanks. Summarize.", "cache_control": {"type": "ephemeral"}},
            ]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Weather for a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"type": "custom", "name": "screenshot", "input_schema": {"type": "object", "properties": {}}, "strict": true},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["\n\nHuman:", "END"],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "metadata": {"user_id": "user-1234"},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "stream": true,
    }));
    assert!(inbound.stream);
    assert_eq!(inbound.model, "claude-sonnet-4-5");
    let chat: Value = serde_json::from_slice(&inbound.chat).unwrap();
    assert_eq!(
        chat,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "You are a coding agent.\n\nBe brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in these pictures, and the weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                ]},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "toolu_01A", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_01B", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "toolu_01A", "content": "18C, sunny"},
                {"role": "tool", "tool_call_id": "toolu_01B", "content": "Error: partial capture\ndisplay 2 missing"},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "text", "text": "Thanks. Summarize."},
                ]},
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
                {"type": "function", "function": {"name": "screenshot",
                    "parameters": {"type": "object", "properties": {}}, "strict": true}},
            ],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "max_completion_tokens": 8192,
            "stop": ["\n\nHuman:", "END"],
            "temperature": 0.2,
            "top_p": 0.9,
            "user": "user-1234",
            "reasoning_effort": "medium",
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
}

#[test]
fn plain_strings_and_no_stream() {
    let inbound = translate(json!({
        "model": "m", "max_tokens": 100, "system": "Terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ],
        "stream": false,
    }));
    assert!(!inbound.stream);
    assert_eq!(
        serde_json::from_slice::<Value>(&inbound.chat).unwrap(),
        json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Again"},
            ],
            "max_completion_tokens": 100,
        })
    );
}

#[test]
fn tool_round_trip_with_results_before_text_and_empty_parts_dropped() {
    let out = chat(json!({
        "model": "m", "max_tokens": 10,
        "system": [],
        "messages": [
            {"role": "user", "content": "Weather?"},
            // A turn that was only reasoning and a tool call, with no text.
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "call it", "signature": "s"},
                {"type": "tool_use", "id": "t1", "name": "w", "input": {"q": [1, 2]}},
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "here you go:"},
                {"type": "tool_result", "tool_use_id": "t1"},
                {"type": "text", "text": ""},
            ]},
            // Only thinking: nothing chat can carry, so no message.
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}]},
        ],
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "w", "arguments": "{\"q\":[1,2]}"}},
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": ""},
            {"role": "user", "content": "here you go:"},
        ])
    );
}

#[test]
fn an_error_result_without_content_says_error() {
    let out = chat(json!({"model": "m", "max_tokens": 1, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": true, "content": []}]},
    ]}));
    assert_eq!(out["messages"][1], json!({"role": "tool", "tool_call_id": "t", "content": "Error"}));
}

#[test]
fn tool_choice_forms() {
    let tools = json!([{"name": "f", "input_schema": {"type": "object"}}]);
    let with = |choice: Value| {
        chat(json!({"model": "m", "max_tokens": 1, "tools": tools,
        "messages": [{"role": "user", "content": "x"}], "tool_choice": choice}))
    };
    let out = with(json!({"type": "auto"}));
    assert_eq!((&out["tool_choice"], out.get("parallel_tool_calls")), (&json!("auto"), None));
    let out = with(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}));
    assert_eq!(out["tool_choice"], json!({"type": "function", "function": {"name": "f"}}));
    assert_eq!(out["parallel_tool_calls"], json!(false));
    let out = with(json!({"type": "none", "disable_parallel_tool_use": true}));
    assert_eq!((&out["tool_choice"], out.get("parallel_tool_calls")), (&json!("none"), None));
    let out = with(json!({"type": "any", "disable_parallel_tool_use": false}));
    assert_eq!((&out["tool_choice"], out.get("parallel_tool_calls")), (&json!("required"), None));

    // Without tools: auto and none mean nothing, any cannot be honoured.
    let none = chat(json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
        "tools": [], "tool_choice": {"type": "none"}}));
    assert_eq!((none.get("tool_choice"), none.get("tools")), (None, None));
    assert_eq!(
        refused(json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
            "tool_choice": {"type": "any"}})),
        "tool_choice.type: \"any\" requires tools"
    );
}

#[test]
fn thinking_becomes_reasoning_effort() {
    let effort = |extra: Value| {
        let mut body = json!({"model": "m", "max_tokens": 64000, "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        chat(body).get("reasoning_effort").cloned()
    };
    let budget = |n: u64| effort(json!({"thinking": {"type": "enabled", "budget_tokens": n}}));
    assert_eq!(budget(1024), Some(json!("low")));
    assert_eq!(budget(4095), Some(json!("low")));
    assert_eq!(budget(4096), Some(json!("medium")));
    assert_eq!(budget(16383), Some(json!("medium")));
    assert_eq!(budget(16384), Some(json!("high")));
    assert_eq!(budget(31999), Some(json!("high")));
    assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(effort(json!({})), None);
    assert_eq!(effort(json!({"thinking": {"type": "adaptive"}})), None);
    let adaptive = |e: &str| effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": e}}));
    assert_eq!(adaptive("low"), Some(json!("low")));
    assert_eq!(adaptive("medium"), Some(json!("medium")));
    assert_eq!(adaptive("max"), Some(json!("high")));
    // Effort without thinking asks for no reasoning.
    assert_eq!(effort(json!({"output_config": {"effort": "high"}})), None);
}

#[test]
fn structured_output_becomes_a_strict_json_schema() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]});
    for key in ["output_config", "output_format"] {
        let format = json!({"type": "json_schema", "schema": schema});
        let format = if key == "output_config" { json!({"format": format}) } else { format };
        let out =
            chat(json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], key: format}));
        assert_eq!(
            out["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}),
            "{key}"
        );
    }
}

#[test]
fn refusals_name_the_field() {
    let user = |content: Value| {
        json!({"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": content}]})
    };
    let cases = [
        (json!([1]), "the request body: a JSON object is required"),
        (json!({"max_tokens": 1, "messages": []}), "model: a string is required"),
        (json!({"model": "m", "max_tokens": 1}), "messages: an array of messages is required"),
        (json!({"model": "m", "max_tokens": 1, "messages": []}), "messages: at least one message is required"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: a positive integer is required",
        ),
        (
            json!({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens: a positive integer is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role: \"system\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"content": "x"}]}),
            "messages[0].role: a string is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 3}]}),
            "messages[0].content: a string or an array of content blocks is required",
        ),
        (
            user(json!([{"type": "document", "source": {"type": "text", "data": "x", "media_type": "text/plain"}}])),
            "messages[2].content[0].type: \"document\" is not supported by chat-completions providers",
        ),
        (user(json!([{"text": "x"}])), "messages[2].content[0].type: a string is required"),
        (user(json!([{"type": "text"}])), "messages[2].content[0].text: a string is required"),
        (
            user(json!([{"type": "text", "text": "x"}, {"type": "thinking", "thinking": "x", "signature": "s"}])),
            "messages[2].content[1].type: \"thinking\" is not supported by chat-completions providers",
        ),
        (
            user(json!([{"type": "image", "source": {"type": "file", "file_id": "file_1"}}])),
            "messages[2].content[0].source.type: \"file\" is not supported by chat-completions providers",
        ),
        (
            user(json!([{"type": "image", "source": {"type": "base64", "data": "x"}}])),
            "messages[2].content[0].source.media_type: a string is required",
        ),
        (
            user(json!([{"type": "tool_result", "content": "x"}])),
            "messages[2].content[0].tool_use_id: a string is required",
        ),
        (
            user(json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}])),
            "messages[2].content[0].content[0].type: \"document\" is not supported by chat-completions providers",
        ),
        (
            user(json!([{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}])),
            "messages[2].content[0].is_error: a boolean is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}]}),
            "messages[0].content[0].input: an object is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "assistant", "content": [
                {"type": "server_tool_use", "id": "t", "name": "web_search", "input": {}}]}]}),
            "messages[0].content[0].type: \"server_tool_use\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "system": [{"type": "image"}], "messages": [{"role": "user", "content": "x"}]}),
            "system[0].type: \"image\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[0].type: \"web_search_20250305\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f"}]}),
            "tools[0].input_schema: a JSON schema object is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "enabled"}}),
            "thinking.budget_tokens: a positive integer is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "sometimes"}}),
            "thinking.type: \"sometimes\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"}),
            "stop_sequences: an array of strings is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "metadata": {"user_id": 7}}),
            "metadata.user_id: a string is required",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "x"}]}),
            "mcp_servers: an MCP server is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "output_format": {"type": "json_object"}}),
            "output_format.type: \"json_object\" is not supported by chat-completions providers",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature: a number is required",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(refused(body.clone()), expected, "{body}");
    }
    assert!(refused(json!("not json")).starts_with("the request body: "), "a string body is not an object");
    match request(b"{") {
        Err(TranslateError::Request(message)) => assert!(message.starts_with("the request body is not valid JSON")),
        other => panic!("{other:?}"),
    }
}
