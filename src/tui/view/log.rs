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
    let mut title = format!(" log · {} lines ", log.shown_count());
    if !log.filter.is_empty() {
        title.push_str(&format!("· filter “{}” ", log.filter));
    }
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
    let block = Block::new()
        .borders(borders)
        .border_style(theme.border(focused))
        .title(Span::styled(title, theme.border(focused)));
    let inner = block.inner(area);
    let editing = log.editing.as_ref();
    let height = inner.height as usize - usize::from(editing.is_some() && inner.height > 0);
    let width = inner.width as usize;
    let mut lines: Vec<Line<'_>> = log
        .window(height)
        .map(|l| {
            let style = match l.tone {
                Tone::Normal => ratatui::style::Style::new(),
                Tone::Quiet => theme.dim(),
                Tone::Good => theme.ok(),
                Tone::Warn => theme.warn(),
                Tone::Bad => theme.error(),
            };
            Line::from(Span::styled(fit(&l.text, width), style))
        })
        .collect();
    if let Some(input) = editing {
        lines.push(Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(input.text.clone()),
        ]));
        frame.set_cursor_position(Position::new(
            inner.x + 1 + input.cursor as u16,
            inner.y + inner.height.saturating_sub(1),
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
