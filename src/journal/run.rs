//! The journal of one run: a sled database in the run's directory. Events live in the
//! `events` tree under big-endian sequence numbers, each framed with a CRC32 so damage
//! is detected on read. Every append is one atomic batch flushed to disk before it
//! returns, so an intent is durable before its side effect starts. Snapshots of the
//! state every `SNAPSHOT_EVERY` events let a resume skip most of the replay.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::JournalError;
use super::lock::{Acquire, Holder, RunLock};
use super::preserve;
use super::summary::RunSummary;
use crate::engine::event::decode_record;
use crate::engine::state::STATE_VERSION;
use crate::engine::{Recorded, RunEvent, RunState, SCHEMA_VERSION};

/// Events between snapshots.
pub const SNAPSHOT_EVERY: u64 = 1000;
/// Snapshots kept (older ones are removed).
const SNAPSHOTS_KEPT: usize = 2;

const EVENTS_TREE: &str = "events";
const SNAPSHOTS_TREE: &str = "snapshots";

pub struct Journal {
    run_id: String,
    dir: PathBuf,
    /// Open until the journal is dropped, when it is closed before the lock is released.
    sled: Option<Sled>,
    _lock: RunLock,
    /// Events appended since the newest snapshot (including those replayed on open).
    since_snapshot: u64,
    /// Set when a write failed: no more appends until the journal is opened again.
    broken: Option<String>,
}

struct Sled {
    db: sled::Db,
    events: sled::Tree,
    snapshots: sled::Tree,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(s) = self.sled.take() {
            let flushed = s.db.flush().is_ok();
            drop(s);
            // sled is closed and the lock still held: nothing writes to the files now. Only a
            // journal that wrote everything it was given counts as cleanly closed.
            if flushed && self.broken.is_none() {
                preserve::mark_clean(&self.dir);
            }
        }
    }
}

fn frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 4);
    out.extend_from_slice(&crc32fast::hash(json).to_be_bytes());
    out.extend_from_slice(json);
    out
}

fn unframe(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < 4 {
        return Err("record shorter than its checksum".to_string());
    }
    let (crc, json) = bytes.split_at(4);
    let expected = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if crc32fast::hash(json) != expected {
        return Err("checksum mismatch (the bytes on disk changed)".to_string());
    }
    Ok(json)
}

/// The step whose intent a batch records, if it records one.
fn intent_step(records: &[Recorded]) -> Option<&str> {
    records.iter().find_map(|r| match &r.event {
        RunEvent::StepStarted { step, .. } => Some(step.as_str()),
        _ => None,
    })
}

fn seq_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

impl Journal {
    fn sled(&self) -> Result<&Sled, JournalError> {
        self.sled.as_ref().ok_or_else(|| {
            JournalError::Invalid(format!(
                "the journal of run {} was closed after a failure; run the command again to reopen it",
                self.run_id
            ))
        })
    }

    /// Events appended or replayed since the newest snapshot.
    pub fn events_since_snapshot(&self) -> u64 {
        self.since_snapshot
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn summary_path(dir: &Path) -> PathBuf {
        dir.join("summary.json")
    }

    fn open_db(run_id: &str, dir: &Path) -> Result<sled::Db, JournalError> {
        let path = dir.join("journal");
        // sled can panic on some kinds of damage; turn that into a report.
        let open = || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                sled::Config::new()
                    .path(&path)
                    .cache_capacity(16 * 1024 * 1024)
                    .flush_every_ms(None)
                    .open()
            }))
        };
        // The run's own lock is held by now, so no other session has this journal open; a
        // file lock still held is sled's threads in this process finishing the close of the
        // handles before (a checkpoint, or the session before: `drop` does not wait for
        // them). They let go within milliseconds.
        let mut opened = open();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while matches!(&opened, Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock"))
            && std::time::Instant::now() < give_up
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
            opened = open();
        }
        match opened {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(sled::Error::Corruption { .. })) => Err(JournalError::Corrupt {
                run_id: run_id.to_string(),
                path,
                detail: "the storage engine found damaged data".to_string(),
                kept: None,
            }),
            Ok(Err(sled::Error::Io(e))) => Err(JournalError::Io { path, source: e }),
            Ok(Err(e)) => Err(JournalError::Corrupt {
                run_id: run_id.to_string(),
                path,
                detail: e.to_string(),
                kept: None,
            }),
            Err(_) => Err(JournalError::Corrupt {
                run_id: run_id.to_string(),
                path,
                detail: "the storage engine could not read it".to_string(),
                kept: None,
            }),
        }
    }

    fn lock(run_id: &str, dir: &Path, holder: &Holder) -> Result<RunLock, JournalError> {
        let path = dir.join("lock");
        match RunLock::try_acquire(&path, holder).map_err(|source| JournalError::Io {
            path: path.clone(),
            source,
        })? {
            Acquire::Acquired(lock) => Ok(lock),
            Acquire::Held(holder) => Err(JournalError::Held {
                run_id: run_id.to_string(),
                holder,
            }),
        }
    }

    fn trees(run_id: &str, dir: &Path, db: sled::Db) -> Result<Sled, JournalError> {
        let tree = |name: &str| {
            db.open_tree(name).map_err(|e| JournalError::Corrupt {
                run_id: run_id.to_string(),
                path: dir.join("journal"),
                detail: e.to_string(),
                kept: None,
            })
        };
        Ok(Sled {
            events: tree(EVENTS_TREE)?,
            snapshots: tree(SNAPSHOTS_TREE)?,
            db,
        })
    }

    fn assemble(run_id: &str, dir: &Path, db: sled::Db, lock: RunLock) -> Result<Self, JournalError> {
        Ok(Self {
            run_id: run_id.to_string(),
            dir: dir.to_path_buf(),
            sled: Some(Self::trees(run_id, dir, db)?),
            _lock: lock,
            since_snapshot: 0,
            broken: None,
        })
    }

    /// Creates the journal of a new run with its first event. `dir` must not exist yet.
    pub fn create(
        dir: &Path,
        holder: &Holder,
        first: RunEvent,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<(Self, RunState), JournalError> {
        let RunEvent::RunStarted { run_id, .. } = &first else {
            return Err(JournalError::Invalid("a journal starts with run_started".to_string()));
        };
        let run_id = run_id.clone();
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = Self::lock(&run_id, dir, holder)?;
        let db = Self::open_db(&run_id, dir)?;
        let mut journal = Self::assemble(&run_id, dir, db, lock)?;
        let existing = journal
            .sled()?
            .events
            .last()
            .map_err(|e| journal.corrupt(e.to_string()))?;
        if existing.is_some() {
            return Err(JournalError::Invalid(format!("run {run_id} already has a journal")));
        }
        let record = Recorded {
            v: SCHEMA_VERSION,
            seq: 1,
            at,
            by: by.to_string(),
            event: first,
        };
        journal.write(std::slice::from_ref(&record))?;
        let state = RunState::start(&record).ok_or_else(|| JournalError::Invalid("bad first event".to_string()))?;
        journal.write_summary(&state, at);
        Ok((journal, state))
    }

    /// Opens an existing run: takes the lock, checks the journal, and rebuilds the state
    /// from the newest snapshot plus the events after it.
    pub fn open(dir: &Path, run_id: &str, holder: &Holder) -> Result<(Self, RunState), JournalError> {
        if !dir.join("journal").exists() {
            return Err(JournalError::NotFound {
                run_id: run_id.to_string(),
            });
        }
        let lock = Self::lock(run_id, dir, holder)?;
        // Opening lets sled rewrite its files; keep them as found unless a clean close left them.
        let copy = if preserve::untouched_since_clean_close(dir) {
            None
        } else {
            Some(preserve::copy_aside(dir).map_err(|source| JournalError::Io {
                path: dir.join("journal"),
                source,
            })?)
        };
        preserve::clear_mark(dir);
        let opened = Self::open_db(run_id, dir)
            .and_then(|db| Self::assemble(run_id, dir, db, lock))
            .and_then(|mut journal| {
                let state = journal.rebuild()?;
                // Rebuilds a summary that went missing; refreshes a stale one.
                journal.write_summary(&state, Utc::now());
                Ok((journal, state))
            });
        match (opened, copy) {
            (Ok(ok), copy) => {
                if let Some(c) = copy {
                    preserve::discard(&c);
                }
                Ok(ok)
            }
            (Err(e), Some(c)) => Err(e.kept_at(preserve::keep_as_found(&c, Utc::now()))),
            (Err(e), None) => Err(e),
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> JournalError {
        JournalError::Corrupt {
            run_id: self.run_id.clone(),
            path: self.dir.join("journal"),
            detail: detail.into(),
            kept: None,
        }
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        match self.sled()?.events.last() {
            Ok(Some((k, _))) => seq_of(&k).ok_or_else(|| self.corrupt("an event key is not a sequence number")),
            Ok(None) => Ok(0),
            Err(e) => Err(self.corrupt(e.to_string())),
        }
    }

    /// The state from the newest snapshot and the events after it; also counts those
    /// events toward the next snapshot, so a run that keeps crashing still gets them.
    fn rebuild(&mut self) -> Result<RunState, JournalError> {
        let last = self.last_seq()?;
        if last == 0 {
            return Err(self.corrupt("it holds no events (not even the start of the run)"));
        }
        if let Some(summary) = RunSummary::read(&Self::summary_path(&self.dir))
            && summary.last_seq > last
        {
            return Err(JournalError::Truncated {
                run_id: self.run_id.clone(),
                path: self.dir.join("journal"),
                expected: summary.last_seq,
                found: last,
                kept: None,
            });
        }
        let snapshot = self.latest_snapshot(last);
        let snapshotted = snapshot.is_some();
        let (mut state, from) = match snapshot {
            Some(state) => {
                let from = state.last_seq + 1;
                (state, from)
            }
            None => {
                let first = self.read(1)?;
                let state =
                    RunState::start(&first).ok_or_else(|| self.corrupt("event #1 is not the start of a run"))?;
                (state, 2)
            }
        };
        for item in self.sled()?.events.range(from.to_be_bytes()..) {
            let rec = self.decode_item(item, state.last_seq + 1)?;
            state.apply(&rec);
        }
        if state.last_seq != last {
            return Err(self.corrupt(format!(
                "events end at #{} but the journal's last key is #{last}",
                state.last_seq
            )));
        }
        // Without a snapshot, everything since the first event counts.
        self.since_snapshot = if snapshotted { last + 1 - from } else { last };
        Ok(state)
    }

    fn decode_item(
        &self,
        item: sled::Result<(sled::IVec, sled::IVec)>,
        expected: u64,
    ) -> Result<Recorded, JournalError> {
        let (key, value) = item.map_err(|e| self.corrupt(e.to_string()))?;
        let seq = seq_of(&key).ok_or_else(|| self.corrupt("an event key is not a sequence number"))?;
        if seq != expected {
            return Err(self.corrupt(format!("event #{expected} is missing (the next one found is #{seq})")));
        }
        let json = unframe(&value).map_err(|e| self.corrupt(format!("event #{seq}: {e}")))?;
        let rec = decode_record(json).map_err(|e| self.corrupt(format!("event #{seq}: {e}")))?;
        if rec.seq != seq {
            return Err(self.corrupt(format!("event stored at #{seq} says it is #{}", rec.seq)));
        }
        Ok(rec)
    }

    fn read(&self, seq: u64) -> Result<Recorded, JournalError> {
        let item = self
            .sled()?
            .events
            .get(seq.to_be_bytes())
            .map_err(|e| self.corrupt(e.to_string()))?
            .ok_or_else(|| self.corrupt(format!("event #{seq} is missing")))?;
        self.decode_item(Ok((sled::IVec::from(&seq.to_be_bytes()), item)), seq)
    }

    fn latest_snapshot(&self, last: u64) -> Option<RunState> {
        // A damaged or outdated snapshot is skipped: the events are the truth.
        self.sled()
            .ok()?
            .snapshots
            .iter()
            .rev()
            .filter_map(Result::ok)
            .find_map(|(k, v)| {
                let seq = seq_of(&k)?;
                if seq > last {
                    return None;
                }
                let json = unframe(&v).ok()?;
                let snap: Snapshot = serde_json::from_slice(json).ok()?;
                (snap.version == STATE_VERSION && snap.state.last_seq == seq).then_some(snap.state)
            })
    }

    /// Every event from `from` on, checked: the journal as it is, for display and export.
    pub fn records(&self, from: u64) -> Result<Vec<Recorded>, JournalError> {
        let first = from.max(1);
        (first..)
            .zip(self.sled()?.events.range(first.to_be_bytes()..))
            .map(|(expected, item)| self.decode_item(item, expected))
            .collect()
    }

    /// The last `n` events, for a log pane.
    pub fn tail(&self, n: usize) -> Result<Vec<Recorded>, JournalError> {
        let last = self.last_seq()?;
        self.records(last.saturating_sub(n as u64) + 1)
    }

    /// Records `events` as one atomic, flushed batch and applies them to `state`. When
    /// this returns, the events are on disk. If writing fails, `state` is unchanged and the
    /// journal refuses further appends: what reached the disk is unknown until it is
    /// opened again.
    pub fn append(
        &mut self,
        state: &mut RunState,
        at: DateTime<Utc>,
        by: &str,
        events: Vec<RunEvent>,
    ) -> Result<Vec<Recorded>, JournalError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(why) = &self.broken {
            return Err(JournalError::Invalid(format!(
                "the journal of run {} cannot take more events after an earlier write failed ({why}); \
                 run the command again to reopen it",
                self.run_id
            )));
        }
        let records: Vec<Recorded> = (state.last_seq + 1..)
            .zip(events)
            .map(|(seq, event)| Recorded {
                v: SCHEMA_VERSION,
                seq,
                at,
                by: by.to_string(),
                event,
            })
            .collect();
        if let Err(e) = self.write(&records) {
            self.broken = Some(e.to_string());
            return Err(e);
        }
        for r in &records {
            state.apply(r);
        }
        self.since_snapshot += records.len() as u64;
        // Never between an intent and its side effect: a checkpoint waits for the next batch.
        let intent = records.iter().any(|r| matches!(r.event, RunEvent::StepStarted { .. }));
        if self.since_snapshot >= SNAPSHOT_EVERY && !intent {
            // The events are already durable: a failed checkpoint only costs resume time.
            if let Err(e) = self.checkpoint(state) {
                tracing::warn!("journal checkpoint failed: {e}");
            }
        }
        self.write_summary(state, at);
        Ok(records)
    }

    fn flush(&self) -> Result<(), JournalError> {
        self.sled()?.db.flush().map(|_| ()).map_err(|e| match e {
            sled::Error::Io(source) => JournalError::Io {
                path: self.dir.join("journal"),
                source,
            },
            other => self.corrupt(format!("flush failed: {other}")),
        })
    }

    fn write(&mut self, records: &[Recorded]) -> Result<(), JournalError> {
        // A checkpoint that could not reopen sled left it closed: open it now.
        if self.sled.is_none() {
            self.reopen()?;
        }
        let mut batch = sled::Batch::default();
        for r in records {
            let json = serde_json::to_vec(r).map_err(|e| JournalError::Invalid(e.to_string()))?;
            batch.insert(&r.seq.to_be_bytes(), frame(&json));
        }
        self.sled()?
            .events
            .apply_batch(batch)
            .map_err(|e| self.corrupt(format!("write failed: {e}")))?;
        let intent = intent_step(records);
        if let Some(step) = intent {
            crate::failpoint::hit("before-intent-flush", Some(step));
        }
        self.flush()?;
        if let Some(step) = intent {
            crate::failpoint::hit("after-intent-flush", Some(step));
        }
        Ok(())
    }

    fn write_snapshot(&self, state: &RunState) -> Result<(), JournalError> {
        let json = serde_json::to_vec(&SnapshotRef {
            version: STATE_VERSION,
            state,
        })
        .map_err(|e| JournalError::Invalid(e.to_string()))?;
        let snapshots = &self.sled()?.snapshots;
        snapshots
            .insert(state.last_seq.to_be_bytes(), frame(&json))
            .map_err(|e| self.corrupt(format!("snapshot write failed: {e}")))?;
        let keys: Vec<sled::IVec> = snapshots.iter().keys().filter_map(Result::ok).collect();
        for old in keys.iter().take(keys.len().saturating_sub(SNAPSHOTS_KEPT)) {
            let _ = snapshots.remove(old);
        }
        crate::failpoint::hit("during-snapshot", None);
        Ok(())
    }

    /// Snapshots the state and reopens sled. sled indexes its log only when a database is
    /// opened, so the first open after a crash scans everything written since the last
    /// open: reopening here bounds that scan to the events since this checkpoint.
    fn checkpoint(&mut self, state: &RunState) -> Result<(), JournalError> {
        self.write_snapshot(state)?;
        self.flush()?;
        self.since_snapshot = 0;
        self.sled = None;
        self.reopen()
    }

    /// Opens sled again after a checkpoint (`open_db` waits for the file lock that sled's
    /// threads still hold for a moment after the handles are dropped).
    fn reopen(&mut self) -> Result<(), JournalError> {
        let sled = Self::open_db(&self.run_id, &self.dir).and_then(|db| Self::trees(&self.run_id, &self.dir, db))?;
        self.sled = Some(sled);
        Ok(())
    }

    /// Snapshots the state and writes the summary durably: used when a session closes, so
    /// the next resume is quick and `runs`/`status` see where the run stopped.
    pub fn snapshot(&mut self, state: &RunState) -> Result<(), JournalError> {
        self.write_snapshot(state)?;
        self.since_snapshot = 0;
        self.flush()?;
        let path = Self::summary_path(&self.dir);
        RunSummary::of(state, state.updated_at)
            .write_durably(&path)
            .map_err(|source| JournalError::Io { path, source })
    }

    fn write_summary(&self, state: &RunState, now: DateTime<Utc>) {
        // The summary is a convenience for other processes; the journal is the record.
        if let Err(e) = RunSummary::of(state, now).write(&Self::summary_path(&self.dir)) {
            tracing::warn!("cannot write the summary of run {}: {e}", self.run_id);
        }
    }
}

#[derive(serde::Deserialize)]
struct Snapshot {
    version: u32,
    state: RunState,
}

#[derive(serde::Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    state: &'a RunState,
}
