//! The state of a run, rebuilt by applying its events in order. `apply` is the only
//! way it changes, and it is pure: the same events always give the same state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::{
    DnsOp, Failure, Incident, Intent, MetricSample, Mode, NameserverAnswer, ObjectCheck, Outcome, ProcessRef, Recorded,
    Rehearsal, Resolution, RollbackTrigger, RunEvent, WatchedMetric,
};
use crate::runbook::{Runbook, Step};

/// Version of the snapshot format; a snapshot of another version is ignored and the
/// state is rebuilt from the events.
pub const STATE_VERSION: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    /// A side effect was started and the process stopped before its outcome was recorded.
    InDoubt,
}

impl RunStatus {
    pub fn word(&self) -> &'static str {
        match self {
            RunStatus::Active => "active",
            RunStatus::Holding { .. } => "holding",
            RunStatus::RollingBack => "rolling back",
            RunStatus::RolledBack { .. } => "rolled back",
            RunStatus::Completed { .. } => "completed",
        }
    }
}

impl StepStatus {
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Skipped)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    Active,
    /// Every step is done; stable operation must last until `until`.
    Holding {
        until: DateTime<Utc>,
    },
    RollingBack,
    RolledBack {
        at: DateTime<Utc>,
    },
    Completed {
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approved {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    pub id: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Approved>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How many times the step was started in this attempt.
    pub tries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Why it was skipped, or how an in-doubt state was resolved, and by whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<String>,
    /// The metrics watch of this step, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    /// The latest answer of each nameserver for each record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<NameserverAnswer>,
    /// The latest result of each check of each Kubernetes object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectCheck>,
    /// The process group this try started, if it started one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessRef>,
    /// Who ended this step's drain early, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_ended: Option<(String, DateTime<Utc>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watch {
    pub started_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub metrics: Vec<WatchedMetric>,
    /// Every sample, oldest first.
    pub samples: Vec<(DateTime<Utc>, Vec<MetricSample>)>,
}

impl StepState {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            status: StepStatus::Pending,
            approved: None,
            started_at: None,
            finished_at: None,
            tries: 0,
            intent: None,
            outcome: None,
            failure: None,
            decided: None,
            watch: None,
            answers: Vec::new(),
            drain_ended: None,
            objects: Vec::new(),
            process: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub at: DateTime<Utc>,
    pub by: String,
    pub attempt: u32,
    pub value: T,
}

/// A record's TTL before `dns.lower_ttl` changed it, and the TTL it set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoweredTtl {
    pub before: u32,
    pub lowered: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub opened_at: DateTime<Utc>,
    pub by: String,
    pub pid: u32,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub mode: Mode,
    /// A rehearsal's time compression and approvals (None for a live run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Rehearsal>,
    /// Nothing is changed anywhere: mutating steps only say what they would send.
    #[serde(default)]
    pub dry_run: bool,
    pub runbook: Runbook,
    pub digest: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub attempt: u32,
    /// When the current attempt began (the run's start, or `AttemptStarted`).
    pub attempt_started_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Forward steps in run order, then the rollback steps.
    pub steps: Vec<StepState>,
    /// Values captured by steps in this attempt.
    pub outputs: BTreeMap<String, String>,
    pub incidents: Vec<Entry<Incident>>,
    pub rollbacks: Vec<Entry<RollbackTrigger>>,
    pub rcas: Vec<Entry<String>>,
    pub sessions: Vec<Session>,
    /// Each DNS record's TTL from before this run lowered it, and what it was lowered to.
    /// Kept across attempts (a rollback need not restore the TTL, and the next attempt's
    /// `dns.lower_ttl` then finds it already low); forgotten once `dns.restore_ttl` put it back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lowered_ttls: BTreeMap<String, LoweredTtl>,
    pub last_seq: u64,
    pub updated_at: DateTime<Utc>,
}

impl RunState {
    /// The length this run uses for a timed gate: none in a dry run, a rehearsal's
    /// compressed or overridden one, or the real one.
    pub fn scaled(&self, gate: &str, step: Option<&str>, real: std::time::Duration) -> std::time::Duration {
        if self.dry_run {
            return std::time::Duration::ZERO;
        }
        match &self.rehearsal {
            Some(r) => r.scaled(gate, step, real),
            None => real,
        }
    }

    /// The state after the first event of a run, which must be `RunStarted`.
    pub fn start(first: &Recorded) -> Option<Self> {
        let RunEvent::RunStarted {
            run_id,
            mode,
            runbook,
            digest,
            source,
            rehearsal,
            dry_run,
        } = &first.event
        else {
            return None;
        };
        Some(Self {
            run_id: run_id.clone(),
            mode: *mode,
            // Only a rehearsal compresses time or approves by itself.
            rehearsal: rehearsal.clone().filter(|_| *mode == Mode::Rehearsal),
            dry_run: *dry_run,
            steps: step_states(runbook, &[]),
            runbook: runbook.clone(),
            digest: digest.clone(),
            source: source.clone(),
            created_at: first.at,
            attempt: 1,
            attempt_started_at: first.at,
            status: RunStatus::Active,
            outputs: BTreeMap::new(),
            incidents: Vec::new(),
            rollbacks: Vec::new(),
            rcas: Vec::new(),
            sessions: Vec::new(),
            lowered_ttls: BTreeMap::new(),
            last_seq: first.seq,
            updated_at: first.at,
        })
    }

    /// Rebuilds a state from a complete event sequence.
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a Recorded>) -> Option<Self> {
        let mut iter = records.into_iter();
        let mut state = Self::start(iter.next()?)?;
        for rec in iter {
            state.apply(rec);
        }
        Some(state)
    }

    /// This state with another runbook: steps that exist in both keep their state.
    pub fn with_runbook(&self, runbook: &Runbook, digest: &str, source: &str) -> Self {
        Self {
            steps: step_states(runbook, &self.steps),
            runbook: runbook.clone(),
            digest: digest.to_string(),
            source: source.to_string(),
            ..self.clone()
        }
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.id == id)
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut StepState> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// The runbook definition of a step.
    pub fn spec(&self, id: &str) -> Option<&Step> {
        self.runbook.step(id)
    }

    pub fn forward_count(&self) -> usize {
        self.runbook.phases.iter().map(|p| p.steps.len()).sum()
    }

    pub fn is_rollback_step(&self, index: usize) -> bool {
        index >= self.forward_count()
    }

    /// The most recent root-cause analysis for the current attempt.
    pub fn rca_for_current_attempt(&self) -> Option<&Entry<String>> {
        self.rcas.iter().rev().find(|r| r.attempt == self.attempt)
    }

    fn entry<T>(&self, rec: &Recorded, value: T) -> Entry<T> {
        Entry {
            at: rec.at,
            by: rec.by.clone(),
            attempt: self.attempt,
            value,
        }
    }

    /// A `dns.restore_ttl` step that succeeded put the TTLs it names back: nothing lowered
    /// is left to remember for them.
    fn forget_restored_ttls(&mut self, step: &str) {
        if let Some(Intent::Dns(d)) = self.step(step).and_then(|s| s.intent.as_ref())
            && d.op == DnsOp::RestoreTtl
        {
            let names: Vec<String> = d.records.iter().map(|r| r.name.clone()).collect();
            for name in names {
                self.lowered_ttls.remove(&name);
            }
        }
    }

    /// Applies one event. Events were checked by `decide` before they were recorded, so
    /// an event that no longer fits (e.g. a step removed by a runbook reload) is ignored.
    pub fn apply(&mut self, rec: &Recorded) {
        self.last_seq = rec.seq;
        self.updated_at = rec.at;
        let at = rec.at;
        match &rec.event {
            RunEvent::RunStarted { .. } => {}
            RunEvent::SessionOpened { pid, host, .. } => {
                // Whoever held the run before is gone: what it had started is in doubt.
                for step in &mut self.steps {
                    if step.status == StepStatus::Running {
                        step.status = StepStatus::InDoubt;
                    }
                }
                if let Some(open) = self.sessions.last_mut().filter(|s| s.closed.is_none()) {
                    open.closed = Some((at, "ended without closing (crash or kill)".to_string()));
                }
                self.sessions.push(Session {
                    opened_at: at,
                    by: rec.by.clone(),
                    pid: *pid,
                    host: host.clone(),
                    closed: None,
                });
            }
            RunEvent::SessionClosed { reason } => {
                if let Some(open) = self.sessions.last_mut().filter(|s| s.closed.is_none()) {
                    open.closed = Some((at, reason.clone()));
                }
            }
            RunEvent::RunbookReloaded {
                runbook,
                digest,
                source,
            } => {
                *self = self.with_runbook(runbook, digest, source);
            }
            RunEvent::StepApproved { step, note, .. } => {
                if let Some(s) = self.step_mut(step) {
                    s.approved = Some(Approved {
                        by: rec.by.clone(),
                        at,
                        note: note.clone(),
                    });
                }
            }
            RunEvent::StepStarted { step, intent } => {
                if let Intent::Dns(d) = intent
                    && d.op == DnsOp::LowerTtl
                {
                    for r in &d.records {
                        if let (Some(before), Some(lowered)) = (r.old_ttl, r.ttl) {
                            self.lowered_ttls.insert(r.name.clone(), LoweredTtl { before, lowered });
                        }
                    }
                }
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Running;
                    s.started_at = Some(at);
                    s.finished_at = None;
                    s.tries += 1;
                    s.intent = Some(intent.clone());
                    s.failure = None;
                    // What a previous try measured is not this try's.
                    s.watch = None;
                    s.answers.clear();
                    s.objects.clear();
                    s.process = None;
                }
            }
            RunEvent::StepSucceeded { step, outcome } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Succeeded;
                    s.finished_at = Some(at);
                    s.outcome = Some(outcome.clone());
                    s.failure = None;
                }
                self.outputs.extend(outcome.outputs.clone());
                self.forget_restored_ttls(step);
            }
            RunEvent::StepFailed { step, failure } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Failed;
                    s.finished_at = Some(at);
                    s.failure = Some(failure.clone());
                }
            }
            RunEvent::StepSkipped { step, reason } => {
                let by = rec.by.clone();
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Skipped;
                    s.finished_at = Some(at);
                    s.decided = Some(format!("skipped by {by}: {reason}"));
                }
            }
            RunEvent::StepRetried { step } => {
                if let Some(s) = self.step_mut(step) {
                    s.status = StepStatus::Pending;
                    s.finished_at = None;
                    // An approval is for one try: the operator confirms again.
                    s.approved = None;
                }
            }
            RunEvent::InDoubtResolved { step, resolution, note } => {
                let by = rec.by.clone();
                if let Some(s) = self.step_mut(step) {
                    let said = note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
                    match resolution {
                        Resolution::Retry => {
                            s.status = StepStatus::Pending;
                            s.approved = None;
                            s.decided = Some(format!("in doubt; {by} chose to run it again{said}"));
                        }
                        Resolution::Succeeded => {
                            s.status = StepStatus::Succeeded;
                            s.finished_at = Some(at);
                            s.decided = Some(format!("in doubt; {by} marked it succeeded{said}"));
                            s.outcome = Some(Outcome {
                                summary: format!("marked succeeded by {by}"),
                                ..Outcome::default()
                            });
                        }
                        Resolution::Failed => {
                            s.status = StepStatus::Failed;
                            s.finished_at = Some(at);
                            s.decided = Some(format!("in doubt; {by} marked it failed{said}"));
                            s.failure = Some(Failure::new(format!(
                                "marked failed by {by} after a crash left it in doubt"
                            )));
                        }
                    }
                }
                if *resolution == Resolution::Succeeded {
                    self.forget_restored_ttls(step);
                }
            }
            // Notes and notifications are kept in the journal; no rule depends on them.
            RunEvent::NoteAdded { .. } | RunEvent::NotificationSent { .. } => {}
            RunEvent::IncidentRecorded { incident } => {
                self.incidents.push(self.entry(rec, incident.clone()));
            }
            RunEvent::RollbackStarted { trigger } => {
                self.rollbacks.push(self.entry(rec, trigger.clone()));
                self.status = RunStatus::RollingBack;
                let first = self.forward_count();
                for s in &mut self.steps[first..] {
                    *s = StepState::new(&s.id);
                }
            }
            RunEvent::RollbackCompleted => self.status = RunStatus::RolledBack { at },
            RunEvent::RcaAttached { text } => {
                self.rcas.push(self.entry(rec, text.clone()));
            }
            RunEvent::AttemptStarted { attempt } => {
                self.attempt = *attempt;
                self.attempt_started_at = at;
                self.status = RunStatus::Active;
                self.outputs.clear();
                for s in &mut self.steps {
                    *s = StepState::new(&s.id);
                }
            }
            RunEvent::WatchStarted { step, until, metrics } => {
                if let Some(s) = self.step_mut(step) {
                    match s.watch.as_mut().filter(|w| w.until == *until) {
                        // A later try of the same watch (resumed, or retried) keeps its end
                        // and goes on from the samples before it: a run of breaches spans
                        // tries, as the watch counts it.
                        Some(w) => w.metrics = metrics.clone(),
                        None => {
                            s.watch = Some(Watch {
                                started_at: at,
                                until: *until,
                                metrics: metrics.clone(),
                                samples: Vec::new(),
                            })
                        }
                    }
                }
            }
            RunEvent::WatchSampled { step, samples } => {
                if let Some(w) = self.step_mut(step).and_then(|s| s.watch.as_mut()) {
                    // A sample backfilled from history keeps the time it was measured at.
                    let measured = samples.iter().find_map(|s| s.at).unwrap_or(at);
                    w.samples.push((measured, samples.clone()));
                }
            }
            RunEvent::ProcessStarted { step, process } => {
                if let Some(s) = self.step_mut(step) {
                    s.process = Some(*process);
                }
            }
            RunEvent::NameserverAnswered { step, answer } => {
                if let Some(s) = self.step_mut(step) {
                    match s
                        .answers
                        .iter_mut()
                        .find(|a| a.server == answer.server && a.address == answer.address && a.record == answer.record)
                    {
                        Some(existing) => *existing = answer.clone(),
                        None => s.answers.push(answer.clone()),
                    }
                }
            }
            RunEvent::ObjectChecked { step, check } => {
                if let Some(s) = self.step_mut(step) {
                    match s
                        .objects
                        .iter_mut()
                        .find(|o| o.object == check.object && o.check == check.check)
                    {
                        Some(existing) => *existing = check.clone(),
                        None => s.objects.push(check.clone()),
                    }
                }
            }
            RunEvent::DrainEnded { step } => {
                let by = rec.by.clone();
                if let Some(s) = self.step_mut(step) {
                    s.drain_ended = Some((by, at));
                }
            }
            RunEvent::HoldStarted { until } => self.status = RunStatus::Holding { until: *until },
            RunEvent::RunCompleted => self.status = RunStatus::Completed { at },
        }
    }
}

/// Step states for a runbook, keeping the state of steps that already exist.
fn step_states(runbook: &Runbook, previous: &[StepState]) -> Vec<StepState> {
    runbook
        .steps()
        .map(|(_, s)| s)
        .chain(runbook.rollback.iter())
        .map(|s| {
            previous
                .iter()
                .find(|p| p.id == s.id)
                .cloned()
                .unwrap_or_else(|| StepState::new(&s.id))
        })
        .collect()
}
