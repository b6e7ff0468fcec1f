//! The read-only cockpit (`cutover watch RUN_ID`): the same views, fed by a run that
//! another process on this machine drives. The state is rebuilt from the run's event log
//! (`journal::Follower`), polled every `POLL`, which reads only when the log grew; who holds
//! the run is looked at once a second, without taking its lock. Keys only look (see
//! `App::read_only`). Like the driver's loop, it redraws only when something changed, at
//! most every `FRAME`, plus once a second for the clocks.

use std::time::Duration;

use chrono::FixedOffset;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::time::{Instant, MissedTickBehavior};

use super::app::{App, Reaction, ReadOnly};
use super::event_loop::{Clock, FRAME, Input, Inputs, Stats, Stop, draw};
use super::view::Ctx;
use crate::engine::{Recorded, RunState, StepStatus};
use crate::journal::{FollowError, Follower};

/// How often the event log is looked at: a new event shows within this (plus a frame).
pub const POLL: Duration = Duration::from_millis(200);

/// A run as its event log tells it so far.
pub struct Watched {
    pub follower: Follower,
    pub state: RunState,
}

/// Why a run cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Follow(#[from] FollowError),
    #[error(
        "run {0} has no event log to follow: its journal is from an older cutover. `cutover status {0}` shows where it stands; its next session gives it one"
    )]
    NoLog(String),
    #[error("the event log of run {0} does not begin with the start of a run")]
    NoStart(String),
}

impl Watched {
    /// Reads everything the run's log holds now: the state, and the records themselves
    /// (for the log pane).
    pub fn open(mut follower: Follower) -> Result<(Self, Vec<Recorded>), WatchError> {
        let records = follower.poll()?;
        if records.is_empty() {
            return Err(WatchError::NoLog(follower.run_id().to_string()));
        }
        let state = RunState::replay(&records).ok_or_else(|| WatchError::NoStart(follower.run_id().to_string()))?;
        Ok((Self { follower, state }, records))
    }

    /// Takes in what was recorded since the last look. Returns whether anything changed.
    fn take_in(&mut self, app: &mut App) -> bool {
        match self.follower.poll() {
            Ok(records) if records.is_empty() => false,
            Ok(records) => {
                for r in &records {
                    self.state.apply(r);
                }
                app.on_records(&records, &self.state);
                true
            }
            Err(e) => {
                let text = e.to_string();
                let new = app.alert.as_deref() != Some(text.as_str());
                app.on_problem(text);
                new
            }
        }
    }

    /// Looks at who holds the run. Returns whether that changed.
    fn look_at_holder(&self, app: &mut App, clock: &Clock) -> bool {
        let holder = self.follower.holder();
        let read_only = app.read_only.get_or_insert_with(ReadOnly::default);
        let changed = read_only.holder != holder;
        read_only.saw(holder, clock.now());
        changed
    }
}

pub struct WatchLoop<'a> {
    pub clock: Clock,
    /// The operator's time zone; `None` asks the system at every frame.
    pub local: Option<FixedOffset>,
    pub stats: &'a mut Stats,
}

impl WatchLoop<'_> {
    /// Follows the run until the operator quits (or the inputs end: one last look, one
    /// last frame). `app` is made read-only here.
    pub async fn run<B: Backend, I: Inputs>(
        &mut self,
        terminal: &mut Terminal<B>,
        watched: &mut Watched,
        app: &mut App,
        inputs: &mut I,
    ) -> Result<Stop, B::Error> {
        app.read_only.get_or_insert_with(ReadOnly::default);
        watched.look_at_holder(app, &self.clock);
        let mut dirty = true;
        let mut last_frame: Option<Instant> = None;
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            if dirty && last_frame.is_none_or(|t| t.elapsed() >= FRAME) {
                self.draw(terminal, watched, app)?;
                dirty = false;
                last_frame = Some(Instant::now());
            }
            let frame_due = last_frame.map_or(Duration::ZERO, |t| FRAME.saturating_sub(t.elapsed()));
            self.stats.wakeups += 1;
            tokio::select! {
                input = inputs.next() => match input {
                    Some(Input::Key(key)) => {
                        let now = self.clock.now();
                        if let Some(Reaction::Quit) = app.on_key(&key, &watched.state, now, false) {
                            self.draw(terminal, watched, app)?;
                            return Ok(Stop::Quit);
                        }
                        dirty = true;
                    }
                    Some(Input::Paste(text)) => {
                        app.on_paste(&text);
                        dirty = true;
                    }
                    Some(Input::Resize) => {
                        terminal.autoresize()?;
                        dirty = true;
                    }
                    Some(Input::Terminate) => {
                        self.draw(terminal, watched, app)?;
                        return Ok(Stop::Quit);
                    }
                    None => {
                        watched.take_in(app);
                        watched.look_at_holder(app, &self.clock);
                        self.draw(terminal, watched, app)?;
                        return Ok(Stop::InputsEnded);
                    }
                },
                _ = poll.tick() => dirty |= watched.take_in(app),
                _ = tick.tick() => {
                    watched.look_at_holder(app, &self.clock);
                    dirty = true;
                }
                () = tokio::time::sleep(frame_due), if dirty => {}
            }
        }
    }

    fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>, watched: &Watched, app: &App) -> Result<(), B::Error> {
        let ctx = Ctx {
            state: &watched.state,
            app,
            now: self.clock.now(),
            local: self.local.unwrap_or_else(|| *chrono::Local::now().offset()),
            // A step runs (in the driver's process).
            busy: watched.state.steps.iter().any(|s| s.status == StepStatus::Running),
        };
        draw(terminal, self.stats, &ctx)
    }
}
