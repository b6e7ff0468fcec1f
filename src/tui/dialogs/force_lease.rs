//! Starting steps although the run's Lease could not be renewed (`[state]` in the
//! cluster): another operator may be able to take the run over meanwhile, so the operator
//! types FORCE, and the journal records who did.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Body, Component, Kept, Next};
use crate::tui::app::Reaction;
use crate::tui::input::{Edit, LineInput};
use crate::tui::view::Ctx;

/// What the operator types.
pub const WORD: &str = "FORCE";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForceLease {
    pub typed: LineInput,
    pub error: Option<String>,
}

impl Component for ForceLease {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        match self.typed.handle(key) {
            Edit::Submit if self.typed.text.trim() == WORD => Next::Done(Reaction::ForceWithoutLease),
            Edit::Submit => {
                self.error = Some(format!("type {WORD} exactly, or Esc to keep waiting"));
                Next::Stay
            }
            Edit::Cancel => Next::Close,
            Edit::Changed | Edit::Ignored => Next::Stay,
        }
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(ctx, " start steps without the Lease? ", theme.error());
        if let Some(c) = &ctx.app.cluster {
            b.text(c.lease_wait.clone().unwrap_or_default());
            b.styled(c.status.words(ctx.now), theme.warn());
        }
        b.text("");
        b.styled(
            "While the Lease is not renewed, a colleague may take the run over from the cluster and drive it too. \
             Force only when you know nobody else does (ask on the bridge)."
                .to_string(),
            theme.warn(),
        );
        b.text("Until the next renewal, every step starts. This is recorded in the journal with your name.");
        b.text("");
        b.line(Line::from(vec![
            Span::raw("Type "),
            Span::styled(WORD, theme.title()),
            Span::raw(" to start steps now:"),
        ]));
        b.field(&self.typed, true);
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("Enter", "force"), ("Esc", "keep waiting")]
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        Some(&mut self.typed)
    }
}
