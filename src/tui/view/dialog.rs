//! Dialogs over the cockpit: approvals and typed confirmations, rollback, skip, notes,
//! in-doubt resolution, retry, the root-cause analysis and the next attempt, quitting.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Ctx, centered, resolved_action_lines, safe};
use crate::engine::MIN_RCA_CHARS;
use crate::runbook::Approval;
use crate::tui::app::{ApproveField, Dialog, IN_DOUBT_CHOICES, running};
use crate::tui::input::LineInput;
use crate::words::intent_words;

/// A dialog's content: lines that wrap by words, and input fields laid out by hand so
/// that the cursor lands where typing goes.
struct Body<'a> {
    title: String,
    style: Style,
    key: Style,
    lines: Vec<Part<'a>>,
}

enum Part<'a> {
    Text(Line<'a>),
    Field { input: &'a LineInput, active: bool },
}

impl<'a> Body<'a> {
    fn new(title: impl Into<String>, style: Style, key: Style) -> Self {
        Self {
            title: title.into(),
            style,
            key,
            lines: Vec::new(),
        }
    }

    fn text(&mut self, text: impl Into<String>) {
        self.lines.push(Part::Text(Line::raw(text.into())));
    }

    fn styled(&mut self, text: impl Into<String>, style: Style) {
        self.lines
            .push(Part::Text(Line::from(Span::styled(text.into(), style))));
    }

    fn line(&mut self, line: Line<'a>) {
        self.lines.push(Part::Text(line));
    }

    fn field(&mut self, input: &'a LineInput, active: bool) {
        self.lines.push(Part::Field { input, active });
    }

    fn error(&mut self, error: &Option<String>, style: Style) {
        if let Some(e) = error {
            self.text("");
            self.styled(e.clone(), style);
        }
    }
}

/// A field as rows of exactly `width` characters after the `> ` prompt, and where its
/// cursor is (row, column).
fn field_rows<'a>(input: &LineInput, width: usize, key: Style) -> (Vec<Line<'a>>, (usize, usize)) {
    let room = width.saturating_sub(2).max(1);
    let chars: Vec<char> = input.text.chars().collect();
    let mut rows = Vec::new();
    for (i, chunk) in chars.chunks(room).enumerate() {
        let prompt = if i == 0 { "> " } else { "  " };
        rows.push(Line::from(vec![
            Span::styled(prompt, key),
            Span::raw(chunk.iter().collect::<String>()),
        ]));
    }
    if rows.is_empty() || chars.len() % room == 0 && input.cursor == chars.len() && !chars.is_empty() {
        rows.push(Line::from(Span::styled(if rows.is_empty() { "> " } else { "  " }, key)));
    }
    (rows, (input.cursor / room, 2 + input.cursor % room))
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, dialog: &Dialog) {
    let theme = ctx.app.theme;
    let title_of = |step: &str| ctx.state.spec(step).map(|s| s.title.clone()).unwrap_or_default();
    let b = match dialog {
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
            let mut b = Body::new(format!(" approve {step} "), theme.accent(), theme.key());
            b.styled(title_of(step), theme.title());
            for l in resolved_action_lines(ctx.state, step) {
                b.styled(format!("  {l}"), theme.dim());
            }
            b.text("");
            if let Approval::Type(text) = approval {
                b.line(Line::from(vec![
                    Span::raw("Type "),
                    Span::styled(text.clone(), theme.title()),
                    Span::raw(" to approve:"),
                ]));
                b.field(typed, *field == ApproveField::Typed);
            }
            if *checklist {
                b.text(if *note_required {
                    "Note (required):"
                } else {
                    "Note (optional):"
                });
                b.field(note, *field == ApproveField::Note);
            } else if !matches!(approval, Approval::Type(_)) {
                b.text("Approve this step? It runs as soon as it is approved. (Enter or y; Esc cancels)");
            }
            b.error(error, theme.error());
            b
        }
        Dialog::Rollback {
            reason,
            confirming,
            error,
        } => {
            let mut b = Body::new(" roll back ", theme.error(), theme.key());
            b.styled("Roll back now?", theme.title());
            b.text("The incident is recorded first, then the rollback steps run at once:");
            for s in &ctx.state.runbook.rollback {
                b.styled(format!("  {} — {}", s.id, s.title), theme.dim());
            }
            if ctx.state.runbook.rollback.is_empty() {
                b.styled("  (the runbook has no rollback steps)", theme.warn());
            }
            b.text("");
            if *confirming {
                b.text(format!("Reason: {}", reason.text.trim()));
                b.styled(
                    "Press Enter again to roll back with this reason; Esc to change it.",
                    theme.error(),
                );
            } else {
                b.text("Reason (optional; Enter with none rolls back at once, a note can follow):");
                b.field(reason, true);
            }
            b.error(error, theme.error());
            b
        }
        Dialog::Skip {
            step,
            reason,
            confirming,
            error,
        } => {
            let mut b = Body::new(format!(" skip {step} "), theme.warn(), theme.key());
            b.styled(title_of(step), theme.title());
            if *confirming {
                b.text(format!("Reason: {}", reason.text.trim()));
                b.styled("Press Enter again to skip it; Esc to change the reason.", theme.warn());
            } else {
                b.text("Why is it skipped? (required; kept in the journal)");
                b.field(reason, true);
            }
            b.error(error, theme.error());
            b
        }
        Dialog::Note { step, text, error } => {
            let mut b = Body::new(format!(" note on {step} "), theme.accent(), theme.key());
            b.text("The note goes into the journal with your name and the time:");
            b.field(text, true);
            b.error(error, theme.error());
            b
        }
        Dialog::InDoubt {
            step,
            choice,
            note,
            error,
        } => {
            let mut b = Body::new(format!(" {step} is in doubt "), theme.warn(), theme.key());
            b.styled(title_of(step), theme.title());
            if let Some(intent) = ctx.state.step(step).and_then(|s| s.intent.as_ref()) {
                b.styled(format!("  it was about to: {}", intent_words(intent)), theme.dim());
            }
            b.text("The process stopped while this step was acting. Check, then say what happened (↑↓):");
            for (i, (_, words)) in IN_DOUBT_CHOICES.iter().enumerate() {
                let chosen = *choice == Some(i);
                let mark = if chosen { "▶ " } else { "  " };
                let style = if chosen { theme.selected() } else { Style::new() };
                b.line(Line::from(vec![
                    Span::styled(mark, theme.key()),
                    Span::styled(*words, style),
                ]));
            }
            b.text("What did you check? (required unless it runs again)");
            b.field(note, true);
            b.error(error, theme.error());
            b
        }
        Dialog::Retry { step, error } => {
            let mut b = Body::new(format!(" {step} failed "), theme.error(), theme.key());
            b.styled(title_of(step), theme.title());
            if let Some(f) = ctx.state.step(step).and_then(|s| s.failure.as_ref()) {
                b.styled(f.message.clone(), theme.error());
                if let Some(a) = &f.advice {
                    b.text(format!("what to do: {a}"));
                }
            }
            b.text("");
            b.line(Line::from(vec![
                Span::styled("  Enter ", theme.key()),
                Span::raw("retry it now"),
            ]));
            b.line(Line::from(vec![
                Span::styled("  s     ", theme.key()),
                Span::raw("skip it, with a reason"),
            ]));
            b.line(Line::from(vec![
                Span::styled("  Esc   ", theme.key()),
                Span::raw("decide later (Ctrl-R rolls back)"),
            ]));
            b.error(error, theme.error());
            b
        }
        Dialog::EndDrain { step, until, error } => {
            let mut b = Body::new(format!(" end the drain before {step}? "), theme.warn(), theme.key());
            b.styled(title_of(step), theme.title());
            let left = (*until - ctx.now).to_std().unwrap_or_default();
            b.text(format!(
                "DNS is back on the VMs on every authoritative server, but resolvers may still hand out the new address for {}. The new side keeps serving those clients until then.",
                crate::runbook::duration::countdown(left)
            ));
            let arriving: Vec<String> = ctx
                .state
                .step(step)
                .map(|s| {
                    s.objects
                        .iter()
                        .map(|o| format!("{}: {} {}", o.object, o.check, o.value))
                        .collect()
                })
                .unwrap_or_default();
            for a in arriving {
                b.text(format!("now: {a}"));
            }
            b.styled(
                "Ending it now drops the requests that still arrive there.".to_string(),
                theme.warn(),
            );
            b.text("");
            b.line(Line::from(vec![
                Span::styled("  Enter ", theme.key()),
                Span::raw("end the drain and scale down now"),
            ]));
            b.line(Line::from(vec![
                Span::styled("  Esc   ", theme.key()),
                Span::raw("keep draining"),
            ]));
            b.error(error, theme.error());
            b
        }
        Dialog::Rca { error } => {
            let mut b = Body::new(
                format!(" root-cause analysis of attempt {} ", ctx.state.attempt),
                theme.accent(),
                theme.key(),
            );
            b.text("No second attempt without it. What failed, why, and what changes before the next attempt?");
            b.styled(
                format!(
                    "(at least {MIN_RCA_CHARS} characters; Enter breaks the line, Ctrl-S saves, Esc keeps the draft)"
                ),
                theme.dim(),
            );
            // Only the lines around the cursor fit: show a window of the draft.
            let draft = &ctx.app.rca_draft;
            let room = (area.height as usize).saturating_sub(10).max(3);
            let start = (draft.row + 1).saturating_sub(room);
            if start > 0 {
                b.styled(format!("  … {start} lines above"), theme.dim());
            }
            for (i, line) in draft.lines.iter().enumerate().skip(start).take(room) {
                b.field(line, i == draft.row);
            }
            b.error(error, theme.error());
            b
        }
        Dialog::NewAttempt { attempt, error } => {
            let mut b = Body::new(format!(" attempt {attempt} "), theme.accent(), theme.key());
            b.text(format!(
                "Start attempt {attempt}? Every step runs again from the start, with the same gates."
            ));
            b.error(error, theme.error());
            b
        }
        Dialog::Quit => {
            let mut b = Body::new(" quit? ", theme.warn(), theme.key());
            match running(ctx.state).map(|i| &ctx.state.steps[i]) {
                Some(step) if step.watch.is_some() => b.text(format!(
                    "The watch of {} is running. Quitting stops sampling now; on resume the gap is measured from \
                     the metrics' history and the watch ends at its original time.",
                    step.id
                )),
                Some(step) => b.text(format!(
                    "Step {} is running. Quitting stops it; on resume it is in doubt: run again if that is safe, \
                     otherwise you are asked what happened.",
                    step.id
                )),
                None => b.text("Nothing is running now."),
            }
            b.text("");
            b.text("Everything so far is in the journal. Run the same command again to resume. (y quits, n stays)");
            b
        }
    };
    draw(frame, area, b);
}

fn draw(frame: &mut Frame<'_>, area: Rect, b: Body<'_>) {
    let width = 76.min(area.width.saturating_sub(4)).max(30);
    let inner_width = (width.saturating_sub(2) as usize).max(1);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut rows = 0;
    let mut cursor = None;
    let key = b.key;
    for part in b.lines {
        match part {
            Part::Text(line) => {
                // Titles, notes and refusals may quote anything: shown, never obeyed.
                let line = safe(vec![line]).remove(0);
                // The same count the word wrap will give.
                rows += Paragraph::new(line.clone())
                    .wrap(Wrap { trim: false })
                    .line_count(inner_width as u16);
                lines.push(line);
            }
            Part::Field { input, active } => {
                let (field, (row, col)) = field_rows(input, inner_width, key);
                if active {
                    cursor = Some((rows + row, col));
                }
                rows += field.len();
                lines.extend(field);
            }
        }
    }
    let popup = centered(area, width, rows as u16 + 2);
    frame.render_widget(Clear, popup);
    if let Some((row, col)) = cursor
        && row + 1 < popup.height as usize
    {
        frame.set_cursor_position(Position::new(popup.x + 1 + col as u16, popup.y + 1 + row as u16));
    }
    let block = Block::bordered()
        .border_style(b.style)
        .title(Span::styled(b.title, b.style));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
}
