//! How the run ended, on the row after the steps: after a rollback the incident panel
//! (what breached, what the rollback did and what it checked, the watch frozen at the
//! breach, what to do next); after a completion the end card (durations, flip, watch
//! verdict, hold, the export command).

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Ctx, safe};
use crate::engine::plan::drain_gate;
use crate::engine::{RollbackTrigger, RunState, RunStatus, StepStatus, Verdict, Watch, story};
use crate::runbook::duration::{countdown, took};
use crate::tui::theme::Theme;
use crate::words::{show_pair, show_value, status_mark, verdict_mark};

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
}

/// `T+04:08`: the time from the flip.
pub fn since_flip(state: &RunState, at: DateTime<Utc>) -> Option<String> {
    let flip = story::flip_at(state)?;
    let secs = (at - flip).num_seconds();
    let sign = if secs < 0 { "−" } else { "+" };
    let secs = secs.abs();
    Some(if secs >= 3600 {
        format!("T{sign}{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("T{sign}{:02}:{:02}", secs / 60, secs % 60)
    })
}

fn heading(theme: Theme, text: &str) -> Line<'static> {
    Line::from(Span::styled(text.to_string(), theme.title()))
}

/// One fact: a label column, then the value.
fn fact(theme: Theme, label: &str, value: String, style: Style) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {label:<13}"), theme.dim()),
        Span::styled(value, style),
    ])
}

/// How the watch ended, in a few words: "✔ passed — 20 samples, none breaching".
pub fn watch_verdict(state: &RunState) -> Option<(String, Verdict)> {
    let (index, watch) = state.steps[..state.forward_count()]
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| s.watch.as_ref().map(|w| (i, w)))?;
    let step = &state.steps[index];
    let n = watch.samples.len();
    let samples = if n == 1 {
        "1 sample".to_string()
    } else {
        format!("{n} samples")
    };
    let breaching = watch
        .samples
        .iter()
        .filter(|(_, s)| s.iter().any(|m| m.verdict == Verdict::Breach))
        .count();
    let length = countdown((watch.until - watch.started_at).to_std().unwrap_or_default());
    Some(match step.status {
        StepStatus::Succeeded => (
            format!("passed — {samples} over {length}, {breaching} with a breach"),
            Verdict::Within,
        ),
        StepStatus::Failed => (
            format!("FAILED — {samples}, {breaching} with a breach"),
            Verdict::Breach,
        ),
        StepStatus::Running => (format!("running — {samples} so far"), Verdict::Inconclusive),
        other => (format!("{} — {samples}", status_mark(other).1), Verdict::Inconclusive),
    })
}

/// What breached: each metric of the breaking sample with its value against bound and
/// baseline and how many samples in a row.
fn what_breached(ctx: &Ctx<'_>, watch: &Watch) -> Vec<Line<'static>> {
    let theme = ctx.app.theme;
    let streaks = story::streaks(watch);
    let mut lines = Vec::new();
    for s in &streaks {
        let m = s.metric;
        // Decimals enough that a value just over its bound never reads as equal to it.
        let (value, bound) = match s.value {
            Some(v) => show_pair(v, m.bound, &m.unit),
            None => ("no data".to_string(), show_value(m.bound, &m.unit)),
        };
        let when = match since_flip(ctx.state, s.since) {
            Some(t) => format!("since {} ({t})", hms(s.since)),
            None => format!("since {}", hms(s.since)),
        };
        let rows = if s.in_a_row == 1 {
            "1 sample".to_string()
        } else {
            format!("{} samples in a row", s.in_a_row)
        };
        lines.push(Line::from(vec![
            Span::styled("  ✖ ", theme.verdict(Verdict::Breach)),
            Span::styled(format!("{} {value}", m.name), theme.error()),
            Span::raw(format!(
                " > bound {bound} (baseline {})",
                show_value(m.baseline, &m.unit)
            )),
        ]));
        lines.push(Line::from(Span::styled(format!("      {rows}, {when}"), theme.dim())));
    }
    lines
}

/// Each rollback step: what it did, and what it checked (nameserver answers, objects).
fn what_the_rollback_did(ctx: &Ctx<'_>) -> Vec<Line<'static>> {
    let theme = ctx.app.theme;
    let state = ctx.state;
    let mut lines = Vec::new();
    for index in state.forward_count()..state.steps.len() {
        let step = &state.steps[index];
        let (glyph, word) = status_mark(step.status);
        let what = match step.status {
            StepStatus::Succeeded => step.outcome.as_ref().map(|o| o.summary.clone()),
            StepStatus::Failed => step.failure.as_ref().map(|f| f.message.clone()),
            _ => None,
        };
        let took = match (step.started_at, step.finished_at) {
            (Some(a), Some(b)) => format!(" ({})", took((b - a).to_std().unwrap_or_default())),
            _ => String::new(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {glyph} "), theme.status(step.status)),
            Span::styled(step.id.clone(), theme.title()),
            Span::raw(format!(" — {}", what.unwrap_or_else(|| word.to_string()))),
            Span::styled(took, theme.dim()),
        ]));
        if step.status == StepStatus::Pending
            && let Some((until, _)) = drain_gate(state, index)
        {
            let left = countdown((until - ctx.now).to_std().unwrap_or_default());
            lines.push(Line::from(Span::styled(
                format!("      draining: scales to zero at {} (in {left})", hms(until)),
                theme.warn(),
            )));
        }
        if let Some((by, at)) = &step.drain_ended {
            lines.push(Line::from(Span::styled(
                format!("      drain ended early by {by} at {}", hms(*at)),
                theme.dim(),
            )));
        }
        for a in &step.answers {
            let values = if a.values.is_empty() {
                "nothing".to_string()
            } else {
                a.values.join(", ")
            };
            lines.push(Line::from(vec![
                Span::styled(
                    format!("      {} ", verdict_mark(a.verdict).0),
                    theme.verdict(a.verdict),
                ),
                Span::raw(format!("{} answers {} {values}", a.server, a.record)),
            ]));
        }
        for o in &step.objects {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("      {} ", verdict_mark(o.verdict).0),
                    theme.verdict(o.verdict),
                ),
                Span::raw(format!("{} {}: {}", o.object, o.check, o.value)),
            ]));
        }
    }
    lines
}

/// The lines the operator fills in: the first two.
pub const RCA_PROMPTS: [&str; 2] = ["Root cause: ", "Fixed before the next attempt: "];

/// The root-cause analysis as it opens: two lines to fill in, then the facts the journal
/// holds about this rollback, so the analysis starts from what was measured.
pub fn rca_template(state: &RunState) -> Vec<String> {
    let mut lines: Vec<String> = RCA_PROMPTS.iter().map(|p| p.to_string()).collect();
    lines.push(String::new());
    lines.push(format!("Facts from the journal (attempt {}):", state.attempt));
    if let Some(flip) = story::flip_at(state) {
        lines.push(format!("- DNS flipped at {}", hms(flip)));
    }
    match story::rollback_cause(state).map(|(t, _)| t) {
        Some(RollbackTrigger::StepFailed { step, message }) => lines.push(format!("- {step} failed: {message}")),
        Some(RollbackTrigger::Operator { reason }) => lines.push(format!("- rolled back by the operator: {reason}")),
        None => {}
    }
    if let Some((_, watch)) = story::rolled_back_watch(state) {
        for s in story::streaks(watch) {
            let m = s.metric;
            let (value, bound) = match s.value {
                Some(v) => show_pair(v, m.bound, &m.unit),
                None => ("no data".to_string(), show_value(m.bound, &m.unit)),
            };
            lines.push(format!(
                "- {} {value} > bound {bound} (baseline {}), {} sample(s) in a row since {}{}",
                m.name,
                show_value(m.baseline, &m.unit),
                s.in_a_row,
                hms(s.since),
                since_flip(state, s.since)
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            ));
        }
    }
    for step in &state.steps[state.forward_count()..] {
        let what = match step.status {
            StepStatus::Succeeded => step.outcome.as_ref().map(|o| o.summary.clone()),
            StepStatus::Failed => step.failure.as_ref().map(|f| f.message.clone()),
            _ => None,
        };
        lines.push(format!(
            "- rollback {}: {}",
            step.id,
            what.unwrap_or_else(|| status_mark(step.status).1.to_string())
        ));
    }
    if let RunStatus::RolledBack { at } = state.status {
        lines.push(format!("- rolled back at {}", hms(at)));
    }
    lines
}

/// The export command for this run.
pub fn export_command(state: &RunState) -> String {
    format!("cutover export {} --format html -o postmortem.html", state.run_id)
}

/// The incident panel: drawn while the run rolls back and after.
fn incident(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let state = ctx.state;
    let title = match state.status {
        RunStatus::RolledBack { at } => {
            let after = since_flip(state, at)
                .map(|t| format!(" · {t} after the flip"))
                .unwrap_or_default();
            format!(" INCIDENT · rolled back at {}{after} ", hms(at))
        }
        _ => " INCIDENT · rolling back ".to_string(),
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.error())
        .title(Span::styled(title, theme.error()));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let mut lines = Vec::new();
    let cause = story::rollback_cause(state);
    let watch = story::rolled_back_watch(state);
    let breaches = watch.map(|(_, w)| what_breached(ctx, w)).unwrap_or_default();
    match cause {
        // A watch that breached: its metrics say it better than its message.
        Some((RollbackTrigger::StepFailed { step, message }, Some(i)))
            if !breaches.is_empty() && watch.is_some_and(|(w, _)| w == i) =>
        {
            lines.push(heading(
                theme,
                &format!("What broke: the metrics watch ({step}) breached"),
            ));
            lines.push(Line::from(Span::styled(format!("  {message}"), theme.dim())));
        }
        Some((RollbackTrigger::StepFailed { step, message }, _)) => {
            lines.push(heading(theme, &format!("What broke: {step} failed")));
            lines.push(Line::from(Span::styled(format!("  {message}"), theme.error())));
        }
        Some((RollbackTrigger::Operator { reason }, _)) => {
            let who = state
                .rollbacks
                .iter()
                .rev()
                .find(|r| r.attempt == state.attempt)
                .map(|r| r.by.clone())
                .unwrap_or_default();
            lines.push(heading(theme, &format!("Rolled back by {who}")));
            lines.push(Line::raw(format!("  reason: {reason}")));
        }
        None => {}
    }
    lines.extend(breaches);
    lines.push(Line::raw(""));
    lines.push(heading(theme, "What the rollback did, as checked"));
    lines.extend(what_the_rollback_did(ctx));
    lines.push(Line::raw(""));
    lines.push(heading(theme, "Next"));
    let rca_attached = state.rcas.iter().any(|r| r.attempt == state.attempt);
    match state.status {
        RunStatus::RolledBack { .. } if ctx.app.read_only.is_some() => lines.push(Line::raw(if rca_attached {
            "  the operator may start the next attempt"
        } else {
            "  the operator writes the root-cause analysis"
        })),
        RunStatus::RolledBack { .. } if !rca_attached => lines.push(Line::from(vec![
            Span::styled("  Enter ", theme.key()),
            Span::raw("write the root-cause analysis (it opens with these facts)"),
        ])),
        RunStatus::RolledBack { .. } => lines.push(Line::from(vec![
            Span::styled("  Enter ", theme.key()),
            Span::raw(format!("start attempt {}", state.attempt + 1)),
        ])),
        _ => lines.push(Line::raw("  the rollback runs; then the root-cause analysis")),
    }
    lines.push(Line::from(vec![
        Span::styled("  export ", theme.dim()),
        Span::raw(export_command(state)),
    ]));

    // The frozen watch under the facts, when there is room for both.
    let text = Paragraph::new(safe(lines)).wrap(Wrap { trim: false });
    let wanted = text.line_count(inner.width) as u16;
    match watch {
        Some((_, w)) if inner.height.saturating_sub(wanted) >= 8 => {
            let [text_area, chart_area] =
                Layout::vertical([Constraint::Length(wanted), Constraint::Min(8)]).areas(inner);
            frame.render_widget(text, text_area);
            super::watch::charts(frame, chart_area, ctx, w);
        }
        _ => frame.render_widget(text, inner),
    }
}

/// The end card: drawn once every step is done (holding, completed).
fn end_card(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let state = ctx.state;
    let (title, style) = match state.status {
        RunStatus::Completed { at } => (format!(" COMPLETED at {} ", hms(at)), theme.ok()),
        _ => (" EVERY STEP DONE · holding ".to_string(), theme.ok()),
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(style)
        .title(Span::styled(title, style));
    let mut lines = Vec::new();
    let end = match state.status {
        RunStatus::Completed { at } => at,
        _ => ctx.now,
    };
    lines.push(fact(
        theme,
        "took",
        format!(
            "{} (attempt {} from {})",
            countdown((end - state.attempt_started_at).to_std().unwrap_or_default()),
            state.attempt,
            hms(state.attempt_started_at)
        ),
        theme.title(),
    ));
    if let Some(flip) = story::flip_at(state) {
        lines.push(fact(theme, "DNS flip", hms(flip), theme.title()));
    }
    if let Some((words, verdict)) = watch_verdict(state) {
        lines.push(fact(
            theme,
            "watch",
            format!("{} {words}", verdict_mark(verdict).0),
            theme.verdict(verdict),
        ));
    }
    match state.status {
        RunStatus::Holding { until } => lines.push(fact(
            theme,
            "hold",
            format!(
                "until {} (in {})",
                until.format("%Y-%m-%d %H:%M:%S UTC"),
                countdown((until - ctx.now).to_std().unwrap_or_default())
            ),
            theme.warn(),
        )),
        _ if !state.runbook.hold.is_zero() => lines.push(fact(
            theme,
            "hold",
            format!("{} held to its end", countdown(state.runbook.hold)),
            theme.ok(),
        )),
        _ => {}
    }
    let forward = state.forward_count();
    let done = state.steps[..forward]
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .count();
    let skipped = state.steps[..forward]
        .iter()
        .filter(|s| s.status == StepStatus::Skipped)
        .count();
    // During the hold a rollback can still come (`r`); after it, it was not needed.
    let rollback = if matches!(state.status, RunStatus::Completed { .. }) {
        "; rollback not needed"
    } else {
        ""
    };
    lines.push(fact(
        theme,
        "steps",
        format!("{done} done, {skipped} skipped{rollback}"),
        theme.title(),
    ));
    lines.push(fact(theme, "export", export_command(state), Style::default()));
    // Each step's duration, as many as fit: with more steps than rows, the slowest ones
    // (what a post-mortem asks about first), still in run order.
    let room = (area.height as usize).saturating_sub(lines.len() + 4);
    let took_of = |s: &crate::engine::StepState| match (s.started_at, s.finished_at) {
        (Some(a), Some(b)) => (b - a).to_std().ok(),
        _ => None,
    };
    let mut shown: Vec<usize> = (0..forward).collect();
    let hidden = forward.saturating_sub(room);
    if hidden > 0 {
        shown.sort_by_key(|&i| std::cmp::Reverse(took_of(&state.steps[i])));
        shown.truncate(room.saturating_sub(1));
        shown.sort_unstable();
    }
    lines.push(Line::raw(""));
    lines.push(heading(
        theme,
        if hidden > 0 {
            "Durations (the slowest steps)"
        } else {
            "Durations"
        },
    ));
    for &i in &shown {
        let s = &state.steps[i];
        let (glyph, word) = status_mark(s.status);
        let took = took_of(s).map_or_else(|| word.to_string(), took);
        lines.push(Line::from(vec![
            Span::styled(format!("  {glyph} "), theme.status(s.status)),
            Span::raw(format!("{:<24} ", s.id)),
            Span::styled(took, theme.dim()),
        ]));
    }
    if shown.len() < forward {
        lines.push(Line::from(Span::styled(
            format!(
                "  … {} more steps, each quicker (all of them: the export)",
                forward - shown.len()
            ),
            theme.dim(),
        )));
    }
    frame.render_widget(
        Paragraph::new(safe(lines)).block(block).wrap(Wrap { trim: false }),
        area,
    );
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    match ctx.state.status {
        RunStatus::RollingBack | RunStatus::RolledBack { .. } => incident(frame, area, ctx),
        _ => end_card(frame, area, ctx),
    }
}
