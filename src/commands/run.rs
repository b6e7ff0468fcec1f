//! `cutover run`, `resume`, `rollback` and `rca`: the commands that take a run's lock
//! and change it.

use anyhow::{Context as _, Result, bail};
use chrono::Utc;

use super::validate::load_or_report;
use super::{Env, drive};
use crate::bounded;
use crate::cli::{RcaArgs, RehearseArgs, ResumeArgs, RollbackArgs, RunArgs};
use crate::effects;
use crate::engine::{Command, GATES, GateOverride, Mode, Rehearsal, RunEvent, RunStatus};
use crate::journal::{ScratchDir, Store};
use crate::runbook::Loaded;
use crate::runbook::{Runbook, duration};
use crate::runner::HeldRun;

/// A demo's world ended with its process: its run cannot go on.
fn refuse_demo(state: &crate::engine::RunState) -> Result<()> {
    if state.rehearsal.as_ref().is_some_and(|r| r.demo) {
        bail!(
            "run {} was a `cutover demo`: its sandbox (DNS servers, cluster, metrics) ended with that process, so \
             the run cannot go on. Start a new one with `cutover demo`; read this one with `cutover export {}`",
            state.run_id,
            state.run_id
        );
    }
    Ok(())
}

/// A live run is approved by its operator: refused before a session is opened on it.
fn refuse_auto_approve(state: &crate::engine::RunState, asked: bool) -> Result<()> {
    if asked && state.mode == Mode::Live && !state.dry_run {
        bail!(
            "run {} is live: approvals are given by the operator (--auto-approve is only for rehearsals)",
            state.run_id
        );
    }
    Ok(())
}

/// Environments a rehearsal must not target: it runs for real with shortened gates and
/// may approve by itself.
fn looks_like_production(environment: &str) -> bool {
    let e = environment.to_ascii_lowercase();
    ["prod", "prd", "live"].iter().any(|w| e.contains(w))
}

/// Closes the session with `reason` and turns it into an error for the operator.
async fn give_up(mut session: HeldRun, reason: String) -> anyhow::Error {
    let _ = session.close(&reason, Utc::now());
    session.let_go().await;
    anyhow::anyhow!(reason)
}

pub async fn run(env: &Env, args: RunArgs) -> Result<i32> {
    if crate::fleet::is_fleet_file(&args.runbook.runbook) {
        return super::fleet::run(env, &args, Mode::Live, None).await;
    }
    let Some(loaded) = load_or_report(&args.runbook) else {
        return Ok(1);
    };
    start(env, args, loaded, Mode::Live, None).await
}

pub async fn rehearse(env: &Env, args: RehearseArgs) -> Result<i32> {
    if crate::fleet::is_fleet_file(&args.run.runbook.runbook) {
        return super::fleet::run(env, &args.run, Mode::Rehearsal, Some(&args)).await;
    }
    let Some(loaded) = load_or_report(&args.run.runbook) else {
        return Ok(1);
    };
    let rehearsal = rehearsal_for(&args, &loaded)?;
    start(env, args.run, loaded, Mode::Rehearsal, Some(rehearsal)).await
}

/// What a rehearsal of this runbook records: refused for production, and its compressed
/// watch checked to leave room for a verdict.
pub(super) fn rehearsal_for(args: &RehearseArgs, loaded: &Loaded) -> Result<Rehearsal> {
    if looks_like_production(&loaded.runbook.environment) {
        bail!(
            "environment `{}` looks like production: a rehearsal runs for real, with shortened gates and approvals \
             it may give itself, so it is not for production. Rehearse against staging (--env staging); for \
             production use `cutover run` (add --dry-run to check the plan against it without changing anything)",
            loaded.runbook.environment
        );
    }
    let rehearsal = Rehearsal {
        compress: args.compress.unwrap_or(1),
        overrides: gate_overrides(&args.gate, &loaded.runbook)?,
        auto_approve: args.run.drive.auto_approve,
        demo: false,
    };
    if !args.run.dry_run {
        check_watch_length(&loaded.runbook, &rehearsal)?;
    }
    Ok(rehearsal)
}

/// A watch compressed below its sampling would pass without judging anything: it must
/// leave room for `consecutive` breaches and one more sample.
fn check_watch_length(runbook: &Runbook, rehearsal: &Rehearsal) -> Result<()> {
    let Some(m) = &runbook.metrics else {
        return Ok(());
    };
    for (_, step) in runbook.steps() {
        if let crate::runbook::Action::MetricsWatch(w) = &step.action {
            let length = rehearsal.scaled("watch", Some(&step.id), w.duration.unwrap_or(m.watch));
            let least = m.interval * (m.consecutive + 1);
            if length < least {
                bail!(
                    "compressed, watch step `{}` would last {}: too short to see {} breaches in a row at one sample \
                     every {}. Give it at least {} with --gate watch={}",
                    step.id,
                    duration::format(length),
                    m.consecutive,
                    duration::format(m.interval),
                    duration::format(least),
                    duration::format(least)
                );
            }
        }
    }
    Ok(())
}

/// `--gate NAME=DURATION` options, each naming a gate or a step of the runbook.
fn gate_overrides(given: &[String], runbook: &Runbook) -> Result<Vec<GateOverride>> {
    let mut overrides = Vec::new();
    for g in given {
        let Some((gate, length)) = g.split_once('=') else {
            bail!("--gate takes GATE=DURATION (e.g. --gate watch=2m), got `{g}`");
        };
        let known = GATES.contains(&gate) || runbook.steps().any(|(_, s)| s.id == gate);
        if !known {
            bail!(
                "--gate {gate}: no such gate or step; gates are {} (or a step id of runbook `{}`)",
                GATES.join(", "),
                runbook.name
            );
        }
        let length = duration::parse(length).map_err(|e| anyhow::anyhow!("--gate {gate}: {e}"))?;
        overrides.push(GateOverride {
            gate: gate.to_string(),
            length,
        });
    }
    Ok(overrides)
}

async fn start(env: &Env, args: RunArgs, loaded: Loaded, mode: Mode, rehearsal: Option<Rehearsal>) -> Result<i32> {
    let prepared = prepare(env, &args, &loaded, mode, rehearsal, false).await?;
    let exit = drive(prepared.session, &args.drive, prepared.preamble, prepared.notices).await;
    if prepared.scratch.is_some() {
        eprintln!("dry run: nothing was changed, and its journal was removed");
    }
    exit
}

/// A run opened and ready to drive: its session, what was recorded before driving began,
/// the runbook's warnings, and a dry run's temporary store (removed when dropped).
pub(super) struct Prepared {
    pub session: HeldRun,
    pub preamble: Vec<crate::engine::Recorded>,
    pub notices: Vec<String>,
    pub scratch: Option<ScratchDir>,
}

/// Opens the run in progress for this runbook and environment (or starts one), with every
/// check `cutover run` makes before it drives: secrets, notification targets, a parallel
/// run in the cluster, the run's Lease, a changed runbook, a new attempt.
pub(super) async fn prepare(
    env: &Env,
    args: &RunArgs,
    loaded: &Loaded,
    mode: Mode,
    rehearsal: Option<Rehearsal>,
    in_fleet: bool,
) -> Result<Prepared> {
    let rb = &loaded.runbook;
    if let Err(why) = effects::refuse_leaking_runbook(rb, &effects::redactor_for(rb)) {
        bail!(why);
    }
    if let Err(why) = crate::notify::check_environment(rb) {
        bail!(why);
    }
    if mode == Mode::Live && args.drive.auto_approve && !args.dry_run {
        bail!(
            "--auto-approve is only for rehearsals: a live run is approved by its operator. \
             Rehearse unattended with `cutover rehearse {} --env ENV --auto-approve`",
            args.runbook.runbook.display()
        );
    }
    let now = Utc::now();
    let source = loaded.source.path.display().to_string();
    // A dry run's store is temporary, removed when it ends: it leaves nothing behind and
    // never meets a real run.
    let scratch = args
        .dry_run
        .then(|| ScratchDir::new_in(env.store.root(), "dry-run"))
        .transpose()
        .context("cannot make a temporary directory for the dry run")?;
    let dry_store = match &scratch {
        Some(dir) => Some(Store::open(dir.path()).with_context(|| format!("cannot use {}", dir.path().display()))?),
        None => None,
    };
    let store = dry_store.as_ref().unwrap_or(&env.store);
    if let Some(cfg) = rb.state.as_ref().filter(|c| c.in_cluster() && !args.dry_run) {
        super::cluster::refuse_parallel_run(cfg, rb, mode, store).await?;
    }
    let command = match mode {
        Mode::Live => "cutover run",
        Mode::Rehearsal => "cutover rehearse",
    };
    let (journal, state, created) = store.open_or_create(
        &rb.name,
        &rb.environment,
        mode,
        &env.holder(command),
        now,
        args.new_run,
        |run_id| RunEvent::RunStarted {
            run_id,
            mode,
            runbook: rb.clone(),
            digest: loaded.digest.clone(),
            source: source.clone(),
            rehearsal: rehearsal.clone(),
            dry_run: args.dry_run,
        },
    )?;
    if !created {
        refuse_demo(&state)?;
    }
    let mut notices: Vec<String> = loaded.warning_lines();
    if !created && let Some(asked) = rehearsal.as_ref().filter(|r| r.changes_time()) {
        let recorded = state.rehearsal.clone().unwrap_or_default();
        if (asked.compress, &asked.overrides) != (recorded.compress, &recorded.overrides) {
            let note = format!(
                "note: rehearsal {} keeps the time settings it started with{}; the options given now are not used",
                state.run_id,
                crate::words::rehearsal_words(&recorded)
            );
            // A fleet's cockpit may be on screen: the note goes with the others.
            if !in_fleet {
                eprintln!("{note}");
            }
            notices.push(note);
        }
    }
    let mut session = HeldRun::new(journal, state, &env.operator);
    super::cluster::claim(&mut session, false).await?;
    let mut preamble = if created {
        session.journal().records(1)?
    } else {
        Vec::new()
    };
    preamble.extend(session.open(now)?);

    if !created && session.state().digest != loaded.digest {
        if !args.reload_runbook {
            let reason = format!(
                "the runbook changed since run {} started ({} then, {} now). The run goes on only with the runbook it \
                 started with: restore the file (and what it includes, and the --vars files it was given), or continue \
                 with the new version with --reload-runbook (steps that already ran must keep their ids)",
                session.state().run_id,
                short(&session.state().digest),
                short(&loaded.digest)
            );
            return Err(give_up(session, reason).await);
        }
        let reload = Command::ReloadRunbook {
            runbook: Box::new(rb.clone()),
            digest: loaded.digest.clone(),
            source,
        };
        let by = env.operator.clone();
        match session.submit(reload, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return Err(give_up(session, format!("cannot reload the runbook: {e}")).await),
        }
    }
    // In a fleet, --new-attempt is for the applications that rolled back.
    let rolled_back = matches!(session.state().status, RunStatus::RolledBack { .. });
    if args.new_attempt && (rolled_back || !in_fleet) {
        let by = env.operator.clone();
        match session.submit(Command::NewAttempt, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return Err(give_up(session, format!("cannot start a new attempt: {e}")).await),
        }
    }
    Ok(Prepared {
        session,
        preamble,
        notices,
        scratch,
    })
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

pub async fn resume(env: &Env, args: ResumeArgs) -> Result<i32> {
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover resume"))?;
    refuse_demo(&state)?;
    refuse_auto_approve(&state, args.drive.auto_approve)?;
    let mut session = HeldRun::new(journal, state, &env.operator);
    super::cluster::claim(&mut session, false).await?;
    let preamble = session.open(Utc::now())?;
    drive(session, &args.drive, preamble, Vec::new()).await
}

pub async fn rollback(env: &Env, args: RollbackArgs) -> Result<i32> {
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover rollback"))?;
    refuse_demo(&state)?;
    refuse_auto_approve(&state, args.drive.auto_approve)?;
    let mut session = HeldRun::new(journal, state, &env.operator);
    super::cluster::claim(&mut session, true).await?;
    let now = Utc::now();
    let mut preamble = session.open(now)?;
    let by = env.operator.clone();
    // A rollback already under way (stopped at a rollback step) is continued.
    if session.state().status != RunStatus::RollingBack {
        match session.submit(Command::Rollback { reason: args.reason }, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return Err(give_up(session, format!("cannot roll back: {e}")).await),
        }
    }
    drive(session, &args.drive, preamble, Vec::new()).await
}

/// The longest root-cause analysis attached: it goes into the journal and every export.
pub const MAX_RCA_BYTES: u64 = 256 * bounded::KIB;

/// The analysis in `path`: at most `MAX_RCA_BYTES` of UTF-8 text.
fn read_rca(path: &std::path::Path) -> Result<String> {
    let bytes = match bounded::read(path, MAX_RCA_BYTES) {
        Ok(bytes) => bytes,
        Err(e @ bounded::ReadError::TooLarge { .. }) => bail!(
            "cannot attach {} as the root-cause analysis: {e}. Attach the analysis itself and link to longer \
             material (logs, timelines) from it",
            path.display()
        ),
        Err(bounded::ReadError::Io(e)) => bail!("cannot read {}: {e}", path.display()),
    };
    String::from_utf8(bytes).map_err(|e| {
        let (_, line, col, byte) = bounded::first_bad_byte(e.as_bytes(), &e.utf8_error());
        anyhow::anyhow!(
            "{}:{line}:{col}: the root-cause analysis is not UTF-8 text (byte 0x{byte:02X}): save it as UTF-8 \
             and attach it again",
            path.display()
        )
    })
}

pub async fn rca(env: &Env, args: RcaArgs) -> Result<i32> {
    let text = match (&args.analysis.file, &args.analysis.text) {
        (Some(path), _) => read_rca(path)?,
        (None, Some(text)) => text.clone(),
        (None, None) => bail!("give the analysis with --file FILE or --text TEXT"),
    };
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover rca"))?;
    refuse_demo(&state)?;
    let mut session = HeldRun::new(journal, state, &env.operator);
    super::cluster::claim(&mut session, false).await?;
    let now = Utc::now();
    session.open(now)?;
    let by = env.operator.clone();
    if let Err(e) = session.submit(Command::AttachRca { text }, &by, now) {
        return Err(give_up(session, format!("cannot attach the root-cause analysis: {e}")).await);
    }
    let attempt = session.state().attempt;
    let rolled_back = matches!(session.state().status, RunStatus::RolledBack { .. });
    let command = match session.state().mode {
        Mode::Live => "run",
        Mode::Rehearsal => "rehearse",
    };
    session.close("root-cause analysis attached", now)?;
    session.let_go().await;
    println!(
        "✔ root-cause analysis attached to attempt {attempt} of run {}",
        args.run_id
    );
    if rolled_back {
        println!(
            "  start attempt {} with: cutover {command} RUNBOOK --env ENV --new-attempt",
            attempt + 1
        );
    }
    Ok(0)
}
