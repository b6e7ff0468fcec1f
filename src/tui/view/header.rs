//! The header: mode, runbook, environment, attempt, both clocks, and the next thing
//! that has a time on it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, fit, safe};
use crate::engine::{Mode, RunStatus, Situation, TimeGate, situation};
use crate::runbook::duration::countdown;
use crate::runbook::duration::mm_ss;
use crate::tui::app::running;

/// The next thing with a time on it, long and short: "flip at 21:41 UTC, in 23h 41m" /
/// "flip in 23h 41m", "watch ends in 12:04", "hold ends in 71h 59m".
pub fn next_timed(ctx: &Ctx<'_>) -> Option<(String, String)> {
    let left = |t: chrono::DateTime<chrono::Utc>| countdown((t - ctx.now).to_std().unwrap_or_default());
    if let Some(w) = running(ctx.state).and_then(|i| ctx.state.steps[i].watch.as_ref())
        && w.until > ctx.now
    {
        let text = format!("watch ends in {}", mm_ss((w.until - ctx.now).num_seconds()));
        return Some((text.clone(), text));
    }
    match situation(ctx.state, ctx.now) {
        Situation::Gate {
            until,
            gate: TimeGate::Hold,
            ..
        }
        | Situation::Holding { until } => {
            let text = format!("hold ends in {}", left(until));
            Some((text.clone(), text))
        }
        Situation::Gate { step, until, .. } => Some((
            format!("{step} at {} UTC, in {}", until.format("%H:%M"), left(until)),
            format!("{step} in {}", left(until)),
        )),
        _ => None,
    }
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let rb = &ctx.state.runbook;
    let banner = match (ctx.state.mode, ctx.state.dry_run) {
        (Mode::Live, false) => " LIVE ",
        (Mode::Live, true) => " DRY RUN ",
        (Mode::Rehearsal, false) => " REHEARSAL ",
        (Mode::Rehearsal, true) => " REHEARSAL DRY RUN ",
    };
    let status_style = match ctx.state.status {
        RunStatus::RollingBack => theme.error(),
        RunStatus::RolledBack { .. } => theme.warn(),
        RunStatus::Completed { .. } => theme.ok(),
        _ => theme.title(),
    };
    let width = area.width as usize;
    // The banner, environment, attempt and state always show; the name gives way.
    // The cluster in use is always in sight, so staging and production never get mixed up.
    let cluster = rb
        .k8s
        .as_ref()
        .map(|k| {
            format!(
                " · k8s {}/{}",
                k.context.as_deref().unwrap_or("current-context"),
                k.namespace
            )
        })
        .unwrap_or_default();
    let tail = [
        format!(" ({}){cluster}", rb.environment),
        format!(" · attempt {}", ctx.state.attempt),
        " · ".to_string(),
        ctx.state.status.word().to_string(),
    ];
    // Watching a run another process drives (`cutover watch`): marked, with who drives.
    let watching = ctx.app.read_only.as_ref().map(|r| r.driver_words(ctx.state));
    let mark = if watching.is_some() { " WATCHING " } else { "" };
    let fixed =
        mark.chars().count() + banner.chars().count() + 1 + tail.iter().map(|t| t.chars().count()).sum::<usize>();
    let name = fit(&rb.name, width.saturating_sub(fixed).max(8));
    let mut first = vec![
        Span::styled(mark, theme.watching()),
        Span::styled(banner, theme.banner(ctx.state.mode)),
        Span::raw(" "),
        Span::styled(name, theme.title()),
        Span::raw(tail[0].clone()),
        Span::styled(tail[1].clone(), theme.dim()),
        Span::raw(tail[2].clone()),
        Span::styled(tail[3].clone(), status_style),
    ];
    let used: usize = first.iter().map(|s| s.content.chars().count()).sum();
    let id = &ctx.state.run_id;
    let room = width.saturating_sub(used + 1);
    if room > id.chars().count() {
        first.push(Span::raw(" ".repeat(room - id.chars().count())));
        first.push(Span::styled(id.clone(), theme.dim()));
    }
    let local = ctx.now.with_timezone(&ctx.local);
    let clocks = format!("{} UTC", ctx.now.format("%H:%M:%S"));
    // A watcher sees who drives where the local clock goes.
    let (local_clock, local_style) = match &watching {
        Some(words) => (format!(" · {words}"), theme.accent()),
        None => (
            format!(" ({} local, {})", local.format("%H:%M"), ctx.local),
            theme.dim(),
        ),
    };
    let mut second = vec![
        Span::styled(clocks.clone(), theme.title()),
        Span::styled(local_clock.clone(), local_style),
    ];
    if let Some((long, short)) = next_timed(ctx) {
        let room = width.saturating_sub(clocks.chars().count() + local_clock.chars().count() + 9);
        let next = if long.chars().count() <= room {
            long
        } else {
            fit(&short, room)
        };
        second.push(Span::raw("   next: "));
        second.push(Span::styled(next, theme.accent()));
    }
    frame.render_widget(Paragraph::new(safe(vec![Line::from(first), Line::from(second)])), area);
}
