//! The path a client names after `/v1`, checked before it is joined to a
//! provider's base URL, so the join can only ever land under the base path.
//!
//! The path is taken as it arrived (still percent-encoded). Refused: anything
//! that a URL parser or an upstream server could turn into a step up or a
//! different path: `.` and `..` segments, written or escaped in any case
//! (`%2e`, `.%2E`), also before a `;` parameter (`..;/`, which some servers
//! read as `..`); escaped separators (`%2f`, `%5c`) and backslashes; an
//! escaped `%` (decoded twice, `%252e` is a dot); empty segments (`//`, a
//! trailing `/`); control, non-ASCII, `?` and `#` bytes; malformed escapes.
//! Every other escape is passed on as written.

/// Why a path cannot be passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    NotAbsolute,
    DotSegment,
    EmptySegment,
    Separator,
    DoubleEscape,
    BadEscape,
    Byte,
}

impl Unsafe {
    /// What is wrong, for the client's error message.
    pub fn as_str(self) -> &'static str {
        match self {
            Unsafe::NotAbsolute => "it does not start with '/'",
            Unsafe::DotSegment => "it has a '.' or '..' segment",
            Unsafe::EmptySegment => "it has an empty segment ('//' or a trailing '/')",
            Unsafe::Separator => "it has a backslash or an escaped '/' or '\\'",
            Unsafe::DoubleEscape => "it has an escaped '%'",
            Unsafe::BadEscape => "it has a '%' not followed by two hex digits",
            Unsafe::Byte => "it has a control, non-ASCII, '?' or '#' character",
        }
    }
}

/// `Ok` when `path` may follow a base URL's path unchanged (see the module docs).
pub fn check(path: &str) -> Result<(), Unsafe> {
    let rest = path.strip_prefix('/').ok_or(Unsafe::NotAbsolute)?;
    rest.split('/').try_for_each(segment)
}

/// One segment, between two `/`.
fn segment(s: &str) -> Result<(), Unsafe> {
    if s.is_empty() {
        return Err(Unsafe::EmptySegment);
    }
    let bytes = s.as_bytes();
    // Decoded dots before the first `;`, and whether anything else came first.
    let (mut dots, mut other, mut in_params) = (0usize, false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let hex = |j: usize| bytes.get(j).and_then(|&h| char::from(h).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else { return Err(Unsafe::BadEscape) };
                i += 2;
                match (hi * 16 + lo) as u8 {
                    b'/' | b'\\' => return Err(Unsafe::Separator),
                    b'%' => return Err(Unsafe::DoubleEscape),
                    b if !(0x20..0x7f).contains(&b) => return Err(Unsafe::Byte),
                    b => b,
                }
            }
            b'\\' => return Err(Unsafe::Separator),
            b if !(0x20..0x7f).contains(&b) || b == b'?' || b == b'#' => return Err(Unsafe::Byte),
            b => b,
        };
        i += 1;
        match b {
            b';' => in_params = true,
            b'.' if !in_params => dots += 1,
            _ if !in_params => other = true,
            _ => {}
        }
    }
    if !other && (1..=2).contains(&dots) { Err(Unsafe::DotSegment) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        for path in [
            "/files",
            "/files/file-abc/content",
            "/fine_tuning/checkpoints/ft:gpt-4o:org:x/permissions",
            "/files/file-a%3Ab",
            "/files/a.b",
            "/files/...",
            "/files/.hidden",
            "/files/a;b=1",
            "/responses/resp_1~x",
        ] {
            assert_eq!(check(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for (path, why) in [
            ("", Unsafe::NotAbsolute),
            ("*", Unsafe::NotAbsolute),
            ("files", Unsafe::NotAbsolute),
            ("/..", Unsafe::DotSegment),
            ("/../admin", Unsafe::DotSegment),
            ("/./files", Unsafe::DotSegment),
            ("/files/.", Unsafe::DotSegment),
            ("/%2e%2e/admin", Unsafe::DotSegment),
            ("/%2E%2e/admin", Unsafe::DotSegment),
            ("/.%2e/admin", Unsafe::DotSegment),
            ("/%2e./admin", Unsafe::DotSegment),
            ("/%2e/admin", Unsafe::DotSegment),
            ("/..;/admin", Unsafe::DotSegment),
            ("/..;x=1/admin", Unsafe::DotSegment),
            ("/a/b/../../../etc/passwd", Unsafe::DotSegment),
            ("//admin", Unsafe::EmptySegment),
            ("/files/", Unsafe::EmptySegment),
            ("/", Unsafe::EmptySegment),
            ("/files/%2f..%2fadmin", Unsafe::Separator),
            ("/files/%2F", Unsafe::Separator),
            ("/files/%5c..", Unsafe::Separator),
            ("/files/%5C", Unsafe::Separator),
            ("/files\\..\\admin", Unsafe::Separator),
            ("/files/%252e%252e", Unsafe::DoubleEscape),
            ("/files/%", Unsafe::BadEscape),
            ("/files/%2", Unsafe::BadEscape),
            ("/files/%zz", Unsafe::BadEscape),
            ("/files/%+1", Unsafe::BadEscape),
            ("/files/x%00", Unsafe::Byte),
            ("/files/x%0d%0aHost:", Unsafe::Byte),
            ("/files/x%7f", Unsafe::Byte),
            ("/files/x%c3%a9", Unsafe::Byte),
            ("/files/x\0", Unsafe::Byte),
            ("/files/x\t", Unsafe::Byte),
            ("/files/é", Unsafe::Byte),
            ("/files/x?y", Unsafe::Byte),
            ("/files/x#y", Unsafe::Byte),
        ] {
            assert_eq!(check(path), Err(why), "{path:?}");
        }
    }
}
