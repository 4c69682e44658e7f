#![allow(clippy::unwrap_used, clippy::expect_used)]
//! No import cycles between modules: in every crate of the workspace, among
//! the modules of each parent (the crate root's top-level modules, a
//! directory's files), the "uses" graph has no cycle. Module A uses sibling B
//! when a file under A names `crate::…::B…` or `super::B…` (in a `use` or
//! inline). Comment lines and inline `mod tests` blocks do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's source directory, from the workspace root.
const CRATES: [&str; 5] = ["proto/src", "data-plane/src", "control-plane/src", "ctl/src", "tests/src"];

/// Edges known to close a cycle, each waiting for its fix: (crate, parent
/// module (`""`: the crate root), from, to). Remove an entry with its fix.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    // `runtime::Endpoint` holds `metrics::EndpointStats`, while `metrics` renders a `Runtime`:
    // the per-endpoint counters belong in a module of their own below both.
    ("data-plane/src", "", "runtime", "metrics"),
];

type Module = Vec<String>;
/// (parent, from, to) -> files that make the edge.
type Edges = BTreeMap<(Module, String, String), BTreeSet<String>>;

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `.rs` file under `dir` (but `bin/`: separate crates) with its module path.
fn files(root: &Path, dir: &Path, out: &mut Vec<(Module, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel: Vec<String> = path
            .strip_prefix(root)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if path.is_dir() {
            if rel != ["bin"] {
                files(root, &path, out);
            }
            continue;
        }
        let Some(last) = rel.last().and_then(|f| f.strip_suffix(".rs")) else { continue };
        let mut module: Module = rel[..rel.len() - 1].to_vec();
        match (module.is_empty(), last) {
            (true, "main") => continue, // the binary: a crate of its own, using the library by name
            (true, "lib") | (_, "mod") => {}
            _ => module.push(last.to_owned()),
        }
        out.push((module, path));
    }
}

/// The source without comment lines and without an inline `mod tests { … }` (at the end of a file).
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("mod tests {") {
            break;
        }
        if !trimmed.starts_with("//") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The paths a `use` tree (after `crate::`, `super::` or `self::`) names, each below `base`.
fn expand(tree: &str, base: &[String]) -> Vec<Module> {
    fn parse(chars: &[char], i: &mut usize, prefix: Module, out: &mut Vec<Module>) {
        let mut path = prefix;
        loop {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
            if *i < chars.len() && chars[*i] == '{' {
                *i += 1;
                loop {
                    parse(chars, i, path.clone(), out);
                    while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
                        *i += 1;
                    }
                    if *i >= chars.len() || chars[*i] == '}' {
                        *i += 1;
                        return;
                    }
                }
            }
            let start = *i;
            while *i < chars.len() && (is_ident(chars[*i]) || chars[*i] == '*') {
                *i += 1;
            }
            if start == *i {
                break;
            }
            let segment: String = chars[start..*i].iter().collect();
            if segment == "as" {
                // `… as alias`: the alias names nothing new.
                while *i < chars.len() && (chars[*i].is_whitespace() || is_ident(chars[*i])) {
                    *i += 1;
                }
                break;
            }
            if segment != "self" {
                path.push(segment);
            }
            if chars[*i..].starts_with(&[':', ':']) {
                *i += 2;
            } else {
                while *i < chars.len() && chars[*i].is_whitespace() {
                    *i += 1;
                }
                if chars[*i..].starts_with(&['a', 's']) {
                    continue;
                }
                break;
            }
        }
        out.push(path);
    }
    let chars: Vec<char> = tree.chars().collect();
    let mut out = Vec::new();
    parse(&chars, &mut 0, base.to_vec(), &mut out);
    out
}

/// Every module path `file` (module `module`) names through `crate::`, `super::` or `self::`.
fn references(module: &[String], text: &str) -> Vec<Module> {
    let parent = &module[..module.len().saturating_sub(1)];
    let mut out = Vec::new();
    for (anchor, base) in [("crate::", &[][..]), ("super::", parent), ("self::", module)] {
        let mut from = 0;
        while let Some(at) = text[from..].find(anchor).map(|at| at + from) {
            from = at + anchor.len();
            if text[..at].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let end = text[from..].find([';', '(', '<', ')', '=', '>', '!', '\n']).map_or(text.len(), |e| e + from);
            // A `use` tree (braces may span lines) runs to its `;`.
            let end =
                if text[from..].starts_with('{') { text[from..].find(';').map_or(end, |e| e + from) } else { end };
            out.extend(expand(&text[from..end], base));
        }
    }
    out
}

fn edges(root: &Path, krate: &str) -> Edges {
    let src = root.join(krate);
    let mut found = Vec::new();
    files(&src, &src, &mut found);
    let mut modules: BTreeSet<Module> = found.iter().map(|(m, _)| m.clone()).collect();
    let texts: Vec<(Module, String, String)> = found
        .into_iter()
        .map(|(m, path)| {
            let text = code(&std::fs::read_to_string(&path).unwrap());
            (m, path.strip_prefix(root).unwrap().display().to_string(), text)
        })
        .collect();
    for (m, _, text) in &texts {
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            if let Some(name) = line.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(" {")) {
                modules.insert([m.clone(), vec![name.to_owned()]].concat());
            }
        }
    }
    let mut edges = Edges::new();
    for (m, file, text) in &texts {
        for path in references(m, text) {
            let k = m.iter().zip(&path).take_while(|(a, b)| a == b).count();
            if k < m.len() && k < path.len() && modules.contains(&path[..=k]) {
                edges.entry((m[..k].to_vec(), m[k].clone(), path[k].clone())).or_default().insert(file.clone());
            }
        }
    }
    edges
}

/// A cycle through `start` in `graph`, if any, as the modules along it.
fn cycle_from(graph: &BTreeMap<&str, BTreeSet<&str>>, start: &str) -> Option<Vec<String>> {
    fn walk<'a>(
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        start: &str,
        at: &'a str,
        path: &mut Vec<&'a str>,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        for &next in graph.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next) {
                path.push(next);
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let (mut path, mut seen) = (vec![start], BTreeSet::new());
    let start = graph.keys().find(|k| **k == start)?;
    walk(graph, start, start, &mut path, &mut seen).then(|| path.iter().map(|s| (*s).to_owned()).collect())
}

#[test]
fn no_module_uses_a_module_that_uses_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut problems = Vec::new();
    for krate in CRATES {
        let edges = edges(root, krate);
        let mut graphs: BTreeMap<&Module, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
        for (parent, from, to) in edges.keys() {
            if !KNOWN.contains(&(krate, parent.join("::").as_str(), from.as_str(), to.as_str())) {
                graphs.entry(parent).or_default().entry(from.as_str()).or_default().insert(to.as_str());
            }
        }
        let mut reported = BTreeSet::new();
        for (parent, graph) in &graphs {
            for start in graph.keys() {
                let Some(cycle) = cycle_from(graph, start) else { continue };
                let mut members = cycle.clone();
                members.sort();
                if !reported.insert((parent.to_vec(), members)) {
                    continue;
                }
                let under =
                    ["crate"].into_iter().chain(parent.iter().map(String::as_str)).collect::<Vec<_>>().join("::");
                let mut text = format!("{krate}, under {under}: {} -> {start}", cycle.join(" -> "));
                for (i, from) in cycle.iter().enumerate() {
                    let to = cycle.get(i + 1).unwrap_or(&cycle[0]);
                    let files = &edges[&(parent.to_vec(), from.clone(), to.clone())];
                    text.push_str(&format!(
                        "\n    {from} -> {to}: {}",
                        files.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                problems.push(text);
            }
        }
    }
    assert!(problems.is_empty(), "import cycles between modules:\n{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::{self, inner::{X as Y}};\n").unwrap();
    std::fs::write(src.join("b/mod.rs"), "pub mod inner;\n// use crate::a; a comment is no use\n").unwrap();
    std::fs::write(src.join("b/inner.rs"), "pub struct X;\nfn f() { let _ = crate::a::g(); }\n").unwrap();
    let edges = edges(dir.path(), "src");
    let keys: Vec<_> = edges.keys().map(|(p, f, t)| (p.join("::"), f.as_str(), t.as_str())).collect();
    assert_eq!(keys, [(String::new(), "a", "b"), (String::new(), "b", "a")]);
    assert_eq!(edges[&(vec![], "b".to_owned(), "a".to_owned())].iter().collect::<Vec<_>>(), ["src/b/inner.rs"]);
    let graph: BTreeMap<&str, BTreeSet<&str>> =
        [("a", BTreeSet::from(["b"])), ("b", BTreeSet::from(["a"]))].into_iter().collect();
    assert_eq!(cycle_from(&graph, "a").unwrap(), ["a", "b"]);
}
