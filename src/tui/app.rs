//! The cockpit's own state: which step is selected, which pane has focus, the open
//! dialog, the log and the last message. It never changes the run: keys turn into
//! engine commands, which the loop submits and records.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::input::{Edit, LineInput, TextArea};
use super::keys::{KeyAction, action_for};
use super::log::LogView;
use super::theme::Theme;
use crate::engine::{Command, Recorded, Resolution, RunState, RunStatus, Situation, StepStatus, current, situation};
use crate::runbook::{Action as StepAction, Approval};
use crate::runner::lines::situation_words;

/// The reason recorded when the operator rolls back without typing one: the rollback is
/// never delayed by typing; a note can say more afterwards.
pub const QUICK_ROLLBACK_REASON: &str = "rolled back from the cockpit (no reason typed at the time)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Steps,
    Log,
}

/// What the loop should do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Submit(Command),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproveField {
    Typed,
    Note,
}

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
        error: Option<String>,
    },
    Skip {
        step: String,
        reason: LineInput,
        error: Option<String>,
    },
    Note {
        step: String,
        text: LineInput,
        error: Option<String>,
    },
    InDoubt {
        step: String,
        error: Option<String>,
    },
    Retry {
        step: String,
        error: Option<String>,
    },
    Rca {
        text: TextArea,
        error: Option<String>,
    },
    NewAttempt {
        attempt: u32,
        error: Option<String>,
    },
    Quit {
        warning: String,
    },
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
            | Dialog::Rca { error, .. }
            | Dialog::NewAttempt { error, .. } => *error = Some(message),
            Dialog::Quit { .. } => {}
        }
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
    pub flash: Option<Flash>,
    /// The step the run was at when last seen: the selection follows it when it moves.
    followed: Option<usize>,
}

/// Log lines a page key moves.
const PAGE: usize = 10;

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
            followed: None,
        };
        app.on_records(history, state);
        app
    }

    /// New journal records: into the log, and the selection follows the run.
    pub fn on_records(&mut self, records: &[Recorded], state: &RunState) {
        self.log.push(records);
        let at = running(state).or_else(|| current(state));
        if at != self.followed {
            self.followed = at;
            if let Some(i) = at {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(state.steps.len().saturating_sub(1));
    }

    /// Pasted text goes into the field being edited, if any; it is never read as keys.
    pub fn on_paste(&mut self, text: &str) {
        let line = text.lines().next().unwrap_or("");
        let field = match &mut self.dialog {
            Some(Dialog::Approve { typed, note, field, .. }) => {
                Some(if *field == ApproveField::Typed { typed } else { note })
            }
            Some(Dialog::Rollback { reason, .. }) | Some(Dialog::Skip { reason, .. }) => Some(reason),
            Some(Dialog::Note { text, .. }) => Some(text),
            Some(Dialog::Rca { text: area, .. }) => Some(&mut area.lines[area.row]),
            _ => None,
        };
        match (field, self.log.editing.as_mut()) {
            (Some(input), _) | (None, Some(input)) => input.insert(line),
            (None, None) => {
                self.flash = Some(Flash {
                    text: "pasted text ignored: there is no field to paste into".to_string(),
                    error: true,
                })
            }
        }
    }

    /// A command was recorded: its dialog is done.
    pub fn on_submitted(&mut self) {
        self.dialog = None;
    }

    /// A command was refused: say why where the operator is looking.
    pub fn on_refused(&mut self, message: String) {
        match &mut self.dialog {
            Some(d) => d.set_error(message),
            None => {
                self.flash = Some(Flash {
                    text: message,
                    error: true,
                })
            }
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>, busy: bool) -> Option<Action> {
        self.flash = None;
        if self.dialog.is_some() {
            return self.dialog_key(key);
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
        match action_for(key)? {
            KeyAction::Up => match self.focus {
                Focus::Steps => self.selected = self.selected.saturating_sub(1),
                Focus::Log => self.log.scroll_up(1),
            },
            KeyAction::Down => match self.focus {
                Focus::Steps => self.selected = (self.selected + 1).min(state.steps.len().saturating_sub(1)),
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
            KeyAction::Rollback => self.rollback(state),
            KeyAction::Skip => self.skip(state),
            KeyAction::Note => {
                if let Some(step) = state.steps.get(self.selected) {
                    self.dialog = Some(Dialog::Note {
                        step: step.id.clone(),
                        text: LineInput::default(),
                        error: None,
                    });
                }
            }
            KeyAction::Quit => return self.quit(state, busy),
        }
        None
    }

    fn say(&mut self, text: String) {
        self.flash = Some(Flash { text, error: false });
    }

    /// Enter: whatever the run waits for from the operator.
    fn act(&mut self, state: &RunState, now: DateTime<Utc>) {
        self.dialog = match situation(state, now) {
            Situation::Approval {
                step,
                approval,
                note_required,
            } => {
                let checklist = matches!(state.spec(&step).map(|s| &s.action), Some(StepAction::Manual(_)));
                Some(Dialog::Approve {
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
                })
            }
            Situation::Failed { step, .. } => Some(Dialog::Retry { step, error: None }),
            Situation::InDoubt { step } => Some(Dialog::InDoubt { step, error: None }),
            Situation::RolledBack { rca_attached: false } => Some(Dialog::Rca {
                text: TextArea::default(),
                error: None,
            }),
            Situation::RolledBack { rca_attached: true } => Some(Dialog::NewAttempt {
                attempt: state.attempt + 1,
                error: None,
            }),
            other => {
                self.say(format!("nothing to do now: {}", situation_words(&other, now)));
                None
            }
        };
    }

    fn rollback(&mut self, state: &RunState) {
        match state.status {
            RunStatus::Active | RunStatus::Holding { .. } => {
                self.dialog = Some(Dialog::Rollback {
                    reason: LineInput::default(),
                    error: None,
                });
            }
            RunStatus::RollingBack => self.say("the run is already rolling back".to_string()),
            RunStatus::RolledBack { .. } => self.say("the run is rolled back".to_string()),
            RunStatus::Completed { .. } => self.say("the run is completed: nothing to roll back".to_string()),
        }
    }

    fn skip(&mut self, state: &RunState) {
        match current(state).map(|i| &state.steps[i]) {
            Some(s) if matches!(s.status, StepStatus::Pending | StepStatus::Failed) => {
                self.dialog = Some(Dialog::Skip {
                    step: s.id.clone(),
                    reason: LineInput::default(),
                    error: None,
                });
            }
            Some(s) => self.say(format!("step {} cannot be skipped while it is {:?}", s.id, s.status).to_lowercase()),
            None => self.say("no step to skip".to_string()),
        }
    }

    fn quit(&mut self, state: &RunState, busy: bool) -> Option<Action> {
        let Some(i) = running(state).filter(|_| busy) else {
            return Some(Action::Quit);
        };
        let step = &state.steps[i];
        let warning = if step.watch.is_some() {
            format!(
                "The watch of {} is running. Quitting stops sampling now; when you resume, the gap is measured \
                 from the metrics' history and the watch ends at its original time.",
                step.id
            )
        } else {
            format!(
                "Step {} is running. Quitting stops it; on resume it is in doubt: re-run if it is safe to repeat, \
                 otherwise you will be asked what happened.",
                step.id
            )
        };
        self.dialog = Some(Dialog::Quit { warning });
        None
    }

    fn dialog_key(&mut self, key: &KeyEvent) -> Option<Action> {
        let dialog = self.dialog.as_mut()?;
        let submit = |command: Command| Some(Action::Submit(command));
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
                    // A plain approval has no text: Enter approves, Esc cancels.
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
                            note: (!note.text.trim().is_empty()).then(|| note.text.clone()),
                        });
                    }
                    Edit::Cancel => self.dialog = None,
                    _ => {}
                }
            }
            Dialog::Rollback { reason, .. } => match reason.handle(key) {
                Edit::Submit => {
                    let text = reason.text.trim();
                    let reason = if text.is_empty() {
                        QUICK_ROLLBACK_REASON.to_string()
                    } else {
                        text.to_string()
                    };
                    return submit(Command::Rollback { reason });
                }
                Edit::Cancel => self.dialog = None,
                _ => {}
            },
            Dialog::Skip { step, reason, .. } => match reason.handle(key) {
                Edit::Submit => {
                    return submit(Command::Skip {
                        step: step.clone(),
                        reason: reason.text.trim().to_string(),
                    });
                }
                Edit::Cancel => self.dialog = None,
                _ => {}
            },
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
            Dialog::InDoubt { step, .. } => {
                let resolution = match key.code {
                    KeyCode::Char('s') => Resolution::Succeeded,
                    KeyCode::Char('f') => Resolution::Failed,
                    KeyCode::Char('r') => Resolution::Retry,
                    KeyCode::Esc => {
                        self.dialog = None;
                        return None;
                    }
                    _ => return None,
                };
                return submit(Command::ResolveInDoubt {
                    step: step.clone(),
                    resolution,
                    note: None,
                });
            }
            Dialog::Retry { step, .. } => match key.code {
                KeyCode::Enter | KeyCode::Char('y') => return submit(Command::Retry { step: step.clone() }),
                KeyCode::Char('s') => {
                    let step = step.clone();
                    self.dialog = Some(Dialog::Skip {
                        step,
                        reason: LineInput::default(),
                        error: None,
                    });
                }
                KeyCode::Esc | KeyCode::Char('n') => self.dialog = None,
                _ => {}
            },
            Dialog::Rca { text, .. } => match text.handle(key) {
                Edit::Submit => return submit(Command::AttachRca { text: text.text() }),
                Edit::Cancel => self.dialog = None,
                _ => {}
            },
            Dialog::NewAttempt { .. } => match key.code {
                KeyCode::Enter | KeyCode::Char('y') => return submit(Command::NewAttempt),
                KeyCode::Esc | KeyCode::Char('n') => self.dialog = None,
                _ => {}
            },
            Dialog::Quit { .. } => match key.code {
                KeyCode::Char('y') | KeyCode::Enter => return Some(Action::Quit),
                KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => self.dialog = None,
                _ => {}
            },
        }
        None
    }
}

/// The index of the step that is running, if any.
pub fn running(state: &RunState) -> Option<usize> {
    state.steps.iter().position(|s| s.status == StepStatus::Running)
}
