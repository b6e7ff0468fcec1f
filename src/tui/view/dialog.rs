//! Dialogs over the cockpit: approvals and typed confirmations, rollback, skip, notes,
//! in-doubt resolution, retry, the root-cause analysis and the next attempt, quitting.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Ctx, centered};
use crate::engine::MIN_RCA_CHARS;
use crate::runbook::Approval;
use crate::runbook::describe::action_lines;
use crate::tui::app::{ApproveField, Dialog};
use crate::tui::input::LineInput;

/// Content lines, and where the cursor goes (line index, column) if a field is active.
struct Body<'a> {
    title: String,
    style: Style,
    lines: Vec<Line<'a>>,
    cursor: Option<(usize, usize)>,
}

impl<'a> Body<'a> {
    fn new(title: impl Into<String>, style: Style) -> Self {
        Self {
            title: title.into(),
            style,
            lines: Vec::new(),
            cursor: None,
        }
    }

    fn text(&mut self, text: impl Into<String>) {
        self.lines.push(Line::raw(text.into()));
    }

    fn styled(&mut self, text: impl Into<String>, style: Style) {
        self.lines.push(Line::from(Span::styled(text.into(), style)));
    }

    /// An input field; `active` puts the cursor in it.
    fn field(&mut self, input: &LineInput, active: bool, key_style: Style) {
        if active {
            self.cursor = Some((self.lines.len(), 2 + input.cursor));
        }
        self.lines.push(Line::from(vec![
            Span::styled("> ", key_style),
            Span::raw(input.text.clone()),
        ]));
    }

    fn error(&mut self, error: &Option<String>, style: Style) {
        if let Some(e) = error {
            self.lines.push(Line::raw(""));
            self.lines.push(Line::from(Span::styled(e.clone(), style)));
        }
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, dialog: &Dialog) {
    let theme = ctx.app.theme;
    let title_of = |step: &str| ctx.state.spec(step).map(|s| s.title.clone()).unwrap_or_default();
    let mut b = match dialog {
        Dialog::Approve {
            step,
            approval,
            checklist,
            note_required,
            typed,
            note,
            field,
            error,
        } => {
            let mut b = Body::new(format!(" approve {step} "), theme.accent());
            b.styled(title_of(step), theme.title());
            if let Some(spec) = ctx.state.spec(step) {
                for l in action_lines(&spec.action) {
                    b.styled(format!("  {l}"), theme.dim());
                }
            }
            b.text("");
            if let Approval::Type(text) = approval {
                b.lines.push(Line::from(vec![
                    Span::raw("Type "),
                    Span::styled(text.clone(), theme.title()),
                    Span::raw(" to approve:"),
                ]));
                b.field(typed, *field == ApproveField::Typed, theme.key());
            }
            if *checklist {
                b.text(if *note_required {
                    "Note (required):"
                } else {
                    "Note (optional):"
                });
                b.field(note, *field == ApproveField::Note, theme.key());
            } else if !matches!(approval, Approval::Type(_)) {
                b.text("Approve this step? It runs as soon as it is approved.");
            }
            b.error(error, theme.error());
            b
        }
        Dialog::Rollback { reason, error } => {
            let mut b = Body::new(" roll back ", theme.error());
            b.styled("Roll back now?", theme.title());
            b.text("The incident is recorded first, then the rollback steps run at once:");
            for s in &ctx.state.runbook.rollback {
                b.styled(format!("  {} — {}", s.id, s.title), theme.dim());
            }
            if ctx.state.runbook.rollback.is_empty() {
                b.styled("  (the runbook has no rollback steps)", theme.warn());
            }
            b.text("");
            b.text("Reason (optional: Enter rolls back at once; add a note later):");
            b.field(reason, true, theme.key());
            b.error(error, theme.error());
            b
        }
        Dialog::Skip { step, reason, error } => {
            let mut b = Body::new(format!(" skip {step} "), theme.warn());
            b.styled(title_of(step), theme.title());
            b.text("Why is it skipped? (required; kept in the journal)");
            b.field(reason, true, theme.key());
            b.error(error, theme.error());
            b
        }
        Dialog::Note { step, text, error } => {
            let mut b = Body::new(format!(" note on {step} "), theme.accent());
            b.text("The note goes into the journal with your name and the time:");
            b.field(text, true, theme.key());
            b.error(error, theme.error());
            b
        }
        Dialog::InDoubt { step, error } => {
            let mut b = Body::new(format!(" {step} is in doubt "), theme.warn());
            b.styled(title_of(step), theme.title());
            if let Some(intent) = ctx.state.step(step).and_then(|s| s.intent.as_ref()) {
                b.styled(
                    format!("  it was about to: {}", crate::runner::lines::intent_words(intent)),
                    theme.dim(),
                );
            }
            b.text("The process stopped while this step was acting. Check, then say what happened:");
            b.lines.push(Line::from(vec![
                Span::styled("  s ", theme.key()),
                Span::raw("it happened (mark it succeeded)"),
            ]));
            b.lines.push(Line::from(vec![
                Span::styled("  f ", theme.key()),
                Span::raw("it did not happen (mark it failed)"),
            ]));
            b.lines.push(Line::from(vec![
                Span::styled("  r ", theme.key()),
                Span::raw("run it again (only if that is safe)"),
            ]));
            b.error(error, theme.error());
            b
        }
        Dialog::Retry { step, error } => {
            let mut b = Body::new(format!(" {step} failed "), theme.error());
            b.styled(title_of(step), theme.title());
            if let Some(f) = ctx.state.step(step).and_then(|s| s.failure.as_ref()) {
                b.styled(f.message.clone(), theme.error());
                if let Some(a) = &f.advice {
                    b.text(format!("what to do: {a}"));
                }
            }
            b.text("");
            b.lines.push(Line::from(vec![
                Span::styled("  Enter ", theme.key()),
                Span::raw("retry it now"),
            ]));
            b.lines.push(Line::from(vec![
                Span::styled("  s     ", theme.key()),
                Span::raw("skip it, with a reason"),
            ]));
            b.lines.push(Line::from(vec![
                Span::styled("  Esc   ", theme.key()),
                Span::raw("decide later (r rolls back)"),
            ]));
            b.error(error, theme.error());
            b
        }
        Dialog::Rca { text, error } => {
            let mut b = Body::new(
                format!(" root-cause analysis of attempt {} ", ctx.state.attempt),
                theme.accent(),
            );
            b.text("No second attempt without it. What failed, why, and what changes before the next attempt?");
            b.styled(
                format!("(at least {MIN_RCA_CHARS} characters; Enter breaks the line, Ctrl-S saves)"),
                theme.dim(),
            );
            for (i, line) in text.lines.iter().enumerate() {
                b.field(line, i == text.row, theme.key());
            }
            b.error(error, theme.error());
            b
        }
        Dialog::NewAttempt { attempt, error } => {
            let mut b = Body::new(format!(" attempt {attempt} "), theme.accent());
            b.text(format!(
                "Start attempt {attempt}? Every step runs again from the start, with the same gates."
            ));
            b.error(error, theme.error());
            b
        }
        Dialog::Quit { warning } => {
            let mut b = Body::new(" quit? ", theme.warn());
            b.text(warning.clone());
            b.text("");
            b.text("Everything so far is in the journal. Run the same command again to resume.");
            b
        }
    };
    let width = 76.min(area.width.saturating_sub(4)).max(30);
    let inner_width = (width.saturating_sub(2) as usize).max(1);
    // Rows each line takes once wrapped.
    let rows: Vec<usize> = b.lines.iter().map(|l| l.width().max(1).div_ceil(inner_width)).collect();
    let height: usize = rows.iter().sum::<usize>() + 2;
    let popup = centered(area, width, height as u16);
    frame.render_widget(Clear, popup);
    if let Some((line, col)) = b.cursor.take() {
        let row = rows[..line].iter().sum::<usize>() + col / inner_width;
        let col = col % inner_width;
        frame.set_cursor_position(Position::new(popup.x + 1 + col as u16, popup.y + 1 + row as u16));
    }
    let block = Block::bordered()
        .border_style(b.style)
        .title(Span::styled(b.title.clone(), b.style));
    frame.render_widget(Paragraph::new(b.lines).wrap(Wrap { trim: false }).block(block), popup);
}
