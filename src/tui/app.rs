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

pub use super::dialogs::Dialog;
use super::dialogs::{
    Approve, EndDrain, ForceLease, InDoubt, Kept, NewAttempt, Next, Note, Quit, Rca, Retry, Rollback, Skip,
};
use super::input::{Edit, LineInput, TextArea};
use super::keys::{KeyAction, action_for, chord_for};
use super::log::LogView;
use super::theme::Theme;
use crate::engine::{Command, Recorded, RunState, RunStatus, Situation, StepState, StepStatus, current, situation};
use crate::journal::Holder;
use crate::runbook::{Action as StepAction, Approval};
use crate::words::{situation_words, status_mark};

/// How long a dialog ignores the keys that confirm after it opens or asks its next question.
pub const CONFIRM_GUARD: Duration = Duration::from_millis(300);

/// How long the selection stays where the operator put it before following the run again.
const PINNED_FOR: Duration = Duration::from_secs(15);

/// The furthest the help scrolls (it has fewer lines than this).
const HELP_SCROLL_MAX: u16 = 40;

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
    /// Start steps although the run's Lease could not be renewed (typed FORCE).
    ForceWithoutLease,
    Quit,
}

/// The run's state in the cluster, as the header shows it (`[state] backend = "kubernetes"`).
#[derive(Debug, Clone)]
pub struct ClusterLine {
    pub status: crate::cluster::keeper::Status,
    /// Why the next step waits for the Lease, while it does.
    pub lease_wait: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

/// Watching a run that another process drives (`cutover watch`): the keys that only look
/// work; those that would act say who can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOnly {
    /// Who holds the run, as last seen (`None`: nobody).
    pub holder: Option<Holder>,
    /// When someone was last seen holding it.
    pub last_seen: Option<DateTime<Utc>>,
}

impl ReadOnly {
    /// A holder seen (or nobody) now.
    pub fn saw(&mut self, holder: Option<Holder>, now: DateTime<Utc>) {
        if holder.is_some() {
            self.last_seen = Some(now);
        }
        self.holder = holder;
    }

    /// Who drives the run, for the header: "alice@ops-1 (pid 4242) drives", "nobody holds
    /// the run now (last seen 22:03:10 UTC)", "the run ended: completed".
    pub fn driver_words(&self, state: &RunState) -> String {
        match (&self.holder, &state.status) {
            (Some(h), _) => format!("{}@{} (pid {}) drives", h.operator, h.host, h.pid),
            (None, RunStatus::Completed { .. }) => "the run ended: completed".to_string(),
            (None, _) => {
                let seen = self.last_seen.unwrap_or(state.updated_at);
                format!("nobody holds the run now (last seen {} UTC)", seen.format("%H:%M:%S"))
            }
        }
    }

    /// The answer to a key that would act.
    pub fn refusal(&self, state: &RunState) -> String {
        match (&self.holder, &state.status) {
            (Some(h), _) => format!(
                "read-only: {}@{} (pid {}) drives — act in their terminal",
                h.operator, h.host, h.pid
            ),
            (None, RunStatus::Completed { .. }) => "read-only: the run ended: completed".to_string(),
            (None, _) => format!(
                "read-only: nobody holds the run now — `cutover resume {}` to act",
                state.run_id
            ),
        }
    }
}

pub struct App {
    pub theme: Theme,
    /// Set when watching a run another process drives: nothing here can change it.
    pub read_only: Option<ReadOnly>,
    /// Opened from a fleet's view: `q` goes back there and stops nothing (the run goes on
    /// in the background), so it asks nothing either.
    pub in_fleet: bool,
    /// With the run's state in the cluster: the Lease and the replication.
    pub cluster: Option<ClusterLine>,
    /// Index into the run's steps.
    pub selected: usize,
    pub focus: Focus,
    pub dialog: Option<Dialog>,
    pub help: bool,
    /// Lines the help is scrolled down (it scrolls when the terminal is small).
    pub help_scroll: u16,
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

/// Whether the run has an ending to show on the row after its steps: the incident panel
/// (rolling back, rolled back) or the end card (holding, completed).
pub fn has_ending(state: &RunState) -> bool {
    match state.status {
        RunStatus::Active => false,
        // During the hold, steps after it (decommissioning) still run: an ending only
        // once nothing is left but the wait.
        RunStatus::Holding { .. } => current(state).is_none(),
        _ => true,
    }
}

/// The last row the selection can reach: the ending's, when there is one.
pub fn last_row(state: &RunState) -> usize {
    if has_ending(state) {
        state.steps.len()
    } else {
        state.steps.len().saturating_sub(1)
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

/// The character a key types, when it is the first of the text a confirmation waits for.
fn starts_confirmation(key: &KeyEvent, state: &RunState, now: DateTime<Utc>) -> Option<char> {
    let c = printable(key)?;
    match situation(state, now) {
        Situation::Approval {
            approval: Approval::Type(text),
            ..
        } if text.starts_with(c) => Some(c),
        _ => None,
    }
}

impl App {
    pub fn new(theme: Theme, state: &RunState, history: &[Recorded]) -> Self {
        let mut app = Self {
            theme,
            read_only: None,
            in_fleet: false,
            cluster: None,
            selected: 0,
            focus: Focus::Steps,
            dialog: None,
            help: false,
            help_scroll: 0,
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
        // Once the run rolls back or is done, how it ended is what matters most.
        let at = if has_ending(state) {
            Some(state.steps.len())
        } else {
            running(state).or_else(|| current(state))
        };
        let pinned = self.moved_at.is_some_and(|t| t.elapsed() < PINNED_FOR);
        if at != self.followed {
            self.followed = at;
            if let (Some(i), false) = (at, pinned) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(last_row(state));
    }

    /// Warnings from before the cockpit opened: into the log, and said in the footer
    /// until the first key.
    pub fn notices(&mut self, notices: &[String]) {
        if notices.is_empty() {
            return;
        }
        for n in notices {
            self.log.push_notice(format!("⚠ {n}"));
        }
        let what = if notices.len() == 1 {
            notices[0].clone()
        } else {
            format!("{} warnings about the runbook: see the log (Tab)", notices.len())
        };
        self.flash = Some(Flash {
            text: what,
            error: true,
        });
    }

    /// Pasted text goes into the field being edited, if any; it is never read as keys.
    pub fn on_paste(&mut self, text: &str) {
        let clean: String = text.chars().filter(|c| !c.is_control() || *c == '\n').collect();
        let taken = match &mut self.dialog {
            Some(dialog) => dialog.paste(
                &clean,
                &mut Kept {
                    rca_draft: &mut self.rca_draft,
                },
            ),
            None => match self.log.editing.as_mut() {
                Some(input) => {
                    input.insert(clean.lines().next().unwrap_or(""));
                    true
                }
                None => false,
            },
        };
        if !taken {
            self.flash_error("pasted text ignored: there is no field to paste into".to_string());
        }
    }

    /// A command was recorded: its dialog is done.
    pub fn on_submitted(&mut self) {
        if let Some(Dialog::Rca(_)) = self.dialog {
            self.rca_draft = TextArea::default();
        }
        self.dialog = None;
    }

    /// The operator's command was refused: say why where they are looking.
    pub fn on_refused(&mut self, message: String) {
        match &mut self.dialog {
            Some(d) => d.refused(message),
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
        if self.read_only.is_some() {
            return self.read_only_key(key, state, now);
        }
        if let Some(chord) = chord_for(key) {
            return match (chord, &self.dialog) {
                (KeyAction::Rollback, Some(Dialog::Rollback(_))) => None,
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
        if self.help_or_filter_key(key) {
            return None;
        }
        // Typing the text a confirmation waits for starts that confirmation.
        if let Some(c) = starts_confirmation(key, state, now) {
            self.act(state, now);
            if let Some(Dialog::Approve(approve)) = &mut self.dialog {
                approve.typed.insert(&c.to_string());
            }
            return None;
        }
        match action_for(key)? {
            // In the log, Enter opens the line under the cursor whole.
            KeyAction::Act if self.focus == Focus::Log => self.log.open(),
            KeyAction::Act => self.act(state, now),
            KeyAction::Rollback => self.rollback(state, now),
            KeyAction::Skip => self.skip(state, now),
            KeyAction::Note => {
                if let Some(step) = state.steps.get(self.selected) {
                    self.open(Dialog::Note(Note::new(step.id.clone())), state, now);
                }
            }
            KeyAction::Quit => return self.quit(state, busy, now),
            KeyAction::Force => {
                if self.cluster.as_ref().is_some_and(|c| c.lease_wait.is_some()) {
                    self.open(Dialog::ForceLease(ForceLease::default()), state, now);
                } else {
                    self.flash_error(
                        "F forces steps to start while the run's Lease cannot be renewed; nothing waits for it now"
                            .to_string(),
                    );
                }
            }
            looking => self.look(looking, state),
        }
        None
    }

    /// A key while watching: those that look work, q and Ctrl-C leave at once (nothing
    /// runs here), and those that would act say who can.
    fn read_only_key(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>) -> Option<Reaction> {
        if chord_for(key) == Some(KeyAction::Quit) {
            return Some(Reaction::Quit);
        }
        if self.help_or_filter_key(key) {
            return None;
        }
        let action = action_for(key);
        if action == Some(KeyAction::Act) && self.focus == Focus::Log {
            self.log.open();
            return None;
        }
        let acts = action.is_some_and(|a| !a.only_looks()) || starts_confirmation(key, state, now).is_some();
        if acts {
            let refusal = self.read_only.as_ref().map(|r| r.refusal(state)).unwrap_or_default();
            self.flash_error(refusal);
            return None;
        }
        match action? {
            KeyAction::Quit => Some(Reaction::Quit),
            looking => {
                self.look(looking, state);
                None
            }
        }
    }

    /// Scrolls or closes the help, closes a log line shown whole, or edits the log's filter
    /// while it is being typed. Returns whether the key went there.
    fn help_or_filter_key(&mut self, key: &KeyEvent) -> bool {
        if self.help {
            // The help scrolls on a small screen; any other key closes it.
            match action_for(key) {
                Some(KeyAction::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                Some(KeyAction::Down) => self.help_scroll = (self.help_scroll + 1).min(HELP_SCROLL_MAX),
                Some(KeyAction::PageUp) => self.help_scroll = self.help_scroll.saturating_sub(PAGE as u16),
                Some(KeyAction::PageDown) => self.help_scroll = (self.help_scroll + PAGE as u16).min(HELP_SCROLL_MAX),
                _ => self.help = false,
            }
            return true;
        }
        if self.log.opened.is_some() {
            self.log.opened = None;
            return true;
        }
        if let Some(filter) = &mut self.log.editing {
            match filter.handle(key) {
                Edit::Submit => self.log.apply_filter(),
                Edit::Cancel => self.log.clear_filter(),
                Edit::Changed => self.log.filter_as_typed(),
                Edit::Ignored => {}
            }
            return true;
        }
        false
    }

    /// The keys that only change what is shown: selection, scrolling, focus, filter, help.
    fn look(&mut self, action: KeyAction, state: &RunState) {
        match action {
            KeyAction::Up => match self.focus {
                Focus::Steps => {
                    self.selected = self.selected.saturating_sub(1);
                    self.moved_at = Some(Instant::now());
                }
                Focus::Log => self.log.scroll_up(1),
            },
            KeyAction::Down => match self.focus {
                Focus::Steps => {
                    self.selected = (self.selected + 1).min(last_row(state));
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
            KeyAction::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            KeyAction::Act
            | KeyAction::Rollback
            | KeyAction::Skip
            | KeyAction::Note
            | KeyAction::Force
            | KeyAction::Quit => {}
        }
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
                Dialog::Approve(Approve::new(step, approval, checklist, note_required))
            }
            Situation::Failed { step, .. } => Dialog::Retry(Retry::new(step)),
            Situation::InDoubt { step } => Dialog::InDoubt(InDoubt::new(step)),
            Situation::Gate {
                step,
                until,
                gate: crate::engine::TimeGate::Drain { .. },
            } => Dialog::EndDrain(EndDrain::new(step, until)),
            Situation::RolledBack { rca_attached: false } => {
                // It opens with the facts of this rollback; a draft already begun is kept.
                let template = super::view::ending::rca_template(state);
                if self.rca_draft.text().trim().is_empty() {
                    self.rca_draft = TextArea::with_lines(&template);
                }
                Dialog::Rca(Rca { error: None, template })
            }
            Situation::RolledBack { rca_attached: true } => Dialog::NewAttempt(NewAttempt::new(state.attempt + 1)),
            other => {
                self.say(format!("nothing to do now: {}", situation_words(&other, now)));
                return;
            }
        };
        self.open(dialog, state, now);
    }

    fn rollback(&mut self, state: &RunState, now: DateTime<Utc>) {
        if can_roll_back(state) {
            self.open(Dialog::Rollback(Rollback::default()), state, now);
        } else {
            self.say(format!("nothing to roll back: the run is {}", state.status.word()));
        }
    }

    fn skip(&mut self, state: &RunState, now: DateTime<Utc>) {
        match skippable(state) {
            Some(s) => {
                self.open(Dialog::Skip(Skip::new(s.id.clone())), state, now);
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
        if busy && running(state).is_some() && !self.in_fleet {
            self.open(Dialog::Quit(Quit), state, now);
            return None;
        }
        Some(Reaction::Quit)
    }

    /// A key in a dialog. The guard against doubled keys is here, for every dialog: a key
    /// that would answer is ignored while the question is new, and a dialog that moves on
    /// to its next question (a typed reason to confirm, the note after the hostname) asks
    /// it anew.
    fn dialog_key(&mut self, key: &KeyEvent, state: &RunState, now: DateTime<Utc>) -> Option<Reaction> {
        let confirms = self.dialog.as_mut()?.confirms(key);
        if confirms && self.just_asked(now) {
            return None;
        }
        let dialog = self.dialog.as_mut()?;
        let question = dialog.question();
        let kept = &mut Kept {
            rca_draft: &mut self.rca_draft,
        };
        let reaction = match dialog.on_key(key, kept) {
            Next::Stay => None,
            Next::Close => {
                self.dialog = None;
                None
            }
            Next::Open(next) => {
                self.dialog = None;
                self.open(next, state, now);
                None
            }
            Next::Done(reaction) => Some(reaction),
        };
        if self.dialog.as_ref().is_some_and(|d| d.question() != question) {
            self.asked_at = Some(now);
        }
        reaction
    }
}
