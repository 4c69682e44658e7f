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

/// How deep [`is_json`] follows nested arrays and objects (past any real
/// stream event; deeper text is refused, as SDKs' parsers refuse it).
pub(crate) const MAX_DEPTH: usize = 1024;

/// Whether `text` is exactly one JSON value (RFC 8259), whitespace around it
/// allowed: one walk over the bytes, with nothing built or allocated (the
/// open arrays and objects are bits in a fixed stack of [`MAX_DEPTH`]).
/// Escapes are checked for their form only (a lone surrogate passes, as
/// most parsers let it).
pub(crate) fn is_json(text: &str) -> bool {
    let b = text.as_bytes();
    let mut nesting = Nesting::default();
    let mut i = skip_ws(b, 0);
    'value: loop {
        // At a value.
        let end = match b.get(i) {
            Some(b'{') => {
                if !nesting.push(true) {
                    return false;
                }
                i = skip_ws(b, i + 1);
                if b.get(i) != Some(&b'}') {
                    match key(b, i) {
                        Some(at) => i = at,
                        None => return false,
                    }
                    continue 'value;
                }
                nesting.pop();
                Some(i + 1)
            }
            Some(b'[') => {
                if !nesting.push(false) {
                    return false;
                }
                i = skip_ws(b, i + 1);
                if b.get(i) != Some(&b']') {
                    continue 'value;
                }
                nesting.pop();
                Some(i + 1)
            }
            Some(b'"') => string_end(b, i),
            Some(b't') => literal(b, i, b"true"),
            Some(b'f') => literal(b, i, b"false"),
            Some(b'n') => literal(b, i, b"null"),
            Some(b'-' | b'0'..=b'9') => number_end(b, i),
            _ => None,
        };
        let Some(end) = end else { return false };
        i = end;
        // After a value: close what it ends, or go on to the next value.
        loop {
            i = skip_ws(b, i);
            let Some(object) = nesting.top() else { return i == b.len() };
            match b.get(i) {
                Some(b',') => {
                    let next = skip_ws(b, i + 1);
                    i = if object {
                        match key(b, next) {
                            Some(at) => at,
                            None => return false,
                        }
                    } else {
                        next
                    };
                    continue 'value;
                }
                Some(b'}') if object => {}
                Some(b']') if !object => {}
                _ => return false,
            }
            nesting.pop();
            i += 1;
        }
    }
}

/// The open arrays and objects (a set bit: an object), innermost last.
#[derive(Default)]
struct Nesting {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Nesting {
    fn push(&mut self, object: bool) -> bool {
        if self.depth == MAX_DEPTH {
            return false;
        }
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if object {
            self.bits[word] |= 1 << bit;
        } else {
            self.bits[word] &= !(1 << bit);
        }
        self.depth += 1;
        true
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the innermost one is an object; `None` at the top level.
    fn top(&self) -> Option<bool> {
        let at = self.depth.checked_sub(1)?;
        Some(self.bits[at / 64] & (1 << (at % 64)) != 0)
    }
}

/// At a member's key: the index of its value (after the key, `:` and whitespace).
fn key(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let colon = skip_ws(b, string_end(b, i)?);
    (b.get(colon) == Some(&b':')).then(|| skip_ws(b, colon + 1))
}

/// The index after the valid string opening at `b[i]`: no raw control
/// character, every escape one of JSON's.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => match *b.get(j + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                b'u' if b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) => j += 6,
                _ => return None,
            },
            0..=0x1f => return None,
            _ => j += 1,
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// The index after the valid number starting at `b[i]`:
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(b: &[u8], i: usize) -> Option<usize> {
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut j = i + usize::from(b.get(i) == Some(&b'-'));
    j = match b.get(j)? {
        b'0' => j + 1,
        b'1'..=b'9' => digits(j),
        _ => return None,
    };
    if b.get(j) == Some(&b'.') {
        let end = digits(j + 1);
        if end == j + 1 {
            return None;
        }
        j = end;
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1 + usize::from(matches!(b.get(j + 1), Some(b'+' | b'-')));
        let end = digits(j);
        if end == j {
            return None;
        }
        j = end;
    }
    Some(j)
}

#[cfg(test)]
mod tests;
