//! An application's run driven in the background while the fleet view is on screen: the
//! same work as the cockpit's loop (start what is due, take in what effects report, move on
//! when a gate opens) without a screen, so a breach in one application rolls it back while
//! the operator looks at another. Where the run needs the operator (an approval, an
//! in-doubt step) it waits; the fleet view says so, and Enter opens the application's own
//! cockpit with its driver.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::engine::{Command, RunState, RunStatus, Situation, current, situation};
use crate::runner::{Driver, SubmitError};

/// What the fleet view shows of one application's run.
#[derive(Debug, Clone, PartialEq)]
pub struct AppView {
    pub run_id: String,
    pub status: RunStatus,
    pub situation: Situation,
    /// The step the run is at.
    pub step: Option<String>,
    /// Steps done of the run's forward steps (the rollback's are not counted).
    pub steps_done: usize,
    pub steps_total: usize,
    /// The step running now, if one is.
    pub busy_with: Option<String>,
    /// The last problem the driver reported (a journal error, a refusal).
    pub problem: Option<String>,
    /// The run was taken over by another process: it is not driven here any more.
    pub taken_over: bool,
}

impl AppView {
    pub fn of(state: &RunState, busy_with: Option<&str>, now: DateTime<Utc>) -> Self {
        Self {
            run_id: state.run_id.clone(),
            status: state.status.clone(),
            situation: situation(state, now),
            step: current(state).map(|i| state.steps[i].id.clone()),
            steps_done: state.steps[..state.forward_count()]
                .iter()
                .filter(|s| s.status.is_done())
                .count(),
            steps_total: state.forward_count(),
            busy_with: busy_with.map(str::to_string),
            problem: None,
            taken_over: false,
        }
    }
}

/// A run driven in the background. Dropping the handle's sender (`take`) ends the task and
/// hands the driver back.
pub struct Background {
    to_app: mpsc::UnboundedSender<String>,
    pub view: watch::Receiver<AppView>,
    task: JoinHandle<Driver>,
}

impl Background {
    pub fn spawn(driver: Driver) -> Self {
        let (to_app, rx) = mpsc::unbounded_channel();
        let (view_tx, view) = watch::channel(AppView::of(driver.state(), driver.busy_with(), Utc::now()));
        let task = tokio::spawn(drive(driver, rx, view_tx));
        Self { to_app, view, task }
    }

    /// Asks the run to roll back (once it is not rolling back or ended already).
    pub fn roll_back(&self, reason: String) {
        let _ = self.to_app.send(reason);
    }

    /// Stops driving in the background and hands the driver back (to open the
    /// application's cockpit, or to close its session). `None` if the task panicked.
    pub async fn take(self) -> Option<Driver> {
        drop(self.to_app);
        self.task.await.ok()
    }
}

async fn drive(
    mut driver: Driver,
    mut rollbacks: mpsc::UnboundedReceiver<String>,
    view: watch::Sender<AppView>,
) -> Driver {
    let mut problem: Option<String> = None;
    let mut taken_over = false;
    loop {
        let now = Utc::now();
        if !taken_over {
            take(driver.start_due(now), &mut problem, &mut taken_over);
        }
        let mut v = AppView::of(driver.state(), driver.busy_with(), now);
        v.problem.clone_from(&problem);
        v.taken_over = taken_over;
        view.send_if_modified(|old| {
            let changed = *old != v;
            if changed {
                *old = v;
            }
            changed
        });
        let busy = driver.busy_with().is_some();
        let timer = match situation(driver.state(), now) {
            Situation::Gate { until, .. } | Situation::Holding { until } => {
                (until - now).to_std().unwrap_or_default().min(Duration::from_secs(1))
            }
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            msg = driver.recv(), if !taken_over && (busy || driver.listening()) => {
                take(driver.handle(msg, Utc::now()), &mut problem, &mut taken_over);
            }
            reason = rollbacks.recv() => match reason {
                Some(reason) => {
                    let ended = matches!(
                        driver.state().status,
                        RunStatus::RollingBack | RunStatus::RolledBack { .. } | RunStatus::Completed { .. }
                    );
                    if !ended && !taken_over {
                        let by = driver.session.operator.clone();
                        if let Err(e) = driver.command(Command::Rollback { reason }, &by, Utc::now()) {
                            problem = Some(format!("cannot roll back as the fleet asked: {e}"));
                        }
                    }
                }
                // The fleet takes the driver back.
                None => return driver,
            },
            () = tokio::time::sleep(timer) => {}
        }
    }
}

/// What the driver answered: progress clears an earlier problem; another holder ends the
/// driving here.
fn take(
    result: Result<Vec<crate::engine::Recorded>, SubmitError>,
    problem: &mut Option<String>,
    taken_over: &mut bool,
) {
    match result {
        Ok(records) if !records.is_empty() => *problem = None,
        Ok(_) => {}
        Err(e @ SubmitError::TakenOver { .. }) => {
            *taken_over = true;
            *problem = Some(e.to_string());
        }
        Err(e) => *problem = Some(e.to_string()),
    }
}
