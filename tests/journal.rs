//! The journal on disk: resume from snapshots gives the same state as a full replay,
//! damage and truncation are reported whatever the side files say, and the journal is
//! kept as it was found with every event it recorded.

use crate::support;

use std::path::{Path, PathBuf};

use chrono::Utc;
use cutover::engine::event::decode_record;
use cutover::engine::{RunEvent, RunState};
use cutover::journal::{JournalError, SNAPSHOT_EVERY, Store};
use support::runs::{append_notes, holder, new_run};

/// A run with `notes` note events after its start (`MARKER-00000`, …); returns its id and
/// directory.
fn run_with_notes(store: &Store, notes: usize) -> (String, PathBuf) {
    let (mut journal, mut state) = new_run(store);
    append_notes(&mut journal, &mut state, "MARKER", 0, notes);
    (state.run_id.clone(), journal.dir().to_path_buf())
}

/// Changes one byte of the newest copy of `marker` in sled's data file.
fn flip_marker(db: &Path, marker: &str) {
    let mut bytes = std::fs::read(db).unwrap();
    let at = bytes
        .windows(marker.len())
        .rposition(|w| w == marker.as_bytes())
        .expect("the marker is on disk");
    bytes[at + 7] = b'X';
    std::fs::write(db, bytes).unwrap();
}

fn bytes_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn resuming_from_a_snapshot_gives_the_same_state_as_replaying_every_event() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let notes = (SNAPSHOT_EVERY as usize) * 2 + 345;
    let (run_id, _) = run_with_notes(&store, notes);
    let (journal, resumed) = store.open_run(&run_id, &holder()).unwrap();
    let records = journal.records(1).unwrap();
    assert_eq!(records.len(), notes + 1);
    let replayed = RunState::replay(&records).unwrap();
    assert_eq!(resumed, replayed);
    let noted = records
        .iter()
        .filter(|r| matches!(r.event, RunEvent::NoteAdded { .. }))
        .count();
    assert_eq!(noted, notes);
}

#[test]
fn opening_a_sound_journal_copies_nothing_and_leaves_its_event_log_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, 10);
    let log = dir.join("journal").join("events.log");
    let before = bytes_of(&log);
    drop(store.open_run(&run_id, &holder()).unwrap());
    assert_eq!(bytes_of(&log), before, "opening only reads the event log");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["journal", "lock", "run.json", "summary.json"]);
}

/// Damages a journal's sled data file, opens it, and returns the error, the event log as
/// it was before the open, and the kept copy.
fn damaged_open(damage: impl FnOnce(&Path)) -> (JournalError, Vec<u8>, PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, 300);
    let db = dir.join("journal").join("db");
    damage(&db);
    let log_as_found = bytes_of(&dir.join("journal").join("events.log"));
    let err = match store.open_run(&run_id, &holder()) {
        Ok(_) => panic!("a damaged journal must not open"),
        Err(e) => e,
    };
    let kept = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal.as-found-")
        })
        .expect("the journal as found is kept");
    // Damage stays found: a second open fails the same way and names the same copy.
    match store.open_run(&run_id, &holder()) {
        Ok(_) => panic!("a damaged journal opened on the second try"),
        Err(again) => assert!(again.to_string().contains(&kept.display().to_string()), "{again}"),
    }
    (err, log_as_found, kept, tmp)
}

/// Every note the run recorded is in the kept copy's event log.
fn assert_every_event_kept(kept: &Path) {
    let log = bytes_of(&kept.join("events.log"));
    for i in [0, 150, 299] {
        let marker = format!("MARKER-{i:05}");
        assert!(
            log.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker} is not in the kept event log"
        );
    }
}

#[test]
fn damage_inside_the_journal_is_reported_and_the_journal_is_kept_as_found() {
    let (err, log_as_found, kept, _tmp) = damaged_open(|db| flip_marker(db, "MARKER-00150"));
    assert!(
        matches!(err, JournalError::Corrupt { .. } | JournalError::Truncated { .. }),
        "unexpected error: {err}"
    );
    let message = err.to_string();
    assert!(message.contains("cannot continue"), "{message}");
    assert!(
        message.contains(&kept.display().to_string()),
        "the message names the copy: {message}"
    );
    assert_eq!(
        bytes_of(&kept.join("events.log")),
        log_as_found,
        "the kept event log is byte for byte what was found"
    );
    assert_every_event_kept(&kept);
}

#[test]
fn a_truncated_journal_is_reported_and_not_silently_continued() {
    let (err, log_as_found, kept, _tmp) = damaged_open(|db| {
        // Cut where the newest copy of the last note begins: sled's log loses its end.
        let bytes = std::fs::read(db).unwrap();
        let at = bytes
            .windows(12)
            .rposition(|w| w == b"MARKER-00299")
            .expect("the last note is on disk");
        std::fs::OpenOptions::new()
            .write(true)
            .open(db)
            .unwrap()
            .set_len(at as u64)
            .unwrap();
    });
    match &err {
        JournalError::Truncated { expected, found, .. } => assert!(found < expected, "{err}"),
        JournalError::Corrupt { .. } => {}
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(bytes_of(&kept.join("events.log")), log_as_found);
    assert_every_event_kept(&kept);
}

#[test]
fn an_event_from_a_newer_schema_is_refused_with_a_clear_message() {
    let err =
        decode_record(br#"{"v":99,"seq":1,"at":"2026-12-01T22:00:00Z","by":"x","event":{"type":"run_completed"}}"#)
            .unwrap_err();
    assert!(err.contains("newer cutover"), "{err}");
    assert!(err.contains("upgrade"), "{err}");
}

#[test]
fn events_replayed_on_open_count_toward_the_next_snapshot() {
    // A run that crashes before every 1000th event must still get snapshots, or its
    // resumes replay more and more.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, _) = run_with_notes(&store, SNAPSHOT_EVERY as usize - 10);
    let (mut journal, mut state) = store.open_run(&run_id, &holder()).unwrap();
    assert_eq!(
        journal.events_since_snapshot(),
        SNAPSHOT_EVERY - 9,
        "everything since the start was replayed"
    );
    for i in 0..20 {
        let text = format!("after the resume {i}");
        journal
            .append(
                &mut state,
                Utc::now(),
                "alice",
                vec![RunEvent::NoteAdded { step: None, text }],
            )
            .unwrap();
    }
    assert!(
        journal.events_since_snapshot() < 20,
        "a snapshot was taken during those appends"
    );
    drop(journal);
    let (journal, resumed) = store.open_run(&run_id, &holder()).unwrap();
    assert!(
        journal.events_since_snapshot() < 20,
        "the resume starts from that snapshot"
    );
    assert_eq!(resumed, state);
}

#[test]
fn damage_is_found_by_the_journal_itself_even_without_its_summary() {
    // The summary is a side file, written without fsync and rebuilt when missing: it can
    // never be what tells a damaged journal from a sound one.
    let (err, _, kept, _tmp) = damaged_open(|db| {
        let run_dir = db.parent().unwrap().parent().unwrap();
        std::fs::remove_file(run_dir.join("summary.json")).unwrap();
        flip_marker(db, "MARKER-00150");
    });
    assert!(
        matches!(err, JournalError::Corrupt { .. } | JournalError::Truncated { .. }),
        "unexpected error: {err}"
    );
    assert_every_event_kept(&kept);
}

#[test]
fn another_terminal_reading_a_damaged_journal_that_no_one_holds_is_told_so() {
    // `export` and `journal` read through `read_copy`: with no session on the run, they must
    // apply every check a resume does, not read whatever sled kept.
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, 300);
    flip_marker(&dir.join("journal").join("db"), "MARKER-00150");
    match store.read_copy(&run_id, &holder()) {
        Ok((records, _)) => panic!("read {} events of a damaged journal without a word", records.len()),
        Err(e) => assert!(
            matches!(e, JournalError::Corrupt { .. } | JournalError::Truncated { .. }),
            "{e}"
        ),
    }
}

#[test]
fn damage_to_events_older_than_the_snapshot_stops_the_next_intent() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, SNAPSHOT_EVERY as usize + 100);
    // One byte of an early event, in the event log: sled's copy is intact, so the state
    // rebuilds from the snapshot; the background check finds the difference.
    let log = dir.join("journal").join("events.log");
    let mut bytes = bytes_of(&log);
    let at = bytes
        .windows(12)
        .position(|w| w == b"MARKER-00010")
        .expect("the note is in the log");
    bytes[at + 7] = b'X';
    std::fs::write(&log, bytes).unwrap();
    let (mut journal, mut state) = store.open_run(&run_id, &holder()).expect("the tail is sound");
    let intent = RunEvent::StepStarted {
        step: "a".into(),
        intent: cutover::engine::Intent::Gate,
    };
    let err = journal
        .append(&mut state, Utc::now(), "alice", vec![intent])
        .expect_err("no side effect starts from a damaged journal");
    assert!(
        matches!(err, JournalError::Corrupt { .. }) && err.to_string().contains("event log is damaged"),
        "{err}"
    );
    drop(journal);
    // And it stays found: the next open refuses at once or at its next intent.
    let (mut journal, _) = store.open_run(&run_id, &holder()).unwrap();
    assert!(journal.older_events_checked().is_err());
}

#[test]
fn a_damaged_event_log_that_looks_like_a_write_cut_short_is_damage() {
    // A frame whose length field was hit now claims to run to the end of the file: like the
    // last write before a crash, except that sled holds several batches after it.
    let (err, _, _, _tmp) = damaged_open(|db| {
        let log = db.with_file_name("events.log");
        let mut bytes = bytes_of(&log);
        let frames: Vec<usize> = bytes
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"CVB1")
            .map(|(i, _)| i)
            .collect();
        let victim = frames[frames.len() - 5];
        bytes[victim + 4..victim + 8].copy_from_slice(&u32::MAX.to_be_bytes()[..]);
        bytes[victim + 4] = 0x01;
        std::fs::write(&log, bytes).unwrap();
    });
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
}

#[test]
fn a_journal_from_before_event_logs_gets_one_and_opens_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, 50);
    let (expected, records) = {
        let (journal, state) = store.open_run(&run_id, &holder()).unwrap();
        (state, journal.records(1).unwrap())
    };
    // What an older cutover left: sled alone, without the mark of a log.
    std::fs::remove_file(dir.join("journal").join("events.log")).unwrap();
    {
        let db = sled::open(dir.join("journal")).unwrap();
        db.open_tree("meta").unwrap().remove("event_log").unwrap();
        db.flush().unwrap();
    }
    for _ in 0..2 {
        let (journal, state) = store.open_run(&run_id, &holder()).expect("an older journal opens");
        assert_eq!(state, expected);
        assert_eq!(journal.records(1).unwrap(), records);
        assert!(dir.join("journal").join("events.log").exists(), "it was given its log");
    }
}

#[test]
fn an_older_event_damaged_in_sled_is_read_from_the_event_log() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (run_id, dir) = run_with_notes(&store, SNAPSHOT_EVERY as usize + 100);
    let (expected, records) = {
        let (journal, state) = store.open_run(&run_id, &holder()).unwrap();
        (state, journal.records(1).unwrap())
    };
    // Event #12 (note 10) changed inside sled's own checks (as a bit flipped in memory before sled
    // wrote it would be): only the event's CRC32 tells.
    {
        let db = sled::open(dir.join("journal")).unwrap();
        let events = db.open_tree("events").unwrap();
        let mut value = events.get(12u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let at = value.windows(12).position(|w| w == b"MARKER-00010").unwrap();
        value[at + 7] = b'X';
        events.insert(12u64.to_be_bytes(), value).unwrap();
        db.flush().unwrap();
    }
    let (mut journal, state) = store.open_run(&run_id, &holder()).expect("the tail is sound");
    journal.older_events_checked().expect("the log's copy is sound");
    assert_eq!(state, expected);
    assert_eq!(journal.records(1).unwrap(), records, "every event, as recorded");
}
