//! A strict walker over a parsed YAML tree: typed reads that record an error
//! with the item's path instead of stopping, and mappings that report every
//! field nobody read as unknown.

use super::Resolver;
use crate::model::units::{parse_duration, parse_money, parse_size};
use crate::model::{ConfigError, Problem, Secret};
use serde_norway::Value;
use std::time::Duration;

pub(super) struct Cx<'r> {
    pub errors: Vec<ConfigError>,
    /// A list item could not be read at all, so later items' indexes in the
    /// model no longer match the document's.
    pub dropped: bool,
    resolver: &'r Resolver,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A mapping being read; [`Obj::finish`] reports the fields never taken.
pub(super) struct Obj<'v> {
    pub path: String,
    entries: Vec<(&'v str, &'v Value, bool)>,
}

impl<'v> Obj<'v> {
    /// A field's value and path; `null` counts as absent.
    pub fn take(&mut self, field: &str) -> Option<(&'v Value, String)> {
        let entry = self.entries.iter_mut().find(|(k, _, _)| *k == field)?;
        entry.2 = true;
        let value = entry.1;
        (!value.is_null()).then(|| (value, self.child(field)))
    }

    pub fn child(&self, field: &str) -> String {
        if self.path.is_empty() { field.to_owned() } else { format!("{}.{field}", self.path) }
    }

    pub fn finish(self, cx: &mut Cx<'_>) {
        for (key, _, used) in &self.entries {
            if !used {
                cx.err(self.child(key), Problem::UnknownField);
            }
        }
    }
}

impl<'r> Cx<'r> {
    pub fn new(resolver: &'r Resolver) -> Self {
        Self { errors: Vec::new(), dropped: false, resolver }
    }

    pub fn err(&mut self, path: impl Into<String>, problem: Problem) {
        self.errors.push(ConfigError::new(path, problem));
    }

    fn wrong(&mut self, path: &str, expected: &'static str, v: &Value) {
        self.err(path, Problem::WrongType { expected, found: kind_of(v) });
    }

    pub fn obj<'v>(&mut self, v: &'v Value, path: &str) -> Option<Obj<'v>> {
        let Value::Mapping(map) = v else {
            self.wrong(path, "a mapping", v);
            return None;
        };
        let mut entries = Vec::with_capacity(map.len());
        for (k, val) in map {
            match k.as_str() {
                Some(k) => entries.push((k, val, false)),
                None => self.err(path, Problem::Invalid(format!("field names must be strings, found {}", kind_of(k)))),
            }
        }
        Some(Obj { path: path.to_owned(), entries })
    }

    /// A required field: records `Missing` when absent.
    pub fn required<'v>(&mut self, obj: &mut Obj<'v>, field: &str) -> Option<(&'v Value, String)> {
        let taken = obj.take(field);
        if taken.is_none() {
            self.err(obj.child(field), Problem::Missing);
        }
        taken
    }

    pub fn seq<'v>(&mut self, v: &'v Value, path: &str) -> &'v [Value] {
        match v {
            Value::Sequence(items) => items,
            _ => {
                self.wrong(path, "a list", v);
                &[]
            }
        }
    }

    /// The mappings of a list, each with its path (`path[i]`).
    pub fn objects<'v>(&mut self, v: &'v Value, path: &str) -> Vec<Obj<'v>> {
        let items = self.seq(v, path);
        let objs: Vec<_> =
            items.iter().enumerate().filter_map(|(i, item)| self.obj(item, &format!("{path}[{i}]"))).collect();
        self.dropped |= objs.len() != items.len();
        objs
    }

    /// The strings of a list.
    pub fn strings(&mut self, v: &Value, path: &str) -> Vec<String> {
        let items = self.seq(v, path);
        let out: Vec<_> =
            items.iter().enumerate().filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]"))).collect();
        self.dropped |= out.len() != items.len();
        out
    }

    /// Each `(key, value)` of a mapping whose keys are free-form (headers).
    pub fn entries<'v>(&mut self, v: &'v Value, path: &str) -> Vec<(String, &'v Value)> {
        let Some(obj) = self.obj(v, path) else { return Vec::new() };
        obj.entries.into_iter().map(|(k, v, _)| (k.to_owned(), v)).collect()
    }

    fn raw_str<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                self.wrong(path, "a string", v);
                None
            }
        }
    }

    /// A string with its `${env:...}`/`${file:...}` references resolved.
    pub fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        let raw = self.raw_str(v, path)?;
        self.resolver.resolve(raw, false).map_err(|p| self.err(path, p)).ok()
    }

    /// A secret; may also be a `${redacted:...}` marker.
    pub fn secret(&mut self, v: &Value, path: &str) -> Option<Secret> {
        let raw = self.raw_str(v, path)?;
        self.resolver.resolve(raw, true).map(Secret::new).map_err(|p| self.err(path, p)).ok()
    }

    pub fn bool(&mut self, v: &Value, path: &str) -> Option<bool> {
        v.as_bool().or_else(|| {
            self.wrong(path, "true or false", v);
            None
        })
    }

    pub fn u64(&mut self, v: &Value, path: &str) -> Option<u64> {
        match v {
            Value::Number(n) if n.is_u64() => n.as_u64(),
            Value::Number(n) if n.is_i64() || n.as_f64().is_some_and(|f| f < 0.0) => {
                self.err(path, Problem::Negative(n.to_string()));
                None
            }
            Value::Number(n) => {
                self.err(path, Problem::Invalid(format!("expected a whole number, found {n}")));
                None
            }
            _ => {
                self.wrong(path, "a whole number", v);
                None
            }
        }
    }

    pub fn u32(&mut self, v: &Value, path: &str) -> Option<u32> {
        let n = self.u64(v, path)?;
        u32::try_from(n).map_err(|_| self.err(path, Problem::Invalid(format!("{n} is too large")))).ok()
    }

    pub fn f64(&mut self, v: &Value, path: &str) -> Option<f64> {
        v.as_f64().or_else(|| {
            self.wrong(path, "a number", v);
            None
        })
    }

    pub fn duration(&mut self, v: &Value, path: &str) -> Option<Duration> {
        let s = self.string_like(v, path, "a duration such as 30s")?;
        parse_duration(&s).map_err(|m| self.err(path, Problem::Invalid(m))).ok()
    }

    pub fn size(&mut self, v: &Value, path: &str) -> Option<u64> {
        if let Value::Number(_) = v {
            return self.u64(v, path);
        }
        let s = self.string_like(v, path, "a size such as 20MiB")?;
        parse_size(&s).map_err(|m| self.err(path, Problem::Invalid(m))).ok()
    }

    /// An amount in micro-units, from a number or a decimal string, exactly.
    pub fn money(&mut self, v: &Value, path: &str) -> Option<i64> {
        let text = match v {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i.to_string(),
                // Rust prints a float as its shortest round-trip decimal, never
                // in exponent form: `0.075` reads back as exactly 75_000 micros.
                (None, Some(f)) if f.is_finite() => format!("{f}"),
                _ => n.to_string(),
            },
            _ => self.string_like(v, path, "an amount such as 10 or 0.075")?,
        };
        parse_money(&text).map_err(|m| self.err(path, Problem::Invalid(m))).ok()
    }

    /// A non-negative amount; a negative one is reported as such.
    pub fn amount(&mut self, v: &Value, path: &str) -> Option<i64> {
        let micros = self.money(v, path)?;
        if micros < 0 {
            self.err(path, Problem::Negative(crate::model::units::format_money(micros)));
            return None;
        }
        Some(micros)
    }

    fn string_like(&mut self, v: &Value, path: &str, expected: &'static str) -> Option<String> {
        match v {
            Value::String(_) => self.string(v, path),
            _ => {
                self.wrong(path, expected, v);
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, v: &Value, path: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(v, path)?;
        match options.iter().find(|(name, _)| *name == s) {
            Some((_, t)) => Some(*t),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(
                    path,
                    Problem::Invalid(format!("unknown value {s:?} (expected one of: {})", names.join(", "))),
                );
                None
            }
        }
    }
}
