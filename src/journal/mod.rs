//! The crash-safe record of every run, on sled: events appended and flushed before and
//! after each side effect, replayed on open, snapshotted for fast resume, and locked so
//! that only one process drives a run.

mod lock;
mod run;
mod store;
mod summary;

use std::path::PathBuf;

pub use lock::{Holder, hostname};
pub use run::{Journal, SNAPSHOT_EVERY};
pub use store::{Store, default_root};
pub use summary::{RunSummary, StepLine};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "run {run_id} is held by {}: only one process may drive a run. Let it finish, or stop it (its journal keeps everything) and try again",
        holder_words(.holder)
    )]
    Held { run_id: String, holder: Option<Holder> },
    #[error("there is no run {run_id} (see `cutover runs`)")]
    NotFound { run_id: String },
    #[error(
        "the journal of run {run_id} at {} is damaged: {detail}. Nothing was changed or rewritten. Keep a copy of that folder for investigation; the run cannot continue from it",
        path.display()
    )]
    Corrupt {
        run_id: String,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "the journal of run {run_id} at {} is truncated: it was known to hold events up to #{expected}, but ends at #{found}. Nothing was changed or rewritten. Restore that folder from a backup if you have one; the run cannot continue from it",
        path.display()
    )]
    Truncated {
        run_id: String,
        path: PathBuf,
        expected: u64,
        found: u64,
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

fn holder_words(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => h.describe(chrono::Utc::now()),
        None => "another process (it did not say who)".to_string(),
    }
}
