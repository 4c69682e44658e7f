//! An input read as `[flags][n][n chunk lengths][body]`: a body and the
//! fuzzer's choice of where to cut it, so that a target can feed the same
//! bytes whole and in pieces and compare.

pub struct Cut<'a> {
    /// The first byte, for the target to read options from.
    pub flags: u8,
    pub body: &'a [u8],
    lengths: &'a [u8],
}

impl<'a> Cut<'a> {
    /// `None` for an input shorter than its two header bytes.
    pub fn new(data: &'a [u8]) -> Option<Self> {
        let (&flags, rest) = data.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let (lengths, body) = rest.split_at(usize::from(n % 32).min(rest.len()));
        Some(Cut { flags, body, lengths })
    }

    /// The body in chunks whose lengths cycle through the length bytes (a 0
    /// is an empty chunk); one chunk when no length is above 0.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        if self.lengths.iter().all(|&l| l == 0) {
            return vec![self.body];
        }
        let mut chunks = Vec::new();
        let mut rest = self.body;
        for &len in self.lengths.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        chunks
    }

    /// The bytes of a seed file for `body` cut after every `lengths` bytes.
    pub fn encode(flags: u8, lengths: &[u8], body: &[u8]) -> Vec<u8> {
        assert!(lengths.len() < 32);
        let mut out = vec![flags, lengths.len() as u8];
        out.extend_from_slice(lengths);
        out.extend_from_slice(body);
        out
    }
}
