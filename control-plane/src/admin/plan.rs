//! The plan of an apply: which objects it creates, updates or deletes, with
//! field-level before/after, and which stored objects the document leaves
//! out (imperative ones, shown as unmanaged; ones an earlier apply created,
//! shown as orphaned unless pruned). Objects are compared in their
//! gateway.yaml form (as `export` writes them: secrets as `${redacted:FP}`,
//! defaults omitted), so field names are the document's.

use crate::store::Managed;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use switchyard_proto::document;
use switchyard_proto::model::Config;
use switchyard_proto::pb::{self, ChangeAction, ObjectKind};

/// Each object of a config in document form, by (kind, name), flattened to field -> rendered value.
type Objects = BTreeMap<(ObjectKind, String), BTreeMap<String, String>>;

pub fn plan(before: &Config, after: &Config, declared: &Config, managed: &Managed, prune: bool) -> Vec<pb::Change> {
    let (old, new) = (objects(before), objects(after));
    let in_document: BTreeSet<(ObjectKind, String)> = objects(declared).into_keys().collect();
    let keys: BTreeSet<&(ObjectKind, String)> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (kind, name) = key;
        let (action, fields) = match (old.get(key), new.get(key)) {
            (None, Some(n)) => (ChangeAction::Create, diff(&BTreeMap::new(), n)),
            (Some(o), None) => (ChangeAction::Delete, diff(o, &BTreeMap::new())),
            (Some(o), Some(n)) if o != n => (ChangeAction::Update, diff(o, n)),
            _ if in_document.contains(key) => continue,
            _ if is_managed(managed, *kind, name) && !prune => (ChangeAction::Orphaned, Vec::new()),
            _ => (ChangeAction::Unmanaged, Vec::new()),
        };
        let object = pb::ObjectRef { kind: *kind as i32, name: name.clone(), parent: String::new() };
        changes.push(pb::Change { object: Some(object), action: action as i32, fields });
    }
    changes
}

fn is_managed(managed: &Managed, kind: ObjectKind, name: &str) -> bool {
    let table = match kind {
        ObjectKind::Provider => "providers",
        ObjectKind::Route => "routes",
        ObjectKind::Key => "client_keys",
        _ => return false,
    };
    managed.get(&(table.to_owned(), name.to_owned())).copied().unwrap_or(false)
}

fn diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<pb::FieldChange> {
    let fields: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    fields
        .into_iter()
        .filter_map(|f| {
            let (before, after) = (old.get(f).cloned().unwrap_or_default(), new.get(f).cloned().unwrap_or_default());
            (before != after).then(|| pb::FieldChange { field: f.clone(), before, after })
        })
        .collect()
}

/// The config's providers, models, keys and settings in document form.
fn objects(config: &Config) -> Objects {
    let mut out = Objects::new();
    let Ok(Value::Mapping(doc)) = serde_norway::from_str::<Value>(&document::emit(config)) else { return out };
    for (section, kind) in
        [("providers", ObjectKind::Provider), ("models", ObjectKind::Route), ("keys", ObjectKind::Key)]
    {
        let Some(Value::Sequence(items)) = doc.get(section) else { continue };
        for item in items {
            let Some(name) = item.get("name").and_then(Value::as_str) else { continue };
            let mut fields = BTreeMap::new();
            flatten(item, String::new(), &mut fields);
            fields.remove("name");
            out.insert((kind, name.to_owned()), fields);
        }
    }
    let mut fields = BTreeMap::new();
    if let Some(settings) = doc.get("settings") {
        flatten(settings, String::new(), &mut fields);
    }
    out.insert((ObjectKind::Settings, "settings".to_owned()), fields);
    out
}

/// Leaves of `value` by path: `timeout.connect`, `accounts[team-a].weight`;
/// lists of named items are keyed by name, other lists are one leaf.
fn flatten(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().map_or_else(|| render(k), str::to_owned);
                flatten(v, join(&key), out);
            }
        }
        Value::Sequence(items)
            if !items.is_empty() && items.iter().all(|i| i.get("name").is_some_and(Value::is_string)) =>
        {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
                let mut fields = BTreeMap::new();
                flatten(item, String::new(), &mut fields);
                fields.remove("name");
                let prefix = format!("{path}[{name}]");
                if fields.is_empty() {
                    out.insert(prefix.clone(), "{}".into());
                }
                for (f, v) in fields {
                    out.insert(format!("{prefix}.{f}"), v);
                }
            }
        }
        leaf => {
            out.insert(path, render(leaf));
        }
    }
}

/// A leaf as compact JSON (strings unquoted).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
