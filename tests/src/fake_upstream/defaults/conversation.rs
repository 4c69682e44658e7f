//! What the fake makes of a conversation, whatever API it came in, and what it
//! answers.
//!
//! * The last turn carries tool results: the answer is the text
//!   `"Tool result: {result}"` (results joined with `"; "`), so a client can
//!   see its tool result reached the provider.
//! * Tools are offered and the last user turn contains "use the tool" (any
//!   case): the answer calls the first tool offered, with arguments made up from
//!   its parameters' JSON schema ([`sample`]).
//! * Otherwise the greeting `"Hello from {model}"`, followed, when the last user
//!   turn holds images, by `". I see N image(s): TYPES"` (each image's MIME
//!   type, or `url` for a linked one), so a client can see its images arrived.

use serde_json::{Map, Value, json};

/// The phrase in the last user turn that makes the fake call a tool.
pub const TOOL_TRIGGER: &str = "use the tool";

/// How deep [`sample`] follows nested schemas.
const MAX_SCHEMA_DEPTH: usize = 8;

/// The most characters of a tool call's arguments in one streamed piece.
const ARGUMENT_PIECE: usize = 10;

/// The parts of a request the answer depends on.
#[derive(Debug, Default)]
pub(super) struct Conversation<'a> {
    /// The text of the last user turn (its text parts joined by newlines).
    pub(super) user_text: String,
    /// The text of each tool result in the last turn, in order.
    pub(super) tool_results: Vec<String>,
    /// Each image of the last user turn: its MIME type, or `url`.
    pub(super) images: Vec<String>,
    /// The tools offered, in order.
    pub(super) tools: Vec<Tool<'a>>,
}

#[derive(Debug)]
pub(super) struct Tool<'a> {
    pub(super) name: &'a str,
    /// The JSON schema of its arguments, if given.
    pub(super) parameters: Option<&'a Value>,
}

/// What the fake says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// Text, in the pieces a stream sends.
    Text(Vec<String>),
    /// A call of this tool with these arguments.
    Call { name: String, arguments: Value },
}

impl Conversation<'_> {
    pub(super) fn add_text(&mut self, text: &str) {
        if !self.user_text.is_empty() {
            self.user_text.push('\n');
        }
        self.user_text.push_str(text);
    }

    /// The answer to this conversation from `model`.
    pub(super) fn answer(&self, model: &str) -> Answer {
        if !self.tool_results.is_empty() {
            return Answer::Text(pieces(&format!("Tool result: {}", self.tool_results.join("; "))));
        }
        if let Some(tool) = self.tools.first()
            && self.user_text.to_lowercase().contains(TOOL_TRIGGER)
        {
            let arguments = tool.parameters.map_or_else(|| json!({}), |schema| sample(schema, 0));
            let arguments = if arguments.is_object() { arguments } else { json!({}) };
            return Answer::Call { name: tool.name.to_owned(), arguments };
        }
        let mut greeting = greeting(model);
        if !self.images.is_empty() {
            let n = self.images.len();
            let plural = if n == 1 { "" } else { "s" };
            greeting.push(format!(". I see {n} image{plural}: {}", self.images.join(", ")));
        }
        Answer::Text(greeting)
    }
}

impl Answer {
    /// The whole text (empty for a call).
    #[cfg(test)]
    pub(super) fn text(&self) -> String {
        match self {
            Answer::Text(pieces) => pieces.concat(),
            Answer::Call { .. } => String::new(),
        }
    }

    /// Text: one token per piece ([`super::COMPLETION_TOKENS`] for the greeting); a
    /// call: one for the name and one per argument piece.
    pub(super) fn completion_tokens(&self) -> u64 {
        match self {
            Answer::Text(pieces) => pieces.len() as u64,
            Answer::Call { arguments, .. } => 1 + argument_pieces(&arguments.to_string()).len() as u64,
        }
    }
}

/// `"Hello from {model}"` in the three pieces a stream sends.
pub(super) fn greeting(model: &str) -> Vec<String> {
    vec!["Hello".to_owned(), " from".to_owned(), format!(" {model}")]
}

/// `text` split into words, each after the first keeping its leading space.
fn pieces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        match (i, out.last_mut()) {
            (0, _) => out.push(word.to_owned()),
            (_, Some(last)) if word.is_empty() => last.push(' '),
            _ => out.push(format!(" {word}")),
        }
    }
    out
}

/// A tool call's arguments in the pieces a stream sends (at most
/// [`ARGUMENT_PIECE`] characters each).
pub(super) fn argument_pieces(arguments: &str) -> Vec<String> {
    let chars: Vec<char> = arguments.chars().collect();
    chars.chunks(ARGUMENT_PIECE).map(|piece| piece.iter().collect()).collect()
}

/// A value that fits `schema` (JSON Schema, or Gemini's OpenAPI subset with
/// upper-case type names): its first `enum` value or its `const`, else by
/// type: every property of an object, one item of an array, `"fake"`, `1`,
/// `1.5`, `true` or `null`.
pub(super) fn sample(schema: &Value, depth: usize) -> Value {
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|values| values.first()) {
        return first.clone();
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => Some(kind.to_lowercase()),
        Some(Value::Array(kinds)) => {
            kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").map(str::to_lowercase)
        }
        _ => None,
    };
    let kind = kind.or_else(|| schema.get("properties").map(|_| "object".to_owned()));
    match kind.as_deref() {
        Some("object") => {
            let mut object = Map::new();
            if depth < MAX_SCHEMA_DEPTH
                && let Some(properties) = schema.get("properties").and_then(Value::as_object)
            {
                for (name, property) in properties {
                    object.insert(name.clone(), sample(property, depth + 1));
                }
            }
            Value::Object(object)
        }
        Some("array") => match schema.get("items") {
            Some(items) if depth < MAX_SCHEMA_DEPTH => json!([sample(items, depth + 1)]),
            _ => json!([]),
        },
        Some("string") => json!("fake"),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        _ => Value::Null,
    }
}

/// The MIME type of a `data:` URL, or `url` for any other.
pub(super) fn image_type(url: &str) -> String {
    url.strip_prefix("data:")
        .and_then(|rest| rest.split([';', ',']).next())
        .filter(|mime| !mime.is_empty())
        .unwrap_or("url")
        .to_owned()
}

/// The text of a string, or of the `text` of each part of an array (joined by
/// newlines); anything else as JSON.
pub(super) fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::COMPLETION_TOKENS;
    use super::*;

    #[test]
    fn pieces_keep_the_spaces() {
        assert_eq!(pieces("Tool result: sunny"), ["Tool", " result:", " sunny"]);
        assert_eq!(pieces("a  b").concat(), "a  b");
        assert_eq!(argument_pieces("{\"city\":\"fake\"}").concat(), "{\"city\":\"fake\"}");
        assert!(argument_pieces("{\"city\":\"fake\",\"days\":1}").iter().all(|p| p.chars().count() <= ARGUMENT_PIECE));
    }

    #[test]
    fn samples_fit_their_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "STRING"}},
                "maybe": {"type": ["null", "number"]}
            },
            "required": ["city"]
        });
        assert_eq!(
            sample(&schema, 0),
            json!({"city": "fake", "unit": "celsius", "days": 1, "tags": ["fake"], "maybe": 1.5})
        );
    }

    #[test]
    fn the_answer_follows_the_conversation() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}});
        let mut conversation = Conversation {
            tools: vec![Tool { name: "weather", parameters: Some(&schema) }],
            ..Conversation::default()
        };
        conversation.add_text("Please USE THE TOOL now");
        assert_eq!(
            conversation.answer("m"),
            Answer::Call { name: "weather".into(), arguments: json!({"city": "fake"}) }
        );
        conversation.tool_results.push("sunny".into());
        assert_eq!(conversation.answer("m").text(), "Tool result: sunny");
        let pictures = Conversation { images: vec!["image/png".into(), "url".into()], ..Conversation::default() };
        assert_eq!(pictures.answer("m").text(), "Hello from m. I see 2 images: image/png, url");
        assert_eq!(Conversation::default().answer("m").completion_tokens(), COMPLETION_TOKENS);
    }

    #[test]
    fn image_types_come_from_data_urls() {
        assert_eq!(image_type("data:image/png;base64,iVBOR"), "image/png");
        assert_eq!(image_type("https://example.com/cat.jpg"), "url");
    }
}
