//! A note on the selected step, kept in the journal with the operator's name and the time.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next};
use crate::engine::Command;
use crate::tui::input::LineInput;
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub step: String,
    pub text: LineInput,
    pub error: Option<String>,
}

impl Note {
    pub fn new(step: String) -> Self {
        Self {
            step,
            text: LineInput::default(),
            error: None,
        }
    }
}

impl Component for Note {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        Next::after(self.text.handle(key), || {
            Next::submit(Command::Note {
                step: Some(self.step.clone()),
                text: self.text.text.trim().to_string(),
            })
        })
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(ctx, format!(" note on {} ", self.step), theme.accent());
        b.text("The note goes into the journal with your name and the time:");
        b.field(&self.text, true);
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("Enter", "save"), ("Esc", "cancel")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        Some(&mut self.text)
    }
}
