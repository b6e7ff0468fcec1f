//! An owned TOML tree that remembers where every key and value came from, so that
//! environment overlays and `${var}` interpolation can rewrite it and diagnostics can
//! still point at the right line and column.

use toml::de::{DeTable, DeValue};

use super::diagnostic::{Diagnostic, Span};

#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A TOML datetime literal, kept as written (RFC 3339).
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

/// A table in file order.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub entries: Vec<(Key, Node)>,
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }

    pub fn get_entry(&self, name: &str) -> Option<&(Key, Node)> {
        self.entries.iter().find(|(k, _)| k.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.entries.iter_mut().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }

    /// Moves every span in the table by `by` bytes: a file's tree read on its own, placed
    /// where its text starts in a source of several files.
    pub fn shift(&mut self, by: usize) {
        for (key, node) in &mut self.entries {
            key.span = key.span.start + by..key.span.end + by;
            node.shift(by);
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<(Key, Node)> {
        let at = self.entries.iter().position(|(k, _)| k.name == name)?;
        Some(self.entries.remove(at))
    }

    /// Sets `name` to `node`; a table merges into an existing table key by key,
    /// anything else replaces what was there.
    pub fn merge(&mut self, key: Key, node: Node) {
        match self.entries.iter_mut().find(|(k, _)| k.name == key.name) {
            Some((_, existing)) => match (&mut existing.value, node.value) {
                (Value::Table(into), Value::Table(from)) => {
                    for (k, v) in from.entries {
                        into.merge(k, v);
                    }
                }
                (slot, value) => {
                    *slot = value;
                    existing.span = node.span;
                }
            },
            None => self.entries.push((key, node)),
        }
    }
}

impl Node {
    fn shift(&mut self, by: usize) {
        self.span = self.span.start + by..self.span.end + by;
        match &mut self.value {
            Value::Array(items) => items.iter_mut().for_each(|item| item.shift(by)),
            Value::Table(t) => t.shift(by),
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Datetime(_) => {}
        }
    }
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses TOML text into a spanned tree. A syntax error becomes a diagnostic at its position.
pub fn parse(text: &str) -> Result<Table, Box<Diagnostic>> {
    match DeTable::parse(text) {
        Ok(doc) => Ok(convert_table(doc.into_inner())),
        Err(err) => {
            let span = err.span().map(|s| s.start..s.end.max(s.start + 1));
            let message = err.message().trim_end().to_string();
            // The parser stops at a depth limit instead of overflowing its stack.
            let diagnostic = if message.contains("recursion") || message.contains("recurse") {
                Diagnostic::error("toml-syntax", format!("invalid TOML: nested too deeply ({message})"), span)
                    .with_help("a runbook nests tables, arrays and dotted keys a few levels deep: check that this is the runbook you meant")
            } else {
                Diagnostic::error("toml-syntax", format!("invalid TOML: {message}"), span)
                    .with_help("fix the TOML syntax at this position; strings need quotes, tables need [brackets]")
            };
            Err(Box::new(diagnostic))
        }
    }
}

fn convert_table(table: DeTable<'_>) -> Table {
    let mut out = Table::default();
    for (key, value) in table {
        let key_span = key.span();
        let value_span = value.span();
        let node = convert(value.into_inner(), value_span);
        out.entries.push((
            Key {
                name: key.into_inner().into_owned(),
                span: key_span,
            },
            node,
        ));
    }
    out
}

fn convert(value: DeValue<'_>, span: Span) -> Node {
    let value = match value {
        DeValue::String(s) => Value::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let parsed = i64::from_str_radix(i.as_str(), i.radix()).unwrap_or(i64::MAX);
            Value::Int(parsed)
        }
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| {
                    let s = item.span();
                    convert(item.into_inner(), s)
                })
                .collect(),
        ),
        DeValue::Table(t) => Value::Table(convert_table(t)),
    };
    Node { span, value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_values() {
        let text = "[vars]\nzone = \"example.test\"\n";
        let root = parse(text).unwrap();
        let Value::Table(vars) = &root.get("vars").unwrap().value else {
            panic!("vars is a table")
        };
        let zone = vars.get("zone").unwrap();
        assert_eq!(&text[zone.span.clone()], "\"example.test\"");
    }

    #[test]
    fn shifted_spans_point_into_the_joined_text() {
        let first = "[runbook]\nname = \"a\"\n";
        let second = "[vars]\nzone = \"example.test\"\n";
        let joined = format!("{first}{second}");
        let mut root = parse(second).unwrap();
        root.shift(first.len());
        let (key, node) = root.get_entry("vars").unwrap();
        assert_eq!(&joined[key.span.clone()], "vars");
        let Value::Table(vars) = &node.value else { panic!() };
        let (key, zone) = vars.get_entry("zone").unwrap();
        assert_eq!(&joined[key.span.clone()], "zone");
        assert_eq!(&joined[zone.span.clone()], "\"example.test\"");
    }

    #[test]
    fn merge_overlays_tables_key_by_key() {
        let mut base = parse("[vars]\na = \"1\"\nb = \"2\"\n").unwrap();
        let overlay = parse("[vars]\nb = \"3\"\n").unwrap();
        for (k, v) in overlay.entries {
            base.merge(k, v);
        }
        let Value::Table(vars) = &base.get("vars").unwrap().value else {
            panic!()
        };
        assert!(matches!(&vars.get("a").unwrap().value, Value::Str(s) if s == "1"));
        assert!(matches!(&vars.get("b").unwrap().value, Value::Str(s) if s == "3"));
    }
}
