//! Engine scenarios as data: each file in tests/scenarios/ gives a runbook and a
//! timeline of events (given) and commands (when), with the expected refusals, emitted
//! events, states and next effects after each entry (then). Time is part of the data.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use cutover::engine::{
    Command, Mode, Recorded, RunEvent, RunState, SCHEMA_VERSION, StepStatus, Work, decide, next_work, situation,
};
use cutover::runbook::{duration, load_str};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    runbook: String,
    #[serde(default)]
    env: Option<String>,
    start: DateTime<Utc>,
    timeline: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// `+24h` after the start.
    at: String,
    #[serde(default = "operator")]
    by: String,
    /// Given: appended as it is.
    event: Option<RunEvent>,
    /// When: decided; its events are appended unless refused.
    command: Option<Command>,
    /// Then: the command is refused with a message containing this.
    refused: Option<String>,
    /// Then: the command emits exactly these event types, in order.
    emits: Option<Vec<String>>,
    status: Option<String>,
    attempt: Option<u32>,
    steps: Option<BTreeMap<String, StepStatus>>,
    effects: Option<Vec<Work>>,
    situation: Option<String>,
}

fn operator() -> String {
    "operator".to_string()
}

fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario: Scenario = toml::from_str(&text).map_err(|e| format!("bad scenario file: {e}"))?;
    let loaded = load_str(Path::new("scenario.toml"), &scenario.runbook, scenario.env.as_deref())
        .map_err(|e| format!("scenario runbook is invalid:\n{e}"))?;
    let mut seq = 1;
    let first = Recorded {
        v: SCHEMA_VERSION,
        seq,
        at: scenario.start,
        by: operator(),
        event: RunEvent::RunStarted {
            run_id: "scenario".to_string(),
            mode: Mode::Live,
            runbook: loaded.runbook.clone(),
            digest: loaded.digest.clone(),
            source: "scenario.toml".to_string(),
            rehearsal: None,
            dry_run: false,
        },
    };
    let mut state = RunState::start(&first).ok_or("cannot start")?;
    let mut log = vec![first];

    for (i, entry) in scenario.timeline.into_iter().enumerate() {
        let here = format!("timeline[{i}] (at {})", entry.at);
        let offset = entry
            .at
            .strip_prefix('+')
            .ok_or(format!("{here}: `at` must be like +1h"))?;
        let now = scenario.start + duration::parse(offset).map_err(|e| format!("{here}: {e}"))?;
        let events = match (entry.event, entry.command) {
            (Some(event), None) => vec![event],
            (None, Some(command)) => match decide(&state, command, now) {
                Ok(events) => {
                    if let Some(expected) = &entry.refused {
                        return Err(format!(
                            "{here}: expected a refusal containing {expected:?}, got {:?}",
                            names(&events)
                        ));
                    }
                    if let Some(expected) = &entry.emits
                        && names(&events) != *expected
                    {
                        return Err(format!("{here}: emitted {:?}, expected {expected:?}", names(&events)));
                    }
                    events
                }
                Err(refusal) => match &entry.refused {
                    Some(expected) if refusal.message.contains(expected.as_str()) => Vec::new(),
                    Some(expected) => {
                        return Err(format!(
                            "{here}: refused with {:?}, expected it to contain {expected:?}",
                            refusal.message
                        ));
                    }
                    None => return Err(format!("{here}: unexpectedly refused: {}", refusal.message)),
                },
            },
            // Only checks at this time.
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => return Err(format!("{here}: give `event` or `command`, not both")),
        };
        for event in events {
            seq += 1;
            let rec = Recorded {
                v: SCHEMA_VERSION,
                seq,
                at: now,
                by: entry.by.clone(),
                event,
            };
            state.apply(&rec);
            log.push(rec);
        }
        // The state rebuilt from the whole log is the same as the one kept step by step.
        if RunState::replay(&log).as_ref() != Some(&state) {
            return Err(format!("{here}: replaying the log gives a different state"));
        }
        if let Some(expected) = &entry.status {
            let actual = serde_json::to_value(&state.status).unwrap()["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if &actual != expected {
                return Err(format!("{here}: run status is {actual}, expected {expected}"));
            }
        }
        if let Some(expected) = entry.attempt
            && state.attempt != expected
        {
            return Err(format!("{here}: attempt is {}, expected {expected}", state.attempt));
        }
        for (id, expected) in entry.steps.iter().flatten() {
            let actual = state
                .step(id)
                .map(|s| s.status)
                .ok_or(format!("{here}: no step {id}"))?;
            if actual != *expected {
                return Err(format!("{here}: step {id} is {actual:?}, expected {expected:?}"));
            }
        }
        if let Some(expected) = &entry.effects {
            let actual = next_work(&state, now);
            if &actual != expected {
                return Err(format!("{here}: next effects are {actual:?}, expected {expected:?}"));
            }
        }
        if let Some(expected) = &entry.situation {
            let s = serde_json::to_value(situation(&state, now)).unwrap();
            let actual = s["situation"].as_str().unwrap_or("").to_string();
            if &actual != expected {
                return Err(format!("{here}: situation is {s}, expected {expected}"));
            }
        }
    }
    let _ = scenario.description;
    Ok(())
}

fn names(events: &[RunEvent]) -> Vec<String> {
    events.iter().map(|e| e.name().to_string()).collect()
}

#[test]
fn engine_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the scenario files in {}", dir.display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run(f)
                .err()
                .map(|e| format!("{}: {e}", f.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
