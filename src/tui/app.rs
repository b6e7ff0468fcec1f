//! The cockpit's own state: which step is selected, which pane has focus, the open
//! dialog, the log and the messages. It never changes the run: keys turn into engine
//! commands, which the loop submits and records.
//!
//! Keys are letters, and letters are also what people type. So: while the run waits
//! for a typed confirmation, typing its first character opens that dialog; a rollback
//! or skip with a typed reason asks once more before it acts; and every dialog ignores the
//! keys that confirm (Enter, and `y` where it answers) for a moment after it opens or asks
//! its next question, so a held or doubled key does nothing.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::input::{Edit, LineInput, TextArea};
use super::keys::{KeyAction, action_for, chord_for};
use super::log::LogView;
use super::theme::Theme;
use crate::engine::{
    Command, Recorded, Resolution, RunState, RunStatus, Situation, StepState, StepStatus, current, situation,
};
use crate::runbook::{Action as StepAction, Approval};
use crate::words::{situation_words, status_mark};

/// The reason recorded when the operator rolls back without typing one: the rollback is
/// never delayed by typing; a note can say more afterwards.
pub const QUICK_ROLLBACK_REASON: &str = "rolled back from the cockpit (no reason typed at the time)";

/// How long a dialog ignores the keys that confirm after it opens or asks its next question.
pub const CONFIRM_GUARD: Duration = Duration::from_millis(300);

/// How long the selection stays where the operator put it before following the run again.
const PINNED_FOR: Duration = Duration::from_secs(15);

/// Log lines a page key moves.
const PAGE: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Steps,
    Log,
}

/// What the loop should do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    Submit(Command),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproveField {
    Typed,
    Note,
}

/// The choices for a step left in doubt, in the order they are offered.
pub const IN_DOUBT_CHOICES: [(Resolution, &str); 3] = [
    (Resolution::Succeeded, "it happened: mark it succeeded"),
    (Resolution::Failed, "it did not happen: mark it failed"),
    (Resolution::Retry, "run it again (only if that is safe)"),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    Approve {
        step: String,
        approval: Approval,
        /// The step is a checklist item: it takes a note (required or optional).
        checklist: bool,
        note_required: bool,
        typed: LineInput,
        note: LineInput,
        field: ApproveField,
        error: Option<String>,
    },
    Rollback {
        reason: LineInput,
        /// A typed reason is shown back for a second Enter before anything happens.
        confirming: bool,
        error: Option<String>,
    },
    Skip {
        step: String,
        reason: LineInput,
        confirming: bool,
        error: Option<String>,
    },
    Note {
        step: String,
        text: LineInput,
        error: Option<String>,
    },
    InDoubt {
        step: String,
        /// Index into `IN_DOUBT_CHOICES`, once chosen.
        choice: Option<usize>,
        note: LineInput,
        error: Option<String>,
    },
    Retry {
        step: String,
        error: Option<String>,
    },
    /// End the drain before a scale to zero early: the new side goes away while some
    /// resolvers may still send clients to it.
    EndDrain {
        step: String,
        until: DateTime<Utc>,
        error: Option<String>,
    },
    /// The text lives in `App::rca_draft`, so closing the editor loses nothing.
    Rca {
        error: Option<String>,
    },
    NewAttempt {
        attempt: u32,
        error: Option<String>,
    },
    /// Its warning is worked out when it is drawn, from the run as it is then.
    Quit,
}

impl Dialog {
    fn set_error(&mut self, message: String) {
        match self {
            Dialog::Approve { error, .. }
            | Dialog::Rollback { error, .. }
            | Dialog::Skip { error, .. }
            | Dialog::Note { error, .. }
            | Dialog::InDoubt { error, .. }
            | Dialog::Retry { error, .. }
            | Dialog::EndDrain { error, .. }
            | Dialog::Rca { error }
            | Dialog::NewAttempt { error, .. } => *error = Some(message),
            Dialog::Quit => {}
        }
    }

    /// The step the dialog is about, if it is about one.
    fn step(&self) -> Option<&str> {
        match self {
            Dialog::Approve { step, .. }
            | Dialog::Skip { step, .. }
            | Dialog::Note { step, .. }
            | Dialog::InDoubt { step, .. }
            | Dialog::EndDrain { step, .. }
            | Dialog::Retry { step, .. } => Some(step),
            _ => None,
        }
    }

    /// Whether printable keys go into a field now (then `y` is a letter, not a yes).
    fn typing(&self) -> bool {
        match self {
            Dialog::Approve { checklist, field, .. } => *field == ApproveField::Typed || *checklist,
            Dialog::Rollback { confirming, .. } | Dialog::Skip { confirming, .. } => !confirming,
            Dialog::Note { .. } | Dialog::InDoubt { .. } | Dialog::Rca { .. } => true,
            Dialog::Retry { .. } | Dialog::EndDrain { .. } | Dialog::NewAttempt { .. } | Dialog::Quit => false,
        }
    }

    /// Whether `key` answers the dialog's question: Enter everywhere, `y` where it is not
    /// typed into a field. Such a key is what a doubled or held key repeats.
    fn confirms(&self, key: &KeyEvent) -> bool {
        match key.code {
            KeyCode::Enter => true,
            KeyCode::Char('y') => !self.typing(),
            _ => false,
        }
    }

    /// The question the dialog asks now: which dialog, and which of its steps (a typed
    /// reason shown back for confirmation, the note after a typed confirmation).
    fn question(&self) -> (std::mem::Discriminant<Dialog>, bool) {
        let next = match self {
            Dialog::Approve { field, .. } => *field == ApproveField::Note,
            Dialog::Rollback { confirming, .. } | Dialog::Skip { confirming, .. } => *confirming,
            _ => false,
        };
        (std::mem::discriminant(self), next)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

pub struct App {
    pub theme: Theme,
    /// Index into the run's steps.
    pub selected: usize,
    pub focus: Focus,
    pub dialog: Option<Dialog>,
    pub help: bool,
    pub log: LogView,
    /// The answer to the last key, until the next key or until the run moves on.
    pub flash: Option<Flash>,
    /// A problem that did not come from a key (a step's effect, the journal): it stays
    /// until the run records something again.
    pub alert: Option<String>,
    /// The root-cause analysis being written, kept when its editor is closed.
    pub rca_draft: TextArea,
    /// How long a dialog ignores the keys that confirm after it asked its question (zero
    /// in tests that type faster than anyone).
    pub confirm_guard: Duration,
    /// When the open dialog asked its question, on the cockpit's clock.
    asked_at: Option<DateTime<Utc>>,
    /// When the operator last moved the selection by hand.
    moved_at: Option<Instant>,
    /// The step the run was at when last seen.
    followed: Option<usize>,
}

/// Whether the operator can roll back now.
pub fn can_roll_back(state: &RunState) -> bool {
    matches!(state.status, RunStatus::Active | RunStatus::Holding { .. })
}

/// The step that `s` would skip, if one can be skipped.
pub fn skippable(state: &RunState) -> Option<&StepState> {
    current(state)
        .map(|i| &state.steps[i])
        .filter(|s| matches!(s.status, StepStatus::Pending | StepStatus::Failed))
}

/// What Enter does now, in words, if it does anything.
pub fn act_label(state: &RunState, now: DateTime<Utc>) -> Option<String> {
    match situation(state, now) {
        Situation::Approval {
            step,
            approval: Approval::Type(_),
            ..
        } => Some(format!("type to approve {step}")),
        Situation::Approval { step, .. } => Some(format!("approve {step}")),
        Situation::Failed { step, .. } => Some(format!("retry {step}")),
        Situation::InDoubt { step } => Some(format!("resolve {step}")),
        Situation::Gate {
            gate: crate::engine::TimeGate::Drain { .. },
            ..
        } => Some("end the drain early".to_string()),
        Situation::RolledBack { rca_attached: false } => Some("write the root-cause analysis".to_string()),
        Situation::RolledBack { rca_attached: true } => Some(format!("start attempt {}", state.attempt + 1)),
        _ => None,
    }
}

/// The index of the step that is running, if any.
pub fn running(state: &RunState) -> Option<usize> {
    state.steps.iter().position(|s| s.status == StepStatus::Running)
}

fn printable(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => Some(c),
        _ => None,
    }
}

impl App {
    pub fn new(theme: Theme, state: &RunState, history: &[Recorded]) -> Self {
        let mut app = Self {
            theme,
            selected: 0,
            focus: Focus::Steps,
            dialog: None,
            help: false,
            log: LogView::default(),
            flash: None,
            alert: None,
            rca_draft: TextArea::default(),
            confirm_guard: CONFIRM_GUARD,
            asked_at: None,
            moved_at: None,
            followed: None,
        };
        app.on_records(history, state);
        app
    }

    /// New journal records: into the log; the selection follows the run unless the
    /// operator is looking elsewhere; messages about a past moment go.
    pub fn on_records(&mut self, records: &[Recorded], state: &RunState) {
        if records.is_empty() {
            return;
        }
        self.log.push(records);
        self.alert = None;
        if self.flash.as_ref().is_some_and(|f| !f.error) {
            self.flash = None;
        }
        let at = running(state).or_else(|| current(state));
        let pinned = self.moved_at.is_some_and(|t| t.elapsed() < PINNED_FOR);
        if at != self.followed {
            self.followed = at;
            if let (Some(i), false) = (at, pinned) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(state.steps.len().saturating_sub(1));
    }

    /// Pasted text goes into the field being edited, if any; it is never read as keys.
    pub fn on_paste(&mut self, text: &str) {
        let clean: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
        if let Some(Dialog::Rca { .. }) = self.dialog {
            for (i, line) in clean.split('\n').enumerate() {
                if i > 0 {
                    self.rca_draft
                        .handle(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
                }
                self.rca_draft.lines[self.rca_draft.row].insert(line);
            }
            return;
        }
        let line = clean.lines().next().unwrap_or("");
        let no_dialog = self.dialog.is_none();
        let field = match &mut self.dialog {
            Some(Dialog::Approve { typed, field, .. }) if *field == ApproveField::Typed => Some(typed),
            Some(Dialog::Approve {
                note, checklist: true, ..
            }) => Some(note),
            Some(Dialog::Rollback {
                reason,
                confirming: false,
                ..
            })
            | Some(Dialog::Skip {
                reason,
                confirming: false,
                ..
            }) => Some(reason),
            Some(Dialog::Note { text, .. }) => Some(text),
            Some(Dialog::InDoubt { note, .. }) => Some(note),
            _ => None,
        };
        match (field, self.log.editing.as_mut()) {
            (Some(input), _) => input.insert(line),
            (None, Some(input)) if no_dialog => input.insert(line),
            _ => self.flash_error("pasted text ignored: there is no field to paste into".to_string()),
        }
    }

    /// A command was recorded: its dialog is done.
    pub fn on_submitted(&mut self) {
        if let Some(Dialog::Rca { .. }) = self.dialog {
            self.rca_draft = TextArea::default();
        }
        self.dialog = None;
    }

    /// The operator's command was refused: say why where they are looking.
    pub fn on_refused(&mut self, message: String) {
        match &mut self.dialog {
            Some(d) => {
                d.set_error(message);
                // A refused confirmation goes back to editing.
                if let Dialog::Rollback { confirming, .. } | Dialog::Skip { confirming, .. } = d {
                    *confirming = false;
                }
            }
            None => self.flash_error(message),
        }
    }

    /// Something went wrong that no key asked for (an effect, the journal).
    pub fn on_problem(&mut self, message: String) {
        self.alert = Some(message);
    }

    fn flash_error(&mut self, text: String) {
        self.flash = Some(Flash { text, error: true });
    }

    fn say(&mut self, text: String) {
        self.flash = Some(Flash { text, error: false });
    }

    /// Every dialog opens here, so every dialog is guarded against doubled keys.
    fn open(&mut self, dialog: Dialog, state: &RunState, now: DateTime<Utc>) {
        if let Some(i) = dialog.step().and_then(|s| state.index(s)) {
            // The dialog and the detail behind it are about the same step.
            self.selected = i;
            self.moved_at = None;
        }
        self.asked_at = Some(now);
        self.dialog = Some(dialog);
    }

    /// Whether the open dialog asked its question less than `confirm_guard` ago. A clock
    /// that went back does not hold the dialog shut.
    fn just_asked(&self, now: DateTime<Utc>) -> bool {
        let guard = chrono::Duration::from_std(self.confirm_guard).unwrap_or(chrono::Duration::MAX);
        self.asked_at.is_some_and(|asked| now >= asked && now - asked < guard)
    }

    pub fn on_key(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>, busy: bool) -> Option<Reaction> {
        self.flash = None;
        if let Some(chord) = chord_for(key) {
            return match (chord, &self.dialog) {
                (KeyAction::Rollback, Some(Dialog::Rollback { .. })) => None,
                (KeyAction::Rollback, _) => {
                    self.dialog = None;
                    self.rollback(state, now);
                    None
                }
                // Ctrl-C leaves a dialog, or quits.
                (_, Some(_)) => {
                    self.dialog = None;
                    None
                }
                _ => self.quit(state, busy, now),
            };
        }
        if self.dialog.is_some() {
            return self.dialog_key(key, state, now);
        }
        if self.help {
            self.help = false;
            return None;
        }
        if let Some(filter) = &mut self.log.editing {
            match filter.handle(key) {
                Edit::Submit => self.log.apply_filter(),
                Edit::Cancel => self.log.clear_filter(),
                _ => {}
            }
            return None;
        }
        // Typing the text a confirmation waits for starts that confirmation.
        if let (
            Some(c),
            Situation::Approval {
                approval: Approval::Type(text),
                ..
            },
        ) = (printable(key), situation(state, now))
            && text.starts_with(c)
        {
            self.act(state, now);
            if let Some(Dialog::Approve { typed, .. }) = &mut self.dialog {
                typed.insert(&c.to_string());
            }
            return None;
        }
        match action_for(key)? {
            KeyAction::Up => match self.focus {
                Focus::Steps => {
                    self.selected = self.selected.saturating_sub(1);
                    self.moved_at = Some(Instant::now());
                }
                Focus::Log => self.log.scroll_up(1),
            },
            KeyAction::Down => match self.focus {
                Focus::Steps => {
                    self.selected = (self.selected + 1).min(state.steps.len().saturating_sub(1));
                    self.moved_at = Some(Instant::now());
                }
                Focus::Log => self.log.scroll_down(1),
            },
            KeyAction::PageUp => self.log.scroll_up(PAGE),
            KeyAction::PageDown => self.log.scroll_down(PAGE),
            KeyAction::SwitchFocus => {
                self.focus = match self.focus {
                    Focus::Steps => Focus::Log,
                    Focus::Log => Focus::Steps,
                }
            }
            KeyAction::Filter => {
                self.focus = Focus::Log;
                self.log.editing = Some(LineInput::with_text(&self.log.filter));
            }
            KeyAction::Help => self.help = true,
            KeyAction::Act => self.act(state, now),
            KeyAction::Rollback => self.rollback(state, now),
            KeyAction::Skip => self.skip(state, now),
            KeyAction::Note => {
                if let Some(step) = state.steps.get(self.selected) {
                    let dialog = Dialog::Note {
                        step: step.id.clone(),
                        text: LineInput::default(),
                        error: None,
                    };
                    self.open(dialog, state, now);
                }
            }
            KeyAction::Quit => return self.quit(state, busy, now),
        }
        None
    }

    /// Enter: whatever the run waits for from the operator.
    fn act(&mut self, state: &RunState, now: DateTime<Utc>) {
        let dialog = match situation(state, now) {
            Situation::Approval {
                step,
                approval,
                note_required,
            } => {
                let checklist = matches!(state.spec(&step).map(|s| &s.action), Some(StepAction::Manual(_)));
                Dialog::Approve {
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
            Situation::Failed { step, .. } => Dialog::Retry { step, error: None },
            Situation::InDoubt { step } => Dialog::InDoubt {
                step,
                choice: None,
                note: LineInput::default(),
                error: None,
            },
            Situation::Gate {
                step,
                until,
                gate: crate::engine::TimeGate::Drain { .. },
            } => Dialog::EndDrain {
                step,
                until,
                error: None,
            },
            Situation::RolledBack { rca_attached: false } => Dialog::Rca { error: None },
            Situation::RolledBack { rca_attached: true } => Dialog::NewAttempt {
                attempt: state.attempt + 1,
                error: None,
            },
            other => {
                self.say(format!("nothing to do now: {}", situation_words(&other, now)));
                return;
            }
        };
        self.open(dialog, state, now);
    }

    fn rollback(&mut self, state: &RunState, now: DateTime<Utc>) {
        if can_roll_back(state) {
            let dialog = Dialog::Rollback {
                reason: LineInput::default(),
                confirming: false,
                error: None,
            };
            self.open(dialog, state, now);
        } else {
            self.say(format!("nothing to roll back: the run is {}", state.status.word()));
        }
    }

    fn skip(&mut self, state: &RunState, now: DateTime<Utc>) {
        match skippable(state) {
            Some(s) => {
                let dialog = Dialog::Skip {
                    step: s.id.clone(),
                    reason: LineInput::default(),
                    confirming: false,
                    error: None,
                };
                self.open(dialog, state, now);
            }
            None => match current(state).map(|i| &state.steps[i]) {
                Some(s) => self.say(format!(
                    "step {} cannot be skipped while it is {}",
                    s.id,
                    status_mark(s.status).1
                )),
                None => self.say("no step to skip".to_string()),
            },
        }
    }

    fn quit(&mut self, state: &RunState, busy: bool, now: DateTime<Utc>) -> Option<Reaction> {
        if busy && running(state).is_some() {
            self.open(Dialog::Quit, state, now);
            return None;
        }
        Some(Reaction::Quit)
    }

    /// A key in a dialog. The guard against doubled keys is here, for every dialog: a key
    /// that would answer is ignored while the question is new, and a dialog that moves on
    /// to its next question (a typed reason to confirm, the note after the hostname) asks
    /// it anew.
    fn dialog_key(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>) -> Option<Reaction> {
        let dialog = self.dialog.as_ref()?;
        if dialog.confirms(key) && self.just_asked(now) {
            return None;
        }
        let question = dialog.question();
        let action = self.answer(key, state, now);
        if self.dialog.as_ref().is_some_and(|d| d.question() != question) {
            self.asked_at = Some(now);
        }
        action
    }

    fn answer(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>) -> Option<Reaction> {
        let dialog = self.dialog.as_mut()?;
        let submit = |command: Command| Some(Reaction::Submit(command));
        match dialog {
            Dialog::Approve {
                step,
                approval,
                checklist,
                typed,
                note,
                field,
                error,
                ..
            } => {
                if key.code == KeyCode::Tab && matches!(approval, Approval::Type(_)) && *checklist {
                    *field = match field {
                        ApproveField::Typed => ApproveField::Note,
                        ApproveField::Note => ApproveField::Typed,
                    };
                    return None;
                }
                let edit = match (*field, *checklist) {
                    (ApproveField::Typed, _) => typed.handle(key),
                    (ApproveField::Note, true) => note.handle(key),
                    // A plain approval has no text: Enter or y approves, Esc or n cancels.
                    (ApproveField::Note, false) => match key.code {
                        KeyCode::Enter | KeyCode::Char('y') => Edit::Submit,
                        KeyCode::Esc | KeyCode::Char('n') => Edit::Cancel,
                        _ => Edit::Ignored,
                    },
                };
                match edit {
                    Edit::Submit if *field == ApproveField::Typed && *checklist => *field = ApproveField::Note,
                    Edit::Submit => {
                        *error = None;
                        return submit(Command::Approve {
                            step: step.clone(),
                            typed: matches!(approval, Approval::Type(_)).then(|| typed.text.clone()),
                            note: (*checklist && !note.text.trim().is_empty()).then(|| note.text.clone()),
                        });
                    }
                    Edit::Cancel => self.dialog = None,
                    _ => {}
                }
            }
            Dialog::Rollback { reason, confirming, .. } => {
                if *confirming {
                    match key.code {
                        KeyCode::Enter => {
                            return submit(Command::Rollback {
                                reason: reason.text.trim().to_string(),
                            });
                        }
                        KeyCode::Esc => *confirming = false,
                        _ => {}
                    }
                    return None;
                }
                match reason.handle(key) {
                    // Nothing typed: roll back at once. A typed reason is confirmed first.
                    Edit::Submit if reason.text.trim().is_empty() => {
                        return submit(Command::Rollback {
                            reason: QUICK_ROLLBACK_REASON.to_string(),
                        });
                    }
                    Edit::Submit => *confirming = true,
                    Edit::Cancel => self.dialog = None,
                    _ => {}
                }
            }
            Dialog::Skip {
                step,
                reason,
                confirming,
                error,
            } => {
                if *confirming {
                    match key.code {
                        KeyCode::Enter => {
                            return submit(Command::Skip {
                                step: step.clone(),
                                reason: reason.text.trim().to_string(),
                            });
                        }
                        KeyCode::Esc => *confirming = false,
                        _ => {}
                    }
                    return None;
                }
                match reason.handle(key) {
                    Edit::Submit if reason.text.trim().is_empty() => {
                        *error = Some(format!(
                            "say why step `{step}` is skipped: the reason is kept in the journal"
                        ));
                    }
                    Edit::Submit => *confirming = true,
                    Edit::Cancel => self.dialog = None,
                    _ => {}
                }
            }
            Dialog::Note { step, text, .. } => match text.handle(key) {
                Edit::Submit => {
                    return submit(Command::Note {
                        step: Some(step.clone()),
                        text: text.text.trim().to_string(),
                    });
                }
                Edit::Cancel => self.dialog = None,
                _ => {}
            },
            Dialog::InDoubt {
                step,
                choice,
                note,
                error,
            } => match key.code {
                KeyCode::Up => *choice = Some(choice.map_or(0, |c| c.saturating_sub(1))),
                KeyCode::Down => *choice = Some(choice.map_or(0, |c| (c + 1).min(IN_DOUBT_CHOICES.len() - 1))),
                KeyCode::Esc => self.dialog = None,
                KeyCode::Enter => {
                    let Some(c) = *choice else {
                        *error = Some("choose what happened first (↑↓)".to_string());
                        return None;
                    };
                    let (resolution, _) = IN_DOUBT_CHOICES[c];
                    let said = note.text.trim();
                    if said.is_empty() && resolution != Resolution::Retry {
                        *error = Some("say what you checked: the note is kept with your decision".to_string());
                        return None;
                    }
                    return submit(Command::ResolveInDoubt {
                        step: step.clone(),
                        resolution,
                        note: (!said.is_empty()).then(|| said.to_string()),
                    });
                }
                _ => {
                    note.handle(key);
                }
            },
            Dialog::Retry { step, .. } => match key.code {
                KeyCode::Enter | KeyCode::Char('y') => return submit(Command::Retry { step: step.clone() }),
                KeyCode::Char('s') => {
                    let step = step.clone();
                    self.dialog = None;
                    let dialog = Dialog::Skip {
                        step,
                        reason: LineInput::default(),
                        confirming: false,
                        error: None,
                    };
                    self.open(dialog, state, now);
                }
                KeyCode::Esc | KeyCode::Char('n') => self.dialog = None,
                _ => {}
            },
            Dialog::Rca { .. } => match self.rca_draft.handle(key) {
                Edit::Submit => {
                    return submit(Command::AttachRca {
                        text: self.rca_draft.text(),
                    });
                }
                // The draft stays: opening the editor again brings it back.
                Edit::Cancel => self.dialog = None,
                _ => {}
            },
            Dialog::EndDrain { step, .. } => match key.code {
                KeyCode::Enter | KeyCode::Char('y') => return submit(Command::EndDrain { step: step.clone() }),
                KeyCode::Esc | KeyCode::Char('n') => self.dialog = None,
                _ => {}
            },
            Dialog::NewAttempt { .. } => match key.code {
                KeyCode::Enter | KeyCode::Char('y') => return submit(Command::NewAttempt),
                KeyCode::Esc | KeyCode::Char('n') => self.dialog = None,
                _ => {}
            },
            Dialog::Quit => match key.code {
                KeyCode::Char('y') | KeyCode::Enter => return Some(Reaction::Quit),
                KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => self.dialog = None,
                _ => {}
            },
        }
        None
    }
}
