//! The stream's tool calls: each becomes one `tool_use` block, and blocks
//! follow one another, so a call whose fragments arrive while another call's
//! block is still open (its arguments not yet a whole JSON object) waits,
//! buffered, until that block can close.

/// One chat tool call (by its chat `index`) and where its block stands.
#[derive(Debug)]
pub(super) struct ToolCall {
    pub(super) chat_index: u64,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) state: State,
    /// Whether the arguments so far are a whole JSON value.
    pub(super) end: JsonEnd,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Not started: the arguments received so far.
    Pending(String),
    /// Its block is the open one: arguments stream as they come.
    Open,
    /// Its block was stopped.
    Closed,
}

/// Follows JSON text piece by piece and says when the value that started
/// (an object or an array) has closed: brackets counted outside strings,
/// escapes skipped. Not a validator: the client's JSON parser is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct JsonEnd {
    depth: u32,
    in_string: bool,
    escaped: bool,
    closed: bool,
}

impl JsonEnd {
    pub(super) fn feed(&mut self, text: &str) {
        for b in text.bytes() {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.closed = false;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.closed = self.depth == 0;
                }
                _ => {}
            }
        }
    }

    /// The arguments are a whole object (or array): nothing more is to come.
    pub(super) fn complete(&self) -> bool {
        self.closed && self.depth == 0 && !self.in_string
    }
}
