//! One process drives a run. The lock is an advisory `flock` on a file in the run's
//! directory, released by the kernel when the process dies, so it never goes stale; the
//! file names the holder so a second process can say who has it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::runbook::duration::countdown;

/// Who holds a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub operator: String,
    pub since: DateTime<Utc>,
    /// What the holder is doing, e.g. `cutover run`.
    pub command: String,
}

impl Holder {
    pub fn this_process(operator: &str, command: &str, now: DateTime<Utc>) -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            operator: operator.to_string(),
            since: now,
            command: command.to_string(),
        }
    }

    /// "pid 4242 on host ops-1 (alice, `cutover run`) since 2026-11-22 02:10:00 UTC, 3m 05s ago"
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let ago = countdown((now - self.since).to_std().unwrap_or_default());
        format!(
            "pid {} on host {} ({}, `{}`) since {}, {ago} ago",
            self.pid,
            self.host,
            self.operator,
            self.command,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Held for as long as it lives.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

pub enum Acquire {
    Acquired(RunLock),
    /// Someone else has it; what they wrote about themselves, if readable.
    Held(Option<Holder>),
}

impl RunLock {
    /// Takes the lock without waiting, and writes who holds it.
    pub fn try_acquire(path: &Path, holder: &Holder) -> std::io::Result<Acquire> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if let Err(e) = file.try_lock_exclusive() {
            if e.kind() != std::io::ErrorKind::WouldBlock && e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(e);
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Ok(Acquire::Held(serde_json::from_str(&text).ok()));
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(serde_json::to_string_pretty(holder).unwrap_or_default().as_bytes())?;
        file.flush()?;
        Ok(Acquire::Acquired(RunLock { file }))
    }

    /// Who holds the lock at `path`, if anyone, without taking it or writing to it.
    pub fn holder_of(path: &Path) -> Option<Holder> {
        let mut file = OpenOptions::new().read(true).open(path).ok()?;
        if file.try_lock_exclusive().is_ok() {
            let _ = FileExt::unlock(&file);
            return None;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits for the lock (used for the short store-wide lock around run creation).
    pub fn acquire_blocking(path: &Path) -> std::io::Result<RunLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        file.lock_exclusive()?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}
