//! `cutover demo --headless`, both scenarios, through the binary: nothing but the binary
//! is needed (the sandbox runs inside it). The healthy story completes (exit 0); the bad
//! release is caught by the watch and rolled back (exit 2), incident first.

use crate::support;

use cutover::engine::{Mode, RunEvent, RunStatus, StepStatus, Verdict};
use support::{Sandbox, assert_exit, text};

fn demo(scenario: &str) -> (Sandbox, std::process::Output) {
    let sb = Sandbox::new();
    let out = sb
        .cutover()
        // Nothing from the machine: no kubeconfig, no PATH tools.
        .env("PATH", "/nonexistent")
        .env_remove("KUBECONFIG")
        .args(["demo", "--headless", "--scenario", scenario])
        .output()
        .expect("run cutover demo");
    (sb, out)
}

#[test]
fn the_healthy_demo_completes_the_cutover() {
    let (sb, out) = demo("healthy");
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.lines().all(|l| l.starts_with("[REHEARSAL] ")), "{stdout}");
    let id = sb.only_run_id();
    assert!(
        text(&out.stderr).contains(&format!("cutover export {id}")),
        "{}",
        text(&out.stderr)
    );
    let (records, state) = sb.journal(&id).expect("journal");
    assert_eq!(state.mode, Mode::Rehearsal);
    assert!(
        matches!(state.status, RunStatus::Completed { .. }),
        "{:?}",
        state.status
    );
    assert!(
        state
            .steps
            .iter()
            .all(|s| s.status == StepStatus::Succeeded || state.is_rollback_step(state.index(&s.id).unwrap()))
    );
    // The flip moved both records, verified on both nameservers.
    let verified: std::collections::BTreeSet<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::NameserverAnswered { step, answer } if step == "verify" && answer.verdict == Verdict::Within => {
                Some(format!("{} {}", answer.server, answer.record))
            }
            _ => None,
        })
        .collect();
    assert_eq!(verified.len(), 4, "2 records × 2 nameservers: {verified:?}");
    // The watch sampled for its compressed minute and every sample held.
    let samples: Vec<Verdict> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::WatchSampled { samples, .. } => Some(samples.iter().map(|s| s.verdict)),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(samples.len() >= 20, "{} samples", samples.len());
    assert!(samples.iter().all(|v| *v == Verdict::Within), "{samples:?}");
    assert!(state.rehearsal.as_ref().is_some_and(|r| r.compress == 15));
    // The day of TTL lead time is the rehearsal's 20 s: the flip waited for it, no more.
    let finished = state.step("lower-ttl").and_then(|s| s.finished_at).expect("lowered");
    let flipped = records
        .iter()
        .find(|r| matches!(&r.event, RunEvent::StepStarted { step, .. } if step == "flip"))
        .expect("flip started")
        .at;
    let waited = (flipped - finished).num_milliseconds();
    assert!(
        (20_000..25_000).contains(&waited),
        "the flip waited {waited} ms after the TTL was lowered"
    );
}

#[test]
fn the_bad_release_demo_is_caught_by_the_watch_and_rolled_back() {
    let (sb, out) = demo("bad-release");
    assert_exit(&out, 2);
    let id = sb.only_run_id();
    let (records, state) = sb.journal(&id).expect("journal");
    assert!(
        matches!(state.status, RunStatus::RolledBack { .. }),
        "{:?}",
        state.status
    );
    let position = |pred: &dyn Fn(&RunEvent) -> bool| records.iter().position(|r| pred(&r.event));
    let breach = position(&|e| {
        matches!(e, RunEvent::WatchSampled { samples, .. } if samples.iter().any(|s| s.verdict == Verdict::Breach))
    })
    .expect("a breaching sample");
    let incident = position(&|e| matches!(e, RunEvent::IncidentRecorded { .. })).expect("incident");
    let rollback = position(&|e| matches!(e, RunEvent::RollbackStarted { .. })).expect("rollback");
    assert!(
        breach < incident && incident < rollback,
        "incident first, then the rollback"
    );
    // The watch's failure is the session's; the incident and the rollback are the tool's
    // own decision, whoever's session it was.
    let failed = position(&|e| matches!(e, RunEvent::StepFailed { step, .. } if step == "watch")).expect("failed");
    assert_eq!(records[failed].by, "tester");
    for at in [incident, rollback] {
        assert_eq!(records[at].by, "cutover (automatic)", "{:?}", records[at].event.name());
    }
    for step in ["dns-back", "scale-to-zero"] {
        assert_eq!(
            state.step(step).map(|s| s.status),
            Some(StepStatus::Succeeded),
            "{step}"
        );
    }
    // The drain: the new side kept serving for the flip's TTL (60 s, compressed 15×) after
    // DNS was back on both nameservers, with the traffic still arriving measured.
    let back = state.step("dns-back").unwrap().finished_at.unwrap();
    let scaled = state.step("scale-to-zero").unwrap().started_at.unwrap();
    assert!(
        scaled - back >= chrono::Duration::seconds(4),
        "scaled {} after DNS was back",
        scaled - back
    );
    let arriving: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::ObjectChecked { step, check } if step == "scale-to-zero" && check.object == "new side" => {
                Some(check.value.as_str())
            }
            _ => None,
        })
        .collect();
    assert!(
        !arriving.is_empty() && arriving.iter().all(|v| v.ends_with("req/s")),
        "the traffic still reaching the new side is measured during the drain: {arriving:?}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("drain: DNS is back on every authoritative server"),
        "{stdout}"
    );
    assert!(stdout.contains("Deployment web scale: 0 replicas"), "{stdout}");
    assert!(
        stdout.contains("the run is rolled back: DNS points at the VMs again"),
        "{stdout}"
    );
    // The sandbox ended with the demo: the run cannot be resumed, and says why.
    let resumed = sb.output(&["resume", &id, "--headless"]);
    assert_exit(&resumed, 1);
    assert!(
        text(&resumed.stderr).contains("was a `cutover demo`"),
        "{}",
        text(&resumed.stderr)
    );
    // Nor is it listed as in progress; `cutover runs` still has it.
    let status = text(&sb.output(&["status"]).stdout);
    assert!(status.contains("No runs in progress"), "{status}");
    assert!(text(&sb.output(&["runs"]).stdout).contains(&id));
}

/// A demo whose process ended before its end cannot go on (its sandbox went with it):
/// `cutover runs` says it was abandoned rather than calling it active.
#[test]
fn a_demo_killed_mid_way_is_listed_as_abandoned() {
    let sb = Sandbox::new();
    let mut child = sb
        .cutover()
        .env("PATH", "/nonexistent")
        .env_remove("KUBECONFIG")
        .args(["demo", "--headless"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start cutover demo");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sb.summaries().iter().any(|s| s.steps_done >= 1) {
        assert!(std::time::Instant::now() < deadline, "the demo never got going");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().expect("kill the demo");
    child.wait().expect("reap the demo");
    assert_eq!(sb.summaries()[0].status, RunStatus::Active);

    let out = sb.cutover().arg("runs").output().expect("cutover runs");
    assert_exit(&out, 0);
    let listed = text(&out.stdout);
    let row = listed
        .lines()
        .find(|l| l.contains("demo-shop"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("abandoned"), "{listed}");
    assert!(!row.contains("active"), "{listed}");
}
