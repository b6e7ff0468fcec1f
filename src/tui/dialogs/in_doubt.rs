//! A step left in doubt: the process stopped while it was acting. The operator checks,
//! then says what happened (with a note of what was checked) or runs it again.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{Body, Component, Kept, Next};
use crate::engine::{Command, Resolution};
use crate::tui::input::LineInput;
use crate::tui::view::Ctx;
use crate::words::intent_words;

/// The choices for a step left in doubt, in the order they are offered.
pub const IN_DOUBT_CHOICES: [(Resolution, &str); 3] = [
    (Resolution::Succeeded, "it happened: mark it succeeded"),
    (Resolution::Failed, "it did not happen: mark it failed"),
    (Resolution::Retry, "run it again (only if that is safe)"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct InDoubt {
    pub step: String,
    /// Index into `IN_DOUBT_CHOICES`, once chosen.
    pub choice: Option<usize>,
    pub note: LineInput,
    pub error: Option<String>,
}

impl InDoubt {
    pub fn new(step: String) -> Self {
        Self {
            step,
            choice: None,
            note: LineInput::default(),
            error: None,
        }
    }

    /// Enter: the choice, with the note, if both are there.
    fn decide(&mut self) -> Next {
        let Some(c) = self.choice else {
            self.error = Some("choose what happened first (↑↓)".to_string());
            return Next::Stay;
        };
        let (resolution, _) = IN_DOUBT_CHOICES[c];
        let said = self.note.text.trim();
        if said.is_empty() && resolution != Resolution::Retry {
            self.error = Some("say what you checked: the note is kept with your decision".to_string());
            return Next::Stay;
        }
        Next::submit(Command::ResolveInDoubt {
            step: self.step.clone(),
            resolution,
            note: (!said.is_empty()).then(|| said.to_string()),
        })
    }
}

impl Component for InDoubt {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        match key.code {
            KeyCode::Up => self.choice = Some(self.choice.map_or(0, |c| c.saturating_sub(1))),
            KeyCode::Down => {
                self.choice = Some(self.choice.map_or(0, |c| (c + 1).min(IN_DOUBT_CHOICES.len() - 1)));
            }
            KeyCode::Esc => return Next::Close,
            KeyCode::Enter => return self.decide(),
            _ => {
                self.note.handle(key);
            }
        }
        Next::Stay
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::about(ctx, format!(" {} is in doubt ", self.step), theme.warn(), &self.step);
        if let Some(intent) = ctx.state.step(&self.step).and_then(|s| s.intent.as_ref()) {
            b.styled(format!("  it was about to: {}", intent_words(intent)), theme.dim());
        }
        b.text("The process stopped while this step was acting. Check, then say what happened (↑↓):");
        for (i, (_, words)) in IN_DOUBT_CHOICES.iter().enumerate() {
            let chosen = self.choice == Some(i);
            let mark = if chosen { "▶ " } else { "  " };
            let style = if chosen { theme.selected() } else { Style::new() };
            b.line(Line::from(vec![
                Span::styled(mark, theme.key()),
                Span::styled(*words, style),
            ]));
        }
        b.text("What did you check? (required unless it runs again)");
        b.field(&self.note, true);
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("↑↓", "choose"), ("Enter", "decide"), ("Esc", "later")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        Some(&mut self.note)
    }
}
