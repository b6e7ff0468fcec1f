//! What every export format needs, read once from the journal: the records (redacted
//! again) with the attempt each belongs to, the DNS flip of each attempt (time zero of
//! the timeline), the metrics watches with their samples, and the sessions with the gaps
//! between them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::{
    MetricSample, Recorded, RollbackTrigger, RunEvent, RunState, RunStatus, SYSTEM_ACTOR, Verdict, WatchedMetric,
    is_system_actor,
};
use crate::redact::Redactor;
use crate::runbook::duration::countdown;

pub struct Facts<'a> {
    pub state: &'a RunState,
    pub redactor: &'a Redactor,
    /// Every record, its free texts redacted, with the attempt it belongs to.
    pub records: Vec<(u32, Recorded)>,
    /// When DNS was flipped in each attempt: the start of the `dns.flip` try that
    /// succeeded (a failed try changed nothing), else the first try's start.
    pub flips: BTreeMap<u32, DateTime<Utc>>,
    /// The start of the latest flip try of each attempt, and of the first.
    flip_tries: BTreeMap<u32, (DateTime<Utc>, DateTime<Utc>)>,
    /// When each attempt's rollback started.
    pub rollbacks: BTreeMap<u32, DateTime<Utc>>,
    pub watches: Vec<WatchRun>,
    pub sessions: Vec<SessionRun>,
}

/// One metrics watch: a try of a `metrics.watch` step.
pub struct WatchRun {
    pub step: String,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub metrics: Vec<WatchedMetric>,
    /// When each sample was measured, and the values.
    pub samples: Vec<(DateTime<Utc>, Vec<MetricSample>)>,
}

pub struct SessionRun {
    pub opened_at: DateTime<Utc>,
    pub by: String,
    pub host: String,
    pub pid: u32,
    /// The last event this session recorded.
    pub last_at: DateTime<Utc>,
    pub last_seq: u64,
    pub end: SessionEnd,
}

pub enum SessionEnd {
    Closed {
        at: DateTime<Utc>,
        reason: String,
    },
    /// Another session opened while this one had not closed: it crashed or was killed.
    Crashed,
    /// The newest session, not closed yet: it still drives the run, or it died.
    Open,
}

impl SessionRun {
    /// When nobody drove the run any more after this session.
    pub fn ended_at(&self) -> DateTime<Utc> {
        match &self.end {
            SessionEnd::Closed { at, .. } => *at,
            SessionEnd::Crashed | SessionEnd::Open => self.last_at,
        }
    }
}

impl<'a> Facts<'a> {
    pub fn new(records: &[Recorded], state: &'a RunState, redactor: &'a Redactor) -> Self {
        let mut facts = Facts {
            state,
            redactor,
            records: Vec::with_capacity(records.len()),
            flips: BTreeMap::new(),
            flip_tries: BTreeMap::new(),
            rollbacks: BTreeMap::new(),
            watches: Vec::new(),
            sessions: Vec::new(),
        };
        let mut attempt = 1;
        for rec in records {
            let rec = Recorded {
                by: redactor.redact(&rec.by),
                event: redactor.redact_event(rec.event.clone()),
                ..rec.clone()
            };
            if let RunEvent::AttemptStarted { attempt: a } = rec.event {
                attempt = a;
            }
            facts.note(attempt, &rec);
            facts.records.push((attempt, rec));
        }
        // An attempt whose flip never succeeded: its first try is the reference.
        for (attempt, (first, _)) in std::mem::take(&mut facts.flip_tries) {
            facts.flips.entry(attempt).or_insert(first);
        }
        facts
    }

    fn note(&mut self, attempt: u32, rec: &Recorded) {
        if let Some(s) = self.sessions.last_mut()
            && matches!(s.end, SessionEnd::Open)
            && !matches!(rec.event, RunEvent::SessionOpened { .. })
        {
            s.last_at = rec.at;
            s.last_seq = rec.seq;
        }
        match &rec.event {
            RunEvent::StepStarted { step, .. } if self.is_flip(step) => {
                let tries = self.flip_tries.entry(attempt).or_insert((rec.at, rec.at));
                tries.1 = rec.at;
            }
            RunEvent::StepSucceeded { step, .. } if self.is_flip(step) => {
                if let Some((_, latest)) = self.flip_tries.get(&attempt) {
                    self.flips.entry(attempt).or_insert(*latest);
                }
            }
            RunEvent::RollbackStarted { .. } => {
                self.rollbacks.entry(attempt).or_insert(rec.at);
            }
            RunEvent::WatchStarted { step, until, metrics } => self.watches.push(WatchRun {
                step: step.clone(),
                attempt,
                started_at: rec.at,
                until: *until,
                metrics: metrics.clone(),
                samples: Vec::new(),
            }),
            RunEvent::WatchSampled { step, samples } => {
                if let Some(w) = self
                    .watches
                    .iter_mut()
                    .rev()
                    .find(|w| &w.step == step && w.attempt == attempt)
                {
                    let measured = samples.iter().find_map(|s| s.at).unwrap_or(rec.at);
                    w.samples.push((measured, samples.clone()));
                }
            }
            RunEvent::SessionOpened { pid, host, .. } => {
                if let Some(s) = self.sessions.last_mut()
                    && matches!(s.end, SessionEnd::Open)
                {
                    s.end = SessionEnd::Crashed;
                }
                self.sessions.push(SessionRun {
                    opened_at: rec.at,
                    by: rec.by.clone(),
                    host: host.clone(),
                    pid: *pid,
                    last_at: rec.at,
                    last_seq: rec.seq,
                    end: SessionEnd::Open,
                });
            }
            RunEvent::SessionClosed { reason } => {
                if let Some(s) = self.sessions.last_mut()
                    && matches!(s.end, SessionEnd::Open)
                {
                    s.end = SessionEnd::Closed {
                        at: rec.at,
                        reason: reason.clone(),
                    };
                }
            }
            _ => {}
        }
    }

    /// Whether `step` is a `dns.flip` step of the run's runbook.
    pub fn is_flip(&self, step: &str) -> bool {
        self.kind(step) == "dns.flip"
    }

    pub fn kind(&self, step: &str) -> &'static str {
        self.state.spec(step).map_or("step", |s| s.action.kind().name())
    }

    /// Text from anywhere (the runbook, the state) made safe to show.
    pub fn clean(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// `T−02:15`, `T+00:40`: the time from the flip of that attempt, or `—` before any.
    pub fn relative(&self, attempt: u32, at: DateTime<Utc>) -> String {
        match self.flips.get(&attempt) {
            Some(flip) => relative(at - *flip),
            None => "—".to_string(),
        }
    }

    /// `22:00:05 (T+00:40)`, or the time alone before any flip.
    pub fn when(&self, attempt: u32, at: DateTime<Utc>) -> String {
        match self.flips.get(&attempt) {
            Some(flip) => format!("{} ({})", hms(at), relative(at - *flip)),
            None => hms(at),
        }
    }

    /// Who did what, as the report says it: the tool as `SYSTEM_ACTOR` (older journals
    /// wrote `cutover`), and the incident and rollback a failed step started as the tool's
    /// own, also where an older journal recorded them under the operator whose session
    /// it was.
    pub fn who(&self, rec: &Recorded) -> String {
        let started_by_failure = |r: &Recorded| {
            matches!(
                &r.event,
                RunEvent::RollbackStarted {
                    trigger: RollbackTrigger::StepFailed { .. }
                }
            )
        };
        let automatic = is_system_actor(&rec.by)
            || started_by_failure(rec)
            || matches!(rec.event, RunEvent::IncidentRecorded { .. })
                && self
                    .records
                    .iter()
                    .any(|(_, r)| r.seq == rec.seq + 1 && started_by_failure(r));
        if automatic {
            SYSTEM_ACTOR.to_string()
        } else {
            rec.by.clone()
        }
    }

    /// The people who acted on the run, in the order they first did.
    pub fn operators(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for (_, r) in &self.records {
            if !is_system_actor(&r.by) && !seen.contains(&r.by) {
                seen.push(r.by.clone());
            }
        }
        seen
    }

    /// How the run ended, or where it stands.
    pub fn outcome(&self) -> String {
        match &self.state.status {
            RunStatus::Active => format!(
                "not finished: in progress at the last event ({} UTC)",
                utc(self.state.updated_at)
            ),
            RunStatus::Holding { until } => format!(
                "every step done; holding for stable operation until {} UTC",
                utc(*until)
            ),
            RunStatus::RollingBack => "ROLLING BACK: the rollback had not finished at the last event".to_string(),
            RunStatus::RolledBack { at } => format!("ROLLED BACK at {} UTC", utc(*at)),
            RunStatus::Completed { at } => format!("completed at {} UTC", utc(*at)),
        }
    }

    /// The gaps when nobody drove the run: from the end of one session to the next.
    pub fn gaps(&self) -> Vec<Gap> {
        self.sessions
            .windows(2)
            .filter_map(|pair| {
                let (before, after) = (&pair[0], &pair[1]);
                let from = before.ended_at();
                let crashed = matches!(before.end, SessionEnd::Crashed);
                (crashed || after.opened_at > from).then_some(Gap {
                    from,
                    to: after.opened_at,
                    crashed,
                    last_seq: before.last_seq,
                })
            })
            .collect()
    }
}

pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The session before it ended without closing.
    pub crashed: bool,
    /// The last event of the session before it.
    pub last_seq: u64,
}

impl Gap {
    pub fn words(&self) -> String {
        let idle = countdown((self.to - self.from).to_std().unwrap_or_default());
        if self.crashed {
            format!(
                "the session ended without closing (crash or kill) after event #{}; nobody drove the run for {idle} until the next session opened",
                self.last_seq
            )
        } else {
            format!("nobody drove the run for {idle} between sessions")
        }
    }
}

/// `2026-12-01 22:00:05`
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `22:00:05`
pub fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// A signed time from the flip: `T−mm:ss`, `T+mm:ss`, with hours when it is an hour or more.
pub fn relative(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds();
    let sign = if ms < 0 { '−' } else { '+' };
    let secs = ms.unsigned_abs() / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("T{sign}{h}:{m:02}:{s:02}")
    } else {
        format!("T{sign}{m:02}:{s:02}")
    }
}

/// The worst verdict of a sample: a breach over no data over within.
pub fn worst(samples: &[MetricSample]) -> Verdict {
    if samples.iter().any(|s| s.verdict == Verdict::Breach) {
        Verdict::Breach
    } else if samples.iter().any(|s| s.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Within
    }
}
