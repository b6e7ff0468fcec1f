//! Starting the next attempt after a rollback (once its root-cause analysis is attached).

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next};
use crate::engine::Command;
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct NewAttempt {
    pub attempt: u32,
    pub error: Option<String>,
}

impl NewAttempt {
    pub fn new(attempt: u32) -> Self {
        Self { attempt, error: None }
    }
}

impl Component for NewAttempt {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        Next::on_yes(key, || Command::NewAttempt)
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let attempt = self.attempt;
        let mut b = Body::new(ctx, format!(" attempt {attempt} "), theme.accent());
        b.text(format!(
            "Start attempt {attempt}? Every step runs again from the start, with the same gates."
        ));
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("Enter", "start"), ("Esc", "cancel")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }
}
