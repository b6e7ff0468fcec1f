//! The help: every key, what it does, and how quitting and resuming work.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{Ctx, centered};
use crate::tui::keys::BINDINGS;

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let mut lines: Vec<Line<'_>> = BINDINGS
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!("{:>6}  ", b.shown), theme.key()),
                Span::raw(b.help),
            ])
        })
        .collect();
    lines.push(Line::from(vec![
        Span::styled("Ctrl-C  ", theme.key()),
        Span::raw("quit, like q"),
    ]));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("In dialogs", theme.title())));
    lines.push(Line::raw(
        "  Enter confirms, Esc cancels, Tab moves between fields; the root-cause analysis",
    ));
    lines.push(Line::raw(
        "  editor takes several lines: Enter breaks the line, Ctrl-S saves.",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("Nothing is lost", theme.title())));
    lines.push(Line::raw(
        "  Every step is in the journal before and after it acts. Quit at any time and run",
    ));
    lines.push(Line::raw(
        "  the same command again to resume exactly here; `cutover status` works meanwhile.",
    ));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("any key closes this help", theme.dim())));
    let popup = centered(area, 96, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(theme.accent())
                .title(Span::styled(" keys ", theme.title())),
        ),
        popup,
    );
}
