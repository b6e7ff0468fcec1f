//! Which milestones a change of the run is: pure functions from the records just journaled
//! (and the state after them), or from the state and the time (a run that waits for an
//! approval, a time gate that opened), to notices. No I/O, no clock.

use chrono::{DateTime, Utc};

use crate::engine::plan::{current, time_gates};
use crate::engine::{DnsOp, Intent, Recorded, RollbackTrigger, RunEvent, RunState, Situation, Verdict, situation};
use crate::runbook::{Action, Approval, NotifyEvent};
use crate::words::{gate_words, show_value};

/// How bad a notice is: a PagerDuty severity, a colour in chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// As PagerDuty names it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// The run a notice is about, as it was when the notice was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub run_id: String,
    pub runbook: String,
    pub environment: String,
    pub attempt: u32,
    pub rehearsal: bool,
    pub dry_run: bool,
    pub dashboard: Option<String>,
    /// What is being cut over: the first DNS record moved (without its final dot), or the
    /// runbook and environment.
    pub system: String,
}

impl About {
    pub fn of(state: &RunState) -> Self {
        let system = state
            .runbook
            .dns
            .as_ref()
            .and_then(|d| d.records.first())
            .map(|r| r.trim_end_matches('.').to_string())
            .unwrap_or_else(|| format!("{}/{}", state.runbook.name, state.runbook.environment));
        Self {
            run_id: state.run_id.clone(),
            runbook: state.runbook.name.clone(),
            environment: state.runbook.environment.clone(),
            attempt: state.attempt,
            rehearsal: state.mode == crate::engine::Mode::Rehearsal,
            dry_run: state.dry_run,
            dashboard: state.runbook.notify.as_ref().and_then(|n| n.dashboard.clone()),
            system,
        }
    }
}

/// One milestone, ready to be put into each target's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub event: NotifyEvent,
    /// What it is about, the same for every target (see `engine::Notification::key`).
    pub key: String,
    pub at: DateTime<Utc>,
    /// Who caused it: an operator, or the tool itself.
    pub by: String,
    pub step: Option<String>,
    /// One line that says what happened.
    pub title: String,
    /// What was measured or decided, name and value, in order.
    pub facts: Vec<(String, String)>,
    pub severity: Severity,
    pub about: About,
}

impl Notice {
    fn new(event: NotifyEvent, key: String, rec_at: DateTime<Utc>, by: &str, state: &RunState) -> Self {
        Self {
            event,
            key,
            at: rec_at,
            by: by.to_string(),
            step: None,
            title: String::new(),
            facts: Vec::new(),
            severity: Severity::Info,
            about: About::of(state),
        }
    }

    fn step(mut self, step: &str) -> Self {
        self.step = Some(step.to_string());
        self
    }

    fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    fn fact(mut self, name: &str, value: impl Into<String>) -> Self {
        self.facts.push((name.to_string(), value.into()));
        self
    }

    fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The title as every message says it: a rehearsal says so first.
    pub fn headline(&self) -> String {
        if self.about.rehearsal {
            format!("REHEARSAL: {}", self.title)
        } else {
            self.title.clone()
        }
    }
}

/// The milestones among `records` (just journaled), with `after` the state they led to.
pub fn from_records(records: &[Recorded], after: &RunState) -> Vec<Notice> {
    records.iter().flat_map(|rec| from_record(rec, after)).collect()
}

fn from_record(rec: &Recorded, state: &RunState) -> Vec<Notice> {
    let key = |event: NotifyEvent| format!("{}@{}", event.name(), rec.seq);
    let notice = |event: NotifyEvent| Notice::new(event, key(event), rec.at, &rec.by, state);
    let run = format!("{} ({})", state.runbook.name, state.runbook.environment);
    match &rec.event {
        RunEvent::SessionOpened {
            pid,
            host,
            took_over_from,
            ..
        } => {
            let mut out = Vec::new();
            // The run's first session: the run starts now.
            let first = state
                .sessions
                .first()
                .is_some_and(|s| s.opened_at == rec.at && s.pid == *pid);
            if first && state.attempt == 1 {
                out.push(
                    Notice::new(
                        NotifyEvent::RunStarted,
                        "run_started:1".to_string(),
                        rec.at,
                        &rec.by,
                        state,
                    )
                    .title(format!("Cutover of {run} started by {}", rec.by))
                    .fact("steps", state.forward_count().to_string())
                    .fact("operator", format!("{} on {host}", rec.by)),
                );
            }
            if let Some(from) = took_over_from {
                out.push(
                    notice(NotifyEvent::Takeover)
                        .title(format!(
                            "{} on {host} took over the cutover of {run} from {from}, whose lease had expired",
                            rec.by
                        ))
                        .fact("previous holder", from.clone())
                        .fact("new holder", format!("{} on {host} (pid {pid})", rec.by))
                        .severity(Severity::Warning),
                );
            }
            out
        }
        RunEvent::AttemptStarted { attempt } => vec![
            Notice::new(
                NotifyEvent::RunStarted,
                format!("run_started:{attempt}"),
                rec.at,
                &rec.by,
                state,
            )
            .title(format!(
                "Attempt {attempt} of the cutover of {run} started by {}",
                rec.by
            ))
            .fact("attempt", attempt.to_string()),
        ],
        RunEvent::StepSucceeded { step, .. } if flip_done(state, step) => {
            let mut n = notice(NotifyEvent::Flip)
                .step(step)
                .title(format!("DNS flipped for {run}: the new side serves it"));
            if let Some(Intent::Dns(d)) = flip_intent(state, step) {
                for r in &d.records {
                    let ttl = r.ttl.map(|t| format!(" (TTL {t})")).unwrap_or_default();
                    n = n.fact(&format!("{} {}", r.name, r.rtype), format!("{}{ttl}", r.to.join(", ")));
                }
            }
            let answers = &state.step(step).map(|s| s.answers.clone()).unwrap_or_default();
            let mut servers: Vec<&str> = answers
                .iter()
                .filter(|a| a.verdict == Verdict::Within)
                .map(|a| a.server.as_str())
                .collect();
            servers.sort_unstable();
            servers.dedup();
            if !servers.is_empty() {
                n = n.fact("verified on", servers.join(", "));
            }
            vec![n]
        }
        RunEvent::WatchSampled { step, samples } => {
            let Some(watch) = state.step(step).and_then(|s| s.watch.as_ref()) else {
                return Vec::new();
            };
            // This sample is the last of the watch's with these values; the one before it
            // says whether a breach is new.
            let at = watch.samples.iter().rposition(|(_, s)| s == samples);
            let before = at.and_then(|i| i.checked_sub(1)).map(|i| &watch.samples[i].1);
            samples
                .iter()
                .filter(|s| s.verdict == Verdict::Breach)
                .filter(|s| {
                    !before.is_some_and(|b| b.iter().any(|p| p.metric == s.metric && p.verdict == Verdict::Breach))
                })
                .map(|s| {
                    let metric = watch.metrics.iter().find(|m| m.name == s.metric);
                    let unit = metric.map_or("", |m| m.unit.as_str());
                    let value = s.value.map_or("no value".to_string(), |v| show_value(v, unit));
                    let mut n = Notice::new(
                        NotifyEvent::Breach,
                        format!("breach@{}:{}", rec.seq, s.metric),
                        rec.at,
                        &rec.by,
                        state,
                    )
                    .step(step)
                    .title(format!(
                        "{} breached its bound during the watch of {run}: {value} > {}",
                        s.metric,
                        show_value(s.bound, unit)
                    ))
                    .fact("metric", s.metric.clone())
                    .fact("value", value)
                    .fact("bound", show_value(s.bound, unit));
                    if let Some(m) = metric {
                        n = n
                            .fact("baseline", show_value(m.baseline, unit))
                            .fact("rule", m.rule.clone());
                    }
                    n.fact("reason", s.reason.clone()).severity(Severity::Critical)
                })
                .collect()
        }
        RunEvent::RollbackStarted { trigger } => {
            let why = match trigger {
                RollbackTrigger::Operator { reason } => format!("{} rolled back: {reason}", rec.by),
                RollbackTrigger::StepFailed { step, message } => format!("{step} failed: {message}"),
            };
            let mut n = notice(NotifyEvent::RollbackStarted)
                .title(format!("ROLLBACK of {run} started: {why}"))
                .fact("attempt", state.attempt.to_string())
                .severity(Severity::Error);
            if let RollbackTrigger::StepFailed { step, .. } = trigger {
                n = n.step(step);
            }
            if let Some(incident) = state.incidents.last() {
                n = n.fact("incident", incident.value.summary.clone());
            }
            vec![n]
        }
        RunEvent::RollbackCompleted => vec![
            notice(NotifyEvent::RollbackCompleted)
                .title(format!("Rollback of {run} completed"))
                .fact("attempt", state.attempt.to_string())
                .fact("next", "a root-cause analysis before another attempt"),
        ],
        RunEvent::RcaAttached { text } => {
            let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
            vec![
                notice(NotifyEvent::RcaAttached)
                    .title(format!(
                        "Root-cause analysis attached to attempt {} of {run}",
                        state.attempt
                    ))
                    .fact("analysis", shorten(first, 300))
                    .fact("by", rec.by.clone()),
            ]
        }
        RunEvent::HoldStarted { until } => {
            let n = notice(NotifyEvent::HoldReached);
            vec![if *until <= rec.at {
                n.title(format!("Every step of {run} is done; there is no hold to wait for"))
            } else {
                n.title(format!(
                    "Every step of {run} is done: holding for stable operation until {}",
                    until.format("%Y-%m-%d %H:%M UTC")
                ))
                .fact("hold until", until.format("%Y-%m-%d %H:%M UTC").to_string())
            }]
        }
        RunEvent::RunCompleted => vec![
            notice(NotifyEvent::Completed)
                .title(format!("Cutover of {run} completed"))
                .fact("attempt", state.attempt.to_string()),
        ],
        _ => Vec::new(),
    }
}

/// Whether `step` succeeding means the flip is done and seen everywhere: a `dns.verify`
/// whose last DNS change before it is a flip, or a flip with no `dns.verify` after it.
fn flip_done(state: &RunState, step: &str) -> bool {
    let Some(index) = state.index(step) else {
        return false;
    };
    match state.spec(step).map(|s| &s.action) {
        Some(Action::DnsVerify(_)) => flip_intent(state, step).is_some(),
        Some(Action::DnsFlip(_)) => {
            let rollback = state.is_rollback_step(index);
            !(index + 1..state.steps.len())
                .filter(|&i| state.is_rollback_step(i) == rollback)
                .any(|i| {
                    matches!(
                        state.spec(&state.steps[i].id).map(|s| &s.action),
                        Some(Action::DnsVerify(_))
                    )
                })
        }
        _ => false,
    }
}

/// The flip a step is about: itself, or for a verify the last DNS change before it, if
/// that is a flip.
fn flip_intent<'a>(state: &'a RunState, step: &str) -> Option<&'a Intent> {
    let index = state.index(step)?;
    state.steps[..=index]
        .iter()
        .rev()
        .filter_map(|s| s.intent.as_ref())
        .find(|i| matches!(i, Intent::Dns(d) if d.op.writes()))
        .filter(|i| matches!(i, Intent::Dns(d) if d.op == DnsOp::Flip))
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The milestones of where the run is at `now`: it waits for an approval, or a time gate
/// of the current step has opened. Each has a key that says which try of which step of
/// which attempt it is about: it is announced once (the caller keeps the keys).
pub fn from_situation(state: &RunState, now: DateTime<Utc>) -> Vec<Notice> {
    let Some(index) = current(state) else {
        return Vec::new();
    };
    let step = &state.steps[index];
    if step.status != crate::engine::StepStatus::Pending {
        return Vec::new();
    }
    let run = format!("{} ({})", state.runbook.name, state.runbook.environment);
    let title = state.spec(&step.id).map(|s| s.title.clone()).unwrap_or_default();
    let which = format!("{}:{}:{}:{}", state.attempt, state.rollbacks.len(), step.id, step.tries);
    let mut out = Vec::new();
    let gates = time_gates(state, index);
    if let Some((opened, gate)) = gates.iter().max_by_key(|(t, _)| *t)
        && *opened <= now
        && *opened > became_current(state, index)
    {
        out.push(
            Notice::new(
                NotifyEvent::GateOpened,
                format!("gate_opened:{which}"),
                *opened,
                crate::engine::SYSTEM_ACTOR,
                state,
            )
            .step(&step.id)
            .title(format!(
                "{} ({title}) of {run} may start: {} reached",
                step.id,
                gate_words(gate)
            ))
            .fact("opened at", opened.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        );
    }
    if let Situation::Approval {
        approval,
        note_required,
        ..
    } = situation(state, now)
    {
        let asked = match &approval {
            Approval::Type(text) => format!("the operator types `{text}`"),
            _ => "a yes from the operator".to_string(),
        };
        let holder = state
            .sessions
            .last()
            .filter(|s| s.closed.is_none())
            .map(|s| format!("{} on {}", s.by, s.host))
            .unwrap_or_else(|| "the operator who resumes the run".to_string());
        let mut n = Notice::new(
            NotifyEvent::ApprovalWaiting,
            format!("approval_waiting:{which}"),
            now,
            crate::engine::SYSTEM_ACTOR,
            state,
        )
        .step(&step.id)
        .title(format!("{} ({title}) of {run} waits for approval", step.id))
        .fact("approval", asked)
        .fact("who approves", holder);
        if note_required {
            n = n.fact("note", "required");
        }
        out.push(n.severity(Severity::Warning));
    }
    out
}

/// When the step at `index` became the one the run is at: the previous step of its
/// sequence finished, or the sequence (the attempt, or the rollback) began.
fn became_current(state: &RunState, index: usize) -> DateTime<Utc> {
    let rollback = state.is_rollback_step(index);
    let previous = index
        .checked_sub(1)
        .filter(|&p| state.is_rollback_step(p) == rollback)
        .and_then(|p| state.steps[p].finished_at);
    let start = if rollback {
        state.rollbacks.last().map_or(state.attempt_started_at, |r| r.at)
    } else {
        state.attempt_started_at
    };
    previous.unwrap_or(start).max(start)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::engine::{DnsIntent, MetricSample, Mode, NameserverAnswer, Outcome, RecordChange, WatchedMetric};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 22, 0, 0).unwrap()
    }

    /// A run of `text` (for `env`), started at `t0`, with `events` applied one second apart;
    /// returns the state and every record.
    struct Run {
        state: RunState,
        records: Vec<Recorded>,
    }

    impl Run {
        fn new(text: &str, env: Option<&str>, mode: Mode) -> Self {
            let loaded = crate::runbook::load_str(std::path::Path::new("rb.toml"), text, env).unwrap();
            let first = Recorded {
                v: 1,
                seq: 1,
                at: t0(),
                by: "alice".to_string(),
                event: RunEvent::RunStarted {
                    run_id: "shop-prod-1".to_string(),
                    mode,
                    runbook: loaded.runbook,
                    digest: loaded.digest,
                    source: "rb.toml".to_string(),
                    rehearsal: None,
                    dry_run: false,
                },
            };
            Run {
                state: RunState::start(&first).unwrap(),
                records: vec![first],
            }
        }

        /// Applies `events` (one batch, at `at`, by `by`) and returns their records.
        fn apply(&mut self, at: DateTime<Utc>, by: &str, events: Vec<RunEvent>) -> Vec<Recorded> {
            let mut batch = Vec::new();
            for event in events {
                let rec = Recorded {
                    v: 1,
                    seq: self.records.len() as u64 + 1,
                    at,
                    by: by.to_string(),
                    event,
                };
                self.state.apply(&rec);
                self.records.push(rec.clone());
                batch.push(rec);
            }
            batch
        }

        fn notices(&mut self, at: DateTime<Utc>, by: &str, events: Vec<RunEvent>) -> Vec<Notice> {
            let batch = self.apply(at, by, events);
            from_records(&batch, &self.state)
        }
    }

    fn demo() -> Run {
        let text = include_str!("../../runbooks/demo.toml").replace(
            "[rollback]",
            "[notify]\ndashboard = \"https://grafana.example/d/shop\"\n[[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\nurl_env = \"U\"\n\n[rollback]",
        );
        let mut run = Run::new(&text, Some("sandbox"), Mode::Live);
        run.apply(t0(), "alice", vec![session(1)]);
        run
    }

    fn session(pid: u32) -> RunEvent {
        RunEvent::SessionOpened {
            pid,
            host: "bastion".to_string(),
            version: "0".to_string(),
            took_over_from: None,
        }
    }

    fn flip_intent() -> Intent {
        Intent::Dns(DnsIntent {
            op: DnsOp::Flip,
            zone: "shop.demo.".to_string(),
            via: "RFC 2136".to_string(),
            records: vec![RecordChange {
                name: "www.shop.demo.".to_string(),
                rtype: "A".to_string(),
                from: vec!["203.0.113.10".to_string()],
                to: vec!["198.51.100.7".to_string()],
                old_ttl: Some(60),
                ttl: Some(60),
            }],
        })
    }

    fn answer(server: &str) -> RunEvent {
        RunEvent::NameserverAnswered {
            step: "verify".to_string(),
            answer: NameserverAnswer {
                server: server.to_string(),
                address: "127.0.0.1:5301".to_string(),
                record: "www.shop.demo. A".to_string(),
                values: vec!["198.51.100.7".to_string()],
                ttl: Some(60),
                verdict: Verdict::Within,
                note: String::new(),
            },
        }
    }

    #[test]
    fn the_first_session_starts_the_run_and_a_takeover_says_from_whom() {
        let text =
            "[runbook]\nname = \"shop\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n";
        let mut run = Run::new(text, None, Mode::Rehearsal);
        let started = run.notices(t0(), "alice", vec![session(7)]);
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].event, NotifyEvent::RunStarted);
        assert_eq!(started[0].key, "run_started:1");
        assert_eq!(
            started[0].headline(),
            "REHEARSAL: Cutover of shop (default) started by alice"
        );
        // A later session starts nothing; one that took over says so.
        assert!(
            run.notices(t0() + Duration::minutes(1), "alice", vec![session(8)])
                .is_empty()
        );
        let took = run.notices(
            t0() + Duration::minutes(2),
            "bob",
            vec![RunEvent::SessionOpened {
                pid: 9,
                host: "jump".to_string(),
                version: "0".to_string(),
                took_over_from: Some("alice@bastion (pid 8)".to_string()),
            }],
        );
        assert_eq!(took.len(), 1);
        assert_eq!(took[0].event, NotifyEvent::Takeover);
        assert!(took[0].title.contains("bob on jump took over"), "{}", took[0].title);
        assert!(
            took[0]
                .facts
                .contains(&("previous holder".to_string(), "alice@bastion (pid 8)".to_string()))
        );
    }

    #[test]
    fn the_flip_is_announced_when_the_verify_after_it_saw_it_everywhere() {
        let mut run = demo();
        let at = t0() + Duration::minutes(5);
        let flipped = run.notices(
            at,
            "alice",
            vec![
                RunEvent::StepStarted {
                    step: "flip".to_string(),
                    intent: flip_intent(),
                },
                RunEvent::StepSucceeded {
                    step: "flip".to_string(),
                    outcome: Outcome::default(),
                },
            ],
        );
        assert!(flipped.is_empty(), "a verify step follows: {flipped:?}");
        run.apply(
            at,
            "alice",
            vec![RunEvent::StepStarted {
                step: "verify".to_string(),
                intent: Intent::Gate,
            }],
        );
        run.apply(at, "alice", vec![answer("ns1.shop.demo."), answer("ns2.shop.demo.")]);
        let verified = run.notices(
            at,
            "alice",
            vec![RunEvent::StepSucceeded {
                step: "verify".to_string(),
                outcome: Outcome::default(),
            }],
        );
        assert_eq!(verified.len(), 1, "{verified:?}");
        let n = &verified[0];
        assert_eq!(n.event, NotifyEvent::Flip);
        assert_eq!(n.step.as_deref(), Some("verify"));
        assert!(
            n.facts
                .contains(&("www.shop.demo. A".to_string(), "198.51.100.7 (TTL 60)".to_string()))
        );
        assert!(
            n.facts
                .contains(&("verified on".to_string(), "ns1.shop.demo., ns2.shop.demo.".to_string()))
        );
        assert_eq!(n.about.dashboard.as_deref(), Some("https://grafana.example/d/shop"));
        assert_eq!(n.about.system, "www.shop.demo");
    }

    #[test]
    fn a_breach_is_announced_once_per_run_of_breaches_with_value_bound_and_baseline() {
        let mut run = demo();
        let at = t0() + Duration::minutes(10);
        run.apply(
            at,
            "alice",
            vec![
                RunEvent::StepStarted {
                    step: "watch".to_string(),
                    intent: Intent::Gate,
                },
                RunEvent::WatchStarted {
                    step: "watch".to_string(),
                    until: at + Duration::minutes(15),
                    metrics: vec![WatchedMetric {
                        name: "error_rate".to_string(),
                        baseline: 0.002,
                        bound: 0.003,
                        rule: "baseline + 0.1 percentage points".to_string(),
                        unit: "ratio".to_string(),
                    }],
                },
            ],
        );
        let sample = |value: f64| RunEvent::WatchSampled {
            step: "watch".to_string(),
            samples: vec![MetricSample {
                at: None,
                metric: "error_rate".to_string(),
                value: Some(value),
                bound: 0.003,
                verdict: if value > 0.003 {
                    Verdict::Breach
                } else {
                    Verdict::Within
                },
                reason: format!("{value}"),
            }],
        };
        let mut seen = Vec::new();
        for (i, v) in [0.002, 0.009, 0.011, 0.001, 0.02].into_iter().enumerate() {
            seen.push(
                run.notices(
                    at + Duration::seconds(i as i64 * 3),
                    "cutover (automatic)",
                    vec![sample(v)],
                )
                .len(),
            );
        }
        assert_eq!(seen, vec![0, 1, 0, 0, 1]);
        let last = run.records.last().unwrap().clone();
        let n = &from_records(&[last], &run.state)[0];
        assert_eq!(n.event, NotifyEvent::Breach);
        assert_eq!(n.severity, Severity::Critical);
        let fact = |name: &str| n.facts.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(fact("metric").as_deref(), Some("error_rate"));
        assert_eq!(fact("value").as_deref(), Some(show_value(0.02, "ratio").as_str()));
        assert_eq!(fact("bound").as_deref(), Some(show_value(0.003, "ratio").as_str()));
        assert_eq!(fact("baseline").as_deref(), Some(show_value(0.002, "ratio").as_str()));
    }

    #[test]
    fn rollback_hold_completion_and_rca_are_milestones() {
        let mut run = demo();
        let at = t0() + Duration::minutes(20);
        let started = run.notices(
            at,
            "bob",
            vec![
                RunEvent::IncidentRecorded {
                    incident: crate::engine::Incident {
                        summary: "operator rolled back: errors".to_string(),
                        step: None,
                        details: Vec::new(),
                    },
                },
                RunEvent::RollbackStarted {
                    trigger: RollbackTrigger::Operator {
                        reason: "errors".to_string(),
                    },
                },
            ],
        );
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].event, NotifyEvent::RollbackStarted);
        assert!(
            started[0].title.contains("bob rolled back: errors"),
            "{}",
            started[0].title
        );
        assert!(
            started[0]
                .facts
                .contains(&("incident".to_string(), "operator rolled back: errors".to_string()))
        );
        let done = run.notices(at, "cutover (automatic)", vec![RunEvent::RollbackCompleted]);
        assert_eq!(done[0].event, NotifyEvent::RollbackCompleted);
        let rca = run.notices(
            at,
            "bob",
            vec![RunEvent::RcaAttached {
                text: "\n  The new pods ran out of memory under load.\nMore.".to_string(),
            }],
        );
        assert!(rca[0].facts.contains(&(
            "analysis".to_string(),
            "The new pods ran out of memory under load.".to_string()
        )));
        let hold = run.notices(
            at,
            "bob",
            vec![RunEvent::HoldStarted {
                until: at + Duration::hours(72),
            }],
        );
        assert_eq!(hold[0].event, NotifyEvent::HoldReached);
        assert_eq!(
            run.notices(at, "bob", vec![RunEvent::RunCompleted])[0].event,
            NotifyEvent::Completed
        );
        // Notes, samples within bounds and notifications themselves are no milestone.
        assert!(
            run.notices(
                at,
                "bob",
                vec![RunEvent::NoteAdded {
                    step: None,
                    text: "x".to_string()
                }]
            )
            .is_empty()
        );
    }

    #[test]
    fn a_gate_that_opens_and_an_approval_the_run_waits_for_are_announced_with_their_keys() {
        let text = "[runbook]\nname = \"shop\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n  \
                    [[phase.step]]\n  id = \"b\"\n  kind = \"manual\"\n  approve = \"type:www.shop.example\"\n  \
                    after = { step = \"a\", delay = \"10m\" }\n";
        let mut run = Run::new(text, None, Mode::Live);
        run.apply(t0(), "alice", vec![session(1)]);
        run.apply(
            t0(),
            "alice",
            vec![
                RunEvent::StepStarted {
                    step: "a".to_string(),
                    intent: Intent::Gate,
                },
                RunEvent::StepSucceeded {
                    step: "a".to_string(),
                    outcome: Outcome::default(),
                },
            ],
        );
        assert!(from_situation(&run.state, t0() + Duration::minutes(5)).is_empty());
        let open = from_situation(&run.state, t0() + Duration::minutes(11));
        let events: Vec<NotifyEvent> = open.iter().map(|n| n.event).collect();
        assert_eq!(events, vec![NotifyEvent::GateOpened, NotifyEvent::ApprovalWaiting]);
        assert_eq!(open[0].key, "gate_opened:1:0:b:0");
        assert_eq!(open[0].at, t0() + Duration::minutes(10));
        assert_eq!(open[1].key, "approval_waiting:1:0:b:0");
        assert!(open[1].facts.contains(&(
            "approval".to_string(),
            "the operator types `www.shop.example`".to_string()
        )));
        assert!(
            open[1]
                .facts
                .contains(&("who approves".to_string(), "alice on bastion".to_string()))
        );
    }

    #[test]
    fn a_gate_that_was_never_closed_is_not_announced() {
        // `after` with no delay opens the moment its step is done.
        let text = "[runbook]\nname = \"shop\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n  \
                    [[phase.step]]\n  id = \"b\"\n  kind = \"wait\"\n  after = { step = \"a\", delay = \"0s\" }\n";
        let mut run = Run::new(text, None, Mode::Live);
        run.apply(
            t0(),
            "alice",
            vec![
                RunEvent::StepStarted {
                    step: "a".to_string(),
                    intent: Intent::Gate,
                },
                RunEvent::StepSucceeded {
                    step: "a".to_string(),
                    outcome: Outcome::default(),
                },
            ],
        );
        assert!(from_situation(&run.state, t0() + Duration::minutes(1)).is_empty());
    }
}
