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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{MetricSample, Mode, Recorded, RunEvent, SCHEMA_VERSION, WatchedMetric};

    fn rec(seq: u64, at: DateTime<Utc>, event: RunEvent) -> Recorded {
        Recorded {
            v: SCHEMA_VERSION,
            seq,
            at,
            by: "alice".into(),
            event,
        }
    }

    /// A watch resumed after a crash (a second `WatchStarted` with the same end) goes on
    /// from its samples: a breach before the crash and one after are two in a row, as the
    /// watch itself counts them when it decides to roll back.
    #[test]
    fn a_run_of_breaches_spans_a_resumed_watch() {
        let text = "[runbook]\nname = \"s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"watch\"\n  kind = \"command\"\n  run = \"true\"\n";
        let loaded = crate::runbook::load_str(std::path::Path::new("s.toml"), text, None).unwrap();
        let t0: DateTime<Utc> = "2026-12-01T22:00:00Z".parse().unwrap();
        let until = t0 + chrono::Duration::minutes(15);
        let metric = WatchedMetric {
            name: "error_rate".into(),
            baseline: 0.002,
            bound: 0.003,
            rule: "baseline + 0.1 pp".into(),
            unit: "ratio".into(),
        };
        let started = |seq, at| {
            rec(
                seq,
                at,
                RunEvent::WatchStarted {
                    step: "watch".into(),
                    until,
                    metrics: vec![metric.clone()],
                },
            )
        };
        let breach = |seq, at| {
            rec(
                seq,
                at,
                RunEvent::WatchSampled {
                    step: "watch".into(),
                    samples: vec![MetricSample {
                        at: None,
                        metric: "error_rate".into(),
                        value: Some(0.005),
                        bound: 0.003,
                        verdict: Verdict::Breach,
                        reason: "0.5 % > bound 0.3 %".into(),
                    }],
                },
            )
        };
        let s = chrono::Duration::seconds;
        let records = vec![
            rec(
                1,
                t0,
                RunEvent::RunStarted {
                    run_id: "s.default.1".into(),
                    mode: Mode::Live,
                    runbook: loaded.runbook.clone(),
                    digest: loaded.digest.clone(),
                    source: "s.toml".into(),
                    rehearsal: None,
                    dry_run: false,
                },
            ),
            started(2, t0),
            breach(3, t0 + s(10)),
            // The process died; the resumed try starts the same watch again.
            started(4, t0 + s(60)),
            breach(5, t0 + s(70)),
        ];
        let state = RunState::replay(&records).unwrap();
        let watch = state.steps[0].watch.as_ref().unwrap();
        assert_eq!(watch.samples.len(), 2);
        assert_eq!(watch.started_at, t0, "the watch began with its first try");
        let runs = streaks(watch);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].in_a_row, 2);
        assert_eq!(runs[0].since, t0 + s(10));
    }
}
