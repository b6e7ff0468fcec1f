//! The metrics watch: each metric over time against its baseline and bound, the latest
//! sample of each with the reason for its verdict, the time left, and the rollback key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition, Paragraph};

use super::{Ctx, fit};
use crate::engine::{RunStatus, StepState, StepStatus, Verdict, Watch, WatchedMetric};
use crate::runbook::duration::mm_ss;
use crate::words::verdict_mark;

use crate::words::show_value as show;

fn chart<'a>(
    metric: &'a WatchedMetric,
    points: &'a [(f64, f64)],
    baseline: &'a [(f64, f64)],
    bound: &'a [(f64, f64)],
    span_secs: f64,
    ctx: &Ctx<'_>,
) -> Chart<'a> {
    let theme = ctx.app.theme;
    let top = points
        .iter()
        .map(|p| p.1)
        .fold(metric.bound.max(metric.baseline), f64::max)
        * 1.25;
    let top = if top > 0.0 { top } else { 1.0 };
    // The value is drawn last, over the baseline and bound lines.
    let datasets = vec![
        Dataset::default()
            .name("baseline")
            .marker(Marker::Dot)
            .graph_type(GraphType::Line)
            .style(theme.ok())
            .data(baseline),
        Dataset::default()
            .name("bound")
            .marker(Marker::HalfBlock)
            .graph_type(GraphType::Line)
            .style(theme.error())
            .data(bound),
        Dataset::default()
            .name("value")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.accent())
            .data(points),
    ];
    Chart::new(datasets)
        .block(
            Block::bordered()
                .border_style(theme.dim())
                .title(Span::styled(format!(" {} ", metric.name), theme.title())),
        )
        .x_axis(
            Axis::default()
                .bounds([0.0, span_secs])
                .labels(["0:00".to_string(), mm_ss(span_secs as i64)])
                .style(theme.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels([show(0.0, &metric.unit), show(top, &metric.unit)])
                .style(theme.dim()),
        )
        .legend_position(Some(LegendPosition::TopLeft))
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, step: &StepState, watch: &Watch) {
    let theme = ctx.app.theme;
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.accent())
        .title(Span::styled(format!(" watch: {} ", step.id), theme.accent()));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let span_secs = ((watch.until - watch.started_at).num_milliseconds() as f64 / 1000.0).max(1.0);
    let breaches = watch
        .samples
        .last()
        .map(|(_, s)| s.iter().filter(|m| m.verdict == Verdict::Breach).count())
        .unwrap_or(0);
    // Most important first; details only where there is room.
    let wide = inner.width >= 70;
    let mut status = vec![];
    match step.status {
        StepStatus::Running => {
            status.push(Span::styled(
                format!("ends in {}", mm_ss((watch.until - ctx.now).num_seconds())),
                theme.title(),
            ));
            if wide {
                let at = watch.until.format("%H:%M:%S UTC");
                status.push(Span::styled(
                    format!(" (at {at}) · {} samples", watch.samples.len()),
                    theme.dim(),
                ));
            }
        }
        other => status.push(Span::styled(
            format!(
                "{} samples · {}",
                watch.samples.len(),
                crate::words::status_mark(other).1
            ),
            theme.status(other),
        )),
    }
    if breaches > 0 {
        status.push(Span::styled(format!(" · {breaches} BREACHING"), theme.error()));
    }
    if matches!(ctx.state.status, RunStatus::Active | RunStatus::Holding { .. }) {
        status.push(Span::raw("  "));
        status.push(Span::styled(" r ROLL BACK ", theme.danger_key()));
    }

    // A header, then two lines a metric.
    let table_rows = watch.metrics.len() as u16 * 2 + 1;
    let [status_area, charts_area, table_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(table_rows.min(inner.height.saturating_sub(1))),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(Line::from(status)), status_area);

    // Series: seconds since the watch started → value.
    let series: Vec<Vec<(f64, f64)>> = watch
        .metrics
        .iter()
        .map(|m| {
            watch
                .samples
                .iter()
                .filter_map(|(at, samples)| {
                    let s = samples.iter().find(|s| s.metric == m.name)?;
                    Some(((*at - watch.started_at).num_milliseconds() as f64 / 1000.0, s.value?))
                })
                .collect()
        })
        .collect();
    // Baseline and bound as horizontal lines across the watch.
    let level = |y: f64| vec![(0.0, y), (span_secs, y)];
    let baselines: Vec<Vec<(f64, f64)>> = watch.metrics.iter().map(|m| level(m.baseline)).collect();
    let bounds: Vec<Vec<(f64, f64)>> = watch.metrics.iter().map(|m| level(m.bound)).collect();
    let shown = watch.metrics.len().min(2);
    if shown > 0 && charts_area.height >= 6 {
        let areas: Vec<Rect> = if charts_area.width >= 90 || charts_area.height < 12 {
            Layout::horizontal(vec![Constraint::Ratio(1, shown as u32); shown])
                .split(charts_area)
                .to_vec()
        } else {
            Layout::vertical(vec![Constraint::Ratio(1, shown as u32); shown])
                .split(charts_area)
                .to_vec()
        };
        for (i, a) in areas.iter().enumerate() {
            let m = &watch.metrics[i];
            frame.render_widget(chart(m, &series[i], &baselines[i], &bounds[i], span_secs, ctx), *a);
        }
    }

    // The latest sample of each metric: its figures, then the verdict with its reason.
    let latest = watch.samples.last();
    let width = table_area.width as usize;
    let mut rows = vec![Line::from(Span::styled(
        fit(
            &format!("{:<12} {:>9} {:>9} {:>9}", "metric", "value", "baseline", "bound"),
            width,
        ),
        theme.dim(),
    ))];
    for m in &watch.metrics {
        let sample = latest.and_then(|(_, s)| s.iter().find(|s| s.metric == m.name));
        let value = sample
            .and_then(|s| s.value)
            .map_or("—".to_string(), |v| show(v, &m.unit));
        let (verdict, style): (String, Style) = match sample.map(|s| s.verdict) {
            Some(v) => {
                let (glyph, word) = verdict_mark(v);
                (format!("{glyph} {word}"), theme.verdict(v))
            }
            None => ("· no sample yet".to_string(), theme.dim()),
        };
        let cells = format!(
            "{:<12} {:>9} {:>9} {:>9}",
            fit(&m.name, 12),
            value,
            show(m.baseline, &m.unit),
            show(m.bound, &m.unit)
        );
        let why = sample
            .map(|s| format!(" — {}", s.reason))
            .unwrap_or_else(|| format!(" — bound: {}", m.rule));
        rows.push(Line::raw(fit(&cells, width)));
        let why = fit(&why, width.saturating_sub(2 + verdict.chars().count()));
        rows.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(verdict, style),
            Span::styled(why, theme.dim()),
        ]));
    }
    frame.render_widget(Paragraph::new(rows), table_area);
}

/// A watch's charts, live or frozen, in `area` (the incident panel's frozen watch).
pub fn charts(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, watch: &Watch) {
    let span_secs = ((watch.until - watch.started_at).num_milliseconds() as f64 / 1000.0).max(1.0);
    let level = |y: f64| vec![(0.0, y), (span_secs, y)];
    let shown = watch.metrics.len().min(2);
    if shown == 0 {
        return;
    }
    let areas = Layout::horizontal(vec![Constraint::Ratio(1, shown as u32); shown]).split(area);
    for (i, a) in areas.iter().enumerate() {
        let m = &watch.metrics[i];
        let points: Vec<(f64, f64)> = watch
            .samples
            .iter()
            .filter_map(|(at, samples)| {
                let s = samples.iter().find(|s| s.metric == m.name)?;
                Some(((*at - watch.started_at).num_milliseconds() as f64 / 1000.0, s.value?))
            })
            .collect();
        let (b, u) = (level(m.baseline), level(m.bound));
        frame.render_widget(chart(m, &points, &b, &u, span_secs, ctx), *a);
    }
}
