//! A failed step: retry it now, skip it with a reason, or decide later.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

use super::{Body, Component, Dialog, Kept, Next, Skip};
use crate::engine::Command;
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub step: String,
    pub error: Option<String>,
}

impl Retry {
    pub fn new(step: String) -> Self {
        Self { step, error: None }
    }
}

impl Component for Retry {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        if key.code == KeyCode::Char('s') {
            return Next::Open(Dialog::Skip(Skip::new(self.step.clone())));
        }
        Next::on_yes(key, || Command::Retry {
            step: self.step.clone(),
        })
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::about(ctx, format!(" {} failed ", self.step), theme.error(), &self.step);
        if let Some(f) = ctx.state.step(&self.step).and_then(|s| s.failure.as_ref()) {
            b.styled(f.message.clone(), theme.error());
            if let Some(a) = &f.advice {
                b.text(format!("what to do: {a}"));
            }
        }
        b.text("");
        b.choice("  Enter ", "retry it now");
        b.choice("  s     ", "skip it, with a reason");
        b.choice("  Esc   ", "decide later (Ctrl-R rolls back)");
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("Enter", "retry"), ("s", "skip"), ("Esc", "cancel")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }
}
