//! `cutover export`: the post-mortem of a run as Markdown, JSON or HTML. It reads a copy
//! of the run's journal, so it never takes the run's lock nor changes a file of it, and
//! works while another process drives the run.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use chrono::Utc;

use super::Env;
use crate::cli::{ExportArgs, ExportFormat};
use crate::engine::{Recorded, RunState};
use crate::journal::{Holder, Journal};

pub fn export(env: &Env, args: &ExportArgs) -> Result<i32> {
    let (records, state) = read_run(env, &args.run_id)?;
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
            eprintln!(
                "Wrote the {} export of run {} ({} events) to {}",
                args.format.word(),
                args.run_id,
                records.len(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(0)
}

/// Every record of the run and its state, read from a scratch copy of its journal.
fn read_run(env: &Env, run_id: &str) -> Result<(Vec<Recorded>, RunState)> {
    let dir = env.store.run_dir(run_id);
    let plain = !run_id.is_empty() && !run_id.starts_with('.') && !run_id.contains(['/', '\\']);
    if !plain || !dir.join("journal").is_dir() {
        bail!(
            "there is no run {run_id} in {} (see `cutover runs` for the run ids)",
            env.store.root().display()
        );
    }
    let scratch = Scratch::copy_of(&dir, run_id).with_context(|| {
        format!(
            "cannot copy the journal of run {run_id} from {} to read it",
            dir.display()
        )
    })?;
    let holder = Holder::this_process(&env.operator, "cutover export", Utc::now());
    let (journal, _) = Journal::open(&scratch.path, run_id, &holder)
        .with_context(|| format!("cannot read the journal of run {run_id} at {}", dir.display()))?;
    let records = journal.records(1)?;
    drop(journal);
    let state = RunState::replay(&records)
        .with_context(|| format!("the journal of run {run_id} does not start with the start of a run"))?;
    Ok((records, state))
}

/// A private copy of a run's identity and journal (not its lock, summary or marks),
/// removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn copy_of(dir: &Path, run_id: &str) -> std::io::Result<Self> {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "cutover-export-{}-{}-{nanos}",
            run_id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
            std::process::id()
        ));
        let scratch = Scratch { path };
        std::fs::create_dir_all(&scratch.path)?;
        if dir.join("run.json").is_file() {
            std::fs::copy(dir.join("run.json"), scratch.path.join("run.json"))?;
        }
        copy_dir(&dir.join("journal"), &scratch.path.join("journal"))?;
        Ok(scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
