//! The log pane: the journal as it grows, scrollable and filterable.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Ctx, fit};
use crate::tui::app::Focus;
use crate::tui::log::Tone;

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let log = &ctx.app.log;
    let focused = ctx.app.focus == Focus::Log && ctx.app.dialog.is_none();
    // The filter's state is in the title, loud while it hides lines.
    let mut title = if log.filter.is_empty() {
        format!(" log · {} lines ", log.shown_count())
    } else {
        format!(
            " log · FILTER “{}”: {} of {} lines{} ",
            log.filter,
            log.shown_count(),
            log.lines.len(),
            if log.editing.is_some() { "" } else { " · / changes it" }
        )
    };
    let rows = area.height.saturating_sub(1) as usize;
    let scrolled = log.effective_scroll(rows);
    if scrolled > 0 {
        title.push_str(&format!("· {scrolled} newer below "));
    }
    // Beside the detail (wide screens) it has its own left edge.
    let borders = if area.x > 0 {
        Borders::TOP | Borders::LEFT
    } else {
        Borders::TOP
    };
    let title_style = if log.filter.is_empty() {
        theme.border(focused)
    } else {
        theme.warn()
    };
    let block = Block::new()
        .borders(borders)
        .border_style(theme.border(focused))
        .title(Span::styled(title, title_style));
    let inner = block.inner(area);
    let editing = log.editing.as_ref();
    let height = inner.height as usize - usize::from(editing.is_some() && inner.height > 0);
    let width = inner.width as usize;
    // With the log in focus, its cursor line is marked: Enter opens it whole.
    let cursor = focused.then(|| log.cursor()).flatten();
    let mut lines: Vec<Line<'_>> = log
        .window_indexed(height)
        .map(|(i, l)| {
            let style = match l.tone {
                Tone::Normal => ratatui::style::Style::new(),
                Tone::Quiet => theme.dim(),
                Tone::Good => theme.ok(),
                Tone::Warn => theme.warn(),
                Tone::Bad => theme.error(),
            };
            let style = if cursor == Some(i) {
                style.patch(theme.selected())
            } else {
                style
            };
            Line::from(Span::styled(fit(&l.text, width), style))
        })
        .collect();
    if let Some(input) = editing {
        lines.push(Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(input.text.clone()),
            Span::styled("   filters as you type · Enter keeps · Esc clears", theme.dim()),
        ]));
        frame.set_cursor_position(Position::new(
            inner.x + 1 + input.cursor as u16,
            inner.y + inner.height.saturating_sub(1),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// A log line shown whole, over the screen: what a cut line hid.
pub fn render_opened(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let log = &ctx.app.log;
    let Some(line) = log.opened.and_then(|i| log.lines.get(i)) else {
        return;
    };
    let theme = ctx.app.theme;
    let width = if area.width < 100 {
        area.width
    } else {
        area.width * 3 / 4
    };
    let inner = width.saturating_sub(2).max(1);
    let text =
        Paragraph::new(super::safe(vec![Line::raw(line.text.clone())])).wrap(ratatui::widgets::Wrap { trim: false });
    let rows = text.line_count(inner) as u16 + 3;
    let popup = super::centered_or_full(area, width, rows);
    frame.render_widget(ratatui::widgets::Clear, popup);
    let block = Block::bordered()
        .border_style(theme.accent())
        .title(Span::styled(" log line ", theme.title()))
        .title_bottom(Span::styled(" any key closes ", theme.dim()));
    frame.render_widget(text.block(block), popup);
}
