//! One line of plain language per journal record, for headless output, the log pane
//! and `cutover journal`.

use crate::engine::Verdict;
use crate::engine::{
    Evidence, Intent, Recorded, Resolution, RollbackTrigger, RunEvent, Situation, StepStatus, TimeGate,
};
use crate::runbook::Approval;
use crate::runbook::duration::{countdown, format as dur};
use crate::terminal_text::{Lines, for_terminal};

pub fn intent_words(intent: &Intent) -> String {
    match intent {
        Intent::Confirm => "operator confirmation".to_string(),
        Intent::Gate => "gate".to_string(),
        Intent::Command { run, timeout } => format!("runs `{run}` (timeout {})", dur(*timeout)),
        Intent::Http { method, url, resolve } => match resolve {
            Some(r) => format!("{method} {url} with {r}"),
            None => format!("{method} {url}"),
        },
        Intent::Notify { to, message } => format!("posts to {to}: {message}"),
        Intent::Dns(d) => {
            let records: Vec<String> = d.records.iter().map(|r| record_change_words(r, d.writes())).collect();
            format!("{} {} via {}", d.op.words(), records.join("; "), d.via)
        }
        Intent::Kube(k) => {
            let what = if k.scale.is_empty() {
                k.objects.join(", ")
            } else {
                k.scale
                    .iter()
                    .map(|s| format!("Deployment {} {} → {}", s.deployment, s.from, s.to))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{} {what} in namespace {} (context {})", k.op, k.namespace, k.context)
        }
        Intent::Metrics {
            op,
            source,
            queries,
            until,
        } => {
            let names: Vec<&str> = queries.iter().map(|q| q.split(':').next().unwrap_or(q)).collect();
            match until {
                Some(u) => format!(
                    "{op} {} from {source} until {}",
                    names.join(", "),
                    u.format("%H:%M:%S UTC")
                ),
                None => format!("{op} {} from {source}", names.join(", ")),
            }
        }
    }
}

/// `api.example.com. A 192.0.2.10 → 198.51.100.7 (TTL 60)`
/// One record set of a DNS intent in words. `writes`: the intent changes records (a set
/// with nothing to get is deleted), rather than reading them (nothing expected: the set
/// must not exist).
pub fn record_change_words(r: &crate::engine::RecordChange, writes: bool) -> String {
    let values = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.join(",")
        }
    };
    let ttl = match (r.old_ttl, r.ttl) {
        (Some(old), Some(new)) if old != new => format!(" (TTL {old} → {new})"),
        (_, Some(new)) => format!(" (TTL {new})"),
        (Some(old), None) => format!(" (TTL {old})"),
        (None, None) => String::new(),
    };
    if r.from.is_empty() && r.to.is_empty() {
        format!("{} {}: none (must not exist)", r.name, r.rtype)
    } else if writes && r.to.is_empty() {
        format!("{} {} {} → deleted", r.name, r.rtype, values(&r.from))
    } else if r.to.is_empty() || r.to == r.from {
        format!("{} {} {}{ttl}", r.name, r.rtype, values(&r.from))
    } else {
        format!("{} {} {} → {}{ttl}", r.name, r.rtype, values(&r.from), values(&r.to))
    }
}

/// How a rehearsal bends time and approvals, for the line that starts the run.
pub fn rehearsal_words(r: &crate::engine::Rehearsal) -> String {
    let mut parts = Vec::new();
    if r.compress > 1 {
        parts.push(format!("time compressed {}×", r.compress));
    }
    for o in &r.overrides {
        parts.push(format!("{} = {}", o.gate, crate::runbook::duration::format(o.length)));
    }
    if r.auto_approve {
        parts.push("approvals given automatically".to_string());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("; {}", parts.join(", "))
    }
}

/// What happened, without the time and actor.
pub fn event_words(event: &RunEvent) -> String {
    match event {
        RunEvent::RunStarted {
            run_id,
            runbook,
            mode,
            rehearsal,
            dry_run,
            ..
        } => format!(
            "run {run_id} started: runbook {} ({}), {} steps{}{}{}",
            runbook.name,
            runbook.environment,
            runbook.steps().count(),
            match mode {
                crate::engine::Mode::Live => "",
                crate::engine::Mode::Rehearsal => ", REHEARSAL",
            },
            if *dry_run { ", DRY RUN (nothing is changed)" } else { "" },
            rehearsal.as_ref().map(rehearsal_words).unwrap_or_default()
        ),
        RunEvent::SessionOpened {
            pid,
            host,
            version,
            took_over_from,
        } => match took_over_from {
            Some(from) => {
                format!("run taken over on {host} (pid {pid}, cutover {version}) from {from}, whose Lease had expired")
            }
            None => format!("session opened on {host} (pid {pid}, cutover {version})"),
        },
        RunEvent::SessionClosed { reason } => format!("session closed: {reason}"),
        RunEvent::RunbookReloaded { digest, source, .. } => {
            format!("runbook reloaded from {source} ({digest})")
        }
        RunEvent::StepApproved { step, typed, note } => {
            let mut s = format!("{step}: approved");
            if let Some(t) = typed {
                s.push_str(&format!(" (typed `{t}`)"));
            }
            if let Some(n) = note {
                s.push_str(&format!(" — note: {n}"));
            }
            s
        }
        RunEvent::StepStarted { step, intent } => {
            format!("{step}: started — {}", intent_words(intent))
        }
        RunEvent::StepSucceeded { step, outcome } => {
            let mut s = format!("{step}: succeeded — {}", outcome.summary);
            for d in &outcome.details {
                s.push_str(&format!("; {d}"));
            }
            s
        }
        RunEvent::StepFailed { step, failure } => match &failure.advice {
            Some(a) => format!("{step}: FAILED — {} (what to do: {a})", failure.message),
            None => format!("{step}: FAILED — {}", failure.message),
        },
        RunEvent::StepSkipped { step, reason } => format!("{step}: skipped — {reason}"),
        RunEvent::StepRetried { step } => format!("{step}: will be retried"),
        RunEvent::DrainEnded { step } => format!(
            "{step}: drain ended early by the operator — the new side is scaled down now, while some resolvers may still send clients to it"
        ),
        RunEvent::InDoubtResolved { step, resolution, note } => {
            let what = match resolution {
                Resolution::Retry => "run it again",
                Resolution::Succeeded => "it did happen (marked succeeded)",
                Resolution::Failed => "it did not happen (marked failed)",
            };
            match note {
                Some(n) => format!("{step}: was in doubt; decided: {what} — {n}"),
                None => format!("{step}: was in doubt; decided: {what}"),
            }
        }
        RunEvent::NoteAdded { step, text } => match step {
            Some(s) => format!("note on {s}: {text}"),
            None => format!("note: {text}"),
        },
        RunEvent::IncidentRecorded { incident } => {
            format!("INCIDENT recorded: {}", incident.summary)
        }
        RunEvent::RollbackStarted { trigger } => match trigger {
            RollbackTrigger::Operator { reason } => {
                format!("ROLLBACK started by the operator: {reason}")
            }
            RollbackTrigger::StepFailed { step, message } => {
                format!("ROLLBACK started because {step} failed: {message}")
            }
        },
        RunEvent::RollbackCompleted => "rollback completed".to_string(),
        RunEvent::RcaAttached { text } => {
            let first = text.lines().next().unwrap_or_default();
            format!("root-cause analysis attached: {first}")
        }
        RunEvent::AttemptStarted { attempt } => format!("attempt {attempt} started"),
        RunEvent::HoldStarted { until } => format!(
            "all steps done; hold for stable operation until {} (no decommissioning before)",
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        RunEvent::RunCompleted => "run completed".to_string(),
        RunEvent::WatchStarted { step, until, metrics } => format!(
            "{step}: watching {} until {}",
            metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
            until.format("%H:%M:%S UTC")
        ),
        RunEvent::WatchSampled { step, samples } => {
            let parts: Vec<String> = samples
                .iter()
                .map(|s| {
                    let mark = verdict_mark(s.verdict).1;
                    format!("{} {mark}: {}", s.metric, s.reason)
                })
                .collect();
            format!("{step}: sample — {}", parts.join("; "))
        }
        RunEvent::ProcessStarted { step, process } => format!("{step}: running as process group {}", process.pgid),
        RunEvent::ObjectChecked { step, check } => {
            let mark = verdict_mark(check.verdict).0;
            let note = if check.note.is_empty() {
                String::new()
            } else {
                format!(" — {}", check.note)
            };
            format!("{step}: {mark} {} {}: {}{note}", check.object, check.check, check.value)
        }
        RunEvent::NameserverAnswered { step, answer } => {
            format!(
                "{step}: {} ({}) answers {} {}{}",
                answer.server,
                answer.address,
                answer.record,
                if answer.values.is_empty() {
                    "nothing".to_string()
                } else {
                    answer.values.join(", ")
                },
                answer.ttl.map(|t| format!(" TTL {t}")).unwrap_or_default()
            ) + &if answer.note.is_empty() {
                String::new()
            } else {
                format!(" — {}", answer.note)
            }
        }
        RunEvent::NotificationSent { notification } => notification_words(notification),
    }
}

/// `notified bridge (slack) of flip: HTTP 200 — "DNS flipped …"`, or why it was not.
pub fn notification_words(n: &crate::engine::Notification) -> String {
    use crate::engine::Delivery;
    let to = format!("{} ({})", n.target, n.kind.name());
    let answer = match (n.status, n.attempts) {
        (Some(status), 1) => format!("HTTP {status}"),
        (Some(status), a) => format!("HTTP {status} after {a} attempts"),
        (None, 0) => String::new(),
        (None, 1) => "no answer".to_string(),
        (None, a) => format!("no answer after {a} attempts"),
    };
    let error = n.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
    match n.delivery {
        Delivery::Delivered => format!("notified {to} of {}: {answer} — {}", n.event, n.summary),
        Delivery::DryRun => format!("dry run: would notify {to} of {} — {}", n.event, n.summary),
        Delivery::Failed if answer.is_empty() => {
            format!("notification to {to} of {} NOT SENT{error}", n.event)
        }
        Delivery::Failed => format!("notification to {to} of {} FAILED ({answer}){error}", n.event),
        Delivery::Dropped => format!("notification to {to} of {} DROPPED{error}", n.event),
    }
}

/// What a record says, without its time and actor (a hold that ends as it starts is none).
pub fn record_words(rec: &Recorded) -> String {
    match &rec.event {
        RunEvent::HoldStarted { until } if *until <= rec.at => "all steps done; no hold to wait for".to_string(),
        other => event_words(other),
    }
}

/// `02:10:03Z alice  ticket: approved — note: CHG-1234`, one line that is safe to print
/// (what came from outside is shown, never obeyed: see `terminal_text`).
pub fn record_line(rec: &Recorded) -> String {
    let line = format!("{} {:<10} {}", rec.at.format("%H:%M:%SZ"), rec.by, record_words(rec));
    for_terminal(&line, Lines::One).into_owned()
}

/// Why a time gate holds, in words: "TTL lead time: lower-ttl lowered it; …".
pub fn gate_words(gate: &TimeGate) -> String {
    match gate {
        TimeGate::After { step: dep, delay_secs } => {
            format!("{} after {dep}", dur(std::time::Duration::from_secs(*delay_secs)))
        }
        TimeGate::NotBefore => "window start".to_string(),
        TimeGate::Wait => "wait".to_string(),
        TimeGate::Hold => "end of the hold".to_string(),
        TimeGate::Drain {
            revert,
            drain_secs,
            from_ttl,
            rehearsal_ms,
        } => format!(
            "drain: DNS is back on every authoritative server ({revert}); resolvers may still send clients to the new side for {}{}, so it keeps serving until then{}",
            if *from_ttl { "the flip's TTL, " } else { "" },
            dur(std::time::Duration::from_secs(*drain_secs)),
            rehearsal_ms
                .map(|ms| format!(
                    " (shortened to {} for this rehearsal)",
                    dur(std::time::Duration::from_millis(ms))
                ))
                .unwrap_or_default()
        ),
        TimeGate::TtlLead {
            step: lowered,
            old_ttl_secs,
            lead_secs,
            rehearsal_ms,
        } => format!(
            "TTL lead time: {lowered} lowered it; waits the longer of the old TTL ({}) and the lead time ({}){}",
            dur(std::time::Duration::from_secs(*old_ttl_secs)),
            dur(std::time::Duration::from_secs(*lead_secs)),
            rehearsal_ms
                .map(|ms| format!(
                    ", shortened to {} for this rehearsal",
                    dur(std::time::Duration::from_millis(ms))
                ))
                .unwrap_or_default()
        ),
    }
}

/// What the run waits for, in words, with countdowns relative to `now`.
pub fn situation_words(situation: &Situation, now: chrono::DateTime<chrono::Utc>) -> String {
    let left = |t: chrono::DateTime<chrono::Utc>| countdown((t - now).to_std().unwrap_or_default());
    match situation {
        Situation::Ready { step: Some(s) } => format!("ready to run {s}"),
        Situation::Ready { step: None } => "ready".to_string(),
        Situation::Running { step } => format!("running {step}"),
        Situation::Gate { step, until, gate } => {
            let why = gate_words(gate);
            format!(
                "{step} is gated until {} ({why}): opens in {}",
                until.format("%Y-%m-%d %H:%M:%S UTC"),
                left(*until)
            )
        }
        Situation::Approval {
            step,
            approval,
            note_required,
        } => {
            let mut s = match approval {
                Approval::Type(text) => format!("{step} needs approval: type `{text}`"),
                _ => format!("{step} needs the operator's approval"),
            };
            if *note_required {
                s.push_str(" and a note");
            }
            s
        }
        Situation::InDoubt { step } => format!(
            "{step} is in doubt: the process stopped while it ran, and it is not safe to repeat; say whether it happened"
        ),
        Situation::Failed { step, failure } => format!("{step} failed: {}", failure.message),
        Situation::Holding { until } => format!(
            "holding for stable operation until {} ({} left)",
            until.format("%Y-%m-%d %H:%M UTC"),
            left(*until)
        ),
        Situation::RolledBack { rca_attached: false } => {
            "rolled back: a root-cause analysis is required before another attempt".to_string()
        }
        Situation::RolledBack { rca_attached: true } => {
            "rolled back: root-cause analysis attached; a new attempt may start".to_string()
        }
        Situation::Completed => "completed".to_string(),
    }
}

/// A glyph and a word for a verdict.
pub fn verdict_mark(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Within => ("✔", "within"),
        Verdict::Breach => ("✖", "BREACH"),
        Verdict::Inconclusive => ("?", "inconclusive"),
    }
}

/// A glyph and a word for a step state: the word makes sense without colour.
pub fn status_mark(status: StepStatus) -> (&'static str, &'static str) {
    match status {
        StepStatus::Pending => ("·", "pending"),
        StepStatus::Running => ("▶", "running"),
        StepStatus::Succeeded => ("✔", "succeeded"),
        StepStatus::Failed => ("✖", "failed"),
        StepStatus::Skipped => ("↷", "skipped"),
        StepStatus::InDoubt => ("?", "in doubt"),
    }
}

/// The last few lines of what a failed step printed or answered, for a quick look, each
/// safe to print.
pub fn evidence_lines(evidence: &Evidence, max: usize) -> Vec<String> {
    raw_evidence_lines(evidence, max)
        .iter()
        .map(|l| for_terminal(l, Lines::One).into_owned())
        .collect()
}

fn raw_evidence_lines(evidence: &Evidence, max: usize) -> Vec<String> {
    match evidence {
        Evidence::None => Vec::new(),
        Evidence::Command { stdout, stderr, .. } => {
            let mut lines: Vec<String> = Vec::new();
            for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
                let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                let skip = all.len().saturating_sub(max);
                lines.extend(all[skip..].iter().map(|l| format!("{name}| {l}")));
            }
            lines
        }
        Evidence::Http { attempts } => attempts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "attempt {}: {} in {} ms{}",
                    i + 1,
                    a.status.map_or("no answer".to_string(), |s| format!("HTTP {s}")),
                    a.latency_ms,
                    a.problem.as_deref().map(|p| format!(" — {p}")).unwrap_or_default()
                )
            })
            .collect(),
    }
}

/// A value in the metric's unit: ratios as percentages, seconds as milliseconds.
pub fn show_value(value: f64, unit: &str) -> String {
    let scale = Scale::of(value, unit);
    scale.show(value, scale.decimals)
}

/// A value and the bound it is compared with, with as many decimals as it takes for the
/// two to read differently when they differ: never "0.30 % > bound 0.30 %". Both are
/// written in the bound's scale (milliseconds or seconds), so that the two compare at a
/// glance. Equal values keep the usual decimals.
pub fn show_pair(value: f64, bound: f64, unit: &str) -> (String, String) {
    let scale = Scale::of(bound, unit);
    let mut decimals = scale.decimals;
    loop {
        let (v, b) = (scale.show(value, decimals), scale.show(bound, decimals));
        if value == bound || v != b {
            return (v, b);
        }
        if decimals >= scale.decimals + 12 {
            // Closer than any decimal can tell (or not numbers): the exact numbers, unscaled.
            return (format!("{value} ({unit})"), format!("{bound} ({unit})"));
        }
        decimals += 1;
    }
}

/// A value with as many decimals as it takes to write it exactly (up to six more than
/// usual): for the ticks of an axis, which must say where they are.
pub fn show_exact(value: f64, unit: &str) -> String {
    let scale = Scale::of(value, unit);
    let scaled = value * scale.factor;
    let mut decimals = scale.decimals;
    while decimals < scale.decimals + 6 {
        let written: f64 = format!("{scaled:.decimals$}").parse().unwrap_or(f64::NAN);
        if (written - scaled).abs() <= 1e-9 * scaled.abs().max(1.0) {
            break;
        }
        decimals += 1;
    }
    scale.show(value, decimals)
}

/// How a unit is written: a factor, a suffix and the usual decimals.
struct Scale {
    factor: f64,
    suffix: &'static str,
    decimals: usize,
}

impl Scale {
    fn of(value: f64, unit: &str) -> Self {
        let (factor, suffix, decimals) = match unit {
            "ratio" => (100.0, " %", 2),
            "seconds" if value < 10.0 => (1000.0, " ms", 0),
            "seconds" => (1.0, " s", 1),
            _ => (1.0, "", 3),
        };
        Self {
            factor,
            suffix,
            decimals,
        }
    }

    fn show(&self, value: f64, decimals: usize) -> String {
        format!("{:.decimals$}{}", value * self.factor, self.suffix)
    }
}

/// `host:port` of a URL, for messages (the URL itself when it has none).
pub fn host_port(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::{show_exact, show_pair, show_value};

    fn pair(value: f64, bound: f64, unit: &str) -> (String, String) {
        show_pair(value, bound, unit)
    }

    #[test]
    fn values_in_their_units() {
        assert_eq!(show_value(0.0052, "ratio"), "0.52 %");
        assert_eq!(show_value(0.262, "seconds"), "262 ms");
        assert_eq!(show_value(12.34, "seconds"), "12.3 s");
        assert_eq!(show_value(1.5, "req/s"), "1.500");
    }

    #[test]
    fn a_value_and_its_bound_read_differently_when_they_differ() {
        // Apart at the usual decimals: nothing added.
        assert_eq!(pair(0.0052, 0.003, "ratio"), ("0.52 %".into(), "0.30 %".into()));
        assert_eq!(pair(0.262, 0.216, "seconds"), ("262 ms".into(), "216 ms".into()));
        // Equal: the usual decimals, even though they read the same.
        assert_eq!(pair(0.003, 0.003, "ratio"), ("0.30 %".into(), "0.30 %".into()));
        assert_eq!(pair(0.216, 0.216, "seconds"), ("216 ms".into(), "216 ms".into()));
        // Close: decimals until they differ, the same number for both.
        assert_eq!(pair(0.00301, 0.003, "ratio"), ("0.301 %".into(), "0.300 %".into()));
        assert_eq!(
            pair(0.0029996, 0.003, "ratio"),
            ("0.29996 %".into(), "0.30000 %".into())
        );
        assert_eq!(pair(0.2161, 0.216, "seconds"), ("216.1 ms".into(), "216.0 ms".into()));
        assert_eq!(
            pair(0.21599, 0.216, "seconds"),
            ("215.99 ms".into(), "216.00 ms".into())
        );
        assert_eq!(pair(1.0004, 1.0, "req/s"), ("1.0004".into(), "1.0000".into()));
        // Across the switch from ms to s, both in the bound's scale.
        assert_eq!(pair(9.9999, 10.0, "seconds"), ("9.9999 s".into(), "10.0000 s".into()));
        assert_eq!(pair(12.0, 0.216, "seconds"), ("12000 ms".into(), "216 ms".into()));
    }

    #[test]
    fn values_too_close_for_decimals_are_written_exactly() {
        let bound: f64 = 0.003;
        let value = f64::from_bits(bound.to_bits() + 1);
        let (v, b) = pair(value, bound, "ratio");
        assert_ne!(v, b);
        assert!(v.ends_with("(ratio)") && b.ends_with("(ratio)"), "{v} / {b}");
    }

    #[test]
    fn a_tick_is_written_exactly() {
        assert_eq!(show_exact(0.001, "ratio"), "0.10 %");
        assert_eq!(show_exact(0.00125, "ratio"), "0.125 %");
        assert_eq!(show_exact(0.15, "seconds"), "150 ms");
        assert_eq!(show_exact(0.2125, "seconds"), "212.5 ms");
        assert_eq!(show_exact(0.1 + 0.2, "seconds"), "300 ms");
        assert_eq!(show_exact(2.5, "req/s"), "2.500");
    }
}
