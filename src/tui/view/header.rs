//! The header: mode, runbook, environment, attempt, both clocks, and the next thing
//! that has a time on it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, fit, safe};
use crate::engine::{Mode, RunStatus, Situation, TimeGate, current, situation};
use crate::runbook::Approval;
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

/// How loud the second line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loudness {
    /// A breach streak is running toward the rollback: the whole line turns to alarm.
    Alarm,
    /// The run waits for the operator.
    You,
    Calm,
}

/// `step 7/11` while the run goes forward, `rollback 1/2` while it rolls back.
fn position(ctx: &Ctx<'_>) -> Option<String> {
    let state = ctx.state;
    let forward = state.forward_count();
    let at = running(state).or_else(|| current(state))?;
    Some(if at < forward {
        format!("step {}/{forward}", at + 1)
    } else {
        format!("rollback {}/{}", at - forward + 1, state.steps.len() - forward)
    })
}

/// What the run is doing or waiting for in `room` columns, and how loud to say it:
/// "step 7/11 · waiting for YOU: type www.shop.demo", "step 3/7 · flip at 21:41 UTC, in
/// 23h 41m", "BREACH 1/2 — automatic rollback at the next sample (in 3s) · error_rate".
pub fn urgency(ctx: &Ctx<'_>, room: usize) -> (String, Loudness) {
    let state = ctx.state;
    if let Some(watch) = running(state).and_then(|i| state.steps[i].watch.as_ref()) {
        let (run, names) = super::watch::streak(watch);
        if run > 0 {
            return (
                super::watch::streak_words(ctx, watch, run, &names, room),
                Loudness::Alarm,
            );
        }
    }
    // The run's state in the cluster, when it is bad news: the Lease unrenewed (new steps
    // wait), the cluster unreachable, the run taken over.
    if let Some(c) = ctx
        .app
        .cluster
        .as_ref()
        .filter(|c| c.status.alarming(ctx.now) || c.lease_wait.is_some())
    {
        let text = match (&c.status.lost_to, &c.lease_wait) {
            (None, Some(_)) => format!(
                "⚠ {}: new steps wait (F to force; rollback steps go on) · {}",
                c.status.lease_words(ctx.now),
                c.status.replica_words()
            ),
            _ => format!("⚠ {}", c.status.words(ctx.now)),
        };
        return (text, Loudness::Alarm);
    }
    let at = position(ctx).map(|p| format!("{p} · ")).unwrap_or_default();
    // The next thing with a time on it, long if it fits.
    let timed = || {
        next_timed(ctx).map(|(long, short)| {
            if at.chars().count() + long.chars().count() <= room {
                long
            } else {
                short
            }
        })
    };
    let you = |what: String| (format!("{at}waiting for YOU: {what}"), Loudness::You);
    match situation(state, ctx.now) {
        Situation::Approval {
            approval: Approval::Type(text),
            ..
        } => you(format!("type {text}")),
        Situation::Approval { step, .. } => you(format!("approve {step} (Enter)")),
        Situation::Failed { step, .. } => you(format!("{step} failed — Enter retry · s skip · r roll back")),
        Situation::InDoubt { step } => you(format!("say whether {step} happened (Enter)")),
        Situation::Gate {
            gate: TimeGate::Drain { .. },
            step,
            until,
        } => (
            format!(
                "{at}draining before {step}: {} left",
                countdown((until - ctx.now).to_std().unwrap_or_default())
            ),
            Loudness::Calm,
        ),
        Situation::Gate { step, .. } => (
            format!(
                "{at}{}",
                timed().unwrap_or_else(|| format!("{step} waits for its gate"))
            ),
            Loudness::Calm,
        ),
        Situation::Running { step } if state.status == RunStatus::RollingBack => {
            (format!("ROLLING BACK · {at}{step}"), Loudness::You)
        }
        Situation::Running { step } => match running(state).and_then(|i| state.steps[i].watch.as_ref()) {
            Some(w) => (
                format!(
                    "{at}watching the metrics · ends in {}",
                    mm_ss((w.until - ctx.now).num_seconds())
                ),
                Loudness::Calm,
            ),
            None => (format!("{at}running {step}"), Loudness::Calm),
        },
        Situation::Ready { step: Some(step) } => (format!("{at}starting {step}"), Loudness::Calm),
        Situation::Ready { step: None } => (at.trim_end_matches(" · ").to_string(), Loudness::Calm),
        Situation::Holding { .. } => (
            format!("every step done · {}", timed().unwrap_or_else(|| "holding".to_string())),
            Loudness::Calm,
        ),
        Situation::RolledBack { rca_attached: false } => (
            "rolled back · waiting for YOU: write the RCA (Enter)".to_string(),
            Loudness::You,
        ),
        Situation::RolledBack { rca_attached: true } => (
            "rolled back · root-cause analysis attached: Enter starts the next attempt".to_string(),
            Loudness::Calm,
        ),
        Situation::Completed => ("completed".to_string(), Loudness::Calm),
    }
}

/// `T+04:08 since the flip`, once DNS has flipped in this attempt (until the run rolled
/// back or completed: then the clock of the flip stops).
fn since_flip(ctx: &Ctx<'_>) -> Option<String> {
    let at = match ctx.state.status {
        RunStatus::RolledBack { .. } | RunStatus::Completed { .. } => return None,
        _ => ctx.now,
    };
    super::ending::since_flip(ctx.state, at).map(|t| format!("{t} since the flip"))
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
    // The run id at the right, always apart from the state by at least two spaces.
    let room = width.saturating_sub(used);
    if room >= id.chars().count() + 2 {
        first.push(Span::raw(" ".repeat(room - id.chars().count())));
        first.push(Span::styled(id.clone(), theme.dim()));
    }

    // The second line: the clock, then what the run needs; the time since the flip and
    // the local clock where there is room.
    let clock = format!("{} UTC", ctx.now.format("%H:%M:%S"));
    let (what, loudness) = urgency(ctx, width.saturating_sub(clock.chars().count() + 3));
    // On a watcher's screen the run waits for whoever drives it, not for the watcher.
    let what = if watching.is_some() {
        what.replace("waiting for YOU", "waiting for the operator")
    } else {
        what
    };
    let what_style = match loudness {
        Loudness::Alarm => theme.alarm(),
        Loudness::You => theme.warn().add_modifier(ratatui::style::Modifier::BOLD),
        Loudness::Calm => theme.accent(),
    };
    let local = ctx.now.with_timezone(&ctx.local);
    let local_clock = format!(" ({} local)", local.format("%H:%M"));
    let mut second = vec![Span::styled(clock.clone(), theme.title())];
    let mut used = clock.chars().count();
    // A watcher sees who drives first: the run waits for them, not for the watcher.
    let mut driver = Vec::new();
    if let Some(words) = &watching {
        let words = fit(words, width.saturating_sub(used + 3 + 8));
        used += 3 + words.chars().count();
        driver.push(Span::raw(" · "));
        driver.push(Span::styled(words, theme.accent()));
    }
    let what = fit(&what, width.saturating_sub(used + 3).max(8));
    used += 3 + what.chars().count();
    let mut rest: Vec<Span<'static>> = Vec::new();
    if let Some(t) = since_flip(ctx)
        && used + 3 + t.chars().count() <= width
    {
        used += 3 + t.chars().count();
        rest.push(Span::styled(format!(" · {t}"), theme.title()));
    }
    // Calm: where the cluster's copy stands, where there is room.
    if let Some(c) = ctx
        .app
        .cluster
        .as_ref()
        .filter(|c| !c.status.alarming(ctx.now) && c.lease_wait.is_none())
    {
        let words = format!(" · {}", c.status.words(ctx.now));
        if used + words.chars().count() <= width {
            used += words.chars().count();
            rest.push(Span::styled(words, theme.dim()));
        }
    }
    if watching.is_none() && used + local_clock.chars().count() <= width {
        second.push(Span::styled(local_clock, theme.dim()));
    }
    second.extend(driver);
    second.push(Span::raw(" · "));
    second.push(Span::styled(what, what_style));
    second.extend(rest);
    let mut second = Line::from(second);
    if loudness == Loudness::Alarm {
        second = second.style(theme.alarm());
    }
    frame.render_widget(Paragraph::new(safe(vec![Line::from(first), second])), area);
}
