//! Cockpit benchmark: the time to draw one frame of a large run (200 steps, 10 000 log
//! lines, and a watch with its samples), and the CPU the loop uses while it waits on a
//! gate. `cargo bench --bench tui` runs the full sizes; without `--bench` (as under
//! `cargo test --benches`) a short smoke version runs.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use cutover::engine::{
    Failure, FailureAction, Intent, MetricSample, Mode, Outcome, Recorded, RollbackTrigger, RunEvent, RunState,
    RunStatus, SCHEMA_VERSION, StepStatus, Verdict, WatchedMetric,
};
use cutover::journal::{Holder, Store};
use cutover::runbook::load_str;
use cutover::runner::{Driver, HeldRun};
use cutover::tui::app::App;
use cutover::tui::theme::Theme;
use cutover::tui::view::{Ctx, render};
use cutover::tui::{Clock, Input, Inputs, Loop, Stats};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const TARGET_FRAME_MS: f64 = 1.0;

fn runbook(steps: usize) -> String {
    let mut rb = String::from("[runbook]\nname = \"big\"\n");
    for p in 0..steps / 20 {
        rb.push_str(&format!(
            "[[phase]]\nid = \"phase-{p}\"\ntitle = \"Phase {p} of the cutover\"\n"
        ));
        for s in 0..20 {
            rb.push_str(&format!(
                "  [[phase.step]]\n  id = \"step-{p}-{s}\"\n  kind = \"command\"\n  title = \"Step {s} of phase {p}\"\n  run = \"./scripts/check-{s}.sh --verbose\"\n"
            ));
        }
    }
    rb.push_str("[rollback]\n  [[rollback.step]]\n  id = \"back\"\n  kind = \"command\"\n  run = \"true\"\n");
    rb
}

struct Events {
    seq: u64,
    at: DateTime<Utc>,
    out: Vec<Recorded>,
}

impl Events {
    fn push(&mut self, event: RunEvent) {
        self.seq += 1;
        self.at += chrono::Duration::seconds(1);
        self.out.push(Recorded {
            v: SCHEMA_VERSION,
            seq: self.seq,
            at: self.at,
            by: "alice".into(),
            event,
        });
    }
}

/// A run of `steps` steps, half done, its last step watching, with `lines` log lines;
/// `ended`: the watch ended in a breach and the run rolled back (its chart is frozen).
fn big_run(steps: usize, lines: usize, ended: bool) -> (RunState, Vec<Recorded>) {
    let loaded = load_str(Path::new("big.toml"), &runbook(steps), None).expect("bench runbook");
    let t0: DateTime<Utc> = "2026-12-01T22:00:00Z".parse().unwrap();
    let mut ev = Events {
        seq: 0,
        at: t0,
        out: Vec::new(),
    };
    ev.push(RunEvent::RunStarted {
        run_id: "big.default.20261201T2200Z".into(),
        mode: Mode::Live,
        runbook: loaded.runbook.clone(),
        digest: loaded.digest.clone(),
        source: "big.toml".into(),
        rehearsal: None,
        dry_run: false,
    });
    let ids: Vec<String> = loaded.runbook.steps().map(|(_, s)| s.id.clone()).collect();
    for id in &ids[..steps / 2] {
        ev.push(RunEvent::StepStarted {
            step: id.clone(),
            intent: Intent::Command {
                run: "./scripts/check.sh".into(),
                timeout: Duration::from_secs(300),
            },
        });
        ev.push(RunEvent::StepSucceeded {
            step: id.clone(),
            outcome: Outcome {
                summary: "exit 0 in 1s".into(),
                ..Outcome::default()
            },
        });
    }
    let watching = ids[steps / 2].clone();
    ev.push(RunEvent::StepStarted {
        step: watching.clone(),
        intent: Intent::Gate,
    });
    ev.push(RunEvent::WatchStarted {
        step: watching.clone(),
        until: ev.at + chrono::Duration::minutes(15),
        metrics: vec![
            WatchedMetric {
                name: "error_rate".into(),
                baseline: 0.002,
                bound: 0.003,
                rule: "baseline + 0.1 pp".into(),
                unit: "ratio".into(),
            },
            WatchedMetric {
                name: "p99".into(),
                baseline: 0.18,
                bound: 0.216,
                rule: "baseline + 20 %".into(),
                unit: "seconds".into(),
            },
        ],
    });
    for i in 0..90 {
        let v = 0.002 + (i as f64 / 90.0) * 0.002;
        ev.push(RunEvent::WatchSampled {
            step: watching.clone(),
            samples: vec![
                MetricSample {
                    at: None,
                    metric: "error_rate".into(),
                    value: Some(v),
                    bound: 0.003,
                    verdict: if v > 0.003 { Verdict::Breach } else { Verdict::Within },
                    reason: format!("{:.2} % vs bound 0.30 %", v * 100.0),
                },
                MetricSample {
                    at: None,
                    metric: "p99".into(),
                    value: Some(0.18 + i as f64 * 0.0005),
                    bound: 0.216,
                    verdict: Verdict::Within,
                    reason: "within".into(),
                },
            ],
        });
    }
    if ended {
        let message = "error_rate breached its bound at 22:01:32 UTC: 0.31 % > bound 0.30 % (2 sample(s) in a row)";
        ev.push(RunEvent::StepFailed {
            step: watching.clone(),
            failure: Failure {
                message: message.into(),
                advice: Some("the rollback runs at once (on_breach = \"rollback\")".into()),
                action: FailureAction::RollBack,
                ..Failure::default()
            },
        });
        ev.push(RunEvent::RollbackStarted {
            trigger: RollbackTrigger::StepFailed {
                step: watching.clone(),
                message: message.into(),
            },
        });
        ev.push(RunEvent::RollbackCompleted);
    }
    while ev.out.len() < lines {
        let n = ev.out.len();
        ev.push(RunEvent::NoteAdded {
            step: None,
            text: format!("note {n}: the bridge confirms the VM cron is still stopped"),
        });
    }
    let state = RunState::replay(&ev.out).expect("replay");
    (state, ev.out)
}

fn median_and_p99(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn frame_times(state: &RunState, app: &App, width: u16, height: u16, frames: usize) -> (Duration, Duration) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let now = state.updated_at;
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // A changing clock, as the 1 s tick does, so each frame really differs.
        let ctx = Ctx {
            state,
            app,
            now: now + chrono::Duration::seconds(i as i64),
            local: FixedOffset::east_opt(0).unwrap(),
            busy: true,
        };
        let t = Instant::now();
        terminal.draw(|f| render(f, &ctx)).unwrap();
        times.push(t.elapsed());
    }
    median_and_p99(times)
}

/// Never yields: the loop waits on its own timers only.
struct Silent;

impl Inputs for Silent {
    async fn next(&mut self) -> Option<Input> {
        std::future::pending().await
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs the real loop on a run waiting at a gate an hour away, and measures its CPU.
fn idle_on_a_gate(seconds: u64) -> (f64, Stats) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let gate = Utc::now() + chrono::Duration::hours(1);
    let text = format!(
        "[runbook]\nname = \"idle\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"window\"\n  kind = \"wait\"\n  not_before = \"{}\"\n",
        gate.to_rfc3339()
    );
    let loaded = load_str(Path::new("idle.toml"), &text, None).unwrap();
    let holder = Holder::this_process("alice", "bench", Utc::now());
    let (journal, state, _) = store
        .open_or_create("idle", "default", Mode::Live, &holder, Utc::now(), false, |run_id| {
            RunEvent::RunStarted {
                run_id,
                mode: Mode::Live,
                runbook: loaded.runbook.clone(),
                digest: loaded.digest.clone(),
                source: "idle.toml".into(),
                rehearsal: None,
                dry_run: false,
            }
        })
        .unwrap();
    let mut session = HeldRun::new(journal, state, "alice");
    session.open(Utc::now()).unwrap();
    let mut driver = Driver::new(session);
    let mut app = App::new(Theme { color: true }, driver.state(), &[]);
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut stats = Stats::default();
    let before = cpu_time();
    rt.block_on(async {
        let mut looper = Loop {
            clock: Clock::system(),
            local: Some(FixedOffset::east_opt(0).unwrap()),
            stats: &mut stats,
            settle: true,
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(seconds),
            looper.run(&mut terminal, &mut driver, &mut app, &mut Silent),
        )
        .await;
    });
    let cpu = (cpu_time() - before).as_secs_f64() / seconds as f64 * 100.0;
    (cpu, stats)
}

/// The fleet view with 17 applications in three waves, each with a run of `state`'s size in
/// some situation (running, at a gate, waiting for approval, holding, rolled back).
fn fleet_view_frames(state: &RunState, frames: usize) {
    use cutover::fleet::AppView;
    use cutover::tui::fleet::{FleetRow, FleetScreen, render as render_fleet};
    let now = state.updated_at;
    let rows: Vec<FleetRow> = (0..17)
        .map(|i| {
            let mut s = state.clone();
            s.run_id = format!("app{i:02}.production.20261212T2200Z");
            s.status = match i % 5 {
                0 => RunStatus::Holding {
                    until: now + chrono::Duration::hours(72),
                },
                1 => RunStatus::RolledBack { at: now },
                _ => RunStatus::Active,
            };
            FleetRow {
                app: format!("app{i:02}"),
                wave: ["pilot", "second", "rest"][i / 6].to_string(),
                view: (i < 14).then(|| AppView::of(&s, (i % 5 == 2).then_some("watch"), now)),
                note: "not started: its wave has not come".to_string(),
            }
        })
        .collect();
    let screen = FleetScreen {
        fleet: "estate".into(),
        environment: "production".into(),
        mode: cutover::engine::Mode::Live,
        wave_line: "wave 3/3 rest".into(),
        rows,
        selected: 4,
        question: None,
        question_keys: "",
        message: None,
    };
    let theme = Theme { color: true };
    for (w, h) in [(80, 24), (200, 50)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut times = Vec::with_capacity(frames);
        for i in 0..frames {
            let at = now + chrono::Duration::seconds(i as i64);
            let t = Instant::now();
            terminal.draw(|f| render_fleet(f, &screen, &theme, at)).unwrap();
            times.push(t.elapsed());
        }
        let (m, p) = median_and_p99(times);
        println!(
            "  {:<12} {w:>3}x{h:<3} {:>8.3} ms / {:>6.3} ms   (target < {TARGET_FRAME_MS} ms; 17 applications)",
            "fleet view",
            m.as_secs_f64() * 1000.0,
            p.as_secs_f64() * 1000.0
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (steps, lines, frames, idle) = if full { (200, 10_000, 500, 10) } else { (40, 500, 20, 1) };
    println!(
        "cockpit benchmark ({})",
        if full {
            "full"
        } else {
            "smoke: run `cargo bench --bench tui` for the full sizes"
        }
    );
    let (state, records) = big_run(steps, lines, false);
    let mut app = App::new(Theme { color: true }, &state, &records);
    let watching = steps / 2;
    assert_eq!(app.selected, watching, "the watching step is selected");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let verdict = |d: Duration| if ms(d) < TARGET_FRAME_MS { "met" } else { "MISSED" };
    println!(
        "\nframe render: {steps} steps, {} log lines, median / p99 over {frames} frames",
        app.log.lines.len()
    );
    let report = |label: &str, state: &RunState, app: &App| {
        for (w, h) in [(80, 24), (200, 50)] {
            let (m, p) = frame_times(state, app, w, h, frames);
            println!(
                "  {label:<12} {w:>3}x{h:<3} {:>8.3} ms / {:>6.3} ms   (target < {TARGET_FRAME_MS} ms: {})",
                ms(m),
                ms(p),
                verdict(m)
            );
        }
    };
    // The watch view (the selected step is watching).
    report("watch view", &state, &app);
    // The watch after it ended in a breach and the run rolled back, selected: frozen.
    let (ended, ended_records) = big_run(steps, lines, true);
    let mut frozen = App::new(Theme { color: true }, &ended, &ended_records);
    assert!(ended.steps[watching].watch.is_some() && frozen.log.lines.len() >= lines);
    // Rolled back, the cockpit opens on the incident panel (with the frozen watch in it).
    assert_eq!(frozen.selected, ended.steps.len(), "the incident is selected");
    report("incident", &ended, &frozen);
    frozen.selected = watching;
    report("watch ended", &ended, &frozen);
    // Every step done: the end card with each step's duration.
    let mut done = state.clone();
    let forward = done.forward_count();
    for s in &mut done.steps[..forward] {
        s.status = StepStatus::Succeeded;
        s.started_at.get_or_insert(done.updated_at);
        s.finished_at.get_or_insert(done.updated_at);
    }
    done.status = RunStatus::Completed { at: done.updated_at };
    let card = App::new(Theme { color: true }, &done, &records);
    assert_eq!(card.selected, done.steps.len(), "the end card is selected");
    report("end card", &done, &card);
    app.selected = 0;
    report("step detail", &state, &app);
    fleet_view_frames(&state, frames);
    let (cpu, stats) = idle_on_a_gate(idle);
    println!("\nidle on a gate an hour away, the real loop for {idle} s (200x50):");
    println!("  CPU                 {cpu:>8.3} %   (target: about zero)");
    println!(
        "  frames drawn        {:>8}     ({:.1} a second: the clock tick)",
        stats.frames,
        stats.frames as f64 / idle as f64
    );
    println!("  loop wake-ups       {:>8}", stats.wakeups);
}
