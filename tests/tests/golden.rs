#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Translation goldens for every pair of client API (chat completions,
//! Anthropic Messages, OpenAI Responses) and provider kind (`openai`, `azure`,
//! `anthropic`, `gemini`), whole and streamed, through a real gateway in front
//! of fake upstreams: the client's request (`request.json`), the exact body the
//! provider received (`upstream-request.json`), the provider's answer
//! (`upstream-answer.json` or `.sse`) and what the client got (`answer.json` or
//! `.sse`); `stream-` in front for the streamed call. See
//! `tests/golden/README.md` (what is normalised; `SWITCHYARD_UPDATE_GOLDEN=1`
//! rewrites the outputs). Every answer is also checked against the published
//! schema of the client's API (Anthropic's for `/v1/messages`, OpenAI's for
//! the others, each stream event by its type), and a native pair's answer is
//! the provider's byte for byte.

use bytes::Bytes;
use serde_json::Value;
use switchyard_tests::golden::Golden;
use switchyard_tests::harness::*;
use switchyard_tests::schema::{Spec, validate_with};
use switchyard_tests::{Chunk, FakeUpstream, Reply};

#[derive(Clone, Copy, PartialEq)]
enum Ingress {
    Chat,
    Messages,
    Responses,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
}

const KINDS: [Kind; 4] = [Kind::OpenAi, Kind::Azure, Kind::Anthropic, Kind::Gemini];

impl Ingress {
    fn name(self) -> &'static str {
        match self {
            Ingress::Chat => "chat",
            Ingress::Messages => "messages",
            Ingress::Responses => "responses",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Ingress::Chat => "/chat/completions",
            Ingress::Messages => "/messages",
            Ingress::Responses => "/responses",
        }
    }

    /// Whether a provider of `kind` gets the client's API as it came.
    fn native(self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Ingress::Chat, Kind::OpenAi | Kind::Azure)
                | (Ingress::Messages, Kind::Anthropic)
                | (Ingress::Responses, Kind::OpenAi)
        )
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::Azure => "azure",
            Kind::Anthropic => "anthropic",
            Kind::Gemini => "gemini",
        }
    }
}

fn yaml(fakes: &[FakeUpstream; 4]) -> String {
    let [openai, azure, anthropic, gemini] = fakes.each_ref().map(FakeUpstream::addr);
    format!(
        r#"
providers:
  - {{name: oai, kind: openai, base_url: "http://{openai}/v1", accounts: [{{name: o, api_key: "sk-openai-upstream-0000"}}]}}
  - {{name: az, kind: azure, base_url: "http://{azure}", api_version: "2024-10-21", accounts: [{{name: a, api_key: "azure-upstream-0000"}}]}}
  - {{name: ant, kind: anthropic, base_url: "http://{anthropic}", accounts: [{{name: c, api_key: "sk-ant-upstream-0000"}}]}}
  - {{name: gem, kind: gemini, base_url: "http://{gemini}", accounts: [{{name: g, api_key: "AIza-upstream-0000"}}]}}
models:
  - {{name: gpt, targets: [{{provider: oai, model: gpt-4.1-mini}}]}}
  - {{name: azure-gpt, targets: [{{provider: az, model: gpt-4o-prod}}]}}
  - {{name: claude, targets: [{{provider: ant, model: claude-sonnet-4-5}}]}}
  - {{name: gemini, targets: [{{provider: gem, model: gemini-2.5-flash}}]}}
keys:
  - {{name: app, key: "{APP_KEY}"}}
"#
    )
}

/// Where a provider of `kind` is asked (path and query).
fn upstream_target(ingress: Ingress, kind: Kind, stream: bool) -> String {
    match kind {
        Kind::OpenAi if ingress == Ingress::Responses => "/v1/responses".into(),
        Kind::OpenAi => "/v1/chat/completions".into(),
        Kind::Azure => "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21".into(),
        Kind::Anthropic => "/v1/messages".into(),
        Kind::Gemini if stream => "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse".into(),
        Kind::Gemini => "/v1beta/models/gemini-2.5-flash:generateContent".into(),
    }
}

async fn run(ingress: Ingress) {
    let fakes = [
        FakeUpstream::start().await,
        FakeUpstream::start().await,
        FakeUpstream::start().await,
        FakeUpstream::start().await,
    ];
    let proxy = Proxy::start(&yaml(&fakes)).await;
    for (kind, fake) in KINDS.into_iter().zip(&fakes) {
        let mut golden = Golden::new(&format!("{}-{}", ingress.name(), kind.name()));
        for stream in [false, true] {
            pair(&proxy, fake, &mut golden, ingress, kind, stream).await;
        }
        golden.finish();
    }
}

async fn pair(proxy: &Proxy, fake: &FakeUpstream, golden: &mut Golden, ingress: Ingress, kind: Kind, stream: bool) {
    let prefix = if stream { "stream-" } else { "" };
    let request = golden.input(&format!("{prefix}request.json"));
    let answer = if stream {
        let sse = golden.input(&format!("{prefix}upstream-answer.sse"));
        let text = String::from_utf8(sse.clone()).unwrap();
        let chunks = text.split_inclusive("\n\n").map(|e| Chunk::Bytes(Bytes::copy_from_slice(e.as_bytes()))).collect();
        fake.push(Reply::Sse { status: 200, headers: vec![], chunks });
        sse
    } else {
        let json = golden.input(&format!("{prefix}upstream-answer.json"));
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        fake.push(Reply::Raw { status: 200, headers, body: Bytes::from(json.clone()) });
        json
    };

    let mut call =
        client().post(format!("{}{}", proxy.url(), ingress.path())).header("content-type", "application/json");
    call = match ingress {
        Ingress::Messages => call.header("x-api-key", APP_KEY).header("anthropic-version", "2023-06-01"),
        _ => call.bearer_auth(APP_KEY),
    };
    let response = call.body(request).send().await.unwrap();
    let status = response.status();
    let got = response.bytes().await.unwrap();
    let what = format!("{}-{} {}", ingress.name(), kind.name(), if stream { "stream" } else { "whole" });
    assert_eq!(status, 200, "{what}: {}", String::from_utf8_lossy(&got));

    let sent = fake.requests().pop().unwrap();
    let target = sent.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    assert_eq!(target, upstream_target(ingress, kind, stream), "{what}");
    golden.json(&format!("{prefix}upstream-request.json"), &sent.body);

    if stream {
        golden.sse(&format!("{prefix}answer.sse"), &got);
        valid_events(ingress, &got, &what);
    } else {
        golden.json(&format!("{prefix}answer.json"), &got);
        let schema = match ingress {
            Ingress::Chat => "CreateChatCompletionResponse",
            Ingress::Messages => "Message",
            Ingress::Responses => "Response",
        };
        valid(ingress, schema, &serde_json::from_slice(&got).unwrap(), &what);
    }
    // What a provider that speaks the client's API answered reaches the client as it was,
    // but for the usage chunk of the chat stream the gateway asked for on its own behalf.
    if ingress.native(kind) && !(ingress == Ingress::Chat && stream) {
        assert_eq!(got, answer, "{what}: a native answer passes byte for byte");
    }
}

fn valid(ingress: Ingress, schema: &str, value: &Value, what: &str) {
    let spec = if ingress == Ingress::Messages { Spec::Anthropic } else { Spec::OpenAi };
    if let Err(errors) = validate_with(spec, schema, value) {
        panic!("{what}: not a valid {schema}: {errors:#?}\n{value:#}");
    }
}

/// Checks each event of an SSE answer against the schema of its type.
fn valid_events(ingress: Ingress, sse: &[u8], what: &str) {
    let text = std::str::from_utf8(sse).unwrap();
    let mut done = false;
    for frame in text.split_terminator("\n\n") {
        let name = frame.lines().find_map(|l| l.strip_prefix("event: "));
        let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or_else(|| panic!("{what}: {frame}"));
        assert!(!done, "{what}: nothing follows [DONE]");
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let event: Value = serde_json::from_str(data).unwrap();
        let schema = match ingress {
            // Azure's first chunk (its prompt filter results, no id, no object) is not OpenAI's, and passes as it came.
            Ingress::Chat if event["object"] == "" && event["prompt_filter_results"].is_array() => continue,
            Ingress::Chat => "CreateChatCompletionStreamResponse",
            Ingress::Messages | Ingress::Responses => {
                let kind = event["type"].as_str().unwrap_or_else(|| panic!("{what}: an event without a type: {data}"));
                assert_eq!(name, Some(kind), "{what}: the event's name is its type");
                &event_schema(ingress, kind)
            }
        };
        valid(ingress, schema, &event, what);
    }
    assert_eq!(done, ingress == Ingress::Chat, "{what}: only a chat stream ends with [DONE]");
}

fn event_schema(ingress: Ingress, kind: &str) -> String {
    if ingress == Ingress::Messages {
        let schema = match kind {
            "message_start" => "MessageStartEvent",
            "content_block_start" => "ContentBlockStartEvent",
            "content_block_delta" => "ContentBlockDeltaEvent",
            "content_block_stop" => "ContentBlockStopEvent",
            "message_delta" => "MessageDeltaEvent",
            "message_stop" => "MessageStopEvent",
            "ping" => "PingEvent",
            "error" => "ErrorEvent",
            other => panic!("not an Anthropic stream event: {other}"),
        };
        return schema.to_owned();
    }
    // response.output_text.delta -> ResponseTextDeltaEvent, response.output_item.added -> ResponseOutputItemAddedEvent, ...
    let name = kind.strip_prefix("response.").unwrap_or(kind).replace("output_text", "text");
    let camel: String = name.split(['.', '_']).map(|word| word[..1].to_uppercase() + &word[1..]).collect();
    format!("Response{camel}Event")
}

#[tokio::test]
async fn chat_completions_to_every_kind() {
    run(Ingress::Chat).await;
}

#[tokio::test]
async fn anthropic_messages_to_every_kind() {
    run(Ingress::Messages).await;
}

#[tokio::test]
async fn openai_responses_to_every_kind() {
    run(Ingress::Responses).await;
}
