//! Following a run that another process drives, from another terminal (`cutover watch`).
//!
//! sled locks its database for the one process that opens it, so a follower never opens
//! it: it reads the journal's event log (`eventlog`), which every batch reaches once it
//! is durable, from its first byte on and then only the bytes that were added. It never
//! takes or tests-by-taking the run's lock and never writes anything in the run's folder.
//!
//! A frame the driver is writing at that moment reads as cut short (`End::Torn`): it is
//! not there yet, and the next poll reads again from the end of the last whole frame. A
//! poll that finds the log's length and modification time unchanged reads nothing (one
//! `stat`): following an idle run costs next to nothing.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::eventlog::{self, End, FILE_MAGIC};
use super::lock::{Holder, RunLock};
use super::run::decode;
use crate::engine::Recorded;
use crate::journal::JournalError;

/// Why following stopped, or a poll failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The log could not be read this time (it may be readable at the next poll).
    #[error("cannot read the event log {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The log holds bytes that are no event, or events out of order: what came before is
    /// kept, nothing after it is followed (every later poll says the same).
    #[error(
        "the event log {} of run {run_id} is damaged at byte {at}: {why}. What came before it is shown; nothing after it is followed",
        path.display()
    )]
    Damaged {
        run_id: String,
        path: PathBuf,
        at: u64,
        why: String,
    },
}

/// What the last read saw of the file: unchanged, there is nothing new to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

impl Seen {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(meta),
        }
    }
}

/// Reads a run's events as its driver records them, without disturbing it.
#[derive(Debug)]
pub struct Follower {
    run_id: String,
    run_dir: PathBuf,
    journal_dir: PathBuf,
    /// Where the next whole frame starts (0: nothing read yet, not even the file's first line).
    offset: u64,
    /// The sequence number of the next event.
    next_seq: u64,
    seen: Option<Seen>,
    /// Damage found: every later poll reports it.
    damage: Option<FollowError>,
}

impl Follower {
    /// A follower of the run in `run_dir` (`runs/RUN_ID`). Nothing is read until `poll`; a
    /// log that is not there yet is not an error.
    pub fn open(run_dir: &Path, run_id: &str) -> Self {
        Self {
            run_id: run_id.to_string(),
            run_dir: run_dir.to_path_buf(),
            journal_dir: run_dir.join("journal"),
            offset: 0,
            next_seq: 1,
            seen: None,
            damage: None,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// How many events have been read.
    pub fn events_read(&self) -> u64 {
        self.next_seq - 1
    }

    /// Where the next read starts in the log (the end of the last whole frame).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Who holds the run now, seen without taking its lock (`None`: nobody).
    pub fn holder(&self) -> Option<Holder> {
        RunLock::holder_of(&self.run_dir.join("lock"))
    }

    fn log_path(&self) -> PathBuf {
        eventlog::path_in(&self.journal_dir)
    }

    fn damaged(&mut self, at: u64, why: String) -> FollowError {
        let e = FollowError::Damaged {
            run_id: self.run_id.clone(),
            path: self.log_path(),
            at,
            why,
        };
        self.damage = Some(e.clone());
        e
    }

    /// The events recorded since the last poll, in order, each checked as the journal
    /// checks it. Empty when nothing new is whole on disk (or the log is not there yet).
    /// After damage, the events before it are returned once, then every poll is an error.
    pub fn poll(&mut self) -> Result<Vec<Recorded>, FollowError> {
        if let Some(e) = &self.damage {
            return Err(e.clone());
        }
        let path = self.log_path();
        let unreadable = |e: std::io::Error| FollowError::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        };
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(unreadable(e)),
        };
        let seen = Seen::of(&meta);
        if self.seen == Some(seen) {
            return Ok(Vec::new());
        }
        // Its first line is being written (a log is created under the run's hidden name,
        // so this is only ever a moment).
        if self.offset == 0 && seen.len < FILE_MAGIC.len() as u64 {
            return Ok(Vec::new());
        }
        if seen.len < self.offset {
            let why = format!(
                "it is {} bytes long, shorter than the {} already read",
                seen.len, self.offset
            );
            return Err(self.damaged(seen.len, why));
        }
        let reading = eventlog::read_from(&self.journal_dir, self.offset).map_err(unreadable)?;
        let mut records = Vec::new();
        let mut bad = None;
        'batches: for batch in &reading.batches {
            for (seq, value) in (batch.first_seq..).zip(&batch.values) {
                if seq != self.next_seq {
                    bad = Some((
                        batch.offset,
                        format!("it has event #{seq} where #{} belongs", self.next_seq),
                    ));
                    break 'batches;
                }
                match decode(&self.run_id, &self.journal_dir, seq, value) {
                    Ok(rec) => records.push(rec),
                    Err(e) => {
                        let why = match e {
                            JournalError::Corrupt { detail, .. } => detail,
                            other => other.to_string(),
                        };
                        bad = Some((batch.offset, why));
                        break 'batches;
                    }
                }
                self.next_seq += 1;
            }
        }
        if bad.is_none() {
            match reading.end {
                End::Clean => self.offset = reading.read_to,
                // Being written: read again from its start next time.
                End::Torn { at } => self.offset = at,
                End::Damaged { at, why } => bad = Some((at, why)),
            }
        }
        if let Some((at, why)) = bad {
            let e = self.damaged(at, why);
            if records.is_empty() {
                return Err(e);
            }
            return Ok(records);
        }
        self.seen = Some(seen);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RunEvent, SCHEMA_VERSION};
    use chrono::Utc;

    fn value(seq: u64) -> Vec<u8> {
        let rec = Recorded {
            v: SCHEMA_VERSION,
            seq,
            at: Utc::now(),
            by: "alice".into(),
            event: RunEvent::NoteAdded {
                step: None,
                text: format!("note {seq}"),
            },
        };
        let json = serde_json::to_vec(&rec).unwrap();
        let mut out = crc32fast::hash(&json).to_be_bytes().to_vec();
        out.extend_from_slice(&json);
        out
    }

    fn values(first: u64, n: u64) -> Vec<Vec<u8>> {
        (first..first + n).map(value).collect()
    }

    /// A run folder with an empty event log, and the log open for appending.
    fn run() -> (tempfile::TempDir, eventlog::EventLog) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("journal")).unwrap();
        let log = eventlog::EventLog::create(&dir.path().join("journal")).unwrap();
        (dir, log)
    }

    fn seqs(records: &[Recorded]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    fn append_raw(dir: &Path, bytes: &[u8]) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(eventlog::path_in(&dir.join("journal")))
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn a_log_not_there_yet_or_still_empty_is_nothing_yet() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Follower::open(dir.path(), "r");
        assert_eq!(f.poll().unwrap(), Vec::new());
        std::fs::create_dir(dir.path().join("journal")).unwrap();
        // Its first line half written.
        std::fs::write(eventlog::path_in(&dir.path().join("journal")), &FILE_MAGIC[..7]).unwrap();
        assert_eq!(f.poll().unwrap(), Vec::new());
        std::fs::write(eventlog::path_in(&dir.path().join("journal")), FILE_MAGIC).unwrap();
        assert_eq!(f.poll().unwrap(), Vec::new());
        append_raw(dir.path(), &eventlog::frame(1, &values(1, 2)));
        assert_eq!(seqs(&f.poll().unwrap()), [1, 2]);
    }

    #[test]
    fn each_poll_returns_only_what_was_added_since_the_last() {
        let (dir, mut log) = run();
        let mut f = Follower::open(dir.path(), "r");
        log.append(1, &values(1, 1)).unwrap();
        log.append(2, &values(2, 3)).unwrap();
        assert_eq!(seqs(&f.poll().unwrap()), [1, 2, 3, 4]);
        assert_eq!(f.offset(), log.len());
        assert_eq!(f.poll().unwrap(), Vec::new(), "nothing new");
        log.append(5, &values(5, 2)).unwrap();
        let new = f.poll().unwrap();
        assert_eq!(seqs(&new), [5, 6]);
        assert!(matches!(&new[1].event, RunEvent::NoteAdded { text, .. } if text == "note 6"));
        assert_eq!(f.events_read(), 6);
    }

    #[test]
    fn a_frame_being_written_is_read_once_it_is_whole() {
        let (dir, mut log) = run();
        log.append(1, &values(1, 1)).unwrap();
        let mut f = Follower::open(dir.path(), "r");
        assert_eq!(seqs(&f.poll().unwrap()), [1]);
        let whole = f.offset();
        let next = eventlog::frame(2, &values(2, 2));
        // The writer got as far as the header, then part of the events.
        append_raw(dir.path(), &next[..10]);
        assert_eq!(f.poll().unwrap(), Vec::new());
        assert_eq!(f.offset(), whole, "it stays at the end of the last whole frame");
        append_raw(dir.path(), &next[10..40]);
        assert_eq!(f.poll().unwrap(), Vec::new());
        append_raw(dir.path(), &next[40..]);
        assert_eq!(seqs(&f.poll().unwrap()), [2, 3]);
        // And the next frame is read after it.
        append_raw(dir.path(), &eventlog::frame(4, &values(4, 1)));
        assert_eq!(seqs(&f.poll().unwrap()), [4]);
    }

    #[test]
    fn damage_is_reported_after_the_events_before_it_and_then_at_every_poll() {
        let (dir, mut log) = run();
        log.append(1, &values(1, 2)).unwrap();
        let mut f = Follower::open(dir.path(), "r");
        assert_eq!(seqs(&f.poll().unwrap()), [1, 2]);
        let at = f.offset();
        log.append(3, &values(3, 1)).unwrap();
        // A byte flipped inside event #3's frame, with a whole frame after it: damage, not a tear.
        let path = log.path().to_path_buf();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[at as usize + 40] ^= 0x01;
        bytes.extend_from_slice(&eventlog::frame(4, &values(4, 1)));
        std::fs::write(&path, &bytes).unwrap();
        let e = f.poll().unwrap_err();
        assert!(
            matches!(&e, FollowError::Damaged { at: a, why, .. } if *a == at && why.contains("checksum")),
            "{e}"
        );
        assert!(e.to_string().contains("is damaged at byte"), "{e}");
        assert_eq!(f.poll().unwrap_err(), e, "it stays damaged");

        // Events before the damage in the same read come first, then the damage.
        let (dir, mut log) = run();
        let mut f = Follower::open(dir.path(), "r");
        log.append(1, &values(1, 1)).unwrap();
        append_raw(dir.path(), &eventlog::frame(3, &values(3, 1)));
        assert_eq!(seqs(&f.poll().unwrap()), [1]);
        let e = f.poll().unwrap_err();
        assert!(e.to_string().contains("event #3 where #2 belongs"), "{e}");
    }

    #[test]
    fn an_event_whose_own_checksum_fails_is_damage_as_the_journal_sees_it() {
        let (dir, mut log) = run();
        let mut bad = value(1);
        let last = bad.len() - 2;
        bad[last] ^= 0x01;
        log.append(1, &[bad]).unwrap();
        let e = Follower::open(dir.path(), "r").poll().unwrap_err();
        assert!(e.to_string().contains("event #1: checksum mismatch"), "{e}");
    }

    #[test]
    fn a_log_that_shrank_or_lost_its_first_line_is_damage() {
        let (dir, mut log) = run();
        log.append(1, &values(1, 3)).unwrap();
        let mut f = Follower::open(dir.path(), "r");
        f.poll().unwrap();
        std::fs::write(log.path(), FILE_MAGIC).unwrap();
        assert!(f.poll().unwrap_err().to_string().contains("shorter than"));

        let (dir, log) = run();
        std::fs::write(log.path(), b"not an event log at all, and long enough").unwrap();
        let e = Follower::open(dir.path(), "r").poll().unwrap_err();
        assert!(e.to_string().contains("does not start as an event log"), "{e}");
    }

    #[test]
    fn following_writes_nothing_and_takes_no_lock() {
        let (dir, mut log) = run();
        log.append(1, &values(1, 1)).unwrap();
        let me = Holder::this_process("alice", "cutover run", Utc::now());
        let lock = dir.path().join("lock");
        let super::super::lock::Acquire::Acquired(held) = RunLock::try_acquire(&lock, &me).unwrap() else {
            panic!("a free lock is taken")
        };
        let before = std::fs::read(log.path()).unwrap();
        let mut f = Follower::open(dir.path(), "r");
        f.poll().unwrap();
        assert_eq!(f.holder(), Some(me.clone()));
        assert_eq!(std::fs::read(log.path()).unwrap(), before);
        drop(held);
        assert_eq!(f.holder(), None);
    }
}
