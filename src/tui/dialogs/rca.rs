//! The root-cause analysis of a rolled-back attempt: no second attempt without it. The
//! text lives in `App::rca_draft`, so closing the editor loses nothing.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::{Body, Component, Kept, Next};
use crate::engine::{Command, MIN_RCA_CHARS};
use crate::tui::input::Edit;
use crate::tui::view::Ctx;
use crate::tui::view::ending::RCA_PROMPTS;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rca {
    pub error: Option<String>,
    /// The lines it opened with (prompts and facts), which are not the operator's words.
    pub template: Vec<String>,
}

/// How many characters of the draft are the operator's own: the template's prompts and
/// facts (see `view::ending::rca_template`) do not count, so a template saved unchanged
/// is not an analysis.
pub fn own_chars(draft: &str, template: &[String]) -> usize {
    draft
        .lines()
        .map(|line| {
            let own = RCA_PROMPTS
                .iter()
                .find_map(|p| line.strip_prefix(p.trim_end()))
                .unwrap_or(line);
            // What a line adds to the template line it is closest to: a full stop added to
            // a fact is one character of one's own, not the whole fact.
            let own: Vec<char> = own.trim().chars().collect();
            template
                .iter()
                .map(|t| {
                    let t: Vec<char> = t.trim().chars().collect();
                    let prefix = own.iter().zip(&t).take_while(|(a, b)| a == b).count();
                    let suffix = own[prefix..]
                        .iter()
                        .rev()
                        .zip(t[prefix.min(t.len())..].iter().rev())
                        .take_while(|(a, b)| a == b)
                        .count();
                    own.len() - prefix - suffix
                })
                .min()
                .unwrap_or(own.len())
        })
        .sum()
}

impl Component for Rca {
    fn on_key(&mut self, key: &KeyEvent, kept: &mut Kept<'_>) -> Next {
        let draft = &mut *kept.rca_draft;
        // Esc closes the editor; the draft stays: opening it again brings it back.
        let edit = draft.handle(key);
        if edit == Edit::Submit && own_chars(&draft.text(), &self.template) < MIN_RCA_CHARS {
            self.error = Some(format!(
                "write the root cause in your own words: at least {MIN_RCA_CHARS} characters beside the facts"
            ));
            return Next::Stay;
        }
        Next::after(edit, || Next::submit(Command::AttachRca { text: draft.text() }))
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::new(
            ctx,
            format!(" root-cause analysis of attempt {} ", ctx.state.attempt),
            theme.accent(),
        );
        b.text("No second attempt without it. It opens with the facts the journal holds: say why, and what changes.");
        b.styled(
            format!("(at least {MIN_RCA_CHARS} characters of your own; Enter breaks the line, Ctrl-S saves, Esc keeps the draft)"),
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

#[cfg(test)]
mod tests {
    use super::own_chars;

    fn template() -> Vec<String> {
        [
            "Root cause: ",
            "Fixed before the next attempt: ",
            "",
            "Facts from the journal (attempt 1):",
            "- DNS flipped at 22:00:00 UTC",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn only_the_operators_own_words_count() {
        let t = template();
        assert_eq!(own_chars(&t.join("\n"), &t), 0, "the template unchanged");
        // A full stop added to a fact, a fact split or re-indented: not an analysis.
        let edited = t.join("\n").replace("22:00:00 UTC", "22:00:00 UTC.");
        assert_eq!(own_chars(&edited, &t), 1);
        let indented = t.join("\n").replace("- DNS", "    - DNS");
        assert_eq!(own_chars(&indented, &t), 0);
        // Words after a prompt count, and so does a text without the template.
        let written = t
            .join("\n")
            .replace("Root cause: ", "Root cause: the pool held 5 connections");
        assert_eq!(own_chars(&written, &t), "the pool held 5 connections".len());
        assert_eq!(own_chars("the pool held 5 connections", &t), 27);
    }
}
