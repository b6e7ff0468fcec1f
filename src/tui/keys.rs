//! Key bindings are data: one table drives the key handling, the footer and the help.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Up,
    Down,
    PageUp,
    PageDown,
    /// Run or approve: whatever the run needs from the operator now.
    Act,
    Rollback,
    Skip,
    Note,
    SwitchFocus,
    Filter,
    Help,
    /// Start steps although the run's Lease could not be renewed (typed confirmation).
    Force,
    Quit,
}

impl KeyAction {
    /// Whether the key only changes what is shown (or leaves): the keys a read-only
    /// cockpit (`cutover watch`) answers.
    pub fn only_looks(self) -> bool {
        !matches!(
            self,
            KeyAction::Act | KeyAction::Rollback | KeyAction::Skip | KeyAction::Note | KeyAction::Force
        )
    }
}

pub struct Binding {
    pub keys: &'static [KeyCode],
    /// How the footer and help write the keys.
    pub shown: &'static str,
    pub action: KeyAction,
    pub help: &'static str,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[KeyCode::Up, KeyCode::Char('k')],
        shown: "↑/k",
        action: KeyAction::Up,
        help: "the step above, or scroll the log up",
    },
    Binding {
        keys: &[KeyCode::Down, KeyCode::Char('j')],
        shown: "↓/j",
        action: KeyAction::Down,
        help: "the step below, or scroll the log down",
    },
    Binding {
        keys: &[KeyCode::PageUp],
        shown: "PgUp",
        action: KeyAction::PageUp,
        help: "scroll the log a page up",
    },
    Binding {
        keys: &[KeyCode::PageDown],
        shown: "PgDn",
        action: KeyAction::PageDown,
        help: "scroll the log a page down",
    },
    Binding {
        keys: &[KeyCode::Enter],
        shown: "Enter",
        action: KeyAction::Act,
        help: "what the run waits for: approve, retry, resolve, RCA, next attempt (in the log: open the line whole)",
    },
    Binding {
        keys: &[KeyCode::Char('r')],
        shown: "r",
        action: KeyAction::Rollback,
        help: "roll back (Ctrl-R in dialogs too): incident first, then rollback",
    },
    Binding {
        keys: &[KeyCode::Char('s')],
        shown: "s",
        action: KeyAction::Skip,
        help: "skip the current step, with a reason that is kept",
    },
    Binding {
        keys: &[KeyCode::Char('n')],
        shown: "n",
        action: KeyAction::Note,
        help: "a note on the selected step, kept in the journal",
    },
    Binding {
        keys: &[KeyCode::Tab],
        shown: "Tab",
        action: KeyAction::SwitchFocus,
        help: "switch between the steps and the log",
    },
    Binding {
        keys: &[KeyCode::Char('/')],
        shown: "/",
        action: KeyAction::Filter,
        help: "filter the log as you type (Enter keeps it, Esc clears it)",
    },
    Binding {
        keys: &[KeyCode::Char('?')],
        shown: "?",
        action: KeyAction::Help,
        help: "show or hide this help",
    },
    Binding {
        keys: &[KeyCode::Char('F')],
        shown: "F",
        action: KeyAction::Force,
        help: "start steps although the Lease is not renewed (type FORCE)",
    },
    Binding {
        keys: &[KeyCode::Char('q')],
        shown: "q",
        action: KeyAction::Quit,
        help: "quit: nothing is lost; run the same command to resume",
    },
];

/// Chords that work everywhere, in dialogs too.
pub fn chord_for(key: &KeyEvent) -> Option<KeyAction> {
    if !key.modifiers.contains(KeyModifiers::CONTROL) {
        return None;
    }
    match key.code {
        KeyCode::Char('c') => Some(KeyAction::Quit),
        KeyCode::Char('r') => Some(KeyAction::Rollback),
        _ => None,
    }
}

/// The action a key press stands for, outside dialogs. With Ctrl or Alt held, a key is
/// not its plain binding (Ctrl-S is not skip).
pub fn action_for(key: &KeyEvent) -> Option<KeyAction> {
    if let Some(chord) = chord_for(key) {
        return Some(chord);
    }
    if key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) {
        return None;
    }
    BINDINGS.iter().find(|b| b.keys.contains(&key.code)).map(|b| b.action)
}

pub fn binding(action: KeyAction) -> &'static Binding {
    BINDINGS
        .iter()
        .find(|b| b.action == action)
        .expect("every action has a binding")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_means_one_thing() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} is bound twice");
                seen.push(*k);
            }
        }
    }
}
