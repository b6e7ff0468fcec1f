//! `cutover export`: the post-mortem of a run as Markdown, JSON or HTML. It reads a copy
//! of the run's journal, so it never takes the run's lock nor changes a file of it, and
//! works while another process drives the run.

use anyhow::{Context as _, Result};
use chrono::Utc;

use super::Env;
use crate::cli::{ExportArgs, ExportFormat};
use crate::journal::{FleetRecord, Holder};
use crate::terminal_text::{Lines, for_terminal};

pub fn export(env: &Env, args: &ExportArgs) -> Result<i32> {
    let holder = Holder::this_process(&env.operator, "cutover export", Utc::now());
    if env.store.summary(&args.run_id).is_none()
        && let Some(fleet) = env.store.fleet(&args.run_id)
    {
        return export_fleet(env, args, &fleet, &holder);
    }
    let (records, state) = env.store.read_copy(&args.run_id, &holder).map_err(|e| match e {
        crate::journal::JournalError::NotFound { run_id } => anyhow::anyhow!(
            "there is no run {run_id} in {} (see `cutover runs` for the run ids)",
            env.store.root().display()
        ),
        other => anyhow::Error::new(other).context(format!("cannot read the journal of run {}", args.run_id)),
    })?;
    let redactor = crate::effects::redactor_for(&state.runbook);
    let text = match args.format {
        ExportFormat::Md => crate::report::markdown(&records, &state, &redactor),
        ExportFormat::Json => crate::report::json(&records, &state, &redactor),
        ExportFormat::Html => crate::report::html(&records, &state, &redactor),
    };
    write_out(args, &text, &format!("run {}", args.run_id), records.len())
}

/// A fleet's post-mortem: its applications and one timeline of every run's journal.
fn export_fleet(env: &Env, args: &ExportArgs, fleet: &FleetRecord, holder: &Holder) -> Result<i32> {
    if args.format == ExportFormat::Html {
        anyhow::bail!(
            "a fleet exports as Markdown or JSON (--format md|json): one timeline of every application. Each \
             application's run exports as HTML with its charts: `cutover export RUN_ID --format html` (run ids: \
             `cutover export {} --format md`)",
            fleet.fleet_id
        );
    }
    let mut read = Vec::new();
    for (app, run_id) in &fleet.runs {
        let (records, state) = env
            .store
            .read_copy(run_id, holder)
            .with_context(|| format!("cannot read the journal of run {run_id} (application {app})"))?;
        let redactor = crate::effects::redactor_for(&state.runbook);
        read.push((app.clone(), records, state, redactor));
    }
    let runs: Vec<crate::report::AppRun<'_>> = read
        .iter()
        .map(|(app, records, state, redactor)| crate::report::AppRun {
            app,
            records,
            state,
            redactor,
        })
        .collect();
    let text = match args.format {
        ExportFormat::Json => crate::report::fleet_json(fleet, &runs),
        _ => crate::report::fleet_markdown(fleet, &runs),
    };
    let events = read.iter().map(|r| r.1.len()).sum();
    write_out(args, &text, &format!("fleet {}", fleet.fleet_id), events)
}

fn write_out(args: &ExportArgs, text: &str, what: &str, events: usize) -> Result<i32> {
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).with_context(|| {
                format!(
                    "cannot write the export to {}: check that its folder exists and is writable",
                    path.display()
                )
            })?;
            let said = format!(
                "Wrote the {} export of {what} ({events} events) to {}",
                args.format.word(),
                path.display()
            );
            eprintln!("{}", for_terminal(&said, Lines::Many));
        }
        None => {
            use std::io::Write as _;
            // Markdown and HTML are safe to print already (`report`); JSON escapes control
            // characters itself and must stay exact.
            // A reader that stops early (`| head`) is not an error.
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(0)
}
