//! `cutover run`, `resume`, `rollback` and `rca`: the commands that take a run's lock
//! and change it.

use anyhow::{Context as _, Result, bail};
use chrono::Utc;

use super::validate::load_or_report;
use super::{Env, drive};
use crate::cli::{RcaArgs, ResumeArgs, RollbackArgs, RunArgs};
use crate::effects;
use crate::engine::{Command, Mode, RunEvent, RunStatus};
use crate::runner::Session;

/// Closes the session with `reason` and turns it into an error for the operator.
fn give_up(mut session: Session, reason: String) -> Result<i32> {
    let _ = session.close(&reason, Utc::now());
    bail!(reason)
}

pub async fn run(env: &Env, args: RunArgs) -> Result<i32> {
    let Some(loaded) = load_or_report(&args.runbook) else {
        return Ok(1);
    };
    let rb = &loaded.runbook;
    if let Err(why) = effects::refuse_leaking_runbook(rb, &effects::redactor_for(rb)) {
        bail!(why);
    }
    let now = Utc::now();
    let source = loaded.source.path.display().to_string();
    let (journal, state, created) = env.store.open_or_create(
        &rb.name,
        &rb.environment,
        Mode::Live,
        &env.holder("cutover run"),
        now,
        args.new_run,
        |run_id| RunEvent::RunStarted {
            run_id,
            mode: Mode::Live,
            runbook: rb.clone(),
            digest: loaded.digest.clone(),
            source: source.clone(),
            rehearsal: None,
            dry_run: false,
        },
    )?;
    let mut session = Session::new(journal, state, &env.operator);
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
                 started with: restore the file, or continue with the new version with --reload-runbook \
                 (steps that already ran must keep their ids)",
                session.state().run_id,
                short(&session.state().digest),
                short(&loaded.digest)
            );
            return give_up(session, reason);
        }
        let reload = Command::ReloadRunbook {
            runbook: Box::new(rb.clone()),
            digest: loaded.digest.clone(),
            source,
        };
        let by = env.operator.clone();
        match session.submit(reload, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return give_up(session, format!("cannot reload the runbook: {e}")),
        }
    }
    if args.new_attempt {
        let by = env.operator.clone();
        match session.submit(Command::NewAttempt, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return give_up(session, format!("cannot start a new attempt: {e}")),
        }
    }
    drive(session, &args.drive, preamble).await
}

fn short(digest: &str) -> &str {
    let hex = digest.trim_start_matches("sha256:");
    &hex[..hex.len().min(12)]
}

pub async fn resume(env: &Env, args: ResumeArgs) -> Result<i32> {
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover resume"))?;
    let mut session = Session::new(journal, state, &env.operator);
    let preamble = session.open(Utc::now())?;
    drive(session, &args.drive, preamble).await
}

pub async fn rollback(env: &Env, args: RollbackArgs) -> Result<i32> {
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover rollback"))?;
    let mut session = Session::new(journal, state, &env.operator);
    let now = Utc::now();
    let mut preamble = session.open(now)?;
    let by = env.operator.clone();
    // A rollback already under way (stopped at a rollback step) is continued.
    if session.state().status != RunStatus::RollingBack {
        match session.submit(Command::Rollback { reason: args.reason }, &by, now) {
            Ok(records) => preamble.extend(records),
            Err(e) => return give_up(session, format!("cannot roll back: {e}")),
        }
    }
    drive(session, &args.drive, preamble).await
}

pub fn rca(env: &Env, args: RcaArgs) -> Result<i32> {
    let text = match (&args.analysis.file, &args.analysis.text) {
        (Some(path), _) => std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
        (None, Some(text)) => text.clone(),
        (None, None) => bail!("give the analysis with --file FILE or --text TEXT"),
    };
    let (journal, state) = env.store.open_run(&args.run_id, &env.holder("cutover rca"))?;
    let mut session = Session::new(journal, state, &env.operator);
    let now = Utc::now();
    session.open(now)?;
    let by = env.operator.clone();
    if let Err(e) = session.submit(Command::AttachRca { text }, &by, now) {
        return give_up(session, format!("cannot attach the root-cause analysis: {e}"));
    }
    let attempt = session.state().attempt;
    let rolled_back = matches!(session.state().status, RunStatus::RolledBack { .. });
    session.close("root-cause analysis attached", now)?;
    println!(
        "✔ root-cause analysis attached to attempt {attempt} of run {}",
        args.run_id
    );
    if rolled_back {
        println!(
            "  start attempt {} with: cutover run RUNBOOK --env ENV --new-attempt",
            attempt + 1
        );
    }
    Ok(0)
}
