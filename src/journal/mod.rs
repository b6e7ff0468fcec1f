//! The crash-safe record of every run, on sled: events appended and flushed before and
//! after each side effect, replayed on open, snapshotted for fast resume, and locked so
//! that only one process drives a run.

mod eventlog;
mod fleet;
mod follow;
mod lock;
mod preserve;
pub mod replica;
mod run;
mod store;
mod summary;

use std::path::PathBuf;

pub use fleet::{FleetRecord, WaveRecord};
pub use follow::{FollowError, Follower};
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
        "the journal of run {run_id} at {} is truncated: its event log holds events up to #{expected}, but its store ends at #{found}. The run cannot continue from it. {}",
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
            "The journal as it stood when the damage was found is kept at {} (its events.log holds every event \
             recorded): investigate or restore from there",
            p.display()
        ),
        None => "Copy that folder before anything else touches it, for investigation".to_string(),
    }
}

/// Writes a file through a temporary name and makes both the content and the name
/// durable before returning. Readable by its owner only.
pub(crate) fn write_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = private_file(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates (or truncates) a file only its owner can read and write.
pub(crate) fn private_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let f = o.open(path)?;
    // An existing file keeps its mode through `open`: tighten it.
    set_mode(path, 0o600)?;
    Ok(f)
}

/// Makes a directory's entry durable (a new or renamed file in it survives a power cut).
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Creates a directory (and its missing parents) that only its owner can enter, and
/// tightens it if it exists already (state written by an older version was 755).
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    set_mode(dir, 0o700)
}

/// Tightens everything in `dir` (sled's files, which it creates with the default mode):
/// directories 0700, files 0600.
pub(crate) fn make_private(dir: &std::path::Path) -> std::io::Result<()> {
    set_mode(dir, 0o700)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_private(&entry.path())?;
        } else {
            set_mode(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

fn holder_words(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => h.describe(chrono::Utc::now()),
        None => "another process (it did not say who)".to_string(),
    }
}
