//! Rolling back: the incident is recorded first, then the rollback steps run at once.
//! Enter with no reason rolls back at once (a note can say more afterwards); a typed
//! reason is shown back for a second Enter.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next, Reason, Reasoned};
use crate::engine::Command;
use crate::tui::input::LineInput;
use crate::tui::view::Ctx;

/// The reason recorded when the operator rolls back without typing one: the rollback is
/// never delayed by typing; a note can say more afterwards.
pub const QUICK_ROLLBACK_REASON: &str = "rolled back from the cockpit (no reason typed at the time)";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollback {
    pub reason: Reason,
    pub error: Option<String>,
}

impl Component for Rollback {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        match self.reason.on_key(key) {
            // Nothing typed: roll back at once. A typed reason is confirmed first.
            Reasoned::Empty => Next::submit(Command::Rollback {
                reason: QUICK_ROLLBACK_REASON.to_string(),
            }),
            Reasoned::Confirmed => Next::submit(Command::Rollback {
                reason: self.reason.text(),
            }),
            Reasoned::Cancel => Next::Close,
            Reasoned::Stay => Next::Stay,
        }
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(ctx, " roll back ", theme.error());
        b.styled("Roll back now?", theme.title());
        b.text("The incident is recorded first, then the rollback steps run at once:");
        for s in &ctx.state.runbook.rollback {
            b.styled(format!("  {} — {}", s.id, s.title), theme.dim());
        }
        if ctx.state.runbook.rollback.is_empty() {
            b.styled("  (the runbook has no rollback steps)", theme.warn());
        }
        b.text("");
        self.reason.draw(
            &mut b,
            "Reason (optional; Enter with none rolls back at once, a note can follow):",
            "Press Enter again to roll back with this reason; Esc to change it.",
            theme.error(),
        );
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        if self.reason.confirming {
            &[("Enter", "ROLL BACK"), ("Esc", "change the reason")]
        } else {
            &[("Enter", "roll back now"), ("Esc", "cancel")]
        }
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
        self.reason.refused();
    }

    fn further(&self) -> bool {
        self.reason.confirming
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        self.reason.field()
    }
}
