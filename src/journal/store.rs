//! The state directory: one folder per run under `runs/`, each with its identity
//! (`run.json`, written once), its journal, its lock and its summary. Runs are found by
//! their identities; summaries only speed up listing and are rebuilt when missing. New
//! runs are created under a short store-wide lock so two processes never create twins.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lock::{Holder, RunLock};
use super::run::Journal;
use super::summary::RunSummary;
use super::{JournalError, create_private_dir, write_durably};
use crate::engine::{Mode, RunEvent, RunState, RunStatus};
use crate::names::{self, NameKind};

/// What a run is for; written when the run is created and never changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunIdentity {
    pub run_id: String,
    pub runbook: String,
    pub environment: String,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
}

/// A run as found on disk: its identity, and its summary if one is readable.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub identity: RunIdentity,
    pub summary: Option<RunSummary>,
}

pub struct Store {
    root: PathBuf,
}

/// The prefix of a run's folder while it is being created.
const CREATING: &str = ".creating-";

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
    /// Opens (or creates) the state directory. It and everything in it is private to its
    /// owner: folders 0700, files 0600.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, JournalError> {
        let root = root.into();
        for dir in [root.clone(), root.join("runs")] {
            create_private_dir(&dir).map_err(|source| JournalError::Io { path: dir, source })?;
        }
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a run. An id that breaks the rule for names (src/names.rs) is
    /// refused, so no path is ever built from one: it could lead out of `runs/`.
    pub fn run_dir(&self, run_id: &str) -> Result<PathBuf, JournalError> {
        match names::refusal(NameKind::RunId, run_id) {
            Some(refused) => Err(JournalError::Invalid(refused)),
            None => Ok(self.root.join("runs").join(run_id)),
        }
    }

    /// Every run with a journal, oldest first.
    pub fn runs(&self) -> Vec<RunEntry> {
        let Ok(entries) = std::fs::read_dir(self.root.join("runs")) else {
            return Vec::new();
        };
        let mut all: Vec<RunEntry> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|dir| dir.join("journal").exists())
            .filter_map(|dir| {
                let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
                let identity: RunIdentity = serde_json::from_str(&text).ok()?;
                Some(RunEntry {
                    summary: RunSummary::read(&dir.join("summary.json")),
                    identity,
                })
            })
            .collect();
        all.sort_by_key(|r| r.identity.created_at);
        all
    }

    /// The summaries of every run that has one, oldest first.
    pub fn summaries(&self) -> Vec<RunSummary> {
        self.runs().into_iter().filter_map(|r| r.summary).collect()
    }

    pub fn summary(&self, run_id: &str) -> Option<RunSummary> {
        RunSummary::read(&self.run_dir(run_id).ok()?.join("summary.json"))
    }

    /// Who holds a run right now, if anyone.
    pub fn holder(&self, run_id: &str) -> Option<Holder> {
        RunLock::holder_of(&self.run_dir(run_id).ok()?.join("lock"))
    }

    fn new_run_id(
        &self,
        runbook: &str,
        environment: &str,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<String, JournalError> {
        let kind = match mode {
            Mode::Live => "",
            Mode::Rehearsal => "rehearsal.",
        };
        let base = format!("{runbook}.{environment}.{kind}{}", now.format("%Y%m%dT%H%MZ"));
        let mut id = base.clone();
        let mut n = 2;
        while self.run_dir(&id)?.exists() {
            id = format!("{base}-{n}");
            n += 1;
        }
        Ok(id)
    }

    /// Every record of a run and its state, for another terminal. A run no session holds
    /// is opened and checked as a resume would; a run a session holds is read from a
    /// private copy of its identity and journal (not its lock or summary), so the reader
    /// never waits for, nor changes anything of, that session. The copy is removed
    /// afterwards.
    pub fn read_copy(
        &self,
        run_id: &str,
        holder: &Holder,
    ) -> Result<(Vec<crate::engine::Recorded>, RunState), JournalError> {
        let dir = self.run_dir(run_id)?;
        if !dir.join("journal").is_dir() {
            return Err(JournalError::NotFound {
                run_id: run_id.to_string(),
            });
        }
        // No session holds it: read the journal itself, with every check a resume makes
        // (a copy has to let its event log run ahead of its store: the session may append
        // while it is taken).
        if self.holder(run_id).is_none() {
            match self.open_run(run_id, holder) {
                Ok((mut journal, state)) => {
                    journal.older_events_checked()?;
                    return Ok((journal.records(1)?, state));
                }
                // Someone took it in the meantime: read a copy after all.
                Err(JournalError::Held { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // A copy taken while a session writes may catch a write half done: one more try.
        let mut tries = 0;
        loop {
            tries += 1;
            let scratch = ScratchDir::copy_of(&self.root, &dir, run_id).map_err(|source| JournalError::Io {
                path: dir.clone(),
                source,
            })?;
            let read = Journal::open_copy(&scratch.0, run_id, holder)
                .and_then(|(journal, state)| Ok((journal.records(1)?, state)));
            match read {
                Err(JournalError::Corrupt { .. } | JournalError::Truncated { .. }) if tries < 2 => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    pub fn open_run(&self, run_id: &str, holder: &Holder) -> Result<(Journal, RunState), JournalError> {
        Journal::open(&self.run_dir(run_id)?, run_id, holder)
    }

    /// Opens the run in progress for this runbook and environment, or creates one whose
    /// first event `start` builds from the new run id. After a completed run, a new one
    /// is created only when `new_run` says so.
    #[allow(clippy::too_many_arguments)]
    pub fn open_or_create(
        &self,
        runbook: &str,
        environment: &str,
        mode: Mode,
        holder: &Holder,
        now: DateTime<Utc>,
        new_run: bool,
        start: impl FnOnce(String) -> RunEvent,
    ) -> Result<(Journal, RunState, bool), JournalError> {
        let _guard = self.creation_guard()?;
        let mine: Vec<RunEntry> = self
            .runs()
            .into_iter()
            .filter(|r| {
                r.identity.runbook == runbook && r.identity.environment == environment && r.identity.mode == mode
            })
            .collect();
        let mut last_completed: Option<(String, DateTime<Utc>)> = None;
        for entry in mine.iter().rev() {
            let completed_at = |s: &RunStatus| match s {
                RunStatus::Completed { at } => Some(*at),
                _ => None,
            };
            // A run whose summary says completed is done; any other, or one without a
            // summary, is opened: its journal says where it stands.
            if let Some(at) = entry.summary.as_ref().and_then(|s| completed_at(&s.status)) {
                last_completed.get_or_insert((entry.identity.run_id.clone(), at));
                continue;
            }
            let (journal, state) = self.open_run(&entry.identity.run_id, holder)?;
            match completed_at(&state.status) {
                Some(at) => {
                    last_completed.get_or_insert((entry.identity.run_id.clone(), at));
                }
                None => return Ok((journal, state, false)),
            }
        }
        if let Some((run_id, at)) = last_completed.filter(|_| !new_run) {
            return Err(JournalError::Completed { run_id, at });
        }
        let (journal, state) = self.create_locked(runbook, environment, mode, holder, now, start)?;
        Ok((journal, state, true))
    }

    /// The store-wide lock held while a run is found or created, so two processes never
    /// create twins.
    pub(super) fn creation_guard(&self) -> Result<RunLock, JournalError> {
        let path = self.root.join("create.lock");
        RunLock::acquire_blocking(&path).map_err(|source| JournalError::Io { path, source })
    }

    /// Creates a new run whatever else exists (the demo: each one has its own sandbox).
    pub fn create_run(
        &self,
        runbook: &str,
        environment: &str,
        mode: Mode,
        holder: &Holder,
        now: DateTime<Utc>,
        start: impl FnOnce(String) -> RunEvent,
    ) -> Result<(Journal, RunState), JournalError> {
        let _guard = self.creation_guard()?;
        self.create_locked(runbook, environment, mode, holder, now, start)
    }

    /// Creates a run; the caller holds the store-wide creation lock.
    fn create_locked(
        &self,
        runbook: &str,
        environment: &str,
        mode: Mode,
        holder: &Holder,
        now: DateTime<Utc>,
        start: impl FnOnce(String) -> RunEvent,
    ) -> Result<(Journal, RunState), JournalError> {
        let run_id = self.new_run_id(runbook, environment, mode, now)?;
        let dir = self.run_dir(&run_id)?;
        let identity = RunIdentity {
            run_id: run_id.clone(),
            runbook: runbook.to_string(),
            environment: environment.to_string(),
            mode,
            created_at: now,
        };
        // The run is built under a hidden name and appears under its own only once its
        // first event is durable: a crash while creating leaves no run without a journal.
        let runs = self.root.join("runs");
        self.clear_unfinished_creations();
        let staging = runs.join(format!("{CREATING}{run_id}"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        create_private_dir(&staging)
            .and_then(|()| {
                write_durably(
                    &staging.join("run.json"),
                    &serde_json::to_vec_pretty(&identity).unwrap_or_default(),
                )
            })
            .map_err(io(&staging))?;
        let (journal, _) = Journal::create(&staging, holder, start(run_id.clone()), now, &holder.operator)?;
        drop(journal);
        std::fs::rename(&staging, &dir)
            .and_then(|()| super::sync_dir(&runs))
            .map_err(io(&dir))?;
        Journal::open(&dir, &run_id, holder)
    }

    /// Removes what a creation that died half way left (creations are one at a time, under
    /// the store-wide lock, so any such folder is abandoned).
    fn clear_unfinished_creations(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("runs")) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().to_string_lossy().starts_with(CREATING) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A directory of this process's own under the state directory's `scratch/`, private to
/// its owner and removed with everything in it when dropped (a dry run's store, a copy of
/// a journal to read).
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new_in(state_root: &Path, kind: &str) -> std::io::Result<Self> {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let kind = kind.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let parent = state_root.join("scratch");
        create_private_dir(&parent)?;
        let dir = ScratchDir(parent.join(format!("{kind}-{}-{nanos}", std::process::id())));
        create_private_dir(&dir.0)?;
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A private copy of a run's identity and journal (not its lock, summary or marks).
    /// sled's files are copied before its event log, so the copy's log is never more than
    /// one batch behind its store (a session appends to sled, then to the log).
    fn copy_of(state_root: &Path, dir: &Path, run_id: &str) -> std::io::Result<Self> {
        let scratch = ScratchDir::new_in(state_root, &format!("read-{run_id}"))?;
        if dir.join("run.json").is_file() {
            std::fs::copy(dir.join("run.json"), scratch.0.join("run.json"))?;
        }
        let (from, to) = (dir.join("journal"), scratch.0.join("journal"));
        super::create_private_dir(&to)?;
        let log = super::eventlog::FILE_NAME;
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                super::preserve::copy_dir(&entry.path(), &target)?;
            } else if entry.file_name() != log {
                std::fs::copy(entry.path(), target)?;
            }
        }
        if from.join(log).exists() {
            std::fs::copy(from.join(log), to.join(log))?;
        }
        Ok(scratch)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
