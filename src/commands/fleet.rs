//! `cutover run FLEET.toml` and `cutover rehearse FLEET.toml`: every application's run
//! (each its own journal, lock, watch and rollback) driven wave by wave. A wave starts only
//! when every application of the one before is cut over, verified and watched (its run
//! holds or completed). A rollback stops the fleet at its wave; the fleet file says what
//! happens to the others in it (ask, roll them back, or keep them).

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;
use std::pin::Pin;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;

use super::run::{Prepared, prepare, rehearsal_for};
use super::{Env, decisions, driver_for, uses_cockpit};
use crate::cli::{RehearseArgs, RunArgs, RunbookArgs};
use crate::engine::{Mode, RunState, RunStatus, situation};
use crate::fleet::{App, Fleet, OnRollback, Wave};
use crate::headless::{self, Decisions, FleetAsk, FleetPart, Options, Output};
use crate::journal::{FleetRecord, JournalError, Store, WaveRecord};
use crate::runbook::{LoadError, Loaded};
use crate::runner::Exit;
use crate::terminal_text::{Lines, for_terminal};
use crate::words::situation_words;

/// Where an application stands for its wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Cut over and watched: it holds (until then) or completed.
    Passed(String),
    RolledBack(String),
    /// It stopped where the operator is needed, or at a long gate.
    Waiting(String),
    Failed(String),
    /// Not started: the fleet stopped before its turn.
    NotStarted,
}

impl Standing {
    pub(super) fn word(&self) -> &'static str {
        match self {
            Standing::Passed(_) => "passed",
            Standing::RolledBack(_) => "rolled back",
            Standing::Waiting(_) => "waiting",
            Standing::Failed(_) => "error",
            Standing::NotStarted => "not started",
        }
    }

    pub(super) fn detail(&self) -> &str {
        match self {
            Standing::Passed(d) | Standing::RolledBack(d) | Standing::Waiting(d) | Standing::Failed(d) => d,
            Standing::NotStarted => "",
        }
    }

    /// The fleet stops at a wave with an application standing so.
    pub(super) fn stops_the_fleet(&self) -> bool {
        matches!(
            self,
            Standing::RolledBack(_) | Standing::Waiting(_) | Standing::Failed(_)
        )
    }
}

/// A run that has done what its wave needs of it, in words: it holds (and until when) or it
/// completed. `None` for any other status.
pub(super) fn passed_words(status: &RunStatus) -> Option<String> {
    match status {
        RunStatus::Holding { until } => Some(format!("holding until {}", until.format("%Y-%m-%d %H:%M UTC"))),
        RunStatus::Completed { at } => Some(format!("completed at {}", at.format("%Y-%m-%d %H:%M UTC"))),
        _ => None,
    }
}

/// A run's standing once its driver stopped.
pub(crate) fn standing_of(state: &RunState, now: DateTime<Utc>) -> Standing {
    if let Some(words) = passed_words(&state.status) {
        return Standing::Passed(words);
    }
    match &state.status {
        RunStatus::RolledBack { at } => Standing::RolledBack(format!(
            "rolled back at {}{}",
            at.format("%H:%M:%S UTC"),
            state
                .incidents
                .last()
                .map(|i| format!(": {}", i.value.summary))
                .unwrap_or_default()
        )),
        _ => Standing::Waiting(situation_words(&situation(state, now), now)),
    }
}

/// The standing an application had before this fleet run, from its run's summary: `Some`
/// when it need not be driven now (it holds, completed, or rolled back without a new attempt).
pub(super) fn standing_before(store: &Store, record: &FleetRecord, app: &str, new_attempt: bool) -> Option<Standing> {
    let run_id = record.runs.get(app)?.clone();
    let summary = store.summary(&run_id)?;
    match &summary.status {
        RunStatus::Holding { until } if *until <= Utc::now() => None,
        status @ (RunStatus::Holding { .. } | RunStatus::Completed { .. }) => {
            passed_words(status).map(Standing::Passed)
        }
        RunStatus::RolledBack { .. } if !new_attempt => Some(Standing::RolledBack(format!(
            "run {run_id} rolled back: attach its root-cause analysis (`cutover rca {run_id} --file rca.md`), then \
             run the fleet again with --new-attempt"
        ))),
        _ => None,
    }
}

/// Puts an application's run in the fleet's record (written at once, so a crash right after
/// a run is created still finds it there).
pub(super) fn note_run(store: &Store, record: &mut FleetRecord, app: &str, run_id: &str) {
    if record.runs.get(app).map(String::as_str) != Some(run_id) {
        record.runs.insert(app.to_string(), run_id.to_string());
        record.updated_at = Utc::now();
        if let Err(e) = store.write_fleet(record) {
            eprintln!("warning: cannot write the fleet's record ({e}); `cutover runs` may not group run {run_id}");
        }
    }
}

/// The decisions given on the command line for one application: `APP/STEP=…` for it alone,
/// `STEP=…` for every application.
fn decisions_for(all: &Decisions, app: &str) -> Decisions {
    fn pick<V: Clone>(m: &BTreeMap<String, V>, app: &str) -> BTreeMap<String, V> {
        let mut out = BTreeMap::new();
        for (key, v) in m {
            match key.split_once('/') {
                Some((a, step)) if a == app => {
                    out.insert(step.to_string(), v.clone());
                }
                Some(_) => {}
                None => {
                    out.entry(key.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        out
    }
    Decisions {
        approvals: pick(&all.approvals, app),
        notes: pick(&all.notes, app),
        resolutions: pick(&all.resolutions, app),
        retries: all
            .retries
            .iter()
            .filter_map(|k| match k.split_once('/') {
                Some((a, step)) if a == app => Some(step.to_string()),
                Some(_) => None,
                None => Some(k.clone()),
            })
            .collect(),
        skips: pick(&all.skips, app),
    }
}

/// Decisions for `APP/STEP` name applications of this fleet: a misspelt one would be
/// silently left out.
fn check_decision_apps(fleet: &Fleet, all: &Decisions) -> Result<()> {
    let keys = all
        .approvals
        .keys()
        .chain(all.notes.keys())
        .chain(all.resolutions.keys())
        .chain(all.retries.iter())
        .chain(all.skips.keys());
    for key in keys {
        if let Some((app, _)) = key.split_once('/')
            && fleet.app(app).is_none()
        {
            let known: Vec<&str> = fleet.apps.iter().map(|a| a.name.as_str()).collect();
            bail!(
                "`{}`: no application `{}` in fleet {} (applications: {})",
                for_terminal(key, Lines::One),
                for_terminal(app, Lines::One),
                fleet.name,
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// Loads every application's runbook for the environment; all problems at once.
pub(crate) fn load_apps(fleet: &Fleet, env: Option<&str>) -> Result<BTreeMap<String, Loaded>, String> {
    let mut loaded = BTreeMap::new();
    let mut problems = Vec::new();
    for app in &fleet.apps {
        match crate::runbook::load_file_with(&app.runbook, env, &app.vars) {
            Ok(l) => {
                loaded.insert(app.name.clone(), l);
            }
            Err(e @ (LoadError::Io { .. } | LoadError::TooLarge { .. })) => {
                problems.push(format!("application `{}`: error: {e}", app.name));
            }
            Err(e) => problems.push(format!("application `{}`:\n{e}", app.name)),
        }
    }
    if let Err(twice) = distinct_runbook_names(&loaded) {
        problems.push(twice);
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems.join("\n"))
    }
}

/// Runs are found by runbook name and environment: two applications with one name would
/// drive the same run.
fn distinct_runbook_names(loaded: &BTreeMap<String, Loaded>) -> Result<(), String> {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for (app, l) in loaded {
        if let Some(other) = by_name.insert(l.runbook.name.as_str(), app.as_str()) {
            return Err(format!(
                "applications `{other}` and `{app}` both have runbook name `{}`: each application's runbook needs its own [runbook] name",
                l.runbook.name
            ));
        }
    }
    Ok(())
}

/// The fleet file, or its problems printed (`None`).
fn load_or_report(path: &std::path::Path) -> Option<Fleet> {
    match crate::fleet::load(path) {
        Ok(f) => Some(f),
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            None
        }
    }
}

/// The fleet's record, created or brought up to date with the file's waves.
fn record_for(env: &Env, fleet: &Fleet, environment: &str, mode: Mode) -> Result<FleetRecord> {
    let id = FleetRecord::id_for(&fleet.name, environment, mode);
    let now = Utc::now();
    let mut record = env.store.fleet(&id).unwrap_or_else(|| FleetRecord {
        fleet_id: id.clone(),
        fleet: fleet.name.clone(),
        environment: environment.to_string(),
        mode,
        source: String::new(),
        waves: Vec::new(),
        runs: BTreeMap::new(),
        created_at: now,
        updated_at: now,
        stopped: String::new(),
    });
    record.source = fleet.path.display().to_string();
    record.waves = fleet
        .waves
        .iter()
        .map(|w| WaveRecord {
            name: w.name.clone(),
            apps: w.apps.clone(),
        })
        .collect();
    record.stopped.clear();
    record.updated_at = now;
    env.store.write_fleet(&record)?;
    Ok(record)
}

/// Where the fleet stopped, kept in its record for `cutover runs` and the export.
pub(super) fn record_stop(store: &Store, record: &mut FleetRecord, why: &str) {
    record.stopped = why.to_string();
    record.updated_at = Utc::now();
    if let Err(e) = store.write_fleet(record) {
        eprintln!("warning: cannot write the fleet's record ({e})");
    }
}

/// A fleet-level line: after the applications' own (`[billing] …`) lines.
fn say(output: Output, marker: &str, text: &str) {
    match output {
        Output::Text => println!("{marker}{}", for_terminal(text, Lines::Many)),
        Output::Json => println!("{}", serde_json::json!({ "kind": "fleet", "message": text })),
    }
}

/// `--vars`, `--dry-run`, `--reload-runbook` and `--new-run` are for one runbook.
fn refuse_single_run_options(args: &RunbookArgs, run: Option<&RunArgs>) -> Result<()> {
    if !args.vars.is_empty() {
        bail!(
            "--vars is for one runbook: in a fleet, each application's vars files are listed in the fleet file \
             ([[app]] vars = [\"...\"])"
        );
    }
    let Some(run) = run else { return Ok(()) };
    if run.dry_run {
        bail!(
            "a fleet has no dry run: check each application with `cutover run ITS_RUNBOOK --env ENV --dry-run` \
             (`cutover plan {}` lists them)",
            args.runbook.display()
        );
    }
    if run.reload_runbook {
        bail!("--reload-runbook is for one run: reload an application with `cutover run ITS_RUNBOOK --reload-runbook`");
    }
    if run.new_run {
        bail!(
            "--new-run is for one run: a fleet's applications that completed stay completed (started again, the fleet \
             would cut them over twice). Start one anew with `cutover run ITS_RUNBOOK --env ENV --new-run`"
        );
    }
    Ok(())
}

pub async fn run(env: &Env, args: &RunArgs, mode: Mode, rehearse: Option<&RehearseArgs>) -> Result<i32> {
    refuse_single_run_options(&args.runbook, Some(args))?;
    let Some(fleet) = load_or_report(&args.runbook.runbook) else {
        return Ok(1);
    };
    let all_decisions = decisions(&args.drive)?;
    check_decision_apps(&fleet, &all_decisions)?;
    let loaded = match load_apps(&fleet, args.runbook.env.as_deref()) {
        Ok(l) => l,
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            return Ok(1);
        }
    };
    for (app, l) in &loaded {
        if !l.warnings.items.is_empty() {
            eprint!(
                "application `{app}`:\n{}",
                for_terminal(&l.warnings.render(&l.source), Lines::Many)
            );
        }
        // What `cutover run` checks before it opens a run, for every application before the
        // first is cut over: a missing secret found at the third wave is too late.
        if let Err(why) = crate::effects::refuse_leaking_runbook(&l.runbook, &crate::effects::redactor_for(&l.runbook))
        {
            bail!("application `{app}`: {why}");
        }
        if let Err(why) = crate::notify::check_environment(&l.runbook) {
            bail!("application `{app}`: {why}");
        }
    }
    let mut rehearsals = BTreeMap::new();
    if let Some(r) = rehearse {
        for (app, l) in &loaded {
            let rehearsal = rehearsal_for(r, l).map_err(|e| anyhow::anyhow!("application `{app}`: {e}"))?;
            rehearsals.insert(app.clone(), rehearsal);
        }
    }
    let environment = loaded
        .values()
        .next()
        .map(|l| l.runbook.environment.clone())
        .unwrap_or_default();
    let fleet_id = FleetRecord::id_for(&fleet.name, &environment, mode);
    let _lock = env.store.lock_fleet(&fleet_id, &env.holder("cutover run (fleet)"))?;
    let record = record_for(env, &fleet, &environment, mode)?;
    if uses_cockpit(&args.drive) {
        if all_decisions.given() {
            bail!(
                "--approve, --note, --resolve, --retry and --skip are for --headless runs; in the fleet's cockpit, \
                 open the application (Enter) and press Enter where its run needs you"
            );
        }
        return super::fleet_cockpit::run(env, args, mode, &fleet, loaded, rehearsals, record).await;
    }
    let marker = match mode {
        Mode::Live => "",
        Mode::Rehearsal => "[REHEARSAL] ",
    };
    let output = args.drive.output;
    let mut fleet_run = FleetRun {
        env,
        args,
        mode,
        fleet: &fleet,
        loaded: &loaded,
        rehearsals: &rehearsals,
        record,
        marker,
        standings: BTreeMap::new(),
        decisions: all_decisions,
        signals: headless::Signals::install(),
        interrupted: None,
    };
    say(
        output,
        marker,
        &format!(
            "fleet {} ({fleet_id}): {} applications in {} waves, environment {environment}",
            fleet.name,
            fleet.apps.len(),
            fleet.waves.len()
        ),
    );
    let mut exit = Exit::Completed;
    for (i, wave) in fleet.waves.iter().enumerate() {
        // An application of an earlier wave may have been rolled back since it passed.
        if let Some((app, why)) = fleet_run.earlier_rolled_back(i) {
            exit = Exit::RolledBack;
            let why = format!("{app}, of an earlier wave, is rolled back now: {why}");
            record_stop(&env.store, &mut fleet_run.record, &why);
            say(
                output,
                marker,
                &format!("■ the fleet stopped before {}: {why}", wave.name),
            );
            break;
        }
        say(
            output,
            marker,
            &format!(
                "━━ wave {}/{}: {} ({}) ━━",
                i + 1,
                fleet.waves.len(),
                wave.name,
                wave.apps.join(", ")
            ),
        );
        if let Some((stopped, why)) = fleet_run.wave(wave).await {
            exit = stopped;
            record_stop(&env.store, &mut fleet_run.record, &why);
            say(output, marker, &format!("■ the fleet stopped at {}: {why}", wave.name));
            break;
        }
        say(
            output,
            marker,
            &format!("✔ {} passed: every application cut over and watched", wave.name),
        );
    }
    fleet_run.summary();
    Ok(exit as i32)
}

struct FleetRun<'a> {
    env: &'a Env,
    args: &'a RunArgs,
    mode: Mode,
    fleet: &'a Fleet,
    loaded: &'a BTreeMap<String, Loaded>,
    rehearsals: &'a BTreeMap<String, crate::engine::Rehearsal>,
    record: FleetRecord,
    marker: &'static str,
    standings: BTreeMap<String, Standing>,
    decisions: Decisions,
    /// The signals that stop a headless run stop the fleet too. Each application's run
    /// listens for them itself while it is driven; the fleet listens as well, so a signal
    /// that comes while no run listens (between waves, while a run is opened) still stops it.
    signals: headless::Signals,
    /// The signal that stopped the fleet, if one did.
    interrupted: Option<&'static str>,
}

/// How one application's drive ended.
struct Ended {
    app: String,
    run_id: Option<String>,
    standing: Standing,
}

type Answer<'a> = Pin<Box<dyn std::future::Future<Output = bool> + 'a>>;

impl FleetRun<'_> {
    /// An application of a wave before `wave` whose run is rolled back now.
    fn earlier_rolled_back(&self, wave: usize) -> Option<(String, String)> {
        self.fleet.waves[..wave]
            .iter()
            .flat_map(|w| w.apps.iter())
            .find_map(|app| {
                let run_id = self.record.runs.get(app)?;
                let summary = self.env.store.summary(run_id)?;
                matches!(summary.status, RunStatus::RolledBack { .. }).then(|| (app.clone(), format!("run {run_id}")))
            })
    }

    /// Drives one wave. `None` when it passed; otherwise the exit and why it stopped.
    async fn wave(&mut self, wave: &Wave) -> Option<(Exit, String)> {
        let output = self.args.drive.output;
        let mut queue: VecDeque<&App> = VecDeque::new();
        for name in &wave.apps {
            match standing_before(&self.env.store, &self.record, name, self.args.new_attempt) {
                Some(standing) => {
                    say(
                        output,
                        self.marker,
                        &format!("[{name}] {}: {}", standing.word(), standing.detail()),
                    );
                    self.standings.insert(name.clone(), standing);
                }
                None => queue.extend(self.fleet.app(name)),
            }
        }
        // A wave that stopped before (an application rolled back) starts nothing more.
        let mut stopping = wave
            .apps
            .iter()
            .any(|a| self.standings.get(a).is_some_and(Standing::stops_the_fleet));
        let mut asks: BTreeMap<String, watch::Sender<Option<FleetAsk>>> = BTreeMap::new();
        let mut question: Option<(Answer<'_>, String, Vec<String>)> = None;
        let mut asked = false;
        let record = std::cell::RefCell::new(&mut self.record);
        let mut running = FuturesUnordered::new();
        let store = &self.env.store;
        let (env, args, mode, loaded, rehearsals, marker) = (
            self.env,
            self.args,
            self.mode,
            self.loaded,
            self.rehearsals,
            self.marker,
        );
        loop {
            while !stopping && running.len() < wave.concurrency {
                let Some(app) = queue.pop_front() else { break };
                let (tx, rx) = watch::channel(None);
                asks.insert(app.name.clone(), tx);
                let decisions = decisions_for(&self.decisions, &app.name);
                let record = &record;
                let on_run = move |run_id: &str| note_run(store, &mut record.borrow_mut(), &app.name, run_id);
                running.push(drive_app(
                    env,
                    args,
                    mode,
                    app,
                    &loaded[&app.name],
                    rehearsals.get(&app.name).cloned(),
                    decisions,
                    rx,
                    on_run,
                ));
            }
            if running.is_empty() {
                break;
            }
            let answered = async {
                match question.as_mut() {
                    Some((answer, _, _)) => answer.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ended = running.next() => {
                    let Some(ended) = ended else { break };
                    asks.remove(&ended.app);
                    if let Some(run_id) = &ended.run_id {
                        note_run(store, &mut record.borrow_mut(), &ended.app, run_id);
                    }
                    if ended.standing.stops_the_fleet() {
                        stopping = true;
                    }
                    let going: Vec<String> = asks.keys().cloned().collect();
                    if matches!(ended.standing, Standing::RolledBack(_)) && !asked && !going.is_empty() && self.interrupted.is_none() {
                        asked = true;
                        let reason = format!("the fleet: {} rolled back in {}", ended.app, wave.name);
                        match roll_back_others(self.fleet.on_rollback, output, marker, &ended.app, wave, &going) {
                            Decided::Now(true) => ask_all(&asks, FleetAsk::RollBack(reason)),
                            Decided::Now(false) => {}
                            Decided::Ask(answer) => question = Some((answer, reason, going)),
                        }
                    }
                    self.standings.insert(ended.app, ended.standing);
                }
                yes = answered => {
                    let Some((_, reason, others)) = question.take() else { continue };
                    if yes {
                        say(output, marker, &format!("↺ rolling back {}", others.join(", ")));
                        ask_all(&asks, FleetAsk::RollBack(reason));
                    } else {
                        say(output, marker, &format!("{} go on", others.join(", ")));
                    }
                }
                what = self.signals.next() => {
                    // The runs being driven caught it too; a run being opened is told.
                    stopping = true;
                    self.interrupted = Some(what);
                    question = None;
                    ask_all(&asks, FleetAsk::Stop(what));
                }
            }
        }
        drop(running);
        for app in queue {
            self.standings.insert(app.name.clone(), Standing::NotStarted);
        }
        self.wave_verdict(wave)
    }

    fn wave_verdict(&self, wave: &Wave) -> Option<(Exit, String)> {
        let of_wave: Vec<(&String, &Standing)> = wave
            .apps
            .iter()
            .filter_map(|a| Some((a, self.standings.get(a)?)))
            .collect();
        let named = |pick: fn(&Standing) -> bool| -> Vec<String> {
            of_wave
                .iter()
                .filter(|(_, s)| pick(s))
                .map(|(a, s)| format!("{a} ({})", s.detail()))
                .collect()
        };
        let rolled_back = named(|s| matches!(s, Standing::RolledBack(_)));
        let failed = named(|s| matches!(s, Standing::Failed(_)));
        let waiting = named(|s| matches!(s, Standing::Waiting(_)));
        let not_started: Vec<&str> = of_wave
            .iter()
            .filter(|(_, s)| matches!(s, Standing::NotStarted))
            .map(|(a, _)| a.as_str())
            .collect();
        let later = if not_started.is_empty() {
            String::new()
        } else {
            format!("; not started: {}", not_started.join(", "))
        };
        let again = "Nothing is lost: run the same command again to go on";
        if !rolled_back.is_empty() {
            Some((
                Exit::RolledBack,
                format!("rolled back: {}{later}", rolled_back.join("; ")),
            ))
        } else if !failed.is_empty() {
            Some((Exit::Error, format!("failed: {}{later}", failed.join("; "))))
        } else if let Some(what) = self.interrupted {
            Some((Exit::Waiting, format!("{what}{later}. {again}")))
        } else if !waiting.is_empty() {
            Some((
                Exit::Waiting,
                format!("waiting: {}{later}. {again}", waiting.join("; ")),
            ))
        } else {
            None
        }
    }

    fn summary(&self) {
        let output = self.args.drive.output;
        let rows = self
            .fleet
            .waves
            .iter()
            .flat_map(|w| w.apps.iter().map(move |a| (w, a)))
            .map(|(w, a)| {
                let s = self.standings.get(a).cloned().unwrap_or(Standing::NotStarted);
                (w, a, s, self.record.runs.get(a).cloned())
            });
        if output == Output::Json {
            let apps: Vec<serde_json::Value> = rows
                .map(|(w, a, s, run)| {
                    serde_json::json!({
                        "app": a, "wave": w.name, "run_id": run, "standing": s.word(), "detail": s.detail(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "kind": "fleet_summary", "fleet_id": self.record.fleet_id, "apps": apps })
            );
            return;
        }
        println!(
            "{}{:<20} {:<12} {:<12} {:<44} DETAIL",
            self.marker, "APP", "WAVE", "STANDING", "RUN"
        );
        for (w, a, s, run) in rows {
            println!(
                "{}{:<20} {:<12} {:<12} {:<44} {}",
                self.marker,
                a,
                w.name,
                s.word(),
                run.as_deref().unwrap_or("-"),
                for_terminal(s.detail(), Lines::One)
            );
        }
    }
}

fn ask_all(asks: &BTreeMap<String, watch::Sender<Option<FleetAsk>>>, ask: FleetAsk) {
    for tx in asks.values() {
        let _ = tx.send(Some(ask.clone()));
    }
}

/// Whether the others of a wave roll back: decided now, or asked (the answer comes while the
/// others are still driven).
enum Decided<'a> {
    Now(bool),
    Ask(Answer<'a>),
}

/// The fleet file's `on_rollback` for the applications still going in a wave one of them
/// rolled back in.
fn roll_back_others<'a>(
    policy: OnRollback,
    output: Output,
    marker: &str,
    app: &str,
    wave: &Wave,
    others: &[String],
) -> Decided<'a> {
    let list = others.join(", ");
    // The fleet holds their runs: `cutover rollback` from another terminal would be refused.
    let how = "to roll one back, stop the fleet (Ctrl-C; the run in progress will be in doubt) and run \
               `cutover rollback RUN_ID --reason ...`, or drive the fleet in the cockpit (Enter, then r)";
    match policy {
        OnRollback::RollBack => {
            say(
                output,
                marker,
                &format!(
                    "↺ {app} rolled back: rolling back the others in {} ({list}), as the fleet file says",
                    wave.name
                ),
            );
            Decided::Now(true)
        }
        OnRollback::Keep => {
            say(
                output,
                marker,
                &format!(
                    "{app} rolled back: the others in {} ({list}) go on, as the fleet file says; {how}",
                    wave.name
                ),
            );
            Decided::Now(false)
        }
        OnRollback::Ask if std::io::stdin().is_terminal() && output == Output::Text => {
            println!(
                "{marker}{app} rolled back. Roll back the others in {} too ({list})? [y/N] (they go on meanwhile)",
                wave.name
            );
            Decided::Ask(Box::pin(async {
                let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
                matches!(lines.next_line().await, Ok(Some(a)) if matches!(a.trim(), "y" | "Y" | "yes"))
            }))
        }
        OnRollback::Ask => {
            say(
                output,
                marker,
                &format!(
                    "{app} rolled back; there is no terminal to ask whether to roll back the others in {} ({list}): they go on. \
                     Set on_rollback = \"roll_back\" in the fleet file to roll them back unattended; {how}",
                    wave.name
                ),
            );
            Decided::Now(false)
        }
    }
}

/// Opens one application's run (or resumes it) and returns its driver and what was recorded
/// on opening; or, when there is nothing to drive, its standing (completed before, or an error).
pub(super) async fn open_app(
    env: &Env,
    args: &RunArgs,
    mode: Mode,
    loaded: &Loaded,
    rehearsal: Option<crate::engine::Rehearsal>,
    notes: BTreeMap<String, String>,
    on_run: impl Fn(&str),
) -> Result<(crate::runner::Driver, Vec<crate::engine::Recorded>), (Option<String>, Standing)> {
    let Prepared { session, preamble, .. } = match prepare(env, args, loaded, mode, rehearsal, true).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(JournalError::Completed { run_id, at }) = e.downcast_ref::<JournalError>() {
                on_run(run_id);
                return Err((
                    Some(run_id.clone()),
                    Standing::Passed(format!("completed at {}", at.format("%Y-%m-%d %H:%M UTC"))),
                ));
            }
            return Err((None, Standing::Failed(format!("{e:#}"))));
        }
    };
    let run_id = session.state().run_id.clone();
    on_run(&run_id);
    match driver_for(session, &args.drive, notes).await {
        Ok(d) => Ok((d, preamble)),
        Err(e) => Err((Some(run_id), Standing::Failed(format!("{e:#}")))),
    }
}

/// Opens one application's run (or resumes it) and drives it headless until it holds,
/// stops, or rolls back. `on_run` learns its run id as soon as it is known.
#[allow(clippy::too_many_arguments)]
async fn drive_app(
    env: &Env,
    args: &RunArgs,
    mode: Mode,
    app: &App,
    loaded: &Loaded,
    rehearsal: Option<crate::engine::Rehearsal>,
    decisions: Decisions,
    asks: watch::Receiver<Option<FleetAsk>>,
    on_run: impl Fn(&str),
) -> Ended {
    let (mut driver, preamble) =
        match open_app(env, args, mode, loaded, rehearsal, decisions.notes.clone(), on_run).await {
            Ok(opened) => opened,
            Err((run_id, standing)) => {
                if let Standing::Failed(why) = &standing {
                    say(args.drive.output, "", &format!("[{}] error: {why}", app.name));
                }
                return Ended {
                    app: app.name.clone(),
                    run_id,
                    standing,
                };
            }
        };
    let run_id = driver.state().run_id.clone();
    let max_wait =
        crate::runbook::duration::parse(&args.drive.max_wait).unwrap_or(std::time::Duration::from_secs(3600));
    let options = Options {
        output: args.drive.output,
        decisions,
        max_wait,
        interactive: false,
        preamble,
        fleet: Some(FleetPart {
            app: app.name.clone(),
            asks: Some(asks),
        }),
    };
    let exit = headless::run(&mut driver, options).await;
    let standing = match standing_of(driver.state(), Utc::now()) {
        Standing::Waiting(w) if exit == Exit::Error => Standing::Failed(w),
        s => s,
    };
    Ended {
        app: app.name.clone(),
        run_id: Some(run_id),
        standing,
    }
}

pub fn validate(args: &RunbookArgs) -> Result<i32> {
    refuse_single_run_options(args, None)?;
    let Some(fleet) = load_or_report(&args.runbook) else {
        return Ok(1);
    };
    let mut first: BTreeMap<String, Loaded> = BTreeMap::new();
    let mut failed = 0;
    for app in &fleet.apps {
        let envs: Vec<Option<String>> = match &args.env {
            Some(e) => vec![Some(e.clone())],
            None => {
                let all = crate::runbook::environments_of(&app.runbook);
                if all.is_empty() {
                    vec![None]
                } else {
                    all.into_iter().map(Some).collect()
                }
            }
        };
        let mut ok = Vec::new();
        for env in envs {
            match crate::runbook::load_file_with(&app.runbook, env.as_deref(), &app.vars) {
                Ok(l) => {
                    if !l.warnings.items.is_empty() {
                        eprint!("{}", for_terminal(&l.warnings.render(&l.source), Lines::Many));
                    }
                    ok.push(env.unwrap_or_else(|| "no environment".into()));
                    first.entry(app.name.clone()).or_insert(l);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "application `{}`:\n{}",
                        app.name,
                        for_terminal(&e.to_string(), Lines::Many)
                    );
                }
            }
        }
        if !ok.is_empty() {
            let line = format!("✔ {:<20} {} ({})", app.name, app.runbook.display(), ok.join(", "));
            println!("{}", for_terminal(&line, Lines::One));
        }
    }
    if let Err(twice) = distinct_runbook_names(&first) {
        eprintln!("{}", for_terminal(&twice, Lines::Many));
        failed += 1;
    }
    if failed > 0 {
        return Ok(1);
    }
    println!(
        "✔ fleet {}: {} applications in {} waves",
        fleet.name,
        fleet.apps.len(),
        fleet.waves.len()
    );
    Ok(0)
}

/// `cutover plan FLEET.toml`: the waves in order, each application's runbook and steps.
pub fn plan(args: &RunbookArgs) -> Result<i32> {
    refuse_single_run_options(args, None)?;
    let Some(fleet) = load_or_report(&args.runbook) else {
        return Ok(1);
    };
    let loaded = match load_apps(&fleet, args.env.as_deref()) {
        Ok(l) => l,
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            return Ok(1);
        }
    };
    let mut out = format!("Fleet {}", fleet.name);
    if !fleet.description.is_empty() {
        out.push_str(&format!(": {}", fleet.description));
    }
    out.push_str(&format!(
        "\n{} applications in {} waves. A wave starts when every application of the one before holds \
         (cut over, verified, watched). When one rolls back, the fleet stops at its wave; the others in it: {}.\n",
        fleet.apps.len(),
        fleet.waves.len(),
        match fleet.on_rollback {
            OnRollback::Ask => "the operator is asked",
            OnRollback::RollBack => "rolled back too",
            OnRollback::Keep => "go on",
        }
    ));
    for (i, wave) in fleet.waves.iter().enumerate() {
        out.push_str(&format!(
            "\nWave {}: {} ({} at a time)\n",
            i + 1,
            wave.name,
            wave.concurrency.min(wave.apps.len())
        ));
        for app in &wave.apps {
            let l = &loaded[app];
            let steps: Vec<&str> = l.runbook.steps().map(|(_, s)| s.id.as_str()).collect();
            out.push_str(&format!(
                "  {app}: {} ({}), {} steps: {}\n",
                fleet
                    .app(app)
                    .map(|a| a.runbook.display().to_string())
                    .unwrap_or_default(),
                l.runbook.environment,
                steps.len(),
                steps.join(" → ")
            ));
        }
    }
    out.push_str("\nEach application in detail: cutover plan ITS_RUNBOOK --env ENV\n");
    print!("{}", for_terminal(&out, Lines::Many));
    Ok(0)
}
