//! One process drives a run. The lock is an advisory `flock` on a file in the run's
//! directory, released by the kernel when the process dies, so it never goes stale; the
//! file names the holder so a second process can say who has it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
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

/// The exclusive lock itself: open-file-description locks on Linux, which another
/// process can test without taking; `flock` elsewhere. Both are released by the kernel
/// when the holder dies.
mod os {
    use std::fs::File;
    use std::io;

    #[cfg(target_os = "linux")]
    fn ofd(file: &File, cmd: libc::c_int, kind: libc::c_int) -> io::Result<libc::flock> {
        use std::os::fd::AsRawFd;
        // SAFETY: a zeroed flock is a valid value; fcntl only reads and writes it.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: the descriptor is open for the life of `file`; `fl` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) };
        if rc == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(fl)
        }
    }

    /// `Ok(false)` when another process holds it.
    #[cfg(target_os = "linux")]
    pub fn try_lock(file: &File) -> io::Result<bool> {
        match ofd(file, libc::F_OFD_SETLK, libc::F_WRLCK) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    #[cfg(target_os = "linux")]
    pub fn lock(file: &File) -> io::Result<()> {
        ofd(file, libc::F_OFD_SETLKW, libc::F_WRLCK).map(|_| ())
    }

    /// Whether someone holds it, without taking it even for a moment.
    #[cfg(target_os = "linux")]
    pub fn is_held(file: &File) -> io::Result<bool> {
        Ok(ofd(file, libc::F_OFD_GETLK, libc::F_WRLCK)?.l_type != libc::F_UNLCK as libc::c_short)
    }

    #[cfg(target_os = "linux")]
    pub fn unlock(file: &File) {
        let _ = ofd(file, libc::F_OFD_SETLK, libc::F_UNLCK);
    }

    #[cfg(not(target_os = "linux"))]
    pub fn try_lock(file: &File) -> io::Result<bool> {
        match file.try_lock_exclusive() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn lock(file: &File) -> io::Result<()> {
        fs2::FileExt::lock_exclusive(file)
    }

    /// Without open-file-description locks, testing means taking it for a moment.
    #[cfg(not(target_os = "linux"))]
    pub fn is_held(file: &File) -> io::Result<bool> {
        let free = try_lock(file)?;
        if free {
            unlock(file);
        }
        Ok(!free)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn unlock(file: &File) {
        let _ = fs2::FileExt::unlock(file);
    }
}

/// Opens (or creates) a lock file readable by its owner only.
fn open_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let file = o.open(path)?;
    // A lock file an older version made keeps its mode through `open`: tighten it.
    super::set_mode(path, 0o600)?;
    Ok(file)
}

impl RunLock {
    /// Takes the lock without waiting, and writes who holds it.
    pub fn try_acquire(path: &Path, holder: &Holder) -> std::io::Result<Acquire> {
        let mut file = open_private(path)?;
        if !os::try_lock(&file)? {
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

    /// Who holds the lock at `path`, if anyone, without taking it or writing to it (the
    /// file is opened for reading only: a watcher never opens anything of a run to write).
    pub fn holder_of(path: &Path) -> Option<Holder> {
        let mut file = OpenOptions::new().read(true).open(path).ok()?;
        if !os::is_held(&file).ok()? {
            return None;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Waits for the lock (used for the short store-wide lock around run creation).
    pub fn acquire_blocking(path: &Path) -> std::io::Result<RunLock> {
        let file = open_private(path)?;
        os::lock(&file)?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        os::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_seen_without_taking_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let me = Holder::this_process("alice", "cutover run", Utc::now());
        let Acquire::Acquired(lock) = RunLock::try_acquire(&path, &me).unwrap() else {
            panic!("a free lock is taken")
        };
        assert_eq!(RunLock::holder_of(&path), Some(me.clone()));
        assert!(matches!(
            RunLock::try_acquire(&path, &me).unwrap(),
            Acquire::Held(Some(_))
        ));
        drop(lock);
        assert_eq!(RunLock::holder_of(&path), None);
        // Looking did not take it: it can be taken at once.
        assert!(matches!(
            RunLock::try_acquire(&path, &me).unwrap(),
            Acquire::Acquired(_)
        ));
    }
}
