//! Keeps the journal as it was found. sled's recovery drops whatever follows damaged or
//! torn data and rewrites its file while opening, before anything can check it. So when
//! the last session did not close cleanly, or the file changed since it did, the journal
//! is copied aside first. The copy is discarded when the journal checks out, and kept
//! (and named in the error) when it does not.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const MARK: &str = "journal.clean";
const COPY: &str = "journal.before-open";

/// The size and modification time of sled's data file when the last session closed.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Fingerprint {
    len: u64,
    modified_ns: u128,
}

fn fingerprint(dir: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(dir.join("journal").join("db")).ok()?;
    Some(Fingerprint {
        len: meta.len(),
        modified_ns: meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos(),
    })
}

/// Whether the journal is exactly as a clean close left it.
pub fn untouched_since_clean_close(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(MARK)) else {
        return false;
    };
    let recorded: Option<Fingerprint> = serde_json::from_str(&text).ok();
    recorded.is_some() && recorded == fingerprint(dir)
}

/// Records a clean close (sled is closed, nothing more will be written).
pub fn mark_clean(dir: &Path) {
    if let Some(fp) = fingerprint(dir) {
        let _ = std::fs::write(dir.join(MARK), serde_json::to_vec(&fp).unwrap_or_default());
    }
}

/// The journal is about to be opened: until the next clean close it is not clean.
pub fn clear_mark(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(MARK));
}

pub(crate) fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
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

/// Copies the journal aside before sled opens it.
pub fn copy_aside(dir: &Path) -> io::Result<PathBuf> {
    let copy = dir.join(COPY);
    if copy.exists() {
        std::fs::remove_dir_all(&copy)?;
    }
    copy_dir(&dir.join("journal"), &copy)?;
    Ok(copy)
}

/// Keeps the copy under a name that says when it was found; returns where.
pub fn keep_as_found(copy: &Path, now: DateTime<Utc>) -> Option<PathBuf> {
    let kept = copy.with_file_name(format!("journal.as-found-{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
    std::fs::rename(copy, &kept).ok()?;
    Some(kept)
}

pub fn discard(copy: &Path) {
    let _ = std::fs::remove_dir_all(copy);
}
