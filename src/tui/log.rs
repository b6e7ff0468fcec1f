//! The log pane's model: the journal as it grows, one line per record, scrollable and
//! filterable. Bounded in memory; the journal itself keeps everything.

use super::input::LineInput;
use crate::engine::{Recorded, RunEvent};
use crate::words::record_line;

/// Lines kept for the log pane; older ones are dropped from view (not from the journal).
pub const MAX_LINES: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    Quiet,
    Good,
    Warn,
    Bad,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub text: String,
    pub tone: Tone,
}

fn tone(event: &RunEvent) -> Tone {
    match event {
        RunEvent::StepSucceeded { .. } | RunEvent::RunCompleted | RunEvent::RollbackCompleted => Tone::Good,
        RunEvent::StepFailed { .. } | RunEvent::IncidentRecorded { .. } | RunEvent::RollbackStarted { .. } => Tone::Bad,
        RunEvent::StepSkipped { .. } | RunEvent::InDoubtResolved { .. } | RunEvent::RunbookReloaded { .. } => {
            Tone::Warn
        }
        RunEvent::WatchSampled { samples, .. }
            if samples.iter().any(|s| s.verdict != crate::engine::Verdict::Within) =>
        {
            Tone::Warn
        }
        RunEvent::NotificationSent { notification } => match notification.delivery {
            crate::engine::Delivery::Delivered | crate::engine::Delivery::DryRun => Tone::Quiet,
            crate::engine::Delivery::Failed | crate::engine::Delivery::Dropped => Tone::Warn,
        },
        RunEvent::SessionOpened { .. }
        | RunEvent::SessionClosed { .. }
        | RunEvent::WatchSampled { .. }
        | RunEvent::ProcessStarted { .. } => Tone::Quiet,
        _ => Tone::Normal,
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub lines: Vec<LogLine>,
    /// The filter in use (empty: none).
    pub filter: String,
    /// The filter being typed, while `/` is open.
    pub editing: Option<LineInput>,
    /// Indices of the lines that match the filter.
    matches: Vec<usize>,
    /// Lines scrolled up from the newest (0: following the newest).
    pub scroll: usize,
    /// The line shown whole over the screen (Enter in the log), by index into `lines`.
    pub opened: Option<usize>,
}

impl LogView {
    pub fn push(&mut self, records: &[Recorded]) {
        for r in records {
            let line = LogLine {
                text: record_line(r),
                tone: tone(&r.event),
            };
            if self.matches_filter(&line) {
                self.matches.push(self.lines.len());
                // Keep the view where the operator scrolled to while new lines arrive.
                if self.scroll > 0 {
                    self.scroll += 1;
                }
            }
            self.lines.push(line);
        }
        if self.lines.len() > MAX_LINES {
            let dropped = self.lines.len() - MAX_LINES * 9 / 10;
            self.lines.drain(..dropped);
            self.opened = self.opened.and_then(|i| i.checked_sub(dropped));
            self.refilter();
        }
    }

    /// A line that is no journal record: a warning the cockpit was started with.
    pub fn push_notice(&mut self, text: String) {
        let line = LogLine { text, tone: Tone::Warn };
        if self.matches_filter(&line) {
            self.matches.push(self.lines.len());
        }
        self.lines.push(line);
    }

    fn matches_filter(&self, line: &LogLine) -> bool {
        self.filter.is_empty() || line.text.to_lowercase().contains(&self.filter.to_lowercase())
    }

    fn refilter(&mut self) {
        let filter = self.filter.to_lowercase();
        self.matches = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| filter.is_empty() || l.text.to_lowercase().contains(&filter))
            .map(|(i, _)| i)
            .collect();
        self.scroll = self.scroll.min(self.matches.len());
    }

    /// The filter as it is being typed: applied at once, so the pane answers each key.
    pub fn filter_as_typed(&mut self) {
        if let Some(input) = &self.editing {
            let text = input.text.trim().to_string();
            if text != self.filter {
                self.filter = text;
                self.scroll = 0;
                self.refilter();
            }
        }
    }

    /// Enter: keep the filter typed so far and close the field.
    pub fn apply_filter(&mut self) {
        self.filter_as_typed();
        self.editing = None;
    }

    /// The line the log's cursor is on, by index into `lines`: `scroll` lines up from
    /// the newest shown. Enter opens it.
    pub fn cursor(&self) -> Option<usize> {
        let n = self.matches.len();
        let up = self.scroll.min(n.checked_sub(1)?);
        Some(self.matches[n - 1 - up])
    }

    /// Opens the line under the cursor whole.
    pub fn open(&mut self) {
        self.opened = self.cursor();
    }

    /// The lines to show in `height` rows, oldest first, each with its index in `lines`.
    pub fn window_indexed(&self, height: usize) -> impl Iterator<Item = (usize, &LogLine)> {
        let end = self.matches.len().saturating_sub(self.effective_scroll(height));
        let start = end.saturating_sub(height);
        self.matches[start..end].iter().map(|&i| (i, &self.lines[i]))
    }

    pub fn clear_filter(&mut self) {
        self.editing = None;
        self.filter.clear();
        self.scroll = 0;
        self.refilter();
    }

    pub fn shown_count(&self) -> usize {
        self.matches.len()
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.matches.len().saturating_sub(1));
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    /// How far up the view really is, for `height` rows: never past a full first page.
    pub fn effective_scroll(&self, height: usize) -> usize {
        self.scroll.min(self.matches.len().saturating_sub(height))
    }
}
