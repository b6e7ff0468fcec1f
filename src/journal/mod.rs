//! The crash-safe record of every run, on sled: events appended and flushed before and
//! after each side effect, replayed on open, snapshotted for fast resume, and locked so
//! that only one process drives a run.

mod lock;
mod preserve;
mod run;
mod store;
mod summary;

use std::path::PathBuf;

pub use lock::{Holder, hostname};
pub use run::{Journal, SNAPSHOT_EVERY};
pub use store::{RunEntry, RunIdentity, ScratchDir, Store, default_root};
pub use summary::{RunSummary, StepLine};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "run {run_id} is held by {}: only one process may drive a run. Let it finish, or stop it (its journal keeps everything) and try again",
        holder_words(.holder)
    )]
    Held { run_id: String, holder: Option<Holder> },
    #[error(
        "the last run of this runbook and environment, {run_id}, completed at {}. A new run starts only on purpose: run again with --new-run",
        at.format("%Y-%m-%d %H:%M UTC")
    )]
    Completed {
        run_id: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    #[error("there is no run {run_id} (see `cutover runs`)")]
    NotFound { run_id: String },
    #[error(
        "the journal of run {run_id} at {} is damaged: {detail}. The run cannot continue from it. {}",
        path.display(), kept_words(.kept)
    )]
    Corrupt {
        run_id: String,
        path: PathBuf,
        detail: String,
        kept: Option<PathBuf>,
    },
    #[error(
        "the journal of run {run_id} at {} is truncated: it was known to hold events up to #{expected}, but ends at #{found}. The run cannot continue from it. {}",
        path.display(), kept_words(.kept)
    )]
    Truncated {
        run_id: String,
        path: PathBuf,
        expected: u64,
        found: u64,
        kept: Option<PathBuf>,
    },
    #[error("cannot use {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl JournalError {
    /// Notes where the journal as found was kept, for damage found while opening.
    pub fn kept_at(self, copy: Option<PathBuf>) -> Self {
        match self {
            JournalError::Corrupt {
                run_id, path, detail, ..
            } => JournalError::Corrupt {
                run_id,
                path,
                detail,
                kept: copy,
            },
            JournalError::Truncated {
                run_id,
                path,
                expected,
                found,
                ..
            } => JournalError::Truncated {
                run_id,
                path,
                expected,
                found,
                kept: copy,
            },
            other => other,
        }
    }
}

fn kept_words(kept: &Option<PathBuf>) -> String {
    match kept {
        Some(p) => format!(
            "The journal as it was found is kept unchanged at {}: investigate or restore from there",
            p.display()
        ),
        None => "Copy that folder before anything else touches it, for investigation".to_string(),
    }
}

/// Writes a file through a temporary name and makes both the content and the name
/// durable before returning.
pub(crate) fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn holder_words(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => h.describe(chrono::Utc::now()),
        None => "another process (it did not say who)".to_string(),
    }
}
