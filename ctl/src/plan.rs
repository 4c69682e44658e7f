//! The plan `apply` and `diff` print:
//!
//! ```text
//! + provider openrouter
//! ~ model gpt-4o-mini
//!     targets[1].priority: 1 -> 2
//! - key old-app
//! ! key legacy (orphaned: created by apply, absent from the file; --prune deletes it)
//! ? provider manual (unmanaged: made imperatively; apply leaves it alone)
//!
//! Plan: 1 to create, 1 to update, 1 to delete, 1 orphaned, 1 unmanaged.
//! ```

use crate::names;
use serde_json::{Value, json};
use switchyard_proto::pb::{self, ChangeAction};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub orphaned: usize,
    pub unmanaged: usize,
}

impl Summary {
    pub fn of(plan: &pb::Plan) -> Self {
        let mut s = Summary::default();
        for c in &plan.changes {
            match ChangeAction::try_from(c.action) {
                Ok(ChangeAction::Create) => s.create += 1,
                Ok(ChangeAction::Update) => s.update += 1,
                Ok(ChangeAction::Delete) => s.delete += 1,
                Ok(ChangeAction::Orphaned) => s.orphaned += 1,
                Ok(ChangeAction::Unmanaged) => s.unmanaged += 1,
                _ => {}
            }
        }
        s
    }

    /// Changes `apply` would make or that need attention: unmanaged objects do not count.
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete + self.orphaned
    }

    pub fn line(&self) -> String {
        format!(
            "Plan: {} to create, {} to update, {} to delete, {} orphaned, {} unmanaged.",
            self.create, self.update, self.delete, self.orphaned, self.unmanaged
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "create": self.create, "update": self.update, "delete": self.delete,
            "orphaned": self.orphaned, "unmanaged": self.unmanaged,
        })
    }
}

fn is_marker(s: &str) -> bool {
    s.contains("${redacted:")
}

/// `diff --ignore-secrets`: leaves out differences in secret fields (a
/// `${redacted:...}` marker on either side, or the hash of a client key the
/// document's secret was replaced for), and updates left with nothing else.
pub fn ignore_secrets(plan: &mut pb::Plan, dummy_keys: &[String]) {
    plan.changes.retain_mut(|c| {
        let had_fields = !c.fields.is_empty();
        let object = c.object.clone().unwrap_or_default();
        let dummy_key = object.kind == pb::ObjectKind::Key as i32 && dummy_keys.contains(&object.name);
        c.fields.retain(|f| {
            let secret = is_marker(&f.before) || is_marker(&f.after);
            let key_hash = dummy_key && (f.field == "key" || f.field.contains("key_sha256"));
            !(secret || key_hash)
        });
        !(c.action == ChangeAction::Update as i32 && had_fields && c.fields.is_empty())
    });
}

fn action(a: i32) -> (&'static str, &'static str, &'static str) {
    match ChangeAction::try_from(a) {
        Ok(ChangeAction::Create) => ("+", "create", ""),
        Ok(ChangeAction::Update) => ("~", "update", ""),
        Ok(ChangeAction::Delete) => ("-", "delete", ""),
        Ok(ChangeAction::Orphaned) => {
            ("!", "orphaned", " (orphaned: created by apply, absent from the file; --prune deletes it)")
        }
        Ok(ChangeAction::Unmanaged) => ("?", "unmanaged", " (unmanaged: made imperatively; apply leaves it alone)"),
        _ => ("*", "unknown", ""),
    }
}

/// An absent field: its default (the plan compares documents that leave defaults out).
fn shown(v: &str) -> &str {
    if v.is_empty() { "(default)" } else { v }
}

/// The plan's lines, then the summary line.
pub fn render(plan: &pb::Plan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let (sign, _, note) = action(c.action);
        out.push_str(&format!("{sign} {}{note}\n", names::object(c.object.as_ref())));
        if c.action == ChangeAction::Update as i32 {
            for f in &c.fields {
                out.push_str(&format!("    {}: {} -> {}\n", f.field, shown(&f.before), shown(&f.after)));
            }
        }
    }
    if !plan.changes.is_empty() {
        out.push('\n');
    }
    out.push_str(&Summary::of(plan).line());
    out.push('\n');
    for w in &plan.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

pub fn json(plan: &pb::Plan) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let fields: Vec<Value> =
                c.fields.iter().map(|f| json!({"field": f.field, "before": f.before, "after": f.after})).collect();
            json!({"action": action(c.action).1, "object": names::object_json(c.object.as_ref()), "fields": fields})
        })
        .collect();
    json!({
        "changes": changes,
        "summary": Summary::of(plan).json(),
        "applied": plan.applied,
        "config_version": plan.config_version,
        "warnings": plan.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: pb::ObjectKind, name: &str, action: ChangeAction, fields: &[(&str, &str, &str)]) -> pb::Change {
        pb::Change {
            object: Some(pb::ObjectRef { kind: kind.into(), name: name.into(), parent: String::new() }),
            action: action.into(),
            fields: fields
                .iter()
                .map(|(f, b, a)| pb::FieldChange { field: (*f).into(), before: (*b).into(), after: (*a).into() })
                .collect(),
        }
    }

    #[test]
    fn renders_and_counts() {
        let plan = pb::Plan {
            changes: vec![
                change(pb::ObjectKind::Provider, "new", ChangeAction::Create, &[]),
                change(pb::ObjectKind::Route, "m", ChangeAction::Update, &[("targets[0].priority", "0", "1")]),
                change(pb::ObjectKind::Key, "old", ChangeAction::Orphaned, &[]),
                change(pb::ObjectKind::Provider, "manual", ChangeAction::Unmanaged, &[]),
            ],
            applied: false,
            config_version: 3,
            warnings: vec![],
        };
        let text = render(&plan);
        assert!(
            text.contains("+ provider new\n~ model m\n    targets[0].priority: 0 -> 1\n! key old (orphaned"),
            "{text}"
        );
        assert!(text.contains("? provider manual (unmanaged"), "{text}");
        assert!(text.ends_with("Plan: 1 to create, 1 to update, 0 to delete, 1 orphaned, 1 unmanaged.\n"), "{text}");
        assert_eq!(Summary::of(&plan).changes(), 3);
    }

    #[test]
    fn ignoring_secrets() {
        let mut plan = pb::Plan {
            changes: vec![
                change(
                    pb::ObjectKind::Provider,
                    "p",
                    ChangeAction::Update,
                    &[("accounts[a].api_key", "${redacted:aaaaaaaaaaaa}", "${redacted:bbbbbbbbbbbb}")],
                ),
                change(
                    pb::ObjectKind::Provider,
                    "q",
                    ChangeAction::Update,
                    &[
                        ("accounts[a].api_key", "${redacted:aaaaaaaaaaaa}", "${redacted:bbbbbbbbbbbb}"),
                        ("base_url", "a", "b"),
                    ],
                ),
                change(pb::ObjectKind::Key, "k", ChangeAction::Update, &[("key_sha256", "00", "11")]),
            ],
            applied: false,
            config_version: 3,
            warnings: vec![],
        };
        ignore_secrets(&mut plan, &["k".to_owned()]);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].fields.len(), 1);
        assert_eq!(plan.changes[0].fields[0].field, "base_url");
    }
}
