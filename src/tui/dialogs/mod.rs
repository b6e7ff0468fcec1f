//! Dialogs over the cockpit: approvals and typed confirmations, rollback, skip, notes,
//! in-doubt resolution, retry, the end of a drain, the root-cause analysis and the next
//! attempt, quitting.
//!
//! Each dialog is a component in its own file: its state, the keys it answers, what it
//! draws and the keys the footer shows for it (the [`Component`] trait). Here is the one
//! dispatch over them (`dispatch!`, exhaustive) and what they share: the box
//! they are drawn in ([`Body`], sized to the terminal), the error line, a typed reason
//! confirmed with a second Enter ([`Reason`]) and the yes-or-no keys ([`yes_no`]).
//!
//! What is common to every dialog stays in the app: opening one, the guard against
//! doubled keys, Ctrl-C and Ctrl-R.

mod approve;
mod end_drain;
mod force_lease;
mod in_doubt;
mod new_attempt;
mod note;
mod quit;
mod rca;
mod retry;
mod rollback;
mod skip;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

pub use approve::{Approve, ApproveField};
pub use end_drain::EndDrain;
pub use force_lease::ForceLease;
pub use in_doubt::{IN_DOUBT_CHOICES, InDoubt};
pub use new_attempt::NewAttempt;
pub use note::Note;
pub use quit::Quit;
pub use rca::Rca;
pub use retry::Retry;
pub use rollback::{QUICK_ROLLBACK_REASON, Rollback};
pub use skip::Skip;

use super::app::Reaction;
use super::input::{Edit, LineInput, TextArea};
use super::theme::Theme;
use super::view::{Ctx, centered_or_full, safe};
use crate::engine::Command;

/// The open dialog: one variant a component.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    Approve(Approve),
    Rollback(Rollback),
    Skip(Skip),
    Note(Note),
    InDoubt(InDoubt),
    Retry(Retry),
    EndDrain(EndDrain),
    ForceLease(ForceLease),
    Rca(Rca),
    NewAttempt(NewAttempt),
    Quit(Quit),
}

/// What a dialog does: the part of it that the one dispatch in [`Dialog`] reaches.
pub(crate) trait Component {
    /// Answers a key (the guard against doubled keys has let it through).
    fn on_key(&mut self, key: &KeyEvent, kept: &mut Kept<'_>) -> Next;

    /// What the dialog shows, laid out in its box by [`Dialog::render`]; `area` is the
    /// whole screen.
    fn body<'a>(&'a self, ctx: &'a Ctx<'_>, area: Rect) -> Body<'a>;

    /// The keys the footer shows while the dialog is open: (keys, what they do).
    fn keys(&self) -> &'static [(&'static str, &'static str)];

    /// The operator's command was refused: say why in the dialog.
    fn refused(&mut self, message: String);

    /// The step the dialog is about, if it is about one.
    fn step(&self) -> Option<&str> {
        None
    }

    /// Whether the dialog has moved on to its next question (a typed reason shown back
    /// for confirmation, the note after a typed confirmation).
    fn further(&self) -> bool {
        false
    }

    /// The field that typing and pasted text go into now, if any.
    fn field(&mut self) -> Option<&mut LineInput> {
        None
    }

    /// Whether printable keys go into a field now (then `y` is a letter, not a yes).
    /// (`&mut` only because it asks [`Component::field`].)
    fn typing(&mut self) -> bool {
        self.field().is_some()
    }

    /// Pasted text (control characters other than line breaks already gone) goes into the
    /// field, its first line only. Whether it was taken.
    fn paste(&mut self, text: &str, _kept: &mut Kept<'_>) -> bool {
        match self.field() {
            Some(input) => {
                input.insert(text.lines().next().unwrap_or(""));
                true
            }
            None => false,
        }
    }
}

/// What the cockpit keeps for a dialog while it is closed.
pub(crate) struct Kept<'a> {
    /// The root-cause analysis being written (`App::rca_draft`).
    pub rca_draft: &'a mut TextArea,
}

/// What a key did to the open dialog.
#[derive(Debug)]
pub(crate) enum Next {
    /// It stays open (perhaps changed).
    Stay,
    /// It is closed, having done nothing.
    Close,
    /// It gives way to another dialog.
    Open(Dialog),
    /// What the loop does now; the dialog stays until the command is recorded.
    Done(Reaction),
}

impl Next {
    /// A command to submit.
    pub(crate) fn submit(command: Command) -> Self {
        Next::Done(Reaction::Submit(command))
    }

    /// A question answered by a key ([`yes_no`]): yes submits `command`, no closes the
    /// dialog.
    pub(crate) fn on_yes(key: &KeyEvent, command: impl FnOnce() -> Command) -> Self {
        Next::after(yes_no(key), || Next::submit(command()))
    }

    /// What an edit means: Submit does `then`, Cancel closes the dialog.
    pub(crate) fn after(edit: Edit, then: impl FnOnce() -> Next) -> Self {
        match edit {
            Edit::Submit => then(),
            Edit::Cancel => Next::Close,
            Edit::Changed | Edit::Ignored => Next::Stay,
        }
    }
}

/// A question answered by a key: Enter or `y` says yes (Submit), Esc or `n` no (Cancel).
pub(crate) fn yes_no(key: &KeyEvent) -> Edit {
    match key.code {
        KeyCode::Enter | KeyCode::Char('y') => Edit::Submit,
        KeyCode::Esc | KeyCode::Char('n') => Edit::Cancel,
        _ => Edit::Ignored,
    }
}

/// The one dispatch over the dialogs: `$body` with `$d` bound to the open component.
/// Exhaustive, so a new variant is a compile error until it is listed here.
macro_rules! dispatch {
    ($dialog:expr, $d:ident => $body:expr) => {
        match $dialog {
            Dialog::Approve($d) => $body,
            Dialog::Rollback($d) => $body,
            Dialog::Skip($d) => $body,
            Dialog::Note($d) => $body,
            Dialog::InDoubt($d) => $body,
            Dialog::Retry($d) => $body,
            Dialog::EndDrain($d) => $body,
            Dialog::ForceLease($d) => $body,
            Dialog::Rca($d) => $body,
            Dialog::NewAttempt($d) => $body,
            Dialog::Quit($d) => $body,
        }
    };
}

impl Dialog {
    fn component(&self) -> &dyn Component {
        dispatch!(self, d => d)
    }

    fn component_mut(&mut self) -> &mut dyn Component {
        dispatch!(self, d => d)
    }

    pub(crate) fn on_key(&mut self, key: &KeyEvent, kept: &mut Kept<'_>) -> Next {
        self.component_mut().on_key(key, kept)
    }

    /// Pasted text: whether the dialog took it.
    pub(crate) fn paste(&mut self, text: &str, kept: &mut Kept<'_>) -> bool {
        self.component_mut().paste(text, kept)
    }

    pub(crate) fn refused(&mut self, message: String) {
        self.component_mut().refused(message);
    }

    pub fn render(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
        draw(frame, area, self.component().body(ctx, area));
    }

    /// The keys the footer shows while the dialog is open: (keys, what they do).
    pub fn keys(&self) -> &'static [(&'static str, &'static str)] {
        self.component().keys()
    }

    /// The step the dialog is about, if it is about one.
    pub fn step(&self) -> Option<&str> {
        self.component().step()
    }

    /// Whether `key` answers the dialog's question: Enter everywhere, `y` where it is not
    /// typed into a field. Such a key is what a doubled or held key repeats.
    pub(crate) fn confirms(&mut self, key: &KeyEvent) -> bool {
        match key.code {
            KeyCode::Enter => true,
            KeyCode::Char('y') => !self.component_mut().typing(),
            _ => false,
        }
    }

    /// The question the dialog asks now: which dialog, and which of its steps.
    pub(crate) fn question(&self) -> (std::mem::Discriminant<Dialog>, bool) {
        (std::mem::discriminant(self), self.component().further())
    }
}

/// A typed reason that is shown back for a second Enter before anything happens (rollback,
/// skip), so that a held or doubled Enter never acts on a reason typed in haste.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reason {
    pub input: LineInput,
    /// The reason is shown back, waiting for the second Enter.
    pub confirming: bool,
}

/// What a key did to a [`Reason`].
pub(crate) enum Reasoned {
    /// Typing, or the question asked again.
    Stay,
    /// Enter with nothing typed.
    Empty,
    /// The second Enter on a typed reason.
    Confirmed,
    /// Esc while typing.
    Cancel,
}

impl Reason {
    pub(crate) fn on_key(&mut self, key: &KeyEvent) -> Reasoned {
        if self.confirming {
            match key.code {
                KeyCode::Enter => return Reasoned::Confirmed,
                KeyCode::Esc => self.confirming = false,
                _ => {}
            }
            return Reasoned::Stay;
        }
        match self.input.handle(key) {
            Edit::Submit if self.input.text.trim().is_empty() => Reasoned::Empty,
            Edit::Submit => {
                self.confirming = true;
                Reasoned::Stay
            }
            Edit::Cancel => Reasoned::Cancel,
            Edit::Changed | Edit::Ignored => Reasoned::Stay,
        }
    }

    /// The reason as it is recorded.
    pub fn text(&self) -> String {
        self.input.text.trim().to_string()
    }

    /// A refused command goes back to editing.
    pub(crate) fn refused(&mut self) {
        self.confirming = false;
    }

    /// The field pasted text goes into: none while the reason is shown back.
    pub(crate) fn field(&mut self) -> Option<&mut LineInput> {
        (!self.confirming).then_some(&mut self.input)
    }

    /// The field under `prompt`, or the reason shown back above `again` (in `style`).
    pub(crate) fn draw<'a>(&'a self, b: &mut Body<'a>, prompt: &str, again: &str, style: Style) {
        if self.confirming {
            b.text(format!("Reason: {}", self.text()));
            b.styled(again, style);
        } else {
            b.text(prompt);
            b.field(&self.input, true);
        }
    }
}

/// A dialog's content: lines that wrap by words, and input fields laid out by hand so
/// that the cursor lands where typing goes.
pub(crate) struct Body<'a> {
    title: String,
    style: Style,
    theme: Theme,
    lines: Vec<Part<'a>>,
}

enum Part<'a> {
    Text(Line<'a>),
    Field { input: &'a LineInput, active: bool },
}

impl<'a> Body<'a> {
    /// An empty box titled `title`, its border and title in `style`.
    pub(crate) fn new(ctx: &Ctx<'_>, title: impl Into<String>, style: Style) -> Self {
        Self {
            title: title.into(),
            style,
            theme: ctx.app.theme,
            lines: Vec::new(),
        }
    }

    /// A box about `step`: its title as the runbook gives it comes first.
    pub(crate) fn about(ctx: &Ctx<'_>, title: impl Into<String>, style: Style, step: &str) -> Self {
        let mut b = Self::new(ctx, title, style);
        let step_title = ctx.state.spec(step).map(|s| s.title.clone()).unwrap_or_default();
        b.styled(step_title, b.theme.title());
        b
    }

    pub(crate) fn text(&mut self, text: impl Into<String>) {
        self.lines.push(Part::Text(Line::raw(text.into())));
    }

    pub(crate) fn styled(&mut self, text: impl Into<String>, style: Style) {
        self.lines
            .push(Part::Text(Line::from(Span::styled(text.into(), style))));
    }

    pub(crate) fn line(&mut self, line: Line<'a>) {
        self.lines.push(Part::Text(line));
    }

    pub(crate) fn field(&mut self, input: &'a LineInput, active: bool) {
        self.lines.push(Part::Field { input, active });
    }

    /// A key and what it does, one of a list.
    pub(crate) fn choice(&mut self, key: &'static str, does: &'static str) {
        self.line(Line::from(vec![Span::styled(key, self.theme.key()), Span::raw(does)]));
    }

    /// The error line, after a blank one, if there is an error.
    pub(crate) fn error(&mut self, error: &Option<String>) {
        if let Some(e) = error {
            self.text("");
            self.styled(e.clone(), self.theme.error());
        }
    }
}

/// A field as rows of exactly `width` characters after the `> ` prompt, and where its
/// cursor is (row, column).
fn field_rows<'a>(input: &LineInput, width: usize, key: Style) -> (Vec<Line<'a>>, (usize, usize)) {
    let room = width.saturating_sub(2).max(1);
    let chars: Vec<char> = input.text.chars().collect();
    let mut rows = Vec::new();
    for (i, chunk) in chars.chunks(room).enumerate() {
        let prompt = if i == 0 { "> " } else { "  " };
        rows.push(Line::from(vec![
            Span::styled(prompt, key),
            Span::raw(chunk.iter().collect::<String>()),
        ]));
    }
    if rows.is_empty() || chars.len() % room == 0 && input.cursor == chars.len() && !chars.is_empty() {
        rows.push(Line::from(Span::styled(if rows.is_empty() { "> " } else { "  " }, key)));
    }
    (rows, (input.cursor / room, 2 + input.cursor % room))
}

/// The dialog's box, centred on the screen and as high as its content, with the cursor in
/// the active field. Under 100 columns it takes the whole width (a box a few columns
/// narrower than the screen leaves slivers of the screen beside it); wider, three fifths.
fn draw(frame: &mut Frame<'_>, area: Rect, b: Body<'_>) {
    let width = if area.width < 100 {
        area.width
    } else {
        (area.width * 3 / 5).clamp(76, 120)
    };
    let inner_width = (width.saturating_sub(2) as usize).max(1);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut rows = 0;
    let mut cursor = None;
    let key = b.theme.key();
    for part in b.lines {
        match part {
            Part::Text(line) => {
                // Titles, notes and refusals may quote anything: shown, never obeyed.
                let line = safe(vec![line]).remove(0);
                // The same count the word wrap will give.
                rows += Paragraph::new(line.clone())
                    .wrap(Wrap { trim: false })
                    .line_count(inner_width as u16);
                lines.push(line);
            }
            Part::Field { input, active } => {
                let (field, (row, col)) = field_rows(input, inner_width, key);
                if active {
                    cursor = Some((rows + row, col));
                }
                rows += field.len();
                lines.extend(field);
            }
        }
    }
    let popup = centered_or_full(area, width, rows as u16 + 2);
    frame.render_widget(Clear, popup);
    if let Some((row, col)) = cursor
        && row + 1 < popup.height as usize
    {
        frame.set_cursor_position(Position::new(popup.x + 1 + col as u16, popup.y + 1 + row as u16));
    }
    let block = Block::bordered()
        .border_style(b.style)
        .title(Span::styled(b.title, b.style));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
}
