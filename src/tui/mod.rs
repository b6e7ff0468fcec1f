//! The terminal interface: a calm cockpit for the cutover window. `run` takes over the
//! terminal (restored on exit and on panic), shows the run, and turns keys into
//! decisions recorded in the journal.

pub mod app;
pub mod event_loop;
pub mod input;
pub mod keys;
pub mod log;
pub mod theme;
pub mod view;

use futures_util::StreamExt;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream, KeyEventKind};

pub use event_loop::{Clock, FRAME, Input, Inputs, Loop, Stats, Stop};

use crate::engine::{Situation, situation};
use crate::runner::Driver;
use crate::runner::headless::Exit;

/// Records loaded into the log pane when the cockpit opens.
pub const HISTORY: usize = 2_000;

/// Key presses and resizes from the terminal.
pub struct TerminalInputs {
    events: EventStream,
}

impl Inputs for TerminalInputs {
    async fn next(&mut self) -> Option<Input> {
        loop {
            match self.events.next().await? {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => return Some(Input::Key(key)),
                Ok(Event::Resize(..)) => return Some(Input::Resize),
                Ok(Event::Paste(text)) => return Some(Input::Paste(text)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// Puts the terminal back however the cockpit ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = ratatui::crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

/// The exit code for where the run stands when the operator leaves the cockpit.
pub fn exit_for(situation: &Situation) -> Exit {
    match situation {
        Situation::Completed => Exit::Completed,
        Situation::RolledBack { .. } => Exit::RolledBack,
        Situation::Failed { .. } => Exit::Error,
        _ => Exit::Waiting,
    }
}

/// Runs the cockpit on this terminal until the operator quits.
pub async fn run(driver: &mut Driver) -> anyhow::Result<Exit> {
    let history = driver.session.journal().tail(HISTORY)?;
    let mut app = app::App::new(theme::Theme::from_env(), driver.state(), &history);
    // try_init also installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init()?;
    let restore = Restore;
    // Pasted text arrives as one piece, so a pasted hostname is never taken for keys.
    ratatui::crossterm::execute!(std::io::stdout(), EnableBracketedPaste)?;
    let mut inputs = TerminalInputs {
        events: EventStream::new(),
    };
    let local = *chrono::Local::now().offset();
    let mut stats = Stats::default();
    let mut looper = Loop {
        clock: Clock::system(),
        local,
        stats: &mut stats,
        settle: true,
    };
    let stop = looper.run(&mut terminal, driver, &mut app, &mut inputs).await;
    drop(restore);
    stop?;
    let exit = exit_for(&situation(driver.state(), chrono::Utc::now()));
    let reason = "the operator left the cockpit";
    driver.shutdown(reason).await?;
    Ok(exit)
}
