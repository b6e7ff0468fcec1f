//! The selected step in full: what it will do with every value resolved, what it waits
//! for, what it measured, and what went wrong with what to do about it. What matters for
//! the step's state comes first, so it stays visible on a small screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Ctx, resolved_action_lines, safe};
use crate::engine::plan::{closed_gate, pending_approval};
use crate::engine::{Situation, StepState, StepStatus, Verdict, current, situation};
use crate::runbook::describe::gate_lines;
use crate::runbook::duration::{countdown, took};
use crate::runbook::{Approval, Step};
use crate::tui::theme::Theme;
use crate::words::{evidence_lines, intent_words, record_change_words, status_mark, verdict_mark};

fn hms(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
}

fn heading(theme: Theme, text: &str) -> Line<'static> {
    Line::from(Span::styled(text.to_string(), theme.title()))
}

/// What the step waits for, when it is the step the run is at.
fn waiting(ctx: &Ctx<'_>, index: usize, step: &StepState) -> Vec<Line<'static>> {
    let theme = ctx.app.theme;
    if current(ctx.state) != Some(index) || step.status != StepStatus::Pending {
        return Vec::new();
    }
    let text = if let Some((until, gate)) = closed_gate(ctx.state, index, ctx.now) {
        let left = countdown((until - ctx.now).to_std().unwrap_or_default());
        format!(
            "waiting: the gate opens at {} (in {left}) — {}",
            hms(until),
            crate::words::gate_words(&gate)
        )
    } else {
        match pending_approval(ctx.state, index) {
            // A watcher cannot approve: say who can.
            Some(Approval::Type(text)) if ctx.app.read_only.is_some() => {
                format!("waiting for the operator to type `{text}` and approve")
            }
            Some(_) if ctx.app.read_only.is_some() => "waiting for the operator to approve".to_string(),
            Some(Approval::Type(text)) => format!("waiting for you: press Enter and type `{text}` to approve"),
            Some(_) => "waiting for you: press Enter to approve".to_string(),
            None => return Vec::new(),
        }
    };
    vec![Line::from(Span::styled(text, theme.warn()))]
}

/// Whether a nameserver still answers what a DNS change replaces: a secondary that has not
/// caught up yet (not a lame server, an error or a wrong value, which stay red).
fn still_the_old_value(step: &StepState, answer: &crate::engine::NameserverAnswer) -> bool {
    let Some(crate::engine::Intent::Dns(d)) = &step.intent else {
        return false;
    };
    let mut values = answer.values.clone();
    values.sort();
    d.records.iter().any(|r| {
        let mut from = r.from.clone();
        from.sort();
        r.name == answer.record && !from.is_empty() && from == values
    })
}

/// What went wrong, what it measured, or what was decided about it.
/// `hint` is what the keys do about this step now, when the run waits on it.
fn outcome(theme: Theme, step: &StepState, hint: Option<&str>) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match step.status {
        StepStatus::Failed => {
            if let Some(f) = &step.failure {
                lines.push(heading(theme, "What went wrong"));
                lines.push(Line::from(Span::styled(format!("  {}", f.message), theme.error())));
                if let Some(advice) = &f.advice {
                    lines.push(Line::from(vec![
                        Span::styled("  what to do: ", theme.title()),
                        Span::raw(advice.clone()),
                    ]));
                }
                for l in evidence_lines(&f.evidence, 8) {
                    lines.push(Line::from(Span::styled(format!("  {l}"), theme.dim())));
                }
            }
            if let Some(hint) = hint {
                lines.push(Line::from(Span::styled(format!("  {hint}"), theme.key())));
            }
        }
        StepStatus::InDoubt => {
            lines.push(heading(theme, "In doubt"));
            lines.push(Line::from(Span::styled(
                "  the process stopped while this step was acting: it may or may not have happened",
                theme.status(StepStatus::InDoubt),
            )));
            if let Some(hint) = hint {
                lines.push(Line::from(Span::styled(format!("  {hint}"), theme.key())));
            }
        }
        StepStatus::Succeeded => {
            if let Some(o) = &step.outcome {
                lines.push(heading(theme, "Result"));
                lines.push(Line::from(Span::styled(format!("  {}", o.summary), theme.ok())));
                lines.extend(o.details.iter().map(|d| Line::raw(format!("  {d}"))));
                for l in evidence_lines(&o.evidence, 6) {
                    lines.push(Line::from(Span::styled(format!("  {l}"), theme.dim())));
                }
            }
        }
        _ => {}
    }
    if let Some(d) = &step.decided {
        lines.push(Line::from(Span::styled(d.clone(), theme.warn())));
    }
    if !step.answers.is_empty() {
        lines.push(heading(theme, "Nameservers"));
        // Grouped by record, one server per entry: the server on the first line, what it
        // answered indented below it, so narrow panes wrap nothing important.
        let mut answers: Vec<_> = step.answers.iter().collect();
        answers.sort_by(|a, b| (&a.record, &a.server, &a.address).cmp(&(&b.record, &b.server, &b.address)));
        for a in answers {
            // While the step still polls, a server with the old answer is catching up (it
            // is a failure only when the step times out): amber, not a red cross.
            let catching_up =
                step.status == StepStatus::Running && a.verdict == Verdict::Breach && still_the_old_value(step, a);
            let (mark, style) = if catching_up {
                ("…", theme.warn())
            } else {
                (verdict_mark(a.verdict).0, theme.verdict(a.verdict))
            };
            let values = if a.values.is_empty() {
                "nothing".to_string()
            } else {
                a.values.join(", ")
            };
            let ttl = a.ttl.map(|t| format!(" TTL {t}")).unwrap_or_default();
            let mut first = vec![
                Span::styled(format!("  {mark} "), style),
                Span::raw(format!("{} ({})", a.server, a.address)),
            ];
            if catching_up {
                first.push(Span::styled(" catching up", theme.warn()));
            }
            lines.push(Line::from(first));
            lines.push(Line::raw(format!("      {} → {values}{ttl}", a.record)));
            if !a.note.is_empty() {
                lines.push(Line::from(Span::styled(format!("      {}", a.note), theme.dim())));
            }
        }
    }
    if !step.objects.is_empty() {
        lines.push(heading(theme, "Objects"));
        // The object on the first line, each check indented below it.
        let mut last = "";
        for o in &step.objects {
            if o.object != last {
                lines.push(Line::raw(format!("  {}", o.object)));
                last = &o.object;
            }
            let mark = verdict_mark(o.verdict).0;
            lines.push(Line::from(vec![
                Span::styled(format!("    {mark} "), theme.verdict(o.verdict)),
                Span::raw(format!("{}: {}", o.check, o.value)),
            ]));
            if !o.note.is_empty() {
                lines.push(Line::from(Span::styled(format!("      {}", o.note), theme.dim())));
            }
        }
    }
    lines
}

/// What the step does and waits for, with the values captured so far filled in.
fn definition(theme: Theme, ctx: &Ctx<'_>, spec: &Step) -> Vec<Line<'static>> {
    let mut lines = vec![heading(theme, "What it does")];
    let resolved = resolved_action_lines(ctx.state, &spec.id);
    lines.extend(resolved.into_iter().map(|l| Line::raw(format!("  {l}"))));
    let gates = gate_lines(spec);
    if !gates.is_empty() {
        lines.push(heading(theme, "Gates"));
        lines.extend(gates.into_iter().map(|l| Line::raw(format!("  {l}"))));
    }
    lines
}

/// The exact DNS change a step made or is making, one record per line, as journaled
/// before it was sent: what the operator checks first.
fn dns_change(theme: Theme, step: &StepState) -> Vec<Line<'static>> {
    let Some(crate::engine::Intent::Dns(d)) = &step.intent else {
        return Vec::new();
    };
    if !d.writes() {
        return Vec::new();
    }
    let mut lines = vec![heading(theme, "Change (journaled before it was sent)")];
    lines.extend(
        d.records
            .iter()
            .map(|r| Line::raw(format!("  {}", record_change_words(r, true)))),
    );
    lines.push(Line::from(Span::styled(format!("  via {}", d.via), theme.dim())));
    lines
}

/// Who approved it, when it ran, and what it set out to do.
fn history(theme: Theme, step: &StepState) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(a) = &step.approved {
        let note = a.note.as_deref().map(|n| format!(" — note: {n}")).unwrap_or_default();
        lines.push(Line::raw(format!("approved by {} at {}{note}", a.by, hms(a.at))));
    }
    if let Some(started) = step.started_at {
        let mut when = format!("started {}", hms(started));
        if let Some(done) = step.finished_at {
            let took = took((done - started).to_std().unwrap_or_default());
            when.push_str(&format!(", finished {} ({took})", hms(done)));
        }
        if step.tries > 1 {
            when.push_str(&format!(", try {}", step.tries));
        }
        lines.push(Line::from(Span::styled(when, theme.dim())));
    }
    match &step.intent {
        // The exact DNS change, one record per line: what the operator checks first.
        // A DNS write is shown in full under "Change"; a read lists what it asked about.
        Some(crate::engine::Intent::Dns(d)) => {
            lines.push(Line::from(Span::styled(
                format!("intent: {} via {}", d.op.words(), d.via),
                theme.dim(),
            )));
            if !d.writes() {
                for r in &d.records {
                    lines.push(Line::raw(format!("  {}", record_change_words(r, false))));
                }
            }
        }
        Some(intent) => lines.push(Line::from(Span::styled(
            format!("intent: {}", intent_words(intent)),
            theme.dim(),
        ))),
        None => {}
    }
    lines
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.dim())
        .title(Span::styled(" detail ", theme.dim()));
    let index = ctx.app.selected;
    let (Some(step), Some(spec)) = (
        ctx.state.steps.get(index),
        ctx.state.steps.get(index).and_then(|s| ctx.state.spec(&s.id)),
    ) else {
        frame.render_widget(block, area);
        return;
    };
    let phase = if ctx.state.is_rollback_step(index) {
        "rollback".to_string()
    } else {
        ctx.state
            .runbook
            .phase_of(&step.id)
            .map(|p| p.title.clone())
            .unwrap_or_default()
    };
    let (glyph, word) = status_mark(step.status);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{glyph} "), theme.status(step.status)),
            Span::styled(step.id.clone(), theme.title()),
            Span::raw(format!(" — {}", spec.title)),
        ]),
        Line::from(Span::styled(
            format!("{} · {phase} · {word}", spec.action.kind()),
            theme.dim(),
        )),
    ];
    lines.extend(waiting(ctx, index, step));
    // The keys only where they act on this step now: a failure that rolled the run back
    // is not retried with Enter.
    let hint = match situation(ctx.state, ctx.now) {
        // A watcher's keys do not act.
        _ if ctx.app.read_only.is_some() => None,
        Situation::Failed { step: s, .. } if s == step.id => {
            Some("Enter: retry · s: skip with a reason · r: roll back")
        }
        Situation::InDoubt { step: s } if s == step.id => Some("Enter: say what happened"),
        _ => None,
    };
    let done = outcome(theme, step, hint);
    if !done.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(done);
    }
    let change = dns_change(theme, step);
    if !change.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(change);
    }
    let past = history(theme, step);
    // In doubt, what it was doing matters most: it comes before what it would do.
    if step.status == StepStatus::InDoubt && !past.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(past);
        lines.push(Line::raw(""));
        lines.extend(definition(theme, ctx, spec));
    } else {
        lines.push(Line::raw(""));
        lines.extend(definition(theme, ctx, spec));
        if !past.is_empty() {
            lines.push(Line::raw(""));
            lines.extend(past);
        }
    }
    frame.render_widget(
        Paragraph::new(safe(lines)).block(block).wrap(Wrap { trim: false }),
        area,
    );
}
