//! A tiny JSON-schema checker, so tests can assert that what the proxy produces
//! validates against the providers' published schemas: OpenAI's and Anthropic's.
//!
//! The schemas live in `tests/fixtures/openai-schemas.json`, an extract of the
//! `components.schemas` of OpenAI's `openapi.json`, and
//! `tests/fixtures/anthropic-schemas.json`, Anthropic's Messages schemas in the
//! same layout (each says where it comes from in its `x-source`). Only what
//! those schemas use is supported: `$ref` (local, e.g. `#/components/schemas/X`),
//! `type` (a name or a list of names, `"null"` included), `nullable: true`, `required`, `properties`,
//! `items`, `enum`, `const`, `anyOf`, `oneOf` (treated like `anyOf`: at least one
//! alternative must match), `allOf`, and `additionalProperties: false`. Everything
//! else (descriptions, formats, patterns, lengths, defaults, discriminators, `x-*`, and
//! `additionalProperties` given as a schema) is ignored.
//!
//! Two deliberate choices: a schema with `properties` or `required` but no `type`
//! is taken to describe an object (OpenAI's `Model` omits `type`), and, as in
//! OpenAPI, `nullable: true` admits `null` whatever the schema's other keywords
//! say (e.g. a nullable `enum` that does not list `null`).
//!
//! ```ignore
//! let body = serde_json::json!({"object": "list", "data": []});
//! switchyard_tests::schema::validate("ListModelsResponse", &body).unwrap();
//! let error = serde_json::json!({"type": "error", "error": {"type": "api_error", "message": "boom"}});
//! switchyard_tests::schema::validate_with(Spec::Anthropic, "ErrorResponse", &error).unwrap();
//! ```

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// Whose published schemas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `tests/fixtures/openai-schemas.json`.
    OpenAi,
    /// `tests/fixtures/anthropic-schemas.json`.
    Anthropic,
}

/// How deep `$ref`s and nesting may go before we assume a reference cycle.
const MAX_DEPTH: usize = 128;

/// Checks `value` against `components.schemas[schema_name]` of the OpenAI schema
/// fixture.
///
/// Every violation found is reported, each as a string starting with the JSON
/// path of the offending value, e.g. `$.error.param: expected string or null,
/// found 3`. An unknown `schema_name` is an error too.
pub fn validate(schema_name: &str, value: &Value) -> Result<(), Vec<String>> {
    validate_with(Spec::OpenAi, schema_name, value)
}

/// [`validate`] against `spec`'s fixture (e.g. `Spec::Anthropic`, `"Message"`).
pub fn validate_with(spec: Spec, schema_name: &str, value: &Value) -> Result<(), Vec<String>> {
    let document = document(spec).map_err(|error| vec![error.clone()])?;
    validate_in(document, schema_name, value)
}

/// [`validate`] against `components.schemas[schema_name]` of another OpenAPI
/// document (the data plane's own `openapi.json`, say), whose `$ref`s are local to it.
pub fn validate_in(document: &'static Value, schema_name: &str, value: &Value) -> Result<(), Vec<String>> {
    let schemas = document.pointer("/components/schemas").and_then(Value::as_object);
    let Some(schema) = schemas.and_then(|schemas| schemas.get(schema_name)) else {
        let known: Vec<&str> = schemas.into_iter().flat_map(|schemas| schemas.keys()).map(String::as_str).collect();
        return Err(vec![format!("unknown schema `{schema_name}`; the fixture holds: {}", known.join(", "))]);
    };
    let mut issues = Vec::new();
    Checker { document }.check(schema, value, "$", 0, &mut issues);
    if issues.is_empty() { Ok(()) } else { Err(issues.iter().map(Issue::to_string).collect()) }
}

/// `spec`'s fixture, parsed once.
fn document(spec: Spec) -> Result<&'static Value, &'static String> {
    static OPENAI: OnceLock<Result<Value, String>> = OnceLock::new();
    static ANTHROPIC: OnceLock<Result<Value, String>> = OnceLock::new();
    let (cell, text, name) = match spec {
        Spec::OpenAi => (&OPENAI, include_str!("../fixtures/openai-schemas.json"), "openai-schemas.json"),
        Spec::Anthropic => (&ANTHROPIC, include_str!("../fixtures/anthropic-schemas.json"), "anthropic-schemas.json"),
    };
    cell.get_or_init(|| serde_json::from_str(text).map_err(|error| format!("tests/fixtures/{name}: {error}"))).as_ref()
}

/// One violation: where, and what.
struct Issue {
    path: String,
    kind: IssueKind,
}

enum IssueKind {
    /// The value's type is none of these; kept apart so that the failures of
    /// `anyOf: [{type: string}, {type: null}]` merge into "expected string or null".
    Type {
        expected: Vec<String>,
        found: String,
    },
    Other(String),
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            IssueKind::Type { expected, found } => {
                write!(f, "{}: expected {}, found {found}", self.path, expected.join(" or "))
            }
            IssueKind::Other(message) => write!(f, "{}: {message}", self.path),
        }
    }
}

struct Checker {
    document: &'static Value,
}

impl Checker {
    fn check(&self, schema: &Value, value: &Value, path: &str, depth: usize, issues: &mut Vec<Issue>) {
        let other = |message: String| Issue { path: path.to_owned(), kind: IssueKind::Other(message) };
        if depth > MAX_DEPTH {
            issues.push(other("schema nests too deeply (a `$ref` cycle?)".to_owned()));
            return;
        }
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return issues.push(other("no value is allowed here".to_owned())),
            Value::Object(schema) => schema,
            _ => return issues.push(other(format!("the schema is not an object: {}", snippet(schema)))),
        };
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }

        if let Some(reference) = schema.get("$ref") {
            match reference.as_str().and_then(|reference| self.resolve(reference)) {
                Some(target) => self.check(target, value, path, depth + 1, issues),
                None => issues.push(other(format!("cannot resolve $ref {reference}"))),
            }
        }

        if !self.check_type(schema, value, path, issues) {
            // Everything below presumes the right type; more errors would be noise.
            return;
        }

        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let allowed: Vec<String> = allowed.iter().map(snippet).collect();
            issues.push(other(format!("expected one of [{}], found {}", allowed.join(", "), snippet(value))));
        }

        if let Some(expected) = schema.get("const")
            && expected != value
        {
            issues.push(other(format!("expected {}, found {}", snippet(expected), snippet(value))));
        }

        if let Some(object) = value.as_object() {
            self.check_object(schema, object, path, depth, issues);
        }

        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{path}[{index}]"), depth + 1, issues);
            }
        }

        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for branch in all {
                self.check(branch, value, path, depth + 1, issues);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
                self.check_any(keyword, branches, value, path, depth, issues);
            }
        }
    }

    /// Checks `type` (and the implied object type); returns whether it matched.
    fn check_type(&self, schema: &Map<String, Value>, value: &Value, path: &str, issues: &mut Vec<Issue>) -> bool {
        let mut expected: Vec<String> = match schema.get("type") {
            Some(Value::String(name)) => vec![name.clone()],
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(_) => {
                let message = "the schema's `type` is neither a string nor a list".to_owned();
                issues.push(Issue { path: path.to_owned(), kind: IssueKind::Other(message) });
                return false;
            }
            None if schema.contains_key("properties") || schema.contains_key("required") => vec!["object".to_owned()],
            None => return true,
        };
        if schema.get("nullable") == Some(&Value::Bool(true)) && !expected.iter().any(|name| name == "null") {
            expected.push("null".to_owned());
        }
        if expected.iter().any(|name| has_type(value, name)) {
            return true;
        }
        issues.push(Issue { path: path.to_owned(), kind: IssueKind::Type { expected, found: snippet(value) } });
        false
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
        issues: &mut Vec<Issue>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                let message = "required property is missing".to_owned();
                issues.push(Issue { path: child_path(path, name), kind: IssueKind::Other(message) });
            }
        }
        for (name, property) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property_schema) => {
                    self.check(property_schema, property, &child_path(path, name), depth + 1, issues)
                }
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    let message = "property is not allowed (additionalProperties: false)".to_owned();
                    issues.push(Issue { path: child_path(path, name), kind: IssueKind::Other(message) });
                }
                None => {}
            }
        }
    }

    /// `anyOf`/`oneOf`: at least one branch must match.
    fn check_any(
        &self,
        keyword: &str,
        branches: &[Value],
        value: &Value,
        path: &str,
        depth: usize,
        issues: &mut Vec<Issue>,
    ) {
        let mut failures = Vec::with_capacity(branches.len());
        for branch in branches {
            let mut branch_issues = Vec::new();
            self.check(branch, value, path, depth + 1, &mut branch_issues);
            if branch_issues.is_empty() {
                return;
            }
            failures.push(branch_issues);
        }
        // When every branch merely wanted another type here, say which types.
        let mut expected = Vec::new();
        let mut found = None;
        for failure in &failures {
            match failure.as_slice() {
                [Issue { path: at, kind: IssueKind::Type { expected: types, found: what } }] if at == path => {
                    for name in types {
                        if !expected.contains(name) {
                            expected.push(name.clone());
                        }
                    }
                    found = Some(what.clone());
                }
                _ => {
                    found = None;
                    break;
                }
            }
        }
        if let Some(found) = found {
            return issues.push(Issue { path: path.to_owned(), kind: IssueKind::Type { expected, found } });
        }
        let reasons: Vec<String> = failures
            .iter()
            .enumerate()
            .map(|(index, failure)| {
                let failure: Vec<String> = failure.iter().map(Issue::to_string).collect();
                format!("alternative {index}: {}", failure.join("; "))
            })
            .collect();
        let message = format!("matches none of the {keyword} alternatives ({})", reasons.join(" | "));
        issues.push(Issue { path: path.to_owned(), kind: IssueKind::Other(message) });
    }

    /// A local reference (`#/components/schemas/X`), as a JSON pointer into the fixture.
    fn resolve(&self, reference: &str) -> Option<&'static Value> {
        self.document.pointer(reference.strip_prefix('#')?)
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        // As in JSON Schema, 2.0 is an integer too.
        "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|number| number.fract() == 0.0),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn child_path(path: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { format!("{path}.{name}") } else { format!("{path}[{}]", Value::from(name)) }
}

/// A value, compactly, for an error message.
fn snippet(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Spec, validate, validate_in, validate_with};

    #[test]
    fn const_is_checked_in_another_document() {
        let document: &'static serde_json::Value = Box::leak(Box::new(json!({"components": {"schemas": {
            "Index": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "const": "x"}}},
            "Wrapper": {"type": "object", "properties": {"index": {"$ref": "#/components/schemas/Index"}}}
        }}})));
        assert_eq!(validate_in(document, "Wrapper", &json!({"index": {"name": "x"}})), Ok(()));
        let errors = validate_in(document, "Wrapper", &json!({"index": {"name": "y"}})).unwrap_err();
        assert_eq!(errors, ["$.index.name: expected \"x\", found \"y\""]);
    }

    #[test]
    fn a_valid_openai_error_passes() {
        let body = json!({"error": {
            "message": "The model `gpt-9` does not exist",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found"
        }});
        assert_eq!(validate("ErrorResponse", &body), Ok(()));
        let body = json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}});
        assert_eq!(validate("ErrorResponse", &body), Ok(()));
    }

    #[test]
    fn an_error_without_param_fails_naming_it() {
        let body = json!({"error": {"message": "m", "type": "t", "code": null}});
        let errors = validate("ErrorResponse", &body).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("$.error.param:"), "{errors:?}");
    }

    #[test]
    fn an_error_with_a_numeric_code_fails() {
        let body = json!({"error": {"message": "m", "type": "t", "param": null, "code": 5}});
        let errors = validate("ErrorResponse", &body).unwrap_err();
        assert_eq!(errors, ["$.error.code: expected string or null, found 5"]);
    }

    #[test]
    fn errors_carry_the_json_path() {
        let body = json!({"error": {"message": "m", "type": "t", "param": 3, "code": null}});
        assert_eq!(validate("ErrorResponse", &body).unwrap_err(), ["$.error.param: expected string or null, found 3"]);
        assert_eq!(validate("Error", &json!("nope")).unwrap_err(), ["$: expected object, found \"nope\""]);
    }

    #[test]
    fn a_models_list_passes_and_a_wrong_object_fails() {
        let list = json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1_705_948_997, "owned_by": "system",
                 "shutdown_date": null}
            ]
        });
        assert_eq!(validate("ListModelsResponse", &list), Ok(()));

        let mut wrong = list.clone();
        wrong["object"] = json!("lists");
        let errors = validate("ListModelsResponse", &wrong).unwrap_err();
        assert_eq!(errors, ["$.object: expected one of [\"list\"], found \"lists\""]);

        let mut wrong = list;
        wrong["data"][1] = json!({"id": "x", "object": "model", "created": "yesterday"});
        let errors = validate("ListModelsResponse", &wrong).unwrap_err();
        assert!(errors.contains(&"$.data[1].owned_by: required property is missing".to_owned()), "{errors:?}");
        assert!(errors.contains(&"$.data[1].created: expected integer, found \"yesterday\"".to_owned()), "{errors:?}");
    }

    #[test]
    fn a_chat_completion_passes() {
        let completion = json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
            "object": "chat.completion",
            "created": 1_741_570_283,
            "model": "gpt-4o-2024-08-06",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help you today?",
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": "stop"
            }, {
                "index": 1,
                "message": {
                    "role": "assistant",
                    "content": null,
                    "refusal": null,
                    "tool_calls": [{
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                    }]
                },
                "logprobs": null,
                "finish_reason": "tool_calls"
            }],
            "usage": {
                "prompt_tokens": 1117,
                "completion_tokens": 46,
                "total_tokens": 1163,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0
                }
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fc9f1d7035"
        });
        assert_eq!(validate("CreateChatCompletionResponse", &completion), Ok(()));

        let mut wrong = completion;
        wrong["choices"][1]["message"]["tool_calls"][0]["type"] = json!("fn");
        let errors = validate("CreateChatCompletionResponse", &wrong).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("$.choices[1].message.tool_calls[0]: matches none of the oneOf"), "{errors:?}");
    }

    #[test]
    fn chat_completion_chunks_pass() {
        let first = json!({
            "id": "chatcmpl-123",
            "object": "chat.completion.chunk",
            "created": 1_694_268_190,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_44709d6fcb",
            "service_tier": "default",
            "choices": [{
                "index": 0,
                "delta": {"role": "assistant", "content": "", "refusal": null},
                "logprobs": null,
                "finish_reason": null
            }],
            "usage": null
        });
        assert_eq!(validate("CreateChatCompletionStreamResponse", &first), Ok(()));

        let last = json!({
            "id": "chatcmpl-123",
            "object": "chat.completion.chunk",
            "created": 1_694_268_190,
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
        });
        assert_eq!(validate("CreateChatCompletionStreamResponse", &last), Ok(()));

        let mut wrong = first;
        wrong["choices"][0]["finish_reason"] = json!("done");
        assert_eq!(
            validate("CreateChatCompletionStreamResponse", &wrong).unwrap_err(),
            [
                "$.choices[0].finish_reason: expected one of [\"stop\", \"length\", \"tool_calls\", \"content_filter\", \"function_call\"], found \"done\""
            ]
        );
    }

    #[test]
    fn an_embedding_response_passes() {
        let body = json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093, 1]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8}
        });
        assert_eq!(validate("CreateEmbeddingResponse", &body), Ok(()));
    }

    #[test]
    fn an_unknown_schema_is_an_error() {
        let errors = validate("NoSuchSchema", &json!({})).unwrap_err();
        assert!(errors[0].starts_with("unknown schema `NoSuchSchema`"), "{errors:?}");
    }

    #[test]
    fn anthropics_documented_answers_pass_and_a_wrong_one_fails() {
        let anthropic = |name: &str, value: &serde_json::Value| validate_with(Spec::Anthropic, name, value);
        let usage = json!({"input_tokens": 2095, "output_tokens": 503, "cache_creation_input_tokens": null,
            "cache_read_input_tokens": null, "cache_creation": null, "server_tool_use": null, "service_tier": null});
        let mut message = json!({"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-20250514", "content": [{"type": "text", "text": "Hi! My name is Claude.",
            "citations": null}], "stop_reason": "end_turn", "stop_sequence": null, "usage": usage, "container": null});
        assert_eq!(anthropic("Message", &message), Ok(()));
        let event = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}});
        assert_eq!(anthropic("MessageStreamEvent", &event), Ok(()));
        let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert_eq!(anthropic("ErrorResponse", &error), Ok(()));
        assert_eq!(anthropic("ErrorEvent", &error), Ok(()));

        message["usage"].as_object_mut().unwrap().remove("service_tier");
        assert_eq!(anthropic("Message", &message).unwrap_err(), ["$.usage.service_tier: required property is missing"]);
        assert!(
            anthropic(
                "ContentBlockDeltaEvent",
                &json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "partial_json": "{}"}})
            )
            .is_err()
        );
        assert!(
            anthropic("ErrorResponse", &json!({"error": {"message": "m", "type": "t", "param": null, "code": null}}))
                .is_err()
        );
        // The OpenAI fixture is still the default one.
        assert!(validate("Message", &message).is_err());
    }
}
