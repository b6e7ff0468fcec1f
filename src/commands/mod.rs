//! What each CLI command does. Shared here: who the operator is, where state lives,
//! turning `--approve`-style options into decisions, and driving a session headless.

mod cluster;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_world;
mod export;
mod fleet;
mod fleet_cockpit;
mod run;
mod schema;
mod status;
mod validate;
mod watch;

use std::io::IsTerminal;

use anyhow::{Context as _, Result, bail};
use chrono::Utc;

use crate::cli::{Cli, Cmd, DriveArgs};
use crate::engine::{Recorded, Resolution};
use crate::headless::{self, Decisions, Options};
use crate::journal::{Holder, Store, default_root};
use crate::names::{self, NameKind};
use crate::runbook::duration;
use crate::runner::Exit;
use crate::runner::{Driver, HeldRun};

/// Where a command runs: the store and the operator.
pub struct Env {
    pub store: Store,
    pub operator: String,
}

impl Env {
    pub(crate) fn holder(&self, command: &str) -> Holder {
        Holder::this_process(&self.operator, command, Utc::now())
    }
}

pub fn operator_name(given: Option<String>) -> String {
    given
        .filter(|o| !o.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "operator".to_string())
}

/// Refuses an `--env` or a run id that breaks the rule for names (src/names.rs) before
/// anything reads a file or builds a path from it.
fn check_names(command: &Cmd) -> Result<()> {
    let env = match command {
        Cmd::Validate(a) | Cmd::Plan(a) => a.env.as_deref(),
        Cmd::Run(a) => a.runbook.env.as_deref(),
        Cmd::Rehearse(a) => a.run.runbook.env.as_deref(),
        Cmd::Takeover(a) => a.runbook.env.as_deref(),
        Cmd::Runs(a) => a.env.as_deref(),
        _ => None,
    };
    if let Some(refused) = env.and_then(|e| names::refusal(NameKind::Environment, e)) {
        bail!("--env {refused}; pass the name of one of the runbook's [env.NAME] sections");
    }
    let run_id = match command {
        Cmd::Resume(a) => Some(&a.run_id),
        Cmd::Rollback(a) => Some(&a.run_id),
        Cmd::Rca(a) => Some(&a.run_id),
        Cmd::Journal(a) => Some(&a.run_id),
        Cmd::Watch(a) => Some(&a.run_id),
        Cmd::Export(a) => Some(&a.run_id),
        Cmd::Takeover(a) => Some(&a.run_id),
        Cmd::Status(a) => a.run_id.as_ref(),
        _ => None,
    };
    if let Some(refused) = run_id.and_then(|id| names::refusal(NameKind::RunId, id)) {
        bail!(refused);
    }
    Ok(())
}

/// Runs the command and returns the process exit code.
pub async fn dispatch(cli: Cli) -> Result<i32> {
    check_names(&cli.command)?;
    let operator = operator_name(cli.operator);
    let env = || -> Result<Env> {
        let root = cli.state_dir.clone().unwrap_or_else(default_root);
        let store = Store::open(&root).with_context(|| format!("cannot use the state directory {}", root.display()))?;
        Ok(Env {
            store,
            operator: operator.clone(),
        })
    };
    match cli.command {
        Cmd::Validate(args) if crate::fleet::is_fleet_file(&args.runbook) => fleet::validate(&args),
        Cmd::Plan(args) if crate::fleet::is_fleet_file(&args.runbook) => fleet::plan(&args),
        Cmd::Validate(args) => validate::validate(&args),
        Cmd::Plan(args) => validate::plan(&args),
        Cmd::Run(args) => run::run(&env()?, args).await,
        Cmd::Rehearse(args) => run::rehearse(&env()?, args).await,
        #[cfg(feature = "demo")]
        Cmd::Demo(args) => demo::demo(&env()?, args).await,
        Cmd::Resume(args) => run::resume(&env()?, args).await,
        Cmd::Rollback(args) => run::rollback(&env()?, args).await,
        Cmd::Rca(args) => run::rca(&env()?, args).await,
        Cmd::Status(args) => status::status(&env()?, &args).await,
        Cmd::Runs(args) if args.cluster.is_some() => cluster::runs(&args).await,
        Cmd::Runs(args) => status::runs(&env()?, &args),
        Cmd::Journal(args) => status::journal(&env()?, &args),
        Cmd::Watch(args) => watch::watch(&env()?, &args).await,
        Cmd::Export(args) => export::export(&env()?, &args),
        Cmd::Takeover(args) => cluster::takeover(&env()?, args).await,
        Cmd::Schema(args) => schema::schema(&args),
        Cmd::Completions(args) => schema::completions(&args),
        Cmd::Man(args) => schema::man(&args),
    }
}

fn split_pair<'a>(flag: &str, value: &'a str) -> Result<(&'a str, &'a str)> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => bail!("--{flag} takes STEP=VALUE, got `{value}`"),
    }
}

pub fn decisions(args: &DriveArgs) -> Result<Decisions> {
    let mut d = Decisions::default();
    for a in &args.approve {
        match a.split_once('=') {
            Some((step, text)) => d.approvals.insert(step.to_string(), Some(text.to_string())),
            None => d.approvals.insert(a.clone(), None),
        };
    }
    for n in &args.note {
        let (step, text) = split_pair("note", n)?;
        d.notes.insert(step.to_string(), text.to_string());
    }
    for r in &args.resolve {
        let (step, what) = split_pair("resolve", r)?;
        let resolution = match what {
            "succeeded" => Resolution::Succeeded,
            "failed" => Resolution::Failed,
            "retry" => Resolution::Retry,
            other => bail!(
                "--resolve {step}={other}: say succeeded (it happened), failed (it did not) or retry (run it again)"
            ),
        };
        d.resolutions.insert(step.to_string(), resolution);
    }
    d.retries.extend(args.retry.iter().cloned());
    for s in &args.skip {
        let (step, reason) = split_pair("skip", s)?;
        if reason.trim().is_empty() {
            bail!("--skip {step}= needs a reason");
        }
        d.skips.insert(step.to_string(), reason.to_string());
    }
    Ok(d)
}

/// Whether a session is driven in the cockpit: on a terminal, unless told otherwise.
pub fn uses_cockpit(args: &DriveArgs) -> bool {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    terminal && !args.headless && args.output == headless::Output::Text
}

/// Drives an opened session to a stop and returns the exit code: in the cockpit on a
/// terminal, otherwise headless. `preamble` holds what was recorded before driving began,
/// so headless output prints it like the rest. `notices` were printed before driving
/// began (the runbook's warnings): the cockpit, which covers the terminal, shows them again.
pub async fn drive(session: HeldRun, args: &DriveArgs, preamble: Vec<Recorded>, notices: Vec<String>) -> Result<i32> {
    let max_wait = duration::parse(&args.max_wait).map_err(|e| anyhow::anyhow!("--max-wait: {e}"))?;
    let decisions = decisions(args)?;
    let cockpit = uses_cockpit(args);
    let mut driver = driver_for(session, args, decisions.notes.clone()).await?;
    if cockpit {
        if decisions.given() {
            let reason = "--approve, --note, --resolve, --retry and --skip are for --headless runs; \
                          in the cockpit, press Enter where the run needs you";
            let _ = driver.shutdown(reason).await;
            bail!(reason);
        }
        let exit = crate::tui::run(&mut driver, notices).await?;
        return Ok(exit as i32);
    }
    let options = Options {
        output: args.output,
        decisions,
        max_wait,
        interactive: std::io::stdin().is_terminal(),
        preamble,
        fleet: None,
    };
    let exit: Exit = headless::run(&mut driver, options).await;
    Ok(exit as i32)
}

/// The driver of an opened session, approving by itself where that was asked for (and is
/// allowed): `--auto-approve`, a dry run, or an unattended rehearsal resumed.
/// `notes` are the operator's notes for the steps that have one (`--note`).
pub(crate) async fn driver_for(
    session: HeldRun,
    args: &DriveArgs,
    notes: std::collections::BTreeMap<String, String>,
) -> Result<Driver> {
    let dry_run = session.state().dry_run;
    // An unattended rehearsal stays unattended when it is resumed.
    let recorded = session.state().rehearsal.as_ref().is_some_and(|r| r.auto_approve);
    let mut driver = Driver::new(session);
    if args.auto_approve || dry_run || recorded {
        if let Err(reason) = driver.approve_automatically(notes) {
            let _ = driver.shutdown(&reason).await;
            bail!(reason);
        }
    }
    Ok(driver)
}
