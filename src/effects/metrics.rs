//! The `metrics.*` steps: the baseline before the flip, and the watch after it — every
//! sample journaled with its value, bound and verdict; no data is inconclusive, never
//! healthy; a breach held for `consecutive` samples ends the watch (and, by default, rolls
//! back); a watch resumed after a crash backfills the gap from history and ends when it
//! was meant to.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::stopped;
use crate::dns::pause;
use crate::engine::{
    Failure, FailureAction, Intent, MetricSample, MetricsOp, Outcome, Progress, RunState, StepStatus, Verdict,
    WatchedMetric,
};
use crate::metrics::{MetricsError, Prometheus};

/// The Prometheus client's error, as a step's failure.
impl From<MetricsError> for Failure {
    fn from(e: MetricsError) -> Self {
        Failure {
            message: e.message,
            advice: e.advice,
            ..Failure::default()
        }
    }
}
use crate::outside::Reporter;
use crate::runbook::describe::bound_rule;
use crate::runbook::duration::format as dur;
use crate::runbook::steps::MetricsStep;
use crate::runbook::{Increase, MetricQuery, MetricsConfig, OnBreach, Step};
use crate::words::{show_pair, show_value as show};

pub struct MetricsJob {
    pub config: MetricsConfig,
    pub prometheus: Prometheus,
    pub kind: Kind,
}

pub enum Kind {
    Baseline {
        window: Duration,
        end: Option<DateTime<Utc>>,
    },
    Watch {
        metrics: Vec<WatchedMetric>,
        until: DateTime<Utc>,
        /// The last sample of an earlier try: the gap after it is backfilled from history.
        resume_after: Option<DateTime<Utc>>,
        /// Breaches in a row per metric at the end of the earlier tries.
        breaches: BTreeMap<String, u32>,
        /// The samples the earlier tries took, and how many of the last ones in a row had
        /// no usable data: a watch whose samples were all taken before a crash is complete.
        samples: u32,
        inconclusive: u32,
    },
}

/// The output variable that holds a metric's baseline.
fn baseline_var(name: &str) -> String {
    format!("baseline_{name}")
}

pub fn prepare(
    metrics_step: MetricsStep<'_>,
    step: &Step,
    run: &RunState,
    now: DateTime<Utc>,
) -> Result<(Intent, MetricsJob), Failure> {
    let Some(config) = run.runbook.metrics.clone() else {
        return Err(Failure::new("this runbook has no [metrics] section")
            .advise("add [metrics] with the Prometheus URL and the queries"));
    };
    let prometheus = Prometheus::new(&config).map_err(|e| Failure {
        action: FailureAction::Decide,
        ..Failure::from(e)
    })?;
    let queries: Vec<String> = config
        .queries
        .iter()
        .map(|q| format!("{}: {}", q.name, q.query))
        .collect();
    let (kind, intent) = match metrics_step {
        MetricsStep::Baseline(b) => {
            let window = b.window.unwrap_or(config.baseline);
            (
                Kind::Baseline { window, end: b.end },
                Intent::Metrics {
                    op: MetricsOp::Baseline,
                    source: config.prometheus.clone(),
                    queries,
                    until: None,
                },
            )
        }
        MetricsStep::Watch(w) => {
            // A watch that cannot be set up after the flip must not roll back by itself.
            let metrics = watched(&config, run).map_err(|f| Failure {
                action: FailureAction::Decide,
                ..f
            })?;
            // A dry run checks the queries and bounds with one sample; it does not watch.
            let length = if run.dry_run {
                config.interval
            } else {
                run.scaled("watch", Some(&step.id), w.duration.unwrap_or(config.watch))
            };
            let state = run.step(&step.id);
            // An earlier try of this step (cut off, or failed and retried) keeps its end: the
            // watch is measured from history up to now. Its end is in the journaled intent,
            // even if the try died before it took a sample.
            let earlier_until = state.and_then(|s| match &s.intent {
                Some(Intent::Metrics { until: Some(u), .. }) => Some(*u),
                _ => None,
            });
            let until = earlier_until.unwrap_or_else(|| crate::engine::later(now, length));
            let earlier = state.and_then(|s| s.watch.as_ref());
            let resume_after = earlier_until.map(|u| {
                earlier
                    .and_then(|w| w.samples.last().map(|(at, _)| *at))
                    .unwrap_or_else(|| u - chrono::Duration::from_std(length).unwrap_or_default())
            });
            let mut breaches = BTreeMap::new();
            let (mut samples, mut inconclusive) = (0, 0);
            for (_, set) in earlier.map(|w| w.samples.as_slice()).unwrap_or_default() {
                samples += 1;
                if set.iter().any(|s| s.verdict == Verdict::Inconclusive) {
                    inconclusive += 1;
                } else {
                    inconclusive = 0;
                }
                for s in set {
                    let n: &mut u32 = breaches.entry(s.metric.clone()).or_default();
                    match s.verdict {
                        Verdict::Breach => *n += 1,
                        Verdict::Within => *n = 0,
                        Verdict::Inconclusive => {}
                    }
                }
            }
            (
                Kind::Watch {
                    metrics,
                    until,
                    resume_after,
                    breaches,
                    samples,
                    inconclusive,
                },
                Intent::Metrics {
                    op: MetricsOp::Watch,
                    source: config.prometheus.clone(),
                    queries,
                    until: Some(until),
                },
            )
        }
    };
    Ok((
        intent,
        MetricsJob {
            config,
            prometheus,
            kind,
        },
    ))
}

/// Each metric with its baseline (from the last baseline step) and bound.
fn watched(config: &MetricsConfig, run: &RunState) -> Result<Vec<WatchedMetric>, Failure> {
    let baseline_outputs = run
        .steps
        .iter()
        .rev()
        .filter(|s| s.status == StepStatus::Succeeded)
        .filter(|s| matches!(&s.intent, Some(Intent::Metrics { op, .. }) if *op == MetricsOp::Baseline))
        .find_map(|s| s.outcome.as_ref().map(|o| &o.outputs));
    let Some(outputs) = baseline_outputs else {
        return Err(Failure::new(
            "no baseline: the watch compares against a metrics.baseline step, and none has succeeded in this run"
                .to_string(),
        )
        .advise("add a metrics.baseline step before the flip (the window before the cutover)"));
    };
    config
        .queries
        .iter()
        .map(|q| {
            let baseline = outputs
                .get(&baseline_var(&q.name))
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| {
                    Failure::new(format!("the baseline step measured no `{}`", q.name))
                        .advise("run the baseline step again (retry it) now that the query is in [metrics]".to_string())
                })?;
            Ok(WatchedMetric {
                name: q.name.clone(),
                baseline,
                bound: bound(q, baseline),
                rule: bound_rule(q),
                unit: q.unit.clone(),
            })
        })
        .collect()
}

fn bound(q: &MetricQuery, baseline: f64) -> f64 {
    let relative = match q.max_increase {
        Increase::Absolute(a) => baseline + a,
        Increase::Relative(r) => baseline * (1.0 + r),
    };
    q.max.map_or(relative, |cap| relative.min(cap))
}

pub async fn execute(job: MetricsJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    match &job.kind {
        Kind::Baseline { window, end } => baseline(&job, *window, *end).await,
        Kind::Watch {
            metrics,
            until,
            resume_after,
            breaches,
            samples,
            inconclusive,
        } => {
            let streaks = Streaks {
                breaches: breaches.clone(),
                inconclusive: *inconclusive,
                samples: *samples,
            };
            watch(&job, metrics, *until, *resume_after, streaks, reporter, cancel).await
        }
    }
}

async fn baseline(job: &MetricsJob, window: Duration, end: Option<DateTime<Utc>>) -> Result<Outcome, Failure> {
    let end = end.unwrap_or_else(Utc::now);
    let start = end - chrono::Duration::from_std(window).unwrap_or_default();
    // About 240 points over the window, never finer than the scrape-friendly 1 s.
    let step = Duration::from_secs_f64((window.as_secs_f64() / 240.0).max(1.0));
    let mut outputs = BTreeMap::new();
    let mut details = Vec::new();
    let mut summary = Vec::new();
    for q in &job.config.queries {
        let points = job.prometheus.range(&q.query, start, end, step).await.map_err(|e| {
            Failure::new(format!("baseline of {}: {e}", q.name)).advise(
                "check Prometheus and the query (try it in the Prometheus UI); the step can be retried".to_string(),
            )
        })?;
        if points.is_empty() {
            return Err(Failure::new(format!(
                "no data for {} in the {} before {}: a baseline without data is not zero",
                q.name,
                dur(window),
                end.format("%H:%M:%S UTC")
            ))
            .advise(
                "check that the query returns data for that window in Prometheus (labels, job name, retention)"
                    .to_string(),
            ));
        }
        let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
        if let Some(cap) = q.max.filter(|cap| mean >= *cap) {
            let (mean, cap) = show_pair(mean, cap, &q.unit);
            return Err(Failure::new(format!(
                "{}'s baseline {mean} is already at or over its cap {cap}: every sample after the flip would breach",
                q.name,
            ))
            .advise(
                "raise the cap in [metrics], or find out why the service is already this bad before the cutover"
                    .to_string(),
            ));
        }
        let (lo, hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        outputs.insert(baseline_var(&q.name), format!("{mean}"));
        summary.push(format!("{} {}", q.name, show(mean, &q.unit)));
        details.push(format!(
            "{}: mean of {} points, {} apart, from {} to {} (min {}, max {}); bound {}",
            q.name,
            points.len(),
            dur(step),
            start.format("%H:%M:%S"),
            end.format("%H:%M:%S UTC"),
            show(lo, &q.unit),
            show(hi, &q.unit),
            show(bound(q, mean), &q.unit)
        ));
    }
    Ok(Outcome {
        summary: format!("baseline over {}: {}", dur(window), summary.join(", ")),
        details,
        outputs,
        ..Outcome::default()
    })
}

/// Streaks across samples: breaches per metric, and samples without usable data.
#[derive(Default)]
struct Streaks {
    breaches: BTreeMap<String, u32>,
    inconclusive: u32,
    samples: u32,
}

impl Streaks {
    /// Takes in one sample set; returns the failure it leads to, if any.
    fn take(&mut self, samples: &[MetricSample], config: &MetricsConfig, at: DateTime<Utc>) -> Option<Failure> {
        self.samples += 1;
        if samples.iter().any(|s| s.verdict == Verdict::Inconclusive) {
            self.inconclusive += 1;
        } else {
            self.inconclusive = 0;
        }
        for s in samples {
            // Only a sample within the bound ends a run of breaches: one without data does not.
            let n = self.breaches.entry(s.metric.clone()).or_default();
            match s.verdict {
                Verdict::Breach => *n += 1,
                Verdict::Within => *n = 0,
                Verdict::Inconclusive => {}
            }
            if *n >= config.consecutive {
                return Some(Failure {
                    message: format!(
                        "{} breached its bound at {}: {} ({} sample(s) in a row)",
                        s.metric,
                        at.format("%H:%M:%S UTC"),
                        s.reason,
                        n
                    ),
                    advice: Some(match config.on_breach {
                        OnBreach::Rollback => "the rollback runs at once (on_breach = \"rollback\")".to_string(),
                        OnBreach::Ask => "decide: roll back (r), or retry the watch if you know why".to_string(),
                    }),
                    action: match config.on_breach {
                        OnBreach::Rollback => FailureAction::RollBack,
                        OnBreach::Ask => FailureAction::Decide,
                    },
                    ..Failure::default()
                });
            }
        }
        if self.inconclusive >= config.inconclusive {
            let why: Vec<String> = samples
                .iter()
                .filter(|s| s.verdict == Verdict::Inconclusive)
                .map(|s| format!("{}: {}", s.metric, s.reason))
                .collect();
            return Some(Failure::new(format!(
                    "no usable data for {} samples in a row ({}): the watch cannot call this healthy",
                    self.inconclusive,
                    why.join("; ")
                )).advise("check Prometheus; then retry the watch (it backfills what it missed and ends when it was meant to) or roll back"
                        .to_string(),).decide());
        }
        None
    }
}

fn judge(metric: &WatchedMetric, value: Result<Option<f64>, MetricsError>, at: Option<DateTime<Utc>>) -> MetricSample {
    let unit = &metric.unit;
    let (value, verdict, reason) = match value {
        Err(e) => (None, Verdict::Inconclusive, e.message),
        Ok(None) => (None, Verdict::Inconclusive, "no data".to_string()),
        Ok(Some(v)) if v > metric.bound => {
            let (value, bound) = show_pair(v, metric.bound, unit);
            (
                Some(v),
                Verdict::Breach,
                format!(
                    "{value} > bound {bound} ({}, baseline {})",
                    metric.rule,
                    show(metric.baseline, unit)
                ),
            )
        }
        Ok(Some(v)) => {
            let (value, bound) = show_pair(v, metric.bound, unit);
            (Some(v), Verdict::Within, format!("{value} ≤ bound {bound}"))
        }
    };
    MetricSample {
        at,
        metric: metric.name.clone(),
        value,
        bound: metric.bound,
        verdict,
        reason,
    }
}

/// Every metric's value now, asked concurrently; `None` when the watch was stopped.
async fn sample_now(
    job: &MetricsJob,
    metrics: &[WatchedMetric],
    cancel: &CancellationToken,
) -> Option<Vec<MetricSample>> {
    let now = Utc::now();
    let asks = metrics.iter().map(|m| async move {
        let query = job
            .config
            .queries
            .iter()
            .find(|q| q.name == m.name)
            .map(|q| q.query.as_str());
        let value = job.prometheus.instant(query.unwrap_or_default(), Some(now)).await;
        judge(m, value, Some(now))
    });
    tokio::select! {
        samples = futures_util::future::join_all(asks) => Some(samples),
        () = cancel.cancelled() => None,
    }
}

/// The samples the watch would have taken between `start` and `end`, from history: one
/// per interval, every metric judged; a metric without a point there (or a history that
/// cannot be read) is inconclusive, never skipped.
async fn from_history(
    job: &MetricsJob,
    metrics: &[WatchedMetric],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    cancel: &CancellationToken,
) -> Option<Vec<Vec<MetricSample>>> {
    let interval = chrono::Duration::from_std(job.config.interval).unwrap_or_default();
    let mut grid = Vec::new();
    let mut t = start;
    while t <= end && interval > chrono::Duration::zero() {
        grid.push(t);
        t += interval;
    }
    if grid.is_empty() {
        return Some(Vec::new());
    }
    let mut series = Vec::new();
    for m in metrics {
        let query = job
            .config
            .queries
            .iter()
            .find(|q| q.name == m.name)
            .map(|q| q.query.as_str());
        let points = tokio::select! {
            p = job.prometheus.range(query.unwrap_or_default(), start, end, job.config.interval) => p,
            () = cancel.cancelled() => return None,
        };
        series.push(points);
    }
    let half = interval / 2;
    let sets = grid
        .into_iter()
        .map(|at| {
            metrics
                .iter()
                .zip(&series)
                .map(|(m, points)| {
                    let value = match points {
                        Err(e) => Err(e.clone()),
                        Ok(points) => Ok(points.iter().find(|(p, _)| (*p - at).abs() <= half).map(|(_, v)| *v)),
                    };
                    let mut sample = judge(m, value, Some(at));
                    sample.reason = format!("{} (backfilled from history)", sample.reason);
                    sample
                })
                .collect()
        })
        .collect();
    Some(sets)
}

async fn watch(
    job: &MetricsJob,
    metrics: &[WatchedMetric],
    until: DateTime<Utc>,
    resume_after: Option<DateTime<Utc>>,
    mut streaks: Streaks,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let config = &job.config;
    reporter.report(Progress::WatchStarted {
        until,
        metrics: metrics.to_vec(),
    });
    let interval = chrono::Duration::from_std(config.interval).unwrap_or_default();
    // Live samples are taken on a fixed grid from now: a slow Prometheus does not stretch it.
    let first_live = Utc::now();
    let mut backfilled = 0;
    // The gap since the last sample of the cut-off try, from history: a breach in it counts.
    if let Some(after) = resume_after {
        let end = (first_live - interval / 2).min(until);
        let Some(sets) = from_history(job, metrics, after + interval, end, cancel).await else {
            return Err(stopped());
        };
        for samples in sets {
            backfilled += 1;
            let at = samples.first().and_then(|s| s.at).unwrap_or(first_live);
            reporter.report(Progress::WatchSampled {
                samples: samples.clone(),
            });
            if let Some(f) = streaks.take(&samples, config, at) {
                return Err(f);
            }
        }
    }
    let mut next = first_live;
    while next < until {
        let Some(samples) = sample_now(job, metrics, cancel).await else {
            return Err(stopped());
        };
        reporter.report(Progress::WatchSampled {
            samples: samples.clone(),
        });
        let at = samples.first().and_then(|s| s.at).unwrap_or(next);
        if let Some(f) = streaks.take(&samples, config, at) {
            return Err(f);
        }
        next += interval;
        let wait = (next.min(until) - Utc::now()).to_std().unwrap_or_default();
        if !wait.is_zero() && !pause(wait, cancel).await {
            return Err(stopped());
        }
    }
    if streaks.samples == 0 {
        return Err(Failure::new(
            "the watch took no sample (its end had passed and history had nothing for it): it cannot call this healthy"
                .to_string(),
        )
        .advise("check Prometheus and decide: roll back, or skip the watch with a reason")
        .decide());
    }
    if streaks.inconclusive > 0 {
        return Err(Failure::new(format!(
            "the watch ended with {} sample(s) in a row without usable data: it cannot call this healthy",
            streaks.inconclusive
        ))
        .advise("check Prometheus, then retry the watch or roll back")
        .decide());
    }
    let mut details = vec![format!(
        "{} sample(s) every {}{}",
        streaks.samples,
        dur(config.interval),
        if backfilled > 0 {
            format!(", {backfilled} of them backfilled from history after an interruption")
        } else {
            String::new()
        }
    )];
    if let Some(d) = &config.dashboard {
        details.push(format!("dashboard: {d}"));
    }
    Ok(Outcome {
        summary: format!(
            "every bound held until {}: {}",
            until.format("%H:%M:%S UTC"),
            metrics
                .iter()
                .map(|m| format!("{} ≤ {}", m.name, show(m.bound, &m.unit)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        details,
        ..Outcome::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::metrics::DEFAULT_QUERY_TIMEOUT;

    fn config(consecutive: u32, inconclusive: u32) -> MetricsConfig {
        MetricsConfig {
            prometheus: "http://127.0.0.1:9".into(),
            bearer_token_env: None,
            basic_auth: None,
            headers: BTreeMap::new(),
            headers_env: BTreeMap::new(),
            queries: Vec::new(),
            baseline: Duration::from_secs(60),
            watch: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            consecutive,
            inconclusive,
            on_breach: OnBreach::Rollback,
            dashboard: None,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            new_side_rate: None,
        }
    }

    fn sample(verdict: Verdict) -> Vec<MetricSample> {
        vec![MetricSample {
            at: None,
            metric: "error_rate".into(),
            value: None,
            bound: 0.01,
            verdict,
            reason: "r".into(),
        }]
    }

    #[test]
    fn a_sample_without_data_does_not_end_a_run_of_breaches() {
        let c = config(2, 5);
        let mut s = Streaks::default();
        let at = Utc::now();
        assert!(s.take(&sample(Verdict::Breach), &c, at).is_none());
        assert!(s.take(&sample(Verdict::Inconclusive), &c, at).is_none());
        let f = s.take(&sample(Verdict::Breach), &c, at).expect("two breaches in a row");
        assert_eq!(f.action, FailureAction::RollBack);
        // A sample within the bound does end it.
        let mut s = Streaks::default();
        assert!(s.take(&sample(Verdict::Breach), &c, at).is_none());
        assert!(s.take(&sample(Verdict::Within), &c, at).is_none());
        assert!(s.take(&sample(Verdict::Breach), &c, at).is_none());
    }

    #[test]
    fn samples_without_data_stop_for_a_decision_never_a_rollback() {
        let c = config(2, 3);
        let mut s = Streaks::default();
        let at = Utc::now();
        assert!(s.take(&sample(Verdict::Inconclusive), &c, at).is_none());
        assert!(s.take(&sample(Verdict::Inconclusive), &c, at).is_none());
        let f = s.take(&sample(Verdict::Inconclusive), &c, at).expect("three in a row");
        assert_eq!(f.action, FailureAction::Decide);
        assert!(f.message.contains("cannot call this healthy"), "{}", f.message);
    }
}
