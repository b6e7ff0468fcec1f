//! Runs made through the library, for tests of the journal itself.

use std::path::Path;

use chrono::Utc;
use cutover::engine::{Mode, RunEvent, RunState};
use cutover::journal::{Holder, Journal, Store};

/// A one-step runbook: what the run is about does not matter to the journal.
const RUNBOOK: &str = "[runbook]\nname = \"j\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n  approve = true\n";

pub fn holder() -> Holder {
    Holder::this_process("test", "test", Utc::now())
}

/// A new live run of the one-step runbook in `store`, held by this process.
pub fn new_run(store: &Store) -> (Journal, RunState) {
    new_run_of(store, RUNBOOK)
}

/// A new live run of the runbook `text` in `store`, held by this process.
pub fn new_run_of(store: &Store, text: &str) -> (Journal, RunState) {
    let loaded = cutover::runbook::load_str(Path::new("runbook.toml"), text, None).unwrap();
    let (journal, state, created) = store
        .open_or_create(
            &loaded.runbook.name,
            &loaded.runbook.environment,
            Mode::Live,
            &holder(),
            Utc::now(),
            false,
            |run_id| RunEvent::RunStarted {
                run_id,
                mode: Mode::Live,
                runbook: loaded.runbook.clone(),
                digest: loaded.digest.clone(),
                source: "runbook.toml".into(),
                rehearsal: None,
                dry_run: false,
            },
        )
        .unwrap();
    assert!(created, "the store had a run of this runbook already");
    (journal, state)
}

/// Appends `n` notes, one batch each, numbered from `from` with `label` in front.
pub fn append_notes(journal: &mut Journal, state: &mut RunState, label: &str, from: usize, n: usize) {
    for i in from..from + n {
        let text = format!("{label}-{i:05} the operator notes something worth keeping");
        journal
            .append(
                state,
                Utc::now(),
                "alice",
                vec![RunEvent::NoteAdded { step: None, text }],
            )
            .unwrap();
    }
}
