//! The phases and their steps: a glyph, a colour and a word for each state, the time
//! each took or has left, and who approved it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Ctx, fit};
use crate::engine::plan::{closed_gate, pending_approval};
use crate::engine::{RunStatus, StepState, StepStatus, current};
use crate::runbook::duration::{countdown, took};
use crate::tui::app::{Focus, has_ending};
use crate::words::status_mark;

/// What to show at the right of a step line.
fn info(ctx: &Ctx<'_>, index: usize, step: &StepState) -> (String, Style) {
    let theme = ctx.app.theme;
    let is_gate = matches!(
        ctx.state.spec(&step.id).map(|s| &s.action),
        Some(crate::runbook::Action::Wait(_))
    );
    let elapsed = |s: &StepState| match (s.started_at, s.finished_at) {
        // A gate takes no time of its own: its wait was before it started.
        _ if is_gate => String::new(),
        (Some(a), Some(b)) => took((b - a).to_std().unwrap_or_default()),
        _ => String::new(),
    };
    match step.status {
        StepStatus::Succeeded => {
            // Who approved it; the tool's own approvals (an unattended rehearsal) in one word.
            let by = step
                .approved
                .as_ref()
                .map(|a| {
                    if crate::engine::is_system_actor(&a.by) {
                        " auto".to_string()
                    } else {
                        format!(" {}", a.by)
                    }
                })
                .unwrap_or_default();
            (format!("{}{by}", elapsed(step)), theme.dim())
        }
        StepStatus::Running => {
            let since = step
                .started_at
                .map_or(String::new(), |t| countdown((ctx.now - t).to_std().unwrap_or_default()));
            (format!("running {since}"), theme.status(StepStatus::Running))
        }
        StepStatus::Failed => ("FAILED".to_string(), theme.status(StepStatus::Failed)),
        StepStatus::InDoubt => ("IN DOUBT".to_string(), theme.status(StepStatus::InDoubt)),
        StepStatus::Skipped => ("skipped".to_string(), theme.status(StepStatus::Skipped)),
        StepStatus::Pending if current(ctx.state) == Some(index) => {
            if let Some((until, _)) = closed_gate(ctx.state, index, ctx.now) {
                let left = countdown((until - ctx.now).to_std().unwrap_or_default());
                (format!("gate {left}"), theme.warn())
            } else if pending_approval(ctx.state, index).is_some() {
                ("approve".to_string(), theme.warn())
            } else {
                ("next".to_string(), theme.accent())
            }
        }
        // Nothing will run these: a rollback the run did not need, steps a rollback cut off.
        StepStatus::Pending if matches!(ctx.state.status, RunStatus::Completed { .. }) => {
            ("not needed".to_string(), theme.dim())
        }
        StepStatus::Pending
            if index < ctx.state.forward_count()
                && matches!(ctx.state.status, RunStatus::RollingBack | RunStatus::RolledBack { .. }) =>
        {
            ("not run".to_string(), theme.dim())
        }
        StepStatus::Pending => (String::new(), theme.dim()),
    }
}

/// The rows the pane needs: its title, each phase's heading and steps, the blank line
/// before the rollback, and the ending's two rows.
pub fn rows_needed(ctx: &Ctx<'_>) -> u16 {
    let state = ctx.state;
    let sections = state.runbook.phases.len() + usize::from(!state.runbook.rollback.is_empty());
    let blank = usize::from(state.forward_count() < state.steps.len());
    let ending = if has_ending(state) { 2 } else { 0 };
    (1 + sections + state.steps.len() + blank + ending) as u16
}

/// The columns the pane needs for its longest line: marker, glyph, id and what is at the
/// right (at most "running 12m 04s", or a duration and who approved), plus its border.
/// Worked out from lengths alone: it runs every frame, and looking each step up would cost
/// more than drawing the pane.
pub fn width_needed(ctx: &Ctx<'_>) -> u16 {
    let state = ctx.state;
    let id = state.steps.iter().map(|s| s.id.chars().count()).max().unwrap_or(0);
    let approver = state
        .steps
        .iter()
        .filter_map(|s| s.approved.as_ref())
        .map(|a| {
            if crate::engine::is_system_actor(&a.by) {
                4
            } else {
                a.by.chars().count()
            }
        })
        .max()
        .unwrap_or(0);
    // "1m 05s alice" or "running 12m 04s", whichever is longer.
    let right = "running 12m 04s".len().max(7 + 1 + approver);
    let phases = state
        .runbook
        .phases
        .iter()
        .map(|p| p.title.chars().count())
        .max()
        .unwrap_or(0);
    ((5 + id + right).max(phases).max(24) + 1) as u16
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let state = ctx.state;
    let focused = ctx.app.focus == Focus::Steps && ctx.app.dialog.is_none();
    let block = Block::new()
        .borders(Borders::TOP | Borders::RIGHT)
        .border_style(theme.border(focused))
        .title(Span::styled(" steps ", theme.border(focused)));
    let inner_width = area.width.saturating_sub(1) as usize;
    let forward = state.forward_count();
    let current = current(state);

    // Rows first (cheap), so that only the rows in view are drawn.
    enum Row<'a> {
        Phase(&'a str),
        Step(usize),
        Blank,
        /// How the run ended: the incident or the end card.
        Ending,
    }
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(state.steps.len() + state.runbook.phases.len() + 2);
    let mut index = 0;
    let sections = state
        .runbook
        .phases
        .iter()
        .map(|p| (p.title.as_str(), p.steps.len()))
        .chain((!state.runbook.rollback.is_empty()).then_some(("rollback", state.runbook.rollback.len())));
    for (title, count) in sections {
        rows.push(Row::Phase(title));
        rows.extend((index..index + count).map(Row::Step));
        index += count;
        if index == forward && index < state.steps.len() {
            rows.push(Row::Blank);
        }
    }
    if has_ending(state) {
        rows.push(Row::Blank);
        rows.push(Row::Ending);
    }
    // Keep the selection in view: scroll so that it sits a third from the top.
    let height = area.height.saturating_sub(1) as usize;
    let selected_row = rows
        .iter()
        .position(|r| match r {
            Row::Step(i) => *i == ctx.app.selected,
            Row::Ending => ctx.app.selected >= state.steps.len(),
            _ => false,
        })
        .unwrap_or(0);
    let offset = selected_row
        .saturating_sub(height / 3)
        .min(rows.len().saturating_sub(height));
    let lines: Vec<Line<'_>> = rows[offset..(offset + height).min(rows.len())]
        .iter()
        .map(|row| match row {
            Row::Phase(title) => Line::from(Span::styled(fit(title, inner_width), theme.title())),
            Row::Blank => Line::raw(""),
            Row::Ending => {
                let (glyph, word, style) = match state.status {
                    RunStatus::RollingBack => ("⚠", "rolling back", theme.error()),
                    RunStatus::RolledBack { .. } => ("⚠", "rolled back", theme.error()),
                    RunStatus::Completed { .. } => ("■", "completed", theme.ok()),
                    _ => ("■", "holding", theme.ok()),
                };
                let label = if matches!(state.status, RunStatus::RollingBack | RunStatus::RolledBack { .. }) {
                    "INCIDENT"
                } else {
                    "summary"
                };
                let pad = inner_width.saturating_sub(4 + label.len() + word.len());
                let line = Line::from(vec![
                    Span::raw(" "),
                    Span::styled(format!("{glyph} "), style),
                    Span::styled(label, style),
                    Span::raw(" ".repeat(pad + 1)),
                    Span::styled(word, style),
                ]);
                if ctx.app.selected >= state.steps.len() {
                    line.patch_style(theme.selected())
                } else {
                    line
                }
            }
            Row::Step(index) => {
                let index = *index;
                let step = &state.steps[index];
                let (right, right_style) = info(ctx, index, step);
                let glyph = match right.as_str() {
                    "not needed" | "not run" => "–",
                    _ => status_mark(step.status).0,
                };
                let marker = if current == Some(index) { "▸" } else { " " };
                let id_width = inner_width.saturating_sub(4 + right.chars().count()).max(4);
                let id = fit(&step.id, id_width);
                let pad = inner_width.saturating_sub(4 + id.chars().count() + right.chars().count());
                let line = Line::from(vec![
                    Span::styled(marker, theme.accent()),
                    Span::styled(format!("{glyph} "), theme.status(step.status)),
                    Span::raw(id),
                    Span::raw(" ".repeat(pad + 1)),
                    Span::styled(right, right_style),
                ]);
                if index == ctx.app.selected {
                    line.patch_style(theme.selected())
                } else {
                    line
                }
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
