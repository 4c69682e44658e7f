//! `tools`, `tool_choice`, `parallel_tool_calls` and `text` (the output
//! format and verbosity) as chat-completions options, and their echoes.

use serde_json::{Map, Value, json};

use crate::ingress::responses::{invalid, quoted, untranslatable};
use crate::translate::TranslateError;

/// Why a tool other than a function cannot be sent.
const FUNCTIONS_ONLY: &str = "only function tools have a chat-completions form (built-in tools run only at OpenAI)";

/// Writes the chat options into `chat` and the echoed fields (`tools`,
/// `tool_choice`, `parallel_tool_calls`, `text`) into `echo`.
pub(super) fn translate(
    body: &Map<String, Value>,
    chat: &mut Map<String, Value>,
    echo: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let (tools, echoed) = tools(body)?;
    echo.insert("tools".into(), Value::Array(echoed));
    let choice = tool_choice(body)?;
    let parallel = match body.get("parallel_tool_calls") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(parallel)) => Some(*parallel),
        Some(_) => return Err(invalid("parallel_tool_calls", "a boolean is required")),
    };
    echo.insert("parallel_tool_calls".into(), Value::Bool(parallel.unwrap_or(true)));
    match &choice {
        Some((_, echoed)) => echo.insert("tool_choice".into(), echoed.clone()),
        None => echo.insert("tool_choice".into(), "auto".into()),
    };
    if tools.is_empty() {
        // Chat completions takes these only with tools; without any, only "none" and "auto" make sense.
        if let Some((_, echoed)) = &choice
            && !matches!(echoed.as_str(), Some("none" | "auto"))
        {
            return Err(invalid("tool_choice", "names a tool, but `tools` declares none"));
        }
    } else {
        chat.insert("tools".into(), Value::Array(tools));
        if let Some((choice, _)) = choice {
            chat.insert("tool_choice".into(), choice);
        }
        if let Some(parallel) = parallel {
            chat.insert("parallel_tool_calls".into(), Value::Bool(parallel));
        }
    }
    text(body, chat, echo)
}

/// `tools` -> (chat tools, the `FunctionTool`s echoed).
fn tools(body: &Map<String, Value>) -> Result<(Vec<Value>, Vec<Value>), TranslateError> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok((Vec::new(), Vec::new())),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(invalid("tools", "an array is required")),
    };
    let mut chat = Vec::with_capacity(tools.len());
    let mut echo = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => return Err(untranslatable(&format!("{path}.type"), &quoted(other), FUNCTIONS_ONLY)),
            None => return Err(invalid(&format!("{path}.type"), "a string is required")),
        }
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return Err(invalid(&format!("{path}.name"), "a string is required"));
        };
        let description = match tool.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d.as_str()),
            Some(_) => return Err(invalid(&format!("{path}.description"), "a string is required")),
        };
        let parameters = match tool.get("parameters") {
            None | Some(Value::Null) => None,
            Some(schema @ Value::Object(_)) => Some(schema),
            Some(_) => return Err(invalid(&format!("{path}.parameters"), "a JSON schema object is required")),
        };
        let strict = match tool.get("strict") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(strict)) => Some(*strict),
            Some(_) => return Err(invalid(&format!("{path}.strict"), "a boolean is required")),
        };
        if tool.get("defer_loading").and_then(Value::as_bool) == Some(true) {
            let why = "tool search runs only at OpenAI";
            return Err(untranslatable(&format!("{path}.defer_loading"), "true", why));
        }
        match tool.get("allowed_callers") {
            None | Some(Value::Null) => {}
            Some(Value::Array(callers)) if callers.iter().all(|c| c.as_str() == Some("direct")) => {}
            Some(_) => {
                let why = "programmatic tool calling runs only at OpenAI";
                return Err(untranslatable(&format!("{path}.allowed_callers"), "a programmatic caller", why));
            }
        }

        let mut function = Map::new();
        function.insert("name".into(), name.into());
        if let Some(description) = description {
            function.insert("description".into(), description.into());
        }
        if let Some(parameters) = parameters {
            function.insert("parameters".into(), parameters.clone());
        }
        if let Some(strict) = strict {
            function.insert("strict".into(), strict.into());
        }
        chat.push(json!({"type": "function", "function": function}));
        echo.push(json!({
            "type": "function",
            "name": name,
            "description": description,
            "parameters": parameters,
            "strict": strict,
        }));
    }
    Ok((chat, echo))
}

/// `tool_choice` -> (the chat spelling, the echo).
fn tool_choice(body: &Map<String, Value>) -> Result<Option<(Value, Value)>, TranslateError> {
    let choice = match body.get("tool_choice") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(mode)) => match mode.as_str() {
            "none" | "auto" | "required" => return Ok(Some((mode.as_str().into(), mode.as_str().into()))),
            other => return Err(invalid("tool_choice", &format!("{} is not a tool choice", quoted(other)))),
        },
        Some(Value::Object(choice)) => choice,
        Some(_) => return Err(invalid("tool_choice", "a string or an object is required")),
    };
    match choice.get("type").and_then(Value::as_str) {
        Some("function") => {
            let name = function_name(choice, "tool_choice")?;
            Ok(Some((
                json!({"type": "function", "function": {"name": name}}),
                json!({"type": "function", "name": name}),
            )))
        }
        Some("allowed_tools") => {
            let mode = match choice.get("mode").and_then(Value::as_str) {
                Some(mode @ ("auto" | "required")) => mode,
                _ => return Err(invalid("tool_choice.mode", "\"auto\" or \"required\" is required")),
            };
            let Some(Value::Array(tools)) = choice.get("tools") else {
                return Err(invalid("tool_choice.tools", "an array is required"));
            };
            let mut chat = Vec::with_capacity(tools.len());
            let mut echo = Vec::with_capacity(tools.len());
            for (i, tool) in tools.iter().enumerate() {
                let path = format!("tool_choice.tools[{i}]");
                let Some(tool) = tool.as_object() else {
                    return Err(invalid(&path, "an object is required"));
                };
                match tool.get("type").and_then(Value::as_str) {
                    Some("function") => {}
                    Some(other) => {
                        return Err(untranslatable(&format!("{path}.type"), &quoted(other), FUNCTIONS_ONLY));
                    }
                    None => return Err(invalid(&format!("{path}.type"), "a string is required")),
                }
                let name = function_name(tool, &path)?;
                chat.push(json!({"type": "function", "function": {"name": name}}));
                echo.push(json!({"type": "function", "name": name}));
            }
            Ok(Some((
                json!({"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": chat}}),
                json!({"type": "allowed_tools", "mode": mode, "tools": echo}),
            )))
        }
        Some(other) => Err(untranslatable("tool_choice.type", &quoted(other), FUNCTIONS_ONLY)),
        None => Err(invalid("tool_choice.type", "a string is required")),
    }
}

fn function_name<'a>(choice: &'a Map<String, Value>, path: &str) -> Result<&'a str, TranslateError> {
    choice.get("name").and_then(Value::as_str).ok_or_else(|| invalid(&format!("{path}.name"), "a string is required"))
}

/// `text.format` -> `response_format`, `text.verbosity` -> `verbosity`; echoes `text`.
fn text(
    body: &Map<String, Value>,
    chat: &mut Map<String, Value>,
    echo: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    let text = match body.get("text") {
        None | Some(Value::Null) => {
            echo.insert("text".into(), json!({"format": {"type": "text"}}));
            return Ok(());
        }
        Some(Value::Object(text)) => text,
        Some(_) => return Err(invalid("text", "an object is required")),
    };
    let mut echoed = Map::new();
    match text.get("format") {
        None | Some(Value::Null) => {
            echoed.insert("format".into(), json!({"type": "text"}));
        }
        Some(Value::Object(format)) => {
            let (response_format, format) = output_format(format)?;
            if let Some(response_format) = response_format {
                chat.insert("response_format".into(), response_format);
            }
            echoed.insert("format".into(), format);
        }
        Some(_) => return Err(invalid("text.format", "an object is required")),
    }
    match text.get("verbosity") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if matches!(v.as_str(), "low" | "medium" | "high") => {
            chat.insert("verbosity".into(), v.as_str().into());
            echoed.insert("verbosity".into(), v.as_str().into());
        }
        Some(_) => return Err(invalid("text.verbosity", "\"low\", \"medium\" or \"high\" is required")),
    }
    echo.insert("text".into(), Value::Object(echoed));
    Ok(())
}

/// A `text.format` -> (the chat `response_format`, if any; the echoed format).
fn output_format(format: &Map<String, Value>) -> Result<(Option<Value>, Value), TranslateError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok((None, json!({"type": "text"}))),
        Some("json_object") => Ok((Some(json!({"type": "json_object"})), json!({"type": "json_object"}))),
        Some("json_schema") => {
            let Some(name) = format.get("name").and_then(Value::as_str) else {
                return Err(invalid("text.format.name", "a string is required"));
            };
            let Some(schema @ Value::Object(_)) = format.get("schema") else {
                return Err(invalid("text.format.schema", "a JSON schema object is required"));
            };
            let mut json_schema = Map::new();
            json_schema.insert("name".into(), name.into());
            match format.get("description") {
                None | Some(Value::Null) => {}
                Some(Value::String(d)) => {
                    json_schema.insert("description".into(), d.as_str().into());
                }
                Some(_) => return Err(invalid("text.format.description", "a string is required")),
            }
            json_schema.insert("schema".into(), schema.clone());
            match format.get("strict") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(strict)) => {
                    json_schema.insert("strict".into(), (*strict).into());
                }
                Some(_) => return Err(invalid("text.format.strict", "a boolean is required")),
            }
            let mut echoed = json_schema.clone();
            echoed.insert("type".into(), "json_schema".into());
            Ok((Some(json!({"type": "json_schema", "json_schema": json_schema})), Value::Object(echoed)))
        }
        Some(other) => Err(invalid("text.format.type", &format!("{} is not an output format", quoted(other)))),
        None => Err(invalid("text.format.type", "a string is required")),
    }
}
