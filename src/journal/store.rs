//! The state directory: one folder per run under `runs/`, each with its journal, its
//! lock and its summary. Finds the run to resume for a runbook and environment, and
//! creates new runs under a short store-wide lock so two processes never create twins.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::JournalError;
use super::lock::{Holder, RunLock};
use super::run::Journal;
use super::summary::RunSummary;
use crate::engine::{Mode, RunEvent, RunState};

pub struct Store {
    root: PathBuf,
}

/// Where state lives when nothing else is said: `$CUTOVER_STATE_DIR`, else the XDG
/// state directory (`~/.local/state/cutover`).
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CUTOVER_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cutover")
}

impl Store {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, JournalError> {
        let root = root.into();
        let runs = root.join("runs");
        std::fs::create_dir_all(&runs).map_err(|source| JournalError::Io { path: runs, source })?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// Every run's summary, oldest first. Runs without a readable summary are listed
    /// from their folder name alone by the caller, if it cares.
    pub fn summaries(&self) -> Vec<RunSummary> {
        let Ok(entries) = std::fs::read_dir(self.root.join("runs")) else {
            return Vec::new();
        };
        let mut all: Vec<RunSummary> = entries
            .filter_map(Result::ok)
            .filter_map(|e| RunSummary::read(&e.path().join("summary.json")))
            .collect();
        all.sort_by_key(|s| s.created_at);
        all
    }

    pub fn summary(&self, run_id: &str) -> Option<RunSummary> {
        RunSummary::read(&self.run_dir(run_id).join("summary.json"))
    }

    /// Who holds a run right now, if anyone.
    pub fn holder(&self, run_id: &str) -> Option<Holder> {
        RunLock::holder_of(&self.run_dir(run_id).join("lock"))
    }

    /// The run that `cutover run` continues for this runbook and environment, if any.
    pub fn resumable(&self, runbook: &str, environment: &str, mode: Mode) -> Option<RunSummary> {
        self.summaries()
            .into_iter()
            .rev()
            .find(|s| s.runbook == runbook && s.environment == environment && s.mode == mode && s.is_resumable())
    }

    fn new_run_id(&self, runbook: &str, environment: &str, now: DateTime<Utc>) -> String {
        let base = format!("{runbook}.{environment}.{}", now.format("%Y%m%dT%H%MZ"));
        let mut id = base.clone();
        let mut n = 2;
        while self.run_dir(&id).exists() {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }

    pub fn open_run(&self, run_id: &str, holder: &Holder) -> Result<(Journal, RunState), JournalError> {
        Journal::open(&self.run_dir(run_id), run_id, holder)
    }

    /// Opens the resumable run for this runbook and environment, or creates one whose
    /// first event `start` builds from the new run id.
    pub fn open_or_create(
        &self,
        runbook: &str,
        environment: &str,
        mode: Mode,
        holder: &Holder,
        now: DateTime<Utc>,
        start: impl FnOnce(String) -> RunEvent,
    ) -> Result<(Journal, RunState, bool), JournalError> {
        let guard_path = self.root.join("create.lock");
        let _guard = RunLock::acquire_blocking(&guard_path).map_err(|source| JournalError::Io {
            path: guard_path.clone(),
            source,
        })?;
        if let Some(existing) = self.resumable(runbook, environment, mode) {
            let (journal, state) = self.open_run(&existing.run_id, holder)?;
            return Ok((journal, state, false));
        }
        let run_id = self.new_run_id(runbook, environment, now);
        let (journal, state) = Journal::create(
            &self.run_dir(&run_id),
            holder,
            start(run_id.clone()),
            now,
            &holder.operator,
        )?;
        Ok((journal, state, true))
    }
}
