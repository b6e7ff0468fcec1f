//! The corruption corpus: generated damage to a journal on disk, over seeds. Whatever the
//! damage (a file cut short, a flipped bit, a lost sector, a missing or stale summary, a
//! missing snapshot, a missing event log), opening the run either reports it as damaged
//! (at once, or when the background check of the log's events before the newest snapshot
//! ends, which every intent waits for), and keeps doing so, or recovers exactly: the same
//! state and every event exactly as recorded (from the log where sled's copy is damaged).
//! Never a different journal.
//!
//! `CUTOVER_DAMAGE_CASES=N` runs N cases instead of the default (at least 200 in CI).

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use cutover::engine::{Recorded, RunState};
use cutover::journal::{JournalError, SNAPSHOT_EVERY, Store};
use support::runs::{append_notes, holder, new_run};

const DEFAULT_CASES: usize = 240;

/// A journal on disk and what it must read back as.
struct Pristine {
    root: tempfile::TempDir,
    run_id: String,
    state: RunState,
    records: Vec<Recorded>,
}

/// A run past its first checkpoint. `crashed`: the files as a crash would leave them
/// (copied while the session still holds the run, after its last durable append);
/// otherwise as a clean close leaves them.
fn pristine(crashed: bool) -> Pristine {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let (mut journal, mut state) = new_run(&store);
    let first = SNAPSHOT_EVERY as usize + 30;
    append_notes(&mut journal, &mut state, "note", 0, first);
    let run_id = state.run_id.clone();
    if crashed {
        // More events since the newest snapshot, then the files as they are right now.
        append_notes(&mut journal, &mut state, "note", first, 25);
        let copy = tempfile::tempdir().unwrap();
        copy_tree(root.path(), copy.path());
        drop(journal);
        let records = read_all(copy.path(), &run_id);
        return Pristine {
            root: copy,
            run_id,
            state,
            records,
        };
    }
    journal.snapshot(&state).unwrap();
    drop(journal);
    let records = read_all(root.path(), &run_id);
    Pristine {
        root,
        run_id,
        state,
        records,
    }
}

fn read_all(root: &Path, run_id: &str) -> Vec<Recorded> {
    let copy = tempfile::tempdir().unwrap();
    copy_tree(root, copy.path());
    let store = Store::open(copy.path()).unwrap();
    let (journal, _) = store.open_run(run_id, &holder()).expect("the undamaged journal opens");
    journal.records(1).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// One kind of damage, applied to the run's folder; returns what it did, for the report.
fn damage(run_dir: &Path, rng: &mut fastrand::Rng) -> String {
    let journal = run_dir.join("journal");
    let files: Vec<PathBuf> = files_under(&journal)
        .into_iter()
        .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .collect();
    // Most damage goes to the two files that hold events.
    let pick_file = |rng: &mut fastrand::Rng| -> PathBuf {
        match rng.u8(0..10) {
            0..=4 => journal.join("db"),
            5..=7 => journal.join("events.log"),
            _ => files[rng.usize(0..files.len())].clone(),
        }
    };
    let name = |p: &Path| p.strip_prefix(run_dir).unwrap().display().to_string();
    match rng.u8(0..12) {
        0..=2 => {
            let file = pick_file(rng);
            let len = std::fs::metadata(&file).unwrap().len();
            let at = rng.u64(0..len);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(at)
                .unwrap();
            format!("{} cut to {at} of {len} bytes", name(&file))
        }
        3..=6 => {
            let file = pick_file(rng);
            let mut bytes = std::fs::read(&file).unwrap();
            let at = rng.usize(0..bytes.len());
            let bit = rng.u8(0..8);
            bytes[at] ^= 1 << bit;
            std::fs::write(&file, bytes).unwrap();
            format!("{} bit {bit} of byte {at} flipped", name(&file))
        }
        7 => {
            let file = pick_file(rng);
            let mut bytes = std::fs::read(&file).unwrap();
            let at = rng.usize(0..bytes.len()) / 4096 * 4096;
            let end = (at + 4096).min(bytes.len());
            bytes[at..end].fill(0);
            std::fs::write(&file, bytes).unwrap();
            format!("{} sector at {at} zeroed", name(&file))
        }
        8 => match rng.u8(0..3) {
            0 => {
                std::fs::remove_file(run_dir.join("summary.json")).unwrap();
                "summary.json removed".to_string()
            }
            1 => {
                let path = run_dir.join("summary.json");
                let text = std::fs::read_to_string(&path).unwrap();
                let mut summary: serde_json::Value = serde_json::from_str(&text).unwrap();
                let stale = rng.u64(1..50);
                summary["last_seq"] = serde_json::json!(stale);
                std::fs::write(&path, summary.to_string()).unwrap();
                format!("summary.json says the journal ends at #{stale}")
            }
            _ => {
                let path = run_dir.join("summary.json");
                let mut summary: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                summary["last_seq"] = serde_json::json!(999_999);
                std::fs::write(&path, summary.to_string()).unwrap();
                "summary.json says the journal ends at #999999".to_string()
            }
        },
        9 => {
            // sled's own snapshot of its page table: it then recovers from its whole log.
            let snaps: Vec<PathBuf> = files
                .iter()
                .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("snap."))
                .cloned()
                .collect();
            for s in &snaps {
                std::fs::remove_file(s).unwrap();
            }
            format!("{} storage snapshot file(s) removed", snaps.len())
        }
        10 => {
            // The journal's own snapshots of the state: a resume replays everything.
            let db = sled::open(&journal).unwrap();
            let snapshots = db.open_tree("snapshots").unwrap();
            let n = snapshots.len();
            snapshots.clear().unwrap();
            db.flush().unwrap();
            format!("{n} state snapshot(s) removed")
        }
        _ => {
            std::fs::remove_file(journal.join("events.log")).unwrap();
            "events.log removed".to_string()
        }
    }
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Damaged,
    Exact,
}

/// Opens the damaged run twice and checks the property; `Err` says what broke it.
fn check(root: &Path, run_id: &str, expected: &Pristine) -> Result<Verdict, String> {
    let once = || -> Result<Verdict, String> {
        let store = Store::open(root).map_err(|e| e.to_string())?;
        match store.open_run(run_id, &holder()) {
            Err(e @ (JournalError::Corrupt { .. } | JournalError::Truncated { .. })) => {
                let message = e.to_string();
                if !message.contains("cannot continue") || !message.contains("kept at") {
                    return Err(format!(
                        "the report does not say it stops and where the copy is: {message}"
                    ));
                }
                Ok(Verdict::Damaged)
            }
            Err(other) => Err(format!("an error that is not a damage report: {other}")),
            Ok((mut journal, state)) => {
                // The events before the snapshot are checked in the background; a step
                // would wait for that verdict, and so does this.
                if let Err(e) = journal.older_events_checked() {
                    let message = e.to_string();
                    if !matches!(e, JournalError::Corrupt { .. }) || !message.contains("kept at") {
                        return Err(format!("the check of older events failed oddly: {message}"));
                    }
                    return Ok(Verdict::Damaged);
                }
                if state != expected.state {
                    return Err(format!(
                        "opened with a different state: last event #{} instead of #{}",
                        state.last_seq, expected.state.last_seq
                    ));
                }
                match journal.records(1) {
                    Ok(records) if records == expected.records => Ok(Verdict::Exact),
                    Ok(records) => Err(format!(
                        "read back {} events that differ from the {} recorded",
                        records.len(),
                        expected.records.len()
                    )),
                    Err(e) => Err(format!("opened and checked, then reading the events failed: {e}")),
                }
            }
        }
    };
    let first = once()?;
    let second = once()?;
    if first != second {
        return Err(format!("the first open said {first:?}, the second {second:?}"));
    }
    Ok(first)
}

/// Runs `f` on another thread and gives up after `limit` (a hang is a failure, not a wait).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => None,
    }
}

#[test]
fn damaged_journals_are_reported_and_never_continued_or_recover_exactly() {
    let cases: usize = std::env::var("CUTOVER_DAMAGE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let pristines = std::sync::Arc::new([pristine(false), pristine(true)]);
    let mut failures = Vec::new();
    let mut damaged = 0;
    let mut exact = 0;
    for seed in 0..cases as u64 {
        let which = (seed % 2) as usize;
        let pristines = pristines.clone();
        let outcome = within(Duration::from_secs(60), move || {
            let p = &pristines[which];
            let case = tempfile::tempdir().unwrap();
            copy_tree(p.root.path(), case.path());
            let mut rng = fastrand::Rng::with_seed(seed);
            let what = damage(&case.path().join("runs").join(&p.run_id), &mut rng);
            (what.clone(), check(case.path(), &p.run_id, p))
        });
        match outcome {
            None => failures.push(format!("seed {seed}: opening hung for a minute")),
            Some((what, Err(why))) => failures.push(format!("seed {seed} ({what}): {why}")),
            Some((_, Ok(Verdict::Damaged))) => damaged += 1,
            Some((_, Ok(Verdict::Exact))) => exact += 1,
        }
    }
    eprintln!("{cases} damaged journals: {damaged} reported as damaged, {exact} recovered exactly");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases broke the promise:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        damaged > cases / 10,
        "too few cases were damage that matters ({damaged}): the corpus is too gentle"
    );
}
