//! `${var}` substitution across the whole runbook. Variables may use other variables;
//! a reference to a step output (declared with `capture`) stays for the run to fill in.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::{Diagnostic, Source, Span, did_you_mean};
use super::reader::Sink;
use super::template::{Template, is_valid_name};
use super::tree::{Node, Table, Value};

/// What a `${name}` can refer to.
pub struct Scope {
    /// Runbook variables, already resolved against each other.
    pub vars: BTreeMap<String, Template>,
    /// Step outputs, by variable name, with the id of the step that produces each.
    pub outputs: BTreeMap<String, String>,
    /// Variables that are defined but could not be resolved (already reported).
    pub failed: BTreeSet<String>,
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<Template> {
        self.vars.get(name).cloned()
    }

    fn knows(&self, name: &str) -> bool {
        self.vars.contains_key(name) || self.outputs.contains_key(name) || self.failed.contains(name)
    }

    fn undefined(&self, name: &str, span: Span) -> Diagnostic {
        let names = self.vars.keys().chain(self.outputs.keys()).map(String::as_str);
        let d = Diagnostic::error("undefined-var", format!("undefined variable `${{{name}}}`"), Some(span));
        match did_you_mean(name, names) {
            Some(s) => d.with_help(format!(
                "did you mean `${{{s}}}`? Otherwise define `{name}` under [vars] or [env.NAME.vars]"
            )),
            None => d.with_help(format!(
                "define `{name}` under [vars] or [env.NAME.vars], or capture it from an earlier step"
            )),
        }
    }
}

/// Where `${name}` sits in the source, falling back to the whole value.
fn reference_span(source: &Source, node_span: &Span, name: &str) -> Span {
    let text = source.text.get(node_span.clone()).unwrap_or("");
    let needle = format!("${{{name}}}");
    match text.find(&needle) {
        Some(at) => node_span.start + at..node_span.start + at + needle.len(),
        None => node_span.clone(),
    }
}

fn malformed_span(source: &Source, node_span: &Span) -> Span {
    let text = source.text.get(node_span.clone()).unwrap_or("");
    match text.find("${") {
        Some(at) => node_span.start + at..node_span.start + at + 2,
        None => node_span.clone(),
    }
}

/// Resolves `[vars]` against each other and the built-ins. Returns the resolved
/// variables and the names of those that could not be resolved (already reported).
pub fn resolve_vars(
    vars: Option<&Node>,
    builtins: &BTreeMap<String, Template>,
    outputs: &BTreeMap<String, String>,
    source: &Source,
    sink: &Sink,
) -> (BTreeMap<String, Template>, BTreeSet<String>) {
    let mut raw: BTreeMap<String, (Template, Span)> = BTreeMap::new();
    if let Some(node) = vars {
        match &node.value {
            Value::Table(table) => {
                for (key, value) in &table.entries {
                    if !is_valid_name(&key.name) {
                        sink.push(
                            Diagnostic::error(
                                "bad-var-name",
                                format!("`{}` is not a valid variable name", crate::names::shown(&key.name)),
                                Some(key.span.clone()),
                            )
                            .with_help("variable names use letters, digits and `_`, and start with a letter or `_`"),
                        );
                        continue;
                    }
                    let template = match &value.value {
                        Value::Str(s) => match Template::parse(s) {
                            Ok(t) => t,
                            Err(e) => {
                                sink.push(Diagnostic::error(
                                    "bad-template",
                                    e.message,
                                    Some(malformed_span(source, &value.span)),
                                ));
                                continue;
                            }
                        },
                        Value::Int(i) => Template::literal(i.to_string()),
                        Value::Float(f) => Template::literal(f.to_string()),
                        Value::Bool(b) => Template::literal(b.to_string()),
                        other => {
                            sink.push(
                                Diagnostic::error(
                                    "wrong-type",
                                    format!(
                                        "variable `{}` must be a string or a number, found {}",
                                        key.name,
                                        other.type_name()
                                    ),
                                    Some(value.span.clone()),
                                )
                                .with_help(format!("write it like: {} = \"value\"", key.name)),
                            );
                            continue;
                        }
                    };
                    raw.insert(key.name.clone(), (template, value.span.clone()));
                }
            }
            other => sink.push(Diagnostic::error(
                "wrong-type",
                format!("[vars] must be a table, found {}", other.type_name()),
                Some(node.span.clone()),
            )),
        }
    }

    // `None` marks a variable that failed, so its problem is reported once.
    let mut resolved: BTreeMap<String, Option<Template>> = BTreeMap::new();
    let names: Vec<String> = raw.keys().cloned().collect();
    for name in names {
        let mut visiting = Vec::new();
        resolve_one(
            &name,
            &raw,
            &mut resolved,
            &mut visiting,
            builtins,
            outputs,
            source,
            sink,
        );
    }
    // User variables shadow built-ins of the same name.
    let mut all = builtins.clone();
    let mut failed = BTreeSet::new();
    for (name, value) in resolved {
        match value {
            Some(v) => {
                all.insert(name, v);
            }
            None => {
                failed.insert(name);
            }
        }
    }
    (all, failed)
}

#[allow(clippy::too_many_arguments)]
fn resolve_one(
    name: &str,
    raw: &BTreeMap<String, (Template, Span)>,
    resolved: &mut BTreeMap<String, Option<Template>>,
    visiting: &mut Vec<String>,
    builtins: &BTreeMap<String, Template>,
    outputs: &BTreeMap<String, String>,
    source: &Source,
    sink: &Sink,
) -> Option<Template> {
    if let Some(done) = resolved.get(name) {
        return done.clone();
    }
    let (template, span) = raw.get(name)?;
    if visiting.iter().any(|v| v == name) {
        let cycle = visiting
            .iter()
            .skip_while(|v| *v != name)
            .chain(std::iter::once(&name.to_string()))
            .map(|v| format!("${{{v}}}"))
            .collect::<Vec<_>>()
            .join(" → ");
        sink.push(
            Diagnostic::error(
                "var-cycle",
                format!("variables refer to each other in a circle: {cycle}"),
                Some(span.clone()),
            )
            .with_help("give one of them a plain value"),
        );
        resolved.insert(name.to_string(), None);
        return None;
    }
    visiting.push(name.to_string());
    let mut known = BTreeMap::new();
    let mut ok = true;
    for var in template.vars() {
        if raw.contains_key(var) {
            match resolve_one(var, raw, resolved, visiting, builtins, outputs, source, sink) {
                Some(t) => {
                    known.insert(var.to_string(), t);
                }
                None => ok = false,
            }
        } else if let Some(b) = builtins.get(var) {
            known.insert(var.to_string(), b.clone());
        } else if !outputs.contains_key(var) {
            let scope = Scope {
                vars: raw.iter().map(|(k, (t, _))| (k.clone(), t.clone())).collect(),
                outputs: outputs.clone(),
                failed: BTreeSet::new(),
            };
            sink.push(scope.undefined(var, reference_span(source, span, var)));
            ok = false;
        }
    }
    visiting.pop();
    let value = ok.then(|| template.substitute(&|n| known.get(n).cloned()));
    resolved.insert(name.to_string(), value.clone());
    value
}

/// Substitutes variables in every string of `table`, in place, leaving step outputs as
/// references. Reports malformed and undefined references.
pub fn interpolate_table(table: &mut Table, scope: &Scope, source: &Source, sink: &Sink) {
    for (_, node) in &mut table.entries {
        interpolate_node(node, scope, source, sink);
    }
}

fn interpolate_node(node: &mut Node, scope: &Scope, source: &Source, sink: &Sink) {
    match &mut node.value {
        Value::Str(text) => match Template::parse(text) {
            Ok(template) => {
                let mut reported = BTreeSet::new();
                for var in template.vars() {
                    if !scope.knows(var) && reported.insert(var.to_string()) {
                        sink.push(scope.undefined(var, reference_span(source, &node.span, var)));
                    }
                }
                *text = template.substitute(&|n| scope.lookup(n)).to_source();
            }
            Err(e) => sink.push(
                Diagnostic::error("bad-template", e.message, Some(malformed_span(source, &node.span)))
                    .with_help("a reference looks like `${name}`"),
            ),
        },
        Value::Array(items) => {
            for item in items {
                interpolate_node(item, scope, source, sink);
            }
        }
        Value::Table(t) => interpolate_table(t, scope, source, sink),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Datetime(_) => {}
    }
}
