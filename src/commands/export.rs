//! `cutover export`: the post-mortem of a run as Markdown, JSON or HTML. It reads a copy
//! of the run's journal, so it never takes the run's lock nor changes a file of it, and
//! works while another process drives the run.

use anyhow::{Context as _, Result};
use chrono::Utc;

use super::Env;
use crate::cli::{ExportArgs, ExportFormat};
use crate::journal::Holder;
use crate::terminal_text::{Lines, for_terminal};

pub fn export(env: &Env, args: &ExportArgs) -> Result<i32> {
    let holder = Holder::this_process(&env.operator, "cutover export", Utc::now());
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
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).with_context(|| {
                format!(
                    "cannot write the export to {}: check that its folder exists and is writable",
                    path.display()
                )
            })?;
            let said = format!(
                "Wrote the {} export of run {} ({} events) to {}",
                args.format.word(),
                args.run_id,
                records.len(),
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
