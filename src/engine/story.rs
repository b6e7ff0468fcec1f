//! What happened in a run, as facts the screens tell: when DNS flipped, which metrics
//! are breaching and how many samples in a row, what broke the watch that rolled the
//! run back. Read from the state alone, so the cockpit, a watcher and the export agree.

use chrono::{DateTime, Utc};

use super::{RollbackTrigger, RunState, StepStatus, Verdict, Watch, WatchedMetric};
use crate::runbook::Kind;

/// When DNS was flipped in this attempt: the start of the `dns.flip` step that succeeded
/// (or is still running), if any.
pub fn flip_at(state: &RunState) -> Option<DateTime<Utc>> {
    state.steps[..state.forward_count()]
        .iter()
        .filter(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Running))
        .find(|s| {
            state
                .spec(&s.id)
                .is_some_and(|spec| spec.action.kind() == Kind::DnsFlip)
        })
        .and_then(|s| s.started_at)
}

/// One metric's run of breaching samples, counted back from the latest sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Streak<'a> {
    pub metric: &'a WatchedMetric,
    /// Breaching samples in a row, the latest included.
    pub in_a_row: u32,
    /// The latest value (None when the sample had no data).
    pub value: Option<f64>,
    /// When the streak began: its first breaching sample.
    pub since: DateTime<Utc>,
    /// The latest breaching sample.
    pub at: DateTime<Utc>,
}

/// Every metric in a run of breaches, counted as the watch counts it: a sample within the
/// bound ends a run, one without data (inconclusive) neither ends nor lengthens it.
pub fn streaks(watch: &Watch) -> Vec<Streak<'_>> {
    watch
        .metrics
        .iter()
        .filter_map(|m| {
            let mut in_a_row = 0;
            let mut since = None;
            let mut latest = None;
            for (at, samples) in watch.samples.iter().rev() {
                let Some(s) = samples.iter().find(|s| s.metric == m.name) else {
                    continue;
                };
                match s.verdict {
                    Verdict::Within => break,
                    Verdict::Inconclusive => continue,
                    Verdict::Breach => {}
                }
                in_a_row += 1;
                let when = s.at.unwrap_or(*at);
                since = Some(when);
                latest.get_or_insert((when, s.value));
            }
            let (at, value) = latest?;
            Some(Streak {
                metric: m,
                in_a_row,
                value,
                since: since.unwrap_or(at),
                at,
            })
        })
        .collect()
}

/// When the watch takes its next sample: the latest one plus the spacing the samples
/// have kept (a rehearsal compresses it), or the runbook's interval before there are two.
pub fn next_sample_at(state: &RunState, watch: &Watch) -> Option<DateTime<Utc>> {
    let mut times = watch.samples.iter().rev().map(|(at, _)| *at);
    let last = times.next()?;
    let spacing = match times.next() {
        Some(before) if last > before => last - before,
        _ => {
            let interval = state.runbook.metrics.as_ref()?.interval;
            chrono::Duration::from_std(interval).ok()?
        }
    };
    Some(last + spacing)
}

/// What started the rollback of this attempt, and the step whose failure did (if one did).
pub fn rollback_cause(state: &RunState) -> Option<(&RollbackTrigger, Option<usize>)> {
    let trigger = &state.rollbacks.iter().rev().find(|r| r.attempt == state.attempt)?.value;
    let step = match trigger {
        RollbackTrigger::StepFailed { step, .. } => state.index(step),
        RollbackTrigger::Operator { .. } => None,
    };
    Some((trigger, step))
}

/// The watch that was running or failed when the run rolled back, with its step index:
/// the failed step's own, or (an operator's rollback during the watch) the watch that
/// was cut short.
pub fn rolled_back_watch(state: &RunState) -> Option<(usize, &Watch)> {
    let (_, step) = rollback_cause(state)?;
    let forward = state.forward_count();
    step.into_iter()
        .chain((0..forward).rev())
        .find_map(|i| state.steps[i].watch.as_ref().map(|w| (i, w)))
}
