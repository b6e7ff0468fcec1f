//! The journal as bytes for another place to keep: whole frames of the event log read from
//! an offset (what a replica is sent), and a run rebuilt on this machine from such bytes
//! (`cutover takeover`), checked frame by frame, event by event, before anything uses it.
//!
//! A replica is the event log's bytes after its first line, exactly: frames carry their
//! own CRC32, each event its own, and sequence numbers run from #1 without a gap, so a
//! copy that lost, doubled or changed a byte is found out when it is pulled.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::eventlog::{self, End, FILE_MAGIC};
use super::run::decode;
use super::store::{RunIdentity, Store};
use super::{Holder, Journal, JournalError, create_private_dir, sync_dir, write_durably};
use crate::engine::RunState;

/// Where the replicated bytes of an event log begin (after its first line).
pub fn log_start() -> u64 {
    FILE_MAGIC.len() as u64
}

/// Whole frames of a run's event log from `offset` (a frame boundary) on.
#[derive(Debug, Clone)]
pub struct Tail {
    pub bytes: Vec<u8>,
    /// Where these bytes end in the log: the next offset to read from.
    pub end: u64,
    /// The sequence number of the last event in them.
    pub last_seq: u64,
}

/// The whole frames written after `offset` (none: `Ok(None)`). A frame the writer is
/// still appending is left for the next read.
pub fn read_tail(run_dir: &Path, offset: u64) -> std::io::Result<Option<Tail>> {
    let journal_dir = run_dir.join("journal");
    let reading = eventlog::read_from(&journal_dir, offset.max(log_start()))?;
    if let End::Damaged { at, why } = &reading.end {
        return Err(std::io::Error::other(format!(
            "the event log {} is damaged at byte {at}: {why}",
            eventlog::path_in(&journal_dir).display()
        )));
    }
    let Some(last) = reading.batches.last() else {
        return Ok(None);
    };
    let end = last.offset + eventlog::frame(last.first_seq, &last.values).len() as u64;
    let start = offset.max(log_start());
    let mut file = std::fs::File::open(eventlog::path_in(&journal_dir))?;
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = vec![0; (end - start) as usize];
    file.read_exact(&mut bytes)?;
    Ok(Some(Tail {
        bytes,
        end,
        last_seq: last.last_seq(),
    }))
}

/// The first `len` replicated bytes of a run's event log (to compare with a replica).
pub fn read_prefix(run_dir: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(eventlog::path_in(&run_dir.join("journal")))?;
    file.seek(SeekFrom::Start(log_start()))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What a check of replicated bytes found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub events: u64,
    pub frames: usize,
}

/// Checks replicated bytes as a resume would: whole frames (each CRC32), every event's
/// own CRC32 and JSON, sequence numbers from #1 without a gap, the first event the start
/// of `run_id`.
pub fn check(run_id: &str, bytes: &[u8]) -> Result<Checked, String> {
    let reading = eventlog::parse(bytes, log_start(), log_start() + bytes.len() as u64);
    match reading.end {
        End::Clean => {}
        End::Torn { at } => return Err(format!("it ends in the middle of a frame (byte {at})")),
        End::Damaged { at, why } => return Err(format!("byte {at}: {why}")),
    }
    // The frames' order first (cheap, and says what is missing), then every event.
    let mut expected = 1u64;
    for batch in &reading.batches {
        if batch.first_seq != expected {
            return Err(format!(
                "events jump from #{} to #{} (a frame at byte {} is missing or doubled)",
                expected - 1,
                batch.first_seq,
                batch.offset
            ));
        }
        expected = batch.last_seq() + 1;
    }
    for batch in &reading.batches {
        for (i, value) in batch.values.iter().enumerate() {
            let seq = batch.first_seq + i as u64;
            let rec = decode(run_id, Path::new("the cluster's copy"), seq, value).map_err(|e| match e {
                JournalError::Corrupt { detail, .. } => detail,
                other => other.to_string(),
            })?;
            if seq == 1 {
                match &rec.event {
                    crate::engine::RunEvent::RunStarted { run_id: id, .. } if id == run_id => {}
                    _ => return Err(format!("its first event is not the start of run {run_id}")),
                }
            }
        }
    }
    if expected == 1 {
        return Err("it holds no events".to_string());
    }
    Ok(Checked {
        events: expected - 1,
        frames: reading.batches.len(),
    })
}

impl Store {
    /// Builds run `identity.run_id` on this machine from replicated event-log bytes
    /// (checked with [`check`] first) and opens it for `holder`. A copy of the run this
    /// machine already has is kept aside (`runs/.replaced-RUN-TIME`), never overwritten.
    pub fn import_run(
        &self,
        identity: &RunIdentity,
        bytes: &[u8],
        holder: &Holder,
    ) -> Result<(Journal, RunState, Option<std::path::PathBuf>), JournalError> {
        let run_id = identity.run_id.clone();
        check(&run_id, bytes).map_err(|detail| {
            JournalError::Invalid(format!(
                "the cluster's copy of run {run_id} does not check out: {detail}"
            ))
        })?;
        let _guard = self.creation_guard()?;
        let runs = self.root().join("runs");
        let staging = runs.join(format!(".importing-{run_id}"));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        let journal_dir = staging.join("journal");
        create_private_dir(&journal_dir).map_err(io(&journal_dir))?;
        write_durably(
            &staging.join("run.json"),
            &serde_json::to_vec_pretty(identity).unwrap_or_default(),
        )
        .map_err(io(&staging))?;
        let mut log = FILE_MAGIC.to_vec();
        log.extend_from_slice(bytes);
        write_durably(&eventlog::path_in(&journal_dir), &log).map_err(io(&journal_dir))?;
        Journal::index_log(&staging, &run_id)?;
        let dir = self.run_dir(&run_id)?;
        let kept = if dir.exists() {
            let aside = runs.join(format!(
                ".replaced-{run_id}-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ));
            std::fs::rename(&dir, &aside).map_err(io(&dir))?;
            Some(aside)
        } else {
            None
        };
        std::fs::rename(&staging, &dir)
            .and_then(|()| sync_dir(&runs))
            .map_err(io(&dir))?;
        let (journal, state) = Journal::open(&dir, &run_id, holder)?;
        Ok((journal, state, kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(run_id: &str, seq: u64) -> Vec<u8> {
        let event = if seq == 1 {
            serde_json::json!({"event": "run_started", "run_id": run_id})
        } else {
            serde_json::json!({"event": "note_added", "text": format!("note {seq}")})
        };
        let json = serde_json::json!({"v": 1, "seq": seq, "at": "2026-12-04T02:00:00Z", "by": "t", "event": event});
        let json = serde_json::to_vec(&json).unwrap();
        let mut out = crc32fast::hash(&json).to_be_bytes().to_vec();
        out.extend(json);
        out
    }

    #[test]
    fn a_gap_a_double_a_cut_and_a_changed_byte_are_each_found() {
        let id = "r";
        let frame =
            |first: u64, n: u64| eventlog::frame(first, &(first..first + n).map(|s| value(id, s)).collect::<Vec<_>>());
        // The frames' order is checked before the events (these are not real events).
        let whole = [frame(1, 2), frame(3, 2)].concat();
        let gap = [frame(1, 2), frame(4, 1)].concat();
        assert!(check(id, &gap).unwrap_err().contains("jump from #2 to #4"));
        let doubled = [frame(1, 2), frame(1, 2)].concat();
        assert!(check(id, &doubled).unwrap_err().contains("jump from #2 to #1"));
        let cut = &whole[..whole.len() - 3];
        assert!(check(id, cut).unwrap_err().contains("ends in the middle of a frame"));
        let mut changed = whole.clone();
        let at = changed.len() - 5;
        changed[at] ^= 1;
        assert!(
            check(id, &changed).unwrap_err().contains("byte"),
            "a frame's CRC32 finds it"
        );
        assert!(check(id, &[]).unwrap_err().contains("holds no events"));
    }
}
