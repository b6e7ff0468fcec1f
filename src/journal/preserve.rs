//! Keeps a damaged journal as it was found. Opening a journal never rewrites its event
//! log, so the copy taken when damage is found holds every event ever recorded, even where
//! sled's recovery has already cut its own log at the damage. One copy per damaged journal:
//! later attempts to open it name the same copy.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

const PREFIX: &str = "journal.as-found-";

pub(crate) fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    super::create_private_dir(to)?;
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

/// Copies the run's journal aside under a name that says when the damage was found (or
/// finds the copy an earlier attempt made); returns where.
pub fn keep_as_found(run_dir: &Path, now: DateTime<Utc>) -> Option<PathBuf> {
    let earlier = std::fs::read_dir(run_dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(PREFIX)))
        .max();
    if earlier.is_some() {
        return earlier;
    }
    let kept = run_dir.join(format!("{PREFIX}{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
    match copy_dir(&run_dir.join("journal"), &kept) {
        Ok(()) => Some(kept),
        Err(e) => {
            tracing::warn!("cannot keep a copy of the damaged journal at {}: {e}", kept.display());
            let _ = std::fs::remove_dir_all(&kept);
            None
        }
    }
}
