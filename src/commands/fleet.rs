//! `cutover run FLEET.toml` and `cutover rehearse FLEET.toml`: every application's run
//! (each its own journal, lock, watch and rollback) driven wave by wave. A wave starts only
//! when every application of the one before is cut over, verified and watched (its run
//! holds or completed). A rollback stops the fleet at its wave; the fleet file says what
//! happens to the others in it (ask, roll them back, or keep them).

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;

use super::run::{Prepared, prepare, rehearsal_for};
use super::{Env, decisions, driver_for, uses_cockpit};
use crate::cli::{RehearseArgs, RunArgs};
use crate::engine::{Mode, RunState, RunStatus, situation};
use crate::fleet::{App, Fleet, OnRollback, Wave};
use crate::headless::{self, Decisions, FleetPart, Options, Output};
use crate::journal::{FleetRecord, JournalError, WaveRecord};
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
}

/// A run's standing once its driver stopped.
pub(crate) fn standing_of(state: &RunState, now: DateTime<Utc>) -> Standing {
    match &state.status {
        RunStatus::Holding { until } => {
            Standing::Passed(format!("holding until {}", until.format("%Y-%m-%d %H:%M UTC")))
        }
        RunStatus::Completed { at } => Standing::Passed(format!("completed at {}", at.format("%Y-%m-%d %H:%M UTC"))),
        RunStatus::RolledBack { at } => Standing::RolledBack(format!(
            "rolled back at {}{}",
            at.format("%H:%M:%S UTC"),
            state
                .incidents
                .last()
                .map(|i| format!(": {}", i.value.summary))
                .unwrap_or_default()
        )),
        RunStatus::Active | RunStatus::RollingBack => Standing::Waiting(situation_words(&situation(state, now), now)),
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
    // Runs are found by runbook name and environment: two applications with one name would
    // drive the same run.
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for (app, l) in &loaded {
        if let Some(other) = by_name.insert(l.runbook.name.as_str(), app.as_str()) {
            problems.push(format!(
                "applications `{other}` and `{app}` both have runbook name `{}`: each application's runbook needs its own [runbook] name",
                l.runbook.name
            ));
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems.join("\n"))
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

/// A fleet-level line: after the applications' own (`[billing] …`) lines.
fn say(output: Output, marker: &str, text: &str) {
    match output {
        Output::Text => println!("{marker}{}", for_terminal(text, Lines::Many)),
        Output::Json => println!("{}", serde_json::json!({ "kind": "fleet", "message": text })),
    }
}

/// `--vars` is per application in a fleet: its `[[app]] vars`.
fn refuse_vars(args: &crate::cli::RunbookArgs) -> Result<()> {
    if !args.vars.is_empty() {
        bail!(
            "--vars is for one runbook: in a fleet, each application's vars files are listed in the fleet file \
             ([[app]] vars = [\"...\"])"
        );
    }
    Ok(())
}

pub async fn run(env: &Env, args: &RunArgs, mode: Mode, rehearse: Option<&RehearseArgs>) -> Result<i32> {
    refuse_vars(&args.runbook)?;
    let fleet = match crate::fleet::load(&args.runbook.runbook) {
        Ok(f) => f,
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            return Ok(1);
        }
    };
    if args.dry_run {
        bail!(
            "a fleet has no dry run: check each application with `cutover run RUNBOOK --env ENV --dry-run` \
             (`cutover plan {}` lists them)",
            args.runbook.runbook.display()
        );
    }
    if args.reload_runbook {
        bail!("--reload-runbook is for one run: reload an application with `cutover run ITS_RUNBOOK --reload-runbook`");
    }
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
    let record = record_for(env, &fleet, &environment, mode)?;
    if uses_cockpit(&args.drive) {
        if decisions(&args.drive)?.given() {
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
    let fleet_run = FleetRun {
        env,
        args,
        mode,
        fleet: &fleet,
        loaded: &loaded,
        rehearsals: &rehearsals,
        record: std::cell::RefCell::new(record),
        marker,
        standings: std::cell::RefCell::new(BTreeMap::new()),
        decisions: decisions(&args.drive)?,
    };
    say(
        args.drive.output,
        marker,
        &format!(
            "fleet {} ({}): {} applications in {} waves, environment {environment}",
            fleet.name,
            fleet.record_id(&environment, mode),
            fleet.apps.len(),
            fleet.waves.len()
        ),
    );
    let mut exit = Exit::Completed;
    for (i, wave) in fleet.waves.iter().enumerate() {
        say(
            args.drive.output,
            marker,
            &format!(
                "━━ wave {}/{}: {} ({}) ━━",
                i + 1,
                fleet.waves.len(),
                wave.name,
                wave.apps.join(", ")
            ),
        );
        if let Some((stopped, why)) = fleet_run.wave(wave).await? {
            exit = stopped;
            let mut record = fleet_run.record.borrow_mut();
            record.stopped = why.clone();
            record.updated_at = Utc::now();
            env.store.write_fleet(&record)?;
            say(
                args.drive.output,
                marker,
                &format!("■ the fleet stopped at {}: {why}", wave.name),
            );
            break;
        }
        say(
            args.drive.output,
            marker,
            &format!("✔ {} passed: every application cut over and watched", wave.name),
        );
    }
    fleet_run.summary();
    Ok(exit as i32)
}

impl Fleet {
    fn record_id(&self, environment: &str, mode: Mode) -> String {
        FleetRecord::id_for(&self.name, environment, mode)
    }
}

struct FleetRun<'a> {
    env: &'a Env,
    args: &'a RunArgs,
    mode: Mode,
    fleet: &'a Fleet,
    loaded: &'a BTreeMap<String, Loaded>,
    rehearsals: &'a BTreeMap<String, crate::engine::Rehearsal>,
    record: std::cell::RefCell<FleetRecord>,
    marker: &'static str,
    standings: std::cell::RefCell<BTreeMap<String, Standing>>,
    decisions: Decisions,
}

/// How one application's drive ended.
struct Ended {
    app: String,
    run_id: Option<String>,
    standing: Standing,
}

impl FleetRun<'_> {
    fn already(&self, app: &str) -> Option<Standing> {
        standing_before(self.env, &self.record.borrow(), app, self.args)
    }

    /// Drives one wave. `None` when it passed; otherwise the exit and why it stopped.
    async fn wave(&self, wave: &Wave) -> Result<Option<(Exit, String)>> {
        let output = self.args.drive.output;
        let mut queue: VecDeque<&App> = VecDeque::new();
        for name in &wave.apps {
            match self.already(name) {
                Some(standing) => {
                    say(
                        output,
                        self.marker,
                        &format!("[{name}] {}: {}", standing.word(), standing.detail()),
                    );
                    self.standings.borrow_mut().insert(name.clone(), standing);
                }
                None => queue.extend(self.fleet.app(name)),
            }
        }
        let mut senders: BTreeMap<String, watch::Sender<Option<String>>> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        let mut stopping = false;
        let record = &self.record;
        let store = &self.env.store;
        loop {
            while !stopping && running.len() < wave.concurrency {
                let Some(app) = queue.pop_front() else { break };
                let (tx, rx) = watch::channel(None);
                senders.insert(app.name.clone(), tx);
                let decisions = decisions_for(&self.decisions, &app.name);
                let on_run = move |run_id: &str| {
                    let mut r = record.borrow_mut();
                    if r.runs.get(&app.name).map(String::as_str) != Some(run_id) {
                        r.runs.insert(app.name.clone(), run_id.to_string());
                        r.updated_at = Utc::now();
                        let _ = store.write_fleet(&r);
                    }
                };
                running.push(drive_app(
                    self.env,
                    self.args,
                    self.mode,
                    app,
                    &self.loaded[&app.name],
                    self.rehearsals.get(&app.name).cloned(),
                    decisions,
                    rx,
                    on_run,
                ));
            }
            let Some(ended) = running.next().await else { break };
            senders.remove(&ended.app);
            match &ended.standing {
                Standing::Passed(_) => {}
                Standing::RolledBack(_) => {
                    stopping = true;
                    let others: Vec<String> = senders.keys().cloned().collect();
                    if !others.is_empty() {
                        let reason = format!("the fleet: {} rolled back in {}", ended.app, wave.name);
                        if self.roll_back_others(&ended.app, wave, &others).await {
                            for tx in senders.values() {
                                let _ = tx.send(Some(reason.clone()));
                            }
                        }
                    }
                }
                Standing::Waiting(_) | Standing::Failed(_) | Standing::NotStarted => stopping = true,
            }
            if let Some(run_id) = &ended.run_id {
                let mut r = record.borrow_mut();
                if r.runs.get(&ended.app) != Some(run_id) {
                    r.runs.insert(ended.app.clone(), run_id.clone());
                    let _ = store.write_fleet(&r);
                }
            }
            self.standings.borrow_mut().insert(ended.app, ended.standing);
        }
        for app in queue {
            self.standings
                .borrow_mut()
                .insert(app.name.clone(), Standing::NotStarted);
        }
        let standings = self.standings.borrow();
        let of_wave: Vec<(&String, &Standing)> =
            wave.apps.iter().filter_map(|a| Some((a, standings.get(a)?))).collect();
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
        let not_started: Vec<&String> = of_wave
            .iter()
            .filter(|(_, s)| matches!(s, Standing::NotStarted))
            .map(|(a, _)| *a)
            .collect();
        let later = if not_started.is_empty() {
            String::new()
        } else {
            format!(
                "; not started: {}",
                not_started.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        Ok(if !rolled_back.is_empty() {
            Some((
                Exit::RolledBack,
                format!("rolled back: {}{later}", rolled_back.join("; ")),
            ))
        } else if !failed.is_empty() {
            Some((Exit::Error, format!("failed: {}{later}", failed.join("; "))))
        } else if !waiting.is_empty() {
            Some((
                Exit::Waiting,
                format!(
                    "waiting: {}{later}. Nothing is lost: run the same command again to go on",
                    waiting.join("; ")
                ),
            ))
        } else {
            None
        })
    }

    /// Whether to roll back the applications still going in a wave one of them rolled back in.
    async fn roll_back_others(&self, app: &str, wave: &Wave, others: &[String]) -> bool {
        let output = self.args.drive.output;
        let list = others.join(", ");
        let how = "roll one back with `cutover rollback RUN_ID --reason ...` (`cutover runs` lists them)";
        match self.fleet.on_rollback {
            OnRollback::RollBack => {
                say(
                    output,
                    self.marker,
                    &format!(
                        "↺ {app} rolled back: rolling back the others in {} ({list}), as the fleet file says",
                        wave.name
                    ),
                );
                true
            }
            OnRollback::Keep => {
                say(
                    output,
                    self.marker,
                    &format!(
                        "{app} rolled back: the others in {} ({list}) go on, as the fleet file says; {how}",
                        wave.name
                    ),
                );
                false
            }
            OnRollback::Ask if std::io::stdin().is_terminal() && output == Output::Text => {
                println!(
                    "{}{app} rolled back. Roll back the others in {} too ({list})? [y/N] ",
                    self.marker, wave.name
                );
                let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
                let yes = matches!(lines.next_line().await, Ok(Some(a)) if matches!(a.trim(), "y" | "Y" | "yes"));
                if !yes {
                    say(
                        output,
                        self.marker,
                        &format!("the others in {} go on; {how}", wave.name),
                    );
                }
                yes
            }
            OnRollback::Ask => {
                say(
                    output,
                    self.marker,
                    &format!(
                        "{app} rolled back; there is no terminal to ask whether to roll back the others in {} ({list}): they go on. \
                         Set on_rollback = \"roll_back\" in the fleet file to roll them back unattended, or {how}",
                        wave.name
                    ),
                );
                false
            }
        }
    }

    fn summary(&self) {
        let output = self.args.drive.output;
        if output == Output::Json {
            let apps: Vec<serde_json::Value> = self
                .fleet
                .waves
                .iter()
                .flat_map(|w| w.apps.iter().map(move |a| (w, a)))
                .map(|(w, a)| {
                    let s = self.standings.borrow().get(a).cloned().unwrap_or(Standing::NotStarted);
                    serde_json::json!({
                        "app": a, "wave": w.name, "run_id": self.record.borrow().runs.get(a),
                        "standing": s.word(), "detail": s.detail(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "kind": "fleet_summary", "fleet_id": self.record.borrow().fleet_id, "apps": apps })
            );
            return;
        }
        println!(
            "{}{:<20} {:<12} {:<12} {:<44} DETAIL",
            self.marker, "APP", "WAVE", "STANDING", "RUN"
        );
        for wave in &self.fleet.waves {
            for app in &wave.apps {
                let s = self
                    .standings
                    .borrow()
                    .get(app)
                    .cloned()
                    .unwrap_or(Standing::NotStarted);
                println!(
                    "{}{:<20} {:<12} {:<12} {:<44} {}",
                    self.marker,
                    app,
                    wave.name,
                    s.word(),
                    self.record.borrow().runs.get(app).map(String::as_str).unwrap_or("-"),
                    for_terminal(s.detail(), Lines::One)
                );
            }
        }
    }
}

/// The standing an application had before this fleet run, from its run's summary: `Some`
/// when it need not be driven now (it holds, completed, or rolled back without a new attempt).
pub(super) fn standing_before(env: &Env, record: &FleetRecord, app: &str, args: &RunArgs) -> Option<Standing> {
    let run_id = record.runs.get(app)?.clone();
    let summary = env.store.summary(&run_id)?;
    match &summary.status {
        RunStatus::Holding { until } if *until > Utc::now() => Some(Standing::Passed(format!(
            "holding until {}",
            until.format("%Y-%m-%d %H:%M UTC")
        ))),
        // --new-run starts the applications that completed anew.
        RunStatus::Completed { at } if !args.new_run => Some(Standing::Passed(format!(
            "completed at {}",
            at.format("%Y-%m-%d %H:%M UTC")
        ))),
        RunStatus::RolledBack { .. } if !args.new_attempt => Some(Standing::RolledBack(format!(
            "run {run_id} rolled back: attach its root-cause analysis (`cutover rca {run_id} --file rca.md`), then \
             run the fleet again with --new-attempt"
        ))),
        _ => None,
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
    match driver_for(session, &args.drive).await {
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
    rollback: watch::Receiver<Option<String>>,
    on_run: impl Fn(&str),
) -> Ended {
    let (mut driver, preamble) = match open_app(env, args, mode, loaded, rehearsal, on_run).await {
        Ok(opened) => opened,
        Err((run_id, standing)) => {
            if let Standing::Failed(why) = &standing {
                println!("[{}] error: {}", app.name, for_terminal(why, Lines::One));
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
            rollback: Some(rollback),
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

/// `cutover validate FLEET.toml`: the fleet file, then every application's runbook (for
/// the environment given, or for each one its runbook defines).
pub fn validate(args: &crate::cli::RunbookArgs) -> Result<i32> {
    refuse_vars(args)?;
    let fleet = match crate::fleet::load(&args.runbook) {
        Ok(f) => f,
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            return Ok(1);
        }
    };
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
            println!("✔ {:<20} {} ({})", app.name, app.runbook.display(), ok.join(", "));
        }
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
pub fn plan(args: &crate::cli::RunbookArgs) -> Result<i32> {
    refuse_vars(args)?;
    let fleet = match crate::fleet::load(&args.runbook) {
        Ok(f) => f,
        Err(problems) => {
            eprintln!("{}", for_terminal(&problems, Lines::Many));
            return Ok(1);
        }
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
