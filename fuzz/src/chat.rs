//! A translated stream run to its end over upstream chunks, and the checks
//! that what comes out is the OpenAI SSE the translate module promises.

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;
use switchyard_proxy::sse::SseParser;
use switchyard_proxy::translate::{Adapter, Translated};
use switchyard_proxy::upstream::{Broken, Upstream};

/// What a translated stream gave the client.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Every `chat.completion.chunk`, without its `created` (the wall clock).
    pub chunks: Vec<Value>,
    /// It ended with `data: [DONE]`; otherwise it broke.
    pub done: bool,
}

/// Runs `adapter`'s stream translation over `chunks` (then a cut upstream
/// when `cut`) and checks its output; panics on a broken promise.
pub fn translate(adapter: Adapter, translated: &Translated, chunks: &[&[u8]], cut: bool) -> Outcome {
    // Gemini makes up ids with fastrand: the same seed gives two runs the same ids.
    fastrand::seed(0x5eed);
    let mut items: Vec<Result<Bytes, Broken>> = chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    if cut {
        items.push(Err(Broken));
    }
    let upstream: Upstream = Box::pin(futures_util::stream::iter(items));
    // The default `limits.max_buffered_bodies`: large events are held under it, as in the proxy.
    let budget = switchyard_proxy::budget::BodyBudget::new();
    budget.resize(512 << 20);
    let out = adapter
        .stream(upstream, translated, &budget)
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("a translated stream over an upstream that is always ready never waits");
    check(&out, translated.include_usage)
}

fn check(out: &[Result<Bytes, Broken>], include_usage: bool) -> Outcome {
    let broken = out.iter().position(Result::is_err);
    if let Some(at) = broken {
        assert_eq!(at, out.len() - 1, "nothing follows a break");
    }
    let mut parser = SseParser::new(usize::MAX);
    let mut events = Vec::new();
    for bytes in out.iter().filter_map(|item| item.as_ref().ok()) {
        events.extend(parser.push(bytes).expect("the translated stream is valid SSE"));
    }
    assert_eq!(parser.finish(), None, "every translated event is complete");

    let mut chunks = Vec::new();
    let mut done = false;
    for event in &events {
        assert!(!done, "nothing follows data: [DONE]");
        assert!(event.event.is_none() && event.id.is_none(), "{event:?}");
        let data = event.data.as_deref().expect("every translated event has data");
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let mut chunk: Value = serde_json::from_str(data).expect("every payload is JSON");
        check_chunk(&chunk, include_usage);
        if let Some(last) = chunks.last() {
            assert!(usage_of(last).is_none(), "the usage chunk is the last: {data}");
        }
        if let Some(object) = chunk.as_object_mut() {
            object.remove("created");
        }
        chunks.push(chunk);
    }
    assert_eq!(done, broken.is_none(), "a stream ends with [DONE] exactly when it did not break");
    Outcome { chunks, done }
}

fn usage_of(chunk: &Value) -> Option<&Value> {
    chunk.get("usage").filter(|u| !u.is_null())
}

fn check_chunk(chunk: &Value, include_usage: bool) {
    assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
    assert!(chunk["id"].is_string() && chunk["model"].is_string() && chunk["created"].is_u64(), "{chunk}");
    let choices = chunk["choices"].as_array().expect("choices is an array");
    for choice in choices {
        assert!(choice["index"].is_u64() && choice["delta"].is_object(), "{chunk}");
        let finish = &choice["finish_reason"];
        assert!(finish.is_null() || finish.is_string(), "{chunk}");
    }
    assert_eq!(chunk.get("usage").is_some(), include_usage, "usage is in every chunk exactly when asked: {chunk}");
    if let Some(usage) = usage_of(chunk) {
        assert!(choices.is_empty(), "the usage chunk has no choices: {chunk}");
        for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert!(usage[field].is_u64(), "{field} in {chunk}");
        }
    }
}

/// Two runs of one upstream stream, cut differently: the same chunks, or
/// (when both broke) one a prefix of the other.
pub fn assert_same(whole: &Outcome, split: &Outcome) {
    assert_eq!(whole.done, split.done, "how the upstream was cut changed how the stream ended");
    if whole.done {
        assert_eq!(whole.chunks, split.chunks, "how the upstream was cut changed the translation");
    } else {
        let n = whole.chunks.len().min(split.chunks.len());
        assert_eq!(whole.chunks[..n], split.chunks[..n], "how the upstream was cut changed the translation");
    }
}
