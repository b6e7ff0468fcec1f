//! Journal benchmark: flushed appends and the resume of a long run.
//!
//! `cargo bench --bench journal` runs the full sizes (cargo passes `--bench`); any other
//! invocation, e.g. `cargo test --benches`, runs a small smoke version and exits quickly.
//!
//! Measured:
//! - append: single-event batches, each an atomic batch flushed (fsync) to disk, as a run
//!   does before and after every side effect;
//! - resume: `Store::open_run` (lock, sled open, snapshot, replay of the events after it)
//!   on a run of 100 000 events. A child process builds the run and exits without closing
//!   it (a crash); the first open after it runs in a fresh process with the run's files
//!   evicted from the page cache, later opens in a fresh process and in this one. The
//!   parts of the rebuild are timed one by one on sled directly, a full replay without a
//!   snapshot is timed for comparison, and appends go on on the long run afterwards;
//! - the same resume on a run whose every event is a note (its state grows with it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use cutover::engine::{Evidence, Failure, HttpAttempt, Intent, Mode, Outcome, Recorded, RunEvent, RunState};
use cutover::journal::{Holder, Journal, SNAPSHOT_EVERY, Store};
use cutover::runbook::{Action, Runbook, load_str};

/// A blue-green cutover of an API: three phases, twelve steps of every kind, one
/// rollback step.
const RUNBOOK: &str = r#"
[runbook]
name = "bench-api-cutover"
description = "Move bench-api from its VMs to Kubernetes by switching DNS."
hold = "72h"

[vars]
service = "bench-api"
api_host = "api.bench.example"
vm_host = "vm-api-1.bench.internal"
lb_ip = "198.51.100.20"
readiness = "/health/readiness"
zone = "bench.example"

[[phase]]
id = "prepare"
title = "Before the window"

  [[phase.step]]
  id = "change-ticket"
  kind = "manual"
  title = "Change ticket approved for this window"
  instructions = "Check the window and the approvers; put the ticket number in the note."
  note = "required"

  [[phase.step]]
  id = "bridge-open"
  kind = "manual"
  title = "On-call, the VM team and the service owner are on the bridge"

  [[phase.step]]
  id = "stop-vm-cron"
  kind = "command"
  title = "Stop the scheduler on the VM"
  run = "ssh ${vm_host} sudo systemctl stop ${service}-scheduler"
  timeout = "2m"
  approve = true

  [[phase.step]]
  id = "vm-cron-stopped"
  kind = "command"
  title = "The VM scheduler is really stopped"
  run = "! ssh ${vm_host} systemctl is-active --quiet ${service}-scheduler"
  timeout = "1m"
  idempotent = true

  [[phase.step]]
  id = "lb-readiness"
  kind = "http"
  title = "Readiness through the new load balancer, hostname pinned"
  url = "https://${api_host}${readiness}"
  resolve = { host = "${api_host}", to = "${lb_ip}" }
  expect_status = 200
  max_latency = "200ms"
  retries = 2
  retry_interval = "5s"

[[phase]]
id = "switch"
title = "The switch"

  [[phase.step]]
  id = "lower-ttl"
  kind = "command"
  title = "Lower the TTL of the record to 60 seconds"
  run = "dnsctl set-ttl --zone ${zone} --name ${api_host} --ttl 60"
  idempotent = true

  [[phase.step]]
  id = "ttl-expired"
  kind = "wait"
  title = "Wait for the old TTL to expire"
  after = { step = "lower-ttl", delay = "5m" }

  [[phase.step]]
  id = "switch-dns"
  kind = "command"
  title = "Point the record at the new load balancer"
  run = "dnsctl upsert --zone ${zone} --name ${api_host} --a ${lb_ip}"
  approve = "type:${api_host}"
  capture = "change_id"
  on_failure = "rollback"

  [[phase.step]]
  id = "dns-propagated"
  kind = "http"
  title = "The hostname answers from the new load balancer"
  url = "https://${api_host}${readiness}"
  retries = 10
  retry_interval = "10s"

[[phase]]
id = "verify"
title = "After the switch"

  [[phase.step]]
  id = "smoke"
  kind = "http"
  title = "Smoke test of the public API"
  url = "https://${api_host}/v1/status"
  body_contains = "ok"

  [[phase.step]]
  id = "error-rate"
  kind = "command"
  title = "Error rate under 0.1% for ten minutes"
  run = "metricsctl query --service ${service} --max-error-rate 0.001 --window 10m"
  idempotent = true

  [[phase.step]]
  id = "sign-off"
  kind = "manual"
  title = "The service owner signs off"

[rollback]

  [[rollback.step]]
  id = "switch-back"
  kind = "command"
  title = "Point the record back at the VMs"
  run = "dnsctl upsert --zone ${zone} --name ${api_host} --cname ${vm_host}"
  idempotent = true
"#;

/// Argument that makes this binary resume one run and report, for a fresh-process figure.
const CHILD_RESUME: &str = "--child-resume";
/// Argument that makes this binary build a long run and exit without closing it (a crash).
const CHILD_BUILD: &str = "--child-build";
const RESUME_TARGET_MS: f64 = 100.0;
const OPERATOR: &str = "alice";

struct Sizes {
    appends: usize,
    resume_events: u64,
    batch: usize,
    resume_repeats: usize,
    replay_repeats: usize,
    /// Single-event appends on the long run after its resume.
    late_appends: usize,
}

const FULL: Sizes = Sizes {
    appends: 2_000,
    resume_events: 100_000,
    batch: 100,
    resume_repeats: 10,
    replay_repeats: 3,
    late_appends: SNAPSHOT_EVERY as usize + 10,
};

const SMOKE: Sizes = Sizes {
    appends: 200,
    resume_events: 2_000,
    batch: 100,
    resume_repeats: 2,
    replay_repeats: 1,
    late_appends: 50,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_RESUME) {
        child_resume(Path::new(&args[i + 1]), &args[i + 2]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == CHILD_BUILD) {
        let number = |s: &str| s.parse().expect("a number");
        child_build(
            Path::new(&args[i + 1]),
            number(&args[i + 2]),
            number(&args[i + 3]) as usize,
        );
    }
    let full = args.iter().any(|a| a == "--bench");
    let sizes = if full { FULL } else { SMOKE };
    let runbook = Bench::load();

    println!(
        "journal benchmark ({}; runbook: {} phases, {} steps + {} rollback; snapshot every {SNAPSHOT_EVERY} events)",
        if full {
            "full"
        } else {
            "smoke: run `cargo bench --bench journal` for the full sizes"
        },
        runbook.runbook.phases.len(),
        runbook.runbook.step_count() - runbook.runbook.rollback.len(),
        runbook.runbook.rollback.len(),
    );
    let mut table = Table::default();
    bench_append(&runbook, &sizes, &mut table);
    bench_resume(&runbook, &sizes, &mut table);
    table.print();
}

struct Bench {
    runbook: Runbook,
    digest: String,
}

impl Bench {
    fn load() -> Self {
        let loaded = load_str(Path::new("bench.toml"), RUNBOOK, None).unwrap_or_else(|e| panic!("bench runbook: {e}"));
        Self {
            runbook: loaded.runbook,
            digest: loaded.digest,
        }
    }

    /// A new store in `root` with one new run: the journal, its state, its id.
    fn create(&self, root: &Path) -> (Store, Journal, RunState) {
        let store = Store::open(root).expect("store");
        let holder = holder();
        let (journal, state, created) = store
            .open_or_create(
                &self.runbook.name,
                &self.runbook.environment,
                Mode::Live,
                &holder,
                Utc::now(),
                false,
                |run_id| RunEvent::RunStarted {
                    run_id,
                    mode: Mode::Live,
                    runbook: self.runbook.clone(),
                    digest: self.digest.clone(),
                    source: "bench.toml".to_string(),
                    rehearsal: None,
                    dry_run: false,
                },
            )
            .expect("create run");
        assert!(created, "the temporary store had a run already");
        (store, journal, state)
    }
}

fn holder() -> Holder {
    Holder::this_process(OPERATOR, "cutover bench", Utc::now())
}

// ---------------------------------------------------------------------------------------
// Events

/// An endless, deterministic stream of realistic events for the bench runbook.
struct Events {
    steps: Vec<(String, Action)>,
    cycle: usize,
    queue: std::collections::VecDeque<RunEvent>,
}

impl Events {
    fn new(runbook: &Runbook) -> Self {
        Self {
            steps: runbook.steps().map(|(_, s)| (s.id.clone(), s.action.clone())).collect(),
            cycle: 0,
            queue: Default::default(),
        }
    }

    fn take(&mut self, n: usize) -> Vec<RunEvent> {
        (0..n).map(|_| self.next_event()).collect()
    }

    fn next_event(&mut self) -> RunEvent {
        if self.queue.is_empty() {
            self.refill();
        }
        self.queue.pop_front().expect("refilled")
    }

    /// One step run: approval, start, sometimes a failure and a retry, success, sometimes a note.
    fn refill(&mut self) {
        let k = self.cycle;
        self.cycle += 1;
        let (id, action) = &self.steps[k % self.steps.len()];
        let step = id.clone();
        let (intent, outcome, failure) = match action {
            Action::Manual(_) => (
                Intent::Confirm,
                Outcome {
                    summary: format!("confirmed by {OPERATOR}"),
                    ..Outcome::default()
                },
                None,
            ),
            Action::Wait(_) => (
                Intent::Gate,
                Outcome {
                    summary: "waited 5m 00s after lower-ttl".to_string(),
                    ..Outcome::default()
                },
                None,
            ),
            Action::Command(c) => {
                let run = c.run.to_source();
                let stdout = format!("{run}\nok: change C{k:08} submitted\nstatus: INSYNC\n");
                let outputs = c
                    .capture
                    .iter()
                    .map(|name| (name.clone(), format!("C{k:08}")))
                    .collect::<BTreeMap<_, _>>();
                let failure = Failure {
                    message: "exit status 255 (expected 0)".to_string(),
                    advice: Some("check the SSH access to the host, then retry".to_string()),
                    evidence: Evidence::Command {
                        exit_code: Some(255),
                        elapsed_ms: 3_012,
                        stdout: String::new(),
                        stderr: "ssh: connect to host port 22: Connection timed out\n".to_string(),
                    },
                    ..Failure::default()
                };
                (
                    Intent::Command {
                        run,
                        timeout: c.timeout,
                    },
                    Outcome {
                        summary: format!("exit 0 in {} ms", 800 + k % 400),
                        details: vec!["last line: status: INSYNC".to_string()],
                        outputs,
                        evidence: Evidence::Command {
                            exit_code: Some(0),
                            elapsed_ms: 800 + (k % 400) as u64,
                            stdout,
                            stderr: String::new(),
                        },
                    },
                    (k % 7 == 3).then_some(failure),
                )
            }
            Action::Http(h) => {
                let attempts = (0..1 + k % 3)
                    .map(|i| HttpAttempt {
                        status: Some(if i + 1 < 1 + k % 3 { 503 } else { 200 }),
                        latency_ms: 90 + (k % 50) as u64,
                        problem: (i + 1 < 1 + k % 3).then(|| "HTTP 503, expected 200".to_string()),
                    })
                    .collect();
                (
                    Intent::Http {
                        method: h.method.clone(),
                        url: h.url.to_source(),
                        resolve: h
                            .resolve
                            .as_ref()
                            .map(|r| format!("{}:443:{}", r.host, r.to.to_source())),
                    },
                    Outcome {
                        summary: format!("HTTP 200 in {} ms", 90 + k % 50),
                        evidence: Evidence::Http { attempts },
                        ..Outcome::default()
                    },
                    None,
                )
            }
            // The benchmark's runbook has no DNS steps; a DNS intent is the size of a
            // command's.
            other => (
                Intent::Gate,
                Outcome {
                    summary: format!("{} done", other.kind()),
                    ..Outcome::default()
                },
                None,
            ),
        };
        if matches!(action, Action::Manual(_)) {
            self.queue.push_back(RunEvent::StepApproved {
                step: step.clone(),
                typed: None,
                note: Some(format!("CHG{k:07} approved")),
            });
        }
        self.queue.push_back(RunEvent::StepStarted {
            step: step.clone(),
            intent: intent.clone(),
        });
        if let Some(failure) = failure {
            self.queue.push_back(RunEvent::StepFailed {
                step: step.clone(),
                failure,
            });
            self.queue.push_back(RunEvent::StepRetried { step: step.clone() });
            self.queue.push_back(RunEvent::StepStarted {
                step: step.clone(),
                intent,
            });
        }
        self.queue.push_back(RunEvent::StepSucceeded {
            step: step.clone(),
            outcome,
        });
        if k % 5 == 0 {
            self.queue.push_back(note(k, Some(step)));
        }
    }
}

fn note(k: usize, step: Option<String>) -> RunEvent {
    RunEvent::NoteAdded {
        step,
        text: format!("note {k}: checked the dashboards with the service owner, nothing unusual"),
    }
}

// ---------------------------------------------------------------------------------------
// Append

fn bench_append(bench: &Bench, sizes: &Sizes, table: &mut Table) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (_store, mut journal, mut state) = bench.create(tmp.path());
    let mut events = Events::new(&bench.runbook);
    // A few appends to warm up the files and the allocator.
    for _ in 0..10 {
        journal
            .append(&mut state, Utc::now(), OPERATOR, events.take(1))
            .expect("append");
    }
    let mut times = Vec::with_capacity(sizes.appends);
    let started = Instant::now();
    for _ in 0..sizes.appends {
        let batch = events.take(1);
        let now = Utc::now();
        let t = Instant::now();
        journal.append(&mut state, now, OPERATOR, batch).expect("append");
        times.push(t.elapsed());
    }
    let total = started.elapsed();

    let s = Stats::of(&mut times);
    table.section(&format!(
        "append: {} single-event batches, each flushed (fsync), mixed events",
        sizes.appends
    ));
    table.row("append latency, median", us(s.median), "µs");
    table.row("append latency, p95", us(s.p95), "µs");
    table.row("append latency, p99", us(s.p99), "µs");
    table.row("append latency, max", us(s.max), "µs");
    table.row(
        "appends per second",
        format!("{:.0}", sizes.appends as f64 / total.as_secs_f64()),
        "appends/s",
    );
}

// ---------------------------------------------------------------------------------------
// Resume

fn bench_resume(bench: &Bench, sizes: &Sizes, table: &mut Table) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let target = sizes.resume_events;

    // Build the run in a child process that exits without closing the journal: a crash,
    // with no clean close and no closing snapshot (up to SNAPSHOT_EVERY - 1 events after
    // the newest snapshot are replayed).
    let root = tmp.path().join("store");
    let (run_id, build) = build_in_child(&root, target, sizes.batch);
    let store = Store::open(&root).expect("store");
    let run_dir = store.run_dir(&run_id).expect("a valid run id");
    let holder = holder();

    // The first open after the writer, as `cutover resume` after a crash: a fresh process,
    // the run's files evicted from the page cache. sled recovers its whole log here.
    evict(&run_dir);
    let first = fresh_process_resume(store.root(), &run_id);

    // Later opens in this process (warm page cache, sled log already recovered).
    let mut open_times = Vec::new();
    let mut close_times = Vec::new();
    let mut last_state = None;
    for _ in 0..sizes.resume_repeats {
        let t = Instant::now();
        let (journal, state) = store.open_run(&run_id, &holder).expect("resume");
        open_times.push(t.elapsed());
        assert_eq!(state.last_seq, target);
        let t = Instant::now();
        drop(journal);
        close_times.push(t.elapsed());
        last_state = Some(state);
    }
    let state = last_state.expect("resumed at least once");
    let rss_after_resume = proc_status_kb("VmRSS");
    let warm = fresh_process_resume(store.root(), &run_id);

    // Full replay without a snapshot: every event read, decoded and applied.
    let (journal, _) = store.open_run(&run_id, &holder).expect("resume");
    let mut read_times = Vec::new();
    let mut apply_times = Vec::new();
    for _ in 0..sizes.replay_repeats {
        let t = Instant::now();
        let records = journal.records(1).expect("records");
        read_times.push(t.elapsed());
        let t = Instant::now();
        let replayed = replay(&records);
        apply_times.push(t.elapsed());
        assert_eq!(replayed.last_seq, target);
        assert_eq!(replayed, state, "full replay and snapshot + replay disagree");
    }
    drop(journal);

    // Disk size before the appends below add to it.
    let size = disk_size(&run_dir);

    // Appends go on after the resume: single-event batches on the long run, enough to
    // reach the next snapshot (counted from the open) in the full sizes.
    let (mut journal, mut state) = store.open_run(&run_id, &holder).expect("resume");
    let mut events = Events::new(&bench.runbook);
    let mut late = Vec::with_capacity(sizes.late_appends);
    for _ in 0..sizes.late_appends {
        let batch = events.take(1);
        let now = Utc::now();
        let t = Instant::now();
        journal.append(&mut state, now, OPERATOR, batch).expect("append");
        late.push(t.elapsed());
    }
    drop(journal);
    let slowest = (1..).zip(&late).max_by_key(|(_, t)| **t).map_or(0, |(i, _)| i);
    let late = Stats::of(&mut late);
    let open = Stats::of(&mut open_times);
    let read = Stats::of(&mut read_times);
    let apply = Stats::of(&mut apply_times);

    table.section(&format!(
        "resume: a run of {target} events (built in batches of {} in {:.1} s by a process that then crashed)",
        sizes.batch,
        build.as_secs_f64(),
    ));
    let target_note = |d: f64| format!("ms  (target < {RESUME_TARGET_MS:.0} ms: {})", verdict(d));
    match &first {
        Some(f) => {
            table.row(
                "first open after the writer: fresh process, cold cache",
                format!("{:.1}", f.open_ms),
                &target_note(f.open_ms),
            );
            table.row(
                "  resident memory of that process before the resume",
                mb(f.rss_before_kb),
                "MiB",
            );
            table.row(
                "  resident memory of that process after the resume",
                mb(f.rss_after_kb),
                "MiB",
            );
            table.row("  peak resident memory of that process", mb(f.hwm_kb), "MiB");
            table.row(
                "  older events checked (the first intent waits for it), from the open's start",
                format!("{:.1}", f.checked_ms),
                "ms",
            );
            table.row("  resident memory after that check", mb(f.checked_rss_kb), "MiB");
            table.row("  peak resident memory through that check", mb(f.checked_hwm_kb), "MiB");
        }
        None => table.row("first open after the writer", "failed".to_string(), "(see stderr)"),
    }
    match &warm {
        Some(f) => table.row(
            "later open: fresh process, warm cache",
            format!("{:.1}", f.open_ms),
            &target_note(f.open_ms),
        ),
        None => table.row("later open: fresh process", "failed".to_string(), "(see stderr)"),
    }
    table.row(
        &format!("later open_run in this process, median of {}", sizes.resume_repeats),
        ms(open.median),
        &target_note(open.median.as_secs_f64() * 1000.0),
    );
    table.row("later open_run in this process, min", ms(open.min), "ms");
    table.row("later open_run in this process, max", ms(open.max), "ms");
    table.row(
        "drop of the journal (close), median",
        ms(Stats::of(&mut close_times).median),
        "ms",
    );
    table.row(
        "resident memory of the bench after the resumes (VmRSS)",
        mb(rss_after_resume),
        "MiB",
    );
    table.row(
        "full replay without snapshot, read + decode (records(1))",
        ms(read.median),
        "ms",
    );
    table.row("full replay without snapshot, apply", ms(apply.median), "ms");
    table.row(
        "full replay without snapshot, total",
        ms(read.median + apply.median),
        "ms",
    );
    table.row(
        &format!("append on this run after the resume ({}), median", sizes.late_appends),
        us(late.median),
        "µs",
    );
    table.row("append on this run after the resume, p99", us(late.p99), "µs");
    table.row(
        "append on this run after the resume, max",
        us(late.max),
        &format!("µs  (append #{slowest} after the open)"),
    );
    table.row("database size on disk (apparent)", mb_bytes(size.apparent), "MiB");
    table.row("database size on disk (allocated)", mb_bytes(size.allocated), "MiB");
    table.row(
        "  bytes per event (allocated)",
        format!("{:.0}", size.allocated as f64 / target as f64),
        "B/event",
    );
}

fn replay(records: &[Recorded]) -> RunState {
    let mut state = RunState::start(&records[0]).expect("run_started");
    for r in &records[1..] {
        state.apply(r);
    }
    state
}

fn verdict(ms: f64) -> &'static str {
    if ms < RESUME_TARGET_MS { "met" } else { "MISSED" }
}

struct Fresh {
    open_ms: f64,
    rss_before_kb: u64,
    rss_after_kb: u64,
    hwm_kb: u64,
    /// From the open's start until the background check of the older events ended.
    checked_ms: f64,
    checked_rss_kb: u64,
    checked_hwm_kb: u64,
}

fn fresh_process_resume(root: &Path, run_id: &str) -> Option<Fresh> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .arg(CHILD_RESUME)
        .arg(root)
        .arg(run_id)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("fresh-process resume failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("child-resume "))?;
    let f: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    (f.len() == 7).then(|| Fresh {
        open_ms: f[0],
        rss_before_kb: f[1] as u64,
        rss_after_kb: f[2] as u64,
        hwm_kb: f[3] as u64,
        checked_ms: f[4],
        checked_rss_kb: f[5] as u64,
        checked_hwm_kb: f[6] as u64,
    })
}

fn build_in_child(root: &Path, events: u64, batch: usize) -> (String, Duration) {
    let exe = std::env::current_exe().expect("this program");
    let out = Command::new(exe)
        .arg(CHILD_BUILD)
        .arg(root)
        .arg(events.to_string())
        .arg(batch.to_string())
        .output()
        .expect("run the build");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("child-build "));
    match (out.status.success(), line.and_then(|l| l.split_once(' '))) {
        (true, Some((run_id, secs))) => (
            run_id.to_string(),
            Duration::from_secs_f64(secs.parse().expect("seconds")),
        ),
        _ => panic!("building the run failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// In the child: builds a run of `target` events in batches of `batch`, then exits
/// without dropping the journal, as a crash would.
fn child_build(root: &Path, target: u64, batch: usize) -> ! {
    let bench = Bench::load();
    let t = Instant::now();
    let (_store, mut journal, mut state) = bench.create(root);
    let mut events = Events::new(&bench.runbook);
    while state.last_seq < target {
        let n = (target - state.last_seq).min(batch as u64) as usize;
        journal
            .append(&mut state, Utc::now(), OPERATOR, events.take(n))
            .expect("append");
    }
    println!("child-build {} {:.3}", journal.run_id(), t.elapsed().as_secs_f64());
    // No drop: no clean close. Every append was flushed; the kernel releases the lock.
    std::process::exit(0)
}

/// In the child: one resume, then its time and memory on one line.
fn child_resume(root: &Path, run_id: &str) {
    let store = Store::open(root).expect("store");
    let holder = holder();
    let before = proc_status_kb("VmRSS");
    let t = Instant::now();
    let (journal, state) = store.open_run(run_id, &holder).expect("resume");
    let open = t.elapsed();
    let after = proc_status_kb("VmRSS");
    let hwm = proc_status_kb("VmHWM");
    std::hint::black_box(&state);
    // The events before the snapshot are checked in the background; the first intent
    // waits for that check. Time it from the open's start, and its memory.
    let mut journal = journal;
    journal.older_events_checked().expect("the older events check out");
    let checked = t.elapsed();
    let checked_rss = proc_status_kb("VmRSS");
    let checked_hwm = proc_status_kb("VmHWM");
    drop(journal);
    println!(
        "child-resume {:.3} {before} {after} {hwm} {:.3} {checked_rss} {checked_hwm}",
        open.as_secs_f64() * 1000.0,
        checked.as_secs_f64() * 1000.0
    );
}

// ---------------------------------------------------------------------------------------
// Helpers

struct Stats {
    min: Duration,
    median: Duration,
    p95: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(times: &mut [Duration]) -> Self {
        assert!(!times.is_empty(), "no samples");
        times.sort_unstable();
        // Nearest rank.
        let at = |p: f64| times[((p / 100.0 * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
        Self {
            min: times[0],
            median: at(50.0),
            p95: at(95.0),
            p99: at(99.0),
            max: times[times.len() - 1],
        }
    }
}

fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn mb_bytes(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// A field of /proc/self/status in kB (0 where there is no /proc).
fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Drops the files under `dir` from the page cache (written back first), so the next
/// open reads them from the disk.
fn evict(dir: &Path) {
    use std::os::fd::AsRawFd;
    for entry in std::fs::read_dir(dir).expect("evict: read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            evict(&path);
        } else if let Ok(file) = std::fs::File::open(&path) {
            let _ = file.sync_all();
            // SAFETY: a valid, open descriptor; the call only advises the kernel.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

struct DiskSize {
    apparent: u64,
    allocated: u64,
}

fn disk_size(dir: &Path) -> DiskSize {
    use std::os::unix::fs::MetadataExt;
    let mut size = DiskSize {
        apparent: 0,
        allocated: 0,
    };
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                size.apparent += meta.len();
                size.allocated += meta.blocks() * 512;
            }
        }
    }
    size
}

/// Rows of what was measured, the figure and its unit, printed aligned.
#[derive(Default)]
struct Table {
    lines: Vec<Line>,
}

enum Line {
    Section(String),
    Row(String, String, String),
}

impl Table {
    fn section(&mut self, title: &str) {
        self.lines.push(Line::Section(title.to_string()));
    }

    fn row(&mut self, what: &str, value: String, unit: &str) {
        self.lines.push(Line::Row(what.to_string(), value, unit.to_string()));
    }

    fn print(&self) {
        let rows = || {
            self.lines.iter().filter_map(|l| match l {
                Line::Row(w, v, _) => Some((w, v)),
                Line::Section(_) => None,
            })
        };
        let w = rows().map(|(w, _)| w.chars().count()).max().unwrap_or(0);
        let v = rows().map(|(_, v)| v.chars().count()).max().unwrap_or(0);
        for line in &self.lines {
            match line {
                Line::Section(title) => println!("\n{title}"),
                Line::Row(what, value, unit) => println!("  {what:<w$}  {value:>v$}  {unit}"),
            }
        }
    }
}
