//! Quitting while a step runs: what stops, and that nothing is lost. Its warning is
//! worked out when it is drawn, from the run as it is then.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next, yes_no};
use crate::tui::app::{Reaction, running};
use crate::tui::view::Ctx;

#[derive(Debug, Clone, PartialEq)]
pub struct Quit;

impl Component for Quit {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        if key.code == KeyCode::Char('q') {
            return Next::Close;
        }
        Next::after(yes_no(key), || Next::Done(Reaction::Quit))
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(ctx, " quit? ", theme.warn());
        match running(ctx.state).map(|i| &ctx.state.steps[i]) {
            Some(step) if step.watch.is_some() => b.text(format!(
                "The metrics watch (step {}) is running. Quitting stops sampling now; on resume the gap is measured from \
                 the metrics' history and the watch ends at its original time.",
                step.id
            )),
            Some(step) => b.text(format!(
                "Step {} is running. Quitting stops it; on resume it is in doubt: run again if that is safe, \
                 otherwise you are asked what happened.",
                step.id
            )),
            None => b.text("Nothing is running now."),
        }
        b.text("");
        if ctx.state.rehearsal.as_ref().is_some_and(|r| r.demo) {
            b.text("This is a demo: its sandbox ends with it, so it cannot be resumed. (y quits, n stays)");
        } else {
            b.text(format!(
                "Everything so far is in the journal: `cutover resume {}` continues it. (y quits, n stays)",
                ctx.state.run_id
            ));
        }
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("y", "quit"), ("n", "stay")]
    }

    /// Quitting submits nothing that could be refused.
    fn refused(&mut self, _message: String) {}
}
