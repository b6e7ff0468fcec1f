//! Loading a runbook: parse, apply the environment overlay, refuse inline secrets,
//! substitute variables, decode every step, and check references between steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::controls::check_control_characters;
use super::diagnostic::{Diagnostic, Diagnostics, Source, Span, did_you_mean};
use super::include::{self, Provenance};
use super::interpolate::{Scope, interpolate_table, resolve_vars};
use super::model::{After, Approval, OnFailure, Phase, Runbook, Step};
use super::reader::{Reader, Sink};
use super::schema as s;
use super::secrets::check_inline_secrets;
use super::steps::{self, Kind};
use super::template::Template;
use super::tree::{self, Table, Value};
use super::validate::{StepSpans, Written, check_references};
use crate::bounded;
use crate::names::{self, NameKind};

pub const DEFAULT_HOLD: Duration = Duration::from_secs(72 * 3600);

/// The largest runbook file read: a real one is a few kilobytes.
pub const MAX_RUNBOOK_BYTES: u64 = bounded::MIB;

/// Sections an `[env.NAME]` table may override.
const ENV_SECTIONS: &[&str] = &["vars", "dns", "k8s", "metrics", "state", "notify"];
const TOP_LEVEL: &[&str] = &[
    "runbook", "vars", "env", "dns", "k8s", "metrics", "state", "notify", "phase", "rollback",
];

/// A runbook ready to run.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub runbook: Runbook,
    pub source: Source,
    /// Findings that do not stop the run.
    pub warnings: Diagnostics,
    /// `sha256:…` of the resolved runbook: changes when the file or the environment does.
    pub digest: String,
    pub environments: Vec<String>,
    /// Where each variable and step was written (the runbook, an included procedure, a
    /// vars file), for `cutover plan`.
    pub provenance: Provenance,
}

impl Loaded {
    /// Each warning on one line, `file:line:col: warning[code]: message`.
    pub fn warning_lines(&self) -> Vec<String> {
        self.warnings.items.iter().map(|d| d.one_line(&self.source)).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read runbook {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read runbook {}: {words}. A runbook is a few kilobytes of TOML: check that this is the runbook file",
        path.display()
    )]
    TooLarge { path: PathBuf, words: String },
    #[error("{}", .diagnostics.render(.file))]
    Invalid { file: Source, diagnostics: Diagnostics },
}

pub fn load_file(path: &Path, env: Option<&str>) -> Result<Loaded, LoadError> {
    load_file_with(path, env, &[])
}

/// Loads the runbook at `path` for `env`, with `vars` files (`--vars`, in order) merged over
/// it and its included procedures, before the environment's overlay.
pub fn load_file_with(path: &Path, env: Option<&str>, vars: &[PathBuf]) -> Result<Loaded, LoadError> {
    let text = read_file(path)?;
    load_layers(path, &text, env, vars)
}

/// The text of a runbook file: at most `MAX_RUNBOOK_BYTES`, and UTF-8 (otherwise a
/// diagnostic at the first byte that is not).
pub fn read_file(path: &Path) -> Result<String, LoadError> {
    let bytes = bounded::read(path, MAX_RUNBOOK_BYTES).map_err(|e| match e {
        bounded::ReadError::Io(source) => LoadError::Io {
            path: path.to_path_buf(),
            source,
        },
        too_large => LoadError::TooLarge {
            path: path.to_path_buf(),
            words: too_large.to_string(),
        },
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let (at, line, col, byte) = bounded::first_bad_byte(e.as_bytes(), &e.utf8_error());
        let file = Source::new(path, String::from_utf8_lossy(e.as_bytes()).into_owned());
        let mut diagnostics = Diagnostics::default();
        diagnostics.push(
            // The byte shows as U+FFFD (3 bytes) in the text the excerpt is taken from.
            Diagnostic::error(
                "not-utf8",
                format!("the runbook is not UTF-8 text: byte 0x{byte:02X} at line {line}, column {col} is not part of a UTF-8 character"),
                Some(at..at + '\u{fffd}'.len_utf8()),
            )
            .with_help("save the file as UTF-8 (from Latin-1, for instance: iconv -f latin1 -t utf-8 FILE)"),
        );
        LoadError::Invalid { file, diagnostics }
    })
}

/// Loads a runbook from its text; `path` names it in diagnostics, and its includes are
/// read relative to it.
pub fn load_str(path: &Path, text: &str, env: Option<&str>) -> Result<Loaded, LoadError> {
    load_layers(path, text, env, &[])
}

fn load_layers(path: &Path, text: &str, env: Option<&str>, vars: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut source = Source::new(path, text);
    let sink = Sink::default();
    let runbook = match tree::parse(text) {
        Ok(root) => {
            let mut root = include::resolve_includes(root, path, &mut source, &sink);
            let set = include::apply_vars_files(&mut root, vars, &mut source, &sink);
            include::warn_unused_vars(&root, &set, &sink);
            // A file that could not be read or merged would only bring a cascade of
            // undefined variables and missing steps: report what is wrong with the files.
            if sink.has_errors() {
                None
            } else {
                build(root, env, &source, &sink)
            }
        }
        Err(d) => {
            sink.push(*d);
            None
        }
    };
    let diagnostics = sink.into_inner();
    match runbook {
        Some((runbook, environments, provenance)) if !diagnostics.has_errors() => Ok(Loaded {
            digest: digest(&runbook),
            runbook,
            source,
            warnings: diagnostics,
            environments,
            provenance,
        }),
        _ => Err(LoadError::Invalid {
            file: source,
            diagnostics,
        }),
    }
}

/// The environments a runbook defines (`[env.NAME]`), in file order; empty if it cannot
/// be parsed (loading it reports why).
pub fn environment_names(text: &str) -> Vec<String> {
    match tree::parse(text).ok().and_then(|mut root| root.remove("env")) {
        Some((
            _,
            tree::Node {
                value: Value::Table(t), ..
            },
        )) => t.entries.into_iter().map(|(k, _)| k.name).collect(),
        _ => Vec::new(),
    }
}

pub fn digest(runbook: &Runbook) -> String {
    let json = serde_json::to_vec(runbook).unwrap_or_default();
    let hash = Sha256::digest(&json);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn build(
    mut root: Table,
    env: Option<&str>,
    source: &Source,
    sink: &Sink,
) -> Option<(Runbook, Vec<String>, Provenance)> {
    let unknown_sections = check_top_level(&root, sink);
    check_inline_secrets(&root, sink);
    check_control_characters(&root, sink);
    let (environment, environments) = apply_environment(&mut root, env, sink)?;
    let provenance = Provenance::of(&root, source);

    let outputs = declared_outputs(&root);
    let mut builtins = BTreeMap::new();
    builtins.insert("env".to_string(), Template::literal(environment.clone()));
    let (vars, failed) = resolve_vars(root.get("vars"), &builtins, &outputs, source, sink);
    let scope = Scope {
        vars: vars.clone(),
        outputs,
        failed,
    };
    // Variables are resolved; interpolate everything else.
    root.remove("vars");
    interpolate_table(&mut root, &scope, source, sink);

    let top = Reader::new(&root, 0..0, "the runbook", sink);
    top.node("vars");
    top.node("env");
    let header = top.table("runbook", "[runbook]");
    let (name, description, hold) = match &header {
        Some(h) => {
            let name = h.required_string("name", "\"royal-bank-api\"");
            if let Some((n, span)) = &name {
                check_name(n, span.clone(), NameKind::Runbook, sink);
            }
            let description = h.string("description").map(|(d, _)| d).unwrap_or_default();
            let hold = h.duration("hold").unwrap_or(DEFAULT_HOLD);
            if hold < DEFAULT_HOLD {
                sink.push(
                    Diagnostic::warning(
                        "short-hold",
                        format!(
                            "hold is {}: the house rule is 72h of stable operation before decommissioning",
                            crate::runbook::duration::format(hold)
                        ),
                        h.table.get("hold").map(|n| n.span.clone()),
                    )
                    .with_help("leave hold out (72h) unless this runbook has nothing to decommission"),
                );
            }
            (name.map(|n| n.0), description, hold)
        }
        None => {
            sink.push(
                Diagnostic::error("missing-section", "the runbook has no [runbook] section", Some(0..0))
                    .with_help("start the file with:\n[runbook]\nname = \"my-service\"\ndescription = \"VM → Kubernetes, blue-green by DNS\""),
            );
            (None, String::new(), DEFAULT_HOLD)
        }
    };
    if let Some(h) = header {
        h.finish();
    }

    let mut spans = Vec::new();
    let mut phases = Vec::new();
    let phase_tables = top.tables("phase");
    // A misspelt `[[phase]]` is already reported as an unknown section.
    if phase_tables.is_empty() && top.table.get("phase").is_none() && !unknown_sections {
        sink.push(
            Diagnostic::error("no-steps", "the runbook has no [[phase]]", None)
                .with_help("add a phase with steps:\n[[phase]]\nid = \"prepare\"\n  [[phase.step]]\n  id = \"ticket\"\n  kind = \"manual\"\n  title = \"Change ticket approved\""),
        );
    }
    let had_phases = !phase_tables.is_empty();
    for (table, span) in phase_tables {
        if let Some(phase) = decode_phase(table, span, &mut spans, sink) {
            phases.push(phase);
        }
    }
    if had_phases && phases.iter().all(|p| p.steps.is_empty()) && !sink.has_errors() {
        sink.push(
            Diagnostic::error(
                "no-steps",
                "the runbook's phases have no steps: there is nothing to run",
                None,
            )
            .with_help("add [[phase.step]] entries under a phase"),
        );
    }
    let rollback = match top.table("rollback", "[rollback]") {
        Some(r) => {
            let steps = r
                .tables("step")
                .into_iter()
                .filter_map(|(t, span)| decode_step(t, span, "rollback", &mut spans, sink))
                .collect();
            r.finish();
            steps
        }
        None => Vec::new(),
    };
    let dns_written = top.table.get("dns").is_some();
    let dns = top.table("dns", "[dns]").and_then(|d| {
        let config = super::dns::section(&d);
        d.finish();
        config
    });
    let k8s_written = top.table.get("k8s").is_some();
    let k8s = top.table("k8s", "[k8s]").and_then(|k| {
        let config = super::k8s::section(&k);
        k.finish();
        config
    });
    let metrics_written = top.table.get("metrics").is_some();
    let metrics = top.table("metrics", "[metrics]").and_then(|m| {
        let config = super::metrics::section(&m);
        m.finish();
        config
    });
    let state = top.table("state", "[state]").and_then(|s| {
        let config = super::state::section(&s);
        s.finish();
        config
    });
    let notify = top.table("notify", "[notify]").and_then(|n| {
        let config = super::notify::section(&n);
        n.finish();
        config
    });
    // Unknown top-level keys were reported by `check_top_level`.
    drop(top);

    let runbook = Runbook {
        name: name?,
        description,
        environment,
        vars,
        hold,
        phases,
        rollback,
        dns,
        k8s,
        metrics,
        state,
        notify,
    };
    check_references(
        &runbook,
        &spans,
        source,
        sink,
        dns_written,
        Written {
            k8s: k8s_written,
            metrics: metrics_written,
        },
    );
    Some((runbook, environments, provenance))
}

/// Reports unknown top-level sections; returns whether there were any.
fn check_top_level(root: &Table, sink: &Sink) -> bool {
    let mut unknown = false;
    for (key, _) in &root.entries {
        if !TOP_LEVEL.contains(&key.name.as_str()) {
            unknown = true;
            let d = Diagnostic::error(
                "unknown-section",
                format!("unknown section `{}`", key.name),
                Some(key.span.clone()),
            );
            let d = match did_you_mean(&key.name, TOP_LEVEL.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("sections: {}", TOP_LEVEL.join(", "))),
            };
            sink.push(d);
        }
    }
    unknown
}

/// Merges `[env.NAME.*]` over the base sections. Returns the environment's name and all names.
fn apply_environment(root: &mut Table, env: Option<&str>, sink: &Sink) -> Option<(String, Vec<String>)> {
    let envs = match root.remove("env") {
        None => Table::default(),
        Some((_, node)) => match node.value {
            Value::Table(t) => t,
            other => {
                sink.push(Diagnostic::error(
                    "wrong-type",
                    format!("`env` must be a table of environments, found {}", other.type_name()),
                    Some(node.span),
                ));
                Table::default()
            }
        },
    };
    let names: Vec<String> = envs.entries.iter().map(|(k, _)| k.name.clone()).collect();
    // As messages show them (a bad name is reported on its own, at its position).
    let listed: Vec<String> = names.iter().map(|n| names::shown(n)).collect();
    for (key, node) in &envs.entries {
        check_name(&key.name, key.span.clone(), NameKind::Environment, sink);
        match &node.value {
            Value::Table(t) => {
                for (section, _) in &t.entries {
                    if !ENV_SECTIONS.contains(&section.name.as_str()) {
                        sink.push(
                            Diagnostic::error(
                                "unknown-env-section",
                                format!(
                                    "[env.{}] cannot override `{}`",
                                    names::shown(&key.name),
                                    names::shown(&section.name)
                                ),
                                Some(section.span.clone()),
                            )
                            .with_help(format!("an environment can override: {}", ENV_SECTIONS.join(", "))),
                        );
                    }
                }
            }
            other => sink.push(Diagnostic::error(
                "wrong-type",
                format!(
                    "[env.{}] must be a table, found {}",
                    names::shown(&key.name),
                    other.type_name()
                ),
                Some(node.span.clone()),
            )),
        }
    }
    let chosen = match (env, names.is_empty()) {
        (None, true) => return Some(("default".to_string(), names)),
        (None, false) => {
            sink.push(
                Diagnostic::error(
                    "env-required",
                    format!("this runbook defines environments ({}): choose one", listed.join(", ")),
                    None,
                )
                .with_help(format!(
                    "pass {}",
                    listed
                        .iter()
                        .map(|n| format!("--env {n}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            );
            return None;
        }
        (Some(e), _) => e,
    };
    let Some((_, node)) = envs.entries.into_iter().find(|(k, _)| k.name == chosen) else {
        if let Some(refused) = names::refusal(NameKind::Environment, chosen) {
            sink.push(
                Diagnostic::error("bad-name", format!("--env {refused}"), None)
                    .with_help("pass the name of one of the runbook's [env.NAME] sections"),
            );
            return None;
        }
        let d = Diagnostic::error("unknown-env", format!("unknown environment `{chosen}`"), None);
        let d = if names.is_empty() {
            d.with_help("this runbook defines no environments: leave out --env, or add [env.NAME.vars]")
        } else {
            match did_you_mean(chosen, names.iter().map(String::as_str)) {
                Some(s) => d.with_help(format!(
                    "did you mean `{s}`? This runbook defines: {}",
                    listed.join(", ")
                )),
                None => d.with_help(format!("this runbook defines: {}", listed.join(", "))),
            }
        };
        sink.push(d);
        return None;
    };
    if let Value::Table(overlay) = node.value {
        for (k, v) in overlay.entries {
            if ENV_SECTIONS.contains(&k.name.as_str()) {
                root.merge(k, v);
            }
        }
    }
    Some((chosen.to_string(), names))
}

/// Output variables declared by any step, mapped to the step that produces them.
fn declared_outputs(root: &Table) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut visit = |steps: Option<&tree::Node>| {
        if let Some(Value::Array(items)) = steps.map(|n| &n.value) {
            for item in items {
                if let Value::Table(t) = &item.value {
                    let id = match t.get("id").map(|n| &n.value) {
                        Some(Value::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    for name in steps::declared_outputs(t) {
                        out.entry(name).or_insert_with(|| id.clone());
                    }
                }
            }
        }
    };
    if let Some(Value::Array(phases)) = root.get("phase").map(|n| &n.value) {
        for phase in phases {
            if let Value::Table(p) = &phase.value {
                visit(p.get("step"));
            }
        }
    }
    if let Some(Value::Table(r)) = root.get("rollback").map(|n| &n.value) {
        visit(r.get("step"));
    }
    out
}

/// Reports a name that breaks the one rule for names (src/names.rs) at its position.
fn check_name(name: &str, span: Span, kind: NameKind, sink: &Sink) {
    let Some(problem) = names::name_problem(kind, name) else {
        return;
    };
    let (why, example) = match kind {
        NameKind::Runbook => ("they are part of every run's id and folder", "royal-bank-api"),
        NameKind::Environment => (
            "they are part of every run's id and folder, and what --env takes",
            "eu-prod",
        ),
        NameKind::Phase => ("the journal and every report refer to them", "prepare"),
        NameKind::Step | NameKind::RunId => ("the journal, `after` and --approve refer to them", "lower-ttl"),
    };
    sink.push(Diagnostic::error("bad-name", problem, Some(span)).with_help(format!(
        "{} are {}: {why}. For example `{example}`",
        kind.plural(),
        names::RULE
    )));
}

fn decode_phase<'a>(table: &'a Table, span: Span, spans: &mut Vec<StepSpans<'a>>, sink: &'a Sink) -> Option<Phase> {
    let mut r = Reader::new(table, span, "a [[phase]]", sink);
    let id = r.required_string("id", "\"prepare\"");
    if let Some((id, span)) = &id {
        check_name(id, span.clone(), NameKind::Phase, sink);
        r.what = format!("phase `{}`", names::shown(id));
    }
    let title = r.string("title").map(|(t, _)| t);
    let after_hold = r.bool("after_hold").unwrap_or(false);
    let phase_id = id.as_ref().map_or("?", |(i, _)| i.as_str()).to_string();
    let step_tables = r.tables("step");
    if step_tables.is_empty() {
        sink.push(
            Diagnostic::warning("empty-phase", format!("{} has no steps", r.what), Some(r.span.clone()))
                .with_help("add [[phase.step]] entries under it, or remove the phase"),
        );
    }
    let steps = step_tables
        .into_iter()
        .filter_map(|(t, span)| decode_step(t, span, &phase_id, spans, sink))
        .collect();
    r.finish();
    let (id, id_span) = id?;
    spans.push(StepSpans::phase(&id, id_span));
    Some(Phase {
        title: title.unwrap_or_else(|| id.clone()),
        id,
        after_hold,
        steps,
    })
}

fn decode_step<'a>(
    table: &'a Table,
    span: Span,
    phase: &str,
    spans: &mut Vec<StepSpans<'a>>,
    sink: &'a Sink,
) -> Option<Step> {
    let mut r = Reader::new(table, span.clone(), format!("a step of `{phase}`"), sink);
    let id = r.required_string("id", "\"lower-ttl\"");
    if let Some((id, span)) = &id {
        check_name(id, span.clone(), NameKind::Step, sink);
        r.what = format!("step `{}`", names::shown(id));
    }
    let title = r.string("title").map(|(t, _)| t);
    let kind = r.required_string("kind", &format!("\"command\" (one of {})", Kind::names().join(", ")));
    let approve = approval(&r);
    let after = r.table("after", format!("`after` of {}", r.what)).and_then(|a| {
        let step = a.required_string("step", "\"lower-ttl\"");
        let delay = match a.table.get("delay") {
            Some(_) => a.duration("delay"),
            None => {
                a.node("delay");
                a.missing("delay", "\"24h\"");
                None
            }
        };
        a.finish();
        let (step, step_span) = step?;
        Some((After { step, delay: delay? }, step_span))
    });
    let not_before = r.instant("not_before");
    let on_failure = match r.string("on_failure") {
        None => OnFailure::Stop,
        Some((v, _)) if v == "stop" => OnFailure::Stop,
        Some((v, _)) if v == "rollback" => OnFailure::Rollback,
        Some((v, span)) => {
            sink.push(
                Diagnostic::error("bad-value", format!("`on_failure` in {} is `{v}`", r.what), Some(span)).with_help(
                    "write on_failure = \"stop\" (the operator decides) or \"rollback\" (roll back at once)",
                ),
            );
            OnFailure::Stop
        }
    };
    let known_kind = kind.as_ref().and_then(|(k, _)| Kind::named(k));
    let action = match (&kind, known_kind) {
        (_, Some(k)) => k.decode(&r),
        (Some((k, kspan)), None) => {
            steps::unknown_kind(&r, k, kspan.clone());
            None
        }
        (None, None) => None,
    };
    // With the kind wrong or missing, its fields cannot be judged: do not call them unknown.
    if known_kind.is_some() {
        r.finish();
    }
    let (id, id_span) = id?;
    spans.push(StepSpans {
        id: id.clone(),
        id_span,
        after_span: after.as_ref().map(|(_, s)| s.clone()),
        table: Some(table),
        table_span: span,
        is_phase: false,
    });
    Some(Step {
        title: title.unwrap_or_else(|| id.clone()),
        id,
        action: action?,
        approve: approve?,
        after: after.map(|(a, _)| a),
        not_before,
        on_failure,
    })
}

fn approval(r: &Reader<'_>) -> Option<Approval> {
    let Some(node) = r.node("approve") else {
        return Some(Approval::None);
    };
    let bad = |found: &str| {
        r.sink().push(
            Diagnostic::error("bad-approve", format!("`approve` in {} is {found}", r.what), Some(node.span.clone()))
                .with_help("write approve = true (a yes), approve = \"type:<text>\" (the operator types that text, e.g. the hostname), or leave it out"),
        );
        None
    };
    match &node.value {
        Value::Bool(true) => Some(Approval::Confirm),
        Value::Bool(false) => Some(Approval::None),
        Value::Str(s) => match s.strip_prefix("type:") {
            Some(text) if !text.trim().is_empty() => {
                match Template::parse(text.trim()).ok().and_then(|t| t.as_literal()) {
                    Some(text) => Some(Approval::Type(text)),
                    None => bad("a text that refers to a step output"),
                }
            }
            Some(_) => bad("`type:` with nothing to type"),
            None => bad(&format!("`{s}`")),
        },
        other => bad(other.type_name()),
    }
}

/// A name of the runbook (its own, an environment's, a phase's or a step's): the one rule for
/// names (src/names.rs) as a pattern, unless it refers to a variable.
fn name_schema(kind: NameKind, description: &str, example: &str) -> serde_json::Value {
    let mut v = s::matching(
        r"[A-Za-z0-9](?:(?:[A-Za-z0-9_-]|\.[A-Za-z0-9_-])*\.?[A-Za-z0-9])?",
        &format!("{description}. {} are {}", capitalized(kind.plural()), names::RULE),
        example,
    );
    v["maxLength"] = json!(kind.max_len());
    v
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `[runbook]`.
fn header_schema() -> s::Table {
    s::Table::new("What the runbook is: its name, what it does, and the hold before decommissioning")
        .field(
            "name",
            name_schema(
                NameKind::Runbook,
                "The runbook's name: part of every run's id and folder (a runbook that is run needs it; one only included may leave it out)",
                "royal-bank-api",
            ),
        )
        .field(
            "description",
            s::string("What the cutover does, shown in plans and reports", "VM → Kubernetes, blue-green by DNS"),
        )
        .field(
            "hold",
            s::duration(
                &format!(
                    "How long the new side must run stable before the phases marked after_hold (decommissioning). Default: {}",
                    super::duration::format(DEFAULT_HOLD)
                ),
                "72h",
            ),
        )
        .field(
            "include",
            json!({
                "type": "array",
                "items": {"type": "string"},
                "description": "Runbooks whose sections and phases this one includes: paths relative to this file",
                "examples": [["procedures/dns-flip.toml"]],
            }),
        )
}

/// A step: the fields every step has, then its kind's own (the `step_kinds!` table).
fn step_schema() -> s::Table {
    let kinds: Vec<(&'static str, s::Table)> = Kind::ALL.iter().map(|k| (k.name(), k.schema())).collect();
    let listed: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("- {}: {}", k.name(), k.summary().trim()))
        .collect();
    s::Table::new("A step: what it does (`kind`, with the kind's own fields), and when and how it may run")
        .required(
            "id",
            name_schema(NameKind::Step, "The step's id: the journal, `after` and --approve refer to it", "lower-ttl"),
        )
        .field("title", s::string("What the step is called on screen. Default: its id", "Lower the TTL"))
        .required(
            "kind",
            s::string(&format!("What the step does:\n{}", listed.join("\n")), "manual"),
        )
        .field(
            "approve",
            s::any_of(
                "Whether the operator approves the step before it runs: true (a yes), or \"type:<text>\" (the operator types that text, e.g. the hostname). Default: false",
                vec![
                    json!({"type": "boolean"}),
                    json!({"type": "string", "pattern": r"^type:.*\S"}),
                ],
                json!(true),
            ),
        )
        .field(
            "after",
            s::table(
                s::Table::new("A time gate: the step may start only this long after another step finished")
                    .required("step", s::string("The id of an earlier step", "lower-ttl"))
                    .required("delay", s::duration("How long after it finished", "24h")),
            ),
        )
        .field(
            "not_before",
            s::instant(
                "The step may not start before this instant (the window's start), with its offset",
                "2026-12-01T22:00:00Z",
            ),
        )
        .field(
            "on_failure",
            s::words(
                &["stop", "rollback"],
                "When the step fails: stop (the operator decides) or rollback (roll back at once). Default: stop",
                "stop",
            ),
        )
        .field(
            "insert_before",
            s::string(
                "In a runbook that includes another: puts this step before the step of that id in the included phase",
                "flip",
            ),
        )
        .field(
            "insert_after",
            s::string(
                "In a runbook that includes another: puts this step after the step of that id in the included phase",
                "flip",
            ),
        )
        .variants("kind", None, kinds)
}

/// A list of steps, each checked against the one definition.
fn steps_schema(description: &str) -> serde_json::Value {
    json!({
        "type": "array",
        "description": description,
        "items": {"$ref": "#/definitions/step"},
        "examples": [[{"id": "ticket", "kind": "manual", "note": "required"}]],
    })
}

/// `[[phase]]`.
fn phase_schema() -> s::Table {
    s::Table::new("A phase: steps that run in order")
        .required(
            "id",
            name_schema(
                NameKind::Phase,
                "The phase's id: the journal and every report refer to it",
                "prepare",
            ),
        )
        .field(
            "title",
            s::string("What the phase is called on screen. Default: its id", "Prepare"),
        )
        .field(
            "after_hold",
            s::boolean(
                "The phase waits for the hold ([runbook] hold) after the flip: decommissioning. Default: false",
                false,
            ),
        )
        .field("step", steps_schema("[[phase.step]]: the phase's steps, in order"))
}

/// `[rollback]`.
fn rollback_schema() -> s::Table {
    s::Table::new("What puts the old side back: run when the operator or a failure rolls back").field(
        "step",
        steps_schema("[[rollback.step]]: the rollback's steps, in order"),
    )
}

/// `[vars]`: values `${name}` refers to.
fn vars_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "description": "Variables: `${name}` anywhere in the runbook is replaced by the value (values may use other variables; `${env}` is the environment's name)",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
        "examples": [{"vm_ip": "192.0.2.10", "host": "api.example.com"}],
    })
}

/// A section of the runbook, by name, as the schema shows it.
fn section_schema(name: &str) -> serde_json::Value {
    match name {
        "runbook" => header_schema().build(),
        "vars" => vars_schema(),
        "env" => env_schema(),
        "dns" => super::dns::schema().build(),
        "k8s" => super::k8s::schema().build(),
        "metrics" => super::metrics::schema().build(),
        "state" => super::state::schema().build(),
        "notify" => super::notify::schema().build(),
        "phase" => s::tables("[[phase]]: the procedure, phase by phase", phase_schema()),
        "rollback" => rollback_schema().build(),
        other => {
            panic!("the runbook section `{other}` has no schema: add it to `section_schema` in src/runbook/load.rs")
        }
    }
}

/// `[env.NAME]`: overlays of the sections in `ENV_SECTIONS`.
fn env_schema() -> serde_json::Value {
    let mut overlays = serde_json::Map::new();
    for section in ENV_SECTIONS {
        let schema = section_schema(section);
        let overlay = if *section == "vars" {
            schema
        } else {
            s::overlay(&schema)
        };
        overlays.insert(section.to_string(), overlay);
    }
    let mut names = name_schema(NameKind::Environment, "", "production");
    if let Some(o) = names.as_object_mut() {
        o.remove("description");
        o.remove("examples");
        o.remove("type");
    }
    json!({
        "type": "object",
        "description": format!(
            "Environments (--env NAME): each [env.NAME] overrides keys of {} for that environment",
            ENV_SECTIONS.join(", ")
        ),
        "propertyNames": names,
        "additionalProperties": {
            "type": "object",
            "properties": overlays,
            "additionalProperties": false,
        },
        "examples": [{"production": {"vars": {"vm_ip": "192.0.2.10"}}}],
    })
}

/// The runbook's JSON Schema, its sections in the order `TOP_LEVEL` lists them.
pub(crate) fn schema() -> serde_json::Value {
    let mut properties = serde_json::Map::new();
    for section in TOP_LEVEL {
        properties.insert(section.to_string(), section_schema(section));
    }
    json!({
        "description": "A cutover runbook: the procedure of a blue-green cutover from VMs to Kubernetes by DNS, phase by phase (`cutover validate FILE` checks what a schema cannot: references between steps, variables, the sections a step needs)",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "definitions": {"step": step_schema().build()},
    })
}
