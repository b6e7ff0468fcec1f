//! `decide`: given the state, a command and the time, the events to record, or a
//! refusal that says why not and what to do instead. No I/O; time is an argument.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{
    Failure, FailureAction, Incident, Intent, Notification, Outcome, Progress, Resolution, RollbackTrigger, RunEvent,
};
use super::plan::{closed_gate, current, drain_gate, later, pending_approval, rollback_due, sequence_done_except};
use super::state::{RunState, RunStatus, StepStatus};
use crate::runbook::duration::countdown;
use crate::runbook::{Action, Approval, Runbook};

/// The smallest root-cause analysis the tool accepts: a sentence, not a placeholder.
pub const MIN_RCA_CHARS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    OpenSession {
        pid: u32,
        host: String,
        version: String,
        /// The holder whose expired Lease this session took (`cutover takeover`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
    },
    CloseSession {
        reason: String,
    },
    Approve {
        step: String,
        typed: Option<String>,
        note: Option<String>,
    },
    /// Start a step with the intent the runner prepared.
    Begin {
        step: String,
        intent: Intent,
    },
    Finish {
        step: String,
        result: Result<Outcome, Failure>,
    },
    /// What a running step measured so far (samples, nameserver answers).
    Report {
        step: String,
        report: Progress,
    },
    Retry {
        step: String,
    },
    Skip {
        step: String,
        reason: String,
    },
    ResolveInDoubt {
        step: String,
        resolution: Resolution,
        note: Option<String>,
    },
    Note {
        step: Option<String>,
        text: String,
    },
    Rollback {
        reason: String,
    },
    /// The rollback a failed step asks for (`Work::RollBack`), started by the tool.
    RollbackForFailure {
        step: String,
    },
    /// End a drain before its time (the operator accepts that some clients still arrive).
    EndDrain {
        step: String,
    },
    AttachRca {
        text: String,
    },
    NewAttempt,
    Complete,
    ReloadRunbook {
        runbook: Box<Runbook>,
        digest: String,
        source: String,
    },
    /// What became of a message to a `[notify]` target. Accepted whatever the run's
    /// state (a completion's message is answered after the run completed).
    RecordNotification {
        notification: Notification,
    },
}

/// Why a command was refused, and what the operator can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
}

fn refuse<T>(message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        message: message.into(),
    })
}

pub fn decide(state: &RunState, command: Command, now: DateTime<Utc>) -> Result<Vec<RunEvent>, Refusal> {
    if let RunStatus::Completed { .. } = state.status
        && !matches!(
            command,
            Command::OpenSession { .. }
                | Command::CloseSession { .. }
                | Command::Note { .. }
                | Command::RecordNotification { .. }
        )
    {
        return refuse("the run is completed: nothing more can change");
    }
    match command {
        Command::OpenSession {
            pid,
            host,
            version,
            took_over_from,
        } => Ok(vec![RunEvent::SessionOpened {
            pid,
            host,
            version,
            took_over_from,
        }]),
        Command::CloseSession { reason } => Ok(vec![RunEvent::SessionClosed { reason }]),
        Command::Approve { step, typed, note } => approve(state, step, typed, note, now),
        Command::Begin { step, intent } => begin(state, step, intent, now),
        Command::Finish { step, result } => finish(state, step, result, now),
        Command::Report { step, report } => {
            // A step draining before it scales to zero reports the traffic still arriving.
            let draining = matches!(&report, Progress::ObjectChecked { .. }) && draining(state, &step, now);
            if known_step(state, &step)?.status != StepStatus::Running && !draining {
                return refuse(format!("step `{step}` is not running: it has nothing to report"));
            }
            Ok(vec![report.into_event(step)])
        }
        Command::Retry { step } => {
            let index = must_be_current(state, &step)?;
            if state.steps[index].status != StepStatus::Failed {
                return refuse(format!(
                    "step `{step}` has not failed; only a failed step can be retried"
                ));
            }
            Ok(vec![RunEvent::StepRetried { step }])
        }
        Command::Skip { step, reason } => skip(state, step, reason, now),
        Command::EndDrain { step } => {
            must_be_current(state, &step)?;
            if !draining(state, &step, now) {
                return refuse(format!("step `{step}` is not draining"));
            }
            Ok(vec![RunEvent::DrainEnded { step }])
        }
        Command::ResolveInDoubt { step, resolution, note } => resolve_in_doubt(state, step, resolution, note, now),
        Command::Note { step, text } => {
            if text.trim().is_empty() {
                return refuse("a note needs some text");
            }
            if let Some(s) = &step {
                known_step(state, s)?;
            }
            Ok(vec![RunEvent::NoteAdded { step, text }])
        }
        Command::Rollback { reason } => rollback(state, reason),
        Command::RollbackForFailure { step } => rollback_for_failure(state, step),
        Command::AttachRca { text } => {
            if !matches!(state.status, RunStatus::RolledBack { .. }) {
                return refuse("a root-cause analysis is attached after a rollback; this run has not rolled back");
            }
            if text.trim().chars().count() < MIN_RCA_CHARS {
                return refuse(format!(
                    "a root-cause analysis must say what went wrong and why (at least {MIN_RCA_CHARS} characters)"
                ));
            }
            Ok(vec![RunEvent::RcaAttached { text }])
        }
        Command::NewAttempt => {
            if !matches!(state.status, RunStatus::RolledBack { .. }) {
                return refuse("a new attempt starts after a rollback; this run has not rolled back");
            }
            if let Some(s) = state.steps.iter().find(|s| s.status == StepStatus::Running) {
                return refuse(format!(
                    "step `{}` is still running; start the next attempt when it has stopped",
                    s.id
                ));
            }
            if state.rca_for_current_attempt().is_none() {
                return refuse(format!(
                    "no second cutover attempt without a written root-cause analysis of attempt {}: attach one first (cutover rca)",
                    state.attempt
                ));
            }
            Ok(vec![RunEvent::AttemptStarted {
                attempt: state.attempt + 1,
            }])
        }
        Command::Complete => match state.status {
            RunStatus::Holding { until } if until > now => refuse(format!(
                "the hold lasts until {} ({} from now)",
                until.format("%Y-%m-%d %H:%M UTC"),
                countdown((until - now).to_std().unwrap_or_default())
            )),
            RunStatus::Holding { .. } if current(state).is_some() => refuse("steps after the hold are not done yet"),
            RunStatus::Holding { .. } => Ok(vec![RunEvent::RunCompleted]),
            _ => refuse("the run is not holding; it completes after its hold"),
        },
        Command::ReloadRunbook {
            runbook,
            digest,
            source,
        } => reload(state, *runbook, digest, source, now),
        Command::RecordNotification { notification } => Ok(vec![RunEvent::NotificationSent { notification }]),
    }
}

fn known_step<'a>(state: &'a RunState, id: &str) -> Result<&'a super::state::StepState, Refusal> {
    match state.step(id) {
        Some(s) => Ok(s),
        None => refuse(format!("there is no step `{id}` in this run")),
    }
}

/// Refuses unless `id` is the step the run is at.
/// Whether `step` is the current one, not started, and its drain has not run out yet
/// (whatever other gate it also waits for).
fn draining(state: &RunState, step: &str, now: DateTime<Utc>) -> bool {
    current(state).is_some_and(|i| {
        state.steps[i].id == step
            && state.steps[i].status == StepStatus::Pending
            && drain_gate(state, i).is_some_and(|(until, _)| until > now)
    })
}

fn must_be_current(state: &RunState, id: &str) -> Result<usize, Refusal> {
    known_step(state, id)?;
    match current(state) {
        Some(i) if state.steps[i].id == id => Ok(i),
        Some(i) => refuse(format!("the run is at step `{}`, not `{id}`", state.steps[i].id)),
        None => refuse(format!("step `{id}` is not next: the run is {}", state.status.word())),
    }
}

fn gate_refusal(state: &RunState, index: usize, now: DateTime<Utc>) -> Result<(), Refusal> {
    if let Some((until, _)) = closed_gate(state, index, now) {
        return refuse(format!(
            "step `{}` is gated until {} ({} from now)",
            state.steps[index].id,
            until.format("%Y-%m-%d %H:%M:%S UTC"),
            countdown((until - now).to_std().unwrap_or_default())
        ));
    }
    Ok(())
}

fn approve(
    state: &RunState,
    step: String,
    typed: Option<String>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<RunEvent>, Refusal> {
    let index = must_be_current(state, &step)?;
    if state.steps[index].status != StepStatus::Pending {
        return refuse(format!("step `{step}` is not waiting for approval"));
    }
    // The approval is the last gate: it is given when the step can run at once.
    gate_refusal(state, index, now)?;
    let Some(needed) = pending_approval(state, index) else {
        return refuse(match state.steps[index].approved {
            Some(_) => format!("step `{step}` is already approved"),
            None => format!("step `{step}` does not need approval"),
        });
    };
    if let Approval::Type(expected) = &needed {
        match typed.as_deref().map(str::trim) {
            Some(t) if t == expected => {}
            Some(t) => {
                return refuse(format!(
                    "typed `{t}`, which is not `{expected}`: step `{step}` was not approved"
                ));
            }
            None => {
                return refuse(format!("step `{step}` needs `{expected}` typed to approve it"));
            }
        }
    }
    let note = note.filter(|n| !n.trim().is_empty());
    if let Some(Action::Manual(m)) = state.spec(&step).map(|s| &s.action)
        && m.note_required
        && note.is_none()
    {
        return refuse(format!("step `{step}` needs a note from the operator"));
    }
    Ok(vec![RunEvent::StepApproved { step, typed, note }])
}

fn begin(state: &RunState, step: String, intent: Intent, now: DateTime<Utc>) -> Result<Vec<RunEvent>, Refusal> {
    let index = must_be_current(state, &step)?;
    if let Some(running) = state.steps.iter().find(|s| s.status == StepStatus::Running) {
        return refuse(format!("step `{}` is still running", running.id));
    }
    match state.steps[index].status {
        StepStatus::Pending => {}
        StepStatus::InDoubt => {
            return refuse(format!(
                "step `{step}` is in doubt: say what happened first (retry, succeeded or failed)"
            ));
        }
        StepStatus::Failed => {
            return refuse(format!("step `{step}` failed: retry, skip or roll back"));
        }
        _ => return refuse(format!("step `{step}` is not waiting to run")),
    }
    gate_refusal(state, index, now)?;
    if let Some(needed) = pending_approval(state, index) {
        return refuse(match needed {
            Approval::Type(text) => format!("step `{step}` needs approval: type `{text}`"),
            _ => format!("step `{step}` needs the operator's approval"),
        });
    }
    Ok(vec![RunEvent::StepStarted { step, intent }])
}

fn finish(
    state: &RunState,
    step: String,
    result: Result<Outcome, Failure>,
    now: DateTime<Utc>,
) -> Result<Vec<RunEvent>, Refusal> {
    let s = known_step(state, &step)?;
    // A step can fail before it starts (its intent could not be prepared).
    let preparing = s.status == StepStatus::Pending && result.is_err() && must_be_current(state, &step).is_ok();
    if s.status != StepStatus::Running && !preparing {
        return refuse(format!("step `{step}` is not running"));
    }
    // A failure that rolls the run back is followed by that rollback (`Work::RollBack`):
    // the step's outcome is its session's, the rollback the tool's own decision.
    let mut events = match result {
        Ok(outcome) => {
            let mut events = vec![RunEvent::StepSucceeded {
                step: step.clone(),
                outcome,
            }];
            events.extend(after_done(state, &step, now));
            events
        }
        Err(failure) => vec![RunEvent::StepFailed {
            step: step.clone(),
            failure,
        }],
    };
    // A forward step stopped by a rollback that had no steps of its own left: the
    // rollback is complete only now that nothing runs any more.
    let forward = state.index(&step).is_some_and(|i| !state.is_rollback_step(i));
    if state.status == RunStatus::RollingBack && forward && current(state).is_none() {
        events.push(RunEvent::RollbackCompleted);
    }
    Ok(events)
}

/// Events that follow when `step` is done: the hold starts, or the rollback is complete.
fn after_done(state: &RunState, step: &str, now: DateTime<Utc>) -> Vec<RunEvent> {
    if !sequence_done_except(state, step) {
        return Vec::new();
    }
    match state.status {
        RunStatus::Active => vec![RunEvent::HoldStarted {
            until: later(now, state.scaled("hold", None, state.runbook.hold)),
        }],
        RunStatus::RollingBack if state.is_rollback_step(state.index(step).unwrap_or(0)) => {
            vec![RunEvent::RollbackCompleted]
        }
        _ => Vec::new(),
    }
}

/// The rollback a failed step asks for: the incident entry, then the rollback, both the
/// tool's doing (`rollback_due` says when).
fn rollback_for_failure(state: &RunState, step: String) -> Result<Vec<RunEvent>, Refusal> {
    let Some(failed) = rollback_due(state).filter(|s| s.id == step) else {
        return refuse(format!("step `{step}` has not failed in a way that rolls the run back"));
    };
    let (message, action) = failed
        .failure
        .as_ref()
        .map(|f| (f.message.clone(), f.action))
        .unwrap_or_default();
    Ok(start_rollback(
        state,
        Incident {
            summary: format!("step `{step}` failed: {message}"),
            step: Some(step.clone()),
            details: vec![
                match action {
                    FailureAction::RollBack => {
                        "a metrics breach with on_breach = \"rollback\": the rollback started at once"
                    }
                    _ => "the step has on_failure = \"rollback\"; the rollback started at once",
                }
                .to_string(),
            ],
        },
        RollbackTrigger::StepFailed { step, message },
    ))
}

/// The incident entry first, then the rollback, then its completion if it has no steps.
fn start_rollback(state: &RunState, incident: Incident, trigger: RollbackTrigger) -> Vec<RunEvent> {
    let mut events = vec![
        RunEvent::IncidentRecorded { incident },
        RunEvent::RollbackStarted { trigger },
    ];
    // With no rollback steps it is complete at once, unless a step is still running:
    // then it completes when that step has stopped.
    let running = state.steps.iter().any(|s| s.status == StepStatus::Running);
    if state.runbook.rollback.is_empty() && !running {
        events.push(RunEvent::RollbackCompleted);
    }
    events
}

fn rollback(state: &RunState, reason: String) -> Result<Vec<RunEvent>, Refusal> {
    match state.status {
        RunStatus::Active | RunStatus::Holding { .. } => {}
        RunStatus::RollingBack => return refuse("the run is already rolling back"),
        RunStatus::RolledBack { .. } => return refuse("the run is already rolled back"),
        RunStatus::Completed { .. } => return refuse("the run is completed"),
    }
    if reason.trim().is_empty() {
        return refuse("say why you roll back: the reason goes into the incident entry");
    }
    let at_step = current(state).map(|i| state.steps[i].id.clone());
    let mut details = Vec::new();
    if let Some(s) = &at_step {
        details.push(format!("the run was at step `{s}`"));
    }
    Ok(start_rollback(
        state,
        Incident {
            summary: format!("operator rolled back: {reason}"),
            step: at_step,
            details,
        },
        RollbackTrigger::Operator { reason },
    ))
}

fn skip(state: &RunState, step: String, reason: String, now: DateTime<Utc>) -> Result<Vec<RunEvent>, Refusal> {
    if reason.trim().is_empty() {
        return refuse(format!(
            "say why step `{step}` is skipped: the reason is kept in the journal"
        ));
    }
    let index = must_be_current(state, &step)?;
    match state.steps[index].status {
        StepStatus::Pending | StepStatus::Failed => {}
        StepStatus::InDoubt => {
            return refuse(format!(
                "step `{step}` is in doubt: say whether it ran (succeeded or failed) instead"
            ));
        }
        _ => return refuse(format!("step `{step}` cannot be skipped now")),
    }
    let mut events = vec![RunEvent::StepSkipped {
        step: step.clone(),
        reason,
    }];
    events.extend(after_done(state, &step, now));
    Ok(events)
}

fn resolve_in_doubt(
    state: &RunState,
    step: String,
    resolution: Resolution,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<Vec<RunEvent>, Refusal> {
    let s = known_step(state, &step)?;
    if s.status != StepStatus::InDoubt {
        return refuse(format!("step `{step}` is not in doubt"));
    }
    if resolution == Resolution::Succeeded
        && let Some(captured) = state
            .spec(&step)
            .and_then(|s| s.action.outputs().first().map(|o| o.to_string()))
    {
        return refuse(format!(
            "step `{step}` captures `${{{captured}}}`, whose value a crash left unknown: run it again (retry), or mark it failed"
        ));
    }
    let mut events = vec![RunEvent::InDoubtResolved {
        step: step.clone(),
        resolution,
        note,
    }];
    // Marked failed, a step with on_failure = "rollback" rolls the run back next
    // (`Work::RollBack`), as the tool's decision.
    if resolution == Resolution::Succeeded {
        events.extend(after_done(state, &step, now));
    }
    Ok(events)
}

fn reload(
    state: &RunState,
    runbook: Runbook,
    digest: String,
    source: String,
    now: DateTime<Utc>,
) -> Result<Vec<RunEvent>, Refusal> {
    if digest == state.digest {
        return refuse("the runbook has not changed");
    }
    if runbook.name != state.runbook.name {
        return refuse(format!(
            "this run is for runbook `{}`, not `{}`",
            state.runbook.name, runbook.name
        ));
    }
    for s in &state.steps {
        if s.status == StepStatus::Pending && s.tries == 0 {
            continue;
        }
        match runbook.step(&s.id) {
            None => {
                return refuse(format!(
                    "step `{}` has already run in this attempt and is missing from the new runbook; keep it",
                    s.id
                ));
            }
            Some(new)
                if state
                    .spec(&s.id)
                    .is_some_and(|old| old.action.kind() != new.action.kind()) =>
            {
                return refuse(format!(
                    "step `{}` has already run and would change its kind; keep it",
                    s.id
                ));
            }
            Some(_) => {}
        }
    }
    if state.steps.iter().any(|s| s.status == StepStatus::Running) {
        return refuse("a step is running; reload the runbook when it has finished");
    }
    // If the new runbook has nothing left before the hold, the hold starts now.
    let after = state.with_runbook(&runbook, &digest, &source);
    let mut events = vec![RunEvent::RunbookReloaded {
        runbook,
        digest,
        source,
    }];
    if after.status == RunStatus::Active && current(&after).is_none() {
        events.push(RunEvent::HoldStarted {
            until: later(now, after.scaled("hold", None, after.runbook.hold)),
        });
    }
    Ok(events)
}
