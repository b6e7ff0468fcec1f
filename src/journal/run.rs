//! The journal of one run, in the run's `journal/` folder: a sled database that indexes
//! the events (the `events` tree, big-endian sequence keys, each value a CRC32 and the
//! event's JSON) and the append-only event log beside it (`eventlog`), the journal's
//! high-water mark and second copy.
//!
//! Write-ahead, across power loss: an append applies its batch to sled as one atomic
//! batch, flushes sled and fsyncs sled's data file (sled's own flush is only
//! `sync_file_range`, which a power cut can undo) and any new blob file, then writes the
//! batch to the log and fdatasyncs it. Only then does it return, so an intent is on disk,
//! twice, before its side effect starts.
//!
//! On open, sled and the log must agree: every event since the newest snapshot byte for
//! byte, and the same last event. sled may hold one batch more than the log (the crash
//! came between the two writes: it is logged again), never less: sled ending before the
//! log is a truncation, whatever any side file says. Anything else is damage: reported,
//! the journal kept as found, never continued. Snapshots of the state every
//! `SNAPSHOT_EVERY` events let a resume skip most of the replay; each records where in the
//! log it stands, so the check reads only the log's tail.

use std::collections::HashSet;
use std::ffi::OsString;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::JournalError;
use super::eventlog::{self, EventLog};
use super::lock::{Acquire, Holder, RunLock};
use super::preserve;
use super::summary::RunSummary;
use crate::engine::event::decode_record;
use crate::engine::state::STATE_VERSION;
use crate::engine::{Recorded, RunEvent, RunState, SCHEMA_VERSION};

/// How `broken` begins when the journal was found damaged (not merely a failed write).
const DAMAGED: &str = "damaged: ";

/// Events between snapshots.
pub const SNAPSHOT_EVERY: u64 = 1000;
/// Snapshots kept (older ones are removed).
const SNAPSHOTS_KEPT: usize = 2;

const EVENTS_TREE: &str = "events";
const SNAPSHOTS_TREE: &str = "snapshots";
const META_TREE: &str = "meta";
/// Set in `meta` when the journal was created with its event log: from then on a missing
/// log is damage, not a journal from before logs existed.
const HAS_EVENT_LOG: &[u8] = b"event_log";

pub struct Journal {
    run_id: String,
    dir: PathBuf,
    /// Open until the journal is dropped, when it is closed before the lock is released.
    sled: Option<Sled>,
    log: EventLog,
    _lock: RunLock,
    /// Events appended since the newest snapshot (including those replayed on open).
    since_snapshot: u64,
    /// Set when a write failed: no more appends until the journal is opened again.
    broken: Option<String>,
    /// The check of the events before the newest snapshot, which runs in the background
    /// after an open: its verdict is awaited before the next intent is written.
    older_events: Option<std::thread::JoinHandle<Result<(), String>>>,
}

struct Sled {
    db: sled::Db,
    events: sled::Tree,
    snapshots: sled::Tree,
    meta: sled::Tree,
    /// sled's data file, for the fsync its flush does not do.
    data: std::fs::File,
    /// Blob files (sled's home for large values) already made durable.
    blobs_synced: HashSet<OsString>,
    /// The `journal/` folder.
    path: PathBuf,
}

impl Drop for Journal {
    fn drop(&mut self) {
        // The check reads the log: let it finish before the run's lock is released.
        if let Some(check) = self.older_events.take() {
            let _ = check.join();
        }
        if let Some(s) = self.sled.take() {
            let _ = s.db.flush();
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

/// How much an open tolerates of the log being ahead of sled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The journal itself: one unacknowledged batch at most.
    Own,
    /// A copy taken while a session writes (sled copied first, then the log): the log may
    /// be any number of batches ahead.
    CopyWhileWritten,
}

impl Sled {
    fn open(run_id: &str, dir: &Path) -> Result<Self, JournalError> {
        let path = dir.join("journal");
        let db = open_db(run_id, &path)?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|e| JournalError::Corrupt {
                run_id: run_id.to_string(),
                path: path.clone(),
                detail: e.to_string(),
                kept: None,
            })
        };
        let io = |source| JournalError::Io {
            path: path.join("db"),
            source,
        };
        let data = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path.join("db"))
            .map_err(io)?;
        super::make_private(&path).map_err(io)?;
        Ok(Sled {
            events: tree(EVENTS_TREE)?,
            snapshots: tree(SNAPSHOTS_TREE)?,
            meta: tree(META_TREE)?,
            db,
            data,
            blobs_synced: HashSet::new(),
            path,
        })
    }

    /// sled's flush, then what makes it survive a power cut: fdatasync of its data file,
    /// and fsync of any blob file (sled writes those without a sync) and their directory.
    fn flush_durably(&mut self) -> std::io::Result<()> {
        self.db.flush().map_err(|e| match e {
            sled::Error::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })?;
        self.data.sync_data()?;
        let blobs = self.path.join("blobs");
        let mut new = false;
        for entry in std::fs::read_dir(&blobs)? {
            let name = entry?.file_name();
            if !self.blobs_synced.contains(&name) {
                let synced = super::set_mode(&blobs.join(&name), 0o600)
                    .and_then(|()| std::fs::File::open(blobs.join(&name))?.sync_all());
                match synced {
                    Ok(()) => {}
                    // sled removes blobs it no longer needs, whenever it likes.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                self.blobs_synced.insert(name);
                new = true;
            }
        }
        if new {
            super::sync_dir(&blobs)?;
        }
        Ok(())
    }
}

fn open_db(run_id: &str, path: &Path) -> Result<sled::Db, JournalError> {
    // sled can panic on some kinds of damage; turn that into a report.
    let open = || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new()
                .path(path)
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
    let corrupt = |detail: String| JournalError::Corrupt {
        run_id: run_id.to_string(),
        path: path.to_path_buf(),
        detail,
        kept: None,
    };
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Corruption { .. })) => Err(corrupt("the storage engine found damaged data".to_string())),
        Ok(Err(sled::Error::Io(e))) => Err(JournalError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
        Ok(Err(e)) => Err(corrupt(e.to_string())),
        Err(_) => Err(corrupt("the storage engine could not read it".to_string())),
    }
}

/// What the log says the journal holds, checked against sled.
struct Agreed {
    /// Where the next batch goes in the log (any torn or unacknowledged tail cut off).
    log_len: u64,
    /// The events after the snapshot (or from the first), decoded.
    records: Vec<Recorded>,
    /// The last events as sled stores them, when the log lacks them (a crash between
    /// sled's write and the log's): they are logged again.
    relog: Vec<Vec<u8>>,
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

    fn journal_dir(&self) -> PathBuf {
        self.dir.join("journal")
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
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        super::create_private_dir(dir).map_err(io(dir))?;
        let lock = Self::lock(&run_id, dir, holder)?;
        let sled = Sled::open(&run_id, dir)?;
        let journal_dir = dir.join("journal");
        if sled.events.last().ok().flatten().is_some() || eventlog::path_in(&journal_dir).exists() {
            return Err(JournalError::Invalid(format!("run {run_id} already has a journal")));
        }
        let log = EventLog::create(&journal_dir).map_err(io(&journal_dir))?;
        sled.meta
            .insert(HAS_EVENT_LOG, &b"1"[..])
            .map_err(|e| JournalError::Invalid(format!("cannot write the journal of run {run_id}: {e}")))?;
        let mut journal = Self {
            run_id: run_id.clone(),
            dir: dir.to_path_buf(),
            sled: Some(sled),
            log,
            _lock: lock,
            since_snapshot: 0,
            broken: None,
            older_events: None,
        };
        let record = Recorded {
            v: SCHEMA_VERSION,
            seq: 1,
            at,
            by: by.to_string(),
            event: first,
        };
        journal.write(std::slice::from_ref(&record))?;
        // The new names (sled's files, the log, the run's folder) survive a power cut too.
        for d in [Some(journal_dir.as_path()), Some(dir), dir.parent()]
            .into_iter()
            .flatten()
        {
            super::sync_dir(d).map_err(io(d))?;
        }
        let state = RunState::start(&record).ok_or_else(|| JournalError::Invalid("bad first event".to_string()))?;
        journal.write_summary(&state, at);
        Ok((journal, state))
    }

    /// Gives a run folder whose `journal/` holds only an event log (pulled from a replica)
    /// its sled index: every event of the log, then the mark that the journal has a log.
    /// The caller checked the log; `open` checks the two against each other again.
    pub(super) fn index_log(dir: &Path, run_id: &str) -> Result<(), JournalError> {
        let journal_dir = dir.join("journal");
        let io = |source| JournalError::Io {
            path: eventlog::path_in(&journal_dir),
            source,
        };
        let reading = eventlog::read_from(&journal_dir, 0).map_err(io)?;
        let mut sled = Sled::open(run_id, dir)?;
        let failed = |e: sled::Error| JournalError::Invalid(format!("cannot write the journal of run {run_id}: {e}"));
        for batch in &reading.batches {
            let mut b = sled::Batch::default();
            for (i, v) in batch.values.iter().enumerate() {
                b.insert(&(batch.first_seq + i as u64).to_be_bytes(), v.as_slice());
            }
            sled.events.apply_batch(b).map_err(failed)?;
        }
        sled.meta.insert(HAS_EVENT_LOG, &b"1"[..]).map_err(failed)?;
        sled.flush_durably().map_err(io)?;
        Ok(())
    }

    /// Opens an existing run: takes the lock, checks the journal, and rebuilds the state
    /// from the newest snapshot plus the events after it. A damaged journal is kept as
    /// found beside it and not continued from.
    pub fn open(dir: &Path, run_id: &str, holder: &Holder) -> Result<(Self, RunState), JournalError> {
        Self::open_reading(dir, run_id, holder, Reading::Own)
    }

    /// Opens a copy of a journal taken while a session may have been writing it (for
    /// reading only): its event log may be ahead of its store by any number of batches.
    pub(super) fn open_copy(dir: &Path, run_id: &str, holder: &Holder) -> Result<(Self, RunState), JournalError> {
        Self::open_reading(dir, run_id, holder, Reading::CopyWhileWritten)
    }

    fn open_reading(
        dir: &Path,
        run_id: &str,
        holder: &Holder,
        reading: Reading,
    ) -> Result<(Self, RunState), JournalError> {
        if !dir.join("journal").exists() {
            return Err(JournalError::NotFound {
                run_id: run_id.to_string(),
            });
        }
        let lock = Self::lock(run_id, dir, holder)?;
        let opened = Sled::open(run_id, dir).and_then(|sled| Self::check_and_rebuild(run_id, dir, sled, lock, reading));
        match opened {
            Ok((journal, state)) => {
                // Rebuilds a summary that went missing; refreshes a stale one.
                journal.write_summary(&state, Utc::now());
                Ok((journal, state))
            }
            Err(e @ (JournalError::Corrupt { .. } | JournalError::Truncated { .. })) if reading == Reading::Own => {
                Err(e.kept_at(preserve::keep_as_found(dir, Utc::now())))
            }
            Err(e) => Err(e),
        }
    }

    fn check_and_rebuild(
        run_id: &str,
        dir: &Path,
        sled: Sled,
        lock: RunLock,
        reading: Reading,
    ) -> Result<(Self, RunState), JournalError> {
        let journal_dir = dir.join("journal");
        let corrupt = |detail: String| JournalError::Corrupt {
            run_id: run_id.to_string(),
            path: journal_dir.clone(),
            detail,
            kept: None,
        };
        let last = match sled.events.last() {
            Ok(Some((k, _))) => seq_of(&k).ok_or_else(|| corrupt("an event key is not a sequence number".into()))?,
            Ok(None) => 0,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        if last == 0 {
            return Err(corrupt("it holds no events (not even the start of the run)".into()));
        }
        let has_log = eventlog::path_in(&journal_dir).exists();
        let promised = sled.meta.get(HAS_EVENT_LOG).ok().flatten().is_some();
        if !has_log && promised {
            return Err(corrupt(format!(
                "its event log {} is missing",
                eventlog::path_in(&journal_dir).display()
            )));
        }
        let snapshot = latest_snapshot(&sled, last);
        let io = |source| JournalError::Io {
            path: eventlog::path_in(&journal_dir),
            source,
        };
        // A journal given its log by an open that was cut short is still being given it.
        let strict = reading == Reading::Own && promised;
        let (mut state, agreed, snapshotted) = if has_log {
            let (state, offset) = match snapshot {
                Some(s) => (Some(s.state), s.log_offset),
                None => (None, None),
            };
            let from = state.as_ref().map_or(1, |s| s.last_seq + 1);
            let agreed = agree(run_id, &journal_dir, &sled, last, from, offset, reading, strict)?;
            let snapshotted = state.is_some();
            (state, agreed, snapshotted)
        } else {
            // A journal from before event logs: read it all from sled, and give it its log,
            // written whole (exactly sled's bytes) before the journal says it has one.
            let mut raw: Vec<(u64, Vec<u8>)> = Vec::new();
            for (expected, item) in (1..).zip(sled.events.iter()) {
                let (key, value) = item.map_err(|e| corrupt(e.to_string()))?;
                if seq_of(&key) != Some(expected) {
                    return Err(corrupt(format!("event #{expected} is missing")));
                }
                raw.push((expected, value.to_vec()));
            }
            let records = raw
                .iter()
                .map(|(seq, value)| decode(run_id, &journal_dir, *seq, value))
                .collect::<Result<Vec<_>, _>>()?;
            let batches: Vec<(u64, Vec<Vec<u8>>)> = raw
                .chunks(1000)
                .map(|chunk| (chunk[0].0, chunk.iter().map(|(_, v)| v.clone()).collect()))
                .collect();
            let log = eventlog::write_whole(&journal_dir, &batches).map_err(io)?;
            sled.meta
                .insert(HAS_EVENT_LOG, &b"1"[..])
                .and_then(|_| sled.db.flush())
                .map_err(|e| corrupt(format!("cannot note its new event log: {e}")))?;
            let agreed = Agreed {
                log_len: log.len(),
                records,
                relog: Vec::new(),
            };
            (None, agreed, false)
        };
        let replayed = agreed.records.len() as u64;
        let mut records = agreed.records.into_iter();
        if state.is_none() {
            let first = records.next().ok_or_else(|| corrupt("event #1 is missing".into()))?;
            state = Some(RunState::start(&first).ok_or_else(|| corrupt("event #1 is not the start of a run".into()))?);
        }
        let mut state = state.expect("set above");
        for rec in records {
            state.apply(&rec);
        }
        if state.last_seq != last {
            return Err(corrupt(format!(
                "events end at #{} but the journal's last key is #{last}",
                state.last_seq
            )));
        }
        let mut log = EventLog::open_at(&journal_dir, agreed.log_len).map_err(io)?;
        if !agreed.relog.is_empty() {
            let first = state.last_seq + 1 - agreed.relog.len() as u64;
            log.append(first, &agreed.relog).map_err(io)?;
        }
        // Events before the snapshot were not read to rebuild the state: they are checked
        // in the background (the cockpit need not wait), and before the next intent.
        let checked_from = state.last_seq + 1 - replayed;
        let older_events = (reading == Reading::Own && has_log && checked_from > 1).then(|| {
            let dir = journal_dir.clone();
            std::thread::spawn(move || check_older_events(&dir, checked_from - 1))
        });
        let journal = Self {
            run_id: run_id.to_string(),
            dir: dir.to_path_buf(),
            sled: Some(sled),
            log,
            _lock: lock,
            // Without a snapshot, everything since the first event counts.
            since_snapshot: if snapshotted { replayed } else { state.last_seq },
            broken: None,
            older_events,
        };
        Ok((journal, state))
    }

    /// Every event from `from` on, checked: the journal as it is, for display and export.
    /// An event whose copy in sled is damaged is read from the event log instead (every
    /// event since the newest snapshot was compared with it when the journal opened).
    pub fn records(&self, from: u64) -> Result<Vec<Recorded>, JournalError> {
        let sled = self.sled()?;
        match read_range(&self.run_id, &self.journal_dir(), &sled.events, from) {
            Err(damaged @ JournalError::Corrupt { .. }) => {
                let last = sled
                    .events
                    .last()
                    .ok()
                    .flatten()
                    .and_then(|(k, _)| seq_of(&k))
                    .unwrap_or(0);
                records_from_log(&self.run_id, &self.journal_dir(), from.max(1), last).map_err(|e| {
                    tracing::warn!("the event log cannot stand in for sled either: {e}");
                    damaged
                })
            }
            other => other,
        }
    }

    /// Waits for the background check of the events before the newest snapshot, if it is
    /// still running, and turns damage it found into the journal's refusal to go on.
    pub fn older_events_checked(&mut self) -> Result<(), JournalError> {
        let Some(check) = self.older_events.take() else {
            return match self.broken.as_deref().and_then(|why| why.strip_prefix(DAMAGED)) {
                Some(detail) => Err(self.corrupt(detail)),
                None => Ok(()),
            };
        };
        let found = check
            .join()
            .unwrap_or_else(|_| Err("the check of its older events failed".to_string()));
        match found {
            Ok(()) => Ok(()),
            Err(detail) => {
                self.broken = Some(format!("{DAMAGED}{detail}"));
                let kept = preserve::keep_as_found(&self.dir, Utc::now());
                Err(self.corrupt(detail).kept_at(kept))
            }
        }
    }

    /// The last `n` events, for a log pane.
    pub fn tail(&self, n: usize) -> Result<Vec<Recorded>, JournalError> {
        let last = match self.sled()?.events.last() {
            Ok(Some((k, _))) => seq_of(&k).unwrap_or(0),
            Ok(None) => 0,
            Err(e) => return Err(self.corrupt(e.to_string())),
        };
        self.records(last.saturating_sub(n as u64) + 1)
    }

    fn corrupt(&self, detail: impl Into<String>) -> JournalError {
        JournalError::Corrupt {
            run_id: self.run_id.clone(),
            path: self.journal_dir(),
            detail: detail.into(),
            kept: None,
        }
    }

    /// Records `events` as one atomic, durable batch and applies them to `state`. When
    /// this returns, the events are on disk (and survive a power cut). If writing fails,
    /// `state` is unchanged and the journal refuses further appends: what reached the disk
    /// is unknown until it is opened again.
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
        // No side effect starts from a journal whose older events are not known to be sound.
        let checkpoint_due = self.since_snapshot >= SNAPSHOT_EVERY;
        if checkpoint_due || events.iter().any(|e| matches!(e, RunEvent::StepStarted { .. })) {
            self.older_events_checked()?;
        }
        // A checkpoint goes before a batch, never between an intent and its side effect.
        if checkpoint_due {
            // The events are already durable: a failed checkpoint only costs resume time.
            if let Err(e) = self.checkpoint(state) {
                if self.broken.is_some() {
                    return Err(e);
                }
                tracing::warn!("journal checkpoint failed: {e}");
            }
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
        self.write_summary(state, at);
        Ok(records)
    }

    fn write(&mut self, records: &[Recorded]) -> Result<(), JournalError> {
        // A checkpoint that could not reopen sled left it closed: open it now.
        if self.sled.is_none() {
            self.sled = Some(Sled::open(&self.run_id, &self.dir)?);
        }
        let values: Vec<Vec<u8>> = records.iter().map(encode).collect::<Result<_, _>>()?;
        let intent = intent_step(records);
        if let Some(step) = intent {
            crate::failpoint::hit("before-intent-flush", Some(step));
        }
        let first = records[0].seq;
        let mut batch = sled::Batch::default();
        for (r, v) in records.iter().zip(&values) {
            batch.insert(&r.seq.to_be_bytes(), v.as_slice());
        }
        self.sled()?
            .events
            .apply_batch(batch)
            .map_err(|e| self.corrupt(format!("write failed: {e}")))?;
        self.flush()?;
        let log_path = self.log.path().to_path_buf();
        self.log
            .append(first, &values)
            .map_err(|source| JournalError::Io { path: log_path, source })?;
        if let Some(step) = intent {
            crate::failpoint::hit("after-intent-flush", Some(step));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        let path = self.journal_dir();
        let sled = self
            .sled
            .as_mut()
            .ok_or_else(|| JournalError::Invalid("the journal is closed".into()))?;
        sled.flush_durably().map_err(|source| JournalError::Io { path, source })
    }

    fn write_snapshot(&self, state: &RunState) -> Result<(), JournalError> {
        let json = serde_json::to_vec(&SnapshotRef {
            version: STATE_VERSION,
            log_offset: self.log.len(),
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
        let sled = Sled::open(&self.run_id, &self.dir)?;
        // sled ran its recovery again: it must still hold every event.
        let last = sled.events.last().ok().flatten().and_then(|(k, _)| seq_of(&k));
        if last != Some(state.last_seq) {
            let detail = format!(
                "after a checkpoint its store ends at #{} instead of #{}",
                last.unwrap_or(0),
                state.last_seq
            );
            self.broken = Some(format!("{DAMAGED}{detail}"));
            return Err(self.corrupt(detail));
        }
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

/// A record as stored: its CRC32, then its JSON.
fn encode(r: &Recorded) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(r)
        .map(|json| frame(&json))
        .map_err(|e| JournalError::Invalid(e.to_string()))
}

/// One event as stored (its CRC32, then its JSON), checked: its checksum, its schema, and
/// that it is the event `seq`.
pub(super) fn decode(run_id: &str, journal_dir: &Path, seq: u64, value: &[u8]) -> Result<Recorded, JournalError> {
    let corrupt = |detail: String| JournalError::Corrupt {
        run_id: run_id.to_string(),
        path: journal_dir.to_path_buf(),
        detail,
        kept: None,
    };
    let json = unframe(value).map_err(|e| corrupt(format!("event #{seq}: {e}")))?;
    let rec = decode_record(json).map_err(|e| corrupt(format!("event #{seq}: {e}")))?;
    if rec.seq != seq {
        return Err(corrupt(format!("event stored at #{seq} says it is #{}", rec.seq)));
    }
    Ok(rec)
}

/// Every event in sled from `from` on, in order, each checked.
fn read_range(run_id: &str, journal_dir: &Path, events: &sled::Tree, from: u64) -> Result<Vec<Recorded>, JournalError> {
    let corrupt = |detail: String| JournalError::Corrupt {
        run_id: run_id.to_string(),
        path: journal_dir.to_path_buf(),
        detail,
        kept: None,
    };
    let first = from.max(1);
    (first..)
        .zip(events.range(first.to_be_bytes()..))
        .map(|(expected, item)| {
            let (key, value) = item.map_err(|e| corrupt(e.to_string()))?;
            let seq = seq_of(&key).ok_or_else(|| corrupt("an event key is not a sequence number".into()))?;
            if seq != expected {
                return Err(corrupt(format!(
                    "event #{expected} is missing (the next one found is #{seq})"
                )));
            }
            decode(run_id, journal_dir, seq, &value)
        })
        .collect()
}

/// Checks sled against the event log from `from` (the first event after the snapshot)
/// to sled's `last`, and returns those events. The log is read from `offset` when the
/// snapshot knows where it stands in it, else from the start.
#[allow(clippy::too_many_arguments)]
fn agree(
    run_id: &str,
    journal_dir: &Path,
    sled: &Sled,
    last: u64,
    from: u64,
    offset: Option<u64>,
    reading: Reading,
    strict: bool,
) -> Result<Agreed, JournalError> {
    let corrupt = |detail: String| JournalError::Corrupt {
        run_id: run_id.to_string(),
        path: journal_dir.to_path_buf(),
        detail,
        kept: None,
    };
    let log_path = eventlog::path_in(journal_dir);
    let read_log = |at: u64| {
        eventlog::read_from(journal_dir, at).map_err(|source| JournalError::Io {
            path: log_path.clone(),
            source,
        })
    };
    let mut log = read_log(offset.unwrap_or(0))?;
    // The snapshot was taken when the log already held its events durably: a log that
    // ends before that point lost them to damage, not to a crash.
    if let Some(o) = offset.filter(|o| *o > log.len) {
        return Err(corrupt(format!(
            "its event log {} ends at byte {}, before where the snapshot of event #{} stands (byte {o})",
            log_path.display(),
            log.len,
            from - 1
        )));
    }
    // A snapshot's offset must land on the frame right after it; else read it all.
    let misplaced = |log: &eventlog::Reading| {
        log.batches.first().is_some_and(|b| b.first_seq != from)
            || (log.batches.is_empty() && log.end != eventlog::End::Clean)
    };
    if offset.is_some_and(|o| o > 0) && misplaced(&log) {
        log = read_log(0)?;
    }
    if let eventlog::End::Damaged { at, why } = &log.end {
        return Err(corrupt(format!(
            "its event log {} is damaged at byte {at}: {why}",
            log_path.display()
        )));
    }
    // A torn frame at the end is a write the crash cut short: sled has that batch (it is
    // written first), and it is logged again below.
    let mut log_len = match &log.end {
        eventlog::End::Torn { at } => *at,
        _ => log.len,
    };
    // Batches wholly before `from` (when the log was read from its start) are not checked.
    let mut batches: Vec<&eventlog::Batch> = log.batches.iter().filter(|b| b.last_seq() >= from).collect();
    let log_last = batches.last().map_or(from - 1, |b| b.last_seq());
    if log_last > last {
        // sled lost events the log holds: they were acknowledged (the log is written after
        // sled), so the journal is cut short. A copy taken while a session wrote can only
        // have caught the log further on.
        if reading == Reading::Own {
            return Err(JournalError::Truncated {
                run_id: run_id.to_string(),
                path: journal_dir.to_path_buf(),
                expected: log_last,
                found: last,
                kept: None,
            });
        }
        let keep = batches.iter().take_while(|b| b.last_seq() <= last).count();
        log_len = batches.get(keep).map_or(log_len, |b| b.offset);
        batches.truncate(keep);
    }
    let mut logged = batches
        .iter()
        .flat_map(|b| (b.first_seq..).zip(b.values.iter()))
        .filter(|(seq, _)| *seq >= from);
    let mut records = Vec::with_capacity((last + 1).saturating_sub(from) as usize);
    let mut relog = Vec::new();
    for (expected, item) in (from..).zip(sled.events.range(from.to_be_bytes()..)) {
        let (key, value) = item.map_err(|e| corrupt(e.to_string()))?;
        let seq = seq_of(&key).ok_or_else(|| corrupt("an event key is not a sequence number".into()))?;
        if seq != expected {
            return Err(corrupt(format!(
                "event #{expected} is missing (the next one found is #{seq})"
            )));
        }
        match logged.next() {
            Some((at, bytes)) if at == seq && bytes.as_slice() == value.as_ref() => {}
            Some((at, _)) if at == seq => {
                return Err(corrupt(format!(
                    "event #{seq} differs between its store and its event log {}",
                    log_path.display()
                )));
            }
            Some((at, _)) => return Err(corrupt(format!("its event log has #{at} where #{seq} belongs"))),
            // sled holds what the log does not (yet): a crash between the two writes.
            None => relog.push(value.to_vec()),
        }
        records.push(decode(run_id, journal_dir, seq, &value)?);
    }
    if let Some((at, _)) = logged.next() {
        return Err(corrupt(format!(
            "event #{at} of its event log is missing from its store"
        )));
    }
    if strict {
        // sled is written first, so a crash leaves the log at most the one batch behind,
        // cut short or not begun. A torn log with nothing to log again, or more than one
        // batch missing, is damage to the log.
        let unlogged = &records[records.len() - relog.len()..];
        let one_batch = unlogged.windows(2).all(|w| w[0].at == w[1].at && w[0].by == w[1].by);
        if let eventlog::End::Torn { at } = log.end
            && relog.is_empty()
        {
            return Err(corrupt(format!(
                "its event log {} is damaged at byte {at}: a frame there is cut short or unreadable",
                log_path.display()
            )));
        }
        if !one_batch {
            return Err(corrupt(format!(
                "its event log {} lacks events #{}–#{last} that its store holds: more than the one batch a \
                 crash can leave unlogged",
                log_path.display(),
                last + 1 - relog.len() as u64
            )));
        }
    }
    Ok(Agreed {
        log_len,
        records,
        relog,
    })
}

/// Checks the event log's copy of events #1–#`upto` (those before the snapshot a resume
/// started from): every frame whole (its CRC32) and the events in order, none missing.
/// Runs on its own thread after an open, reading the log as a stream (sled's copies of
/// those events are checked when they are read, and the log stands in for a damaged one).
fn check_older_events(journal_dir: &Path, upto: u64) -> Result<(), String> {
    let mut log = eventlog::Values::open(journal_dir).map_err(|e| {
        format!(
            "its event log {} cannot be read: {e}",
            eventlog::path_in(journal_dir).display()
        )
    })?;
    for expected in 1..=upto {
        match log.next_value().map_err(|e| format!("its event log is damaged: {e}"))? {
            Some((seq, value)) if seq == expected => {
                unframe(&value).map_err(|e| format!("event #{seq} in its event log: {e}"))?;
            }
            Some((seq, _)) => return Err(format!("its event log has #{seq} where #{expected} belongs")),
            None => return Err(format!("its event log ends before event #{expected}")),
        }
    }
    Ok(())
}

/// Every event from `from` to `last`, read from the event log (when sled's copy of one is
/// damaged): each checked, in order, none missing.
fn records_from_log(run_id: &str, journal_dir: &Path, from: u64, last: u64) -> Result<Vec<Recorded>, String> {
    let mut log = eventlog::Values::open(journal_dir).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity((last + 1).saturating_sub(from) as usize);
    let mut expected = 1;
    while expected <= last {
        let (seq, value) = log
            .next_value()?
            .ok_or(format!("its event log ends before event #{expected}"))?;
        if seq != expected {
            return Err(format!("its event log has #{seq} where #{expected} belongs"));
        }
        if seq >= from {
            out.push(decode(run_id, journal_dir, seq, &value).map_err(|e| e.to_string())?);
        }
        expected += 1;
    }
    Ok(out)
}

fn latest_snapshot(sled: &Sled, last: u64) -> Option<Snapshot> {
    // A damaged or outdated snapshot is skipped: the events are the truth.
    sled.snapshots.iter().rev().filter_map(Result::ok).find_map(|(k, v)| {
        let seq = seq_of(&k)?;
        if seq > last {
            return None;
        }
        let json = unframe(&v).ok()?;
        let snap: Snapshot = serde_json::from_slice(json).ok()?;
        (snap.version == STATE_VERSION && snap.state.last_seq == seq).then_some(snap)
    })
}

#[derive(serde::Deserialize)]
struct Snapshot {
    version: u32,
    /// Where the log's next frame started when the snapshot was taken.
    #[serde(default)]
    log_offset: Option<u64>,
    state: RunState,
}

#[derive(serde::Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    log_offset: u64,
    state: &'a RunState,
}
