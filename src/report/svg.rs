//! Charts of the metrics watch as inline SVG: every sample over time, the baseline and
//! the bound as horizontal lines, the DNS flip and the rollback as vertical ones, and the
//! samples out of bounds drawn large and red. Drawn with presentation attributes, so a
//! chart reads the same pasted on its own.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::facts::{Facts, WatchRun, relative};
use super::html::escape;
use crate::engine::{Verdict, WatchedMetric};
use crate::words::{show_pair, show_value};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 44.0;

/// One chart for each watched metric of each watch, in the order they were watched.
pub fn charts(f: &Facts<'_>) -> Vec<String> {
    f.watches
        .iter()
        .flat_map(|w| w.metrics.iter().map(move |m| chart(f, w, m)))
        .collect()
}

struct Axis {
    t0: DateTime<Utc>,
    t1: DateTime<Utc>,
    max: f64,
}

impl Axis {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let span = (self.t1 - self.t0).num_milliseconds().max(1) as f64;
        LEFT + (t - self.t0).num_milliseconds() as f64 / span * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (v / self.max).clamp(0.0, 1.0))
    }
}

fn chart(f: &Facts<'_>, w: &WatchRun, m: &WatchedMetric) -> String {
    let flip = f.flips.get(&w.attempt).copied();
    let rollback = f.rollbacks.get(&w.attempt).copied().filter(|r| *r >= w.started_at);
    let mut points: Vec<(DateTime<Utc>, Option<f64>, Verdict, String)> = w
        .samples
        .iter()
        .filter_map(|(at, samples)| {
            let s = samples.iter().find(|s| s.metric == m.name)?;
            Some((*at, s.value, s.verdict, s.reason.clone()))
        })
        .collect();
    // Samples backfilled after a resume carry their measured time: draw them in order.
    points.sort_by_key(|p| p.0);
    let first = points.first().map(|p| p.0);
    let last = points.last().map(|p| p.0);
    let t0 = [Some(w.started_at), flip, first]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(w.started_at);
    // A watch cut short by the rollback ends there; otherwise at its planned end.
    let end = match rollback {
        Some(r) => r,
        None => w.until,
    };
    let t1 = [Some(end), last].into_iter().flatten().max().unwrap_or(end);
    let t1 = if t1 <= t0 {
        t0 + chrono::Duration::seconds(1)
    } else {
        t1
    };
    let highest = points
        .iter()
        .filter_map(|p| p.1)
        .chain([m.bound, m.baseline])
        .fold(0.0_f64, f64::max);
    let axis = Axis {
        t0,
        t1,
        max: if highest > 0.0 { highest * 1.25 } else { 1.0 },
    };
    let rel = |t: DateTime<Utc>| match flip {
        Some(fl) => relative(t - fl),
        None => t.format("%H:%M:%S").to_string(),
    };
    let (px0, px1, py0, py1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let mut s = String::new();
    let title = format!(
        "{} during {} (attempt {}): bound {} ({})",
        m.name,
        w.step,
        w.attempt,
        show_value(m.bound, &m.unit),
        m.rule
    );
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11">"#,
        t = escape(&title)
    );
    let _ = write!(s, "\n<title>{}</title>", escape(&title));
    let _ = write!(
        s,
        r##"
<text x="{LEFT}" y="18" font-size="13" font-weight="bold" fill="#222">{}</text>"##,
        escape(&title)
    );
    // The plot, and the region over the bound shaded.
    let yb = axis.y(m.bound);
    let _ = write!(
        s,
        r##"
<rect class="frame" x="{px0}" y="{py0}" width="{:.1}" height="{:.1}" fill="#fff" stroke="#bbb"/>
<rect class="over-bound" x="{px0}" y="{py0}" width="{:.1}" height="{:.1}" fill="#d32f2f" fill-opacity="0.06"/>"##,
        px1 - px0,
        py1 - py0,
        px1 - px0,
        (yb - py0).max(0.0)
    );
    // Values at the left, times below.
    for v in [0.0, m.baseline, m.bound, axis.max] {
        let _ = write!(
            s,
            r##"
<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            LEFT - 6.0,
            axis.y(v) + 4.0,
            escape(&show_value(v, &m.unit))
        );
    }
    for t in [t0, t1] {
        let _ = write!(
            s,
            r##"
<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{} · {}</text>"##,
            axis.x(t).clamp(LEFT + 40.0, WIDTH - RIGHT - 40.0),
            py1 + 16.0,
            escape(&rel(t)),
            t.format("%H:%M:%S")
        );
    }
    let yl = axis.y(m.baseline);
    let _ = write!(
        s,
        r##"
<line class="baseline" x1="{px0}" y1="{yl:.1}" x2="{px1}" y2="{yl:.1}" stroke="#757575" stroke-dasharray="2 3"/>
<text class="baseline-label" x="{:.1}" y="{:.1}" text-anchor="end" fill="#757575">baseline {}</text>
<line class="bound" x1="{px0}" y1="{yb:.1}" x2="{px1}" y2="{yb:.1}" stroke="#d32f2f" stroke-dasharray="6 3"/>
<text class="bound-label" x="{:.1}" y="{:.1}" text-anchor="end" fill="#d32f2f">bound {}</text>"##,
        px1 - 4.0,
        yl + 13.0,
        escape(&show_value(m.baseline, &m.unit)),
        px1 - 4.0,
        yb - 4.0,
        escape(&show_value(m.bound, &m.unit))
    );
    for (class, at, colour, label, row) in [
        ("flip", flip, "#1565c0", "DNS flip", 12.0),
        ("rollback", rollback, "#e65100", "rollback", 26.0),
    ] {
        if let Some(at) = at {
            let x = axis.x(at);
            // Near the right edge the label goes to the left of its line.
            let (lx, anchor) = if x > px1 - 130.0 {
                (x - 3.0, "end")
            } else {
                (x + 3.0, "start")
            };
            let _ = write!(
                s,
                r##"
<line class="{class}" x1="{x:.1}" y1="{py0}" x2="{x:.1}" y2="{py1}" stroke="{colour}" stroke-width="2"/>
<text class="{class}-label" x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}">{label} {}</text>"##,
                py0 + row,
                at.format("%H:%M:%S")
            );
        }
    }
    // One line per run of samples with data: a sample without data breaks it, so a gap
    // is never drawn as if the metric had been seen.
    for run in points.split(|(_, v, ..)| v.is_none()) {
        let line: Vec<String> = run
            .iter()
            .filter_map(|(at, v, ..)| v.map(|v| format!("{:.1},{:.1}", axis.x(*at), axis.y(v))))
            .collect();
        if line.len() > 1 {
            let _ = write!(
                s,
                r##"
<polyline class="series" points="{}" fill="none" stroke="#37474f" stroke-width="1.5"/>"##,
                line.join(" ")
            );
        }
    }
    for (at, v, verdict, reason) in &points {
        let Some(v) = v else {
            // No data is marked on the axis: never drawn as a healthy zero.
            let _ = write!(
                s,
                r##"
<text class="no-data" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#8d6e63">?<title>{} {}: no data — {}</title></text>"##,
                axis.x(*at),
                py1 - 4.0,
                at.format("%H:%M:%S"),
                escape(&rel(*at)),
                escape(reason)
            );
            continue;
        };
        let (class, r, fill) = match verdict {
            Verdict::Breach => ("sample breach", 5.0, "#d32f2f"),
            Verdict::Inconclusive => ("sample inconclusive", 3.5, "#8d6e63"),
            Verdict::Within => ("sample", 3.0, "#37474f"),
        };
        let _ = write!(
            s,
            r##"
<circle class="{class}" cx="{:.1}" cy="{:.1}" r="{r}" fill="{fill}"><title>{} {}: {} — {}</title></circle>"##,
            axis.x(*at),
            axis.y(*v),
            at.format("%H:%M:%S"),
            escape(&rel(*at)),
            escape(&show_pair(*v, m.bound, &m.unit).0),
            escape(reason)
        );
    }
    s.push_str("\n</svg>");
    s
}
