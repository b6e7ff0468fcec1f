//! Colours and emphasis. Colour is never the only signal (every state also has a glyph
//! and a word), and `NO_COLOR` turns colour off entirely.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::{Mode, StepStatus, Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` is set to anything non-empty (https://no-color.org).
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn status(&self, status: StepStatus) -> Style {
        match status {
            StepStatus::Pending => self.dim(),
            StepStatus::Running => self.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            StepStatus::Succeeded => self.fg(Color::Green),
            StepStatus::Failed => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            StepStatus::Skipped => self.fg(Color::Yellow),
            StepStatus::InDoubt => self.fg(Color::Magenta).add_modifier(Modifier::BOLD),
        }
    }

    pub fn verdict(&self, verdict: Verdict) -> Style {
        match verdict {
            Verdict::Within => self.fg(Color::Green),
            Verdict::Breach => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Verdict::Inconclusive => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        }
    }

    /// The mode banner: LIVE in red, REHEARSAL unmistakably different.
    pub fn banner(&self, mode: Mode) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        match (self.color, mode) {
            (true, Mode::Live) => base.fg(Color::White).bg(Color::Red),
            (true, Mode::Rehearsal) => base.fg(Color::Black).bg(Color::Yellow),
            (false, _) => base.add_modifier(Modifier::REVERSED),
        }
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused { self.accent() } else { self.dim() }
    }

    /// The header while a breach streak runs toward an automatic rollback.
    pub fn alarm(&self) -> Style {
        self.danger_key()
    }

    /// The WATCHING mark of a read-only cockpit, beside the mode's banner.
    pub fn watching(&self) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            base.fg(Color::Black).bg(Color::Cyan)
        } else {
            base.add_modifier(Modifier::REVERSED)
        }
    }

    /// The rollback key during a watch: impossible to miss.
    pub fn danger_key(&self) -> Style {
        let base = Style::new().add_modifier(Modifier::BOLD);
        if self.color {
            base.fg(Color::White).bg(Color::Red)
        } else {
            base.add_modifier(Modifier::REVERSED)
        }
    }
}
