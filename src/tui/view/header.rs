//! The header: mode, runbook, environment, attempt, both clocks, and the next thing
//! that has a time on it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Ctx;
use crate::engine::{Mode, RunStatus, Situation, TimeGate, situation};
use crate::runbook::duration::countdown;
use crate::tui::app::running;

fn mm_ss(secs: i64) -> String {
    let secs = secs.max(0);
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

/// "gate opens in 23h 41m", "watch ends in 12:04", "hold ends in 71h 59m".
pub fn next_timed(ctx: &Ctx<'_>) -> Option<String> {
    let left = |t: chrono::DateTime<chrono::Utc>| countdown((t - ctx.now).to_std().unwrap_or_default());
    if let Some(w) = running(ctx.state).and_then(|i| ctx.state.steps[i].watch.as_ref())
        && w.until > ctx.now
    {
        return Some(format!("watch ends in {}", mm_ss((w.until - ctx.now).num_seconds())));
    }
    match situation(ctx.state, ctx.now) {
        Situation::Gate {
            until,
            gate: TimeGate::Hold,
            ..
        }
        | Situation::Holding { until } => Some(format!("hold ends in {}", left(until))),
        Situation::Gate { step, until, .. } => Some(format!("{step} in {}", left(until))),
        _ => None,
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let rb = &ctx.state.runbook;
    let banner = match ctx.state.mode {
        Mode::Live => " LIVE ",
        Mode::Rehearsal => " REHEARSAL ",
    };
    let status_style = match ctx.state.status {
        RunStatus::RollingBack => theme.error(),
        RunStatus::RolledBack { .. } => theme.warn(),
        RunStatus::Completed { .. } => theme.ok(),
        _ => theme.title(),
    };
    let mut first = vec![
        Span::styled(banner, theme.banner(ctx.state.mode)),
        Span::raw(" "),
        Span::styled(rb.name.clone(), theme.title()),
        Span::raw(format!(" ({})", rb.environment)),
        Span::styled(format!(" · attempt {}", ctx.state.attempt), theme.dim()),
        Span::raw(" · "),
        Span::styled(ctx.state.status.word(), status_style),
    ];
    let used: usize = first.iter().map(|s| s.content.chars().count()).sum();
    let id = &ctx.state.run_id;
    let room = (area.width as usize).saturating_sub(used + 1);
    if room > id.chars().count() {
        first.push(Span::raw(" ".repeat(room - id.chars().count())));
        first.push(Span::styled(id.clone(), theme.dim()));
    }
    let local = ctx.now.with_timezone(&ctx.local);
    let mut second = vec![
        Span::styled(ctx.now.format("%H:%M:%S UTC").to_string(), theme.title()),
        Span::styled(
            format!(" ({} local, {})", local.format("%H:%M"), ctx.local),
            theme.dim(),
        ),
    ];
    if let Some(next) = next_timed(ctx) {
        second.push(Span::raw("   next: "));
        second.push(Span::styled(next, theme.accent()));
    }
    frame.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second)]), area);
}
