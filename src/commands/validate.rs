//! `cutover validate` and `cutover plan`: read a runbook, report what is wrong or show
//! exactly what the run will do.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::RunbookArgs;
use crate::runbook::describe::{action_lines, gate_lines};
use crate::runbook::duration::format as dur;
use crate::runbook::{LoadError, Loaded, Step, environments_of, load_file_with};

/// Text for the terminal (see `terminal_text`): a runbook may hold control characters.
fn many(text: &str) -> std::borrow::Cow<'_, str> {
    crate::terminal_text::for_terminal(text, crate::terminal_text::Lines::Many)
}

/// Loads the runbook; on failure prints why (with positions) and returns `None`.
pub fn load_or_report(args: &RunbookArgs) -> Option<Loaded> {
    match load_file_with(&args.runbook, args.env.as_deref(), &args.vars) {
        Ok(loaded) => {
            if !loaded.warnings.items.is_empty() {
                eprint!("{}", many(&loaded.warnings.render(&loaded.source)));
            }
            Some(loaded)
        }
        // The diagnostics quote the runbook's lines, which may hold anything.
        Err(e @ (LoadError::Io { .. } | LoadError::TooLarge { .. })) => {
            eprintln!("error: {}", many(&e.to_string()));
            None
        }
        Err(e) => {
            eprint!("{}", many(&e.to_string()));
            None
        }
    }
}

/// Validates for the environment given, or for every environment the runbook defines.
pub fn validate(args: &RunbookArgs) -> Result<i32> {
    let all = match &args.env {
        Some(_) => Vec::new(),
        // A file that cannot be read is reported by loading it.
        None => environments_of(&args.runbook),
    };
    let targets: Vec<Option<String>> = if all.is_empty() {
        vec![args.env.clone()]
    } else {
        all.into_iter().map(Some).collect()
    };
    let mut failed = 0;
    for env in targets {
        let one = RunbookArgs {
            runbook: args.runbook.clone(),
            env,
            vars: args.vars.clone(),
        };
        let Some(loaded) = load_or_report(&one) else {
            failed += 1;
            continue;
        };
        let rb = &loaded.runbook;
        let line = format!(
            "✔ {} is valid for {}: runbook `{}`, {} phases, {} steps, {} rollback steps",
            args.runbook.display(),
            rb.environment,
            rb.name,
            rb.phases.len(),
            rb.steps().count(),
            rb.rollback.len()
        );
        println!("{}", many(&line));
    }
    Ok(i32::from(failed > 0))
}

fn step_block(out: &mut String, label: &str, step: &Step, loaded: &Loaded) {
    let runbook = &loaded.runbook;
    let _ = writeln!(
        out,
        "  {label:>4} {:<20} [{}] {}",
        step.id,
        step.action.kind(),
        step.title
    );
    for line in action_lines(&step.action, runbook) {
        let _ = writeln!(out, "       {line}");
    }
    for line in gate_lines(step) {
        let _ = writeln!(out, "       ⏸ {line}");
    }
    for line in origin_lines(step, loaded) {
        let _ = writeln!(out, "       {line}");
    }
}

/// Where a step was written, and the fields another file changed, file by file.
fn origin_lines(step: &Step, loaded: &Loaded) -> Vec<String> {
    let Some(origin) = loaded.provenance.steps.get(&step.id) else {
        return Vec::new();
    };
    let source = &loaded.source;
    let mut lines = vec![format!("from {}", source.file_line(origin.defined.start))];
    let mut by_file: Vec<(String, Vec<String>)> = Vec::new();
    for (field, span) in &origin.overridden {
        let file = source.file_at(span.start).path.display().to_string();
        let (line, _) = source.position(span.start);
        let what = format!("{field} (line {line})");
        match by_file.iter_mut().find(|(f, _)| *f == file) {
            Some((_, fields)) => fields.push(what),
            None => by_file.push((file, vec![what])),
        }
    }
    for (file, fields) in by_file {
        lines.push(format!("changed in {file}: {}", fields.join(", ")));
    }
    lines
}

/// The files a load read, when there is more than the runbook: what each one is.
fn files_lines(loaded: &Loaded) -> Vec<String> {
    let source = &loaded.source;
    if source.files.len() < 2 {
        return Vec::new();
    }
    source
        .files
        .iter()
        .skip(1)
        .map(|f| match &f.included_from {
            Some(at) => format!("  {} (included at {})", f.path.display(), source.file_line(at.start)),
            None => format!("  {} (--vars)", f.path.display()),
        })
        .collect()
}

/// The widest a plan line should be.
const PLAN_WIDTH: usize = 100;

/// `name = value` with the `file:line` it came from, in a column when it fits.
fn variable_lines(loaded: &Loaded) -> Vec<String> {
    let rows: Vec<(String, Option<String>)> = loaded
        .runbook
        .vars
        .iter()
        .filter(|(k, _)| k.as_str() != "env")
        .map(|(k, v)| {
            let origin = loaded
                .provenance
                .vars
                .get(k)
                .map(|span| loaded.source.file_line(span.start));
            (format!("  {k} = {v}"), origin)
        })
        .collect();
    // One column for every origin, as far right as the widest `name = value` needs, but
    // never so far that the longest origin passes the width: longer rows give it a line.
    let widest_origin = rows
        .iter()
        .filter_map(|(_, o)| o.as_ref().map(|o| o.chars().count()))
        .max()
        .unwrap_or(0);
    let column = rows
        .iter()
        .map(|(left, _)| left.chars().count())
        .max()
        .unwrap_or(0)
        .min(PLAN_WIDTH.saturating_sub(2 + widest_origin));
    let mut lines = Vec::new();
    for (left, origin) in rows {
        match origin {
            None => lines.push(left),
            Some(origin) => {
                let width = left.chars().count();
                if width <= column {
                    lines.push(format!("{left}{}{origin}", " ".repeat(column + 2 - width)));
                } else {
                    lines.push(left);
                    lines.push(format!("      from {origin}"));
                }
            }
        }
    }
    lines
}

pub fn render_plan(loaded: &Loaded) -> String {
    let rb = &loaded.runbook;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for runbook `{}` ({}) from {}",
        rb.name,
        rb.environment,
        loaded.source.path.display()
    );
    if !rb.description.is_empty() {
        let _ = writeln!(out, "{}", rb.description);
    }
    let _ = writeln!(out, "{}", loaded.digest);
    let files = files_lines(loaded);
    if !files.is_empty() {
        let _ = writeln!(out, "\nAlso read");
        for line in files {
            let _ = writeln!(out, "{line}");
        }
    }
    let vars = variable_lines(loaded);
    if !vars.is_empty() {
        let _ = writeln!(out, "\nVariables (value, and the file:line it comes from)");
        for line in vars {
            let _ = writeln!(out, "{line}");
        }
    }
    let mut n = 0;
    let phases = rb.phases.len();
    for (i, phase) in rb.phases.iter().enumerate() {
        let hold = if phase.after_hold {
            format!(" (after the {} hold)", dur(rb.hold))
        } else {
            String::new()
        };
        let _ = writeln!(out, "\nPhase {}/{phases}: {} — {}{hold}", i + 1, phase.id, phase.title);
        for step in &phase.steps {
            n += 1;
            step_block(&mut out, &format!("{n}."), step, loaded);
        }
    }
    let _ = writeln!(
        out,
        "\nWhen every step is done: hold {} of stable operation before the run completes (rollback stays available).",
        dur(rb.hold)
    );
    if rb.rollback.is_empty() {
        let _ = writeln!(out, "\nRollback: no steps ([rollback] is empty).");
    } else {
        let _ = writeln!(
            out,
            "\nRollback (when the operator rolls back, or a step with on_failure = \"rollback\" fails; the incident is recorded first):"
        );
        for (i, step) in rb.rollback.iter().enumerate() {
            step_block(&mut out, &format!("R{}.", i + 1), step, loaded);
        }
    }
    out
}

pub fn plan(args: &RunbookArgs) -> Result<i32> {
    let Some(loaded) = load_or_report(args) else {
        return Ok(1);
    };
    let redactor = crate::effects::redactor_for(&loaded.runbook);
    print!("{}", many(&redactor.redact(&render_plan(&loaded))));
    Ok(0)
}
