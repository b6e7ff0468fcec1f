//! The terminal interface: a calm cockpit for the cutover window. `run` takes over the
//! terminal (restored on every way out: quit, error, signal, panic), shows the run, and
//! turns keys into decisions recorded in the journal.

pub mod app;
pub mod dialogs;
pub mod event_loop;
pub mod fleet;
pub mod input;
pub mod keys;
pub mod log;
pub mod theme;
pub mod view;
pub mod watcher;

use std::io::{Stdout, stdout};
use std::sync::OnceLock;
use std::thread::ThreadId;

use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste, Event, EventStream, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use tokio::signal::unix::{Signal, SignalKind, signal};

pub use event_loop::{Clock, FRAME, Input, Inputs, Loop, Stats, Stop};

use crate::engine::{Situation, situation};
use crate::runner::Driver;
use crate::runner::Exit;

/// Records loaded into the log pane when the cockpit opens.
pub const HISTORY: usize = 2_000;

/// Key presses, pastes and resizes from the terminal, and the signals that end a session.
pub struct TerminalInputs {
    events: EventStream,
    term: Option<Signal>,
    hangup: Option<Signal>,
}

async fn next_signal(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl Inputs for TerminalInputs {
    async fn next(&mut self) -> Option<Input> {
        loop {
            tokio::select! {
                () = next_signal(&mut self.term) => return Some(Input::Terminate),
                () = next_signal(&mut self.hangup) => return Some(Input::Terminate),
                event = self.events.next() => match event? {
                    Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => return Some(Input::Key(key)),
                    Ok(Event::Paste(text)) => return Some(Input::Paste(text)),
                    Ok(Event::Resize(..)) => return Some(Input::Resize),
                    Ok(_) => continue,
                    Err(_) => return None,
                },
            }
        }
    }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// The thread that owns the terminal: only a panic there tears the cockpit down.
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// A panic on the UI thread restores the terminal before the message is printed. A panic
/// in an effect's task is turned into that step's failure (see the runner) and must not
/// restore the terminal under a cockpit that goes on drawing, nor print over it.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if UI_THREAD.get() == Some(&std::thread::current().id()) {
            restore_terminal();
            previous(info);
        } else {
            tracing::error!("a task panicked: {info}");
        }
    }));
}

/// Puts the terminal back however `run` ends.
/// Puts the terminal back when dropped.
pub struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The exit code for where the run stands when the operator leaves the cockpit.
pub fn exit_for(situation: &Situation) -> Exit {
    match situation {
        Situation::Completed => Exit::Completed,
        Situation::RolledBack { .. } => Exit::RolledBack,
        _ => Exit::Waiting,
    }
}

/// What the operator reads on the terminal after leaving the cockpit: where the run
/// stopped and the exact command that goes on from there.
pub fn farewell(state: &crate::engine::RunState, now: chrono::DateTime<chrono::Utc>) -> String {
    let id = &state.run_id;
    let demo = state.rehearsal.as_ref().is_some_and(|r| r.demo);
    let export = view::ending::export_command(state);
    // A dry run's journal is removed when it ends: nothing to go on with.
    if state.dry_run {
        return format!("Dry run {id} ended: nothing was changed.\n");
    }
    match situation(state, now) {
        Situation::Completed if demo => format!("Run {id} completed.\n"),
        Situation::Completed => format!("Run {id} completed.\n  post-mortem: {export}\n"),
        Situation::RolledBack { rca_attached } => {
            if demo {
                return format!("Run {id} rolled back.\n");
            }
            let next = if rca_attached {
                format!("  next attempt: cutover resume {id}\n")
            } else {
                format!(
                    "  root-cause analysis: cutover rca {id} --file rca.md   (or write it in the cockpit: cutover resume {id})\n"
                )
            };
            format!("Run {id} rolled back.\n{next}  post-mortem: {export}\n")
        }
        other => {
            let at = crate::engine::current(state)
                .map(|i| {
                    let forward = state.forward_count();
                    if i < forward {
                        format!("step {}/{forward} ({})", i + 1, state.steps[i].id)
                    } else {
                        format!("rollback step {} ({})", i - forward + 1, state.steps[i].id)
                    }
                })
                .unwrap_or_else(|| "the end of its steps".to_string());
            // A demo says itself what comes next (it cannot be resumed).
            let resume = if demo {
                String::new()
            } else {
                format!("  the run is saved; continue with: cutover resume {id}\n")
            };
            format!(
                "Left run {id} at {at}: {}.\n{resume}",
                crate::words::situation_words(&other, now)
            )
        }
    }
}

/// The terminal, taken over: raw mode, the alternate screen, bracketed paste. Put back as
/// it was when the `Restore` goes (and by the panic hook).
pub fn take_terminal() -> anyhow::Result<(Terminal<CrosstermBackend<Stdout>>, TerminalInputs, Restore)> {
    let _ = UI_THREAD.set(std::thread::current().id());
    install_panic_hook();
    enable_raw_mode()?;
    let restore = Restore;
    // Pasted text arrives as one piece, so a pasted hostname is never taken for keys.
    execute!(stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
    let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    let inputs = TerminalInputs {
        events: EventStream::new(),
        term: signal(SignalKind::terminate()).ok(),
        hangup: signal(SignalKind::hangup()).ok(),
    };
    Ok((terminal, inputs, restore))
}

/// Follows a run another process drives, read-only, until the operator quits.
pub async fn watch(run_dir: &std::path::Path, run_id: &str) -> anyhow::Result<()> {
    let (mut watched, records) = watcher::Watched::open(crate::journal::Follower::open(run_dir, run_id))?;
    let history = &records[records.len().saturating_sub(HISTORY)..];
    let mut app = app::App::new(theme::Theme::from_env(), &watched.state, history);
    app.read_only = Some(app::ReadOnly::default());
    let (mut terminal, mut inputs, restore) = take_terminal()?;
    let mut stats = Stats::default();
    let mut looper = watcher::WatchLoop {
        clock: Clock::system(),
        local: None,
        stats: &mut stats,
    };
    let stopped = looper.run(&mut terminal, &mut watched, &mut app, &mut inputs).await;
    drop(restore);
    stopped?;
    Ok(())
}

/// Runs the cockpit on this terminal until the operator quits (or a signal ends it).
/// `notices` (the runbook's warnings, printed before the cockpit covered the terminal)
/// are shown again inside it.
pub async fn run(driver: &mut Driver, notices: Vec<String>) -> anyhow::Result<Exit> {
    let history = driver.session.journal().tail(HISTORY)?;
    let mut app = app::App::new(theme::Theme::from_env(), driver.state(), &history);
    app.notices(&notices);
    let (mut terminal, mut inputs, restore) = take_terminal()?;
    let mut stats = Stats::default();
    let mut looper = Loop {
        clock: Clock::system(),
        local: None,
        stats: &mut stats,
        settle: true,
    };
    let stopped = looper.run(&mut terminal, driver, &mut app, &mut inputs).await;
    drop(restore);
    // The session is closed however the loop ended.
    let exit = exit_for(&situation(driver.state(), chrono::Utc::now()));
    let reason = match &stopped {
        Ok(Stop::TakenOver(why)) => why.clone(),
        Ok(_) => "the operator left the cockpit".to_string(),
        Err(e) => format!("the cockpit stopped: {e}"),
    };
    let closed = driver.shutdown(&reason).await;
    if let Ok(Stop::TakenOver(why)) = stopped {
        anyhow::bail!(why);
    }
    stopped?;
    closed?;
    let text = farewell(driver.state(), chrono::Utc::now());
    eprint!(
        "{}",
        crate::terminal_text::for_terminal(&text, crate::terminal_text::Lines::Many)
    );
    Ok(exit)
}
