//! A client API's stream (Anthropic Messages, OpenAI Responses) driven over
//! chat chunks the way the proxy drives it, and the checks that what comes
//! out is that API's documented event sequence.

use serde_json::Value;
use switchyard_proxy::ingress::{Api, ClientStream};
use switchyard_proxy::sse::SseParser;

/// How a driven stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `finish` after the last chunk succeeded: the API's closing events.
    Finished,
    /// A chunk or `finish` was refused, or the upstream broke: the error event.
    Failed,
}

/// One SSE event: its `event:` name and its `data:` JSON.
pub type Event = (String, Value);

/// Drives `api`'s client stream as `proxy::stream` does: each line of `body`
/// is one chunk's `data:` payload (`[DONE]` lines are skipped); a refused
/// chunk ends the stream with the error event, as does the upstream breaking
/// after the last line when `breaks`, else `finish` closes it. Checks that
/// nothing is written after the end, and returns the events the client got.
pub fn drive(api: Api, body: &[u8], breaks: bool) -> (Vec<Event>, End) {
    let request: &[u8] = match api {
        Api::Messages => br#"{"model":"m-1","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        Api::Responses => br#"{"model":"m-1","input":"hi","stream":true}"#,
        Api::CountTokens => panic!("a token count is never a stream"),
    };
    let (_, back) = api.request(request).expect("the fixed request translates");
    let kind = if api == Api::Messages { "api_error" } else { "upstream_stream_broken" };
    let mut stream = back.stream();
    let mut out = Vec::new();
    let mut end = None;
    for line in body.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        if line == "[DONE]" {
            continue;
        }
        match stream.chunk(&line) {
            Ok(bytes) => out.extend(bytes),
            Err(_) => {
                out.extend(stream.error(kind, "the stream could not be translated"));
                end = Some(End::Failed);
                break;
            }
        }
    }
    let end = match end {
        Some(end) => end,
        None if breaks => {
            out.extend(stream.error(kind, "the upstream stream broke"));
            End::Failed
        }
        None => match stream.finish() {
            Ok(bytes) => {
                out.extend(bytes);
                End::Finished
            }
            Err(_) => {
                out.extend(stream.error(kind, "the stream could not be finished"));
                End::Failed
            }
        },
    };
    assert_silent(stream.as_mut());
    (events(&out), end)
}

/// After its end, a stream writes nothing more.
fn assert_silent(stream: &mut dyn ClientStream) {
    let late = r#"{"id":"chatcmpl-late","choices":[{"index":0,"delta":{"content":"late"},"finish_reason":"stop"}]}"#;
    assert!(stream.chunk(late).is_ok_and(|b| b.is_empty()), "a chunk after the end wrote something");
    assert!(stream.finish().is_ok_and(|b| b.is_empty()), "finish after the end wrote something");
    assert!(stream.error("api_error", "late").is_empty(), "an error after the end wrote something");
}

/// The bytes as SSE events, each named, with a JSON object whose `type` is the name.
fn events(out: &[u8]) -> Vec<Event> {
    let mut parser = SseParser::new(usize::MAX);
    let events = parser.push(out).expect("the client stream is valid SSE");
    assert_eq!(parser.finish(), None, "every event is complete");
    events
        .into_iter()
        .map(|event| {
            let name = event.event.clone().expect("every event is named");
            let data: Value = serde_json::from_str(event.data.as_deref().expect("every event has data"))
                .expect("every event's data is JSON");
            assert_eq!(data["type"], name.as_str(), "the event's name is its type");
            (name, data)
        })
        .collect()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("a string expected, got {value}"))
}

/// Anthropic's Messages sequence: `message_start`, `ping`, blocks 0, 1, ...
/// one open at a time (start, deltas of its kind, stop), `message_delta`,
/// `message_stop`; or a prefix of it ended by `error`.
pub fn check_messages(events: &[Event], end: End) {
    let mut started = false;
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0;
    let mut delta_seen = false;
    let mut stopped = false;
    for (at, (name, data)) in events.iter().enumerate() {
        assert!(!stopped, "nothing follows message_stop or error: {name}");
        match name.as_str() {
            "message_start" => {
                assert!(!started && at == 0, "message_start comes first, once");
                started = true;
                let message = &data["message"];
                assert_eq!((text(&message["type"]), text(&message["role"])), ("message", "assistant"));
                assert_eq!(message["model"], "m-1");
                assert!(!text(&message["id"]).is_empty());
                assert_eq!(message["content"], serde_json::json!([]));
                assert!(message["stop_reason"].is_null());
                assert_eq!(message["usage"]["output_tokens"], 0);
            }
            "ping" => assert!(started && at == 1, "ping follows message_start"),
            "content_block_start" => {
                assert!(started && open.is_none() && !delta_seen, "a block starts after the last one stopped");
                assert_eq!(data["index"], next_index, "blocks are numbered in order");
                let block = &data["content_block"];
                let kind = text(&block["type"]).to_owned();
                match kind.as_str() {
                    "text" => assert_eq!(block["text"], ""),
                    "thinking" => assert!(block["thinking"].is_string() && block["signature"].is_string()),
                    "tool_use" => {
                        assert!(!text(&block["id"]).is_empty(), "{block}");
                        text(&block["name"]);
                        assert_eq!(block["input"], serde_json::json!({}));
                    }
                    other => panic!("an unknown block type {other}"),
                }
                open = Some((next_index, kind));
            }
            "content_block_delta" => {
                let (index, kind) = open.as_ref().expect("a delta belongs to the open block");
                assert_eq!(data["index"], *index);
                let delta = &data["delta"];
                match (kind.as_str(), text(&delta["type"])) {
                    ("text", "text_delta") => drop(text(&delta["text"])),
                    ("thinking", "thinking_delta") => drop(text(&delta["thinking"])),
                    ("thinking", "signature_delta") => drop(text(&delta["signature"])),
                    ("tool_use", "input_json_delta") => drop(text(&delta["partial_json"])),
                    (kind, delta) => panic!("a {delta} in a {kind} block"),
                }
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("a stop closes the open block");
                assert_eq!(data["index"], index);
                next_index += 1;
            }
            "message_delta" => {
                assert!(started && open.is_none() && !delta_seen, "message_delta follows the last block, once");
                delta_seen = true;
                let reason = text(&data["delta"]["stop_reason"]);
                let reasons = ["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"];
                assert!(reasons.contains(&reason), "stop_reason {reason}");
                assert!(data["usage"]["output_tokens"].is_u64(), "{data}");
            }
            "message_stop" => {
                assert!(delta_seen, "message_stop follows message_delta");
                stopped = true;
            }
            "error" => {
                text(&data["error"]["type"]);
                text(&data["error"]["message"]);
                stopped = true;
            }
            other => panic!("an event Anthropic does not send: {other}"),
        }
    }
    let last = events.last().map(|(name, _)| name.as_str());
    match end {
        End::Finished => assert_eq!(last, Some("message_stop")),
        End::Failed => assert_eq!(last, Some("error")),
    }
}

/// An output item the Responses stream added.
struct Item {
    id: String,
    done: bool,
}

/// OpenAI's Responses sequence: `sequence_number` 0, 1, ...;
/// `response.created`, `response.in_progress`; output items added at
/// indexes 0, 1, ..., their parts and deltas naming an open item, each item
/// done once; then `response.completed` or `response.incomplete` listing the
/// items; or `error` then `response.failed`, last.
pub fn check_responses(events: &[Event], end: End) {
    let mut items: Vec<Item> = Vec::new();
    let mut response_id: Option<String> = None;
    let mut terminal: Option<&str> = None;
    let mut errored = false;
    for (at, (name, data)) in events.iter().enumerate() {
        assert!(terminal.is_none(), "nothing follows the terminal event: {name}");
        assert_eq!(data["sequence_number"], at, "events are numbered in order");
        if let Some(response) = data.get("response") {
            let id = text(&response["id"]).to_owned();
            if !errored {
                assert_eq!(response_id.get_or_insert_with(|| id.clone()), &id, "one response id throughout");
            }
        }
        match name.as_str() {
            "response.created" => {
                assert_eq!(at, 0, "response.created comes first");
                assert_eq!(data["response"]["status"], "in_progress");
                assert_eq!(data["response"]["output"], serde_json::json!([]));
                assert_eq!(data["response"]["model"], "m-1");
            }
            "response.in_progress" => assert_eq!(at, 1, "response.in_progress follows response.created"),
            "response.output_item.added" => {
                assert!(!errored);
                assert_eq!(data["output_index"], items.len(), "items are added in order");
                let item = &data["item"];
                assert_eq!(item["status"], "in_progress", "{item}");
                let id = text(&item["id"]).to_owned();
                assert!(!id.is_empty() && items.iter().all(|i| i.id != id), "item ids are unique: {id}");
                items.push(Item { id, done: false });
            }
            "response.output_item.done" => {
                let at = data["output_index"].as_u64().expect("output_index") as usize;
                let item = items.get_mut(at).expect("the item done was added");
                assert!(!item.done, "an item is done once");
                assert_eq!(data["item"]["id"], item.id.as_str());
                let status = text(&data["item"]["status"]);
                assert!(status == "completed" || status == "incomplete", "item status {status}");
                item.done = true;
            }
            "response.completed" | "response.incomplete" => {
                assert!(!errored && at >= 2, "{name} ends a started stream");
                assert!(items.iter().all(|i| i.done), "every item is done before {name}");
                let response = &data["response"];
                assert_eq!(text(&response["status"]), &name["response.".len()..]);
                let output: Vec<&str> = response["output"]
                    .as_array()
                    .expect("output")
                    .iter()
                    .map(|item| text(&item["id"]))
                    .collect();
                let added: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
                assert_eq!(output, added, "the output lists the items streamed");
                terminal = Some(name);
            }
            "error" => {
                assert!(!errored, "one error event");
                text(&data["code"]);
                text(&data["message"]);
                errored = true;
            }
            "response.failed" => {
                assert!(errored, "response.failed follows the error event");
                assert_eq!(data["response"]["status"], "failed");
                terminal = Some(name);
            }
            _ => {
                assert!(!errored, "{name} after the error event");
                assert!(name.starts_with("response."), "an event OpenAI does not send: {name}");
                let id = text(&data["item_id"]);
                let at = data["output_index"].as_u64().expect("output_index") as usize;
                let item = items.get(at).unwrap_or_else(|| panic!("{name} names an item never added"));
                assert_eq!(item.id, id, "{name}'s item_id and output_index agree");
                assert!(!item.done, "{name} after its item was done");
            }
        }
    }
    match end {
        End::Finished => assert!(
            matches!(terminal, Some("response.completed" | "response.incomplete")),
            "a finished stream ends completed or incomplete, not {terminal:?}"
        ),
        End::Failed => assert_eq!(terminal, Some("response.failed")),
    }
}
