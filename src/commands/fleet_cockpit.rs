//! The fleet in the cockpit: the fleet view on screen while every started application's
//! run is driven in the background; waves start as the ones before pass; Enter opens an
//! application's own cockpit (with its driver), `q` there comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Env;
use super::fleet::{Standing, open_app, standing_before};
use crate::cli::RunArgs;
use crate::engine::{Mode, Rehearsal, RunStatus};
use crate::fleet::{Background, Fleet, OnRollback};
use crate::journal::FleetRecord;
use crate::runbook::Loaded;
use crate::runner::Exit;
use crate::terminal_text::{Lines, for_terminal};
use crate::tui::fleet::{FleetRow, FleetScreen, render};
use crate::tui::{Clock, HISTORY, Input, Inputs, Loop, Stats, Stop, app::App, theme::Theme};

/// How long a new question ignores keys (one pressed as it appeared was for something else).
const QUESTION_SETTLES: Duration = Duration::from_millis(400);

/// Where one application is in this session.
enum Slot {
    /// Its wave has not come, or the fleet stopped before it: with why.
    Idle(String),
    /// Its run is driven here, in the background.
    Going(Background),
    /// Nothing to drive: passed before, rolled back before, or it could not be opened.
    Settled(Standing),
}

/// What a `y` or `n` answers.
enum Question {
    RollBackOthers { reason: String, others: Vec<String> },
    Leave,
}

pub(super) struct FleetCockpit<'a> {
    pub env: &'a Env,
    pub args: &'a RunArgs,
    pub mode: Mode,
    pub fleet: &'a Fleet,
    pub loaded: BTreeMap<String, Loaded>,
    pub rehearsals: BTreeMap<String, Rehearsal>,
    pub record: FleetRecord,
    slots: BTreeMap<String, Slot>,
    /// The fleet stopped starting applications: why.
    stopped: Option<String>,
    /// Rollbacks already answered for.
    answered: BTreeSet<String>,
    question: Option<Question>,
    /// Questions that came while another was on screen.
    later: std::collections::VecDeque<Question>,
    /// When the question on screen appeared.
    asked_at: std::time::Instant,
    selected: usize,
    message: Option<String>,
    theme: Theme,
    /// The application whose cockpit is open (its driver is lent to it), and a rollback the
    /// fleet asked of it meanwhile.
    lent: Option<String>,
    lent_rollback: Option<String>,
}

pub(super) async fn run(
    env: &Env,
    args: &RunArgs,
    mode: Mode,
    fleet: &Fleet,
    loaded: BTreeMap<String, Loaded>,
    rehearsals: BTreeMap<String, Rehearsal>,
    record: FleetRecord,
) -> Result<i32> {
    let mut cockpit = FleetCockpit::new(env, args, mode, fleet, loaded, rehearsals, record);
    let (mut terminal, mut inputs, restore) = crate::tui::take_terminal()?;
    let result = cockpit.run(&mut terminal, &mut inputs).await;
    let exit = cockpit.leave().await;
    drop(restore);
    result?;
    eprint!("{}", for_terminal(&cockpit.farewell(), Lines::Many));
    Ok(exit as i32)
}

impl<'a> FleetCockpit<'a> {
    pub fn new(
        env: &'a Env,
        args: &'a RunArgs,
        mode: Mode,
        fleet: &'a Fleet,
        loaded: BTreeMap<String, Loaded>,
        rehearsals: BTreeMap<String, Rehearsal>,
        record: FleetRecord,
    ) -> Self {
        let mut slots = BTreeMap::new();
        for app in &fleet.apps {
            let slot = match standing_before(&env.store, &record, &app.name, args.new_attempt) {
                Some(s) => Slot::Settled(s),
                None => Slot::Idle("not started: its wave has not come".into()),
            };
            slots.insert(app.name.clone(), slot);
        }
        Self {
            env,
            args,
            mode,
            fleet,
            loaded,
            rehearsals,
            record,
            slots,
            stopped: None,
            answered: BTreeSet::new(),
            question: None,
            later: std::collections::VecDeque::new(),
            asked_at: std::time::Instant::now(),
            selected: 0,
            message: None,
            theme: Theme::from_env(),
            lent: None,
            lent_rollback: None,
        }
    }

    /// Applications in the order of their waves.
    fn order(&self) -> Vec<(usize, &str)> {
        self.fleet
            .waves
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.apps.iter().map(move |a| (i, a.as_str())))
            .collect()
    }

    fn standing(&self, app: &str) -> Option<Standing> {
        match self.slots.get(app)? {
            Slot::Idle(_) => None,
            Slot::Settled(s) => Some(s.clone()),
            Slot::Going(bg) => {
                let v = bg.view.borrow();
                if v.taken_over {
                    return Some(Standing::Failed(v.problem.clone().unwrap_or_default()));
                }
                match &v.status {
                    RunStatus::Holding { .. } | RunStatus::Completed { .. } => Some(Standing::Passed(String::new())),
                    RunStatus::RolledBack { .. } => Some(Standing::RolledBack(String::new())),
                    _ => None,
                }
            }
        }
    }

    /// The first wave not every application of which passed.
    fn current_wave(&self) -> Option<usize> {
        self.fleet.waves.iter().position(|w| {
            !w.apps
                .iter()
                .all(|a| matches!(self.standing(a), Some(Standing::Passed(_))))
        })
    }

    /// Notices rollbacks, and starts the next application that is due (one at a time, so
    /// the view shows each as it starts). True when it started one.
    async fn advance(&mut self) -> bool {
        let Some(wi) = self.current_wave() else {
            return false;
        };
        let wave = &self.fleet.waves[wi];
        // A rollback in this wave stops the fleet here.
        for app in &wave.apps {
            if matches!(self.standing(app), Some(Standing::RolledBack(_))) && self.answered.insert(app.clone()) {
                let reason = format!("the fleet: {app} rolled back in {}", wave.name);
                self.stopped
                    .get_or_insert_with(|| format!("{app} rolled back in {}", wave.name));
                let others: Vec<String> = wave
                    .apps
                    .iter()
                    .filter(|a| {
                        *a != app
                            && (self.lent.as_ref() == Some(*a)
                                || matches!(self.slots.get(*a), Some(Slot::Going(_))) && self.standing(a).is_none())
                    })
                    .cloned()
                    .collect();
                if others.is_empty() {
                    continue;
                }
                match self.fleet.on_rollback {
                    OnRollback::RollBack => {
                        self.message = Some(format!(
                            "{app} rolled back: rolling back {} too, as the fleet file says",
                            others.join(", ")
                        ));
                        self.roll_back(&reason, &others);
                    }
                    OnRollback::Keep => {
                        self.message = Some(format!(
                            "{app} rolled back: {} go on, as the fleet file says",
                            others.join(", ")
                        ));
                    }
                    OnRollback::Ask => self.ask(Question::RollBackOthers { reason, others }),
                }
            }
        }
        if let Some(why) = &self.stopped {
            if self.record.stopped != *why {
                super::fleet::record_stop(&self.env.store, &mut self.record, why);
            }
            return false;
        }
        for app in &wave.apps {
            if let Some(Slot::Settled(Standing::RolledBack(why) | Standing::Failed(why) | Standing::Waiting(why))) =
                self.slots.get(app)
            {
                let why = format!("{app}: {why}");
                super::fleet::record_stop(&self.env.store, &mut self.record, &why);
                self.stopped = Some(why);
                return false;
            }
        }
        let going = wave
            .apps
            .iter()
            .filter(|a| matches!(self.slots.get(*a), Some(Slot::Going(_))) && self.standing(a).is_none())
            .count();
        if going >= wave.concurrency {
            return false;
        }
        let Some(app) = wave
            .apps
            .iter()
            .find(|a| matches!(self.slots.get(*a), Some(Slot::Idle(_))))
        else {
            return false;
        };
        {
            let record = std::cell::RefCell::new(self.record.clone());
            let on_run = |run_id: &str| super::fleet::note_run(&self.env.store, &mut record.borrow_mut(), app, run_id);
            let opened = open_app(
                self.env,
                self.args,
                self.mode,
                &self.loaded[app],
                self.rehearsals.get(app).cloned(),
                BTreeMap::new(),
                on_run,
            )
            .await;
            self.record = record.into_inner();
            let slot = match opened {
                Ok((driver, _)) => Slot::Going(Background::spawn(driver)),
                Err((_, standing)) => Slot::Settled(standing),
            };
            self.slots.insert(app.clone(), slot);
        }
        true
    }

    /// Shows a question, or keeps it for when the one on screen is answered.
    fn ask(&mut self, q: Question) {
        if self.question.is_some() {
            self.later.push_back(q);
        } else {
            self.question = Some(q);
            self.asked_at = std::time::Instant::now();
        }
    }

    fn next_question(&mut self) {
        self.question = self.later.pop_front();
        self.asked_at = std::time::Instant::now();
    }

    fn roll_back(&mut self, reason: &str, apps: &[String]) {
        for a in apps {
            if let Some(Slot::Going(bg)) = self.slots.get(a) {
                bg.roll_back(reason.to_string());
            } else if self.lent.as_ref() == Some(a) {
                self.lent_rollback = Some(reason.to_string());
            }
        }
    }

    fn screen(&self) -> FleetScreen {
        let wave_line = match (&self.stopped, self.current_wave()) {
            (Some(why), _) => format!("STOPPED: {why}"),
            (None, Some(i)) => format!("wave {}/{} {}", i + 1, self.fleet.waves.len(), self.fleet.waves[i].name),
            (None, None) => "every wave passed".to_string(),
        };
        let rows = self
            .order()
            .into_iter()
            .map(|(wi, app)| {
                let (view, note) = match self.slots.get(app) {
                    Some(Slot::Going(bg)) => (Some(bg.view.borrow().clone()), String::new()),
                    Some(Slot::Idle(why)) => (None, why.clone()),
                    Some(Slot::Settled(s)) => (None, format!("{}: {}", s.word(), s.detail())),
                    None => (None, String::new()),
                };
                FleetRow {
                    app: app.to_string(),
                    wave: self.fleet.waves[wi].name.clone(),
                    view,
                    note,
                }
            })
            .collect();
        FleetScreen {
            fleet: self.fleet.name.clone(),
            environment: self.record.environment.clone(),
            mode: self.mode,
            wave_line,
            rows,
            selected: self.selected,
            question_keys: match self.question {
                Some(Question::Leave) => "y leave · n stay",
                _ => "y roll them back · n let them go on",
            },
            question: self.question.as_ref().map(|q| match q {
                Question::RollBackOthers { reason, others } => {
                    format!(
                        "{reason}. Roll back the others in this wave too ({})?",
                        others.join(", ")
                    )
                }
                Question::Leave => {
                    "Steps are running: leaving stops them (each will be in doubt when resumed). Leave?".to_string()
                }
            }),
            message: self.message.clone(),
        }
    }

    pub async fn run<B: Backend, I: Inputs>(&mut self, terminal: &mut Terminal<B>, inputs: &mut I) -> Result<()>
    where
        B::Error: Send + Sync + 'static,
    {
        let mut stats = Stats::default();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_drawn: Option<String> = None;
        loop {
            let now = Utc::now();
            let screen = self.screen();
            // Drawn when something shown changed, or the second did.
            let fingerprint = format!("{screen:?}{}", now.timestamp());
            if last_drawn.as_ref() != Some(&fingerprint) {
                terminal.draw(|f| render(f, &screen, &self.theme, now))?;
                last_drawn = Some(fingerprint);
            }
            // The view first, then the next application started, and drawn again.
            if self.advance().await {
                continue;
            }
            tokio::select! {
                input = inputs.next() => match input {
                    None | Some(Input::Terminate) => return Ok(()),
                    Some(Input::Resize) => {
                        terminal.autoresize()?;
                        last_drawn = None;
                    }
                    Some(Input::Paste(_)) => {}
                    Some(Input::Key(key)) => {
                        if self.on_key(&key) {
                            return Ok(());
                        }
                        if key.code == KeyCode::Enter && self.question.is_none() {
                            if self.open_selected(terminal, inputs, &mut stats).await? {
                                return Ok(());
                            }
                            last_drawn = None;
                        }
                    }
                },
                _ = tick.tick() => {}
            }
        }
    }

    /// A key in the fleet view; true to leave.
    fn on_key(&mut self, key: &KeyEvent) -> bool {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return true;
        }
        if let Some(q) = &self.question {
            // A key pressed as the question appeared was meant for something else.
            if self.asked_at.elapsed() < QUESTION_SETTLES {
                return false;
            }
            match key.code {
                KeyCode::Char('y') => {
                    let q = self.question.take();
                    match q {
                        Some(Question::RollBackOthers { reason, others }) => {
                            self.roll_back(&reason, &others);
                            self.message = Some(format!("rolling back {}", others.join(", ")));
                        }
                        Some(Question::Leave) => return true,
                        None => {}
                    }
                    self.next_question();
                }
                KeyCode::Char('n') | KeyCode::Esc => {
                    if let Question::RollBackOthers { others, .. } = q {
                        self.message = Some(format!(
                            "{} go on; Enter opens one to roll it back (r)",
                            others.join(", ")
                        ));
                    }
                    self.question = None;
                    self.next_question();
                }
                _ => {}
            }
            return false;
        }
        let rows = self.order().len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(rows.saturating_sub(1)),
            KeyCode::Char('q') => {
                let busy = self
                    .slots
                    .values()
                    .any(|s| matches!(s, Slot::Going(bg) if bg.view.borrow().busy_with.is_some()));
                if !busy {
                    return true;
                }
                self.ask(Question::Leave);
            }
            _ => {}
        }
        false
    }

    /// Opens the selected application's own cockpit with its driver; its run goes back to
    /// the background when the operator comes back. True when the fleet is to end (a signal).
    async fn open_selected<B: Backend, I: Inputs>(
        &mut self,
        terminal: &mut Terminal<B>,
        inputs: &mut I,
        stats: &mut Stats,
    ) -> Result<bool>
    where
        B::Error: Send + Sync + 'static,
    {
        let order = self.order();
        let Some((_, app)) = order.get(self.selected).map(|(w, a)| (*w, a.to_string())) else {
            return Ok(false);
        };
        let Some(Slot::Going(_)) = self.slots.get(&app) else {
            self.message = Some(format!("{app} has no run driven here yet"));
            return Ok(false);
        };
        let Some(Slot::Going(bg)) = self.slots.remove(&app) else {
            return Ok(false);
        };
        let Some(mut driver) = bg.take().await else {
            self.slots.insert(
                app.clone(),
                Slot::Settled(Standing::Failed("its driver stopped unexpectedly".into())),
            );
            return Ok(false);
        };
        let history = driver.session.journal().tail(HISTORY).unwrap_or_default();
        let mut cockpit = App::new(self.theme, driver.state(), &history);
        cockpit.in_fleet = true;
        cockpit.notices(&[format!(
            "fleet {}: application {app}. q goes back to the fleet view; the run goes on",
            self.fleet.name
        )]);
        let mut looper = Loop {
            clock: Clock::system(),
            local: None,
            stats,
            settle: true,
        };
        // The fleet goes on meanwhile: waves start, and `on_rollback` applies (a question
        // waits for the fleet view).
        self.lent = Some(app.clone());
        let stopped = {
            let in_cockpit = looper.run(terminal, &mut driver, &mut cockpit, inputs);
            tokio::pin!(in_cockpit);
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    stopped = &mut in_cockpit => break Some(stopped),
                    _ = tick.tick() => {
                        while self.advance().await {}
                        // Rolling this application back is the fleet's to do now: its
                        // cockpit closes (the loop is between two awaits it can leave).
                        if self.lent_rollback.is_some() {
                            break None;
                        }
                    }
                }
            }
        };
        self.lent = None;
        let ended = matches!(
            driver.state().status,
            RunStatus::RollingBack | RunStatus::RolledBack { .. } | RunStatus::Completed { .. }
        );
        if let Some(reason) = self.lent_rollback.take().filter(|_| !ended) {
            let by = driver.session.operator.clone();
            self.message = Some(
                match driver.command(
                    crate::engine::Command::Rollback { reason: reason.clone() },
                    &by,
                    Utc::now(),
                ) {
                    Ok(_) => format!("{app} is rolling back ({reason}), as the fleet file says"),
                    Err(e) => format!("cannot roll back {app} as the fleet asked: {e}"),
                },
            );
        }
        self.slots.insert(app.clone(), Slot::Going(Background::spawn(driver)));
        let Some(stopped) = stopped else {
            return Ok(false);
        };
        match stopped? {
            Stop::TakenOver(why) => self.message = Some(why),
            Stop::Quit => self.message = None,
            Stop::Terminated | Stop::InputsEnded => return Ok(true),
        }
        Ok(false)
    }

    /// Closes every session this cockpit opened; the exit code for the fleet.
    async fn leave(&mut self) -> Exit {
        let apps: Vec<String> = self.slots.keys().cloned().collect();
        for app in apps {
            if let Some(Slot::Going(bg)) = self.slots.remove(&app) {
                let standing = match bg.take().await {
                    Some(mut driver) => {
                        let _ = driver.shutdown("the operator left the fleet cockpit").await;
                        super::fleet::standing_of(driver.state(), Utc::now())
                    }
                    None => Standing::Failed("its driver stopped unexpectedly".into()),
                };
                self.slots.insert(app, Slot::Settled(standing));
            }
        }
        let all: Vec<Standing> = self
            .slots
            .values()
            .filter_map(|s| match s {
                Slot::Settled(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        if all.iter().any(|s| matches!(s, Standing::RolledBack(_))) {
            Exit::RolledBack
        } else if all.iter().any(|s| matches!(s, Standing::Failed(_))) {
            Exit::Error
        } else if self.current_wave().is_none() {
            Exit::Completed
        } else {
            Exit::Waiting
        }
    }

    fn farewell(&self) -> String {
        let mut out = format!("Fleet {} ({}):\n", self.fleet.name, self.record.fleet_id);
        for (_, app) in self.order() {
            let line = match self.slots.get(app) {
                Some(Slot::Settled(s)) => format!("{}: {}", s.word(), s.detail()),
                Some(Slot::Idle(why)) => why.clone(),
                Some(Slot::Going(_)) | None => String::new(),
            };
            let run = self.record.runs.get(app).map(String::as_str).unwrap_or("-");
            out.push_str(&format!("  {app:<20} {run:<44} {line}\n"));
        }
        out.push_str(&format!(
            "  go on with: cutover {} {}{}\n",
            match self.mode {
                Mode::Live => "run",
                Mode::Rehearsal => "rehearse",
            },
            self.fleet.path.display(),
            self.args
                .runbook
                .env
                .as_ref()
                .map(|e| format!(" --env {e}"))
                .unwrap_or_default()
        ));
        out
    }
}
