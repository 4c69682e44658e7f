//! YAML scalars: how a string is spelled so that it reads back as itself.

/// `s` as a YAML scalar that reads back as the string `s`: plain when that is
/// unambiguous (in YAML 1.1 and 1.2 alike), double-quoted otherwise.
pub(super) fn quote(s: &str, flow: bool) -> String {
    if plain_ok(s, flow) { s.to_owned() } else { double_quoted(s) }
}

fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let first_ok = first.is_ascii_alphanumeric()
        || matches!(first, '_' | '.' | '/' | '$' | '(' | '\\' | '^' | ';')
        || (!first.is_ascii() && first.is_alphanumeric());
    if !first_ok || s.ends_with(|c: char| c.is_whitespace() || c == ':') {
        return false;
    }
    let chars_ok = s.chars().all(|c| match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' => true,
        '-' | '_' | '.' | '/' | '@' | '+' | '=' | '~' | '%' | '&' | '?' | '!' | '*' | '$' | '(' | ')' | ';' => true,
        '\'' | '"' | '<' | '>' | '|' | '^' | '\\' | '#' | '`' => true,
        // Flow indicators (and `:` before one) end a plain scalar inside `{...}`.
        ':' | ',' | '[' | ']' | '{' | '}' => !flow,
        c => !c.is_ascii() && c.is_alphanumeric(),
    });
    chars_ok && !s.contains(": ") && !s.contains(" #") && !is_keyword(s) && !looks_numeric(s)
}

/// Words that YAML 1.1 or 1.2 reads as null, a boolean or something else than a string.
fn is_keyword(s: &str) -> bool {
    const WORDS: &[&str] = &["null", "~", "true", "false", "yes", "no", "y", "n", "on", "off", "<<", "="];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// Anything a YAML implementation might read as a number or a date:
/// integers in any base, floats, `.inf`/`.nan`, `1_000`, sexagesimal `1:30`, `2024-10-21...`.
fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan" | "inf" | "nan" | "infinity") {
        return true;
    }
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") {
        return true;
    }
    let b = s.as_bytes();
    if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
        return true;
    }
    t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b':' | b'e' | b'E' | b'+' | b'-'))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            // Line breaks in YAML 1.1, the byte-order mark, and everything outside YAML's printable set.
            '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;
    use serde_norway::Value;

    fn read(yaml: &str) -> Value {
        serde_norway::from_str::<Value>(yaml).unwrap_or_else(|e| panic!("{yaml:?}: {e}"))
    }

    #[test]
    fn scalars_read_back_as_the_same_string() {
        let cases = [
            "plain",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "False",
            "null",
            "NULL",
            "~",
            "",
            " ",
            "1",
            "-1",
            "+1",
            "1.0",
            "1.",
            ".5",
            "1e5",
            "1E-5",
            "0x10",
            "0o17",
            "0b11",
            "1_000",
            "1:30",
            "12:30:00",
            ".inf",
            "-.Inf",
            ".nan",
            "NaN",
            "inf",
            "Infinity",
            "007",
            "0",
            "2024-10-21",
            "2027-01-01T00:00:00Z",
            "<<",
            "=",
            "-",
            "--",
            "---",
            "...",
            "?",
            "? x",
            "- x",
            ":",
            "a:",
            "a: b",
            "a:b",
            "a #b",
            "a#b",
            "#x",
            "&a",
            "*a",
            "!tag",
            "!!str",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "> x",
            "'q'",
            "\"dq\"",
            "it's",
            "{a}",
            "[a]",
            "a,b",
            "a]",
            "a}",
            "{",
            "${env:X}",
            "$${x}",
            "${redacted:0123456789ab}",
            " lead",
            "trail ",
            "two  spaces",
            "tab\tx",
            "new\nline",
            "\n",
            "cr\rx",
            "nul\0x",
            "bell\u{7}",
            "del\u{7f}",
            "nel\u{85}x",
            "ls\u{2028}x",
            "ps\u{2029}x",
            "bom\u{feff}x",
            "\u{feff}",
            "nbsp\u{a0}",
            "é",
            "模型-v1",
            "emoji 😀",
            "back\\slash",
            "a\\nb",
            "c1\u{9f}",
            "https://api.openai.com/v1",
            "http://[::1]:8080/x?a=b&c=d#frag",
            "5xx",
            "429",
        ];
        for s in cases {
            for flow in [false, true] {
                let q = quote(s, flow);
                let doc = if flow { format!("{{k: {q}, z: 1}}") } else { format!("k: {q}\nz: 1\n") };
                let v = read(&doc);
                assert_eq!(v.get("k").and_then(Value::as_str), Some(s), "{s:?} written as {q:?} (flow: {flow})");
                let key_doc = if flow { format!("{{{q}: 1}}") } else { format!("{q}: 1\n") };
                let v = read(&key_doc);
                let Value::Mapping(m) = v else { panic!("{key_doc:?}") };
                assert_eq!(m.keys().next().and_then(Value::as_str), Some(s), "key {s:?} written as {q:?}");
            }
        }
        assert_eq!(quote("gpt-4o-mini", true), "gpt-4o-mini");
        assert_eq!(quote("${redacted:0123456789ab}", false), "${redacted:0123456789ab}");
        assert_eq!(quote("${redacted:0123456789ab}", true), "\"${redacted:0123456789ab}\"");
        assert_eq!(quote("30s", true), "30s");
        assert_eq!(quote("yes", false), "\"yes\"");
    }
}
