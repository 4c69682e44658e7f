//! Writing the node tree as YAML text (scalars are spelled by [`super::scalar`]).

use super::MAX_LINE;
use super::scalar::quote;
use super::tree::{Key, Node, Style};

// ---------------------------------------------------------------------------
// Writing the tree.

/// After `key:` on the current line: the value, then the end of the line.
/// `indent` is the key's column.
pub(super) fn write_value(out: &mut String, node: &Node, indent: usize) {
    let (empty, style) = match node {
        Node::Str(_) | Node::Raw(_) => {
            out.push(' ');
            out.push_str(&scalar_of(node, false));
            out.push('\n');
            return;
        }
        Node::Map(entries, style) => (entries.is_empty(), *style),
        Node::Seq(items, style) => (items.is_empty(), *style),
    };
    if empty || style == Style::Flow {
        let column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
        let flow = flow_text(node);
        if empty || column + 1 + flow.len() <= MAX_LINE {
            out.push(' ');
            out.push_str(&flow);
            out.push('\n');
            return;
        }
    }
    match node {
        Node::Str(_) | Node::Raw(_) => {}
        Node::Map(entries, _) => {
            out.push('\n');
            write_entries(out, entries, indent + 2, None);
        }
        Node::Seq(items, _) => {
            out.push('\n');
            let dash = format!("{}- ", " ".repeat(indent + 2));
            for item in items {
                match item {
                    Node::Map(entries, _) if !entries.is_empty() => {
                        write_entries(out, entries, indent + 4, Some(&dash));
                    }
                    Node::Map(..) | Node::Seq(..) => {
                        out.push_str(&dash);
                        out.push_str(&flow_text(item));
                        out.push('\n');
                    }
                    Node::Str(_) | Node::Raw(_) => {
                        out.push_str(&dash);
                        out.push_str(&scalar_of(item, false));
                        out.push('\n');
                    }
                }
            }
        }
    }
}

/// `key: value` lines at `indent`; the first line starts with `first` (a list item's `- `) when given.
fn write_entries(out: &mut String, entries: &[(Key, Node)], indent: usize, first: Option<&str>) {
    for (i, (key, value)) in entries.iter().enumerate() {
        match first {
            Some(dash) if i == 0 => out.push_str(dash),
            _ => out.push_str(&" ".repeat(indent)),
        }
        out.push_str(&key.write(false));
        out.push(':');
        write_value(out, value, indent);
    }
}

fn flow_text(node: &Node) -> String {
    match node {
        Node::Str(_) | Node::Raw(_) => scalar_of(node, true),
        Node::Map(entries, _) => {
            let items: Vec<String> =
                entries.iter().map(|(k, v)| format!("{}: {}", k.write(true), flow_text(v))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Node::Seq(items, _) => {
            let items: Vec<String> = items.iter().map(flow_text).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn scalar_of(node: &Node, flow: bool) -> String {
    match node {
        Node::Str(s) => quote(s, flow),
        Node::Raw(s) => s.clone(),
        Node::Map(..) | Node::Seq(..) => flow_text(node),
    }
}
