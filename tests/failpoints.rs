//! The failpoint matrix: every step kind through every named crash point of
//! `src/failpoint.rs`, against real servers (BIND primary and Knot secondary, Prometheus,
//! loopback HTTP, a shell) and the fake Kubernetes API server. For each case a headless
//! run is started with `CUTOVER_FAILPOINT=POINT:STEP` and must die there by SIGKILL (a case
//! whose point is never reached fails); then the same command runs again, and where the
//! run stops with the step in doubt (exit 3) the operator's `--resolve` is given as an
//! operator would: after looking at the server. Then:
//!
//! * each side effect happened at most once, counted where it lands: the zone's SOA serial
//!   (it rises once per change), the PATCHes to the scale subresource in the API server's
//!   request log, the POSTs in the HTTP server's log, a command's marker file. A step that
//!   says it is safe to repeat (an idempotent command, a GET) may act again after a crash,
//!   but never more often than it has intents in the journal;
//! * no event is lost or duplicated: the sequence is contiguous, each intent has at most one
//!   outcome (a later session only ever closes an earlier intent with a decision), nothing
//!   is reported for a step that is not acting, and the state rebuilt from the events is
//!   the state the journal opens with.
//!
//! `cargo test --test all failpoints:: -- --nocapture` prints the matrix (kind × point → outcome).

use crate::support;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cutover::engine::{Recorded, RunEvent, RunState, RunStatus, Situation, StepStatus};
use cutover::failpoint::POINTS;
use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use support::dns::AuthPair;
use support::http::RequestLog;
use support::prometheus::{App, Prometheus, Traffic, error_rate_over, p99_latency_over};
use support::slowlink::SlowLink;
use support::{Sandbox, text};

/// How long `during-effect` lets the effect run before the process dies. Every case makes
/// its effect last longer than this in the run that is to be killed.
const DURING_EFFECT_MS: &str = "300";

/// The last forward step of every case that does not roll back: the run stops here (exit 3),
/// with everything before it done, so a resume has a state to come back to.
const HOLD_HERE: &str = r#"
  [[phase.step]]
  id = "hold-here"
  kind = "wait"
  title = "The case ends here"
  not_before = "2099-01-01T00:00:00Z"
"#;

const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";

/// What a case's side effect may do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rule {
    /// It happens exactly `n` times in the whole case (the step under test and the steps
    /// before it), never more at any moment.
    Once(usize),
    /// The step says it is safe to repeat: at least once, at most once per intent.
    PerIntent,
    /// The step only reads.
    Reads,
}

/// How the run ends once the case is through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// At the `hold-here` gate, exit 3.
    Held,
    /// Rolled back, exit 2.
    RolledBack,
}

struct Case<'a> {
    kind: &'static str,
    /// The step under test.
    step: &'static str,
    runbook: String,
    /// `run` or `rehearse` and its options, before `RUNBOOK --headless`.
    command: &'static [&'static str],
    after: &'static [&'static str],
    env: Vec<(&'static str, String)>,
    /// Puts the world back as the case starts from (before each point).
    reset: Box<dyn Fn() + 'a>,
    /// Makes the step's effect last long (true) or go at its own pace (false).
    slow: Box<dyn Fn(bool) + 'a>,
    /// The side effects so far, counted at the real server.
    count: Box<dyn Fn() -> usize + 'a>,
    rule: Rule,
    /// Not safe to repeat: left in doubt, it waits for the operator instead of running again.
    asks: bool,
    end: End,
    /// Checks the world as the case leaves it (panics with the case's name if it is wrong).
    check: Box<dyn Fn(&str) + 'a>,
}

impl Case<'_> {
    fn cutover(&self, sb: &Sandbox, rb: &Path, extra: &[&str], failpoint: Option<&str>) -> Output {
        let mut c = sb.cutover();
        c.args(self.command)
            .arg(rb)
            .arg("--headless")
            .args(self.after)
            .args(extra);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.env_remove("CUTOVER_FAILPOINT")
            .env_remove("CUTOVER_FAILPOINT_DELAY_MS");
        if let Some(fp) = failpoint {
            c.env("CUTOVER_FAILPOINT", fp)
                .env("CUTOVER_FAILPOINT_DELAY_MS", DURING_EFFECT_MS);
        }
        c.output().expect("run cutover")
    }
}

fn show(out: &Output) -> String {
    format!(
        "--- exit {:?} (signal {:?})\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        out.status.signal(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs one case through one point; returns what happened, for the matrix.
fn walk(case: &Case, point: &str) -> String {
    let here = format!("{} × {point}", case.kind);
    let sb = Sandbox::new();
    let rb = sb.write("case.toml", &case.runbook);
    (case.reset)();
    let before = (case.count)();
    let spec = format!("{point}:{}", case.step);

    (case.slow)(point == "during-effect");
    let crashed = case.cutover(&sb, &rb, &[], Some(&spec));
    (case.slow)(false);
    assert_eq!(
        crashed.status.signal(),
        Some(libc::SIGKILL),
        "{here}: the process must die at the failpoint\n{}",
        show(&crashed)
    );
    assert!(
        text(&crashed.stderr).contains(&format!("failpoint {point} ")),
        "{here}: killed by the failpoint, not by something else\n{}",
        show(&crashed)
    );
    let effects = || (case.count)() - before;
    if let Rule::Once(n) = case.rule {
        assert!(
            effects() <= n,
            "{here}: {} side effects before the resume\n{}",
            effects(),
            show(&crashed)
        );
    }

    let mut resumed = case.cutover(&sb, &rb, &[], None);
    let in_doubt = format!("{} is in doubt", case.step);
    if resumed.status.code() == Some(3) && text(&resumed.stdout).contains(&in_doubt) {
        assert!(
            case.asks,
            "{here}: safe to repeat, yet it waits for the operator\n{}",
            show(&resumed)
        );
        // The operator looks at the server: did it happen?
        let decision = match case.rule {
            Rule::Once(n) if effects() == n => "succeeded",
            _ => "retry",
        };
        resumed = case.cutover(&sb, &rb, &["--resolve", &format!("{}={decision}", case.step)], None);
    }
    let want = match case.end {
        End::Held => 3,
        End::RolledBack => 2,
    };
    assert_eq!(
        resumed.status.code(),
        Some(want),
        "{here}: the resumed run\n{}",
        show(&resumed)
    );

    let run_id = sb.only_run_id();
    let (records, state) = sb
        .journal(&run_id)
        .unwrap_or_else(|e| panic!("{here}: the journal does not open: {e}"));
    if let Err(e) = whole(&records, &state) {
        panic!("{here}: {e}\n{}", show(&resumed));
    }
    match case.end {
        End::Held => assert!(
            matches!(situation(&state), Situation::Gate { ref step, .. } if step == "hold-here"),
            "{here}: ends at the hold-here gate: {:?}",
            situation(&state)
        ),
        End::RolledBack => assert!(matches!(state.status, RunStatus::RolledBack { .. }), "{here}"),
    }
    let step = state.step(case.step).unwrap();
    assert_eq!(
        step.status,
        StepStatus::Succeeded,
        "{here}: {step:?}\n{}",
        show(&resumed)
    );
    let rerun_by_itself = records.iter().any(|r| {
        r.by == cutover::engine::SYSTEM_ACTOR
            && matches!(&r.event, RunEvent::InDoubtResolved { step, .. } if step == case.step)
    });
    assert!(
        !(case.asks && rerun_by_itself),
        "{here}: not safe to repeat, yet it ran again without the operator\n{}",
        show(&resumed)
    );
    let intents = started(&records, case.step);
    let count = effects();
    match case.rule {
        Rule::Once(n) => assert_eq!(count, n, "{here}: side effects (intents: {intents})"),
        Rule::PerIntent => assert!(
            (1..=intents).contains(&count),
            "{here}: {count} side effects for {intents} intents"
        ),
        Rule::Reads => {}
    }
    (case.check)(&here);
    outcome_words(&records, case, count)
}

fn situation(state: &RunState) -> Situation {
    cutover::engine::situation(state, chrono::Utc::now())
}

fn started(records: &[Recorded], step: &str) -> usize {
    records
        .iter()
        .filter(|r| matches!(&r.event, RunEvent::StepStarted { step: s, .. } if s == step))
        .count()
}

/// How the case went, in a few words: where the intent was when the process died, and
/// what the resume did about it.
fn outcome_words(records: &[Recorded], case: &Case, count: usize) -> String {
    let sessions: Vec<u64> = records
        .iter()
        .filter(|r| matches!(r.event, RunEvent::SessionOpened { .. }))
        .map(|r| r.seq)
        .collect();
    let first_start = records
        .iter()
        .find(|r| matches!(&r.event, RunEvent::StepStarted { step, .. } if step == case.step))
        .map(|r| r.seq);
    let decided = records.iter().find_map(|r| match &r.event {
        RunEvent::InDoubtResolved { step, resolution, .. } if step == case.step => Some((r.by.clone(), *resolution)),
        _ => None,
    });
    let mut words = match (first_start, sessions.get(1), decided) {
        (Some(s), Some(&second), _) if s > second => "intent lost with the process; runs on resume".to_string(),
        (_, _, Some((by, r))) if cutover::engine::is_system_actor(&by) => {
            format!("in doubt; runs again by itself ({r:?})")
        }
        (_, _, Some((_, r))) => format!("in doubt; exit 3 until --resolve ({r:?})").to_lowercase(),
        _ => "outcome recorded before the crash; resumes after it".to_string(),
    };
    match case.rule {
        Rule::Once(_) | Rule::PerIntent => words.push_str(&format!("; effect ×{count}")),
        Rule::Reads => {}
    }
    words
}

/// No event lost or duplicated: the checks every case makes on the journal.
fn whole(records: &[Recorded], state: &RunState) -> Result<(), String> {
    for (i, r) in records.iter().enumerate() {
        if r.seq != i as u64 + 1 {
            return Err(format!("event #{} is at position {}", r.seq, i + 1));
        }
    }
    #[derive(PartialEq)]
    enum Intent {
        /// Acting, in this session.
        Open,
        /// Acting when a session ended: only a decision closes it.
        Interrupted,
    }
    let mut open: BTreeMap<String, Intent> = BTreeMap::new();
    for r in records {
        let at = format!("#{} {}", r.seq, r.event.name());
        match &r.event {
            RunEvent::SessionOpened { .. } => {
                for i in open.values_mut() {
                    *i = Intent::Interrupted;
                }
            }
            RunEvent::StepStarted { step, .. } if open.contains_key(step) => {
                return Err(format!(
                    "{at}: `{step}` started again while its last intent is still open"
                ));
            }
            RunEvent::StepStarted { step, .. } => {
                open.insert(step.clone(), Intent::Open);
            }
            RunEvent::StepSucceeded { step, .. } | RunEvent::StepFailed { step, .. } => match open.remove(step) {
                Some(Intent::Open) => {}
                Some(Intent::Interrupted) => {
                    return Err(format!(
                        "{at}: an outcome for `{step}` whose intent was an earlier session's"
                    ));
                }
                // A step can fail while it is prepared, before any intent.
                None if matches!(r.event, RunEvent::StepFailed { .. }) => {}
                None => {
                    return Err(format!(
                        "{at}: `{step}` succeeded without an open intent (a duplicate?)"
                    ));
                }
            },
            RunEvent::InDoubtResolved { step, .. } if open.get(step) != Some(&Intent::Interrupted) => {
                return Err(format!("{at}: `{step}` resolved, but it was not in doubt"));
            }
            RunEvent::InDoubtResolved { step, .. } => {
                open.remove(step);
            }
            RunEvent::WatchStarted { step, .. }
            | RunEvent::WatchSampled { step, .. }
            | RunEvent::NameserverAnswered { step, .. }
            | RunEvent::ObjectChecked { step, .. }
            | RunEvent::ProcessStarted { step, .. }
                if open.get(step) != Some(&Intent::Open) =>
            {
                return Err(format!(
                    "{at}: a report for `{step}`, which is not acting in this session"
                ));
            }
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err(format!(
            "intents left open at the end: {:?}",
            open.keys().collect::<Vec<_>>()
        ));
    }
    match RunState::replay(records) {
        Some(replayed) if replayed == *state => Ok(()),
        _ => Err("the state the journal opens with is not the state its events give".to_string()),
    }
}

/// Every case through every point; prints the matrix.
fn matrix(family: &str, cases: &[Case]) {
    let mut rows = Vec::new();
    for case in cases {
        for point in POINTS {
            rows.push((case.kind, *point, walk(case, point)));
        }
    }
    let mut table = format!("failpoint matrix, {family}:\n");
    for (kind, point, words) in rows {
        table.push_str(&format!("  {kind:<22} {point:<20} {words}\n"));
    }
    println!("{table}");
}

fn nothing() -> Box<dyn Fn()> {
    Box::new(|| {})
}

fn nothing_to_check() -> Box<dyn Fn(&str)> {
    Box::new(|_| {})
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

// ------------------------------------------------------------------------------------------
// command and http

#[test]
fn commands_http_requests_and_webhooks_through_every_failpoint() {
    let server = RequestLog::start();
    let dir = tempfile::tempdir().unwrap();
    let simple =
        |steps: String| format!("[runbook]\nname = \"fp\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n{steps}{HOLD_HERE}");
    let mut cases = Vec::new();
    for (kind, idempotent) in [("command", false), ("command (idempotent)", true)] {
        let marker = dir.path().join(format!("marker-{idempotent}"));
        // While this file exists the command takes its time (the killed run of during-effect).
        let slow = dir.path().join(format!("slow-{idempotent}"));
        let step = format!(
            "  [[phase.step]]\n  id = \"act\"\n  kind = \"command\"\n  idempotent = {idempotent}\n  \
             run = 'echo ran >> {m}; if [ -e {s} ]; then sleep 5; fi'\n",
            m = marker.display(),
            s = slow.display()
        );
        cases.push(Case {
            kind,
            step: "act",
            runbook: simple(step),
            command: &["run"],
            after: &[],
            env: Vec::new(),
            reset: nothing(),
            slow: Box::new(move |on| {
                if on {
                    std::fs::write(&slow, "").unwrap();
                } else {
                    let _ = std::fs::remove_file(&slow);
                }
            }),
            count: Box::new(move || lines_in(&marker)),
            rule: if idempotent { Rule::PerIntent } else { Rule::Once(1) },
            asks: !idempotent,
            end: End::Held,
            check: nothing_to_check(),
        });
    }
    for (kind, method) in [("http POST", "POST"), ("http GET", "GET")] {
        let path = format!("/{}", method.to_lowercase());
        let step = format!(
            "  [[phase.step]]\n  id = \"act\"\n  kind = \"http\"\n  method = \"{method}\"\n  url = \"{}\"\n  timeout = \"30s\"\n",
            server.url(&path)
        );
        let server = &server;
        cases.push(Case {
            kind,
            step: "act",
            runbook: simple(step),
            command: &["run"],
            after: &[],
            env: Vec::new(),
            reset: nothing(),
            slow: Box::new(move |on| server.set_delay(Duration::from_secs(if on { 5 } else { 0 }))),
            count: Box::new(move || server.count(method, &path)),
            rule: if method == "GET" {
                Rule::PerIntent
            } else {
                Rule::Once(1)
            },
            asks: method != "GET",
            end: End::Held,
            check: nothing_to_check(),
        });
    }
    // A webhook's message must reach the bridge at most once: a POST, never repeated unasked.
    let path = "/services/T01/B02/fp".to_string();
    let step = "  [[phase.step]]\n  id = \"act\"\n  kind = \"notify.webhook\"\n  url_env = \"FP_WEBHOOK_URL\"\n  \
                message = \"flip done\"\n  timeout = \"30s\"\n"
        .to_string();
    let server = &server;
    cases.push(Case {
        kind: "notify.webhook",
        step: "act",
        runbook: simple(step),
        command: &["run"],
        after: &[],
        env: vec![("FP_WEBHOOK_URL", server.url(&path))],
        reset: nothing(),
        slow: Box::new(move |on| server.set_delay(Duration::from_secs(if on { 5 } else { 0 }))),
        count: Box::new(move || server.count("POST", &path)),
        rule: Rule::Once(1),
        asks: true,
        end: End::Held,
        check: nothing_to_check(),
    });
    matrix("commands, http and webhooks", &cases);
}

// ------------------------------------------------------------------------------------------
// DNS: BIND primary (TSIG-signed UPDATEs), Knot secondary

const DNS_CHECK: &str = r#"
  [[phase.step]]
  id = "check"
  kind = "dns.check"
  expect = "192.0.2.10"
"#;
const DNS_LOWER: &str = r#"
  [[phase.step]]
  id = "lower"
  kind = "dns.lower_ttl"
"#;
/// After the TTL step, before the step under test: a moment in which the test freezes the
/// secondary (the TTL step waits for every server, so it must have seen both first).
const DNS_SETTLE: &str = r#"
  [[phase.step]]
  id = "settle"
  kind = "wait"
  title = "The test may freeze the secondary now"
  duration = "1s"
"#;
const DNS_FLIP: &str = r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  from = "192.0.2.10"
  to = "198.51.100.7"
"#;
const DNS_VERIFY: &str = r#"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  timeout = "30s"
"#;
/// A forward step that fails and rolls back at once.
const BOOM: &str = r#"
  [[phase.step]]
  id = "boom"
  kind = "command"
  run = "false"
  on_failure = "rollback"
"#;
const DNS_REVERT: &str = r#"
[rollback]
  [[rollback.step]]
  id = "revert"
  kind = "dns.revert"
"#;
const DNS_RESTORE: &str = r#"
[rollback]
  [[rollback.step]]
  id = "restore"
  kind = "dns.restore_ttl"
"#;

struct DnsKind(
    &'static str,
    &'static str,
    String,
    &'static str,
    usize,
    End,
    (&'static str, u32),
);

/// Each case has a record of its own; the zone's serial counts every change (each UPDATE
/// that changes something raises it by one), so the cases run one after the other.
#[test]
fn dns_steps_through_every_failpoint() {
    let pair = AuthPair::start();
    let zone = pair.zone();
    // kind, the step under test, the forward steps, the rollback, the changes the case
    // makes in all, how it ends, and the value and TTL the record has then.
    let kinds = [
        DnsKind(
            "dns.check",
            "check",
            format!("{DNS_CHECK}{HOLD_HERE}"),
            "",
            0,
            End::Held,
            (VM, 300),
        ),
        DnsKind(
            "dns.lower_ttl",
            "lower",
            format!("{DNS_LOWER}{HOLD_HERE}"),
            "",
            1,
            End::Held,
            (VM, 60),
        ),
        DnsKind(
            "dns.flip",
            "flip",
            format!("{DNS_LOWER}{DNS_SETTLE}{DNS_FLIP}{HOLD_HERE}"),
            "",
            2,
            End::Held,
            (LB, 60),
        ),
        DnsKind(
            "dns.verify",
            "verify",
            format!("{DNS_LOWER}{DNS_SETTLE}{DNS_FLIP}{DNS_VERIFY}{HOLD_HERE}"),
            "",
            2,
            End::Held,
            (LB, 60),
        ),
        DnsKind(
            "dns.revert",
            "revert",
            format!("{DNS_LOWER}{DNS_SETTLE}{DNS_FLIP}{BOOM}"),
            DNS_REVERT,
            3,
            End::RolledBack,
            (VM, 60),
        ),
        DnsKind(
            "dns.restore_ttl",
            "restore",
            format!("{DNS_LOWER}{DNS_SETTLE}{BOOM}"),
            DNS_RESTORE,
            2,
            End::RolledBack,
            (VM, 300),
        ),
    ];
    let pair = &pair;
    let mut cases = Vec::new();
    for (n, DnsKind(kind, step, steps, rollback, changes, end, (value, ttl))) in kinds.into_iter().enumerate() {
        let record = format!("fp{n}.{zone}");
        let runbook = format!(
            r#"[runbook]
name = "fp-dns"
hold = "0s"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "{zone}"
records = ["{record}"]
tsig_key = {{ name = "{key}", algorithm = "hmac-sha256", secret_env = "TEST_TSIG_SECRET" }}
cutover_ttl = "60s"
ttl_lead_time = "0s"
poll_interval = "50ms"
query_timeout = "1s"

[[phase]]
id = "p"
{steps}
{rollback}
"#,
            primary = pair.primary(),
            key = pair.key_name(),
        );
        let reset_record = record.clone();
        cases.push(Case {
            kind,
            step,
            runbook,
            // A rehearsal whose TTL lead time is zero: the flip need not wait out the old TTL.
            command: &["rehearse"],
            after: &["--gate", "ttl-lead=0s"],
            env: vec![("TEST_TSIG_SECRET", pair.secret_b64().to_string())],
            reset: Box::new(move || {
                pair.set_a(&reset_record, VM, 300);
                pair.wait_in_sync(Duration::from_secs(20));
            }),
            // A frozen secondary holds every step that asks it (a read-back after a write,
            // a check, a verify, the TTL step and the revert, which wait for every server)
            // until its query times out. Behind a TTL step, it is frozen once that step has
            // seen both servers serve the lowered TTL, so that only the step under test waits.
            slow: {
                let frozen = std::sync::Arc::new(std::sync::Mutex::new(false));
                let (servers, pid, watched) = (pair.servers(), pair.secondary_pid(), record.clone());
                let behind_lower = steps.contains("id = \"settle\"");
                Box::new(move |on| {
                    let mut armed = frozen.lock().unwrap();
                    *armed = on;
                    if !on {
                        pair.thaw_secondary();
                    } else if !behind_lower {
                        pair.freeze_secondary();
                    } else {
                        let (frozen, watched) = (frozen.clone(), watched.clone());
                        std::thread::spawn(move || {
                            let lowered = || {
                                servers.iter().all(|s| {
                                    support::dns::try_query(*s, &watched, "A").is_some_and(|a| a.ttl == Some(60))
                                })
                            };
                            while *frozen.lock().unwrap() && !lowered() {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            // The TTL step polls every 50 ms: let it see both servers.
                            std::thread::sleep(Duration::from_millis(250));
                            if *frozen.lock().unwrap() {
                                unsafe {
                                    libc::kill(pid as i32, libc::SIGSTOP);
                                }
                            }
                        });
                    }
                })
            },
            count: Box::new(move || pair.serial(pair.primary()) as usize),
            rule: Rule::Once(changes),
            // Compare-and-swap: a rerun reads first and records a change already made.
            asks: false,
            end,
            check: Box::new(move |here| {
                let answer = pair.query(pair.primary(), &record, "A");
                assert_eq!(
                    (answer.values, answer.ttl),
                    (vec![value.to_string()], Some(ttl)),
                    "{here}: what the primary holds in the end"
                );
            }),
        });
    }
    matrix("DNS", &cases);
}

// ------------------------------------------------------------------------------------------
// Kubernetes: the fake API server (src/sandbox/kube), behind a link whose answers the
// test can slow down; the pods' port 3000 is a real HTTP server on loopback

/// Each case has a namespace of its own; the controller switch is the server's, so the
/// cases run one after the other.
#[test]
fn kubernetes_steps_through_every_failpoint() {
    let kube = FakeKube::start();
    let link = SlowLink::to(kube.url().trim_start_matches("http://").parse().unwrap());
    let pods = RequestLog::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kube.kubeconfig("fp", "default", "test-token")
            .replace(&kube.https_url(), &format!("https://{}", link.addr)),
    )
    .unwrap();
    let (kube, link, pods) = (&kube, &link, &pods);
    let address = || -> k8s_openapi::api::core::v1::ServiceStatus {
        serde_json::from_value(serde_json::json!({ "loadBalancer": { "ingress": [{ "ip": "203.0.113.7" }] } })).unwrap()
    };
    let steps: [(&str, &str, &str); 5] = [
        ("k8s.rollout", "rollout", "timeout = \"30s\""),
        (
            "k8s.smoke",
            "smoke",
            "checks = [{ deployment = \"web\", port = 3000, path = \"/smoke\", timeout = \"10s\" }]",
        ),
        (
            "k8s.expose",
            "expose",
            "service = \"web-lb\"\n  output = \"lb_ip\"\n  timeout = \"30s\"",
        ),
        ("k8s.scale", "scale", "replicas = 0\n  timeout = \"30s\""),
        ("k8s.validate", "validate", ""),
    ];
    let mut cases = Vec::new();
    for (kind, step, fields) in steps {
        // Each case in a namespace of its own, named after its step.
        let ns = step;
        let runbook = format!(
            r#"[runbook]
name = "fp-k8s"
hold = "0s"

[k8s]
kubeconfig = "{config}"
context = "fp"
namespace = "{ns}"
deployments = ["web"]
poll_interval = "50ms"
request_timeout = "5s"

[[phase]]
id = "p"
  [[phase.step]]
  id = "{step}"
  kind = "{kind}"
  {fields}
{HOLD_HERE}"#,
            config = kubeconfig.display()
        );
        let reset = Box::new(move || {
            kube.set_auto_rollout(true);
            kube.put(&deployment(ns, "web", "web", 2));
            for pod in ["web-1", "web-2"] {
                kube.put(&ready_pod(ns, pod, "web", &[3000]));
                kube.pod_port(ns, pod, 3000, ([127, 0, 0, 1], pods.port).into());
            }
            let mut svc: Service = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": { "name": "web-lb", "namespace": ns },
                "spec": { "type": "LoadBalancer", "selector": { "app": "web" }, "ports": [{ "port": 443, "targetPort": 3000 }] }
            }))
            .unwrap();
            svc.status = Some(address());
            if kind == "k8s.expose" {
                kube.put(&svc);
            }
        });
        let ready = move |n: i32| {
            kube.update::<Deployment>(ns, "web", |d| {
                let st = d.status.as_mut().unwrap();
                st.ready_replicas = Some(n);
                st.available_replicas = Some(n);
            })
        };
        // What keeps each step busy in the killed run of during-effect.
        let slow: Box<dyn Fn(bool)> = match kind {
            // Not all pods ready: the rollout waits.
            "k8s.rollout" => Box::new(move |on| {
                kube.set_auto_rollout(!on);
                ready(if on { 1 } else { 2 });
            }),
            // The pod takes its time to answer the check.
            "k8s.smoke" => Box::new(move |on| pods.set_delay(Duration::from_secs(if on { 5 } else { 0 }))),
            // The load balancer has no address yet.
            "k8s.expose" => Box::new(move |on| {
                kube.update::<Service>(ns, "web-lb", |s| s.status = (!on).then(address));
            }),
            // The scale is sent; the controller does not get there while the step waits.
            "k8s.scale" => Box::new(move |on| kube.set_auto_rollout(!on)),
            // A slow link to the API server: the checks take a while to read.
            _ => Box::new(move |on| link.set_delay(Duration::from_millis(if on { 400 } else { 0 }))),
        };
        let patches = move || {
            kube.requests()
                .iter()
                .filter(|r| r.starts_with(&format!("PATCH /apis/apps/v1/namespaces/{ns}/deployments/web/scale")))
                .count()
        };
        cases.push(Case {
            kind,
            step,
            runbook,
            command: &["run"],
            after: &[],
            env: Vec::new(),
            reset,
            slow,
            count: if kind == "k8s.scale" {
                Box::new(patches)
            } else {
                Box::new(|| 0)
            },
            rule: if kind == "k8s.scale" {
                Rule::Once(1)
            } else {
                Rule::Reads
            },
            asks: false,
            end: End::Held,
            check: Box::new(move |here| {
                let replicas = kube.get::<Deployment>(ns, "web").unwrap().spec.unwrap().replicas;
                let want = if kind == "k8s.scale" { 0 } else { 2 };
                assert_eq!(replicas, Some(want), "{here}: replicas in the end");
            }),
        });
    }
    matrix("Kubernetes", &cases);
}

// ------------------------------------------------------------------------------------------
// Metrics: a real Prometheus scraping an app, behind a link the test can slow down

#[test]
fn metrics_steps_through_every_failpoint() {
    let app = App::with_traffic(Traffic::new(200.0, 0.002, Duration::from_millis(120)));
    let mut prometheus = Prometheus::start(&app);
    prometheus.wait_ready(Duration::from_secs(20));
    prometheus.wait_for_data(&error_rate_over("5s"), Duration::from_secs(30));
    prometheus.wait_for_data(&p99_latency_over("5s"), Duration::from_secs(30));
    let link = SlowLink::to(([127, 0, 0, 1], prometheus.port()).into());
    let link = &link;
    let runbook = |steps: &str| {
        format!(
            r#"[runbook]
name = "fp-metrics"
hold = "0s"

[metrics]
prometheus = "http://{link}"
error_rate = '{error_rate}'
p99 = '{p99}'
baseline = "5s"
watch = "2s"
interval = "500ms"
consecutive = 2
inconclusive = 3
max_error_rate_increase = 0.05
max_p99_increase = "100%"
query_timeout = "5s"

[[phase]]
id = "p"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
{steps}{HOLD_HERE}"#,
            link = link.addr,
            error_rate = error_rate_over("5s"),
            p99 = p99_latency_over("5s"),
        )
    };
    let cases = vec![
        Case {
            kind: "metrics.baseline",
            step: "baseline",
            runbook: runbook(""),
            command: &["run"],
            after: &[],
            env: Vec::new(),
            reset: nothing(),
            // Prometheus answers slowly: the range queries take a while.
            slow: Box::new(move |on| link.set_delay(Duration::from_millis(if on { 600 } else { 0 }))),
            count: Box::new(|| 0),
            rule: Rule::Reads,
            asks: false,
            end: End::Held,
            check: nothing_to_check(),
        },
        Case {
            kind: "metrics.watch",
            step: "watch",
            runbook: runbook("  [[phase.step]]\n  id = \"watch\"\n  kind = \"metrics.watch\"\n"),
            command: &["run"],
            after: &[],
            env: Vec::new(),
            reset: nothing(),
            // A watch lasts its 2 s anyway.
            slow: Box::new(|_| {}),
            count: Box::new(|| 0),
            rule: Rule::Reads,
            asks: false,
            end: End::Held,
            check: nothing_to_check(),
        },
    ];
    matrix("metrics", &cases);
    drop(app);
}

// ------------------------------------------------------------------------------------------
// The checkpoint: a snapshot every SNAPSHOT_EVERY events, taken while a step is acting

/// `k8s.validate` over enough pods that its reports alone cross SNAPSHOT_EVERY events: the
/// checkpoint is taken while the step acts, and the process dies in it. The resume finds
/// the step in doubt, every report before the crash still in the journal, and runs it again.
#[test]
fn a_crash_in_a_checkpoint_taken_while_a_step_reports_loses_nothing() {
    const PODS: usize = 350;
    let kube = FakeKube::start();
    let ns = "many";
    kube.put(&deployment(ns, "web", "web", PODS as i32));
    for n in 0..PODS {
        let mut pod = ready_pod(ns, &format!("web-{n}"), "web", &[3000]);
        pod.metadata.annotations = Some([("sidecar.example/status".to_string(), "injected".to_string())].into());
        kube.put(&pod);
    }
    let sb = Sandbox::new();
    let config = sb.path().join("kubeconfig");
    kube.write_kubeconfig(&config, "fp", ns);
    // Each pod gives three reports: Ready, restarts, the annotation.
    let rb = sb.write(
        "many.toml",
        &format!(
            r#"[runbook]
name = "fp-checkpoint"
hold = "0s"

[k8s]
kubeconfig = "{config}"
context = "fp"
namespace = "{ns}"
deployments = ["web"]

[[phase]]
id = "p"
  [[phase.step]]
  id = "validate"
  kind = "k8s.validate"
  require_annotation = "sidecar.example/status"
{HOLD_HERE}"#,
            config = config.display()
        ),
    );
    let rb = rb.to_str().unwrap();
    let crashed = sb
        .cutover()
        .args(["run", rb, "--headless"])
        .env("CUTOVER_FAILPOINT", "during-snapshot:validate")
        .output()
        .unwrap();
    assert_eq!(crashed.status.signal(), Some(libc::SIGKILL), "{}", show(&crashed));
    let resumed = sb.output(&["run", rb, "--headless"]);
    assert_eq!(resumed.status.code(), Some(3), "{}", show(&resumed));

    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    whole(&records, &state).unwrap_or_else(|e| panic!("{e}\n{}", show(&resumed)));
    let second_session = records
        .iter()
        .filter(|r| matches!(r.event, RunEvent::SessionOpened { .. }))
        .nth(1)
        .expect("a second session")
        .seq;
    assert!(
        second_session > cutover::journal::SNAPSHOT_EVERY,
        "the process died in the checkpoint after event #{}, not in an earlier snapshot",
        second_session - 1
    );
    let reports = |from: u64, to: u64| {
        records
            .iter()
            .filter(|r| (from..to).contains(&r.seq))
            .filter(|r| matches!(&r.event, RunEvent::ObjectChecked { step, .. } if step == "validate"))
            .count()
    };
    assert!(
        reports(0, second_session) as u64 >= cutover::journal::SNAPSHOT_EVERY - 3,
        "every report before the crash is kept"
    );
    assert!(
        records.iter().any(|r| r.seq > second_session
            && matches!(&r.event, RunEvent::InDoubtResolved { step, .. } if step == "validate")
            && r.by == cutover::engine::SYSTEM_ACTOR),
        "the step was acting when the process died, and ran again"
    );
    assert_eq!(
        reports(second_session, u64::MAX),
        PODS * 3,
        "the second try reports every pod"
    );
    assert_eq!(state.step("validate").unwrap().status, StepStatus::Succeeded);
    assert_eq!(
        RunState::replay(&records).as_ref(),
        Some(&state),
        "snapshot and replay agree"
    );
}
