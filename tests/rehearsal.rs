//! Rehearsals and dry runs: a rehearsal's state is kept apart from live runs, its time
//! compression is recorded and applied, `--auto-approve` is refused for a live run, and a
//! dry run changes nothing on a real DNS server (BIND primary, Knot secondary) or the
//! fake Kubernetes API server while still reading them.

use crate::support;

use std::time::{Duration, Instant};

use cutover::engine::{Mode, RunEvent, RunStatus};
use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::api::apps::v1::Deployment;
use support::dns::AuthPair;
use support::{Sandbox, assert_exit, text};

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/quickstart.toml");

/// A runbook with a one-hour wait and a two-hour hold: only compression makes it short.
const SLOW: &str = r#"[runbook]
name = "slow"
hold = "2h"

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "first"
  kind = "command"
  title = "Something quick"
  run = "true"
  [[phase.step]]
  id = "soak"
  kind = "wait"
  title = "An hour of soaking"
  duration = "1h"
"#;

#[test]
fn a_rehearsal_never_resumes_or_blocks_a_live_run() {
    let sb = Sandbox::new();
    // The rehearsal stops at its first approval (nobody gives it).
    let rehearsal = sb.output(&["rehearse", QUICKSTART, "--headless"]);
    assert_exit(&rehearsal, 3);
    let out = text(&rehearsal.stdout);
    assert!(
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.starts_with("[REHEARSAL] ")),
        "every line of a rehearsal is marked:\n{out}"
    );
    // A live run of the same runbook starts its own run and completes.
    let live = sb.output(&[
        "run",
        QUICKSTART,
        "--headless",
        "--approve",
        "ready",
        "--note",
        "ready=live",
        "--approve",
        "go=quickstart",
    ]);
    assert_exit(&live, 0);
    assert!(!text(&live.stdout).contains("REHEARSAL"), "{}", text(&live.stdout));
    let runs = sb.summaries();
    assert_eq!(runs.len(), 2, "one rehearsal and one live run");
    let rehearsal_id = runs
        .iter()
        .find(|r| r.mode == Mode::Rehearsal)
        .expect("rehearsal")
        .run_id
        .clone();
    let live_id = runs.iter().find(|r| r.mode == Mode::Live).expect("live").run_id.clone();
    assert!(rehearsal_id.contains(".rehearsal."), "{rehearsal_id}");
    assert_ne!(rehearsal_id, live_id);
    // The rehearsal is still where it stopped; rehearsing again resumes it, not the live run.
    let again = sb.output(&[
        "rehearse",
        QUICKSTART,
        "--headless",
        "--approve",
        "ready",
        "--note",
        "ready=rehearsed",
        "--approve",
        "go=quickstart",
    ]);
    assert_exit(&again, 0);
    assert!(text(&again.stdout).contains("session opened"));
    let (records, state) = sb.journal(&rehearsal_id).expect("rehearsal journal");
    assert_eq!(state.mode, Mode::Rehearsal);
    assert!(matches!(state.status, RunStatus::Completed { .. }));
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r.event, RunEvent::RunStarted { .. }))
            .count(),
        1,
        "resumed, not started again"
    );
    // `cutover status` and `cutover runs` say which is which.
    let list = text(&sb.output(&["runs"]).stdout);
    let line = |id: &str| list.lines().find(|l| l.contains(id)).unwrap_or_default().to_string();
    assert!(line(&rehearsal_id).contains("REHEARSAL"), "{list}");
    assert!(line(&live_id).contains("LIVE"), "{list}");
}

#[test]
fn compression_is_recorded_and_shortens_the_waits_and_the_hold() {
    let sb = Sandbox::new();
    let rb = sb.write("slow.toml", SLOW);
    // 1 h wait and 2 h hold at 1800×: 2 s and 4 s.
    let started = Instant::now();
    let out = sb.output(&["rehearse", rb.to_str().unwrap(), "--headless", "--compress", "1800"]);
    assert_exit(&out, 0);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "compressed run took {took:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("time compressed 1800×"), "{stdout}");
    let id = sb.only_run_id();
    let (records, state) = sb.journal(&id).expect("journal");
    let rehearsal = state.rehearsal.clone().expect("rehearsal settings in the state");
    assert_eq!(rehearsal.compress, 1800);
    let RunEvent::RunStarted {
        rehearsal: Some(first), ..
    } = &records[0].event
    else {
        panic!("RunStarted records the rehearsal: {:?}", records[0].event);
    };
    assert_eq!(first.compress, 1800);
    // The wait ended 2 s after `first`, the hold 4 s after the last step.
    let at = |pred: &dyn Fn(&RunEvent) -> bool| records.iter().find(|r| pred(&r.event)).expect("event").at;
    let first_done = at(&|e| matches!(e, RunEvent::StepSucceeded { step, .. } if step == "first"));
    let soak_done = at(&|e| matches!(e, RunEvent::StepSucceeded { step, .. } if step == "soak"));
    let soak = (soak_done - first_done).to_std().unwrap();
    assert!(
        soak >= Duration::from_secs(2) && soak < Duration::from_secs(10),
        "soak took {soak:?}"
    );
    let hold = records
        .iter()
        .find_map(|r| match r.event {
            RunEvent::HoldStarted { until } => Some(until - r.at),
            _ => None,
        })
        .expect("hold started");
    assert_eq!(hold.num_seconds(), 4, "2h / 1800");
}

#[test]
fn gate_overrides_name_a_gate_or_a_step_and_win_over_compression() {
    let sb = Sandbox::new();
    let rb = sb.write("slow.toml", SLOW);
    let out = sb.output(&[
        "rehearse",
        rb.to_str().unwrap(),
        "--headless",
        "--compress",
        "2",
        "--gate",
        "soak=1s",
        "--gate",
        "hold=1s",
    ]);
    assert_exit(&out, 0);
    let (records, _) = sb.journal(&sb.only_run_id()).expect("journal");
    let hold = records
        .iter()
        .find_map(|r| match r.event {
            RunEvent::HoldStarted { until } => Some(until - r.at),
            _ => None,
        })
        .expect("hold started");
    assert_eq!(hold.num_seconds(), 1);
    // The step's own override (1 s) beat the compression (1 h / 2).
    let done = |id: &str| {
        records
            .iter()
            .find(|r| matches!(&r.event, RunEvent::StepSucceeded { step, .. } if step == id))
            .expect("succeeded")
            .at
    };
    let soak = (done("soak") - done("first")).num_milliseconds();
    assert!((1_000..5_000).contains(&soak), "soak took {soak} ms");
    // An unknown gate is an error that lists the valid ones.
    let bad = sb.output(&["rehearse", rb.to_str().unwrap(), "--headless", "--gate", "lunch=1m"]);
    assert_exit(&bad, 1);
    let err = text(&bad.stderr);
    assert!(
        err.contains("--gate lunch") && err.contains("ttl-lead, watch, hold"),
        "{err}"
    );
}

#[test]
fn a_rehearsal_refuses_production_and_a_watch_compressed_below_its_sampling() {
    let sb = Sandbox::new();
    let cutover = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/cutover.toml");
    let out = sb.output(&["rehearse", cutover, "--env", "production", "--headless"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(
        err.contains("looks like production") && err.contains("--dry-run"),
        "{err}"
    );
    // 15 minutes at 120× is 7.5 s: not even one breach streak at one sample every 10 s.
    let out = sb.output(&[
        "rehearse",
        cutover,
        "--env",
        "staging",
        "--compress",
        "120",
        "--headless",
    ]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(err.contains("--gate watch=30s"), "{err}");
    assert!(sb.summaries().is_empty(), "nothing was started");
}

#[test]
fn a_resumed_unattended_rehearsal_stays_unattended() {
    let sb = Sandbox::new();
    // It stops at the 5 s gate (longer than --max-wait), as a CI job killed there would.
    let out = sb.output(&[
        "rehearse",
        QUICKSTART,
        "--headless",
        "--auto-approve",
        "--max-wait",
        "1s",
    ]);
    assert_exit(&out, 3);
    let id = sb.only_run_id();
    let out = sb.output(&["resume", &id, "--headless"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("go: approved (typed `quickstart`) — note: approved automatically"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_live_run_refuses_auto_approve_and_compression() {
    let sb = Sandbox::new();
    let out = sb.output(&["run", QUICKSTART, "--headless", "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("--auto-approve is only for rehearsals"),
        "{}",
        text(&out.stderr)
    );
    assert!(sb.summaries().is_empty(), "nothing was started");
    let live = sb.output(&["run", QUICKSTART, "--headless"]);
    assert_exit(&live, 3);
    let id = sb.only_run_id();
    let records_before = sb.journal(&id).expect("journal").0.len();
    let out = sb.output(&["resume", &id, "--headless", "--auto-approve"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("is live"), "{}", text(&out.stderr));
    assert_eq!(
        sb.journal(&id).expect("journal").0.len(),
        records_before,
        "no session was opened"
    );
    let out = sb.output(&["run", QUICKSTART, "--headless", "--compress", "60"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("--compress"), "{}", text(&out.stderr));
    // A rehearsal with --auto-approve runs unattended, each approval recorded as automatic.
    let out = sb.output(&[
        "rehearse",
        QUICKSTART,
        "--headless",
        "--auto-approve",
        "--note",
        "ready=ci",
    ]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("approved automatically: rehearsal with --auto-approve"),
        "{stdout}"
    );
    assert!(stdout.contains("go: approved (typed `quickstart`)"), "{stdout}");
}

#[test]
fn a_dry_run_reads_but_changes_nothing_on_bind_or_the_cluster() {
    let pair = AuthPair::start();
    let kube = FakeKube::start();
    kube.put(&deployment("shop", "web", "web", 3));
    kube.put(&ready_pod("shop", "web-1", "web", &[3000]));
    let sb = Sandbox::new();
    let config = sb.path().join("kubeconfig");
    kube.write_kubeconfig(&config, "staging", "shop");
    let zone = pair.zone().to_string();
    let rb = sb.write(
        "dry.toml",
        &format!(
            r#"[runbook]
name = "dry"
hold = "72h"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "{zone}"
records = ["app.{zone}", "api.{zone}"]
tsig_key = {{ name = "{key}", secret_env = "TEST_TSIG_SECRET" }}
nameservers = ["ns1={primary}", "ns2={secondary}"]
poll_interval = "100ms"

[k8s]
kubeconfig = "{config}"
context = "staging"
namespace = "shop"
deployments = ["web"]

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "check"
  kind = "dns.check"
  title = "DNS points at the VM"
  expect = "192.0.2.10"
  [[phase.step]]
  id = "lower"
  kind = "dns.lower_ttl"
  title = "Lower the TTL"
  [[phase.step]]
  id = "rollout"
  kind = "k8s.rollout"
  title = "Deployments rolled out"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "192.0.2.10"
  to = "198.51.100.7"
  approve = "type:app.{zone}"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Every nameserver answers the new address"
  [[phase.step]]
  id = "drain"
  kind = "k8s.scale"
  title = "Scale the Deployment to zero"
  replicas = 0
  [[phase.step]]
  id = "announce"
  kind = "command"
  title = "Tell the team"
  run = "touch {marker}"
  [[phase.step]]
  id = "purge"
  kind = "http"
  title = "Purge the CDN"
  method = "POST"
  url = "http://127.0.0.1:{closed}/purge"
"#,
            primary = pair.primary(),
            secondary = pair.secondary(),
            key = pair.key_name(),
            config = config.display(),
            marker = sb.path().join("announced").display(),
            closed = support::closed_port(),
        ),
    );
    let serial_before = pair.serial(pair.primary());
    let tmp = sb.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = sb
        .cutover()
        .args(["run", rb.to_str().unwrap(), "--dry-run", "--headless"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .env("TMPDIR", &tmp)
        .output()
        .expect("run");
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.lines().all(|l| l.starts_with("[DRY RUN] ")), "{stdout}");
    // The exact changes a real run would send.
    for expected in [
        "A real run sends one UPDATE for zone".to_string(),
        format!("prerequisite: app.{zone} A = 192.0.2.10 (exactly)"),
        format!("delete the app.{zone} A RRset"),
        format!("add app.{zone} 60 A 198.51.100.7"),
        format!("add api.{zone} 60 A 192.0.2.10"),
        "PATCH deployments/web/scale (merge) {\"spec\":{\"replicas\":0}}  (now 3)".to_string(),
        format!("would run `touch {}`", sb.path().join("announced").display()),
        // Sent, it would have failed: nothing listens there.
        "purge: succeeded — dry run: would send POST http://127.0.0.1:".to_string(),
    ] {
        assert!(stdout.contains(&expected), "missing `{expected}` in\n{stdout}");
    }
    // Reads happened: the servers' answers and the Deployment's rollout are recorded.
    assert!(stdout.contains("ns2"), "{stdout}");
    assert!(
        kube.requests().iter().any(|r| r.starts_with("GET ")),
        "the cluster was read"
    );
    // Nothing was written: DNS, the cluster, the command, the state directory.
    for server in pair.servers() {
        let a = pair.query(server, &format!("app.{zone}"), "A");
        assert_eq!(a.values, ["192.0.2.10"], "{server}");
        assert_eq!(a.ttl, Some(300), "the TTL is unchanged on {server}");
    }
    assert_eq!(pair.serial(pair.primary()), serial_before, "no UPDATE reached BIND");
    let writes: Vec<String> = kube.requests().into_iter().filter(|r| !r.starts_with("GET ")).collect();
    assert!(writes.is_empty(), "the cluster was changed: {writes:?}");
    let web: Deployment = kube.get("shop", "web").expect("web");
    assert_eq!(web.spec.unwrap().replicas, Some(3));
    assert!(!sb.path().join("announced").exists(), "the command ran");
    assert!(sb.summaries().is_empty(), "a dry run leaves no run behind");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "its temporary journal is removed"
    );
    assert!(
        text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_lines_of_a_rehearsal_say_so_too() {
    let sb = Sandbox::new();
    let out = sb.output(&["rehearse", QUICKSTART, "--headless", "--output", "json"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    for line in stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(value["rehearsal"], serde_json::Value::Bool(true), "{line}");
    }
    let live = sb.output(&["run", QUICKSTART, "--headless", "--output", "json"]);
    assert!(
        !text(&live.stdout).contains("\"rehearsal\":true"),
        "{}",
        text(&live.stdout)
    );
}

/// A step that needs an approval, cut off by SIGKILL and retried on resume (it is safe to
/// run again): an unattended rehearsal approves it again, as it did the first time.
#[test]
fn an_unattended_rehearsal_killed_in_an_approved_step_approves_its_retry_too() {
    let sb = Sandbox::new();
    let started = sb.path().join("started");
    let rb = sb.write(
        "approved.toml",
        &format!(
            "[runbook]\nname = \"approved\"\nhold = \"0s\"\n[env.staging]\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"slow\"\n  kind = \"command\"\n  approve = true\n  idempotent = true\n  run = \"if [ -e {s} ]; then true; else touch {s}; sleep 30; fi\"\n",
            s = started.display()
        ),
    );
    let args = [
        "rehearse",
        rb.to_str().unwrap(),
        "--env",
        "staging",
        "--auto-approve",
        "--headless",
    ];
    let mut child = sb.spawn(&args);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = sb.output(&args);
    assert_exit(&out, 0);
    let said = text(&out.stdout);
    assert!(said.contains("slow: approved"), "{said}");
}
