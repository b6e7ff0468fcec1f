//! The fleet view: every application of a fleet on one screen — its wave, where its run
//! stands, the step it is at and the clock it waits for — with the one that needs the
//! operator marked. Enter opens the selected application's own cockpit; `q` there comes
//! back here.
//!
//! ```text
//!  REHEARSAL  fleet estate (staging) · wave 2/3 rest · 5/17 passed          21:04:12 UTC
//!  APP          WAVE    STATE         STEP              CLOCK / WAITING FOR
//! ▶ billing     pilot   ✔ passed      (hold)            holding until 12-07 21:00 UTC
//!   search      rest    ● running     flip              running for 12s
//!   ledger      rest    ⏸ needs you   flip              approval: type api.ledger…
//!  footer: ↑↓ select · Enter open · q leave (runs are saved)
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState};

use super::theme::Theme;
use crate::engine::{Mode, RunStatus, Situation, StepStatus};
use crate::fleet::AppView;
use crate::runbook::duration::countdown;
use crate::terminal_text::{Lines, for_terminal};
use crate::words::situation_words;

/// One application's line.
#[derive(Debug, Clone)]
pub struct FleetRow {
    pub app: String,
    pub wave: String,
    /// Its run, once it has one in this session.
    pub view: Option<AppView>,
    /// Where it stands without a run driven here: "not started", "passed earlier: …".
    pub note: String,
}

/// What the fleet view shows.
#[derive(Debug, Clone)]
pub struct FleetScreen {
    pub fleet: String,
    pub environment: String,
    pub mode: Mode,
    /// "wave 2/3 rest", or where the fleet stopped.
    pub wave_line: String,
    pub rows: Vec<FleetRow>,
    pub selected: usize,
    /// A question the operator answers with y or n (the others of a wave that rolled back;
    /// leaving while steps run), and what y and n do.
    pub question: Option<String>,
    pub question_keys: &'static str,
    /// The last thing said.
    pub message: Option<String>,
}

/// The state word, its glyph and how it is drawn.
fn state_cell(row: &FleetRow, theme: &Theme) -> (String, Style) {
    let Some(v) = &row.view else {
        return (format!("· {}", row.note_word()), theme.dim());
    };
    if v.taken_over {
        return ("⚠ taken over".into(), theme.status(StepStatus::Failed));
    }
    match (&v.status, &v.situation) {
        (RunStatus::Holding { .. } | RunStatus::Completed { .. }, _) => {
            ("✔ passed".into(), theme.status(StepStatus::Succeeded))
        }
        (RunStatus::RolledBack { .. }, _) => ("↺ rolled back".into(), theme.status(StepStatus::Failed)),
        (RunStatus::RollingBack, _) => ("↺ rolling back".into(), theme.status(StepStatus::InDoubt)),
        (_, Situation::Approval { .. } | Situation::InDoubt { .. } | Situation::Failed { .. }) => {
            ("⏸ needs you".into(), theme.status(StepStatus::InDoubt))
        }
        (_, Situation::Gate { .. }) => ("⧗ waiting".into(), theme.status(StepStatus::Skipped)),
        _ => ("● running".into(), theme.status(StepStatus::Running)),
    }
}

impl FleetRow {
    fn note_word(&self) -> &str {
        self.note.split(':').next().unwrap_or("")
    }

    /// Whether the operator is needed for this application.
    pub fn needs_operator(&self) -> bool {
        self.view.as_ref().is_some_and(|v| {
            matches!(
                v.situation,
                Situation::Approval { .. } | Situation::InDoubt { .. } | Situation::Failed { .. }
            ) && !matches!(v.status, RunStatus::RolledBack { .. })
        })
    }
}

fn clock_cell(row: &FleetRow, now: DateTime<Utc>) -> String {
    let Some(v) = &row.view else {
        return row.note.clone();
    };
    if let Some(p) = &v.problem {
        return p.clone();
    }
    match &v.situation {
        Situation::Running { step } => format!("running {step}"),
        Situation::Gate { until, .. } => format!(
            "{} ({} left)",
            situation_words(&v.situation, now),
            countdown((*until - now).to_std().unwrap_or_default())
        ),
        s => situation_words(s, now),
    }
}

pub fn render(frame: &mut Frame<'_>, screen: &FleetScreen, theme: &Theme, now: DateTime<Utc>) {
    let area = frame.area();
    let [header, table_area, question_area, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(3),
        Constraint::Length(if screen.question.is_some() { 2 } else { 0 }),
        Constraint::Length(1),
    ])
    .areas(area);
    let passed = screen
        .rows
        .iter()
        .filter(|r| {
            r.view
                .as_ref()
                .is_some_and(|v| matches!(v.status, RunStatus::Holding { .. } | RunStatus::Completed { .. }))
                || r.note.starts_with("passed")
        })
        .count();
    let needs = screen.rows.iter().filter(|r| r.needs_operator()).count();
    let banner = match screen.mode {
        Mode::Live => " LIVE ",
        Mode::Rehearsal => " REHEARSAL ",
    };
    let mut top = vec![
        Span::styled(banner, theme.banner(screen.mode)),
        Span::raw(format!(
            " fleet {} ({}) · {} · {passed}/{} passed",
            one(&screen.fleet),
            one(&screen.environment),
            one(&screen.wave_line),
            screen.rows.len()
        )),
    ];
    if needs > 0 {
        top.push(Span::styled(
            format!(" · {needs} need{} you", if needs == 1 { "s" } else { "" }),
            theme.status(StepStatus::InDoubt),
        ));
    }
    let clock = format!("{} UTC", now.format("%H:%M:%S"));
    frame.render_widget(
        Paragraph::new(vec![Line::from(top), Line::from(Span::styled(clock, theme.dim()))]),
        header,
    );

    let rows: Vec<Row> = screen
        .rows
        .iter()
        .map(|r| {
            let (state, style) = state_cell(r, theme);
            let step = r.view.as_ref().and_then(|v| v.step.clone()).unwrap_or_default();
            let progress = r
                .view
                .as_ref()
                .map(|v| format!("{}/{}", v.steps_done, v.steps_total))
                .unwrap_or_default();
            Row::new(vec![
                Cell::from(one(&r.app)),
                Cell::from(one(&r.wave)),
                Cell::from(state).style(style),
                Cell::from(progress),
                Cell::from(one(&step)),
                Cell::from(one(&clock_cell(r, now))),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(
            screen
                .rows
                .iter()
                .map(|r| r.app.chars().count())
                .max()
                .unwrap_or(3)
                .clamp(3, 24) as u16,
        ),
        Constraint::Length(
            screen
                .rows
                .iter()
                .map(|r| r.wave.chars().count())
                .max()
                .unwrap_or(4)
                .clamp(4, 16) as u16,
        ),
        Constraint::Length(14),
        Constraint::Length(6),
        Constraint::Length(18),
        Constraint::Min(20),
    ];
    let table = Table::new(rows, widths)
        .header(
            Row::new(vec!["APP", "WAVE", "STATE", "STEPS", "STEP", "CLOCK / WAITING FOR"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(screen.selected.min(screen.rows.len().saturating_sub(1))));
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(q) = &screen.question {
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled(one(q), theme.status(StepStatus::Failed))),
                Line::from(screen.question_keys),
            ]),
            question_area,
        );
    }
    let keys = "↑↓ select · Enter open the application's cockpit (q there comes back) · q leave (every run is saved)";
    let footer_text = screen.message.as_deref().map_or_else(|| keys.to_string(), one);
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(footer_text, theme.dim()))),
        footer,
    );
}

fn one(text: &str) -> String {
    for_terminal(text, Lines::One).into_owned()
}
