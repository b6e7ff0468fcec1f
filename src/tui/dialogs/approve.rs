//! Approving a step: a plain yes, a typed confirmation, and for a checklist item a note
//! (required or optional). A typed confirmation on a checklist item asks for the text
//! first, then the note; Tab moves between the two.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Body, Component, Kept, Next, yes_no};
use crate::engine::Command;
use crate::runbook::Approval;
use crate::tui::input::{Edit, LineInput};
use crate::tui::view::{Ctx, resolved_action_lines};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproveField {
    Typed,
    Note,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Approve {
    pub step: String,
    pub approval: Approval,
    /// The step is a checklist item: it takes a note (required or optional).
    pub checklist: bool,
    pub note_required: bool,
    pub typed: LineInput,
    pub note: LineInput,
    pub field: ApproveField,
    pub error: Option<String>,
}

impl Approve {
    pub fn new(step: String, approval: Approval, checklist: bool, note_required: bool) -> Self {
        Self {
            field: if matches!(approval, Approval::Type(_)) {
                ApproveField::Typed
            } else {
                ApproveField::Note
            },
            step,
            approval,
            checklist,
            note_required,
            typed: LineInput::default(),
            note: LineInput::default(),
            error: None,
        }
    }

    fn typed_approval(&self) -> bool {
        matches!(self.approval, Approval::Type(_))
    }
}

impl Component for Approve {
    fn on_key(&mut self, key: &KeyEvent, _kept: &mut Kept<'_>) -> Next {
        if key.code == KeyCode::Tab && self.typed_approval() && self.checklist {
            self.field = match self.field {
                ApproveField::Typed => ApproveField::Note,
                ApproveField::Note => ApproveField::Typed,
            };
            return Next::Stay;
        }
        let edit = match (self.field, self.checklist) {
            (ApproveField::Typed, _) => self.typed.handle(key),
            (ApproveField::Note, true) => self.note.handle(key),
            // A plain approval has no text: Enter or y approves, Esc or n cancels.
            (ApproveField::Note, false) => yes_no(key),
        };
        match edit {
            Edit::Submit if self.field == ApproveField::Typed && self.checklist => {
                self.field = ApproveField::Note;
                Next::Stay
            }
            Edit::Submit => {
                self.error = None;
                Next::submit(Command::Approve {
                    step: self.step.clone(),
                    typed: self.typed_approval().then(|| self.typed.text.clone()),
                    note: (self.checklist && !self.note.text.trim().is_empty()).then(|| self.note.text.clone()),
                })
            }
            Edit::Cancel => Next::Close,
            Edit::Changed | Edit::Ignored => Next::Stay,
        }
    }

    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, _area: Rect) -> Body<'a> {
        let theme = ctx.app.theme;
        let mut b = Body::about(ctx, format!(" approve {} ", self.step), theme.accent(), &self.step);
        for l in resolved_action_lines(ctx.state, &self.step) {
            b.styled(format!("  {l}"), theme.dim());
        }
        b.text("");
        if let Approval::Type(text) = &self.approval {
            b.line(Line::from(vec![
                Span::raw("Type "),
                Span::styled(text.clone(), theme.title()),
                Span::raw(" to approve:"),
            ]));
            b.field(&self.typed, self.field == ApproveField::Typed);
        }
        if self.checklist {
            b.text(if self.note_required {
                "Note (required):"
            } else {
                "Note (optional):"
            });
            b.field(&self.note, self.field == ApproveField::Note);
        } else if !self.typed_approval() {
            b.text("Approve this step? It runs as soon as it is approved. (Enter or y; Esc cancels)");
        }
        b.error(&self.error);
        b
    }

    fn keys(&self) -> &'static [(&'static str, &'static str)] {
        if self.typed_approval() && self.checklist {
            &[("Enter", "approve"), ("Tab", "next field"), ("Esc", "cancel")]
        } else {
            &[("Enter", "approve"), ("Esc", "cancel")]
        }
    }

    fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    fn step(&self) -> Option<&str> {
        Some(&self.step)
    }

    fn further(&self) -> bool {
        self.field == ApproveField::Note
    }

    fn field(&mut self) -> Option<&mut LineInput> {
        match self.field {
            ApproveField::Typed => Some(&mut self.typed),
            ApproveField::Note if self.checklist => Some(&mut self.note),
            ApproveField::Note => None,
        }
    }
}
