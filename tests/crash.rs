//! Crash safety: a headless run killed with SIGKILL at random moments, again and again,
//! and resumed each time, ends completed with every effect done and a journal in which
//! nothing is lost or duplicated and no effect happened without its intent recorded.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cutover::engine::{Resolution, RunEvent, RunStatus};
use support::{Sandbox, assert_exit, text};

const STEPS: usize = 60;
const KILLS: usize = 20;

fn idempotent_runbook(effects: &str) -> String {
    let mut rb = String::from("[runbook]\nname = \"crash\"\nhold = \"0s\"\n[[phase]]\nid = \"all\"\n");
    for n in 0..STEPS {
        rb.push_str(&format!(
            "  [[phase.step]]\n  id = \"s{n:02}\"\n  kind = \"command\"\n  idempotent = true\n  \
                          run = \"echo s{n:02} >> {effects}/log; echo start $$ >> {effects}/runs; sleep 0.3; \
             touch {effects}/s{n:02}; echo end $$ >> {effects}/runs\"\n"
        ));
    }
    rb
}

#[test]
fn killed_twenty_times_the_run_still_completes_with_nothing_lost_or_duplicated() {
    let sb = Sandbox::new();
    let effects = sb.path().join("effects");
    std::fs::create_dir_all(&effects).unwrap();
    let rb = sb.write("crash.toml", &idempotent_runbook(&effects.display().to_string()));
    let rb = rb.to_str().unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut kills = 0;
    let started = Instant::now();
    while kills < KILLS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "took too long; {kills} kills so far"
        );
        let mut child = sb.spawn(&["run", rb, "--headless"]);
        // Opening the journal takes ~0.1 s in a debug build: kills land in start-up, in appends and in steps.
        std::thread::sleep(Duration::from_millis(rng.u64(50..450)));
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
            Some(status) => panic!(
                "the run ended by itself ({status}) before {KILLS} kills; make its steps slower\n{}",
                text(&child.wait_with_output().unwrap().stderr)
            ),
        }
    }

    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 0);

    for n in 0..STEPS {
        assert!(
            effects.join(format!("s{n:02}")).exists(),
            "the effect of step s{n:02} did not happen"
        );
    }
    let run_id = sb.only_run_id();
    let (records, state) = sb
        .journal(&run_id)
        .expect("the journal opens cleanly after all the kills");
    assert!(matches!(state.status, RunStatus::Completed { .. }));

    // Sequence numbers are 1..n with no gap (records() refuses gaps, this says it plainly).
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "sequence broken at position {i}");
    }
    let mut started: BTreeMap<String, usize> = BTreeMap::new();
    let mut succeeded: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        match &r.event {
            RunEvent::StepStarted { step, .. } => *started.entry(step.clone()).or_default() += 1,
            RunEvent::StepSucceeded { step, .. } => *succeeded.entry(step.clone()).or_default() += 1,
            RunEvent::InDoubtResolved { resolution, .. } => assert_eq!(*resolution, Resolution::Retry),
            RunEvent::StepFailed { step, failure } => panic!("step {step} failed: {}", failure.message),
            _ => {}
        }
    }
    let log = std::fs::read_to_string(effects.join("log")).unwrap();
    for n in 0..STEPS {
        let id = format!("s{n:02}");
        assert_eq!(
            succeeded.get(&id),
            Some(&1),
            "step {id} must succeed exactly once in the journal"
        );
        // An effect only ever runs after its intent is on disk: never more runs than intents.
        let runs = log.lines().filter(|l| *l == id).count();
        let intents = started.get(&id).copied().unwrap_or(0);
        assert!(
            runs >= 1 && runs <= intents,
            "step {id} ran {runs} times but has {intents} recorded intents"
        );
    }
    // No two runs of a step ever overlapped: an `end` always belongs to the latest `start`
    // (a killed session's command dies with it instead of finishing alongside the next).
    let runs = std::fs::read_to_string(effects.join("runs")).unwrap();
    let mut latest = None;
    for line in runs.lines() {
        match line.split_once(' ') {
            Some(("start", pid)) => latest = Some(pid),
            Some(("end", pid)) => assert_eq!(Some(pid), latest, "a command ran on after its session died:\n{runs}"),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    let completed = records
        .iter()
        .filter(|r| matches!(r.event, RunEvent::RunCompleted))
        .count();
    assert_eq!(completed, 1);
    let sessions = records
        .iter()
        .filter(|r| matches!(r.event, RunEvent::SessionOpened { .. }))
        .count();
    assert!(
        sessions > KILLS / 2,
        "only {sessions} sessions for {KILLS} kills: were the kills too early?"
    );
}

#[test]
fn a_kill_during_a_non_idempotent_step_leaves_it_in_doubt_and_the_resume_stops_for_the_operator() {
    let sb = Sandbox::new();
    let marker = sb.path().join("started");
    let group = sb.path().join("pgid");
    let rb = sb.write(
        "doubt.toml",
        &format!(
            r#"
[runbook]
name = "doubt"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "stop-vm-cron"
  kind = "command"
  run = "echo $$ > {group}; touch {marker}; sleep 30"
  [[phase.step]]
  id = "after"
  kind = "command"
  run = "true"
"#,
            marker = marker.display(),
            group = group.display()
        ),
    );
    let rb = rb.to_str().unwrap();
    let mut child = sb.spawn(&["run", rb, "--headless"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the process group reach the journal, then kill the session.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    let pgid: i32 = std::fs::read_to_string(&group).unwrap().trim().parse().unwrap();
    // SAFETY: signal 0 only checks that the group exists.
    let group_alive = || unsafe { libc::killpg(pgid, 0) } == 0;
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        group_alive(),
        "the command's `sleep` outlives the killed session (the case to handle)"
    );

    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("stop-vm-cron is in doubt"), "{stdout}");
    assert!(stdout.contains("--resolve stop-vm-cron=succeeded"), "{stdout}");
    assert!(
        stdout.contains("was still running from the previous session"),
        "{stdout}"
    );
    assert!(
        !group_alive(),
        "the leftover process group was stopped before the operator is asked"
    );

    // It stays in doubt until the operator says what happened; then the run goes on.
    assert_exit(&sb.output(&["run", rb, "--headless"]), 3);
    let out = sb.output(&["run", rb, "--headless", "--resolve", "stop-vm-cron=succeeded"]);
    assert_exit(&out, 0);
    let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
    let decided = records.iter().find_map(|r| match &r.event {
        RunEvent::InDoubtResolved { resolution, .. } => Some((r.by.clone(), *resolution)),
        _ => None,
    });
    assert_eq!(
        decided,
        Some(("tester".to_string(), Resolution::Succeeded)),
        "recorded with who decided"
    );
}

#[test]
fn kills_around_a_checkpoint_lose_nothing() {
    // Enough events to cross the snapshot-and-reopen checkpoint while being killed.
    let sb = Sandbox::new();
    let steps = (cutover::journal::SNAPSHOT_EVERY as usize) * 6 / 10;
    let mut rb = String::from("[runbook]\nname = \"many\"\nhold = \"0s\"\n[[phase]]\nid = \"all\"\n");
    for n in 0..steps {
        rb.push_str(&format!("  [[phase.step]]\n  id = \"s{n:03}\"\n  kind = \"wait\"\n"));
    }
    let rb = sb.write("many.toml", &rb);
    let rb = rb.to_str().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..6 {
        let mut child = sb.spawn(&["run", rb, "--headless"]);
        std::thread::sleep(Duration::from_millis(rng.u64(150..900)));
        let _ = child.kill();
        child.wait().unwrap();
    }
    assert_exit(&sb.output(&["run", rb, "--headless"]), 0);
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert!(
        records.len() as u64 > cutover::journal::SNAPSHOT_EVERY,
        "only {} events",
        records.len()
    );
    assert!(matches!(state.status, RunStatus::Completed { .. }));
    assert_eq!(
        cutover::engine::RunState::replay(&records).as_ref(),
        Some(&state),
        "snapshot and replay agree"
    );
    for n in 0..steps {
        let id = format!("s{n:03}");
        let done = records
            .iter()
            .filter(|r| matches!(&r.event, RunEvent::StepSucceeded { step, .. } if *step == id))
            .count();
        assert_eq!(done, 1, "step {id}");
    }
}

/// An `http` step named `call` with `method` and `extra` fields, then a plain step.
fn http_runbook(url: &str, method: &str, extra: &str) -> String {
    format!(
        r#"
[runbook]
name = "http-doubt"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "call"
  kind = "http"
  method = "{method}"
  url = "{url}"
  timeout = "30s"
  {extra}
  [[phase.step]]
  id = "after"
  kind = "command"
  run = "true"
"#
    )
}

/// Starts the run, waits until the server has the request (it holds its answer), then kills
/// the session with SIGKILL: the request is out, its outcome is not recorded.
fn kill_mid_request(sb: &Sandbox, rb: &str, server: &support::http::RequestLog, method: &str) {
    server.set_delay(Duration::from_secs(30));
    let mut child = sb.spawn(&["run", rb, "--headless"]);
    server.wait_for(method, "/hook", 1, Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
    server.set_delay(Duration::ZERO);
}

#[test]
fn a_post_killed_mid_request_is_in_doubt_and_not_sent_again_until_the_operator_says() {
    let server = support::http::RequestLog::start();
    let sb = Sandbox::new();
    let rb = sb.write("post.toml", &http_runbook(&server.url("/hook"), "POST", ""));
    let rb = rb.to_str().unwrap();
    let plan = text(&sb.output(&["plan", rb]).stdout);
    assert!(
        plan.contains("not idempotent (after a crash the operator says whether it was sent)"),
        "{plan}"
    );
    kill_mid_request(&sb, rb, &server, "POST");

    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("call is in doubt"), "{stdout}");
    assert!(stdout.contains("--resolve call=succeeded"), "{stdout}");
    assert_eq!(server.count("POST", "/hook"), 1, "the POST was sent again on resume");

    // The operator checked: it went through. Nothing is sent again.
    let out = sb.output(&["run", rb, "--headless", "--resolve", "call=succeeded"]);
    assert_exit(&out, 0);
    assert_eq!(server.requests(), vec!["POST /hook".to_string()]);
}

#[test]
fn an_http_step_marked_idempotent_or_a_get_runs_again_after_a_kill() {
    for (method, extra) in [("PUT", "idempotent = true"), ("GET", "")] {
        let server = support::http::RequestLog::start();
        let sb = Sandbox::new();
        let rb = sb.write("again.toml", &http_runbook(&server.url("/hook"), method, extra));
        let rb = rb.to_str().unwrap();
        let plan = text(&sb.output(&["plan", rb]).stdout);
        assert_eq!(
            plan.contains("idempotent (sent again after a crash)"),
            method == "PUT",
            "{plan}"
        );
        kill_mid_request(&sb, rb, &server, method);
        let out = sb.output(&["run", rb, "--headless"]);
        assert_exit(&out, 0);
        assert_eq!(server.count(method, "/hook"), 2, "{method} runs again by itself");
        let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
        assert!(
            records.iter().any(|r| matches!(&r.event,
                RunEvent::InDoubtResolved { step, resolution: Resolution::Retry, .. } if step == "call")),
            "{method}: the rerun is recorded as a decision of the tool"
        );
    }
}

/// What the kernel was asked, in order, by the run and its children (`strace -f -y`).
fn syscalls_of(sb: &Sandbox, args: &[&str]) -> Vec<String> {
    let strace = support::process::binary("strace", "strace", "system-call tracer (to see what reaches the disk)");
    let trace = sb.path().join("strace.out");
    let mut cmd = std::process::Command::new(strace);
    cmd.args(["-f", "-y", "-e", "trace=write,pwrite64,fsync,fdatasync,execve", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env("CUTOVER_STATE_DIR", sb.state_dir())
        .env("CUTOVER_OPERATOR", "tester")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert_exit(&out, 0);
    std::fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn an_intent_is_fsynced_in_the_store_and_the_event_log_before_its_command_starts() {
    // sled's own flush is sync_file_range, which a power cut can undo: the data file itself
    // must be fsynced (or fdatasynced) after the intent is written, and so must the log.
    let sb = Sandbox::new();
    let marker = sb.path().join("acted");
    let rb = sb.write(
        "power.toml",
        &format!(
            "[runbook]\nname = \"power\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"act\"\n  kind = \"command\"\n  run = \"touch {}\"\n",
            marker.display()
        ),
    );
    let calls = syscalls_of(&sb, &["run", rb.to_str().unwrap(), "--headless"]);
    // strace splits a call that another thread interrupts into `<unfinished ...>` and a later
    // `<... execve resumed>) = 0` of the same pid (more often on a busy machine): the command
    // starts where its successful execve began.
    let succeeded = |at: usize| {
        let line = &calls[at];
        line.ends_with("= 0")
            || line.ends_with("<unfinished ...>") && {
                let pid = line.split_whitespace().next().unwrap_or_default();
                calls[at + 1..]
                    .iter()
                    .find(|l| l.starts_with(&format!("{pid} ")) && l.contains("<... execve resumed>"))
                    .is_some_and(|l| l.ends_with("= 0"))
            }
    };
    let acted = (0..calls.len())
        .find(|&at| calls[at].contains("execve(") && calls[at].contains("touch ") && succeeded(at))
        .unwrap_or_else(|| panic!("the command never started:\n{}", calls.join("\n")));
    let before = &calls[..acted];
    for file in ["/journal/db>", "/journal/events.log>"] {
        let written = before
            .iter()
            .rposition(|l| (l.contains("write(") || l.contains("pwrite64(")) && l.contains(file))
            .unwrap_or_else(|| panic!("nothing was written to {file} before the command"));
        let synced = before[written..]
            .iter()
            .any(|l| (l.contains("fsync(") || l.contains("fdatasync(")) && l.contains(file));
        assert!(
            synced,
            "the last write to {file} before the command was not fsynced before it started:\n{}",
            before[written..].join("\n")
        );
    }
    assert!(marker.exists());
}
