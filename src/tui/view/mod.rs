//! Drawing the cockpit. Each region has its own file; all of them only read.
//!
//! ```text
//!  LIVE  runbook (env) · attempt · state                       run id    header, 2 rows
//!  clock UTC · local                  next: flip at 21:41 UTC, in 23h 41m
//! ┌ steps ────────────────┬ detail (or the watch, when it has one) ─────┐ ≥ 3/5, or
//! │ phase                 │ what the selected step does, waits for,     │ what the
//! │ ✔ step      12s       │ measured, and what went wrong               │ steps need
//! │ ⚠ INCIDENT / ■ summary│ (the incident panel or the end card)        │
//! ├ log ──────────────────┴─────────────────────────────────────────────┤ the rest
//! │ the journal as it grows                                             │
//!  footer: the keys that apply now, or the last message                  1 row
//! ```
//! The steps pane is as wide as its content. At 160 columns and more the log stands
//! beside the detail, at full height. Dialogs and the help are drawn over it.

mod detail;
pub mod ending;
mod footer;
mod header;
mod help;
mod log;
mod steps;
pub mod watch;

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;

use super::app::App;
use crate::engine::RunState;
use crate::terminal_text::{Lines, for_terminal};

/// Everything a view may read.
pub struct Ctx<'a> {
    pub state: &'a RunState,
    pub app: &'a App,
    pub now: DateTime<Utc>,
    /// The operator's local time zone, for the second clock.
    pub local: FixedOffset,
    /// A step's effect is in progress in this process.
    pub busy: bool,
}

/// Where each region goes. The steps pane is as wide and as high as its content; at 160
/// columns and more the log stands beside the detail at full height, else it takes the
/// height the body leaves (the body keeps at least three fifths, for the watch's charts).
pub fn layout(area: Rect, ctx: &Ctx<'_>) -> [Rect; 5] {
    let [header_area, main, footer_area] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(4), Constraint::Length(1)]).areas(area);
    let steps_width = steps::width_needed(ctx).min(area.width * 2 / 5).max(20.min(area.width));
    if area.width >= 160 {
        let rest = area.width - steps_width;
        let log_width = (rest * 9 / 20).max(50);
        let [steps_area, detail_area, log_area] = Layout::horizontal([
            Constraint::Length(steps_width),
            Constraint::Min(60),
            Constraint::Length(log_width),
        ])
        .areas(main);
        return [header_area, steps_area, detail_area, log_area, footer_area];
    }
    // A chart (the watch, the incident's frozen watch) wants height more than the log does.
    let charted = ctx.app.selected >= ctx.state.steps.len()
        || ctx.state.steps.get(ctx.app.selected).is_some_and(|s| s.watch.is_some());
    let share = if charted {
        main.height * 4 / 5
    } else {
        main.height * 3 / 5
    };
    let least_log = 4.min(main.height / 3);
    let body_height = steps::rows_needed(ctx)
        .max(share)
        .min(main.height.saturating_sub(least_log));
    let [body, log_area] = Layout::vertical([Constraint::Length(body_height), Constraint::Min(0)]).areas(main);
    let [steps_area, detail_area] =
        Layout::horizontal([Constraint::Length(steps_width), Constraint::Min(20)]).areas(body);
    [header_area, steps_area, detail_area, log_area, footer_area]
}

pub fn render(frame: &mut Frame<'_>, ctx: &Ctx<'_>) {
    let area = frame.area();
    let [header_area, steps_area, detail_area, log_area, footer_area] = layout(area, ctx);

    header::render(frame, header_area, ctx);
    steps::render(frame, steps_area, ctx);
    if ctx.app.selected >= ctx.state.steps.len() && super::app::has_ending(ctx.state) {
        ending::render(frame, detail_area, ctx);
    }
    let selected = ctx.state.steps.get(ctx.app.selected);
    // A step with a watch shows it: live while it runs, frozen with its verdict afterwards.
    match selected.and_then(|s| s.watch.as_ref().map(|w| (s, w))) {
        Some((step, watch)) => watch::render(frame, detail_area, ctx, step, watch),
        None if selected.is_some() => detail::render(frame, detail_area, ctx),
        None => {}
    }
    log::render(frame, log_area, ctx);
    footer::render(frame, footer_area, ctx);
    log::render_opened(frame, area, ctx);
    if ctx.app.help {
        help::render(frame, area, ctx);
    }
    if let Some(d) = &ctx.app.dialog {
        d.render(frame, area, ctx);
    }
}

/// What a step does, with values captured by earlier steps filled in.
pub fn resolved_action_lines(state: &crate::engine::RunState, step: &str) -> Vec<String> {
    let Some(spec) = state.spec(step) else {
        return Vec::new();
    };
    let mut filled = spec.action.map_templates(&|t| {
        t.substitute(&|name| {
            state
                .outputs
                .get(name)
                .map(|v| crate::runbook::Template::literal(v.clone()))
        })
    });
    let rehearsed = watch::length_in_this_run(state, step, &mut filled);
    let mut lines = crate::runbook::describe::action_lines(&filled, &state.runbook);
    lines.extend(rehearsed);
    lines
}

/// A box of `width` × `height` centred in `area`, or across the whole width when `width`
/// reaches it (a box a few columns narrower than the screen leaves slivers beside it).
pub fn centered_or_full(area: Rect, width: u16, height: u16) -> Rect {
    if width < area.width {
        return centered(area, width, height);
    }
    let h = height.min(area.height);
    Rect {
        x: area.x,
        y: area.y + (area.height - h) / 2,
        width: area.width,
        height: h,
    }
}

/// A rectangle of at most `width` × `height` centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Lines whose texts are safe to draw. ratatui leaves out a control character without a
/// trace; the cockpit shows it as an escape (`\x1b`), as every printer of cutover does
/// (`terminal_text`), so that what a command or a server sent is seen as it was.
pub fn safe(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    lines
        .into_iter()
        .map(|mut line| {
            for span in &mut line.spans {
                if let Cow::Owned(clean) = for_terminal(&span.content, Lines::One) {
                    span.content = Cow::Owned(clean);
                }
            }
            line
        })
        .collect()
}

/// Shortens `text` to `width` terminal columns, marking the cut (wide characters count
/// as two). Control characters are shown as escapes first (see [`safe`]).
pub fn fit(text: &str, width: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let text = for_terminal(text, Lines::One);
    let text = text.as_ref();
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut s = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        s.push(c);
    }
    s.push('…');
    s
}
