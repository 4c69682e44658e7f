//! Finding things in a JSON object text without parsing it into a tree: the
//! few scans the stream tap needs per event, each a walk over bytes.
//! The text is assumed to be valid JSON (the upstream's); on anything else
//! they find nothing rather than fail.

use std::ops::Range;

pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// `i` moved back over whitespace.
fn back_ws(b: &[u8], mut i: usize) -> usize {
    while i > 0 && is_ws(b[i - 1]) {
        i -= 1;
    }
    i
}

/// The fast path: a JSON object text ending in `, "usage": null }` (any
/// whitespace). In a valid object text that member is necessarily a top-level
/// one. Returns what to cut: from the end of the previous value to the end
/// of `null`.
pub(crate) fn trailing_null_usage(data: &str) -> Option<Range<usize>> {
    let b = data.as_bytes();
    let mut i = back_ws(b, b.len());
    i = i.checked_sub(1).filter(|&i| b[i] == b'}')?;
    let end = back_ws(b, i);
    i = end.checked_sub(4).filter(|&i| &b[i..end] == b"null")?;
    i = back_ws(b, i);
    i = i.checked_sub(1).filter(|&i| b[i] == b':')?;
    let key_end = back_ws(b, i);
    i = key_end.checked_sub(7).filter(|&i| &b[i..key_end] == b"\"usage\"")?;
    i = back_ws(b, i);
    i = i.checked_sub(1).filter(|&i| b[i] == b',')?;
    Some(back_ws(b, i)..end)
}

/// A top-level member of a JSON object text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub value: Range<usize>,
    /// The member with one separator: from the end of the previous value, or
    /// for a first member up to the next key.
    pub removal: Range<usize>,
}

/// Finds the top-level member `key` (written without escapes) by walking the
/// object's members; `None` when absent or when the text is not an object.
pub(crate) fn member(json: &str, key: &str) -> Option<Member> {
    let b = json.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut previous_end = None;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_start = i;
        let key_end = skip_string(b, i)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(b, i + 1);
        let value_end = skip_value(b, value_start)?;
        i = skip_ws(b, value_end);
        let next = *b.get(i)?;
        if &json[key_start + 1..key_end - 1] == key {
            let removal = match previous_end {
                Some(p) => p..value_end,
                None if next == b',' => key_start..skip_ws(b, i + 1),
                None => key_start..value_end,
            };
            return Some(Member { value: value_start..value_end, removal });
        }
        if next != b',' {
            return None;
        }
        previous_end = Some(value_end);
        i += 1;
    }
}

/// The index after the string opening at `b[i]`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The index after the value starting at `b[i]`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let end = b[i..].iter().position(|&c| matches!(c, b',' | b'}' | b']') || is_ws(c));
            Some(end.map_or(b.len(), |n| i + n))
        }
    }
}

pub(crate) fn is_empty_array(value: &str) -> bool {
    value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).is_some_and(|inner| inner.trim().is_empty())
}

/// `"usage"` followed by `:` and an object, anywhere.
pub(crate) fn has_usage_object(data: &str) -> bool {
    let b = data.as_bytes();
    let mut from = 0;
    while let Some(found) = data[from..].find("\"usage\"") {
        let mut i = skip_ws(b, from + found + 7);
        if b.get(i) == Some(&b':') {
            i = skip_ws(b, i + 1);
            if b.get(i) == Some(&b'{') {
                return true;
            }
        }
        from += found + 7;
    }
    false
}
