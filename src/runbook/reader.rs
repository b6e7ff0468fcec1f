//! Reads typed fields out of a spanned TOML table, collecting every problem as a
//! diagnostic instead of stopping at the first, and reporting keys nobody asked for.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::diagnostic::{Diagnostic, Diagnostics, Span, did_you_mean};
use super::duration;
use super::template::Template;
use super::tree::{Node, Table, Value};

/// Where diagnostics go while a runbook is decoded.
#[derive(Default)]
pub struct Sink(RefCell<Diagnostics>);

impl Sink {
    pub fn push(&self, d: Diagnostic) {
        self.0.borrow_mut().push(d);
    }

    pub fn into_inner(self) -> Diagnostics {
        self.0.into_inner()
    }

    pub fn has_errors(&self) -> bool {
        self.0.borrow().has_errors()
    }
}

pub struct Reader<'a> {
    pub table: &'a Table,
    /// Span of the table itself, for "missing field" diagnostics.
    pub span: Span,
    /// How messages name this table, e.g. "step `flip`".
    pub what: String,
    sink: &'a Sink,
    asked: RefCell<Vec<&'static str>>,
}

impl<'a> Reader<'a> {
    pub fn new(table: &'a Table, span: Span, what: impl Into<String>, sink: &'a Sink) -> Self {
        Self {
            table,
            span,
            what: what.into(),
            sink,
            asked: RefCell::new(Vec::new()),
        }
    }

    pub fn sink(&self) -> &'a Sink {
        self.sink
    }

    /// The raw node, marking the key as known.
    pub fn node(&self, key: &'static str) -> Option<&'a Node> {
        self.asked.borrow_mut().push(key);
        self.table.get(key)
    }

    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.table.get_entry(key).map(|(k, _)| k.span.clone())
    }

    fn wrong_type(&self, key: &str, node: &Node, expected: &str, example: &str) {
        self.sink.push(
            Diagnostic::error(
                "wrong-type",
                format!(
                    "`{key}` in {} must be {expected}, found {}",
                    self.what,
                    node.value.type_name()
                ),
                Some(node.span.clone()),
            )
            .with_help(format!("write it like: {key} = {example}")),
        );
    }

    pub fn missing(&self, key: &str, example: &str) {
        self.sink.push(
            Diagnostic::error(
                "missing-field",
                format!("{} has no `{key}`", self.what),
                Some(self.span.clone()),
            )
            .with_help(format!("add: {key} = {example}")),
        );
    }

    /// A string that must be complete at load time (no references to step outputs).
    pub fn string(&self, key: &'static str) -> Option<(String, Span)> {
        let node = self.node(key)?;
        let Value::Str(text) = &node.value else {
            self.wrong_type(key, node, "a string", "\"...\"");
            return None;
        };
        match Template::parse(text) {
            Ok(t) => match t.as_literal() {
                Some(s) => Some((s, node.span.clone())),
                None => {
                    self.sink.push(
                        Diagnostic::error(
                            "runtime-var-not-allowed",
                            format!(
                                "`{key}` in {} refers to `${{{}}}`, which is only known while the run is under way",
                                self.what,
                                t.vars().next().unwrap_or_default()
                            ),
                            Some(node.span.clone()),
                        )
                        .with_help("use a value from [vars] here; step outputs can only be used in what a step does"),
                    );
                    None
                }
            },
            // Interpolation already reported malformed references.
            Err(_) => None,
        }
    }

    pub fn required_string(&self, key: &'static str, example: &str) -> Option<(String, Span)> {
        if self.table.get(key).is_none() {
            self.node(key);
            self.missing(key, example);
            return None;
        }
        self.string(key)
    }

    pub fn template(&self, key: &'static str) -> Option<(Template, Span)> {
        let node = self.node(key)?;
        let Value::Str(text) = &node.value else {
            self.wrong_type(key, node, "a string", "\"...\"");
            return None;
        };
        Template::parse(text).ok().map(|t| (t, node.span.clone()))
    }

    pub fn required_template(&self, key: &'static str, example: &str) -> Option<(Template, Span)> {
        if self.table.get(key).is_none() {
            self.node(key);
            self.missing(key, example);
            return None;
        }
        self.template(key)
    }

    pub fn bool(&self, key: &'static str) -> Option<bool> {
        let node = self.node(key)?;
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(key, node, "true or false", "true");
                None
            }
        }
    }

    pub fn int(&self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        let node = self.node(key)?;
        match node.value {
            Value::Int(i) if (min..=max).contains(&i) => Some(i),
            Value::Int(i) => {
                self.sink.push(
                    Diagnostic::error(
                        "out-of-range",
                        format!("`{key}` in {} is {i}, outside {min}..={max}", self.what),
                        Some(node.span.clone()),
                    )
                    .with_help(format!("use a whole number between {min} and {max}")),
                );
                None
            }
            _ => {
                self.wrong_type(key, node, "a whole number", &min.max(0).to_string());
                None
            }
        }
    }

    pub fn duration(&self, key: &'static str) -> Option<Duration> {
        if let Some(Node {
            value: Value::Int(n),
            span,
        }) = self.table.get(key)
        {
            self.node(key);
            self.sink.push(
                Diagnostic::error(
                    "bad-duration",
                    format!("`{key}` in {} is {n}, a number without a unit", self.what),
                    Some(span.clone()),
                )
                .with_help(format!(
                    "durations are strings with a unit: {key} = \"{n}s\" (or \"{n}m\", \"{n}h\")"
                )),
            );
            return None;
        }
        let (text, span) = self.string(key)?;
        match duration::parse(&text) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.sink.push(
                    Diagnostic::error("bad-duration", format!("`{key}` in {}: {msg}", self.what), Some(span))
                        .with_help(format!("e.g. {key} = \"30s\"")),
                );
                None
            }
        }
    }

    /// An instant: a TOML date-time literal or an RFC 3339 string, with an offset.
    pub fn instant(&self, key: &'static str) -> Option<DateTime<Utc>> {
        let node = self.node(key)?;
        let text = match &node.value {
            Value::Datetime(t) | Value::Str(t) => t.clone(),
            _ => {
                self.wrong_type(key, node, "a date-time", "\"2026-12-01T22:00:00Z\"");
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.sink.push(
                    Diagnostic::error(
                        "bad-datetime",
                        format!("`{key}` in {} is `{text}`, not a date-time with a time zone", self.what),
                        Some(node.span.clone()),
                    )
                    .with_help(format!(
                        "write an RFC 3339 instant with its offset, e.g. {key} = \"2026-12-01T22:00:00Z\""
                    )),
                );
                None
            }
        }
    }

    pub fn table(&self, key: &'static str, what: impl Into<String>) -> Option<Reader<'a>> {
        let node = self.node(key)?;
        match &node.value {
            Value::Table(t) => Some(Reader::new(t, node.span.clone(), what, self.sink)),
            _ => {
                self.wrong_type(key, node, "a table", "{ ... }");
                None
            }
        }
    }

    /// `[[key]]` entries (or an inline array of tables).
    pub fn tables(&self, key: &'static str) -> Vec<(&'a Table, Span)> {
        let Some(node) = self.node(key) else {
            return Vec::new();
        };
        let Value::Array(items) = &node.value else {
            self.wrong_type(key, node, "an array of tables", &format!("[[{key}]]"));
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| match &item.value {
                Value::Table(t) => Some((t, item.span.clone())),
                _ => {
                    self.wrong_type(key, item, "an array of tables", &format!("[[{key}]]"));
                    None
                }
            })
            .collect()
    }

    /// A table of string values, e.g. HTTP headers.
    pub fn template_map(&self, key: &'static str) -> BTreeMap<String, Template> {
        let mut out = BTreeMap::new();
        let Some(node) = self.node(key) else {
            return out;
        };
        let Value::Table(t) = &node.value else {
            self.wrong_type(key, node, "a table of strings", "{ Name = \"value\" }");
            return out;
        };
        for (k, v) in &t.entries {
            match &v.value {
                Value::Str(s) => {
                    if let Ok(tpl) = Template::parse(s) {
                        out.insert(k.name.clone(), tpl);
                    }
                }
                _ => self.wrong_type(&k.name, v, "a string", "\"...\""),
            }
        }
        out
    }

    /// An array of strings complete at load time (no references to step outputs).
    pub fn string_list(&self, key: &'static str) -> Vec<(String, Span)> {
        let Some(node) = self.node(key) else {
            return Vec::new();
        };
        let Value::Array(items) = &node.value else {
            self.wrong_type(key, node, "an array of strings", "[\"...\", \"...\"]");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Value::Str(text) = &item.value else {
                self.wrong_type(key, item, "an array of strings", "[\"...\", \"...\"]");
                continue;
            };
            match Template::parse(text).ok().and_then(|t| t.as_literal()) {
                Some(s) => out.push((s, item.span.clone())),
                None => self.sink.push(
                    Diagnostic::error(
                        "runtime-var-not-allowed",
                        format!(
                            "`{key}` in {} refers to a value only known while the run is under way",
                            self.what
                        ),
                        Some(item.span.clone()),
                    )
                    .with_help("use values from [vars] here"),
                ),
            }
        }
        out
    }

    /// Reports keys that no reader asked for, with a suggestion when one is close.
    pub fn finish(self) {
        let asked = self.asked.into_inner();
        for (key, _) in &self.table.entries {
            if asked.contains(&key.name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(
                "unknown-field",
                format!("unknown field `{}` in {}", key.name, self.what),
                Some(key.span.clone()),
            );
            let mut known: Vec<&str> = asked.clone();
            known.sort_unstable();
            known.dedup();
            d = match did_you_mean(&key.name, known.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("fields here: {}", known.join(", "))),
            };
            self.sink.push(d);
        }
    }
}
