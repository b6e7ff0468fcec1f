//! Skipping the current step (pending or failed): the reason is required and kept in the
//! journal, and it is shown back for a second Enter.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next, Reason, Reasoned};
use crate::engine::Command;
use crate::tui::input::LineInput;
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub step: String,
    pub reason: Reason,
    pub error: Option<String>,
}

impl Skip {
    pub fn new(step: String) -> Self {
        Self {
            step,
            reason: Reason::default(),
            error: None,
        }
    }
}

impl Component for Skip {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        match self.reason.on_key(key) {
            Reasoned::Empty => {
                self.error = Some(format!(
                    "say why step `{}` is skipped: the reason is kept in the journal",
                    self.step
                ));
                Next::Stay
            }
            Reasoned::Confirmed => Next::submit(Command::Skip {
                step: self.step.clone(),
                reason: self.reason.text(),
            }),
            Reasoned::Cancel => Next::Close,
            Reasoned::Stay => Next::Stay,
        }
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::about(ctx, format!(" skip {} ", self.step), theme.warn(), &self.step);
        self.reason.draw(
            &mut b,
            "Why is it skipped? (required; kept in the journal)",
            "Press Enter again to skip it; Esc to change the reason.",
            theme.warn(),
        );
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        if self.reason.confirming {
            &[("Enter", "skip it"), ("Esc", "change the reason")]
        } else {
            &[("Enter", "save"), ("Esc", "cancel")]
        }
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
        self.reason.refused();
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }

    fn further(&self) -> bool {
        self.reason.confirming
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        self.reason.field()
    }
}
