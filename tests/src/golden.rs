//! Golden files: what a test produced, compared with what is checked in
//! under `tests/golden/`, or written there when `SWITCHYARD_UPDATE_GOLDEN=1`.
//!
//! Only what is legitimately variable is normalised before the comparison
//! (see `tests/golden/README.md`): the wall-clock timestamps (`created`,
//! `created_at`, `completed_at`) become `"<unix time>"` (only times after
//! 2001: a 0 or a small number stays, as it would be a bug), and the tool call ids
//! the Gemini translation makes up (`call_` then the call's index and 12 random
//! hex digits, as Gemini names no calls) become `"call_<random>"`. JSON is
//! compared as values and kept pretty-printed (keys sorted); SSE is kept and
//! compared as the bytes sent, each event on its lines, with only those values
//! replaced in its `data:`. Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The variable that turns updating on.
pub const UPDATE: &str = "SWITCHYARD_UPDATE_GOLDEN";

const TIMESTAMP_KEYS: [&str; 3] = ["created", "created_at", "completed_at"];
const TIMESTAMP: &str = "<unix time>";
/// 2001-09-09: anything earlier is not a clock reading.
const PLAUSIBLE_TIME: u64 = 1_000_000_000;
const RANDOM_CALL_ID: &str = "call_<random>";

/// One folder of goldens, `tests/golden/<name>/`, and the mismatches found in it.
pub struct Golden {
    dir: PathBuf,
    update: bool,
    mismatches: Vec<String>,
}

impl Golden {
    pub fn new(name: &str) -> Golden {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
        let update = std::env::var(UPDATE).is_ok_and(|v| v == "1");
        Golden { dir, update, mismatches: Vec::new() }
    }

    /// An input file, as it is.
    pub fn input(&self, file: &str) -> Vec<u8> {
        let path = self.dir.join(file);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// An input file as JSON.
    pub fn input_json(&self, file: &str) -> Value {
        serde_json::from_slice(&self.input(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", self.dir.display()))
    }

    /// `produced` (JSON) against `file`, normalised.
    pub fn json(&mut self, file: &str, produced: &[u8]) {
        let mut value: Value = serde_json::from_slice(produced)
            .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {}", String::from_utf8_lossy(produced)));
        normalise(&mut value);
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let same = |checked: &[u8]| serde_json::from_slice::<Value>(checked).is_ok_and(|checked| checked == value);
        self.compare(file, &text, same);
    }

    /// `produced` (an SSE body) against `file`, normalised.
    pub fn sse(&mut self, file: &str, produced: &[u8]) {
        let text = normalise_sse(std::str::from_utf8(produced).expect("an SSE body is UTF-8"));
        let same = |checked: &[u8]| checked == text.as_bytes();
        self.compare(file, &text, same);
    }

    fn compare(&mut self, file: &str, text: &str, same: impl Fn(&[u8]) -> bool) {
        let path = self.dir.join(file);
        if self.update {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        match std::fs::read(&path) {
            Ok(checked) if same(&checked) => {}
            Ok(checked) => self.mismatches.push(format!(
                "{} differs; it is now:\n{text}\n(checked in:\n{})",
                path.display(),
                String::from_utf8_lossy(&checked)
            )),
            Err(e) => self.mismatches.push(format!("{}: {e}", path.display())),
        }
    }

    /// Fails, naming every golden that differs (and how to update them).
    pub fn finish(self) {
        assert!(
            self.mismatches.is_empty(),
            "{}\n\nIf the change is right, review it and run with {UPDATE}=1 to rewrite the goldens.",
            self.mismatches.join("\n\n")
        );
    }
}

/// Replaces the variable values of `value` (see the module doc).
pub fn normalise(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, member) in object.iter_mut() {
                if TIMESTAMP_KEYS.contains(&key.as_str()) && member.as_u64().is_some_and(|t| t >= PLAUSIBLE_TIME) {
                    *member = Value::String(TIMESTAMP.to_owned());
                } else {
                    normalise(member);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::String(s) if is_random_call_id(s) => *s = RANDOM_CALL_ID.to_owned(),
        _ => {}
    }
}

/// Gemini's translation names a call `call_{index}{12 hex digits}`.
fn is_random_call_id(s: &str) -> bool {
    s.strip_prefix("call_").is_some_and(|rest| rest.len() >= 13 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An SSE body with the variable values of each `data:` JSON replaced in place.
pub fn normalise_sse(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|line| match line.strip_prefix("data: ") {
            Some(data) => {
                let (json, end) = data.split_at(data.trim_end_matches(['\r', '\n']).len());
                format!("data: {}{end}", normalise_text(json))
            }
            None => line.to_owned(),
        })
        .collect()
}

/// JSON text with its timestamps and random call ids replaced, the rest byte for byte.
fn normalise_text(json: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(json) else { return json.to_owned() };
    let mut text = json.to_owned();
    let mut ids = Vec::new();
    random_ids(&value, &mut ids);
    for id in ids {
        text = text.replace(&format!("\"{id}\""), &format!("\"{RANDOM_CALL_ID}\""));
    }
    for key in TIMESTAMP_KEYS {
        for colon in [":", ": "] {
            let pattern = format!("\"{key}\"{colon}");
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(at) = rest.find(&pattern) {
                let (before, after) = rest.split_at(at + pattern.len());
                out.push_str(before);
                let digits = after.bytes().take_while(u8::is_ascii_digit).count();
                let time = after[..digits].parse::<u64>().is_ok_and(|t| t >= PLAUSIBLE_TIME);
                if time {
                    out.push_str(&format!("\"{TIMESTAMP}\""));
                }
                rest = &after[if time { digits } else { 0 }..];
            }
            out.push_str(rest);
            text = out;
        }
    }
    text
}

fn random_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => object.values().for_each(|v| random_ids(v, out)),
        Value::Array(items) => items.iter().for_each(|v| random_ids(v, out)),
        Value::String(s) if is_random_call_id(s) && !out.contains(s) => out.push(s.clone()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{normalise, normalise_sse};

    #[test]
    fn only_timestamps_and_made_up_call_ids_are_normalised() {
        let mut value = json!({"created": 1_750_000_000, "id": "call_0a1b2c3d4e5f6", "call_id": "call_Hn4Xb2tQm9",
            "usage": {"created_at": 1_750_000_001, "n": 7, "completed_at": 0}, "items": ["call_12ab34cd56ef78", "created"], "completed_at": null});
        normalise(&mut value);
        assert_eq!(
            value,
            json!({"created": "<unix time>", "id": "call_<random>", "call_id": "call_Hn4Xb2tQm9",
                "usage": {"created_at": "<unix time>", "n": 7, "completed_at": 0}, "items": ["call_<random>", "created"],
                "completed_at": null})
        );
        let sse = "event: x\ndata: {\"created\":1750000000,\"a\": {\"created_at\": 1750000000, \"created\":0},\"id\":\"call_0a1b2c3d4e5f6\"}\n\n: ping\n\n";
        assert_eq!(
            normalise_sse(sse),
            "event: x\ndata: {\"created\":\"<unix time>\",\"a\": {\"created_at\": \"<unix time>\", \"created\":0},\"id\":\"call_<random>\"}\n\n: ping\n\n"
        );
    }
}
