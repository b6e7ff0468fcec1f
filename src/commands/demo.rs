//! `cutover demo`: starts the built-in sandbox, then rehearses the bundled runbook
//! against it with compressed time, in the cockpit or as lines.

use anyhow::{Result, bail};
use chrono::Utc;

use super::demo_world::Demo;
use super::validate::load_or_report;
use super::{Env, drive, uses_cockpit};
use crate::cli::{DemoArgs, DemoScenario, DriveArgs, RunbookArgs};
use crate::effects;
use crate::engine::{GateOverride, Mode, Rehearsal, RunEvent};
use crate::runner::HeldRun;
use cutover_sandbox::metrics::Scenario;

/// The sandbox's behaviour for a scenario named on the command line.
fn scenario(s: DemoScenario) -> Scenario {
    match s {
        DemoScenario::Healthy => Scenario::Healthy,
        DemoScenario::BadRelease => Scenario::BadRelease,
    }
}

/// The scenario as it is written on the command line.
fn scenario_name(s: DemoScenario) -> String {
    clap::ValueEnum::to_possible_value(&s)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The demo runbook's environment: the sandbox.
const ENVIRONMENT: &str = "sandbox";

/// Time in the demo: the watch's 15 minutes take `watch` (a minute unless told); the day
/// of TTL lead time and the 72-hour hold take seconds.
fn rehearsal(auto_approve: bool, watch: std::time::Duration) -> Rehearsal {
    let gate = |gate: &str, secs: u64| GateOverride {
        gate: gate.to_string(),
        length: std::time::Duration::from_secs(secs),
    };
    Rehearsal {
        compress: 15,
        overrides: vec![
            gate("ttl-lead", 20),
            gate("hold", 20),
            GateOverride {
                gate: "watch".to_string(),
                length: watch,
            },
        ],
        auto_approve,
        demo: true,
    }
}

pub async fn demo(env: &Env, args: DemoArgs) -> Result<i32> {
    let watch = crate::runbook::duration::parse(&args.watch).map_err(|e| anyhow::anyhow!("--watch: {e}"))?;
    if watch < std::time::Duration::from_secs(9) {
        bail!(
            "--watch {}: the demo samples every 3 s and rolls back after 2 breaches: give it at least 9s",
            args.watch
        );
    }
    let now = Utc::now();
    let dir = env
        .store
        .root()
        .join("demo")
        .join(format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), std::process::id()));
    let sandbox = Demo::start(scenario(args.scenario), &dir).await?;
    let drive_args = DriveArgs {
        headless: args.headless,
        output: args.output,
        approve: Vec::new(),
        note: Vec::new(),
        resolve: Vec::new(),
        retry: Vec::new(),
        skip: Vec::new(),
        max_wait: "10m".to_string(),
        auto_approve: false,
    };
    // Unattended unless someone is at the cockpit to approve.
    let auto_approve = args.auto_approve || !uses_cockpit(&drive_args);
    let drive_args = DriveArgs {
        auto_approve,
        ..drive_args
    };
    let runbook_args = RunbookArgs {
        runbook: sandbox.runbook_path(),
        env: Some(ENVIRONMENT.to_string()),
        vars: Vec::new(),
    };
    let Some(loaded) = load_or_report(&runbook_args) else {
        bail!("the bundled demo runbook does not load: this is a bug in cutover");
    };
    let rb = &loaded.runbook;
    if let Err(why) = effects::refuse_leaking_runbook(rb, &effects::redactor_for(rb)) {
        bail!(why);
    }
    let (journal, state) = env.store.create_run(
        &rb.name,
        &rb.environment,
        Mode::Rehearsal,
        &env.holder("cutover demo"),
        now,
        |run_id| RunEvent::RunStarted {
            run_id,
            mode: Mode::Rehearsal,
            runbook: rb.clone(),
            digest: loaded.digest.clone(),
            source: format!(
                "{} (cutover demo --scenario {:?})",
                runbook_args.runbook.display(),
                args.scenario
            ),
            rehearsal: Some(rehearsal(auto_approve, watch)),
            dry_run: false,
        },
    )?;
    let run_id = state.run_id.clone();
    let mut session = HeldRun::new(journal, state, &env.operator);
    session.observe(sandbox.observer());
    let mut preamble = session.journal().records(1)?;
    preamble.extend(session.open(now)?);
    let notices = loaded.warning_lines();
    let exit = drive(session, &drive_args, preamble, notices).await?;
    drop(sandbox);
    if exit != 0 && exit != 2 {
        eprintln!(
            "\nThe demo stopped before its end. Its sandbox ended with it, so this run cannot be resumed: \
             start again with `cutover demo`."
        );
    }
    eprintln!(
        "\nThe demo's run is kept like any rehearsal. Next:\n  cutover export {run_id} --format html -o demo.html   # the post-mortem, charts first\n  cutover journal {run_id}                           # every event\n  cutover demo --scenario {}                  # the other story",
        match args.scenario {
            DemoScenario::Healthy => scenario_name(DemoScenario::BadRelease),
            DemoScenario::BadRelease => scenario_name(DemoScenario::Healthy),
        }
    );
    Ok(exit)
}
