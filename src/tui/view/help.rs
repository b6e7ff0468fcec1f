//! The help: every key, what it does, and how dialogs and resuming work. Fits 80x24.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Ctx, centered_or_full};
use crate::tui::keys::BINDINGS;

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let key =
        |k: &str, text: &'static str| Line::from(vec![Span::styled(format!("{k:>6}  "), theme.key()), Span::raw(text)]);
    let watching = ctx.app.read_only.is_some();
    let mut lines: Vec<Line<'_>> = BINDINGS
        .iter()
        .filter(|b| !watching || b.action.only_looks())
        .map(|b| key(b.shown, b.help))
        .collect();
    if watching {
        lines.push(key("Ctrl-C", "quit"));
        lines.push(Line::from(vec![
            Span::styled("Watching: ", theme.title()),
            Span::raw("this terminal follows the run read-only; act in the terminal that drives it."),
        ]));
        return draw(frame, area, ctx, lines);
    }
    lines.push(key("Ctrl-C", "quit, or leave a dialog"));
    lines.push(Line::from(Span::styled("In dialogs", theme.title())));
    lines.push(Line::raw(
        "  Enter confirms, Esc cancels, Tab moves between fields; a typed reason is",
    ));
    lines.push(Line::raw(
        "  confirmed once more; the root-cause analysis editor saves with Ctrl-S.",
    ));
    lines.push(Line::from(vec![
        Span::styled("Nothing is lost: ", theme.title()),
        Span::raw("every step is journaled before and after it acts."),
    ]));
    draw(frame, area, ctx, lines);
}

/// The help's box; on a small screen it scrolls, and says so.
fn draw(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, lines: Vec<Line<'_>>) {
    let theme = ctx.app.theme;
    let popup = centered_or_full(area, 84, lines.len() as u16 + 2);
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = text.line_count(popup.width.saturating_sub(2)) as u16;
    let inner = popup.height.saturating_sub(2);
    let scroll = ctx.app.help_scroll.min(rows.saturating_sub(inner));
    let hint = if rows > inner {
        format!(
            " ↑↓ scroll ({}–{} of {rows}) · any other key closes ",
            scroll + 1,
            (scroll + inner).min(rows)
        )
    } else {
        " any key closes ".to_string()
    };
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .border_style(theme.accent())
        .title(Span::styled(" keys ", theme.title()))
        .title_bottom(Span::styled(hint, theme.dim()));
    frame.render_widget(text.scroll((scroll, 0)).block(block), popup);
}
