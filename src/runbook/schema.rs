//! The runbook format as a JSON Schema (draft-07, what taplo and other TOML editors read),
//! built from the same places that read a runbook: each section's reader and each step
//! kind (through the `step_kinds!` table) describe their own fields next to their decoder,
//! and this module only assembles them and prints the result.
//!
//! Every field carries a `description` (what it does, its default) and `examples`; the
//! examples of a table are one whole table per variant (per step `kind`, per DNS
//! `provider`), which the tests load to check that the schema and the loader agree.

use serde_json::{Map, Value, json};

/// The `$id`-less draft the schema declares: taplo understands draft-07.
pub const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// Keys the schema accepts that the decoders never see: the include merge
/// (`src/runbook/include.rs`) consumes `[runbook] include` and a step's
/// `insert_before`/`insert_after` before a table is decoded, so they are left out of the
/// drift check between decoders and schema, and out of the examples.
pub const AWAITING_LOADER: &[&str] = &["include", "insert_before", "insert_after"];

/// A table of a runbook: its fields in the order the reader asks for them.
#[derive(Debug, Clone)]
pub struct Table {
    description: String,
    fields: Vec<(&'static str, Value)>,
    required: Vec<&'static str>,
    /// Fields left out of the examples (see [`Table::alternative`]).
    alternatives: Vec<&'static str>,
    /// Further rules (draft-07 `if`/`then`, `not`), in `allOf`.
    rules: Vec<Value>,
    /// Variants by one field's value: `(field, [(value, its own fields)])`.
    variants: Option<Variants>,
}

#[derive(Debug, Clone)]
struct Variants {
    key: &'static str,
    /// The variant a table without the key is.
    default: Option<&'static str>,
    each: Vec<(&'static str, Table)>,
}

impl Table {
    pub fn new(description: impl Into<String>) -> Self {
        Table {
            description: description.into(),
            fields: Vec::new(),
            required: Vec::new(),
            alternatives: Vec::new(),
            rules: Vec::new(),
            variants: None,
        }
    }

    /// An optional field.
    pub fn field(mut self, name: &'static str, schema: Value) -> Self {
        self.fields.push((name, schema));
        self
    }

    /// An optional field that excludes another: it is left out of the table's examples so
    /// that they stay valid.
    pub fn alternative(mut self, name: &'static str, schema: Value) -> Self {
        self.alternatives.push(name);
        self.field(name, schema)
    }

    /// A field the loader reports when it is missing.
    pub fn required(mut self, name: &'static str, schema: Value) -> Self {
        self.required.push(name);
        self.field(name, schema)
    }

    /// A further rule (e.g. `{"not": {"required": ["a", "b"]}}`).
    pub fn rule(mut self, rule: Value) -> Self {
        self.rules.push(rule);
        self
    }

    /// Tables that take different fields by the value of `key` (a step's `kind`). `default`
    /// is the variant of a table that does not set `key`.
    pub fn variants(
        mut self,
        key: &'static str,
        default: Option<&'static str>,
        each: Vec<(&'static str, Table)>,
    ) -> Self {
        self.variants = Some(Variants { key, default, each });
        self
    }

    /// The fields' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.fields.iter().map(|(n, _)| *n).collect()
    }

    /// The schema of one field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// One example of the table with every field that is not awaiting the loader, per variant.
    fn examples(&self) -> Vec<Value> {
        let own = |t: &Table, into: &mut Map<String, Value>| {
            for (name, schema) in &t.fields {
                if AWAITING_LOADER.contains(name) || t.alternatives.contains(name) {
                    continue;
                }
                if let Some(e) = schema.get("examples").and_then(|e| e.get(0)) {
                    into.insert(name.to_string(), e.clone());
                }
            }
        };
        let mut base = Map::new();
        own(self, &mut base);
        match &self.variants {
            None => vec![Value::Object(base)],
            Some(v) => v
                .each
                .iter()
                .map(|(value, t)| {
                    let mut one = base.clone();
                    one.insert(v.key.to_string(), json!(value));
                    own(t, &mut one);
                    Value::Object(one)
                })
                .collect(),
        }
    }

    /// The draft-07 schema of the table: unknown keys refused, as the loader does.
    pub fn build(&self) -> Value {
        let mut properties = Map::new();
        for (name, schema) in &self.fields {
            properties.insert(name.to_string(), schema.clone());
        }
        let mut rules = self.rules.clone();
        if let Some(v) = &self.variants {
            let names: Vec<&str> = v.each.iter().map(|(n, _)| *n).collect();
            let described = properties
                .get(v.key)
                .and_then(|p| p.get("description"))
                .cloned()
                .unwrap_or_else(|| json!(""));
            properties.insert(v.key.to_string(), json!({"description": described, "enum": names}));
            // A field several variants share with different meanings is described once per
            // variant here; its type is checked by the variant's own rule below.
            let mut shared: Vec<(&str, Vec<(&str, &Value)>)> = Vec::new();
            for (variant, t) in &v.each {
                for (name, schema) in &t.fields {
                    match shared.iter_mut().find(|(n, _)| n == name) {
                        Some((_, seen)) => seen.push((variant, schema)),
                        None => shared.push((name, vec![(variant, schema)])),
                    }
                }
            }
            for (name, seen) in shared {
                let schema = if seen.iter().all(|(_, s)| *s == seen[0].1) {
                    seen[0].1.clone()
                } else {
                    let mut text = format!("Depends on `{}`:", v.key);
                    for (variant, s) in &seen {
                        text.push_str(&format!("\n- {variant}: {}", description_of(s)));
                    }
                    json!({ "description": text })
                };
                properties.entry(name.to_string()).or_insert(schema);
            }
            for (variant, t) in &v.each {
                let mut allowed: Vec<&str> = self.names();
                for name in std::iter::once(v.key).chain(t.names()) {
                    if !allowed.contains(&name) {
                        allowed.push(name);
                    }
                }
                let mut own = Map::new();
                for (name, schema) in &t.fields {
                    own.insert(name.to_string(), schema.clone());
                }
                let mut then = json!({"properties": own, "propertyNames": {"enum": allowed}});
                if !t.required.is_empty() {
                    then["required"] = json!(t.required);
                }
                if !t.rules.is_empty() {
                    then["allOf"] = json!(t.rules);
                }
                let condition = if v.default == Some(*variant) {
                    json!({"properties": {v.key: {"const": variant}}})
                } else {
                    json!({"properties": {v.key: {"const": variant}}, "required": [v.key]})
                };
                rules.push(json!({"if": condition, "then": then}));
            }
        }
        let mut out = json!({
            "type": "object",
            "description": self.description,
            "properties": properties,
            "additionalProperties": false,
        });
        if !self.required.is_empty() {
            out["required"] = json!(self.required);
        }
        if !rules.is_empty() {
            out["allOf"] = json!(rules);
        }
        out["examples"] = Value::Array(self.examples());
        out
    }
}

fn description_of(schema: &Value) -> String {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn described(mut schema: Value, description: &str, example: Value) -> Value {
    schema["description"] = json!(description);
    schema["examples"] = json!([example]);
    schema
}

/// A `${name}` reference: the loader fills it in before it reads the value.
const REFERENCE: &str = r"\$\{";

/// A string complete at load time, or filled in from `[vars]`.
pub fn string(description: &str, example: &str) -> Value {
    described(json!({"type": "string"}), description, json!(example))
}

/// A string that must match `pattern` (anchored), unless it refers to a variable.
pub fn matching(pattern: &str, description: &str, example: &str) -> Value {
    described(
        json!({"type": "string", "pattern": format!("^(?:{pattern})$|{REFERENCE}")}),
        description,
        json!(example),
    )
}

/// A duration: `30s`, `24h`, `1h30m` (the syntax `crate::duration::parse` accepts).
pub fn duration(description: &str, example: &str) -> Value {
    matching(crate::duration::PATTERN, description, example)
}

/// The name of an environment variable (the value stays out of the runbook).
pub fn env_name(description: &str, example: &str) -> Value {
    matching("[A-Za-z0-9_]+", description, example)
}

/// A whole number between `min` and `max`.
pub fn int(min: i64, max: i64, description: &str, example: i64) -> Value {
    described(
        json!({"type": "integer", "minimum": min, "maximum": max}),
        description,
        json!(example),
    )
}

/// A number, whole or not, not negative.
pub fn number(description: &str, example: f64) -> Value {
    described(json!({"type": "number", "minimum": 0}), description, json!(example))
}

pub fn boolean(description: &str, example: bool) -> Value {
    described(json!({"type": "boolean"}), description, json!(example))
}

/// One of fixed words.
pub fn words(words: &[&str], description: &str, example: &str) -> Value {
    described(json!({"type": "string", "enum": words}), description, json!(example))
}

/// A list of strings.
pub fn strings(description: &str, example: &[&str]) -> Value {
    described(
        json!({"type": "array", "items": {"type": "string"}}),
        description,
        json!(example),
    )
}

/// A table of strings: `{ Name = "value" }`.
pub fn string_table(description: &str, example: Value) -> Value {
    described(
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        description,
        example,
    )
}

/// A table of environment variable names: `{ Authorization = "API_TOKEN" }`.
pub fn env_table(description: &str, example: Value) -> Value {
    described(
        json!({"type": "object", "additionalProperties": {"type": "string", "pattern": format!("^[A-Za-z0-9_]+$|{REFERENCE}")}}),
        description,
        example,
    )
}

/// An instant with its offset: a TOML date-time or an RFC 3339 string.
pub fn instant(description: &str, example: &str) -> Value {
    matching(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})",
        description,
        example,
    )
}

/// A table of the runbook (`after`, `tsig_key`, …), with its description.
pub fn table(t: Table) -> Value {
    t.build()
}

/// `[[key]]` entries of one table's shape.
pub fn tables(description: &str, t: Table) -> Value {
    let item = t.build();
    // One entry per variant, each with its own name or id (they must differ).
    let mut example = item["examples"].clone();
    if let Value::Array(entries) = &mut example {
        for (i, entry) in entries.iter_mut().enumerate().skip(1) {
            for key in ["id", "name"] {
                if let Some(Value::String(text)) = entry.get_mut(key) {
                    text.push_str(&format!("-{}", i + 1));
                }
            }
        }
    }
    json!({"type": "array", "description": description, "items": item, "examples": [example]})
}

/// Any of several shapes (`anyOf`), with one description.
pub fn any_of(description: &str, shapes: Vec<Value>, example: Value) -> Value {
    described(json!({"anyOf": shapes}), description, example)
}

/// The section as `[env.NAME.section]` may write it: any of its fields (an overlay is merged
/// key by key over the section), none required.
pub fn overlay(section: &Value) -> Value {
    let mut out = Map::new();
    for key in ["type", "description", "additionalProperties"] {
        if let Some(v) = section.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    let mut properties = Map::new();
    if let Some(Value::Object(props)) = section.get("properties") {
        for (name, schema) in props {
            let mut partial = if schema.get("type") == Some(&json!("object")) && schema.get("properties").is_some() {
                overlay(schema)
            } else {
                schema.clone()
            };
            // The section itself shows the examples.
            if let Value::Object(o) = &mut partial {
                o.remove("examples");
            }
            properties.insert(name.clone(), partial);
        }
    }
    out.insert("properties".to_string(), Value::Object(properties));
    Value::Object(out)
}

/// The whole schema: the runbook's sections, as the loader reads them.
///
/// A runbook that includes others (`[runbook] include`) is a layer: it may change one field
/// of a procedure's step without repeating its `kind`, or give `[k8s]` only its context; and
/// a procedure (no `name`) leaves values to the runbooks that include it. So the shapes
/// (fields, types, words) hold for every file, and what is required holds only for a runbook
/// runnable alone (a name, nothing included): the root has the shapes with no `required`
/// anywhere, and `definitions.whole` the full schema, applied through `if`/`then`.
pub fn runbook_schema() -> Value {
    let whole = super::load::schema();
    let mut layer = whole.clone();
    drop_required(&mut layer);
    let mut whole = whole;
    point_refs_into(&mut whole, "#/definitions/", "#/definitions/whole/definitions/");
    let mut ordered = Map::new();
    ordered.insert("$schema".to_string(), json!(DRAFT));
    ordered.insert("title".to_string(), json!("cutover runbook"));
    if let Value::Object(rest) = layer {
        ordered.extend(rest);
    }
    let definitions = ordered.entry("definitions".to_string()).or_insert_with(|| json!({}));
    if let Value::Object(d) = definitions {
        d.insert("whole".to_string(), whole);
    }
    // Runnable alone: a name, and nothing included.
    ordered.insert(
        "if".to_string(),
        json!({"required": ["runbook"], "properties": {"runbook": {"required": ["name"], "not": {"required": ["include"]}}}}),
    );
    ordered.insert("then".to_string(), json!({"$ref": "#/definitions/whole"}));
    Value::Object(ordered)
}

/// Removes every `required` but those that select a variant (inside an `if`) or say two
/// fields exclude each other (inside a `not`).
fn drop_required(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("required");
            for (k, child) in map.iter_mut() {
                if k != "if" && k != "not" {
                    drop_required(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_required),
        _ => {}
    }
}

/// Rewrites `$ref`s that start with `from` to start with `to`.
fn point_refs_into(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(rest) = r.strip_prefix(from)
            {
                *r = format!("{to}{rest}");
            }
            map.values_mut().for_each(|c| point_refs_into(c, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|c| point_refs_into(c, from, to)),
        _ => {}
    }
}

/// The schema as `cutover schema` prints it: two-space indents, keys in a fixed order
/// (keywords first, then the fields by name), so the output is the same on every build.
pub fn render() -> String {
    render_value(&runbook_schema())
}

/// Any schema printed the same way (the fleet file's too).
pub fn render_value(schema: &Value) -> String {
    let mut out = String::new();
    write_value(schema, 0, &mut out);
    out.push('\n');
    out
}

/// The order keywords are printed in; other keys (field names) follow by name.
const KEYWORD_ORDER: &[&str] = &[
    "$schema",
    "title",
    "description",
    "type",
    "enum",
    "const",
    "pattern",
    "minimum",
    "maximum",
    "items",
    "properties",
    "propertyNames",
    "required",
    "additionalProperties",
    "anyOf",
    "allOf",
    "definitions",
    "$ref",
    "if",
    "then",
    "else",
    "not",
    "examples",
];

fn key_rank(key: &str) -> (usize, &str) {
    (
        KEYWORD_ORDER
            .iter()
            .position(|k| *k == key)
            .unwrap_or(KEYWORD_ORDER.len()),
        key,
    )
}

fn write_value(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize| "  ".repeat(n);
    match v {
        Value::Object(map) if !map.is_empty() => {
            // Field names under `properties` sort by name; keywords keep their order.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| key_rank(a).cmp(&key_rank(b)));
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                out.push_str(&Value::String(k.to_string()).to_string());
                out.push_str(": ");
                write_value(&map[*k], indent + 1, out);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_value(item, indent + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
