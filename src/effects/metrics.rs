//! The `metrics.*` steps: the baseline before the flip, and the watch after it — every
//! sample journaled with its value, bound and verdict; no data is inconclusive, never
//! healthy; a breach held for `consecutive` samples ends the watch (and, by default, rolls
//! back); a watch resumed after a crash backfills the gap from history and ends when it
//! was meant to.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::dns::pause;
use crate::engine::{
    Failure, FailureAction, Intent, MetricSample, Outcome, Report, RunState, StepStatus, Verdict, WatchedMetric,
};
use crate::metrics::Prometheus;
use crate::runbook::describe::bound_rule;
use crate::runbook::duration::format as dur;
use crate::runbook::{Action, Increase, MetricQuery, MetricsConfig, OnBreach, Step};
use crate::runner::Reporter;
use crate::runner::lines::show_value as show;

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
    },
}

/// The output variable that holds a metric's baseline.
fn baseline_var(name: &str) -> String {
    format!("baseline_{name}")
}

pub fn prepare(step: &Step, run: &RunState, now: DateTime<Utc>) -> Result<(Intent, MetricsJob), Failure> {
    let Some(config) = run.runbook.metrics.clone() else {
        return Err(Failure {
            message: "this runbook has no [metrics] section".to_string(),
            advice: Some("add [metrics] with the Prometheus URL and the queries".to_string()),
            ..Failure::default()
        });
    };
    let prometheus = Prometheus::new(&config)?;
    let queries: Vec<String> = config
        .queries
        .iter()
        .map(|q| format!("{}: {}", q.name, q.query))
        .collect();
    let (kind, intent) = match &step.action {
        Action::MetricsBaseline(b) => {
            let window = b.window.unwrap_or(config.baseline);
            (
                Kind::Baseline { window, end: b.end },
                Intent::Metrics {
                    op: "baseline".to_string(),
                    source: config.prometheus.clone(),
                    queries,
                    until: None,
                },
            )
        }
        Action::MetricsWatch(w) => {
            let metrics = watched(&config, run)?;
            // A try that was cut off keeps its end: the watch is measured from history.
            let earlier = run.step(&step.id).and_then(|s| s.watch.as_ref());
            let until = earlier.map_or_else(
                || crate::engine::later(now, w.duration.unwrap_or(config.watch)),
                |w| w.until,
            );
            let resume_after = earlier.map(|w| w.samples.last().map_or(w.started_at, |(at, _)| *at));
            (
                Kind::Watch {
                    metrics,
                    until,
                    resume_after,
                },
                Intent::Metrics {
                    op: "watch".to_string(),
                    source: config.prometheus.clone(),
                    queries,
                    until: Some(until),
                },
            )
        }
        other => {
            return Err(Failure {
                message: format!("{} is not a metrics step", other.kind()),
                ..Failure::default()
            });
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
        .filter(|s| matches!(&s.intent, Some(Intent::Metrics { op, .. }) if op == "baseline"))
        .find_map(|s| s.outcome.as_ref().map(|o| &o.outputs));
    let Some(outputs) = baseline_outputs else {
        return Err(Failure {
            message:
                "no baseline: the watch compares against a metrics.baseline step, and none has succeeded in this run"
                    .to_string(),
            advice: Some("add a metrics.baseline step before the flip (the window before the cutover)".to_string()),
            ..Failure::default()
        });
    };
    config
        .queries
        .iter()
        .map(|q| {
            let baseline = outputs
                .get(&baseline_var(&q.name))
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| Failure {
                    message: format!("the baseline step measured no `{}`", q.name),
                    advice: Some(
                        "run the baseline step again (retry it) now that the query is in [metrics]".to_string(),
                    ),
                    ..Failure::default()
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
        } => watch(&job, metrics, *until, *resume_after, reporter, cancel).await,
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
        let points = job
            .prometheus
            .range(&q.query, start, end, step)
            .await
            .map_err(|e| Failure {
                message: format!("baseline of {}: {e}", q.name),
                advice: Some(
                    "check Prometheus and the query (try it in the Prometheus UI); the step can be retried".to_string(),
                ),
                ..Failure::default()
            })?;
        if points.is_empty() {
            return Err(Failure {
                message: format!(
                    "no data for {} in the {} before {}: a baseline without data is not zero",
                    q.name,
                    dur(window),
                    end.format("%H:%M:%S UTC")
                ),
                advice: Some(
                    "check that the query returns data for that window in Prometheus (labels, job name, retention)"
                        .to_string(),
                ),
                ..Failure::default()
            });
        }
        let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
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
            let n = self.breaches.entry(s.metric.clone()).or_default();
            *n = if s.verdict == Verdict::Breach { *n + 1 } else { 0 };
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
            return Some(Failure {
                message: format!(
                    "no usable data for {} samples in a row ({}): the watch cannot call this healthy",
                    self.inconclusive,
                    why.join("; ")
                ),
                advice: Some(
                    "check Prometheus; then retry the watch (it backfills what it missed and ends when it was meant to) or roll back"
                        .to_string(),
                ),
                action: FailureAction::Decide,
                ..Failure::default()
            });
        }
        None
    }
}

fn judge(metric: &WatchedMetric, value: Result<Option<f64>, String>, at: Option<DateTime<Utc>>) -> MetricSample {
    let unit = &metric.unit;
    let (value, verdict, reason) = match value {
        Err(e) => (None, Verdict::Inconclusive, e),
        Ok(None) => (None, Verdict::Inconclusive, "no data".to_string()),
        Ok(Some(v)) if v > metric.bound => (
            Some(v),
            Verdict::Breach,
            format!(
                "{} > bound {} ({}, baseline {})",
                show(v, unit),
                show(metric.bound, unit),
                metric.rule,
                show(metric.baseline, unit)
            ),
        ),
        Ok(Some(v)) => (
            Some(v),
            Verdict::Within,
            format!("{} ≤ bound {}", show(v, unit), show(metric.bound, unit)),
        ),
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

async fn watch(
    job: &MetricsJob,
    metrics: &[WatchedMetric],
    until: DateTime<Utc>,
    resume_after: Option<DateTime<Utc>>,
    reporter: &Reporter,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let config = &job.config;
    reporter.report(Report::WatchStarted {
        until,
        metrics: metrics.to_vec(),
    });
    let query_of = |name: &str| {
        config
            .queries
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.query.clone())
            .unwrap_or_default()
    };
    let mut streaks = Streaks::default();
    let mut backfilled = 0;
    // The gap since the last sample of the cut-off try, from history: a breach in it counts.
    if let Some(after) = resume_after {
        let interval = chrono::Duration::from_std(config.interval).unwrap_or_default();
        let end = Utc::now().min(until);
        let start = after + interval;
        if start <= end {
            let mut by_time: BTreeMap<DateTime<Utc>, Vec<MetricSample>> = BTreeMap::new();
            for m in metrics {
                let points = job
                    .prometheus
                    .range(&query_of(&m.name), start, end, config.interval)
                    .await
                    .unwrap_or_default();
                for (at, v) in points {
                    by_time.entry(at).or_default().push(judge(m, Ok(Some(v)), Some(at)));
                }
            }
            for (at, mut samples) in by_time {
                // A metric without a point at this time had no data then.
                for m in metrics {
                    if !samples.iter().any(|s| s.metric == m.name) {
                        samples.push(judge(m, Ok(None), Some(at)));
                    }
                }
                for s in &mut samples {
                    s.reason = format!("{} (backfilled from history)", s.reason);
                }
                backfilled += 1;
                reporter.report(Report::WatchSampled {
                    samples: samples.clone(),
                });
                if let Some(f) = streaks.take(&samples, config, at) {
                    return Err(f);
                }
            }
        }
    }
    loop {
        let now = Utc::now();
        if now >= until {
            break;
        }
        let mut samples = Vec::new();
        for m in metrics {
            let value = job.prometheus.instant(&query_of(&m.name), None).await;
            samples.push(judge(m, value, None));
        }
        reporter.report(Report::WatchSampled {
            samples: samples.clone(),
        });
        if let Some(f) = streaks.take(&samples, config, now) {
            return Err(f);
        }
        let left = (until - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            break;
        }
        if !pause(config.interval.min(left), cancel).await {
            return Err(Failure {
                message: "the watch was stopped before its end (a rollback, or the operator quit)".to_string(),
                ..Failure::default()
            });
        }
    }
    if streaks.inconclusive > 0 {
        return Err(Failure {
            message: format!(
                "the watch ended with {} sample(s) in a row without usable data: it cannot call this healthy",
                streaks.inconclusive
            ),
            advice: Some("check Prometheus, then retry the watch or roll back".to_string()),
            action: FailureAction::Decide,
            ..Failure::default()
        });
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
