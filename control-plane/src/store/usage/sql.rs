//! Multi-row statements: placeholders in bind order for either backend,
//! and how many rows fit one statement.

use crate::store::Backend;
use std::fmt::Write;

/// Bind parameters per statement: SQLite's limit (PostgreSQL's is 65535).
const MAX_BINDS: usize = 32_766;
/// Rows per multi-row INSERT, whatever the width.
pub(super) const MAX_ROWS: usize = 1_000;

/// The bind placeholders of one statement, in the order values are bound:
/// `$1, $2, ...` on PostgreSQL; anonymous `?` on SQLite, whose numbered and
/// named parameters are looked up by a linear scan each (quadratic in a
/// multi-row INSERT of thousands of values).
pub(super) struct Placeholders {
    backend: Backend,
    n: usize,
}

impl Placeholders {
    pub(super) fn new(backend: Backend) -> Self {
        Self { backend, n: 0 }
    }

    pub(super) fn next(&mut self) -> String {
        self.n += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${}", self.n),
        }
    }

    /// `n` placeholders separated by commas.
    pub(super) fn list(&mut self, n: usize) -> String {
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&self.next());
        }
        out
    }

    /// `(..), (..)`: `rows` tuples of `cols` placeholders.
    pub(super) fn tuples(&mut self, rows: usize, cols: usize) -> String {
        let mut out = String::new();
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "({})", self.list(cols));
        }
        out
    }
}

pub(super) fn chunk_rows(cols: usize) -> usize {
    (MAX_BINDS / cols).clamp(1, MAX_ROWS)
}
