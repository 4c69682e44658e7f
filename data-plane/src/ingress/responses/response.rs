//! A whole `chat.completion` -> a `response` object.

use serde::Deserialize;
use serde_json::Value;

use super::Echo;
use super::output::{
    ChatLogprobs, ChatUsage, Envelope, Ids, Status, annotation, call_item, error_text, logprob, message_item,
    reasoning_item, refusal_part, text_part,
};
use crate::translate::TranslateError;

#[cfg(test)]
mod tests;

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    service_tier: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<ChatLogprobs>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// Some providers (vLLM, OpenRouter) name it `reasoning`.
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(default)]
    annotations: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    function: Option<Function>,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    #[serde(default)]
    arguments: Option<String>,
}

/// A `chat.completion` body -> a `response` body naming the client's model
/// and echoing its request.
pub fn response(chat: &[u8], echo: &Echo) -> Result<Vec<u8>, TranslateError> {
    let completion: Completion = serde_json::from_slice(chat)
        .map_err(|e| TranslateError::Response(format!("a chat completion that does not parse: {e}")))?;
    if let Some(error) = &completion.error {
        return Err(TranslateError::Response(error_text(error)));
    }
    let Some(choice) = completion.choices.into_iter().flatten().find(|c| c.index == 0) else {
        return Err(TranslateError::Response("a chat completion without choices".into()));
    };
    let ids = Ids::new(completion.id.as_deref());
    let status = Status::finished(choice.finish_reason.as_deref());
    let mut output = Vec::new();

    let message = choice.message;
    let reasoning = message.reasoning_content.or(match message.reasoning {
        Some(Value::String(text)) => Some(text),
        _ => None,
    });
    if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
        output.push(reasoning_item(&ids.item("rs", output.len()), &reasoning, "completed"));
    }

    let text = content_text(message.content.as_ref())?.unwrap_or_default();
    let calls = message.tool_calls.unwrap_or_default();
    // A message when there is text or a refusal, or when there would be no output at all.
    if !text.is_empty() || message.refusal.is_some() || (calls.is_empty() && output.is_empty()) {
        let mut content = Vec::new();
        if !text.is_empty() || message.refusal.is_none() {
            let annotations: Vec<Value> = message.annotations.iter().flatten().filter_map(annotation).collect();
            let logprobs: Vec<Value> = choice.logprobs.and_then(|l| l.content).iter().flatten().map(logprob).collect();
            content.push(text_part(&text, &annotations, &logprobs));
        }
        if let Some(refusal) = &message.refusal {
            content.push(refusal_part(refusal));
        }
        output.push(message_item(&ids.item("msg", output.len()), content, "completed"));
    }

    for call in calls {
        let function = match (call.kind.as_deref(), call.function) {
            (None | Some("function"), Some(function)) => function,
            (kind, _) => {
                let kind = kind.unwrap_or("untyped");
                return Err(TranslateError::Response(format!("a chat completion with a {kind} tool call")));
            }
        };
        let arguments = function.arguments.unwrap_or_default();
        let id = ids.item("fc", output.len());
        output.push(call_item(&id, &call.id, &function.name, &arguments, "completed"));
    }

    if let Some(last) = output.last_mut().and_then(Value::as_object_mut) {
        last.insert("status".into(), status.last_item().into());
    }
    let id = ids.response();
    let envelope = Envelope {
        echo,
        id: &id,
        created_at: completion.created.unwrap_or_else(crate::wall::unix_secs),
        service_tier: completion.service_tier.as_deref(),
    };
    let usage = completion.usage.map(|u| u.responses());
    serde_json::to_vec(&envelope.object(status, output, usage, None))
        .map_err(|e| TranslateError::Response(format!("the translated response could not be written: {e}")))
}

/// A message's `content`: a string, or the text of an array of parts.
fn content_text(content: Option<&Value>) -> Result<Option<String>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(parts)) => Ok(Some(
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        )),
        Some(_) => Err(TranslateError::Response("a chat completion whose content is neither text nor parts".into())),
    }
}
