//! Shared procedures and vars files: a runbook's `[runbook] include = [...]` read and
//! merged under it, then `--vars` files merged over it, into one tree whose spans point
//! into each file of the load (see `Source`).
//!
//! Merging: tables key by key; `[[phase]]` and their `[[phase.step]]`, and
//! `[[rollback.step]]`, by `id` (a known id merges into the entry, key by key; a new one is
//! appended, or placed with `insert_before` / `insert_after`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::diagnostic::{Diagnostic, Source, Span, did_you_mean};
use super::load::{LoadError, read_file};
use super::reader::Sink;
use super::template::Template;
use super::tree::{self, Key, Node, Table, Value};

/// How deep includes may nest (a runbook including a procedure is one level).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// The most files one load reads (the runbook, what it includes, vars files): a procedure
/// included along several paths is read each time.
pub const MAX_FILES: usize = 64;

/// A file on the include chain: how it is recognised (canonical) and how it is shown.
struct Link {
    canonical: PathBuf,
    shown: PathBuf,
}

/// `path` with `.` and `..` taken out where they can be, without asking the file system:
/// `runbooks/apps/../procedures/x.toml` is shown as `runbooks/procedures/x.toml`.
fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| normalize(path))
}

fn shift_diagnostic(mut d: Diagnostic, by: usize) -> Diagnostic {
    d.span = d.span.map(|s| s.start + by..s.end + by);
    d.related = d.related.map(|(s, note)| (s.start + by..s.end + by, note));
    d
}

/// Reads another file of the load into `source`. Problems are diagnostics at `at` (the
/// `include` entry), or in the file itself when it is not UTF-8 or not TOML.
fn read_layer(
    path: &Path,
    what: &str,
    at: Option<Span>,
    included_from: Option<Span>,
    source: &mut Source,
    sink: &Sink,
) -> Option<Table> {
    if source.files.len() >= MAX_FILES {
        sink.push(
            Diagnostic::error(
                "too-many-files",
                format!(
                    "{} would be file number {} of this runbook: at most {MAX_FILES} are read",
                    path.display(),
                    MAX_FILES + 1
                ),
                at,
            )
            .with_help("a runbook includes a procedure or two: check for a file included along many paths"),
        );
        return None;
    }
    // A pipe or a device would be read until it ends, if ever.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        sink.push(Diagnostic::error(
            "unreadable-file",
            format!("cannot read {what} {}: it is not a regular file", path.display()),
            at,
        ));
        return None;
    }
    let text = match read_file(path) {
        Ok(text) => text,
        Err(LoadError::Invalid { file, diagnostics }) => {
            let start = source.add_file(path, &file.text, included_from);
            for d in diagnostics.items {
                sink.push(shift_diagnostic(d, start));
            }
            return None;
        }
        Err(LoadError::Io { source: e, .. }) => {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!("cannot read {what} {}: there is no such file", path.display())
            } else {
                format!("cannot read {what} {}: {e}", path.display())
            };
            let d = Diagnostic::error("unreadable-file", message, at);
            let d = if included_from.is_some() {
                d.with_help("an include path is relative to the file that includes it")
            } else {
                d.with_help("check the path given to --vars")
            };
            sink.push(d);
            return None;
        }
        Err(LoadError::TooLarge { words, .. }) => {
            sink.push(Diagnostic::error(
                "unreadable-file",
                format!("cannot read {what} {}: {words}", path.display()),
                at,
            ));
            return None;
        }
    };
    let start = source.add_file(path, &text, included_from);
    match tree::parse(&text) {
        Ok(mut root) => {
            root.shift(start);
            Some(root)
        }
        Err(d) => {
            sink.push(shift_diagnostic(*d, start));
            None
        }
    }
}

/// Resolves the includes of the runbook at `path` (already in `source` as its first file):
/// every included file (and its own includes) merged in order, and `root` over them.
pub(super) fn resolve_includes(root: Table, path: &Path, source: &mut Source, sink: &Sink) -> Table {
    let mut chain = vec![Link {
        canonical: canonical(path),
        shown: normalize(path),
    }];
    resolve(root, path, &mut chain, source, sink)
}

fn take_include(root: &mut Table) -> Option<Node> {
    match root.get_mut("runbook").map(|n| &mut n.value) {
        Some(Value::Table(header)) => header.remove("include").map(|(_, node)| node),
        _ => None,
    }
}

fn resolve(mut root: Table, path: &Path, chain: &mut Vec<Link>, source: &mut Source, sink: &Sink) -> Table {
    let Some(include) = take_include(&mut root) else {
        return root;
    };
    let entries: Vec<(String, Span)> = match &include.value {
        Value::Array(items) if items.iter().all(|i| matches!(i.value, Value::Str(_))) => items
            .iter()
            .filter_map(|i| match &i.value {
                Value::Str(s) => Some((s.clone(), i.span.clone())),
                _ => None,
            })
            .collect(),
        other => {
            sink.push(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`include` in [runbook] must be an array of file paths, found {}",
                        other.type_name()
                    ),
                    Some(include.span.clone()),
                )
                .with_help("write it like: include = [\"../procedures/blue-green-dns.toml\"]"),
            );
            return root;
        }
    };
    if chain.len() > MAX_INCLUDE_DEPTH {
        // The notes under the diagnostic show the whole chain.
        sink.push(
            Diagnostic::error(
                "include-too-deep",
                format!(
                    "includes nest more than {MAX_INCLUDE_DEPTH} deep: {} is already {} includes down from {}",
                    path.display(),
                    chain.len() - 1,
                    chain[0].shown.display()
                ),
                Some(include.span.clone()),
            )
            .with_help("a runbook includes a procedure, which may include a few shared pieces: flatten the chain"),
        );
        return root;
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut base = Table::default();
    for (name, span) in entries {
        if name.contains("${") {
            sink.push(
                Diagnostic::error(
                    "bad-include",
                    "an include path cannot use variables: it is read before [vars] are",
                    Some(span),
                )
                .with_help("write the path relative to this file, e.g. \"../procedures/blue-green-dns.toml\""),
            );
            continue;
        }
        let target = normalize(&dir.join(&name));
        let key = canonical(&target);
        if let Some(at) = chain.iter().position(|l| l.canonical == key) {
            let circle = shown_chain(chain[at..].iter().map(|l| &l.shown).chain(std::iter::once(&target)));
            sink.push(
                Diagnostic::error(
                    "include-cycle",
                    format!("includes go round in a circle: {circle}"),
                    Some(span),
                )
                .with_help("a procedure cannot include the runbook that includes it: remove one of the includes"),
            );
            continue;
        }
        let Some(layer) = read_layer(&target, "included file", Some(span.clone()), Some(span), source, sink) else {
            continue;
        };
        chain.push(Link {
            canonical: key,
            shown: target.clone(),
        });
        let layer = resolve(layer, &target, chain, source, sink);
        chain.pop();
        merge_layer(&mut base, layer, sink);
    }
    merge_layer(&mut base, root, sink);
    base
}

fn shown_chain<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> String {
    paths.map(|p| p.display().to_string()).collect::<Vec<_>>().join(" → ")
}

/// Merges a layer over `base`: tables key by key, phases and steps by id.
pub(super) fn merge_layer(base: &mut Table, over: Table, sink: &Sink) {
    for (key, node) in over.entries {
        match key.name.as_str() {
            "phase" => merge_list(base, key, node, Some("step"), sink),
            "rollback" => match (base.get_mut("rollback"), node.value) {
                (
                    Some(Node {
                        value: Value::Table(into),
                        ..
                    }),
                    Value::Table(from),
                ) => {
                    for (k, v) in from.entries {
                        if k.name == "step" {
                            merge_list(into, k, v, None, sink);
                        } else {
                            into.merge(k, v);
                        }
                    }
                }
                (_, value) => base.merge(key, Node { span: node.span, value }),
            },
            _ => base.merge(key, node),
        }
    }
}

/// Merges an array of tables keyed by `id` (phases, or steps when `nested` is `None`).
fn merge_list(table: &mut Table, key: Key, node: Node, nested: Option<&'static str>, sink: &Sink) {
    match (table.get_mut(&key.name), node.value) {
        (
            Some(Node {
                value: Value::Array(items),
                ..
            }),
            Value::Array(over),
        ) => merge_by_id(items, over, nested, sink),
        // A shape that is not an array of tables is reported when the runbook is decoded.
        (_, value) => table.merge(key, Node { span: node.span, value }),
    }
}

fn id_of(node: &Node) -> Option<&str> {
    match &node.value {
        Value::Table(t) => match t.get("id").map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn merge_by_id(items: &mut Vec<Node>, over: Vec<Node>, nested: Option<&'static str>, sink: &Sink) {
    let what = if nested.is_some() { "phase" } else { "step" };
    // Only entries of the layer below merge: two entries with one id in the same file stay
    // two, and are reported as duplicates.
    let known: BTreeSet<String> = items.iter().filter_map(id_of).map(str::to_string).collect();
    for node in over {
        let span = node.span;
        let Value::Table(mut t) = node.value else {
            items.push(Node {
                span,
                value: node.value,
            });
            continue;
        };
        let mut place = Vec::new();
        for which in ["insert_before", "insert_after"] {
            if let Some(entry) = t.remove(which) {
                place.push(entry);
            }
        }
        let id = match t.get("id").map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let existing = id
            .as_ref()
            .filter(|id| known.contains(*id))
            .and_then(|id| items.iter().position(|n| id_of(n) == Some(id.as_str())));
        if let Some(at) = existing {
            for (k, _) in &place {
                sink.push(
                    Diagnostic::error(
                        "bad-insert",
                        format!(
                            "`{}`: {what} `{}` is already in the included procedure, so it merges in place",
                            k.name,
                            id.as_deref().unwrap_or_default()
                        ),
                        Some(k.span.clone()),
                    )
                    .with_help(format!(
                        "`insert_before` and `insert_after` place a new {what}: give it a new id, or leave them out to change the existing one"
                    )),
                );
            }
            let Value::Table(into) = &mut items[at].value else {
                continue;
            };
            for (k, v) in t.entries {
                if k.name == "id" {
                    continue;
                }
                if Some(k.name.as_str()) == nested {
                    merge_list(into, k, v, None, sink);
                } else {
                    into.merge(k, v);
                }
            }
            continue;
        }
        let node = Node {
            span,
            value: Value::Table(t),
        };
        if place.len() > 1 {
            sink.push(
                Diagnostic::error(
                    "bad-insert",
                    format!("a new {what} says both `insert_before` and `insert_after`"),
                    Some(place[1].0.span.clone()),
                )
                .with_help("keep one of them"),
            );
        }
        let Some((k, target)) = place.into_iter().next() else {
            items.push(node);
            continue;
        };
        let Value::Str(target_id) = &target.value else {
            sink.push(
                Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`{}` must be the id of a {what}, found {}",
                        k.name,
                        target.value.type_name()
                    ),
                    Some(target.span.clone()),
                )
                .with_help(format!("write it like: {} = \"smoke\"", k.name)),
            );
            items.push(node);
            continue;
        };
        match items.iter().position(|n| id_of(n) == Some(target_id.as_str())) {
            Some(at) => {
                let at = if k.name == "insert_after" { at + 1 } else { at };
                items.insert(at, node);
            }
            None => {
                let ids: Vec<&str> = items.iter().filter_map(id_of).collect();
                let d = Diagnostic::error(
                    "unknown-insert-target",
                    format!(
                        "`{}` names {what} `{target_id}`, which is not there to insert next to",
                        k.name
                    ),
                    Some(target.span.clone()),
                );
                let d = match did_you_mean(target_id, ids.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("{what}s here: {}", ids.join(", "))),
                };
                sink.push(d);
                items.push(node);
            }
        }
    }
}

/// Merges `--vars` files over the runbook, in order. A vars file holds `[vars]` and
/// `[env.NAME.vars]` for environments the runbook defines; anything else is a diagnostic
/// in that file. Returns every variable the files set, with the span of its name.
pub(super) fn apply_vars_files(
    root: &mut Table,
    files: &[PathBuf],
    source: &mut Source,
    sink: &Sink,
) -> Vec<(String, Span)> {
    let environments: Vec<String> = match root.get("env").map(|n| &n.value) {
        Some(Value::Table(t)) => t.entries.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => Vec::new(),
    };
    let mut set = Vec::new();
    for path in files {
        let shown = normalize(path);
        let Some(layer) = read_layer(&shown, "vars file", None, None, source, sink) else {
            continue;
        };
        for (key, node) in layer.entries {
            match key.name.as_str() {
                "vars" => {
                    if let Value::Table(t) = &node.value {
                        set.extend(t.entries.iter().map(|(k, _)| (k.name.clone(), k.span.clone())));
                    }
                    // The type of [vars] is judged with the runbook's.
                    root.merge(key, node);
                }
                "env" => {
                    let Value::Table(envs) = node.value else {
                        sink.push(Diagnostic::error(
                            "wrong-type",
                            format!("`env` in a vars file must be a table, found {}", node.value.type_name()),
                            Some(node.span),
                        ));
                        continue;
                    };
                    let mut kept = Table::default();
                    for (name, overlay) in envs.entries {
                        if !environments.contains(&name.name) {
                            let d = Diagnostic::error(
                                "unknown-env",
                                format!(
                                    "the vars file sets variables for environment `{}`, which the runbook does not define",
                                    crate::names::shown(&name.name)
                                ),
                                Some(name.span.clone()),
                            );
                            let d = match did_you_mean(&name.name, environments.iter().map(String::as_str)) {
                                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                                None if environments.is_empty() => {
                                    d.with_help("the runbook defines no environments: put the variables under [vars]")
                                }
                                None => d.with_help(format!("the runbook defines: {}", environments.join(", "))),
                            };
                            sink.push(d);
                            continue;
                        }
                        let Value::Table(sections) = &overlay.value else {
                            sink.push(Diagnostic::error(
                                "wrong-type",
                                format!(
                                    "[env.{}] must be a table, found {}",
                                    crate::names::shown(&name.name),
                                    overlay.value.type_name()
                                ),
                                Some(overlay.span.clone()),
                            ));
                            continue;
                        };
                        let mut ok = true;
                        for (section, value) in &sections.entries {
                            if section.name != "vars" {
                                ok = false;
                                sink.push(not_in_a_vars_file(
                                    &format!("env.{}.{}", name.name, section.name),
                                    section.span.clone(),
                                ));
                            } else if let Value::Table(t) = &value.value {
                                set.extend(t.entries.iter().map(|(k, _)| (k.name.clone(), k.span.clone())));
                            }
                        }
                        if ok {
                            kept.entries.push((name, overlay));
                        }
                    }
                    root.merge(
                        key,
                        Node {
                            span: node.span,
                            value: Value::Table(kept),
                        },
                    );
                }
                other => sink.push(not_in_a_vars_file(other, key.span.clone())),
            }
        }
    }
    set
}

fn not_in_a_vars_file(section: &str, span: Span) -> Diagnostic {
    Diagnostic::error(
        "vars-file-section",
        format!(
            "a vars file holds only [vars] and [env.NAME.vars], not `{}`",
            crate::names::shown(section)
        ),
        Some(span),
    )
    .with_help(
        "put other settings in the runbook (or its [env.NAME] overlay); a vars file only gives values to ${variables}",
    )
}

/// Warns about each variable a vars file sets that nothing in the runbook refers to:
/// most often a misspelt name, which would leave the runbook's own value in place.
pub(super) fn warn_unused_vars(root: &Table, set: &[(String, Span)], sink: &Sink) {
    if set.is_empty() {
        return;
    }
    let mut used = BTreeSet::new();
    references(root, &mut used);
    let mut known: BTreeSet<&str> = used.iter().map(String::as_str).collect();
    let mut defined = Vec::new();
    defined_vars(root, &mut defined);
    known.extend(defined.iter().map(String::as_str));
    for (name, span) in set {
        if used.contains(name) {
            continue;
        }
        let d = Diagnostic::warning(
            "unused-var",
            format!("`{name}` is set here, but nothing in the runbook uses `${{{name}}}`"),
            Some(span.clone()),
        );
        let d = match did_you_mean(name, known.iter().copied().filter(|k| k != name)) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help("remove it, or check its name against the runbook's ${variables}"),
        };
        sink.push(d);
    }
}

/// Every `${name}` anywhere in the tree.
fn references(table: &Table, out: &mut BTreeSet<String>) {
    fn node(n: &Node, out: &mut BTreeSet<String>) {
        match &n.value {
            Value::Str(s) => {
                if let Ok(t) = Template::parse(s) {
                    out.extend(t.vars().map(str::to_string));
                }
            }
            Value::Array(items) => items.iter().for_each(|i| node(i, out)),
            Value::Table(t) => references(t, out),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Datetime(_) => {}
        }
    }
    for (_, n) in &table.entries {
        node(n, out);
    }
}

/// The names under `[vars]` and every `[env.NAME.vars]`.
fn defined_vars(root: &Table, out: &mut Vec<String>) {
    let mut add = |n: Option<&Node>| {
        if let Some(Value::Table(t)) = n.map(|n| &n.value) {
            out.extend(t.entries.iter().map(|(k, _)| k.name.clone()));
        }
    };
    add(root.get("vars"));
    if let Some(Value::Table(envs)) = root.get("env").map(|n| &n.value) {
        for (_, e) in &envs.entries {
            if let Value::Table(e) = &e.value {
                add(e.get("vars"));
            }
        }
    }
}

/// Where the values of a loaded runbook were written.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// Each variable: the span of the value in force (after includes, vars files and the
    /// environment's overlay).
    pub vars: BTreeMap<String, Span>,
    /// Each step, by id.
    pub steps: BTreeMap<String, StepOrigin>,
}

/// Where a step was written, and which of its fields another file changed.
#[derive(Debug, Clone)]
pub struct StepOrigin {
    /// The span of the step's `id` value.
    pub defined: Span,
    /// Fields written in another file than the step's id (an app overriding a procedure's
    /// step), each with the span of its value.
    pub overridden: Vec<(String, Span)>,
}

impl Provenance {
    pub(super) fn of(root: &Table, source: &Source) -> Self {
        let mut p = Provenance::default();
        if let Some(Value::Table(vars)) = root.get("vars").map(|n| &n.value) {
            for (k, v) in &vars.entries {
                p.vars.insert(k.name.clone(), v.span.clone());
            }
        }
        let mut steps = |list: Option<&Node>| {
            let Some(Value::Array(items)) = list.map(|n| &n.value) else {
                return;
            };
            for item in items {
                let Value::Table(t) = &item.value else { continue };
                let Some(Node {
                    value: Value::Str(id),
                    span,
                }) = t.get("id")
                else {
                    continue;
                };
                let home = source.file_at(span.start).start;
                let overridden = t
                    .entries
                    .iter()
                    .filter(|(_, v)| source.file_at(v.span.start).start != home)
                    .map(|(k, v)| (k.name.clone(), v.span.clone()))
                    .collect();
                p.steps.entry(id.clone()).or_insert(StepOrigin {
                    defined: span.clone(),
                    overridden,
                });
            }
        };
        if let Some(Value::Array(phases)) = root.get("phase").map(|n| &n.value) {
            for phase in phases {
                if let Value::Table(t) = &phase.value {
                    steps(t.get("step"));
                }
            }
        }
        if let Some(Value::Table(r)) = root.get("rollback").map(|n| &n.value) {
            steps(r.get("step"));
        }
        p
    }
}

/// The environments of the runbook at `path` with its includes: empty if it cannot be read
/// or parsed (loading it reports why).
pub fn environments_of(path: &Path) -> Vec<String> {
    let Ok(text) = read_file(path) else {
        return Vec::new();
    };
    let Ok(root) = tree::parse(&text) else {
        return Vec::new();
    };
    let mut source = Source::new(path, text.as_str());
    let root = resolve_includes(root, path, &mut source, &Sink::default());
    match root.get("env").map(|n| &n.value) {
        Some(Value::Table(t)) => t.entries.iter().map(|(k, _)| k.name.clone()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_takes_out_dots_it_can() {
        assert_eq!(
            normalize(Path::new("runbooks/apps/../procedures/./x.toml")),
            PathBuf::from("runbooks/procedures/x.toml")
        );
        assert_eq!(normalize(Path::new("../x.toml")), PathBuf::from("../x.toml"));
        assert_eq!(normalize(Path::new("/a/b/../c")), PathBuf::from("/a/c"));
    }

    fn ids(t: &Table) -> Vec<String> {
        let Value::Array(items) = &t.get("phase").unwrap().value else {
            panic!()
        };
        let Value::Table(p) = &items[0].value else { panic!() };
        let Value::Array(steps) = &p.get("step").unwrap().value else {
            panic!()
        };
        steps.iter().filter_map(id_of).map(str::to_string).collect()
    }

    #[test]
    fn steps_merge_by_id_and_new_ones_are_placed() {
        let mut base = tree::parse(
            "[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"a\"\ntitle = \"A\"\n[[phase.step]]\nid = \"c\"\n",
        )
        .unwrap();
        let over = tree::parse(
            "[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"a\"\ntitle = \"A2\"\n[[phase.step]]\nid = \"b\"\ninsert_before = \"c\"\n[[phase.step]]\nid = \"d\"\n[[phase.step]]\nid = \"a0\"\ninsert_after = \"a\"\n",
        )
        .unwrap();
        let sink = Sink::default();
        merge_layer(&mut base, over, &sink);
        assert!(sink.into_inner().items.is_empty());
        assert_eq!(ids(&base), ["a", "a0", "b", "c", "d"]);
        let Value::Array(phases) = &base.get("phase").unwrap().value else {
            panic!()
        };
        let Value::Table(p) = &phases[0].value else { panic!() };
        let Value::Array(steps) = &p.get("step").unwrap().value else {
            panic!()
        };
        let Value::Table(a) = &steps[0].value else { panic!() };
        assert!(matches!(&a.get("title").unwrap().value, Value::Str(t) if t == "A2"));
        // The placing keys are consumed by the merge.
        assert!(steps.iter().all(|s| match &s.value {
            Value::Table(t) => t.get("insert_before").is_none() && t.get("insert_after").is_none(),
            _ => false,
        }));
    }

    #[test]
    fn placing_an_existing_step_or_both_ways_is_reported() {
        let base = "[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"a\"\n";
        let codes = |over: &str| {
            let mut base = tree::parse(base).unwrap();
            let sink = Sink::default();
            merge_layer(&mut base, tree::parse(over).unwrap(), &sink);
            sink.into_inner().items.iter().map(|d| d.code).collect::<Vec<_>>()
        };
        assert_eq!(
            codes("[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"a\"\ninsert_after = \"a\"\n"),
            ["bad-insert"]
        );
        assert_eq!(
            codes("[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"b\"\ninsert_after = \"a\"\ninsert_before = \"a\"\n"),
            ["bad-insert"]
        );
        assert_eq!(
            codes("[[phase]]\nid = \"p\"\n[[phase.step]]\nid = \"b\"\ninsert_after = 3\n"),
            ["wrong-type"]
        );
        assert!(codes("[[phase]]\nid = \"q\"\ninsert_before = \"p\"\n").is_empty());
    }
}
