//! What should happen now: the current step, the gates in front of it, what the run is
//! waiting for, and the effects to start. Pure functions of state and time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{DnsOp, Failure, FailureAction, Intent};
use super::state::{RunState, RunStatus, StepState, StepStatus};
use crate::runbook::{Action, Approval, InDoubtPolicy, OnFailure};

/// Something for the runner to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Work {
    /// Prepare the step's intent, record it, then perform it.
    RunStep { step: String },
    /// A crash left an idempotent step in doubt: record that it runs again.
    RetryInDoubt { step: String },
    /// The hold is over and nothing is left: record completion.
    CompleteRun,
    /// A failed step rolls the run back (its `on_failure = "rollback"`, or a metrics breach
    /// with `on_breach = "rollback"`): record the incident, then start the rollback. The
    /// tool decides this by itself, so it is recorded as the tool's, apart from the step's
    /// outcome (see `rollback_due`).
    RollBack { step: String },
}

/// Why a step may not start before an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum TimeGate {
    /// `after = { step, delay }`.
    After { step: String, delay_secs: u64 },
    /// `not_before`, the window start.
    NotBefore,
    /// A `wait` step's duration after the previous step.
    Wait,
    /// The hold after the cutover (for steps in `after_hold` phases).
    Hold,
    /// A DNS flip waits until resolvers' caches of the old, long TTL have expired:
    /// `lowered_at + max(old TTL, lead time)`.
    TtlLead {
        step: String,
        old_ttl_secs: u64,
        lead_secs: u64,
        /// What a rehearsal shortened the wait to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rehearsal_ms: Option<u64>,
    },
    /// Scaling the new side to zero waits until resolvers can no longer hold the flip's
    /// answer: `reverted_at + drain` (the flip's TTL by default). DNS was verified back
    /// on every authoritative server when the revert succeeded.
    Drain {
        /// The `dns.revert` step it counts from.
        revert: String,
        drain_secs: u64,
        /// The drain is the flip's TTL (not a length the runbook set).
        from_ttl: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rehearsal_ms: Option<u64>,
    },
}

/// What the run is waiting for, or doing, right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "situation", rename_all = "snake_case")]
pub enum Situation {
    /// Something can be started now (see `next_work`).
    Ready {
        step: Option<String>,
    },
    Running {
        step: String,
    },
    Gate {
        step: String,
        until: DateTime<Utc>,
        gate: TimeGate,
    },
    Approval {
        step: String,
        approval: Approval,
        note_required: bool,
    },
    /// A crash left a step that is not safe to repeat in doubt: the operator decides.
    InDoubt {
        step: String,
    },
    /// A step failed and the run stopped: retry, skip or roll back.
    Failed {
        step: String,
        failure: Failure,
    },
    Holding {
        until: DateTime<Utc>,
    },
    /// Rolled back; a new attempt needs a root-cause analysis.
    RolledBack {
        rca_attached: bool,
    },
    Completed,
}

/// The index of the step the run is at: the first step of the current sequence that
/// is not done. `None` when the sequence is finished.
pub fn current(state: &RunState) -> Option<usize> {
    let forward = state.forward_count();
    let range = match &state.status {
        RunStatus::Active => 0..first_after_hold(state),
        RunStatus::Holding { .. } => first_after_hold(state)..forward,
        RunStatus::RollingBack => forward..state.steps.len(),
        RunStatus::RolledBack { .. } | RunStatus::Completed { .. } => return None,
    };
    range.into_iter().find(|&i| !state.steps[i].status.is_done())
}

/// Index of the first step in an `after_hold` phase (or the forward count).
pub fn first_after_hold(state: &RunState) -> usize {
    let mut index = 0;
    for phase in &state.runbook.phases {
        if phase.after_hold {
            return index;
        }
        index += phase.steps.len();
    }
    index
}

/// Whether every step of the current sequence, except `except`, is done.
pub fn sequence_done_except(state: &RunState, except: &str) -> bool {
    let Some(cur) = current(state) else {
        return true;
    };
    let end = match state.status {
        RunStatus::Active => first_after_hold(state),
        RunStatus::Holding { .. } => state.forward_count(),
        _ => state.steps.len(),
    };
    (cur..end).all(|i| state.steps[i].id == except || state.steps[i].status.is_done())
}

/// The time gates of a step, each with the instant it opens. A gate whose instant is not
/// known yet (the step it depends on has not succeeded) is left out: order makes the
/// earlier step run first.
pub fn time_gates(state: &RunState, index: usize) -> Vec<(DateTime<Utc>, TimeGate)> {
    let id = &state.steps[index].id;
    let Some(spec) = state.spec(id) else {
        return Vec::new();
    };
    let mut gates = Vec::new();
    // A skipped dependency still anchors the gate (at the skip): skipping the TTL step
    // must not remove the lead time before the flip.
    if let Some(after) = &spec.after
        && let Some(dep) = state.step(&after.step)
        && dep.status.is_done()
        && let Some(done) = dep.finished_at
    {
        gates.push((
            later(done, state.scaled("after", Some(id), after.delay)),
            TimeGate::After {
                step: after.step.clone(),
                delay_secs: after.delay.as_secs(),
            },
        ));
    }
    if let Action::DnsFlip(_) = &spec.action
        && let Some(gate) = ttl_lead_gate(state, index)
    {
        gates.push(gate);
    }
    if let Some(gate) = drain_gate(state, index) {
        gates.push(gate);
    }
    if let Some(t) = spec.not_before.filter(|_| !state.dry_run) {
        gates.push((t, TimeGate::NotBefore));
    }
    if let Action::Wait(w) = &spec.action
        && let Some(d) = w.duration
    {
        // After the previous step of the same sequence, or from the sequence's start.
        let previous = index
            .checked_sub(1)
            .filter(|&p| state.is_rollback_step(p) == state.is_rollback_step(index))
            .and_then(|p| state.steps[p].finished_at);
        let sequence_start = if state.is_rollback_step(index) {
            state.rollbacks.last().map(|r| r.at)
        } else {
            Some(state.attempt_started_at)
        };
        if let Some(t) = previous.or(sequence_start) {
            gates.push((later(t, state.scaled("wait", Some(id), d)), TimeGate::Wait));
        }
    }
    if let RunStatus::Holding { until } = state.status
        && index >= first_after_hold(state)
        && !state.is_rollback_step(index)
    {
        gates.push((until, TimeGate::Hold));
    }
    gates
}

/// The lead-time gate of the flip at `index`: from the last `dns.lower_ttl` step before it
/// that is done (a skipped one anchors at the skip, with only the lead time).
fn ttl_lead_gate(state: &RunState, index: usize) -> Option<(DateTime<Utc>, TimeGate)> {
    let lead = state.runbook.dns.as_ref()?.ttl_lead_time;
    let lowered = (0..index).rev().find(|&i| {
        state
            .spec(&state.steps[i].id)
            .is_some_and(|s| matches!(s.action, Action::DnsLowerTtl(_)))
    })?;
    let step = &state.steps[lowered];
    if !step.status.is_done() {
        return None;
    }
    let at = step.finished_at?;
    let old_ttl = match &step.intent {
        Some(Intent::Dns(d)) => d.records.iter().filter_map(|r| r.old_ttl).max().unwrap_or(0),
        _ => 0,
    };
    let real = lead.max(std::time::Duration::from_secs(u64::from(old_ttl)));
    let wait = state.scaled("ttl-lead", Some(&state.steps[index].id), real);
    Some((
        later(at, wait),
        TimeGate::TtlLead {
            step: step.id.clone(),
            old_ttl_secs: u64::from(old_ttl),
            lead_secs: lead.as_secs(),
            rehearsal_ms: (wait != real).then_some(wait.as_millis() as u64),
        },
    ))
}

/// The drain before a scale to zero: from the last `dns.revert` before it that moved
/// records back, for the flip's TTL (or the step's `drain`), unless the operator ended it.
pub fn drain_gate(state: &RunState, index: usize) -> Option<(DateTime<Utc>, TimeGate)> {
    let step = &state.steps[index];
    let Action::K8sScale(scale) = &state.spec(&step.id)?.action else {
        return None;
    };
    if scale.replicas != Some(0) || step.drain_ended.is_some() {
        return None;
    }
    // The last revert before it that is done: succeeded (DNS verified back everywhere) or
    // skipped (the operator moved on, e.g. past a secondary that lags): from then.
    let revert = (0..index).rev().map(|i| &state.steps[i]).find(|s| {
        s.status.is_done()
            && state
                .spec(&s.id)
                .is_some_and(|sp| matches!(sp.action, Action::DnsRevert(_)))
    })?;
    let reverted_at = revert.finished_at?;
    // Only after a flip that changed something: the TTL its records were given.
    let flip_ttl = state
        .steps
        .iter()
        .filter_map(|s| match &s.intent {
            Some(Intent::Dns(d)) if d.op == DnsOp::Flip && !d.records.is_empty() => {
                d.records.iter().filter_map(|r| r.ttl).max()
            }
            _ => None,
        })
        .max();
    let reverted_something = match &revert.intent {
        Some(Intent::Dns(d)) => !d.records.is_empty(),
        // Skipped before it ran: whether DNS was moved back is the operator's word.
        None => revert.status == StepStatus::Skipped && flip_ttl.is_some(),
        _ => false,
    };
    if !reverted_something {
        return None;
    }
    let revert = revert.id.clone();
    let (real, from_ttl) = match scale.drain {
        Some(crate::runbook::Drain::For(d)) => (d, false),
        Some(crate::runbook::Drain::Ttl) | None => {
            let ttl = flip_ttl.or_else(|| state.runbook.dns.as_ref().map(|d| d.cutover_ttl))?;
            (std::time::Duration::from_secs(u64::from(ttl)), true)
        }
    };
    if real.is_zero() {
        return None;
    }
    let wait = state.scaled("drain", Some(&step.id), real);
    Some((
        later(reverted_at, wait),
        TimeGate::Drain {
            revert,
            drain_secs: real.as_secs(),
            from_ttl,
            rehearsal_ms: (wait != real).then_some(wait.as_millis() as u64),
        },
    ))
}

/// `t + d`, saturating at the end of time instead of overflowing.
pub fn later(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The latest closed time gate at `now`, if any.
pub fn closed_gate(state: &RunState, index: usize, now: DateTime<Utc>) -> Option<(DateTime<Utc>, TimeGate)> {
    time_gates(state, index)
        .into_iter()
        .filter(|(t, _)| *t > now)
        .max_by_key(|(t, _)| *t)
}

/// The approval a step still needs, if any.
pub fn pending_approval(state: &RunState, index: usize) -> Option<Approval> {
    let step = &state.steps[index];
    let spec = state.spec(&step.id)?;
    if step.approved.is_some() {
        return None;
    }
    match (&spec.approve, spec.action.needs_operator()) {
        (Approval::None, true) => Some(Approval::Confirm),
        (Approval::None, false) => None,
        (a, _) => Some(a.clone()),
    }
}

pub fn situation(state: &RunState, now: DateTime<Utc>) -> Situation {
    match &state.status {
        RunStatus::Completed { .. } => return Situation::Completed,
        RunStatus::RolledBack { .. } => {
            return Situation::RolledBack {
                rca_attached: state.rca_for_current_attempt().is_some(),
            };
        }
        _ => {}
    }
    // A step still running comes first: whatever the sequence, the run waits for it.
    if let Some(running) = state.steps.iter().find(|s| s.status == StepStatus::Running) {
        return Situation::Running {
            step: running.id.clone(),
        };
    }
    let Some(index) = current(state) else {
        return match state.status {
            RunStatus::Holding { until } if until > now => Situation::Holding { until },
            _ => Situation::Ready { step: None },
        };
    };
    let step = &state.steps[index];
    let id = step.id.clone();
    match step.status {
        StepStatus::Running => Situation::Running { step: id },
        StepStatus::Failed => Situation::Failed {
            step: id,
            failure: step.failure.clone().unwrap_or_default(),
        },
        StepStatus::InDoubt => match state.spec(&id).map(|s| s.action.in_doubt_policy()) {
            Some(InDoubtPolicy::Rerun) => Situation::Ready { step: Some(id) },
            _ => Situation::InDoubt { step: id },
        },
        StepStatus::Pending => {
            if let Some((until, gate)) = closed_gate(state, index, now) {
                return Situation::Gate { step: id, until, gate };
            }
            match pending_approval(state, index) {
                Some(approval) => Situation::Approval {
                    note_required: matches!(state.spec(&id).map(|s| &s.action), Some(Action::Manual(m)) if m.note_required),
                    step: id,
                    approval,
                },
                None => Situation::Ready { step: Some(id) },
            }
        }
        StepStatus::Succeeded | StepStatus::Skipped => Situation::Ready { step: None },
    }
}

/// The failed step whose failure rolls the run back, while that rollback has not started.
/// It is derived from the state, so a session that ended between the failure and the
/// rollback (they are recorded one after the other, each by whoever did it) leaves the
/// rollback to the next one.
pub fn rollback_due(state: &RunState) -> Option<&StepState> {
    if !matches!(state.status, RunStatus::Active | RunStatus::Holding { .. }) {
        return None;
    }
    let step = &state.steps[current(state)?];
    let failure = step.failure.as_ref().filter(|_| step.status == StepStatus::Failed)?;
    let rolls_back = match failure.action {
        FailureAction::AsConfigured => state
            .spec(&step.id)
            .is_some_and(|s| s.on_failure == OnFailure::Rollback),
        FailureAction::RollBack => true,
        FailureAction::Decide => false,
    };
    rolls_back.then_some(step)
}

/// What the runner should start now.
pub fn next_work(state: &RunState, now: DateTime<Utc>) -> Vec<Work> {
    if let Some(step) = rollback_due(state) {
        return vec![Work::RollBack { step: step.id.clone() }];
    }
    match situation(state, now) {
        Situation::Ready { step: Some(step) } => {
            let in_doubt = state.step(&step).is_some_and(|s| s.status == StepStatus::InDoubt);
            vec![if in_doubt {
                Work::RetryInDoubt { step }
            } else {
                Work::RunStep { step }
            }]
        }
        Situation::Ready { step: None } if matches!(state.status, RunStatus::Holding { until } if until <= now) => {
            vec![Work::CompleteRun]
        }
        _ => Vec::new(),
    }
}
