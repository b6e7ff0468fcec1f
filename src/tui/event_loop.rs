//! The cockpit's loop. One task owns the driver (and with it the run state) and the
//! terminal; effects run in their own tasks and report by message; keys become engine
//! commands. It redraws only when something changed, at most every `FRAME`, plus once a
//! second for the clocks: idle on a gate, it does almost nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::KeyEvent;
use tokio::time::Instant;

use super::app::{App, Reaction};
use super::view::{self, Ctx};
use crate::engine::{Situation, situation};
use crate::runner::{Driver, SubmitError};

/// The shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Key(KeyEvent),
    /// Pasted text: it goes into a field, never read as commands.
    Paste(String),
    Resize,
    /// SIGTERM or SIGHUP: leave now, cleanly.
    Terminate,
}

/// Where key presses come from: the terminal, or a test.
pub trait Inputs {
    /// The next input, or `None` when there will be no more.
    fn next(&mut self) -> impl std::future::Future<Output = Option<Input>> + Send;
}

/// The time, from the system clock or from a test.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Self(Arc::new(Utc::now))
    }

    pub fn new(f: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The operator quit.
    Quit,
    /// SIGTERM or SIGHUP: the process is asked to end (a fleet's view ends too).
    Terminated,
    /// The inputs ended and nothing was left in progress (tests).
    InputsEnded,
    /// Another process took the run over (its Lease in the cluster): why, in words.
    TakenOver(String),
}

/// Counts for the benchmark and tests: how much work the loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames: u64,
    pub wakeups: u64,
}

pub struct Loop<'a> {
    pub clock: Clock,
    /// The operator's time zone; `None` asks the system at every frame (it can change,
    /// say at a daylight-saving switch during a night window).
    pub local: Option<FixedOffset>,
    pub stats: &'a mut Stats,
    /// When the inputs end: wait for the step in progress (true), or only take in what
    /// it has reported so far and stop (false, for pictures of a running step).
    pub settle: bool,
}

impl Loop<'_> {
    pub async fn run<B: Backend, I: Inputs>(
        &mut self,
        terminal: &mut Terminal<B>,
        driver: &mut Driver,
        app: &mut App,
        inputs: &mut I,
    ) -> Result<Stop, B::Error> {
        let mut dirty = true;
        let mut last_frame: Option<Instant> = None;
        let mut inputs_open = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let now = self.clock.now();
            let started = driver.start_due(now);
            if let Err(e @ SubmitError::TakenOver { .. }) = &started {
                return Ok(Stop::TakenOver(e.to_string()));
            }
            dirty |= take_in(app, driver, started);
            let busy = driver.busy_with().is_some();
            if dirty && last_frame.is_none_or(|t| t.elapsed() >= FRAME) {
                self.draw(terminal, driver, app, now, busy)?;
                dirty = false;
                last_frame = Some(Instant::now());
            }
            if !inputs_open && (!busy || !self.settle) {
                while let Some(msg) = driver.try_recv() {
                    let handled = driver.handle(msg, self.clock.now());
                    dirty |= take_in(app, driver, handled);
                }
                if dirty {
                    let busy = driver.busy_with().is_some();
                    self.draw(terminal, driver, app, self.clock.now(), busy)?;
                }
                return Ok(Stop::InputsEnded);
            }
            // Wake when a gate or the hold ends, so the run moves on at that moment.
            let gate = match situation(driver.state(), now) {
                Situation::Gate { until, .. } | Situation::Holding { until } => (until - now).to_std().ok(),
                _ => None,
            };
            let frame_due = last_frame.map_or(Duration::ZERO, |t| FRAME.saturating_sub(t.elapsed()));
            self.stats.wakeups += 1;
            tokio::select! {
                msg = driver.recv(), if busy || driver.listening() => {
                    let handled = driver.handle(msg, self.clock.now());
                    if let Err(e @ SubmitError::TakenOver { .. }) = &handled {
                        return Ok(Stop::TakenOver(e.to_string()));
                    }
                    take_in(app, driver, handled);
                    dirty = true;
                }
                input = inputs.next(), if inputs_open => {
                    match input {
                        Some(Input::Key(key)) => {
                            let now = self.clock.now();
                            match app.on_key(&key, driver.state(), now, busy) {
                                Some(Reaction::Quit) => {
                                    self.draw(terminal, driver, app, now, busy)?;
                                    return Ok(Stop::Quit);
                                }
                                Some(Reaction::ForceWithoutLease) => {
                                    let by = driver.session.operator.clone();
                                    match driver.force_without_lease(&by, now) {
                                        Ok(records) => {
                                            app.on_submitted();
                                            app.on_records(&records, driver.state());
                                        }
                                        Err(e) => app.on_problem(e.to_string()),
                                    }
                                }
                                Some(Reaction::Submit(command)) => {
                                    let by = driver.session.operator.clone();
                                    match driver.command(command, &by, now) {
                                        Ok(records) => {
                                            app.on_submitted();
                                            app.on_records(&records, driver.state());
                                        }
                                        Err(SubmitError::Refused(r)) => app.on_refused(r.message),
                                        Err(e @ SubmitError::TakenOver { .. }) => {
                                            return Ok(Stop::TakenOver(e.to_string()));
                                        }
                                        Err(SubmitError::Journal(e)) => app.on_problem(e.to_string()),
                                    }
                                }
                                None => {}
                            }
                        }
                                                Some(Input::Paste(text)) => app.on_paste(&text),
                        Some(Input::Terminate) => {
                            self.draw(terminal, driver, app, self.clock.now(), busy)?;
                            return Ok(Stop::Terminated);
                        }
                        Some(Input::Resize) => {
                            terminal.autoresize()?;
                        }
                        None => {
                            inputs_open = false;
                            continue;
                        }
                    }
                    dirty = true;
                }
                _ = tick.tick() => dirty = true,
                () = tokio::time::sleep(frame_due), if dirty => {}
                () = tokio::time::sleep(gate.unwrap_or(Duration::MAX)), if gate.is_some() => {}
            }
        }
    }

    fn draw<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        driver: &Driver,
        app: &mut App,
        now: DateTime<Utc>,
        busy: bool,
    ) -> Result<(), B::Error> {
        app.cluster = driver.cluster().map(|status| crate::tui::app::ClusterLine {
            status,
            lease_wait: driver.lease_wait().map(str::to_string),
        });
        let ctx = Ctx {
            state: driver.state(),
            app,
            now,
            local: self.local.unwrap_or_else(|| *chrono::Local::now().offset()),
            busy,
        };
        draw(terminal, self.stats, &ctx)
    }
}

/// One frame of the cockpit, counted: the driver's loop and the watcher's draw through here.
pub(super) fn draw<B: Backend>(terminal: &mut Terminal<B>, stats: &mut Stats, ctx: &Ctx<'_>) -> Result<(), B::Error> {
    stats.frames += 1;
    terminal.draw(|frame| view::render(frame, ctx))?;
    Ok(())
}

/// Records that did not come from a key go into the app; a failure is a problem to show,
/// not an answer to the operator. Returns whether anything changed.
fn take_in(app: &mut App, driver: &Driver, result: Result<Vec<crate::engine::Recorded>, SubmitError>) -> bool {
    match result {
        Ok(records) if records.is_empty() => false,
        Ok(records) => {
            app.on_records(&records, driver.state());
            true
        }
        Err(e) => {
            app.on_problem(e.to_string());
            true
        }
    }
}
