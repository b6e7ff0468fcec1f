//! The metrics watch: each metric over time against its baseline and bound, the latest
//! sample of each with the reason for its verdict, the time left, the run of breaches that
//! would roll back, and the rollback key. A finished watch is drawn the same way, frozen,
//! with how it ended.
//!
//! The charts are drawn cell by cell (braille for the value, a line glyph for the baseline
//! and the bound, a mark for each breaching sample), so that the axis ticks stand exactly
//! on the rows of the baseline and the bound, and every mark reads without colour.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::{Ctx, fit};
use crate::engine::{RunState, RunStatus, StepState, StepStatus, Verdict, Watch, WatchedMetric};
use crate::runbook::{Action, OnBreach};
use crate::tui::theme::Theme;
use crate::words::{show_exact, show_pair, show_value, status_mark, verdict_mark};

/// The glyphs of a chart, named in its legend: they read without colour.
const VALUE: &str = "⣿";
const BASELINE: char = '┄';
const BOUND: char = '━';
const BREACH: char = '✖';
const NO_DATA: char = '?';

/// Rows a chart needs at least: its borders, the time axis and two rows of plot.
const MIN_CHART_HEIGHT: u16 = 5;
/// A chart this high or more is drawn full width, the charts one under the other.
const STACKED_HEIGHT: u16 = 8;
const MIN_CHART_WIDTH: u16 = 20;

/// The whole watch view: status, charts, and the latest sample of each metric. Live while
/// the step runs; afterwards frozen, with the verdict.
pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, step: &StepState, watch: &Watch) {
    let theme = ctx.app.theme;
    let title = match ctx.state.spec(&step.id).map(|s| s.title.as_str()) {
        Some(t) if !t.is_empty() => format!(" metrics watch · {t} "),
        _ => format!(" metrics watch · step {} ", step.id),
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.accent())
        .title(Span::styled(
            fit(&title, area.width.saturating_sub(2) as usize),
            theme.accent(),
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    let status = status_lines(ctx, step, watch, inner.width as usize, inner.height);
    let n = watch.metrics.len() as u16;
    let status_rows = (status.len() as u16).min(inner.height);
    let left = inner.height - status_rows;
    // The table: a header and a row a metric, and the reason of each verdict under its row
    // when the charts keep room enough.
    let compact = (1 + n).min(left);
    let charts_room = left - compact;
    let charted = charts_room >= MIN_CHART_HEIGHT;
    let full = if charted {
        charts_room >= n + 2 * STACKED_HEIGHT
    } else {
        left > 2 * n
    };
    let table_rows = if full { 1 + 2 * n } else { compact };
    let [status_area, charts_area, table_area] = Layout::vertical([
        Constraint::Length(status_rows),
        Constraint::Min(0),
        Constraint::Length(table_rows),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(status), status_area);
    if charted {
        charts(frame, charts_area, ctx, watch);
    }
    frame.render_widget(
        Paragraph::new(table(ctx, watch, table_area.width as usize, full)),
        table_area,
    );
}

/// Every metric of a watch as a chart over the watch's whole time, with its baseline and
/// bound and each breaching sample marked, laid out to fill `area`: one under the other
/// when there is height, side by side otherwise. Draws a running watch as it is now, a
/// finished one frozen; nothing where there is no room for a chart.
pub fn charts(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, watch: &Watch) {
    let n = watch.metrics.len() as u16;
    if n == 0 || area.height < MIN_CHART_HEIGHT || area.width < MIN_CHART_WIDTH {
        return;
    }
    let areas: Vec<Rect> = if area.height / n >= STACKED_HEIGHT {
        Layout::vertical(vec![Constraint::Ratio(1, n as u32); n as usize])
            .split(area)
            .to_vec()
    } else if area.width / n >= MIN_CHART_WIDTH {
        Layout::horizontal(vec![Constraint::Ratio(1, n as u32); n as usize])
            .split(area)
            .to_vec()
    } else {
        // As many as fit, one under the other.
        let shown = (area.height / MIN_CHART_HEIGHT).min(n);
        Layout::vertical(vec![Constraint::Ratio(1, shown as u32); shown as usize])
            .split(area)
            .to_vec()
    };
    for (i, a) in areas.into_iter().enumerate() {
        chart(frame, a, ctx, watch, i);
    }
}

/// A `metrics.watch` step's length as this run has it: a rehearsal compresses it (the
/// demo's watch lasts a minute, not the runbook's 15). Sets it in `action`, for its
/// description, and says what the runbook says, if that differs.
pub(super) fn length_in_this_run(state: &RunState, step: &str, action: &mut Action) -> Option<String> {
    let (Action::MetricsWatch(w), Some(m)) = (action, &state.runbook.metrics) else {
        return None;
    };
    let real = w.duration.unwrap_or(m.watch);
    // A dry run takes one sample, whatever the length.
    let length = if state.dry_run {
        real
    } else {
        state.scaled("watch", Some(step), real)
    };
    if length == real {
        return None;
    }
    w.duration = Some(length);
    Some(format!(
        "(rehearsal: {} here; the runbook's watch is {})",
        crate::runbook::duration::format(length),
        crate::runbook::duration::format(real)
    ))
}

/// Seconds since the watch started.
fn secs(watch: &Watch, at: DateTime<Utc>) -> f64 {
    (at - watch.started_at).num_milliseconds() as f64 / 1000.0
}

/// The legend, as much of it as fits in `room` columns after the metric's name: the bound
/// first.
fn legend(ctx: &Ctx<'_>, name: &str, room: usize) -> Line<'static> {
    let theme = ctx.app.theme;
    let name = fit(name, room.saturating_sub(2));
    let mut used = name.width() + 2;
    let mut spans = vec![Span::styled(format!(" {name} "), theme.title())];
    let items: [(String, &str, Style); 4] = [
        (BOUND.to_string(), "bound", theme.error()),
        (BASELINE.to_string(), "baseline", theme.ok()),
        (BREACH.to_string(), "breach", theme.error()),
        (VALUE.to_string(), "value", theme.accent()),
    ];
    for (glyph, word, style) in items {
        let w = glyph.width() + word.len() + 3;
        if used + w > room {
            break;
        }
        used += w;
        spans.push(Span::raw(" "));
        spans.push(Span::styled(glyph, style));
        spans.push(Span::styled(format!(" {word} "), theme.dim()));
    }
    Line::from(spans)
}

/// One metric's chart in `area`.
fn chart(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, watch: &Watch, index: usize) {
    let theme = ctx.app.theme;
    let m = &watch.metrics[index];
    let block =
        Block::bordered()
            .border_style(theme.dim())
            .title(legend(ctx, &m.name, area.width.saturating_sub(2) as usize));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    // The samples of this metric: when, the value if there was one, the verdict.
    let points: Vec<(f64, Option<f64>, Verdict)> = watch
        .samples
        .iter()
        .filter_map(|(at, set)| {
            let s = set.iter().find(|s| s.metric == m.name)?;
            Some((secs(watch, *at), s.value, s.verdict))
        })
        .collect();
    let axis = YAxis::new(points.iter().filter_map(|p| p.1), m, theme);
    let gutter = axis.labels.iter().map(|(_, l, _)| l.width()).max().unwrap_or(0) as u16;
    if inner.height < 3 || inner.width < gutter + 6 {
        return;
    }
    let plot = Rect {
        x: inner.x + gutter + 1,
        y: inner.y,
        width: inner.width - gutter - 1,
        height: inner.height - 1,
    };
    let span = secs(watch, watch.until).max(1.0);
    let grid = Grid::new(plot.width, plot.height, span, axis.lo, axis.hi);
    let buf = frame.buffer_mut();

    // The axis: a tick and a label at the bottom, the baseline, the bound and the top.
    let rows = axis.rows(&grid);
    for r in 0..plot.height {
        let tick = rows.iter().find(|(row, _, _)| *row == r);
        let y = plot.y + r;
        set(buf, plot.x - 1, y, if tick.is_some() { '┤' } else { '│' }, theme.dim());
        if let Some((_, label, style)) = tick {
            let w = label.width() as u16;
            buf.set_string(inner.x + gutter - w, y, label, *style);
        }
    }
    // The baseline and the bound across the watch (the bound over the baseline).
    for (value, glyph, style) in [(m.baseline, BASELINE, theme.ok()), (m.bound, BOUND, theme.error())] {
        let r = grid.row(value);
        for c in 0..plot.width {
            set(buf, plot.x + c, plot.y + r, glyph, style);
        }
    }
    // The value, in braille, over them.
    let mut dots = vec![0u8; plot.width as usize * plot.height as usize];
    let mut last: Option<(i32, i32)> = None;
    for (t, value, _) in &points {
        let Some(v) = value else {
            last = None;
            continue;
        };
        let p = (grid.dot_x(*t), grid.dot_y(*v));
        match last {
            Some(from) => grid.line(&mut dots, from, p),
            None => grid.dot(&mut dots, p),
        }
        last = Some(p);
    }
    for r in 0..plot.height {
        for c in 0..plot.width {
            let bits = dots[r as usize * plot.width as usize + c as usize];
            if bits != 0 {
                let glyph = char::from_u32(0x2800 + bits as u32).unwrap_or(' ');
                set(buf, plot.x + c, plot.y + r, glyph, theme.accent());
            }
        }
    }
    // Each breaching sample marked where it is; a sample without data on the floor.
    for (t, value, verdict) in &points {
        let c = (grid.dot_x(*t) / 2) as u16;
        match (value, verdict) {
            (Some(v), Verdict::Breach) => {
                let r = (grid.dot_y(*v) / 4) as u16;
                set(buf, plot.x + c, plot.y + r, BREACH, theme.error());
            }
            (None, _) => set(buf, plot.x + c, plot.y + plot.height - 1, NO_DATA, theme.warn()),
            _ => {}
        }
    }
    // The time axis: minutes and seconds since the watch started.
    let x_row = plot.y + plot.height;
    for (c, label) in x_ticks(&grid, span) {
        buf.set_string(plot.x + c, x_row, label, theme.dim());
    }
}

fn set(buf: &mut Buffer, x: u16, y: u16, c: char, style: Style) {
    if let Some(cell) = buf.cell_mut((x, y)) {
        cell.set_char(c).set_style(style);
    }
}

/// A plot of `width` × `height` cells, each 2 × 4 braille dots, over `0..span` seconds
/// and `lo..hi`.
struct Grid {
    width: u16,
    height: u16,
    span: f64,
    lo: f64,
    hi: f64,
}

impl Grid {
    fn new(width: u16, height: u16, span: f64, lo: f64, hi: f64) -> Self {
        Self {
            width,
            height,
            span,
            lo,
            hi,
        }
    }

    fn dot_x(&self, t: f64) -> i32 {
        let dots = self.width as f64 * 2.0 - 1.0;
        ((t / self.span) * dots).round().clamp(0.0, dots) as i32
    }

    /// Dot rows count from the top.
    fn dot_y(&self, v: f64) -> i32 {
        let dots = self.height as f64 * 4.0 - 1.0;
        (((self.hi - v) / (self.hi - self.lo)) * dots).round().clamp(0.0, dots) as i32
    }

    /// The row of the cell a value is drawn in.
    fn row(&self, v: f64) -> u16 {
        (self.dot_y(v) / 4) as u16
    }

    fn dot(&self, dots: &mut [u8], (x, y): (i32, i32)) {
        const BITS: [[u8; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];
        let (c, r) = (x / 2, y / 4);
        if c < 0 || r < 0 || c >= self.width as i32 || r >= self.height as i32 {
            return;
        }
        dots[r as usize * self.width as usize + c as usize] |= BITS[(y % 4) as usize][(x % 2) as usize];
    }

    /// A straight line of dots (Bresenham).
    fn line(&self, dots: &mut [u8], (x0, y0): (i32, i32), (x1, y1): (i32, i32)) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.dot(dots, (x, y));
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

/// The value axis of a metric: a range that holds every value, the baseline and the bound
/// with a margin, on round numbers; and its labels.
struct YAxis {
    lo: f64,
    hi: f64,
    /// Value, label, style; the first has the row when two fall on one.
    labels: Vec<(f64, String, Style)>,
}

impl YAxis {
    fn new(values: impl Iterator<Item = f64>, m: &WatchedMetric, theme: Theme) -> Self {
        let (lo, hi) = y_range(values, m.baseline, m.bound);
        let (baseline, bound) = show_pair(m.baseline, m.bound, &m.unit);
        let labels = vec![
            (m.bound, bound, theme.error()),
            (m.baseline, baseline, theme.ok()),
            (hi, show_exact(hi, &m.unit), theme.dim()),
            (lo, show_exact(lo, &m.unit), theme.dim()),
        ];
        Self { lo, hi, labels }
    }

    /// The labels that get a row: the bound first, then the baseline, the top, the bottom.
    fn rows(&self, grid: &Grid) -> Vec<(u16, String, Style)> {
        let mut rows: Vec<(u16, String, Style)> = Vec::new();
        for (v, label, style) in &self.labels {
            let r = grid.row(*v);
            if !rows.iter().any(|(taken, _, _)| *taken == r) {
                rows.push((r, label.clone(), *style));
            }
        }
        rows
    }
}

/// The range of a chart's value axis: every value, the baseline and the bound, with a
/// tenth of their spread above and below, widened to a round step (1, 2, 2.5 or 5 times
/// a power of ten); never below zero when nothing is.
pub(crate) fn y_range(values: impl Iterator<Item = f64>, baseline: f64, bound: f64) -> (f64, f64) {
    let (min, max) = values
        .chain([baseline, bound])
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    let spread = if max > min {
        max - min
    } else if max != 0.0 {
        max.abs() * 0.2
    } else {
        0.001
    };
    let (raw_lo, raw_hi) = (min - spread / 10.0, max + spread / 10.0);
    let step = nice_step((raw_hi - raw_lo) / 4.0);
    let mut lo = (raw_lo / step).floor() * step;
    let hi = (raw_hi / step).ceil() * step;
    if min >= 0.0 && lo < 0.0 {
        lo = 0.0;
    }
    (lo, hi)
}

/// The round number at or above `raw`: 1, 2, 2.5 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| fraction <= *n + 1e-9)
        .unwrap_or(10.0);
    nice * power
}

/// `m:ss` since the watch started (`h:mm:ss` from an hour).
fn clock(secs: f64) -> String {
    let s = secs.round().max(0.0) as i64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The labels of the time axis: the start, the end, and round times between as many as
/// fit with room between them. Each with the column it starts at.
fn x_ticks(grid: &Grid, span: f64) -> Vec<(u16, String)> {
    let end = clock(span);
    let width = grid.width as usize;
    let cell = |t: f64| (grid.dot_x(t) / 2) as usize;
    let mut ticks = vec![(0u16, clock(0.0))];
    let end_start = width.saturating_sub(end.width());
    let label_room = end.width() + 3;
    const STEPS: [f64; 14] = [
        5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0,
    ];
    if let Some(step) = STEPS
        .into_iter()
        .find(|s| (grid.width as f64 - 1.0) * s / span >= label_room as f64)
    {
        let mut after = ticks[0].1.width() + 1;
        let mut t = step;
        while t < span {
            let label = clock(t);
            let start = cell(t).saturating_sub(label.width() / 2);
            if start > after && start + label.width() < end_start {
                after = start + label.width() + 1;
                ticks.push((start as u16, label));
            }
            t += step;
        }
    }
    if end_start > ticks[0].1.width() {
        ticks.push((end_start as u16, end));
    }
    ticks
}

/// The run of breaches in a row that decides the rollback, counted as the watch counts it
/// (see `story::streaks`): its length and the metrics in it.
pub fn streak(watch: &Watch) -> (u32, Vec<&str>) {
    let runs = crate::engine::story::streaks(watch);
    let longest = runs.iter().map(|r| r.in_a_row).max().unwrap_or(0);
    let names = runs
        .iter()
        .filter(|r| longest > 0 && r.in_a_row == longest)
        .map(|r| r.metric.name.as_str())
        .collect();
    (longest, names)
}

fn samples(n: usize) -> String {
    if n == 1 {
        "1 sample".to_string()
    } else {
        format!("{n} samples")
    }
}

/// The first of `candidates` that fits in `width` columns (the last one cut if none does).
fn first_fitting(candidates: Vec<String>, width: usize) -> String {
    let last = candidates.last().cloned().unwrap_or_default();
    candidates
        .into_iter()
        .find(|c| c.width() <= width)
        .unwrap_or_else(|| fit(&last, width))
}

/// The status: how long the watch has left (or how it ended), the run of breaches that
/// would roll back, and the rollback key; a line each.
fn status_lines(ctx: &Ctx<'_>, step: &StepState, watch: &Watch, width: usize, height: u16) -> Vec<Line<'static>> {
    let theme = ctx.app.theme;
    let count = samples(watch.samples.len());
    let mut lines = Vec::new();
    let can_roll_back = matches!(ctx.state.status, RunStatus::Active | RunStatus::Holding { .. });
    let key = " r ROLL BACK ";
    let key_room = if can_roll_back { key.width() + 2 } else { 0 };
    if step.status == StepStatus::Running {
        let left = crate::runbook::duration::mm_ss((watch.until - ctx.now).num_seconds());
        let at = watch.until.format("%H:%M:%S UTC");
        let text = first_fitting(
            vec![
                format!("ends in {left} (at {at}) · {count}"),
                format!("ends in {left} · {count}"),
                format!("ends in {left}"),
            ],
            width.saturating_sub(key_room),
        );
        let mut spans = vec![Span::styled(text, theme.title())];
        if can_roll_back {
            spans.push(Span::raw("  "));
            spans.push(Span::styled(key, theme.danger_key()));
        }
        lines.push(Line::from(spans));
        let (run, names) = streak(watch);
        if run > 0 {
            lines.push(Line::from(Span::styled(
                streak_words(ctx, watch, run, &names, width),
                theme.error(),
            )));
        }
        return lines;
    }

    // Finished: how it ended, when, and what became of the run.
    let (glyph, word) = status_mark(step.status);
    let ended = step
        .finished_at
        .or_else(|| watch.samples.last().map(|(at, _)| *at))
        .unwrap_or(watch.until);
    let fate = match ctx.state.status {
        RunStatus::RollingBack => " · rolling back",
        RunStatus::RolledBack { .. } => " · rolled back",
        _ => "",
    };
    let into = format!(
        "{} of {}",
        clock(secs(watch, ended).min(secs(watch, watch.until))),
        clock(secs(watch, watch.until))
    );
    let text = first_fitting(
        vec![
            format!(
                "{glyph} watch {word} · {count} · ended {} ({into}){fate}",
                ended.format("%H:%M:%S UTC")
            ),
            format!("{glyph} watch {word} · {count}{fate}"),
            format!("{glyph} {word}{fate}"),
        ],
        width.saturating_sub(key_room),
    );
    let mut spans = vec![Span::styled(text, theme.status(step.status))];
    if can_roll_back {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(key, theme.danger_key()));
    }
    lines.push(Line::from(spans));
    match step.status {
        StepStatus::Failed => {
            if let Some(f) = &step.failure {
                lines.push(Line::from(Span::styled(fit(&f.message, width), theme.error())));
                if let Some(advice) = f.advice.as_deref().filter(|_| height >= 16) {
                    lines.push(Line::from(vec![
                        Span::styled("what to do: ", theme.title()),
                        Span::raw(fit(advice, width.saturating_sub(12))),
                    ]));
                }
            }
        }
        StepStatus::Succeeded => {
            if let Some(o) = &step.outcome {
                lines.push(Line::from(Span::styled(fit(&o.summary, width), theme.ok())));
            }
        }
        _ => {
            if let Some(d) = &step.decided {
                lines.push(Line::from(Span::styled(fit(d, width), theme.warn())));
            }
        }
    }
    lines
}

/// "✖ BREACH 1/2 (error_rate) — automatic rollback if the next sample breaches too (in 3 s)",
/// as much of it as fits (the watch's status, and the header's alarm).
pub fn streak_words(ctx: &Ctx<'_>, watch: &Watch, run: u32, names: &[&str], width: usize) -> String {
    let config = ctx.state.runbook.metrics.as_ref();
    let who = if names.join(", ").width() <= 30 {
        format!(" ({})", names.join(", "))
    } else {
        format!(" ({} metrics)", names.len())
    };
    let Some(config) = config else {
        // Not a watch of [metrics] (its own judge): the run is all that is known.
        return first_fitting(
            vec![
                format!("{BREACH} BREACH {run} in a row{who}"),
                format!("{BREACH} BREACH {run} in a row"),
            ],
            width,
        );
    };
    let needed = config.consecutive;
    let head = format!("{BREACH} BREACH {run}/{needed}");
    let consequence = match config.on_breach {
        OnBreach::Rollback => "automatic rollback",
        OnBreach::Ask => "the run stops for your decision",
    };
    let short = match config.on_breach {
        OnBreach::Rollback => "rolls back",
        OnBreach::Ask => "stops the run",
    };
    if run >= needed {
        return first_fitting(
            vec![
                format!("{head}{who} — the watch ends in a breach: {consequence}"),
                format!("{head} — {consequence}"),
                head,
            ],
            width,
        );
    }
    let remaining = needed - run;
    let next = crate::engine::story::next_sample_at(ctx.state, watch);
    let when = match next {
        Some(next) if next >= watch.until => None,
        Some(next) => {
            let s = (next - ctx.now).num_seconds();
            Some(if s > 0 {
                format!("in {s} s")
            } else {
                "due now".to_string()
            })
        }
        None => None,
    };
    let Some(when) = when else {
        return first_fitting(
            vec![format!("{head}{who} — no sample left before the watch ends"), head],
            width,
        );
    };
    let (long, brief) = if remaining == 1 {
        (
            format!("{consequence} if the next sample breaches too ({when})"),
            format!("next breach {short} ({when})"),
        )
    } else {
        (
            format!("{consequence} after {remaining} more breaching samples in a row (next {when})"),
            format!("{remaining} more {short} (next {when})"),
        )
    };
    first_fitting(
        vec![
            format!("{head}{who} — {long}"),
            format!("{head} — {long}"),
            format!("{head}{who} — {brief}"),
            format!("{head} — {brief}"),
            format!("{head} · next sample {when}"),
            format!("{head} · next {when}"),
            head,
        ],
        width,
    )
}

/// The latest sample of each metric against its bound and baseline, with its verdict;
/// under each, when `reasons`, why. The columns narrow with the width: the verdict's word
/// goes first (its glyph stays), then the baseline; the bound stays beside the value.
fn table(ctx: &Ctx<'_>, watch: &Watch, width: usize, reasons: bool) -> Vec<Line<'static>> {
    let theme = ctx.app.theme;
    let latest = watch.samples.last();
    struct Row {
        name: String,
        value: String,
        bound: String,
        baseline: String,
        glyph: &'static str,
        word: String,
        style: Style,
        why: String,
    }
    let rows: Vec<Row> = watch
        .metrics
        .iter()
        .map(|m| {
            let sample = latest.and_then(|(_, s)| s.iter().find(|s| s.metric == m.name));
            let (value, bound) = match sample.and_then(|s| s.value) {
                Some(v) => show_pair(v, m.bound, &m.unit),
                None => ("—".to_string(), show_value(m.bound, &m.unit)),
            };
            let (glyph, word, style) = match sample.map(|s| s.verdict) {
                Some(v) => {
                    let (g, w) = verdict_mark(v);
                    (g, w.to_string(), theme.verdict(v))
                }
                None => ("·", "no sample yet".to_string(), theme.dim()),
            };
            Row {
                name: m.name.clone(),
                value,
                bound,
                baseline: show_value(m.baseline, &m.unit),
                glyph,
                word,
                style,
                why: sample.map_or_else(|| format!("bound: {}", m.rule), |s| s.reason.clone()),
            }
        })
        .collect();
    let header = (
        "metric",
        "value",
        format!("{BOUND} bound"),
        format!("{BASELINE} baseline"),
        "verdict",
    );
    let w = |f: &dyn Fn(&Row) -> usize, h: usize| rows.iter().map(f).chain([h]).max().unwrap_or(0);
    let name_w = w(&|r| r.name.width(), header.0.len());
    let value_w = w(&|r| r.value.width(), header.1.len());
    let bound_w = w(&|r| r.bound.width(), header.2.width());
    let baseline_w = w(&|r| r.baseline.width(), header.3.width());
    let word_w = w(&|r| r.word.width(), header.4.len());
    // Baseline shown, verdict word shown, the gap between columns: the first that fits.
    let need = |baseline: bool, word: bool, gap: usize| {
        2 + name_w
            + gap
            + value_w
            + gap
            + bound_w
            + if baseline { gap + baseline_w } else { 0 }
            + if word { gap + word_w } else { 0 }
    };
    let (baseline, word, gap) = [(true, true, 2), (true, true, 1), (true, false, 1), (false, false, 1)]
        .into_iter()
        .find(|(b, v, g)| need(*b, *v, *g) <= width)
        .unwrap_or((false, false, 1));
    // The name gives way last, if even that is too wide.
    let name_w = name_w.min(width.saturating_sub(need(baseline, word, gap) - name_w));
    let pad = " ".repeat(gap);
    let cells = |name: &str, value: &str, bound: &str, base: &str| {
        let mut s = format!(
            "{:<name_w$}{pad}{:>value_w$}{pad}{:>bound_w$}",
            fit(name, name_w),
            value,
            bound
        );
        if baseline {
            s.push_str(&format!("{pad}{base:>baseline_w$}"));
        }
        s
    };
    let mut head = format!("  {}", cells(header.0, header.1, &header.2, &header.3));
    if word {
        head.push_str(&format!("{pad}{}", header.4));
    }
    let mut lines = vec![Line::from(Span::styled(fit(&head, width), theme.dim()))];
    for r in &rows {
        let mut spans = vec![
            Span::styled(format!("{} ", r.glyph), r.style),
            Span::raw(cells(&r.name, &r.value, &r.bound, &r.baseline)),
        ];
        if word {
            spans.push(Span::styled(format!("{pad}{}", r.word), r.style));
        }
        lines.push(Line::from(spans));
        if reasons {
            lines.push(Line::from(Span::styled(
                fit(&format!("    {}", r.why), width),
                theme.dim(),
            )));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{Grid, clock, nice_step, y_range};

    #[test]
    fn the_range_holds_values_baseline_and_bound_on_round_numbers() {
        // The error rate of the cockpit's test: 0.19 %..0.52 %, baseline 0.20 %, bound 0.30 %.
        let values = [0.0021, 0.0019, 0.0024, 0.0041, 0.0052];
        let (lo, hi) = y_range(values.into_iter(), 0.002, 0.003);
        assert!((lo - 0.001).abs() < 1e-12 && (hi - 0.006).abs() < 1e-12, "{lo} {hi}");
        // p99 in seconds: 176..262 ms, baseline 180 ms, bound 216 ms.
        let (lo, hi) = y_range([0.181, 0.176, 0.190, 0.240, 0.262].into_iter(), 0.180, 0.216);
        assert!((lo - 0.15).abs() < 1e-12 && (hi - 0.30).abs() < 1e-12, "{lo} {hi}");
    }

    #[test]
    fn the_range_holds_the_bound_even_far_above_every_value() {
        let (lo, hi) = y_range([0.001, 0.0011].into_iter(), 0.001, 0.05);
        assert!(lo <= 0.001 && (0.05..0.07).contains(&hi), "{lo} {hi}");
        assert!(lo >= 0.0, "nothing is negative: neither is the axis ({lo})");
    }

    #[test]
    fn a_range_without_spread_or_values_still_has_height() {
        let (lo, hi) = y_range(std::iter::empty(), 0.2, 0.2);
        assert!(lo < 0.2 && hi > 0.2, "{lo} {hi}");
        let (lo, hi) = y_range(std::iter::empty(), 0.0, 0.0);
        assert!(lo == 0.0 && hi > 0.0, "{lo} {hi}");
        let (lo, hi) = y_range([f64::NAN].into_iter(), 1.0, 2.0);
        assert!(lo <= 1.0 && hi >= 2.0, "{lo} {hi}");
    }

    #[test]
    fn steps_are_round() {
        for (raw, nice) in [
            (0.00099, 0.001),
            (0.0258, 0.05),
            (0.024, 0.025),
            (3.0, 5.0),
            (0.11, 0.2),
            (7.0, 10.0),
            (1.0, 1.0),
        ] {
            assert!((nice_step(raw) - nice).abs() < 1e-12, "{raw}: {}", nice_step(raw));
        }
    }

    #[test]
    fn the_bound_and_baseline_rows_are_the_rows_of_values_equal_to_them() {
        let grid = Grid::new(40, 6, 900.0, 0.001, 0.006);
        // The top and the bottom of the axis are the first and the last row.
        assert_eq!(grid.row(0.006), 0);
        assert_eq!(grid.row(0.001), 5);
        // 0.30 % is 3/5 of the way down 24 dot rows (23 steps): dot 13.8 → 14, row 3.
        assert_eq!(grid.row(0.003), 3);
        assert_eq!(grid.row(0.002), 4);
        assert_eq!(grid.dot_x(0.0), 0);
        assert_eq!(grid.dot_x(900.0), 79);
    }

    /// A run of a runbook with a baseline and a 15-minute watch, rehearsed as `rehearsal`.
    fn rehearsed(rehearsal: Option<crate::engine::Rehearsal>) -> crate::engine::RunState {
        let text = r#"
[runbook]
name = "shop"
[metrics]
prometheus = "http://127.0.0.1:9"
error_rate = 'sum(rate(errors[1m]))'
p99 = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))'
watch = "15m"
interval = "3s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  [[phase.step]]
  id = "watch"
  kind = "metrics.watch"
"#;
        let loaded = crate::runbook::load_str(std::path::Path::new("shop.toml"), text, None).expect("runbook");
        let started = crate::engine::Recorded {
            v: crate::engine::SCHEMA_VERSION,
            seq: 1,
            at: "2026-12-01T22:00:00Z".parse().unwrap(),
            by: "alice".into(),
            event: crate::engine::RunEvent::RunStarted {
                run_id: "shop.default.20261201T2200Z".into(),
                mode: crate::engine::Mode::Rehearsal,
                runbook: loaded.runbook,
                digest: loaded.digest,
                source: "shop.toml".into(),
                rehearsal,
                dry_run: false,
            },
        };
        crate::engine::RunState::replay([&started]).expect("state")
    }

    #[test]
    fn a_rehearsed_watch_is_described_with_the_length_it_runs_for() {
        // As the demo has it: 15 times faster, and the watch set to a minute.
        let state = rehearsed(Some(crate::engine::Rehearsal {
            compress: 15,
            overrides: vec![crate::engine::GateOverride {
                gate: "watch".into(),
                length: std::time::Duration::from_secs(60),
            }],
            auto_approve: false,
            demo: true,
        }));
        let lines = super::super::resolved_action_lines(&state, "watch").join("\n");
        assert!(lines.contains("samples every 3s for 1m:"), "{lines}");
        assert!(
            lines.contains("(rehearsal: 1m here; the runbook's watch is 15m)"),
            "{lines}"
        );
        // Compressed only: a fifteenth.
        let state = rehearsed(Some(crate::engine::Rehearsal {
            compress: 15,
            overrides: Vec::new(),
            auto_approve: false,
            demo: false,
        }));
        let lines = super::super::resolved_action_lines(&state, "watch").join("\n");
        assert!(lines.contains("samples every 3s for 1m:"), "{lines}");
        // A live run: the runbook's length, nothing added.
        let lines = super::super::resolved_action_lines(&rehearsed(None), "watch").join("\n");
        assert!(lines.contains("samples every 3s for 15m:"), "{lines}");
        assert!(!lines.contains("rehearsal"), "{lines}");
    }

    #[test]
    fn times_read_as_minutes_and_seconds() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(900.0), "15:00");
        assert_eq!(clock(59.6), "1:00");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
