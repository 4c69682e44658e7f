//! Output: aligned tables and `field: value` lists for people, one JSON
//! document (pretty, stable field names) for scripts with `-o json`.

use crate::error::Error;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Columns padded to their widest cell, two spaces apart.
#[derive(Debug)]
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Self {
        Self { head: head.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.head.len();
        let mut widths: Vec<usize> = self.head.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                line.push_str(cell);
                if i + 1 < columns {
                    line.push_str(&" ".repeat(widths[i] - width(cell) + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Display width in characters (no wide-character handling: names are ASCII in practice).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `field:  value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!("{k}:{}{v}\n", " ".repeat(w - width(k) + 2)));
    }
    out
}

pub fn write(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub fn json(out: &mut dyn Write, value: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Usage(format!("JSON output: {e}")))?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A table, or `empty` when it has no rows.
pub fn table(out: &mut dyn Write, table: &Table, empty: &str) -> Result<(), Error> {
    if table.is_empty() { write(out, empty) } else { write(out, &table.render()) }
}

/// `-` for nothing.
pub fn or_dash(s: impl Into<String>) -> String {
    let s = s.into();
    if s.is_empty() { "-".into() } else { s }
}

pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned() {
        let mut t = Table::new(&["NAME", "KIND"]);
        t.row(vec!["openai".into(), "openai".into()]);
        t.row(vec!["a".into(), "openai-compatible".into()]);
        assert_eq!(t.render(), "NAME    KIND\nopenai  openai\na       openai-compatible\n");
        assert_eq!(fields(&[("name", "x".into()), ("base_url", "u".into())]), "name:      x\nbase_url:  u\n");
    }
}
