//! The root-cause analysis of a rolled-back attempt: no second attempt without it. The
//! text lives in `App::rca_draft`, so closing the editor loses nothing.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next};
use crate::engine::{Command, MIN_RCA_CHARS};
use crate::tui::view::Ctx;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rca {
    pub error: Option<String>,
}

impl Component for Rca {
    fn on_key(&mut self, key: &KeyEvent, kept: &mut Kept<'_>) -> Next {
        let draft = &mut *kept.rca_draft;
        // Esc closes the editor; the draft stays: opening it again brings it back.
        Next::after(draft.handle(key), || {
            Next::submit(Command::AttachRca { text: draft.text() })
        })
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(
            ctx,
            format!(" root-cause analysis of attempt {} ", ctx.state.attempt),
            theme.accent(),
        );
        b.text("No second attempt without it. What failed, why, and what changes before the next attempt?");
        b.styled(
            format!("(at least {MIN_RCA_CHARS} characters; Enter breaks the line, Ctrl-S saves, Esc keeps the draft)"),
            theme.dim(),
        );
        // Only the lines around the cursor fit: show a window of the draft.
        let draft = &ctx.app.rca_draft;
        let room = (area.height as usize).saturating_sub(10).max(3);
        let start = (draft.row + 1).saturating_sub(room);
        if start > 0 {
            b.styled(format!("  … {start} lines above"), theme.dim());
        }
        for (i, line) in draft.lines.iter().enumerate().skip(start).take(room) {
            b.field(line, i == draft.row);
        }
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("Ctrl-S", "save"),
            ("Enter", "new line"),
            ("Esc", "close (the draft stays)"),
        ]
    }

    /// Its field is the draft's line, kept outside the dialog.
    fn typing(&mut self) -> bool {
        true
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    /// Pasted lines go into the draft as typed, line breaks and all.
    fn paste(&mut self, text: &str, kept: &mut Kept<'_>) -> bool {
        let draft = &mut *kept.rca_draft;
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                draft.handle(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
            }
            draft.lines[draft.row].insert(line);
        }
        true
    }
}
