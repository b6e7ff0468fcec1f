//! The content of the export, section by section, as a document that the Markdown and
//! HTML writers share. Event wording comes from `runner::lines`, as everywhere else.

use chrono::{DateTime, Utc};

use super::doc::{Doc, Line, code, strong, text};
use super::facts::{Facts, SessionEnd, WatchRun, hms, utc, worst};
use crate::engine::{Intent, Mode, Recorded, Resolution, RollbackTrigger, RunEvent, StepStatus, Verdict};
use crate::runbook::duration::took;
use crate::words::{
    evidence_lines, intent_words, record_change_words, rehearsal_words, show_pair, show_value, status_mark,
    verdict_mark,
};

pub fn document(f: &Facts<'_>) -> Doc {
    let mut doc = Doc::default();
    header(&mut doc, f);
    timeline(&mut doc, f);
    steps(&mut doc, f);
    dns(&mut doc, f);
    watches(&mut doc, f);
    decisions(&mut doc, f);
    notifications(&mut doc, f);
    incident(&mut doc, f);
    rca(&mut doc, f);
    sessions(&mut doc, f);
    doc
}

fn header(doc: &mut Doc, f: &Facts<'_>) {
    let s = f.state;
    let mut title: Line = vec![text(format!(
        "Cutover post-mortem: {} ({}) — ",
        f.clean(&s.runbook.name),
        f.clean(&s.runbook.environment)
    ))];
    title.push(match s.mode {
        Mode::Live => text("LIVE"),
        Mode::Rehearsal => strong("REHEARSAL"),
    });
    if s.dry_run {
        title.extend([text(" — "), strong("DRY RUN")]);
    }
    doc.heading(1, title);
    if !s.runbook.description.is_empty() {
        doc.para(vec![text(f.clean(&s.runbook.description))]);
    }
    let mut items: Vec<Line> = vec![vec![strong("Run:"), text(" "), code(f.clean(&s.run_id))]];
    items.push(match (s.mode, &s.rehearsal) {
        (Mode::Live, _) => vec![strong("Mode:"), text(" LIVE")],
        (Mode::Rehearsal, r) => {
            let how = r
                .as_ref()
                .map(rehearsal_words)
                .map(|w| w.trim_start_matches("; ").to_string())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "real time, approvals given by the operator".to_string());
            vec![
                strong("Mode:"),
                text(" "),
                strong("REHEARSAL"),
                text(format!(" — {}", f.clean(&how))),
            ]
        }
    });
    if s.dry_run {
        items.push(vec![
            strong("DRY RUN:"),
            text(" nothing was changed; mutating steps only said what they would send"),
        ]);
    }
    items.push(vec![strong("Outcome:"), text(format!(" {}", f.outcome()))]);
    items.push(vec![strong("Attempts:"), text(format!(" {}", s.attempt))]);
    let operators = f.operators();
    items.push(vec![
        strong("Operated by:"),
        text(format!(
            " {} (what the tool did by itself is by ",
            if operators.is_empty() {
                "nobody".to_string()
            } else {
                operators.join(", ")
            },
        )),
        code(crate::engine::SYSTEM_ACTOR),
        text(")"),
    ]);
    let last = f.records.last().map(|(_, r)| (r.at, r.seq));
    items.push(vec![
        strong("Started:"),
        text(format!(" {} UTC", utc(s.created_at))),
        text(match last {
            Some((at, seq)) => format!("; last event #{seq} at {} UTC", utc(at)),
            None => String::new(),
        }),
    ]);
    let flips: Vec<String> = f
        .flips
        .iter()
        .map(|(attempt, at)| format!("{} UTC (attempt {attempt})", utc(*at)))
        .collect();
    items.push(vec![
        strong("DNS flip (T+00:00):"),
        text(if flips.is_empty() {
            " no DNS flip was started: times are not relative".to_string()
        } else {
            format!(" {}", flips.join("; "))
        }),
    ]);
    items.push(vec![
        strong("Runbook:"),
        text(format!(" {} ", f.clean(&s.source))),
        code(f.clean(&s.digest)),
    ]);
    doc.list(items);
}

/// The one line of a record, as the journal and the headless output say it.
fn words(rec: &Recorded) -> String {
    crate::words::record_words(rec)
}

/// A short result for the outcome column.
fn result_word(event: &RunEvent) -> String {
    let verdict = |v: Verdict| {
        let (glyph, word) = verdict_mark(v);
        format!("{glyph} {word}")
    };
    match event {
        RunEvent::StepStarted { .. } => "started".to_string(),
        RunEvent::StepSucceeded { .. } => "✔ succeeded".to_string(),
        RunEvent::StepFailed { .. } => "✖ FAILED".to_string(),
        RunEvent::StepSkipped { .. } => "↷ skipped".to_string(),
        RunEvent::StepApproved { .. } => "approved".to_string(),
        RunEvent::StepRetried { .. } => "retry".to_string(),
        RunEvent::InDoubtResolved { .. } => "decided".to_string(),
        RunEvent::WatchSampled { samples, .. } => verdict(worst(samples)),
        RunEvent::NameserverAnswered { answer, .. } => verdict(answer.verdict),
        RunEvent::ObjectChecked { check, .. } => verdict(check.verdict),
        RunEvent::IncidentRecorded { .. } => "INCIDENT".to_string(),
        RunEvent::RollbackStarted { .. } => "ROLLBACK".to_string(),
        RunEvent::RollbackCompleted => "rolled back".to_string(),
        RunEvent::DrainEnded { .. } => "drain ended early".to_string(),
        RunEvent::RunCompleted => "completed".to_string(),
        _ => String::new(),
    }
}

fn timeline(doc: &mut Doc, f: &Facts<'_>) {
    doc.heading(2, vec![text("Timeline")]);
    doc.para(vec![
        text("Times are UTC; T± is the time from the DNS flip of the attempt (the start of the "),
        code("dns.flip"),
        text(" try that succeeded). Samples within bounds are listed under Metrics watch."),
    ]);
    let gaps = f.gaps();
    let mut rows = Vec::new();
    let mut hidden = 0;
    for (attempt, rec) in &f.records {
        if let RunEvent::SessionOpened { .. } = rec.event
            && let Some(gap) = gaps.iter().find(|g| g.to == rec.at)
        {
            rows.push(vec![
                utc(gap.from),
                f.relative(*attempt, gap.from),
                "—".to_string(),
                format!("⚠ {}", gap.words()),
                if gap.crashed { "GAP (crash)" } else { "GAP" }.to_string(),
            ]);
        }
        if let RunEvent::WatchSampled { samples, .. } = &rec.event
            && worst(samples) == Verdict::Within
        {
            hidden += 1;
            continue;
        }
        // Listed under Notifications.
        if let RunEvent::NotificationSent { .. } = rec.event {
            continue;
        }
        rows.push(vec![
            utc(rec.at),
            f.relative(*attempt, rec.at),
            f.who(rec),
            words(rec),
            result_word(&rec.event),
        ]);
    }
    if let Some(s) = f.sessions.last()
        && matches!(s.end, SessionEnd::Open)
        && matches!(
            f.state.status,
            crate::engine::RunStatus::Active | crate::engine::RunStatus::RollingBack
        )
    {
        rows.push(vec![
            utc(s.last_at),
            f.relative(f.state.attempt, s.last_at),
            "—".to_string(),
            "⚠ the last session has not closed: it still drives the run, or it ended without closing".to_string(),
            "OPEN".to_string(),
        ]);
    }
    doc.table(&["UTC", "T±", "Who", "What", "Outcome"], rows);
    if hidden > 0 {
        doc.para(vec![text(format!(
            "{hidden} sample(s) within bounds are not repeated here."
        ))]);
    }
}

/// Every try of a step, from its start to its outcome.
struct Try<'r> {
    attempt: u32,
    started: &'r Recorded,
    intent: &'r Intent,
    ended: Option<&'r Recorded>,
}

fn tries<'r>(f: &'r Facts<'_>, step: &str) -> Vec<Try<'r>> {
    let mut out: Vec<Try<'r>> = Vec::new();
    for (attempt, rec) in &f.records {
        match &rec.event {
            RunEvent::StepStarted { step: s, intent } if s == step => out.push(Try {
                attempt: *attempt,
                started: rec,
                intent,
                ended: None,
            }),
            RunEvent::StepSucceeded { step: s, .. }
            | RunEvent::StepFailed { step: s, .. }
            | RunEvent::InDoubtResolved { step: s, .. }
                if s == step =>
            {
                if let Some(t) = out.last_mut().filter(|t| t.ended.is_none()) {
                    t.ended = Some(rec);
                }
            }
            _ => {}
        }
    }
    out
}

fn step_lines(f: &Facts<'_>, step: &str) -> Vec<(u8, Line)> {
    let mut items: Vec<(u8, Line)> = Vec::new();
    let all = tries(f, step);
    for (i, t) in all.iter().enumerate() {
        let number = all[..i].iter().filter(|p| p.attempt == t.attempt).count() + 1;
        items.push((
            0,
            vec![text(format!(
                "Try {number} (attempt {}) at {}: {}",
                t.attempt,
                f.when(t.attempt, t.started.at),
                intent_words(t.intent)
            ))],
        ));
        let Some(end) = t.ended else {
            items.push((1, vec![text("no outcome recorded: the session stopped while it ran")]));
            continue;
        };
        let after = took((end.at - t.started.at).to_std().unwrap_or_default());
        match &end.event {
            RunEvent::StepSucceeded { outcome, .. } => {
                items.push((
                    1,
                    vec![text(format!(
                        "✔ succeeded at {} after {after}: {}",
                        f.when(t.attempt, end.at),
                        outcome.summary
                    ))],
                ));
                items.extend(outcome.details.iter().map(|d| (1, vec![text(d.clone())])));
            }
            RunEvent::StepFailed { failure, .. } => {
                let advice = failure
                    .advice
                    .as_deref()
                    .map(|a| format!(" (what to do: {a})"))
                    .unwrap_or_default();
                items.push((
                    1,
                    vec![text(format!(
                        "✖ FAILED at {} after {after}: {}{advice}",
                        f.when(t.attempt, end.at),
                        failure.message
                    ))],
                ));
                items.extend(
                    evidence_lines(&failure.evidence, 5)
                        .into_iter()
                        .map(|l| (1, vec![code(l)])),
                );
            }
            RunEvent::InDoubtResolved { .. } => {
                items.push((
                    1,
                    vec![text(format!("{} ({}, {})", words(end), f.who(end), hms(end.at)))],
                ));
            }
            _ => {}
        }
    }
    for (attempt, rec) in &f.records {
        match &rec.event {
            RunEvent::StepSkipped { step: s, reason } if s == step => items.push((
                0,
                vec![text(format!(
                    "↷ skipped by {} at {}: {reason}",
                    f.who(rec),
                    f.when(*attempt, rec.at)
                ))],
            )),
            RunEvent::InDoubtResolved { step: s, .. } if s == step && !ended_a_try(f, rec.seq, step) => {
                items.push((
                    0,
                    vec![text(format!("{} ({}, {})", words(rec), f.who(rec), hms(rec.at)))],
                ));
            }
            _ => {}
        }
    }
    items
}

fn ended_a_try(f: &Facts<'_>, seq: u64, step: &str) -> bool {
    tries(f, step).iter().any(|t| t.ended.map(|e| e.seq) == Some(seq))
}

fn step_heading(f: &Facts<'_>, id: &str) -> Line {
    let spec = f.state.spec(id);
    let title = spec.map(|s| f.clean(&s.title)).unwrap_or_default();
    let ran = f.records.iter().any(|(_, r)| r.event.step() == Some(id));
    let status = match f.state.step(id) {
        Some(s) if ran || s.status != StepStatus::Pending => {
            let (glyph, word) = status_mark(s.status);
            format!("{glyph} {word}")
        }
        _ => "not run".to_string(),
    };
    vec![
        code(id.to_string()),
        text(format!(" {title} · {} · {status}", f.kind(id))),
    ]
}

fn steps(doc: &mut Doc, f: &Facts<'_>) {
    let rb = &f.state.runbook;
    doc.heading(2, vec![text("Phases and steps")]);
    doc.para(vec![text(format!(
        "Each step with what it was to do (its intent) and what came of it; status as of attempt {}.",
        f.state.attempt
    ))]);
    for phase in &rb.phases {
        doc.heading(
            3,
            vec![text(format!("Phase {}: {}", f.clean(&phase.id), f.clean(&phase.title)))],
        );
        for step in &phase.steps {
            doc.para(step_heading(f, &step.id));
            doc.nested(step_lines(f, &step.id));
        }
    }
    if !rb.rollback.is_empty() {
        doc.heading(3, vec![text("Rollback steps")]);
        for step in &rb.rollback {
            doc.para(step_heading(f, &step.id));
            doc.nested(step_lines(f, &step.id));
        }
    }
}

fn dns(doc: &mut Doc, f: &Facts<'_>) {
    let mut changes = Vec::new();
    for (attempt, rec) in &f.records {
        if let RunEvent::StepStarted {
            step,
            intent: Intent::Dns(d),
        } = &rec.event
            && d.op.writes()
        {
            let result = tries(f, step)
                .into_iter()
                .find(|t| t.started.seq == rec.seq)
                .and_then(|t| t.ended)
                .map_or("no outcome recorded".to_string(), |e| result_word(&e.event));
            for r in &d.records {
                changes.push(vec![
                    utc(rec.at),
                    f.relative(*attempt, rec.at),
                    step.clone(),
                    d.op.words().to_string(),
                    record_change_words(r, d.writes()),
                    d.via.clone(),
                    result.clone(),
                ]);
            }
        }
    }
    let mut answers = Vec::new();
    for (attempt, rec) in &f.records {
        if let RunEvent::NameserverAnswered { step, answer } = &rec.event {
            let (glyph, word) = verdict_mark(answer.verdict);
            answers.push(vec![
                utc(rec.at),
                f.relative(*attempt, rec.at),
                step.clone(),
                format!("{} ({})", answer.server, answer.address),
                answer.record.clone(),
                if answer.values.is_empty() {
                    "nothing".to_string()
                } else {
                    answer.values.join(", ")
                },
                answer.ttl.map(|t| t.to_string()).unwrap_or_default(),
                format!("{glyph} {word}"),
                answer.note.clone(),
            ]);
        }
    }
    if changes.is_empty() && answers.is_empty() {
        return;
    }
    doc.heading(2, vec![text("DNS changes")]);
    if !changes.is_empty() {
        doc.heading(3, vec![text("Changes made (compare-and-swap)")]);
        doc.table(&["UTC", "T±", "Step", "Change", "Record", "Via", "Result"], changes);
    }
    if !answers.is_empty() {
        doc.heading(3, vec![text("What each nameserver answered")]);
        doc.table(
            &[
                "UTC",
                "T±",
                "Step",
                "Nameserver",
                "Record",
                "Answer",
                "TTL",
                "Verdict",
                "Note",
            ],
            answers,
        );
    }
}

fn watches(doc: &mut Doc, f: &Facts<'_>) {
    if f.watches.is_empty() {
        return;
    }
    doc.heading(2, vec![text("Metrics watch")]);
    for w in &f.watches {
        watch(doc, f, w);
    }
}

fn watch(doc: &mut Doc, f: &Facts<'_>, w: &WatchRun) {
    doc.heading(
        3,
        vec![
            code(w.step.clone()),
            text(format!(
                " (attempt {}): {} → {} UTC",
                w.attempt,
                utc(w.started_at),
                hms(w.until)
            )),
        ],
    );
    let bounds = w
        .metrics
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                show_value(m.baseline, &m.unit),
                show_value(m.bound, &m.unit),
                m.rule.clone(),
            ]
        })
        .collect();
    doc.table(&["Metric", "Baseline", "Bound", "Rule"], bounds);
    let mut header: Vec<&str> = vec!["UTC", "T±"];
    header.extend(w.metrics.iter().map(|m| m.name.as_str()));
    header.extend(["Verdict", "Why"]);
    let rows = w
        .samples
        .iter()
        .map(|(at, samples)| {
            let mut row = vec![utc(*at), f.relative(w.attempt, *at)];
            for m in &w.metrics {
                row.push(match samples.iter().find(|s| s.metric == m.name) {
                    Some(s) => {
                        let value = s
                            .value
                            .map_or("no data".to_string(), |v| show_pair(v, m.bound, &m.unit).0);
                        format!("{value} {}", verdict_mark(s.verdict).0)
                    }
                    None => "—".to_string(),
                });
            }
            let (glyph, word) = verdict_mark(worst(samples));
            row.push(format!("{glyph} {word}"));
            row.push(
                samples
                    .iter()
                    .filter(|s| s.verdict != Verdict::Within)
                    .map(|s| format!("{}: {}", s.metric, s.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            row
        })
        .collect::<Vec<_>>();
    if rows.is_empty() {
        doc.para(vec![text("No sample was recorded.")]);
    } else {
        let breaches = w.samples.iter().filter(|(_, s)| worst(s) == Verdict::Breach).count();
        doc.para(vec![text(format!(
            "{} sample(s), {breaches} out of bounds.",
            w.samples.len()
        ))]);
        doc.table(&header, rows);
    }
}

fn decisions(doc: &mut Doc, f: &Facts<'_>) {
    let mut rows = Vec::new();
    for (attempt, rec) in &f.records {
        let (what, why) = match &rec.event {
            RunEvent::StepApproved { step, typed, note } => {
                let mut why = Vec::new();
                if let Some(t) = typed {
                    why.push(format!("typed `{t}`"));
                }
                if let Some(n) = note {
                    why.push(format!("note: {n}"));
                }
                (format!("approved {step}"), why.join("; "))
            }
            RunEvent::StepSkipped { step, reason } => (format!("skipped {step}"), reason.clone()),
            RunEvent::StepRetried { step } => (format!("retry {step}"), String::new()),
            RunEvent::InDoubtResolved { step, resolution, note } => (
                format!(
                    "{step} was in doubt: {}",
                    match resolution {
                        Resolution::Retry => "run it again",
                        Resolution::Succeeded => "it did happen",
                        Resolution::Failed => "it did not happen",
                    }
                ),
                note.clone().unwrap_or_default(),
            ),
            RunEvent::RollbackStarted { trigger } => ("ROLL BACK".to_string(), trigger_words(trigger)),
            RunEvent::AttemptStarted { attempt } => (format!("start attempt {attempt}"), String::new()),
            RunEvent::NoteAdded { step, text: t } => (
                step.as_ref().map_or("note".to_string(), |s| format!("note on {s}")),
                t.clone(),
            ),
            RunEvent::RunbookReloaded { digest, source, .. } => {
                ("reload the runbook".to_string(), format!("{source} ({digest})"))
            }
            RunEvent::RcaAttached { text: t } => (
                "attach the root-cause analysis".to_string(),
                t.lines().next().unwrap_or_default().to_string(),
            ),
            _ => continue,
        };
        rows.push(vec![utc(rec.at), f.relative(*attempt, rec.at), f.who(rec), what, why]);
    }
    doc.heading(2, vec![text("Decisions")]);
    if rows.is_empty() {
        doc.para(vec![text("No decision was recorded.")]);
    } else {
        doc.table(&["UTC", "T±", "Who", "Decision", "Reason"], rows);
    }
}

/// Every message to a `[notify]` target: when, about what, to whom, what it said, the answer.
fn notifications(doc: &mut Doc, f: &Facts<'_>) {
    let rows: Vec<Vec<String>> = f
        .records
        .iter()
        .filter_map(|(attempt, rec)| match &rec.event {
            RunEvent::NotificationSent { notification: n } => {
                let mut answer = n.delivery.word().to_string();
                if let Some(status) = n.status {
                    answer.push_str(&format!(": HTTP {status}"));
                }
                if n.attempts > 1 {
                    answer.push_str(&format!(" after {} attempts", n.attempts));
                }
                if let Some(e) = &n.error {
                    answer.push_str(&format!(" — {e}"));
                }
                Some(vec![
                    utc(rec.at),
                    f.relative(*attempt, rec.at),
                    n.event.name().to_string(),
                    format!("{} ({})", n.target, n.kind.name()),
                    n.summary.clone(),
                    answer,
                ])
            }
            _ => None,
        })
        .collect();
    if rows.is_empty() && f.state.runbook.notify.is_none() {
        return;
    }
    doc.heading(2, vec![text("Notifications")]);
    if rows.is_empty() {
        doc.para(vec![text("No message was sent.")]);
    } else {
        doc.table(&["UTC", "T±", "Event", "To", "Said", "Answer"], rows);
    }
}

fn trigger_words(trigger: &RollbackTrigger) -> String {
    match trigger {
        RollbackTrigger::Operator { reason } => format!("by the operator: {reason}"),
        RollbackTrigger::StepFailed { step, message } => format!("{step} failed: {message}"),
    }
}

fn incident(doc: &mut Doc, f: &Facts<'_>) {
    doc.heading(2, vec![text("Incident and rollback")]);
    let mut any = false;
    for (attempt, rec) in &f.records {
        match &rec.event {
            RunEvent::IncidentRecorded { incident } => {
                any = true;
                doc.para(vec![
                    strong("Incident"),
                    text(format!(
                        " recorded {} UTC ({}) by {}, attempt {attempt}: {}",
                        utc(rec.at),
                        f.relative(*attempt, rec.at),
                        f.who(rec),
                        incident.summary
                    )),
                ]);
                let mut items: Vec<Line> = Vec::new();
                if let Some(step) = &incident.step {
                    items.push(vec![text("Step: "), code(step.clone())]);
                }
                items.extend(incident.details.iter().map(|d| vec![text(d.clone())]));
                doc.list(items);
            }
            RunEvent::RollbackStarted { trigger } => {
                any = true;
                doc.para(vec![
                    strong("Rollback"),
                    text(format!(
                        " started {} UTC ({}) by {}: {}",
                        utc(rec.at),
                        f.relative(*attempt, rec.at),
                        f.who(rec),
                        trigger_words(trigger)
                    )),
                ]);
                let items = rollback_steps(f, *attempt, rec.at);
                doc.list(items);
            }
            RunEvent::RollbackCompleted => {
                let began = f.rollbacks.get(attempt).copied().unwrap_or(rec.at);
                doc.para(vec![text(format!(
                    "Rollback completed {} UTC ({}), {} after it started.",
                    utc(rec.at),
                    f.relative(*attempt, rec.at),
                    took((rec.at - began).to_std().unwrap_or_default())
                ))]);
            }
            _ => {}
        }
    }
    if !any {
        doc.para(vec![text("No incident was recorded and the run did not roll back.")]);
    }
}

/// What each rollback step did in the rollback that began at `from`.
fn rollback_steps(f: &Facts<'_>, attempt: u32, from: DateTime<Utc>) -> Vec<Line> {
    f.state
        .runbook
        .rollback
        .iter()
        .map(|step| {
            let t = tries(f, &step.id)
                .into_iter()
                .rfind(|t| t.attempt == attempt && t.started.at >= from);
            let what = match t {
                None => "did not run".to_string(),
                Some(t) => match t.ended.map(|e| &e.event) {
                    Some(RunEvent::StepSucceeded { outcome, .. }) => format!(
                        "{}: ✔ {} ({})",
                        intent_words(t.intent),
                        outcome.summary,
                        hms(t.ended.map_or(t.started.at, |e| e.at))
                    ),
                    Some(RunEvent::StepFailed { failure, .. }) => {
                        format!("{}: ✖ FAILED: {}", intent_words(t.intent), failure.message)
                    }
                    _ => format!("{}: no outcome recorded", intent_words(t.intent)),
                },
            };
            vec![code(step.id.clone()), text(format!(" {what}"))]
        })
        .collect()
}

fn rca(doc: &mut Doc, f: &Facts<'_>) {
    let attached: Vec<&(u32, Recorded)> = f
        .records
        .iter()
        .filter(|(_, r)| matches!(r.event, RunEvent::RcaAttached { .. }))
        .collect();
    if attached.is_empty() && f.rollbacks.is_empty() {
        return;
    }
    doc.heading(2, vec![text("Root-cause analysis")]);
    if attached.is_empty() {
        doc.para(vec![text(
            "Not attached yet: a written root-cause analysis is required before another attempt.",
        )]);
    }
    for (attempt, rec) in attached {
        if let RunEvent::RcaAttached { text: t } = &rec.event {
            doc.para(vec![text(format!(
                "Attached {} UTC by {} for attempt {attempt}:",
                utc(rec.at),
                f.who(rec)
            ))]);
            doc.quote(t);
        }
    }
}

fn sessions(doc: &mut Doc, f: &Facts<'_>) {
    doc.heading(2, vec![text("Sessions and gaps")]);
    let rows: Vec<Vec<String>> = f
        .sessions
        .iter()
        .map(|s| {
            let (ended, how) = match &s.end {
                SessionEnd::Closed { at, reason } => (utc(*at), format!("closed: {reason}")),
                SessionEnd::Crashed => (
                    utc(s.last_at),
                    format!("⚠ ended without closing (crash or kill); last event #{}", s.last_seq),
                ),
                SessionEnd::Open => (
                    utc(s.last_at),
                    "not closed at the last event (still driving, or it ended without closing)".to_string(),
                ),
            };
            vec![
                utc(s.opened_at),
                s.by.clone(),
                format!("{} (pid {})", s.host, s.pid),
                ended,
                how,
            ]
        })
        .collect();
    if rows.is_empty() {
        doc.para(vec![text("No session was recorded.")]);
        return;
    }
    doc.table(&["Opened", "By", "Host", "Ended", "How it ended"], rows);
    let gaps: Vec<Line> = f
        .gaps()
        .iter()
        .map(|g| vec![text(format!("{} → {} UTC: {}", utc(g.from), utc(g.to), g.words()))])
        .collect();
    if gaps.is_empty() {
        doc.para(vec![text("No gap: a session drove the run from start to end.")]);
    } else {
        doc.para(vec![strong("Gaps"), text(" (nobody drove the run):")]);
        doc.list(gaps);
    }
}
