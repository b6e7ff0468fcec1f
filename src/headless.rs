//! Headless runs: one line per journal event (text or JSON), prompts on a terminal,
//! and otherwise only the decisions given on the command line. Stops with exit code 3
//! where the operator is needed and says exactly how to continue. SIGINT, SIGTERM and
//! SIGHUP end it as they end the cockpit: the step in progress is stopped (it will be in
//! doubt), the session is closed saying why, exit 3, and the same command resumes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader, Lines as InputLines, Stdin};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::engine::{Command, Recorded, Resolution, RunEvent, RunStatus, Situation, situation};
use crate::runbook::Approval;
use crate::runbook::duration::countdown;
use crate::runner::{Driver, Exit, SubmitError};
use crate::terminal_text::{Lines, for_terminal};
use crate::words::{evidence_lines, record_line, situation_words};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Decisions the operator gave up front, used when the run reaches them.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Step → typed text (for `type:` confirmations).
    pub approvals: BTreeMap<String, Option<String>>,
    pub notes: BTreeMap<String, String>,
    pub resolutions: BTreeMap<String, Resolution>,
    pub retries: BTreeSet<String>,
    pub skips: BTreeMap<String, String>,
}

impl Decisions {
    /// Whether any decision was given.
    pub fn given(&self) -> bool {
        !(self.approvals.is_empty()
            && self.notes.is_empty()
            && self.resolutions.is_empty()
            && self.retries.is_empty()
            && self.skips.is_empty())
    }
}

pub struct Options {
    pub output: Output,
    pub decisions: Decisions,
    /// Gates and holds that open within this long are waited for; longer ones stop the run.
    pub max_wait: Duration,
    /// Ask on the terminal when the operator is needed.
    pub interactive: bool,
    /// Records written before the loop started (run start, session open), printed first.
    pub preamble: Vec<Recorded>,
    /// In a fleet: the application, put before every text line (`[billing]`) and in every
    /// JSON line (`"app"`); the run stops once it reaches its hold (the wave has what it
    /// needs from it); and the fleet may ask it to roll back.
    pub fleet: Option<FleetPart>,
}

/// One application's part in a fleet's headless run.
pub struct FleetPart {
    pub app: String,
    /// What the fleet asks of this run, once it does.
    pub asks: Option<tokio::sync::watch::Receiver<Option<FleetAsk>>>,
}

/// What a fleet asks of one of its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetAsk {
    /// Another application of its wave rolled back: roll back too, for this reason.
    RollBack(String),
    /// The fleet was interrupted (a signal it caught while this run was being opened): stop
    /// as a signal stops a run.
    Stop(&'static str),
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum JsonLine<'a> {
    Event(&'a Recorded),
    Waiting { situation: &'a Situation, message: String },
    Exit { code: i32, message: &'a str },
}

struct Printer {
    output: Output,
    /// Put before every text line: a rehearsal or a dry run must never pass for live (and,
    /// in a fleet, the application).
    marker: String,
    /// In a fleet, the application, in every JSON line.
    app: Option<String>,
    /// The same for JSON lines: `"rehearsal": true`, `"dry_run": true`.
    flags: Vec<&'static str>,
}

/// The mark of every line of a run that is not live.
pub fn line_marker(state: &crate::engine::RunState) -> &'static str {
    match (state.mode, state.dry_run) {
        (crate::engine::Mode::Rehearsal, true) => "[REHEARSAL, DRY RUN] ",
        (crate::engine::Mode::Rehearsal, false) => "[REHEARSAL] ",
        (crate::engine::Mode::Live, true) => "[DRY RUN] ",
        (crate::engine::Mode::Live, false) => "",
    }
}

impl Printer {
    fn line(&self, json: JsonLine<'_>, text: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        let _ = match self.output {
            Output::Text => {
                // Lines are built safe to print (`record_line`, `evidence_lines`); what else
                // they quote is made so here. JSON carries the texts as they are.
                let text = text();
                let text = for_terminal(&text, Lines::Many);
                let marked: Vec<String> = text.lines().map(|l| format!("{}{l}", self.marker)).collect();
                writeln!(out, "{}", marked.join("\n"))
            }
            Output::Json => {
                let mut value = serde_json::to_value(&json).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    if let Some(app) = &self.app {
                        object.insert("app".to_string(), serde_json::Value::String(app.clone()));
                    }
                    for flag in &self.flags {
                        object.insert((*flag).to_string(), serde_json::Value::Bool(true));
                    }
                }
                writeln!(out, "{value}")
            }
        };
        let _ = out.flush();
    }

    fn records(&self, records: &[Recorded]) {
        for r in records {
            self.line(JsonLine::Event(r), || {
                let mut text = record_line(r);
                if let RunEvent::StepFailed { failure, .. } = &r.event {
                    for line in evidence_lines(&failure.evidence, 5) {
                        text.push_str(&format!("\n{:>20} {line}", ""));
                    }
                }
                text
            });
        }
    }

    fn waiting(&self, situation: &Situation, now: DateTime<Utc>) {
        let message = situation_words(situation, now);
        self.line(
            JsonLine::Waiting {
                situation,
                message: message.clone(),
            },
            || format!("{:>20} {}", "…", for_terminal(&message, Lines::One)),
        );
    }
}

/// Why the loop stopped.
struct Stop {
    exit: Exit,
    message: String,
}

fn stop(exit: Exit, message: impl Into<String>) -> Stop {
    Stop {
        exit,
        message: message.into(),
    }
}

enum Wake {
    Message(crate::runner::Msg),
    Timer,
    Signal(&'static str),
    Fleet(FleetAsk),
}

/// What the fleet asks, once it does (each ask is taken once).
async fn fleet_asks(fleet: &mut Option<FleetPart>) -> FleetAsk {
    let ask = loop {
        let Some(rx) = fleet.as_mut().and_then(|f| f.asks.as_mut()) else {
            return std::future::pending().await;
        };
        if let Some(ask) = rx.borrow_and_update().clone() {
            break ask;
        }
        if rx.changed().await.is_err() {
            // The fleet will never ask.
            return std::future::pending().await;
        }
    };
    if let Some(f) = fleet {
        f.asks = None;
    }
    ask
}

/// Prints a line on stdout. A terminal that went away answers writes with an error (EIO
/// after a hang-up): that must not end the process before its session is closed.
fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The signals that end a headless session cleanly, as they end the cockpit's: SIGINT
/// (Ctrl-C), SIGTERM (`kill`, a service manager) and SIGHUP (the terminal or the SSH
/// session went away). Once installed, they no longer kill the process: the step in
/// progress is stopped, the session is closed saying why, and the run resumes later.
pub struct Signals {
    term: Option<Signal>,
    hangup: Option<Signal>,
}

impl Signals {
    pub fn install() -> Self {
        Self {
            term: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// The next signal, in words for the journal.
    pub async fn next(&mut self) -> &'static str {
        async fn one(s: &mut Option<Signal>) {
            let delivered = match s {
                Some(s) => s.recv().await.is_some(),
                None => false,
            };
            if !delivered {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "interrupted (SIGINT)",
            () = one(&mut self.term) => "terminated (SIGTERM)",
            () = one(&mut self.hangup) => "hung up (SIGHUP)",
        }
    }
}

/// The stop for a signal: nothing is lost, the run goes on with `cutover resume`.
fn signalled(what: &str, run_id: &str) -> Stop {
    stop(
        Exit::Waiting,
        format!("{what}; the run is saved: continue with `cutover resume {run_id}`"),
    )
}

pub async fn run(driver: &mut Driver, mut opts: Options) -> Exit {
    let state = driver.state();
    let printer = Printer {
        output: opts.output,
        marker: format!(
            "{}{}",
            line_marker(state),
            opts.fleet.as_ref().map(|f| format!("[{}] ", f.app)).unwrap_or_default()
        ),
        app: opts.fleet.as_ref().map(|f| f.app.clone()),
        flags: [
            (state.mode == crate::engine::Mode::Rehearsal, "rehearsal"),
            (state.dry_run, "dry_run"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect(),
    };
    let mut input = Input {
        lines: opts.interactive.then(|| BufReader::new(tokio::io::stdin()).lines()),
        signals: Signals::install(),
        caught: None,
    };
    let mut announced: Option<Situation> = None;
    let mut lease_said: Option<String> = None;
    let run_id = driver.state().run_id.clone();
    printer.records(&std::mem::take(&mut opts.preamble));

    let outcome: Stop = loop {
        let now = Utc::now();
        match driver.start_due(now) {
            Ok(records) => printer.records(&records),
            Err(e) => break stop(Exit::Error, e.to_string()),
        }
        // A step held back because the run's Lease could not be renewed: said once, and
        // again when steps start again.
        let lease_wait = driver.lease_wait().map(str::to_string);
        if lease_wait != lease_said && opts.output == Output::Text {
            match &lease_wait {
                Some(why) => say(format_args!("{}{:>20} waiting: {why}", printer.marker, "⏸")),
                None => say(format_args!(
                    "{}{:>20} the run's Lease is renewed again: steps start",
                    printer.marker, "▶"
                )),
            }
        }
        lease_said = lease_wait;
        let situation = situation(driver.state(), now);
        if announced.as_ref() != Some(&situation) && needs_announcing(&situation) {
            printer.waiting(&situation, now);
            announced = Some(situation.clone());
        }
        // A fleet's wave needs its runs cut over and watched, not through their hold (which
        // may be a gate before decommissioning phases).
        if opts.fleet.is_some()
            && let RunStatus::Holding { until } = driver.state().status
            && until > now
        {
            break stop(
                Exit::Completed,
                format!(
                    "cut over and watched: holding until {} (the fleet goes on; the run finishes with `cutover resume {run_id}` after its hold)",
                    until.format("%Y-%m-%d %H:%M UTC")
                ),
            );
        }
        let wait_until: Option<DateTime<Utc>> = match &situation {
            Situation::Completed => break stop(Exit::Completed, "the run is completed"),
            Situation::RolledBack { rca_attached } => {
                let state = driver.state();
                if state.rehearsal.as_ref().is_some_and(|r| r.demo) {
                    break stop(
                        Exit::RolledBack,
                        "the run is rolled back: DNS points at the VMs again and the Deployments are at zero. In a real \
                         run, the next attempt needs a written root-cause analysis first (`cutover rca`)",
                    );
                }
                let command = match state.mode {
                    crate::engine::Mode::Live => "cutover run",
                    crate::engine::Mode::Rehearsal => "cutover rehearse",
                };
                break stop(Exit::RolledBack, rolled_back_words(&run_id, command, *rca_attached));
            }
            Situation::Running { .. } | Situation::Ready { step: Some(_) } => None,
            // Nothing running, nothing to start, nothing to wait for: never spin on it.
            Situation::Ready { step: None } if driver.busy_with().is_none() => {
                break stop(
                    Exit::Error,
                    format!(
                        "run {run_id} has nothing left to do and is not complete; please report this with its journal"
                    ),
                );
            }
            Situation::Ready { step: None } => None,
            Situation::Gate { until, .. } | Situation::Holding { until } => {
                if *until - now > chrono::Duration::from_std(opts.max_wait).unwrap_or_default() {
                    break stop(
                        Exit::Waiting,
                        format!(
                            "{}. Nothing is lost: continue after that with `cutover resume {run_id}` (or wait longer with --max-wait)",
                            situation_words(&situation, now)
                        ),
                    );
                }
                Some(*until)
            }
            // A dry run's journal does not outlive it: there is nothing to resume.
            Situation::Failed { step, failure } if driver.state().dry_run => {
                break stop(
                    Exit::Error,
                    format!(
                        "the dry run stopped at {step}: {}{}. Nothing was changed; fix the cause and run the dry run again",
                        failure.message,
                        failure.advice.as_ref().map(|a| format!(" ({a})")).unwrap_or_default()
                    ),
                );
            }
            Situation::Approval { .. } | Situation::InDoubt { .. } | Situation::Failed { .. } => {
                match operator_decision(driver, &mut opts, &mut input, &situation).await {
                    Ok(records) => {
                        printer.records(&records);
                        continue;
                    }
                    Err(s) => break input.caught.take().map_or(s, |what| signalled(what, &run_id)),
                }
            }
        };

        let busy = driver.busy_with().is_some();
        let timer = match wait_until {
            Some(t) => (t - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(Duration::from_secs(60)),
            None if busy => Duration::from_secs(30),
            // Ready but nothing started: look again shortly.
            None => Duration::from_millis(200),
        };
        let wake = tokio::select! {
            msg = driver.recv(), if busy || driver.listening() => Wake::Message(msg),
            () = tokio::time::sleep(timer) => Wake::Timer,
            what = input.signals.next() => Wake::Signal(what),
            ask = fleet_asks(&mut opts.fleet) => Wake::Fleet(ask),
        };
        match wake {
            Wake::Message(msg) => match driver.handle(msg, Utc::now()) {
                Ok(records) => printer.records(&records),
                Err(e) => break stop(Exit::Error, e.to_string()),
            },
            Wake::Timer => {
                if let (Some(until), false) = (wait_until, busy) {
                    let left = (until - Utc::now()).to_std().unwrap_or_default();
                    if !left.is_zero() && opts.output == Output::Text {
                        say(format_args!("{}{:>20} {} to go", printer.marker, "…", countdown(left)));
                    }
                } else if let Some(step) = driver.busy_with()
                    && opts.output == Output::Text
                {
                    say(format_args!("{}{:>20} still running {step}", printer.marker, "…"));
                }
            }
            Wake::Signal(what) => break signalled(what, &run_id),
            Wake::Fleet(FleetAsk::Stop(what)) => break signalled(what, &run_id),
            Wake::Fleet(FleetAsk::RollBack(reason)) => {
                let state = driver.state();
                let ended = matches!(
                    state.status,
                    RunStatus::RollingBack | RunStatus::RolledBack { .. } | RunStatus::Completed { .. }
                );
                if !ended {
                    match driver.command(
                        Command::Rollback { reason },
                        &driver.session.operator.clone(),
                        Utc::now(),
                    ) {
                        Ok(records) => printer.records(&records),
                        Err(e) => break stop(Exit::Error, format!("cannot roll back as the fleet asked: {e}")),
                    }
                }
            }
        }
    };

    match driver.shutdown(&outcome.message).await {
        Ok(records) => printer.records(&records),
        Err(e) => {
            let message = format!("{}; and closing the session failed: {e}", outcome.message);
            printer.line(
                JsonLine::Exit {
                    code: 1,
                    message: &message,
                },
                || format!("error: {}", for_terminal(&message, Lines::One)),
            );
            return Exit::Error;
        }
    }
    let code = outcome.exit as i32;
    let in_fleet = printer.app.is_some();
    printer.line(
        JsonLine::Exit {
            code,
            message: &outcome.message,
        },
        || {
            let message = for_terminal(&outcome.message, Lines::One);
            // In a fleet, the fleet's exit is the process's: an application's is not.
            let exit = if in_fleet {
                String::new()
            } else {
                format!(" (exit {code})")
            };
            match outcome.exit {
                Exit::Completed => format!("✔ {message}{exit}"),
                _ => format!("■ {message}{exit}"),
            }
        },
    );
    outcome.exit
}

fn needs_announcing(situation: &Situation) -> bool {
    matches!(situation, Situation::Gate { .. } | Situation::Holding { .. })
}

fn rolled_back_words(run_id: &str, command: &str, rca_attached: bool) -> String {
    if rca_attached {
        format!(
            "the run is rolled back and its root-cause analysis is attached: start the next attempt with `{command} RUNBOOK --new-attempt` (run {run_id})"
        )
    } else {
        format!(
            "the run is rolled back. No second attempt without a written root-cause analysis: `cutover rca {run_id} --file rca.md`, then `{command} RUNBOOK --new-attempt`"
        )
    }
}

fn approval_instructions(run_id: &str, step: &str, approval: &Approval, note_required: bool) -> String {
    let flag = match approval {
        Approval::Type(text) => format!("--approve {step}='{text}'"),
        _ => format!("--approve {step}"),
    };
    let note = if note_required {
        format!(" --note {step}='...'")
    } else {
        String::new()
    };
    format!(
        "waiting for approval of step {step}: continue with `cutover resume {run_id} {flag}{note}` \
         (or run it on a terminal to be asked)"
    )
}

/// Where the operator's answers come from (the terminal, if there is one), and the signals
/// that may end the wait for them.
struct Input {
    lines: Option<InputLines<BufReader<Stdin>>>,
    signals: Signals,
    /// A signal that came while a question was asked: the session ends for it.
    caught: Option<&'static str>,
}

async fn ask(input: &mut Input, question: &str) -> Option<String> {
    let lines = input.lines.as_mut()?;
    let _ = write!(std::io::stderr(), "{}", for_terminal(question, Lines::Many));
    let _ = std::io::stderr().flush();
    tokio::select! {
        line = lines.next_line() => line.ok().flatten().map(|l| l.trim().to_string()),
        what = input.signals.next() => {
            let _ = writeln!(std::io::stderr());
            input.caught = Some(what);
            None
        }
    }
}

/// What the operator decides where the run needs them: from the command line, from the
/// terminal, or, with neither, a stop that says how to give the decision.
async fn operator_decision(
    driver: &mut Driver,
    opts: &mut Options,
    stdin: &mut Input,
    situation: &Situation,
) -> Result<Vec<Recorded>, Stop> {
    let run_id = driver.state().run_id.clone();
    match situation {
        Situation::Approval {
            step,
            approval,
            note_required,
        } => operator_approval(driver, opts, stdin, step, approval, *note_required)
            .await?
            .ok_or_else(|| stop(Exit::Waiting, approval_instructions(&run_id, step, approval, *note_required))),
        Situation::InDoubt { step } => in_doubt(driver, opts, stdin, step).await?.ok_or_else(|| {
            stop(
                Exit::Waiting,
                format!(
                    "step {step} is in doubt: it was running when the last session ended and is not safe to repeat. \
                     Check whether it happened, then continue with `cutover resume {run_id} --resolve {step}=succeeded` \
                     (or =failed, or =retry to run it again)"
                ),
            )
        }),
                Situation::Failed { step, failure } => {
            let rolling_back = driver.state().status == crate::engine::RunStatus::RollingBack;
            failed(driver, opts, stdin, step).await?.ok_or_else(|| {
                let or_roll_back = if rolling_back {
                    String::new()
                } else {
                    format!(", or roll back with `cutover rollback {run_id} --reason '...'`")
                };
                stop(
                    Exit::Waiting,
                    format!(
                        "step {step} failed: {}. The run is stopped and saved for your decision: fix the cause and \
                         continue with `cutover resume {run_id} --retry {step}`, skip it with --skip {step}='reason'{or_roll_back}",
                        failure.message
                    ),
                )
            })
        }
        _ => Ok(Vec::new()),
    }
}

fn refused(e: SubmitError) -> Result<Option<Vec<Recorded>>, Stop> {
    match e {
        SubmitError::Refused(r) => Err(stop(Exit::Error, format!("refused: {r}"))),
        SubmitError::Journal(j) => Err(stop(Exit::Error, j.to_string())),
        e @ SubmitError::TakenOver { .. } => Err(stop(Exit::Error, e.to_string())),
    }
}

async fn operator_approval(
    driver: &mut Driver,
    opts: &mut Options,
    stdin: &mut Input,
    step: &str,
    approval: &Approval,
    note_required: bool,
) -> Result<Option<Vec<Recorded>>, Stop> {
    let by = driver.session.operator.clone();
    if let Some(typed) = opts.decisions.approvals.remove(step) {
        let note = opts.decisions.notes.remove(step);
        let command = Command::Approve {
            step: step.to_string(),
            typed,
            note,
        };
        return driver.command(command, &by, Utc::now()).map(Some).or_else(refused);
    }
    if stdin.lines.is_none() {
        return Ok(None);
    }
    let title = driver.state().spec(step).map(|s| s.title.clone()).unwrap_or_default();
    let typed = match approval {
        Approval::Type(text) => {
            let answer = ask(
                stdin,
                &format!("Step {step} ({title}).\nType `{text}` to approve, or press Enter to stop: "),
            )
            .await;
            match answer.filter(|a| !a.is_empty()) {
                Some(a) => Some(a),
                None => return Ok(None),
            }
        }
        _ => {
            let answer = ask(stdin, &format!("Step {step} ({title}). Approve? [y/N] ")).await;
            if !matches!(answer.as_deref(), Some("y" | "Y" | "yes")) {
                return Ok(None);
            }
            None
        }
    };
    let note = if note_required {
        match ask(stdin, &format!("Note for step {step} (required): "))
            .await
            .filter(|n| !n.is_empty())
        {
            Some(n) => Some(n),
            None => return Ok(None),
        }
    } else {
        None
    };
    let command = Command::Approve {
        step: step.to_string(),
        typed,
        note,
    };
    match driver.command(command, &by, Utc::now()) {
        Ok(records) => Ok(Some(records)),
        // A mistyped confirmation is refused and asked again.
        Err(SubmitError::Refused(r)) => {
            let _ = writeln!(
                std::io::stderr(),
                "refused: {}",
                for_terminal(&r.to_string(), Lines::One)
            );
            Ok(Some(Vec::new()))
        }
        Err(e) => refused(e),
    }
}

async fn in_doubt(
    driver: &mut Driver,
    opts: &mut Options,
    stdin: &mut Input,
    step: &str,
) -> Result<Option<Vec<Recorded>>, Stop> {
    let by = driver.session.operator.clone();
    let resolution = match opts.decisions.resolutions.remove(step) {
        Some(r) => r,
        None => {
            let question = format!(
                "Step {step} was running when the last session ended, and it is not safe to repeat.\n\
                 Did it happen? [s]ucceeded / [f]ailed / [r]un it again / Enter to stop: "
            );
            match ask(stdin, &question).await.as_deref() {
                Some("s") => Resolution::Succeeded,
                Some("f") => Resolution::Failed,
                Some("r") => Resolution::Retry,
                _ => return Ok(None),
            }
        }
    };
    let command = Command::ResolveInDoubt {
        step: step.to_string(),
        resolution,
        note: None,
    };
    driver.command(command, &by, Utc::now()).map(Some).or_else(refused)
}

async fn failed(
    driver: &mut Driver,
    opts: &mut Options,
    stdin: &mut Input,
    step: &str,
) -> Result<Option<Vec<Recorded>>, Stop> {
    let by = driver.session.operator.clone();
    let command = if opts.decisions.retries.remove(step) {
        Command::Retry { step: step.to_string() }
    } else if let Some(reason) = opts.decisions.skips.remove(step) {
        Command::Skip {
            step: step.to_string(),
            reason,
        }
    } else {
        match ask(
            stdin,
            &format!("Step {step} failed. [r]etry / [s]kip / roll [b]ack / Enter to stop: "),
        )
        .await
        .as_deref()
        {
            Some("r") => Command::Retry { step: step.to_string() },
            Some("s") => match ask(stdin, "Why is it skipped? ").await.filter(|r| !r.is_empty()) {
                Some(reason) => Command::Skip {
                    step: step.to_string(),
                    reason,
                },
                None => return Ok(None),
            },
            Some("b") => match ask(stdin, "Why roll back? ").await.filter(|r| !r.is_empty()) {
                Some(reason) => Command::Rollback { reason },
                None => return Ok(None),
            },
            _ => return Ok(None),
        }
    };
    driver.command(command, &by, Utc::now()).map(Some).or_else(refused)
}
