//! The cockpit, driven through its real event loop with key presses and step reports,
//! drawn on a test terminal, and compared with snapshots. Time is a fixed clock the tests
//! move; host, pid and measured milliseconds are scrubbed.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, FixedOffset, Utc};
use cutover::engine::{
    Command, DnsOp, Intent, MetricSample, Mode, Progress, RunEvent, RunStatus, Verdict, WatchedMetric,
};
use cutover::journal::Follower;
use cutover::journal::{Holder, Store};
use cutover::runbook::load_str;
use cutover::runner::{Driver, HeldRun};
use cutover::tui::app::{App, Focus, ReadOnly};
use cutover::tui::theme::Theme;
use cutover::tui::watcher::{WatchLoop, Watched};
use cutover::tui::{Clock, HISTORY, Input, Inputs, Loop, Stats, Stop};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const RUNBOOK: &str = r#"
[runbook]
name = "royal-bank-api"
description = "VM → Kubernetes, blue-green by DNS"

[vars]
api_host = "api.royal-bank.example"

[env.production.vars]

[[phase]]
id = "prepare"
title = "Before the window"
  [[phase.step]]
  id = "change-ticket"
  kind = "manual"
  title = "Change ticket approved"
  note = "required"
  [[phase.step]]
  id = "stop-vm-cron"
  kind = "command"
  title = "Stop the scheduler on the VM"
  run = "true"
  approve = true

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "window-opens"
  kind = "wait"
  title = "The change window opens"
  not_before = "2026-12-02T21:41:00Z"
  [[phase.step]]
  id = "flip"
  kind = "command"
  title = "Flip DNS to the new load balancer"
  run = "true"
  approve = "type:${api_host}"
  [[phase.step]]
  id = "watch"
  kind = "command"
  title = "Watch error rate and p99 for 15 minutes"
  run = "sleep 600"
  on_failure = "rollback"

[[phase]]
id = "validate"
title = "After the cutover"
  [[phase.step]]
  id = "validate"
  kind = "manual"
  title = "Post-cutover checklist"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "command"
  title = "Point DNS back to the VM"
  run = "true"
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "command"
  title = "Scale the Deployments to zero"
  run = "true"
"#;

fn t0() -> DateTime<Utc> {
    "2026-12-01T22:00:00Z".parse().unwrap()
}

/// Key presses for the loop: text, and named keys.
struct Keys(VecDeque<Input>);

impl Inputs for Keys {
    async fn next(&mut self) -> Option<Input> {
        self.0.pop_front()
    }
}

fn key(code: KeyCode) -> Input {
    Input::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Input {
    Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn text(s: &str) -> Vec<Input> {
    s.chars().map(|c| key(KeyCode::Char(c))).collect()
}

struct Cockpit {
    _dir: tempfile::TempDir,
    driver: Driver,
    app: App,
    terminal: Terminal<TestBackend>,
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Cockpit {
    fn new(runbook: &str, env: Option<&str>, width: u16, height: u16) -> Self {
        Self::after(runbook, env, Vec::new(), width, height)
    }

    /// A cockpit opened on a run where an earlier session (now gone) submitted `commands`.
    fn after(runbook: &str, env: Option<&str>, commands: Vec<Command>, width: u16, height: u16) -> Self {
        let timed = commands.into_iter().map(|c| (t0(), c)).collect();
        Self::after_at(runbook, env, timed, width, height)
    }

    /// Like `after`, each command submitted at its own time; the cockpit's clock starts
    /// at the last of them.
    fn after_at(
        runbook: &str,
        env: Option<&str>,
        commands: Vec<(DateTime<Utc>, Command)>,
        width: u16,
        height: u16,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let loaded = load_str(Path::new("runbook.toml"), runbook, env).unwrap();
        // The lock names this holder (a watcher shows it); the lock itself is this process's.
        let mut holder = Holder::this_process("alice", "test", t0());
        holder.host = "ops-1".into();
        holder.pid = 4242;
        let (journal, state, _) = store
            .open_or_create(
                &loaded.runbook.name,
                &loaded.runbook.environment,
                Mode::Live,
                &holder,
                t0(),
                false,
                |run_id| RunEvent::RunStarted {
                    run_id,
                    mode: Mode::Live,
                    runbook: loaded.runbook.clone(),
                    digest: loaded.digest.clone(),
                    source: "runbook.toml".into(),
                    rehearsal: None,
                    dry_run: false,
                },
            )
            .unwrap();
        let mut session = HeldRun::new(journal, state, "alice");
        let last = commands.last().map_or(t0(), |(at, _)| *at);
        for (at, command) in commands {
            session.submit(command, "alice", at).unwrap();
        }
        drop(session);
        let (journal, state) = store.open_run(&store.runs()[0].identity.run_id, &holder).unwrap();
        let c = Self::with_session_at(dir, HeldRun::new(journal, state, "alice"), width, height, last);
        *c.now.lock().unwrap() = last;
        c
    }

    fn with_session_at(
        dir: tempfile::TempDir,
        mut session: HeldRun,
        width: u16,
        height: u16,
        at: DateTime<Utc>,
    ) -> Self {
        session.host = "ops-1".into();
        session.pid = 4242;
        session.open(at).unwrap();
        let driver = Driver::new(session);
        let history = driver.session.journal().tail(HISTORY).unwrap();
        let mut app = App::new(Theme { color: true }, driver.state(), &history);
        // Keys arrive faster than any person types; the repeat guard has its own test.
        app.confirm_guard = std::time::Duration::ZERO;
        Self {
            _dir: dir,
            driver,
            app,
            terminal: Terminal::new(TestBackend::new(width, height)).unwrap(),
            now: Arc::new(Mutex::new(t0())),
        }
    }

    fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        *now += by;
    }

    async fn run(&mut self, inputs: Vec<Input>, settle: bool) -> Stop {
        let now = self.now.clone();
        let mut stats = Stats::default();
        let mut looper = Loop {
            clock: Clock::new(move || *now.lock().unwrap()),
            local: Some(FixedOffset::east_opt(3600).unwrap()),
            stats: &mut stats,
            settle,
        };
        let mut keys = Keys(inputs.into());
        looper
            .run(&mut self.terminal, &mut self.driver, &mut self.app, &mut keys)
            .await
            .unwrap()
    }

    /// Presses keys and lets everything they started finish.
    async fn press(&mut self, inputs: Vec<Input>) -> Stop {
        self.run(inputs, true).await
    }

    /// Takes in what the running step reported so far, without waiting for it.
    async fn look(&mut self) {
        self.run(Vec::new(), false).await;
    }

    /// Looks again until `step` is the one running (its effect has started).
    async fn until_running(&mut self, step: &str) {
        for _ in 0..500 {
            self.look().await;
            if self.driver.busy_with() == Some(step)
                && self.driver.state().step(step).map(|s| s.status) == Some(cutover::engine::StepStatus::Running)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("step {step} never started:\n{}", self.screen());
    }

    fn screen(&self) -> String {
        self.terminal.backend().to_string()
    }
}

/// The two metrics every watch in these tests judges: error rate against baseline +
/// 0.1 pp, p99 against baseline + 20 %.
fn error_rate_and_p99() -> Vec<WatchedMetric> {
    vec![
        WatchedMetric {
            name: "error_rate".into(),
            baseline: 0.002,
            bound: 0.003,
            rule: "baseline + 0.1 percentage points".into(),
            unit: "ratio".into(),
        },
        WatchedMetric {
            name: "p99".into(),
            baseline: 0.180,
            bound: 0.216,
            rule: "baseline + 20 %".into(),
            unit: "seconds".into(),
        },
    ]
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"cutover \d+\.\d+\.\d+", "cutover [version]");
    // The numbers vary in width from run to run; padding after them to the end of the line goes too.
    s.add_filter(r#"in (\d+|<1)ms *""#, r#"in [t]""#);
    s.add_filter(r"in (\d+|<1)ms", "in [t]");
    // A measured time inside a line shifts the padding after it.
    s.add_filter(r#"(\[t\][^"]*?) +""#, r#"$1""#);
    s.add_filter(r#"(\[t\][^"│]*?) +│"#, "$1 │");
    s.add_filter(r#"process group \d+ *""#, r#"process group [pgid]""#);
    s.add_filter(r"process group \d+", "process group [pgid]");
    // A longer pid cuts the line a little earlier.
    s.add_filter(r"process group \[pgid\]…", "process group [pgid]");
    s
}

macro_rules! snap {
    ($name:expr, $cockpit:expr) => {
        settings().bind(|| insta::assert_snapshot!($name, $cockpit.screen()))
    };
}

#[tokio::test]
async fn the_cutover_window_from_the_first_approval_to_the_second_attempt() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.look().await;
    snap!("01_fresh_run_waits_for_the_checklist", c);

    c.press(vec![key(KeyCode::Enter)]).await;
    snap!("02_checklist_dialog_asks_for_the_note", c);

    let mut keys = text("CHG-1234");
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    c.press(vec![key(KeyCode::Enter)]).await;
    snap!("03_approval_dialog_for_a_command", c);

    c.press(vec![key(KeyCode::Char('y'))]).await;
    snap!("04_gate_counting_down_to_the_window", c);

    c.advance(Duration::hours(23) + Duration::minutes(41));
    c.press(Vec::new()).await;
    // A hostname pasted before its dialog is open is ignored, not read as keys (`r` would roll back).
    c.press(vec![Input::Paste("api.royal-bank.example".into())]).await;
    assert!(c.screen().contains("pasted text ignored"), "{}", c.screen());
    c.press(vec![key(KeyCode::Enter)]).await;
    let mut keys = text("api.royal-bank.exmaple");
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    snap!("05_typed_confirmation_refused_with_the_reason", c);

    let mut keys = vec![ctrl('u')];
    keys.extend(text("api.royal-bank.example"));
    keys.push(key(KeyCode::Enter));
    c.run(keys, false).await;
    c.until_running("watch").await;

    // The watch reports: baseline and bounds, then samples, the last two breaching.
    let reporter = c.driver.reporter("watch");
    let start = *c.now.lock().unwrap();
    reporter.report(Progress::WatchStarted {
        until: start + Duration::minutes(15),
        metrics: error_rate_and_p99(),
    });
    c.look().await;
    for (i, (err, p99)) in [
        (0.0021, 0.181),
        (0.0019, 0.176),
        (0.0024, 0.190),
        (0.0041, 0.240),
        (0.0052, 0.262),
    ]
    .into_iter()
    .enumerate()
    {
        c.advance(Duration::seconds(10));
        let verdict = |v: f64, bound: f64| if v > bound { Verdict::Breach } else { Verdict::Within };
        reporter.report(Progress::WatchSampled {
            samples: vec![
                MetricSample {
                    at: None,
                    metric: "error_rate".into(),
                    value: Some(err),
                    bound: 0.003,
                    verdict: verdict(err, 0.003),
                    reason: format!("{:.2} % vs bound 0.30 % (sample {})", err * 100.0, i + 1),
                },
                MetricSample {
                    at: None,
                    metric: "p99".into(),
                    value: Some(p99),
                    bound: 0.216,
                    verdict: verdict(p99, 0.216),
                    reason: format!("{:.0} ms vs bound 216 ms", p99 * 1000.0),
                },
            ],
        });
        c.look().await;
    }
    snap!("06_watch_with_a_breach", c);
    c.terminal.backend_mut().resize(200, 50);
    c.run(vec![Input::Resize], false).await;
    snap!("06b_watch_with_a_breach_at_200x50", c);
    c.terminal.backend_mut().resize(80, 24);
    c.run(vec![Input::Resize], false).await;

    c.run(vec![key(KeyCode::Char('q'))], false).await;
    snap!("07_quit_during_the_watch_asks_first", c);
    c.run(vec![key(KeyCode::Esc)], false).await;

    c.run(vec![key(KeyCode::Char('r'))], false).await;
    snap!("08_rollback_confirmation", c);

    // Enter rolls back at once: the watch is stopped, the rollback steps run.
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(matches!(c.driver.state().status, RunStatus::RolledBack { .. }));
    snap!("09_rolled_back", c);

    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("Error rate doubled within a minute of the flip."));
    keys.push(key(KeyCode::Enter));
    keys.extend(text("Cause: the new pods used a connection pool of 5."));
    c.press(keys).await;
    snap!("10_root_cause_analysis_editor", c);

    c.press(vec![ctrl('s')]).await;
    c.press(vec![key(KeyCode::Enter)]).await;
    snap!("11_next_attempt_confirmation", c);

    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.driver.state().attempt, 2);
    assert!(c.screen().contains("attempt 2"));
    assert_eq!(c.press(vec![key(KeyCode::Char('q'))]).await, Stop::Quit);
}

/// After a rollback, the root-cause analysis opens with the facts of the rollback, and a
/// template saved without the operator's own words is not an analysis.
#[tokio::test]
async fn the_root_cause_analysis_opens_with_the_facts_and_needs_words_of_ones_own() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.press(vec![key(KeyCode::Char('r')), key(KeyCode::Enter)]).await;
    assert!(matches!(c.driver.state().status, RunStatus::RolledBack { .. }));
    c.press(vec![key(KeyCode::Enter)]).await;
    let draft = c.app.rca_draft.text();
    assert!(draft.starts_with("Root cause: "), "{draft}");
    assert!(draft.contains("- rolled back by the operator"), "{draft}");
    assert!(draft.contains("- rollback dns-back: exit 0"), "{draft}");

    c.press(vec![ctrl('s')]).await;
    assert!(c.driver.state().rca_for_current_attempt().is_none(), "{}", c.screen());
    assert!(c.screen().contains("own words"), "{}", c.screen());

    c.press(text("the change board withdrew the ticket")).await;
    c.press(vec![ctrl('s')]).await;
    let rca = &c.driver.state().rca_for_current_attempt().expect("attached").value;
    assert!(
        rca.starts_with("Root cause: the change board withdrew the ticket"),
        "{rca}"
    );
    assert!(rca.contains("Facts from the journal"), "{rca}");
}

/// Leaving the cockpit says where the run stopped and the exact command that goes on.
#[tokio::test]
async fn leaving_the_cockpit_says_where_the_run_stopped_and_how_to_go_on() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    let id = c.driver.state().run_id.clone();
    let words = cutover::tui::farewell(c.driver.state(), t0());
    assert!(words.contains("at step 1/6 (change-ticket)"), "{words}");
    assert!(words.contains(&format!("cutover resume {id}")), "{words}");

    c.press(vec![key(KeyCode::Char('r')), key(KeyCode::Enter)]).await;
    let words = cutover::tui::farewell(c.driver.state(), t0());
    assert!(words.contains("rolled back"), "{words}");
    assert!(words.contains(&format!("cutover rca {id} --file")), "{words}");
    assert!(words.contains(&format!("cutover export {id}")), "{words}");
}

/// A runbook's warnings, printed before the cockpit covers the terminal, are shown
/// inside it: in the footer until a key, and in the log.
#[tokio::test]
async fn the_runbooks_warnings_are_shown_inside_the_cockpit() {
    let text = "[runbook]\nname = \"w\"\n\n[dns]\nprovider = \"manual\"\nzone = \"example.test\"\nrecords = [\"app.example.test\"]\n\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"ask\"\n  kind = \"dns.verify\"\n  expect = \"192.0.2.10\"\n";
    let loaded = load_str(Path::new("w.toml"), text, None).unwrap();
    let notices = loaded.warning_lines();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 120, 30);
    c.app.notices(&notices);
    c.run(vec![], false).await;
    let screen = c.screen();
    assert!(screen.contains("nameservers-discovered"), "{screen}");
    assert!(
        screen.contains("⚠ w.toml:4:1: warning[nameservers-discovered]"),
        "the log keeps it, with where it is:\n{screen}"
    );
}

/// The log filters as each key is typed, says how many lines it hides, and Enter on a
/// line in the log shows it whole (the pane cuts long lines).
#[tokio::test]
async fn the_log_filters_as_you_type_and_opens_a_line_whole() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    let all = c.app.log.shown_count();
    let mut keys = vec![key(KeyCode::Char('/'))];
    keys.extend(text("sess"));
    c.run(keys, false).await;
    // Not yet applied with Enter: the pane already shows the filtered lines only.
    assert!(c.app.log.editing.is_some());
    assert_eq!(c.app.log.shown_count(), 1, "{}", c.screen());
    assert!(
        c.screen().contains(&format!("FILTER “sess”: 1 of {all} lines")),
        "{}",
        c.screen()
    );
    c.run(vec![key(KeyCode::Enter)], false).await;
    assert!(c.app.log.editing.is_none());
    assert!(c.screen().contains("/ changes it"), "{}", c.screen());

    // Enter in the log opens the line under the cursor whole, and any key closes it.
    c.run(vec![key(KeyCode::Enter)], false).await;
    let opened = c.app.log.opened.expect("a line is open");
    assert!(c.app.log.lines[opened].text.contains("session opened on ops-1"));
    assert!(c.screen().contains(" log line "), "{}", c.screen());
    assert!(
        c.screen().contains("(pid 4242, cutover"),
        "the whole line:\n{}",
        c.screen()
    );
    c.run(vec![key(KeyCode::Char('x'))], false).await;
    assert!(c.app.log.opened.is_none());
    assert_eq!(c.driver.state().steps[0].status, cutover::engine::StepStatus::Pending);

    // Esc while typing clears the filter.
    c.run(vec![key(KeyCode::Char('/')), key(KeyCode::Esc)], false).await;
    assert_eq!(c.app.log.shown_count(), all);
}

/// On a small terminal the help scrolls instead of losing its last lines.
#[tokio::test]
async fn the_help_scrolls_on_a_small_terminal() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 60, 15);
    c.run(vec![key(KeyCode::Char('?'))], false).await;
    assert!(c.screen().contains("↑↓ scroll (1–"), "{}", c.screen());
    assert!(!c.screen().contains("every step is journaled"), "{}", c.screen());
    c.run(vec![key(KeyCode::PageDown), key(KeyCode::PageDown)], false).await;
    assert!(c.app.help, "scrolling keeps the help open");
    assert!(c.screen().contains("every step is journaled"), "{}", c.screen());
    c.run(vec![key(KeyCode::Char('x'))], false).await;
    assert!(!c.app.help);
}

/// Under 100 columns a dialog takes the whole width: no slivers of the screen beside it.
#[tokio::test]
async fn a_dialog_at_80_columns_leaves_no_slivers_of_the_screen() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.run(vec![key(KeyCode::Char('s'))], false).await;
    let screen = c.screen();
    let rows: Vec<&str> = screen.lines().collect();
    let boxed: Vec<&&str> = rows.iter().filter(|r| r.contains('│')).collect();
    assert!(!boxed.is_empty());
    for row in rows
        .iter()
        .filter(|r| r.starts_with("\"│") || r.starts_with("\"┌") || r.starts_with("\"└"))
    {
        assert!(
            row.ends_with("│\"") || row.ends_with("┐\"") || row.ends_with("┘\""),
            "the box spans the screen:\n{screen}"
        );
    }
    assert!(rows.iter().any(|r| r.starts_with("\"┌")), "{screen}");
}

/// A runbook whose watch is judged by `[metrics]`: a sample every 10 s, and two breaches
/// in a row roll back. Its watch step is a command whose samples the test reports.
const WATCHED: &str = r#"
[runbook]
name = "royal-bank-api"

[metrics]
prometheus = "http://127.0.0.1:9"
error_rate = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
p99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))'
interval = "10s"
watch = "15m"
consecutive = 2

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "watch"
  kind = "command"
  title = "Error rate and p99 after the flip"
  run = "sleep 600"
  on_failure = "rollback"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "command"
  title = "Point DNS back to the VM"
  run = "true"
"#;

/// A cockpit on `WATCHED` whose watch took a sample every 10 s: (error rate, p99) each.
/// The reasons are the engine's words for them.
async fn watching(width: u16, height: u16, samples: &[(f64, f64)]) -> Cockpit {
    let mut c = Cockpit::new(WATCHED, None, width, height);
    c.until_running("watch").await;
    let reporter = c.driver.reporter("watch");
    let start = *c.now.lock().unwrap();
    reporter.report(Progress::WatchStarted {
        until: start + Duration::minutes(15),
        metrics: error_rate_and_p99(),
    });
    c.look().await;
    for &(err, p99) in samples {
        c.advance(Duration::seconds(10));
        let sample = |metric: &str, v: f64, bound: f64, unit: &str| {
            let (value, b) = cutover::words::show_pair(v, bound, unit);
            let breach = v > bound;
            MetricSample {
                at: None,
                metric: metric.into(),
                value: Some(v),
                bound,
                verdict: if breach { Verdict::Breach } else { Verdict::Within },
                reason: if breach {
                    format!("{value} > bound {b}")
                } else {
                    format!("{value} ≤ bound {b}")
                },
            }
        };
        reporter.report(Progress::WatchSampled {
            samples: vec![
                sample("error_rate", err, 0.003, "ratio"),
                sample("p99", p99, 0.216, "seconds"),
            ],
        });
        c.look().await;
    }
    c
}

/// Within, within, then one breach of each: the first of the two that roll back.
const ONE_BREACH: [(f64, f64); 4] = [(0.0021, 0.181), (0.0019, 0.176), (0.0024, 0.190), (0.0041, 0.240)];

async fn resize(c: &mut Cockpit, width: u16, height: u16) {
    c.terminal.backend_mut().resize(width, height);
    c.run(vec![Input::Resize], false).await;
}

#[tokio::test]
async fn a_running_watch_shows_the_breach_run_and_when_it_rolls_back_at_every_size() {
    let mut c = watching(80, 24, &ONE_BREACH).await;
    // 7 s after the last sample: the next is due in 3 s.
    c.advance(Duration::seconds(7));
    c.look().await;
    let screen = c.screen();
    assert!(screen.contains("✖ BREACH 1/2"), "{screen}");
    assert!(screen.contains("next breach rolls back (in 3 s)"), "{screen}");
    assert!(screen.contains("4 samples"), "{screen}");
    snap!("watch_live_80x24", c);
    resize(&mut c, 120, 40).await;
    // The header (the whole width) says it in full; the watch view as much as fits.
    assert!(
        c.screen()
            .contains("✖ BREACH 1/2 (error_rate, p99) — automatic rollback if the next sample breaches too (in 3 s)"),
        "{}",
        c.screen()
    );
    assert!(
        c.screen().contains("│✖ BREACH 1/2 — automatic rollback"),
        "{}",
        c.screen()
    );
    snap!("watch_live_120x40", c);
    resize(&mut c, 200, 50).await;
    assert!(
        c.screen()
            .contains("✖ BREACH 1/2 (error_rate, p99) — automatic rollback if the next sample breaches too (in 3 s)"),
        "{}",
        c.screen()
    );
    snap!("watch_live_200x50", c);
    resize(&mut c, 60, 15).await;
    snap!("watch_live_60x15", c);
}

#[tokio::test]
async fn a_finished_watch_keeps_its_chart_frozen_with_the_verdict() {
    let mut breaches = ONE_BREACH.to_vec();
    breaches.push((0.0052, 0.262));
    let mut c = watching(80, 24, &breaches).await;
    c.run(vec![key(KeyCode::Char('r'))], false).await;
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(matches!(c.driver.state().status, RunStatus::RolledBack { .. }));
    assert_ne!(c.app.selected, 0, "the selection followed the rollback");
    c.press(vec![key(KeyCode::Up), key(KeyCode::Up)]).await;
    assert_eq!(c.app.selected, 0, "{}", c.screen());
    let screen = c.screen();
    assert!(screen.contains("rolled back"), "{screen}");
    assert!(screen.contains("━"), "the bound is drawn: {screen}");
    assert!(
        screen.matches('✖').count() >= 4,
        "both breaching samples of both metrics: {screen}"
    );
    snap!("watch_frozen_after_a_rollback_80x24", c);
    resize(&mut c, 120, 40).await;
    snap!("watch_frozen_after_a_rollback_120x40", c);
    resize(&mut c, 200, 50).await;
    snap!("watch_frozen_after_a_rollback_200x50", c);
}

/// The column of a header (its last character) and of a cell under it.
fn right_edge(line: &str, text: &str) -> Option<usize> {
    let start = line.find(text)?;
    Some(line[..start].chars().count() + text.chars().count())
}

#[tokio::test]
async fn the_watch_table_keeps_each_header_over_its_values_at_every_width() {
    let mut c = watching(60, 15, &ONE_BREACH).await;
    for (width, height) in [
        (60, 15),
        (64, 20),
        (70, 24),
        (80, 24),
        (100, 30),
        (120, 40),
        (160, 45),
        (200, 50),
    ] {
        resize(&mut c, width, height).await;
        let screen = c.screen();
        let lines: Vec<&str> = screen.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.contains("metric") && l.contains("value"))
            .unwrap_or_else(|| panic!("no table header at {width}x{height}:\n{screen}"));
        let row = lines[header + 1..]
            .iter()
            .find(|l| l.contains("error_rate"))
            .unwrap_or_else(|| panic!("no error_rate row at {width}x{height}:\n{screen}"));
        // The bound stays whatever the width, beside the value.
        assert_eq!(
            right_edge(lines[header], "value"),
            right_edge(row, "0.41 %"),
            "value at {width}x{height}:\n{screen}"
        );
        assert_eq!(
            right_edge(lines[header], "bound"),
            right_edge(row, "0.30 %"),
            "bound at {width}x{height}:\n{screen}"
        );
        if lines[header].contains("baseline") {
            assert_eq!(
                right_edge(lines[header], "baseline"),
                right_edge(row, "0.20 %"),
                "baseline at {width}x{height}:\n{screen}"
            );
        } else {
            assert!(
                width < 80,
                "the baseline column is left out only when narrow ({width}x{height})"
            );
        }
    }
}

#[test]
fn no_color_keeps_every_glyph_and_word_of_the_watch() {
    use ratatui::style::Color;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = watching(120, 40, &ONE_BREACH).await;
        let coloured = c.screen();
        c.app.theme = Theme { color: false };
        c.look().await;
        assert_eq!(c.screen(), coloured, "the same text either way");
        let colours = c
            .terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count();
        assert_eq!(colours, 0, "NO_COLOR: no colour at all");
        for glyph in ["━", "┄", "✖", "⣿", "bound", "baseline", "breach", "BREACH 1/2"] {
            assert!(coloured.contains(glyph), "{glyph}:\n{coloured}");
        }
    });
}

#[tokio::test]
async fn dialogs_for_skip_note_and_help() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.press(vec![key(KeyCode::Char('s'))]).await;
    snap!("skip_needs_a_reason", c);
    // An empty reason is refused, and said so in the dialog.
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(
        c.screen().contains("say why step `change-ticket` is skipped"),
        "{}",
        c.screen()
    );
    c.press(vec![key(KeyCode::Esc), key(KeyCode::Char('n'))]).await;
    snap!("note_on_the_selected_step", c);
    c.press(vec![key(KeyCode::Esc), key(KeyCode::Char('?'))]).await;
    snap!("help_lists_every_key", c);
}

#[tokio::test]
async fn a_step_left_in_doubt_asks_what_happened() {
    // A session that approved the first steps and started the command, then died.
    let commands = vec![
        Command::Approve {
            step: "change-ticket".into(),
            typed: None,
            note: Some("CHG-1234".into()),
        },
        Command::Begin {
            step: "change-ticket".into(),
            intent: Intent::Confirm,
        },
        Command::Finish {
            step: "change-ticket".into(),
            result: Ok(Default::default()),
        },
        Command::Approve {
            step: "stop-vm-cron".into(),
            typed: None,
            note: None,
        },
        Command::Begin {
            step: "stop-vm-cron".into(),
            intent: Intent::Command {
                run: "ssh vm-1 sudo systemctl stop cron".into(),
                timeout: std::time::Duration::from_secs(300),
            },
        },
    ];
    let mut c = Cockpit::after(RUNBOOK, Some("production"), commands, 80, 24);
    c.look().await;
    snap!("in_doubt_step", c);
    c.press(vec![key(KeyCode::Enter)]).await;
    snap!("in_doubt_dialog", c);
    // A choice and a note are needed: `s` is text here, not a decision.
    c.press(vec![key(KeyCode::Char('s')), key(KeyCode::Enter)]).await;
    assert!(c.screen().contains("choose what happened first"), "{}", c.screen());
    // A choice without a note: the note is what the next person reads.
    c.press(vec![ctrl('u'), key(KeyCode::Down), key(KeyCode::Enter)]).await;
    assert!(c.screen().contains("say what you checked"), "{}", c.screen());
    let mut keys = vec![ctrl('u')];
    keys.extend(text("cron is inactive on vm-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    let step = c.driver.state().step("stop-vm-cron").unwrap();
    assert_eq!(step.status, cutover::engine::StepStatus::Succeeded);
    assert!(
        step.decided
            .as_deref()
            .unwrap_or("")
            .contains("alice marked it succeeded: cron is inactive on vm-1"),
        "{step:?}"
    );
}

#[tokio::test]
async fn a_large_terminal_shows_more_and_a_resize_redraws() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.look().await;
    c.terminal.backend_mut().resize(200, 50);
    c.press(vec![Input::Resize]).await;
    snap!("fresh_run_at_200x50", c);
}

#[test]
fn no_color_draws_without_colour_but_keeps_every_glyph_and_word() {
    use ratatui::style::Color;
    let state_with = |color: bool| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
            c.app.theme = Theme { color };
            c.look().await;
            (c.screen(), c.terminal.backend().buffer().clone())
        })
    };
    let (plain, buffer) = state_with(false);
    let (coloured, coloured_buffer) = state_with(true);
    assert_eq!(plain, coloured, "the same text either way");
    let colours = |b: &ratatui::buffer::Buffer| {
        b.content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert_eq!(colours(&buffer), 0, "NO_COLOR: no colour at all");
    assert!(colours(&coloured_buffer) > 0);
}

#[tokio::test]
async fn typing_a_hostname_on_the_main_screen_does_not_roll_back() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.look().await;
    // `r` opens the rollback dialog and the rest becomes its reason: Enter only asks again.
    let mut keys = text("api.royal-bank.example");
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    assert_eq!(c.driver.state().status, RunStatus::Active);
    snap!("rollback_with_a_typed_reason_asks_again", c);
    c.press(vec![key(KeyCode::Esc), key(KeyCode::Esc)]).await;
    assert!(c.app.dialog.is_none());
    assert_eq!(c.driver.state().status, RunStatus::Active);
}

const TYPED: &str = r#"
[runbook]
name = "typed"
[[phase]]
id = "window"
  [[phase.step]]
  id = "flip"
  kind = "command"
  title = "Flip DNS"
  run = "true"
  approve = "type:api.royal-bank.example"
"#;

#[tokio::test]
async fn typing_the_expected_text_opens_its_confirmation() {
    let mut c = Cockpit::new(TYPED, None, 80, 24);
    c.look().await;
    let mut keys = text("api.royal-bank.example");
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    let flip = c.driver.state().step("flip").unwrap();
    assert_eq!(flip.status, cutover::engine::StepStatus::Succeeded, "{}", c.screen());
    assert_eq!(
        c.driver.state().status,
        RunStatus::Holding {
            until: flip.finished_at.unwrap() + Duration::hours(72)
        }
    );
}

/// Just over the 300 ms in which a dialog ignores Enter after it opened (the cockpit's
/// clock is the test's: nothing sleeps).
fn past_the_guard() -> Duration {
    Duration::milliseconds(301)
}

impl Cockpit {
    /// The same cockpit with the guard against doubled keys on, as an operator has it.
    fn guarded(mut self) -> Self {
        self.app.confirm_guard = cutover::tui::app::CONFIRM_GUARD;
        self
    }

    fn approved(&self, step: &str) -> bool {
        self.driver.state().step(step).unwrap().approved.is_some()
    }

    fn status(&self, step: &str) -> cutover::engine::StepStatus {
        self.driver.state().step(step).unwrap().status
    }

    fn notes(&self) -> usize {
        let records = self.driver.session.journal().records(1).unwrap();
        records
            .iter()
            .filter(|r| matches!(r.event, RunEvent::NoteAdded { .. }))
            .count()
    }
}

const CHECKLISTS: &str = r#"
[runbook]
name = "checklists"
[[phase]]
id = "p"
  [[phase.step]]
  id = "create-lb"
  kind = "manual"
  title = "The LoadBalancer Service web-lb is applied"
  [[phase.step]]
  id = "ticket"
  kind = "manual"
  title = "Change ticket approved"
  note = "required"
  [[phase.step]]
  id = "go"
  kind = "manual"
  title = "Go for the flip"
  approve = "type:go"
  [[phase.step]]
  id = "after"
  kind = "command"
  run = "true"
  approve = true
"#;

/// Checklist items (optional note, required note, typed confirmation) and a plain approval:
/// the Enter that opens the dialog, doubled within 300 ms, approves nothing; an Enter after
/// that does.
#[tokio::test]
async fn a_doubled_enter_does_not_approve() {
    let mut c = Cockpit::new(CHECKLISTS, None, 80, 24).guarded();

    // A checklist item with an optional note: nothing to type, Enter would approve at once.
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    assert!(!c.approved("create-lb"), "{}", c.screen());
    assert!(c.app.dialog.is_some(), "the dialog is still open");
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(c.approved("create-lb"), "{}", c.screen());

    // A checklist item whose note is required: typed at once, the Enter is still too soon.
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("CHG-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    assert!(!c.approved("ticket"), "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(c.approved("ticket"), "{}", c.screen());

    // A typed confirmation on a checklist item: Enter moves from the text to the note, which
    // is a new question: a second Enter right after it does not approve either.
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("go"));
    c.press(keys).await;
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    assert!(!c.approved("go"), "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(c.approved("go"), "{}", c.screen());

    // A plain approval: neither Enter nor `y` counts while the dialog is new.
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter), key(KeyCode::Char('y'))])
        .await;
    assert!(!c.approved("after"), "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Char('y'))]).await;
    assert_eq!(c.status("after"), cutover::engine::StepStatus::Succeeded);
}

/// A typed confirmation started by typing its first character: the hostname typed in one
/// go with Enter at once approves nothing; Enter a moment later does.
#[tokio::test]
async fn a_doubled_enter_does_not_approve_a_typed_confirmation() {
    let mut c = Cockpit::new(TYPED, None, 80, 24).guarded();
    c.look().await;
    let mut keys = text("api.royal-bank.example");
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    assert!(!c.approved("flip"), "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(
        c.status("flip"),
        cutover::engine::StepStatus::Succeeded,
        "{}",
        c.screen()
    );
}

/// A rollback (at once, or with a typed reason confirmed), a skip and a note.
#[tokio::test]
async fn a_doubled_enter_does_not_roll_back_skip_or_add_a_note() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24).guarded();

    // A note: Enter sends it, but not while the dialog is new.
    let mut keys = vec![key(KeyCode::Char('n'))];
    keys.extend(text("looked at the ticket"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    assert_eq!(c.notes(), 0, "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.notes(), 1, "{}", c.screen());

    // A skip: the reason is shown back, and the Enter that confirms it is a new question.
    let mut keys = vec![key(KeyCode::Char('s'))];
    keys.extend(text("ticket approved by phone"));
    c.press(keys).await;
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    assert_eq!(c.status("change-ticket"), cutover::engine::StepStatus::Pending);
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.status("change-ticket"), cutover::engine::StepStatus::Skipped);

    // A rollback with a typed reason: the same.
    let mut keys = vec![key(KeyCode::Char('r'))];
    keys.extend(text("wrong window"));
    c.press(keys).await;
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    assert_eq!(c.driver.state().status, RunStatus::Active, "{}", c.screen());
    // Esc back to the reason, Esc out.
    c.press(vec![key(KeyCode::Esc), key(KeyCode::Esc)]).await;
    assert!(c.app.dialog.is_none());

    // `r` then Enter rolls back at once: not with Enter doubled.
    c.press(vec![key(KeyCode::Char('r')), key(KeyCode::Enter)]).await;
    assert_eq!(c.driver.state().status, RunStatus::Active, "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(
        matches!(c.driver.state().status, RunStatus::RolledBack { .. }),
        "{}",
        c.screen()
    );
}

/// A step in doubt, a failed step's retry, the root-cause analysis and the next attempt.
#[tokio::test]
async fn a_doubled_enter_does_not_resolve_retry_or_start_the_next_attempt() {
    // A session that approved the checklist and started the command, then died.
    let started = || {
        vec![
            Command::Approve {
                step: "change-ticket".into(),
                typed: None,
                note: Some("CHG-1234".into()),
            },
            Command::Begin {
                step: "change-ticket".into(),
                intent: Intent::Confirm,
            },
            Command::Finish {
                step: "change-ticket".into(),
                result: Ok(Default::default()),
            },
            Command::Approve {
                step: "stop-vm-cron".into(),
                typed: None,
                note: None,
            },
            Command::Begin {
                step: "stop-vm-cron".into(),
                intent: Intent::Command {
                    run: "true".into(),
                    timeout: std::time::Duration::from_secs(300),
                },
            },
        ]
    };

    // In doubt: a choice and a note given at once, Enter too soon.
    let mut c = Cockpit::after(RUNBOOK, Some("production"), started(), 80, 24).guarded();
    let mut keys = vec![key(KeyCode::Enter), key(KeyCode::Down)];
    keys.extend(text("checked the ticket system"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    assert_eq!(c.status("stop-vm-cron"), cutover::engine::StepStatus::InDoubt);
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.status("stop-vm-cron"), cutover::engine::StepStatus::Succeeded);

    // A failed step: Enter opens the retry, a second Enter does not retry.
    let mut commands = started();
    commands.push(Command::Finish {
        step: "stop-vm-cron".into(),
        result: Err(cutover::engine::Failure {
            message: "no such unit".into(),
            ..Default::default()
        }),
    });
    let mut c = Cockpit::after(RUNBOOK, Some("production"), commands, 80, 24).guarded();
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter), key(KeyCode::Char('y'))])
        .await;
    assert_eq!(c.status("stop-vm-cron"), cutover::engine::StepStatus::Failed);
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.status("stop-vm-cron"), cutover::engine::StepStatus::Pending);

    // Rolled back: Enter opens the editor of the root-cause analysis, where Enter breaks
    // the line (it never saves), but not while the editor is new.
    c.press(vec![key(KeyCode::Char('r'))]).await;
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert!(matches!(c.driver.state().status, RunStatus::RolledBack { .. }));
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    let template = cutover::tui::view::ending::rca_template(c.driver.state());
    assert_eq!(c.app.rca_draft.lines.len(), template.len(), "{}", c.screen());
    c.press(text("The ticket was withdrawn: wrong change window.")).await;
    c.press(vec![ctrl('s')]).await;
    assert!(c.driver.state().rca_for_current_attempt().is_some(), "{}", c.screen());

    // The next attempt.
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter), key(KeyCode::Char('y'))])
        .await;
    assert_eq!(c.driver.state().attempt, 1, "{}", c.screen());
    c.advance(past_the_guard());
    c.press(vec![key(KeyCode::Enter)]).await;
    assert_eq!(c.driver.state().attempt, 2, "{}", c.screen());
}

const LONG: &str = r#"
[runbook]
name = "long"
[[phase]]
id = "p"
  [[phase.step]]
  id = "long"
  kind = "command"
  run = "sleep 600"
"#;

/// Quitting while a step runs asks first: a doubled `q`-Enter does not quit.
#[tokio::test]
async fn a_doubled_enter_does_not_quit_while_a_step_runs() {
    let mut c = Cockpit::new(LONG, None, 80, 24).guarded();
    c.until_running("long").await;
    let stop = c.run(vec![key(KeyCode::Char('q')), key(KeyCode::Enter)], false).await;
    assert_eq!(stop, Stop::InputsEnded, "{}", c.screen());
    c.advance(past_the_guard());
    assert_eq!(c.run(vec![key(KeyCode::Enter)], false).await, Stop::Quit);
}

#[tokio::test]
async fn pasting_into_a_plain_approval_records_nothing_and_ctrl_r_reaches_the_rollback() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("CHG-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    c.press(vec![key(KeyCode::Enter), Input::Paste("rm -rf / oops".into())])
        .await;
    assert!(c.screen().contains("pasted text ignored"), "{}", c.screen());
    c.press(vec![key(KeyCode::Char('y'))]).await;
    assert!(
        c.driver
            .state()
            .step("stop-vm-cron")
            .unwrap()
            .approved
            .as_ref()
            .unwrap()
            .note
            .is_none()
    );
    // From inside a dialog, Ctrl-R opens the rollback.
    c.press(vec![key(KeyCode::Char('n')), ctrl('r')]).await;
    assert!(
        matches!(c.app.dialog, Some(cutover::tui::app::Dialog::Rollback { .. })),
        "{}",
        c.screen()
    );
}

#[tokio::test]
async fn a_failed_step_offers_retry_skip_or_rollback() {
    let failing = RUNBOOK.replace(
        "  run = \"true\"\n  approve = true",
        "  run = \"echo no such unit >&2; exit 5\"\n  approve = true",
    );
    let mut c = Cockpit::new(&failing, Some("production"), 80, 24);
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("CHG-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Char('y'))]).await;
    c.press(vec![key(KeyCode::Enter)]).await;
    snap!("retry_dialog_for_a_failed_step", c);
}

/// Inputs from a channel the test holds, for a loop that lives across several moments.
struct Channel(tokio::sync::mpsc::UnboundedReceiver<Input>);

impl Inputs for Channel {
    async fn next(&mut self) -> Option<Input> {
        self.0.recv().await
    }
}

#[tokio::test]
async fn the_clock_tick_redraws_the_countdown_and_nothing_else_does_while_idle() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("CHG-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Char('y'))]).await;
    assert!(c.screen().contains("in 23h 41m"), "{}", c.screen());

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let now = c.now.clone();
    let clock_now = now.clone();
    let mut stats = Stats::default();
    let mut looper = Loop {
        clock: Clock::new(move || *clock_now.lock().unwrap()),
        local: Some(FixedOffset::east_opt(3600).unwrap()),
        stats: &mut stats,
        settle: true,
    };
    let controller = async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // A minute passes; only the once-a-second tick can show it.
        *now.lock().unwrap() += Duration::minutes(1);
        tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
        drop(tx);
    };
    let mut inputs = Channel(rx);
    let (stopped, ()) = tokio::join!(
        looper.run(&mut c.terminal, &mut c.driver, &mut c.app, &mut inputs),
        controller
    );
    assert_eq!(stopped.unwrap(), Stop::InputsEnded);
    assert!(
        c.screen().contains("in 23h 40m"),
        "the countdown moved on:\n{}",
        c.screen()
    );
    // The first frame and one or two ticks in 1.5 s: nothing else redraws an idle screen.
    assert!((2..=3).contains(&stats.frames), "{} frames", stats.frames);
}

const DNS_RUNBOOK: &str = r#"
[runbook]
name = "royal-bank-api"

[vars]
vm_ip = "192.0.2.10"
lb_ip = "198.51.100.7"

[dns]
provider = "rfc2136"
server = "192.0.2.53:53"
zone = "royal-bank.example."
records = ["api.royal-bank.example."]
tsig_key = { name = "cutover", algorithm = "hmac-sha256", secret_env = "TSIG_SECRET" }

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip DNS to the load balancer"
  approve = "type:api.royal-bank.example."
  from = "${vm_ip}"
  to = "${lb_ip}"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Every authoritative server answers the load balancer"
  [[phase.step]]
  id = "hold"
  kind = "wait"
  title = "Hold until morning"
  not_before = "2026-12-02T06:00:00Z"
"#;

/// The DNS steps show what they changed and what every nameserver answered, in the
/// step detail: the exact record change, then one line per server with its verdict.
#[tokio::test]
async fn dns_steps_show_the_change_and_every_nameserver_answer() {
    let change = |op: DnsOp, to: Vec<String>| {
        Intent::Dns(cutover::engine::DnsIntent {
            op,
            zone: "royal-bank.example.".into(),
            via: if op == DnsOp::Flip {
                "RFC 2136 UPDATE to 192.0.2.53:53 signed with TSIG key cutover (hmac-sha256)".into()
            } else {
                "every authoritative nameserver, asked directly".into()
            },
            records: vec![cutover::engine::RecordChange {
                name: "api.royal-bank.example.".into(),
                rtype: "A".into(),
                from: vec!["192.0.2.10".into()],
                to,
                old_ttl: Some(60),
                ttl: Some(60),
            }],
        })
    };
    let answer = |server: &str, address: &str, value: &str, verdict: Verdict, note: &str| Command::Report {
        step: "verify".into(),
        report: cutover::engine::Progress::NameserverAnswered {
            answer: cutover::engine::NameserverAnswer {
                server: server.into(),
                address: address.into(),
                record: "api.royal-bank.example.".into(),
                values: vec![value.into()],
                ttl: Some(60),
                verdict,
                note: note.into(),
            },
        },
    };
    let done = |step: &str, summary: &str| Command::Finish {
        step: step.into(),
        result: Ok(cutover::engine::Outcome {
            summary: summary.into(),
            ..Default::default()
        }),
    };
    let mut commands = vec![
        Command::Approve {
            step: "flip".into(),
            typed: Some("api.royal-bank.example.".into()),
            note: None,
        },
        Command::Begin {
            step: "flip".into(),
            intent: change(DnsOp::Flip, vec!["198.51.100.7".into()]),
        },
        done("flip", "1 record moved in one UPDATE; the primary holds the new value"),
        Command::Begin {
            step: "verify".into(),
            intent: change(DnsOp::Verify, Vec::new()),
        },
        answer(
            "ns2.royal-bank.example.",
            "192.0.2.54:53",
            "192.0.2.10",
            Verdict::Breach,
            "still the old value (zone transfer pending)",
        ),
        answer(
            "ns1.royal-bank.example.",
            "192.0.2.53:53",
            "198.51.100.7",
            Verdict::Within,
            "",
        ),
    ];
    let commands_before_finish = commands.clone();
    commands.extend([Command::Finish {
        step: "verify".into(),
        result: Err(cutover::engine::Failure {
            message: "ns2.royal-bank.example. (192.0.2.54:53) still answers 192.0.2.10 after 10m".into(),
            advice: Some("check the zone transfer from the primary (NOTIFY, allow-transfer); retry the step".into()),
            evidence: Default::default(),
            ..Default::default()
        }),
    }]);
    let mut c = Cockpit::after(DNS_RUNBOOK, None, commands, 100, 34);
    c.look().await;
    // The failed verify is selected: which server lags, and what it still answers.
    let screen = c.screen();
    for line in [
        "ns1.royal-bank.example. (192.0.2.53:53)",
        "ns2.royal-bank.example. (192.0.2.54:53)",
        "api.royal-bank.example. → 192.0.2.10 TTL 60",
        "still the old value",
    ] {
        assert!(screen.contains(line), "the detail shows {line:?}:\n{screen}");
    }
    snap!("dns_verify_detail", c);
    c.press(vec![key(KeyCode::Up)]).await;
    snap!("dns_flip_detail", c);

    // While the verify still polls, the lagging server is catching up, not failed.
    let polling: Vec<Command> = commands_before_finish;
    // (Reopened, the journal says the step was left in doubt; the picture is of the
    // session that was polling, so the step is put back to running.)
    let c = Cockpit::after(DNS_RUNBOOK, None, polling, 100, 34);
    let mut state = c.driver.state().clone();
    let verify = state.index("verify").unwrap();
    state.steps[verify].status = cutover::engine::StepStatus::Running;
    let mut terminal = Terminal::new(TestBackend::new(100, 34)).unwrap();
    let mut app = App::new(Theme { color: false }, &state, &[]);
    app.selected = verify;
    let ctx = cutover::tui::view::Ctx {
        state: &state,
        app: &app,
        now: t0(),
        local: FixedOffset::east_opt(0).unwrap(),
        busy: true,
    };
    terminal.draw(|f| cutover::tui::view::render(f, &ctx)).unwrap();
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("… ns2.royal-bank.example. (192.0.2.54:53) catching up"),
        "{screen}"
    );
    assert!(!screen.contains("✖ ns2"), "{screen}");
    assert!(screen.contains("✔ ns1.royal-bank.example."), "{screen}");
}

const ENDINGS_RUNBOOK: &str = r#"
[runbook]
name = "shop-api"
hold = "HOLD"

[dns]
provider = "rfc2136"
server = "192.0.2.53:53"
zone = "shop.example."
records = ["api.shop.example."]
tsig_key = { name = "cutover", algorithm = "hmac-sha256", secret_env = "TSIG_SECRET" }

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip DNS to the load balancer"
  from = "192.0.2.10"
  to = "198.51.100.7"
  [[phase.step]]
  id = "watch"
  kind = "command"
  title = "Watch error rate and p99"
  run = "sleep 600"
  on_failure = "rollback"
  [[phase.step]]
  id = "validate"
  kind = "manual"
  title = "Post-cutover checklist"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "command"
  title = "Point DNS back to the VM"
  run = "true"
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "command"
  title = "Scale the Deployments to zero"
  run = "true"
"#;

/// The commands of a run that flipped at t0 and watched error rate and p99 every 30 s:
/// `samples` values (error ratio, p99 seconds); a watch that `fails` ends with the breach.
fn flipped_and_watched(samples: &[(f64, f64)], fails: bool) -> Vec<(DateTime<Utc>, Command)> {
    let flip = t0();
    let mut at = flip;
    let mut out = vec![(
        at,
        Command::Begin {
            step: "flip".into(),
            intent: Intent::Gate,
        },
    )];
    at += Duration::seconds(2);
    out.push((
        at,
        Command::Finish {
            step: "flip".into(),
            result: Ok(cutover::engine::Outcome {
                summary: "api.shop.example. now answers 198.51.100.7 on the primary".into(),
                ..Default::default()
            }),
        },
    ));
    at += Duration::seconds(3);
    out.push((
        at,
        Command::Begin {
            step: "watch".into(),
            intent: Intent::Command {
                run: "sleep 600".into(),
                timeout: std::time::Duration::from_secs(900),
            },
        },
    ));
    out.push((
        at,
        Command::Report {
            step: "watch".into(),
            report: Progress::WatchStarted {
                until: at + Duration::minutes(15),
                metrics: error_rate_and_p99(),
            },
        },
    ));
    for &(err, p99) in samples {
        at += Duration::seconds(30);
        let verdict = |v: f64, bound: f64| if v > bound { Verdict::Breach } else { Verdict::Within };
        out.push((
            at,
            Command::Report {
                step: "watch".into(),
                report: Progress::WatchSampled {
                    samples: vec![
                        MetricSample {
                            at: None,
                            metric: "error_rate".into(),
                            value: Some(err),
                            bound: 0.003,
                            verdict: verdict(err, 0.003),
                            reason: format!("{:.2} % vs bound 0.30 %", err * 100.0),
                        },
                        MetricSample {
                            at: None,
                            metric: "p99".into(),
                            value: Some(p99),
                            bound: 0.216,
                            verdict: verdict(p99, 0.216),
                            reason: format!("{:.0} ms vs bound 216 ms", p99 * 1000.0),
                        },
                    ],
                },
            },
        ));
    }
    let result = if fails {
        Err(cutover::engine::Failure {
            message: "error_rate above its bound in 2 samples in a row (0.61 % > 0.30 %)".into(),
            ..Default::default()
        })
    } else {
        Ok(cutover::engine::Outcome {
            summary: format!("{} samples, every metric within its bound", samples.len()),
            ..Default::default()
        })
    };
    out.push((
        at,
        Command::Finish {
            step: "watch".into(),
            result,
        },
    ));
    out
}

/// After an automatic rollback the row after the steps holds the incident: what breached
/// against bound and baseline and for how long, what the rollback did, the frozen watch,
/// and what to do next, at every size.
#[tokio::test]
async fn the_incident_panel_after_an_automatic_rollback() {
    let samples = [(0.0021, 0.181), (0.0019, 0.176), (0.0045, 0.209), (0.0061, 0.262)];
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let runbook = ENDINGS_RUNBOOK.replace("HOLD", "0s");
        let mut c = Cockpit::after_at(&runbook, None, flipped_and_watched(&samples, true), w, h);
        c.press(Vec::new()).await;
        assert!(
            matches!(c.driver.state().status, RunStatus::RolledBack { .. }),
            "{}",
            c.screen()
        );
        let screen = c.screen();
        for expected in ["INCIDENT · rolled back at 22:02:05 UTC", "error_rate 0.61 %"] {
            assert!(screen.contains(expected), "{expected:?} at {w}x{h}:\n{screen}");
        }
        if h >= 40 {
            for expected in [
                "T+02:05 after the flip",
                "> bound 0.30 % (baseline 0.20 %)",
                "2 samples in a row, since 22:01:35 UTC (T+01:35)",
                "✔ dns-back",
                "Enter write the root-cause analysis",
                "validate",
                "not run",
            ] {
                assert!(screen.contains(expected), "{expected:?} at {w}x{h}:\n{screen}");
            }
        }
        snap!(format!("incident_panel_{w}x{h}"), c);
    }
}

/// During the hold, steps after it (decommissioning) are still to come: the cockpit shows
/// them, not an end card, and nothing reads "not needed"; once they ran, the run ends on
/// its end card.
#[tokio::test]
async fn a_hold_with_steps_after_it_is_not_the_end() {
    const HELD: &str = r#"
[runbook]
name = "hold"
hold = "72h"
[[phase]]
id = "cutover"
  [[phase.step]]
  id = "validate"
  kind = "command"
  run = "true"
[[phase]]
id = "decommission"
after_hold = true
  [[phase.step]]
  id = "vm-off"
  kind = "command"
  run = "true"
"#;
    let commands = vec![
        (
            t0(),
            Command::Begin {
                step: "validate".into(),
                intent: Intent::Command {
                    run: "true".into(),
                    timeout: std::time::Duration::from_secs(300),
                },
            },
        ),
        (
            t0() + Duration::minutes(1),
            Command::Finish {
                step: "validate".into(),
                result: Ok(Default::default()),
            },
        ),
    ];
    let mut c = Cockpit::after_at(HELD, None, commands, 100, 30);
    c.look().await;
    assert!(matches!(c.driver.state().status, RunStatus::Holding { .. }));
    let screen = c.screen();
    assert!(!screen.contains("EVERY STEP DONE"), "{screen}");
    assert!(!screen.contains("not needed"), "{screen}");
    assert_eq!(c.app.selected, 1, "the step after the hold is selected:\n{screen}");
    assert!(screen.contains("vm-off"), "{screen}");

    c.advance(Duration::hours(72));
    c.press(Vec::new()).await;
    assert!(
        matches!(c.driver.state().status, RunStatus::Completed { .. }),
        "{}",
        c.screen()
    );
    assert!(c.screen().contains("COMPLETED at"), "{}", c.screen());
}

/// A completed run's end card: how long it took, the flip, the watch's verdict, the hold,
/// each step's duration and the export command; the rollback steps were not needed.
#[tokio::test]
async fn the_end_card_of_a_completed_run() {
    let samples = [(0.0021, 0.181), (0.0019, 0.176), (0.0022, 0.190)];
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        let runbook = ENDINGS_RUNBOOK.replace("HOLD", "0s");
        let mut commands = flipped_and_watched(&samples, false);
        let at = commands.last().unwrap().0 + Duration::seconds(40);
        commands.extend([
            (
                at,
                Command::Approve {
                    step: "validate".into(),
                    typed: None,
                    note: None,
                },
            ),
            (
                at,
                Command::Begin {
                    step: "validate".into(),
                    intent: Intent::Confirm,
                },
            ),
            (
                at,
                Command::Finish {
                    step: "validate".into(),
                    result: Ok(Default::default()),
                },
            ),
        ]);
        let mut c = Cockpit::after_at(&runbook, None, commands, w, h);
        c.press(Vec::new()).await;
        assert!(
            matches!(c.driver.state().status, RunStatus::Completed { .. }),
            "{}",
            c.screen()
        );
        let screen = c.screen();
        let id = c.driver.state().run_id.clone();
        for expected in ["COMPLETED at 22:02:15 UTC", "not needed"] {
            assert!(screen.contains(expected), "{expected:?} at {w}x{h}:\n{screen}");
        }
        if h >= 40 {
            for expected in [
                "DNS flip     22:00:00 UTC",
                "✔ passed — 3 samples over 15m 00s, 0 with a breach",
                &format!("cutover export {id}"),
                "rollback not needed",
            ] {
                assert!(screen.contains(expected), "{expected:?} at {w}x{h}:\n{screen}");
            }
        }
        snap!(format!("end_card_{w}x{h}"), c);
    }
}

const K8S_RUNBOOK: &str = r#"
[runbook]
name = "royal-bank-api"

[k8s]
context = "prod-eu"
namespace = "shop"
deployments = ["web", "worker"]

[[phase]]
id = "prepare"
title = "Before the window"
  [[phase.step]]
  id = "rollout"
  kind = "k8s.rollout"
  title = "Every Deployment rolled out, no external traffic yet"
  [[phase.step]]
  id = "hold"
  kind = "wait"
  title = "Hold until morning"
  not_before = "2026-12-02T06:00:00Z"
"#;

/// A Kubernetes step shows each object's result in the detail, and the header names the
/// cluster context and namespace in use.
#[tokio::test]
async fn k8s_steps_show_every_object_and_the_header_names_the_context() {
    let check = |object: &str, value: &str, verdict: Verdict, note: &str| Command::Report {
        step: "rollout".into(),
        report: Progress::ObjectChecked {
            check: cutover::engine::ObjectCheck {
                object: object.into(),
                check: "rollout".into(),
                value: value.into(),
                verdict,
                note: note.into(),
            },
        },
    };
    let commands = vec![
        Command::Begin {
            step: "rollout".into(),
            intent: Intent::Kube(cutover::engine::KubeIntent {
                op: cutover::engine::KubeOp::Rollout,
                context: "prod-eu (https://10.0.0.1:6443)".into(),
                namespace: "shop".into(),
                objects: vec!["Deployment web".into(), "Deployment worker".into()],
                scale: Vec::new(),
            }),
        },
        check("Deployment web", "3/3 ready", Verdict::Within, ""),
        check(
            "Deployment worker",
            "0/2 ready",
            Verdict::Inconclusive,
            "waiting: 0/2 available",
        ),
        Command::Finish {
            step: "rollout".into(),
            result: Err(cutover::engine::Failure {
                message: "not rolled out after 10m: worker: 0/2 available".into(),
                advice: Some("look at the pods (`kubectl describe pod`, events) for why they are not Ready".into()),
                evidence: Default::default(),
                ..Default::default()
            }),
        },
    ];
    let mut c = Cockpit::after(K8S_RUNBOOK, None, commands, 100, 30);
    c.look().await;
    let screen = c.screen();
    for line in [
        "k8s prod-eu/shop",
        "Deployment worker",
        "rollout: 0/2 ready",
        "waiting: 0/2 available",
    ] {
        assert!(screen.contains(line), "the screen shows {line:?}:\n{screen}");
    }
    snap!("k8s_rollout_detail", c);
}

const HOSTILE: &str = r#"
[runbook]
name = "hostile"
[[phase]]
id = "p"
title = "Phase one"
  [[phase.step]]
  id = "grab"
  kind = "command"
  title = "Capture a value"
  run = "printf v"
  capture = "grabbed"
  [[phase.step]]
  id = "noisy"
  kind = "command"
  title = "Print what the value says"
  run = "echo ${grabbed}"
"#;

/// What a command printed, a value it captured, a note: control characters in them are
/// shown as escapes in every pane and dialog, and no cell of the screen holds one (ratatui
/// writes a cell's symbol to the terminal as it is).
#[tokio::test]
async fn control_characters_from_outside_are_shown_in_the_cockpit_never_sent() {
    let hostile = "clip \x1b]52;c;SGVsbG8=\x07 wipe \x1b[2J\x1b[H up \x1b[1A\x1b[2K csi \u{9b}31m nul \0 end";
    let commands = vec![
        Command::Begin {
            step: "grab".into(),
            intent: Intent::Command {
                run: "printf v".into(),
                timeout: std::time::Duration::from_secs(300),
            },
        },
        Command::Finish {
            step: "grab".into(),
            result: Ok(cutover::engine::Outcome {
                summary: "exit 0 in 3ms".into(),
                details: vec![format!("captured ${{grabbed}} = {hostile}")],
                outputs: [("grabbed".to_string(), hostile.to_string())].into(),
                ..Default::default()
            }),
        },
        Command::Begin {
            step: "noisy".into(),
            intent: Intent::Command {
                run: format!("echo {hostile}"),
                timeout: std::time::Duration::from_secs(300),
            },
        },
        Command::Finish {
            step: "noisy".into(),
            result: Err(cutover::engine::Failure {
                message: format!("exited with code 1: {hostile}"),
                evidence: cutover::engine::Evidence::Command {
                    exit_code: Some(1),
                    elapsed_ms: 3,
                    stdout: format!("{hostile}\nsecond line\n"),
                    stderr: hostile.to_string(),
                },
                ..Default::default()
            }),
        },
        Command::Note {
            step: Some("noisy".into()),
            text: hostile.to_string(),
        },
    ];
    let mut c = Cockpit::after(HOSTILE, None, commands, 120, 40);
    let check = |c: &Cockpit, what: &str| {
        let buffer = c.terminal.backend().buffer();
        for cell in buffer.content() {
            assert!(
                !cell.symbol().chars().any(char::is_control),
                "{what}: a cell holds {:?}:\n{}",
                cell.symbol(),
                c.screen()
            );
        }
        assert!(
            c.screen().contains(r"\x1b]52;c;SGVsbG8=\x07"),
            "{what}: the escape is shown:\n{}",
            c.screen()
        );
    };
    c.look().await;
    check(&c, "the failed step's detail and the log");
    assert!(c.screen().contains(r"\u{9b}31m"), "{}", c.screen());
    c.press(vec![key(KeyCode::Enter)]).await;
    check(&c, "the retry dialog");
    c.press(vec![key(KeyCode::Esc), key(KeyCode::Up)]).await;
    check(&c, "the capturing step's detail");
}

const ROLLS_BACK: &str = r#"
[runbook]
name = "rolls-back"
[[phase]]
id = "p"
  [[phase.step]]
  id = "switch"
  kind = "command"
  run = "exit 3"
  on_failure = "rollback"
[rollback]
  [[rollback.step]]
  id = "switch-back"
  kind = "command"
  run = "true"
"#;

/// Who each record is by, for the events a rollback writes.
fn rollback_actors(c: &Cockpit) -> Vec<(String, String)> {
    let records = c.driver.session.journal().records(1).unwrap();
    records
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                RunEvent::StepFailed { .. } | RunEvent::IncidentRecorded { .. } | RunEvent::RollbackStarted { .. }
            )
        })
        .map(|r| (r.event.name().to_string(), r.by.clone()))
        .collect()
}

/// A failure that rolls the run back: the step's outcome is the operator's session's, the
/// incident and the rollback are the tool's own decision and recorded as such. A rollback
/// the operator starts is theirs.
#[tokio::test]
async fn a_rollback_a_failure_starts_is_the_tools_and_one_the_operator_starts_is_theirs() {
    let mut c = Cockpit::new(ROLLS_BACK, None, 80, 24);
    c.press(Vec::new()).await;
    assert!(
        matches!(c.driver.state().status, RunStatus::RolledBack { .. }),
        "{}",
        c.screen()
    );
    let automatic = "cutover (automatic)".to_string();
    assert_eq!(
        rollback_actors(&c),
        vec![
            ("step_failed".to_string(), "alice".to_string()),
            ("incident_recorded".to_string(), automatic.clone()),
            ("rollback_started".to_string(), automatic),
        ]
    );

    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.press(vec![key(KeyCode::Char('r')), key(KeyCode::Enter)]).await;
    assert!(
        matches!(c.driver.state().status, RunStatus::RolledBack { .. }),
        "{}",
        c.screen()
    );
    assert_eq!(
        rollback_actors(&c),
        vec![
            ("incident_recorded".to_string(), "alice".to_string()),
            ("rollback_started".to_string(), "alice".to_string()),
        ]
    );
}

const DRAIN: &str = r#"
[runbook]
name = "drain"
[dns]
provider = "rfc2136"
server = "127.0.0.1:9"
zone = "example.com"
records = ["api.example.com"]
nameservers = ["127.0.0.1:9"]
[k8s]
kubeconfig = "/nonexistent/kubeconfig"
context = "prod"
namespace = "shop"
deployments = ["web"]
[[phase]]
id = "p"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "192.0.2.10"
  to = "198.51.100.7"
[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
  title = "DNS back"
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  title = "Scale to zero"
  replicas = 0
"#;

/// After the revert, the scale to zero waits out the flip's TTL: the footer offers to end
/// the drain early, Enter asks and says what that costs, Esc keeps it, and a confirmed end
/// is journaled with who ended it.
#[tokio::test]
async fn the_drain_can_be_ended_early_from_the_cockpit_after_a_confirmation() {
    let dns = |op: DnsOp, from: &str, to: &str| {
        Intent::Dns(cutover::engine::DnsIntent {
            op,
            zone: "example.com.".to_string(),
            via: "RFC 2136".to_string(),
            records: vec![cutover::engine::RecordChange {
                name: "api.example.com.".to_string(),
                rtype: "A".to_string(),
                from: vec![from.to_string()],
                to: vec![to.to_string()],
                old_ttl: None,
                ttl: Some(60),
            }],
        })
    };
    let done = |step: &str| Command::Finish {
        step: step.to_string(),
        result: Ok(cutover::engine::Outcome::default()),
    };
    let commands = vec![
        Command::Begin {
            step: "flip".into(),
            intent: dns(DnsOp::Flip, "192.0.2.10", "198.51.100.7"),
        },
        done("flip"),
        Command::Rollback {
            reason: "error rate doubled".into(),
        },
        Command::Begin {
            step: "dns-back".into(),
            intent: dns(DnsOp::Revert, "198.51.100.7", "192.0.2.10"),
        },
        done("dns-back"),
    ];
    let mut c = Cockpit::after(DRAIN, None, commands, 120, 40);
    c.advance(Duration::seconds(10));
    c.look().await;
    let screen = c.screen();
    assert!(screen.contains("end the drain early"), "{screen}");
    c.press(vec![key(KeyCode::Enter)]).await;
    let screen = c.screen();
    assert!(
        screen.contains("end the drain before scale-to-zero") && screen.contains("drops the requests"),
        "{screen}"
    );
    c.press(vec![key(KeyCode::Esc)]).await;
    assert!(c.app.dialog.is_none());
    assert!(c.driver.state().step("scale-to-zero").unwrap().drain_ended.is_none());
    c.press(vec![key(KeyCode::Enter), key(KeyCode::Enter)]).await;
    let ended = c.driver.state().step("scale-to-zero").unwrap().drain_ended.clone();
    assert_eq!(ended.map(|(by, _)| by), Some("alice".to_string()));
}

/// A read-only cockpit (`cutover watch`) on the run a `Cockpit` drives: it reads the run's
/// event log, as another process would, and shares nothing else with the driver.
struct Watcher {
    watched: Watched,
    app: App,
    terminal: Terminal<TestBackend>,
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl Watcher {
    fn of(c: &Cockpit) -> Self {
        let run_id = c.driver.state().run_id.clone();
        let run_dir = c._dir.path().join("runs").join(&run_id);
        let (watched, records) = Watched::open(Follower::open(&run_dir, &run_id)).unwrap();
        let mut app = App::new(Theme { color: true }, &watched.state, &records);
        app.read_only = Some(ReadOnly::default());
        Self {
            watched,
            app,
            terminal: Terminal::new(TestBackend::new(80, 24)).unwrap(),
            now: c.now.clone(),
        }
    }

    /// Presses keys, then takes one last look at the log and draws.
    async fn press(&mut self, inputs: Vec<Input>) -> Stop {
        let now = self.now.clone();
        let mut stats = Stats::default();
        let mut looper = WatchLoop {
            clock: Clock::new(move || *now.lock().unwrap()),
            local: Some(FixedOffset::east_opt(3600).unwrap()),
            stats: &mut stats,
        };
        let mut keys = Keys(inputs.into());
        looper
            .run(&mut self.terminal, &mut self.watched, &mut self.app, &mut keys)
            .await
            .unwrap()
    }

    fn screen(&self) -> String {
        self.terminal.backend().to_string()
    }
}

/// The rows between the header (2 rows) and the footer (1): steps, detail and log.
fn body(screen: &str) -> Vec<String> {
    let lines: Vec<String> = screen.lines().map(str::to_string).collect();
    lines[2..lines.len() - 1].to_vec()
}

#[tokio::test]
async fn a_watcher_shows_the_same_cockpit_read_only_and_says_who_drives() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.look().await;
    let mut w = Watcher::of(&c);
    w.press(Vec::new()).await;
    snap!("watch_01_read_only_cockpit_says_who_drives", w);
    let screen = w.screen();
    assert!(screen.contains(" WATCHING ") && screen.contains("alice@ops-1 (pid 4242) drives"));
    // The same views as the driver's, but for who the approval waits for.
    let same = |screen: &str| {
        body(screen)
            .into_iter()
            .filter(|l| !l.contains("waiting for"))
            .collect::<Vec<_>>()
    };
    assert_eq!(same(&w.screen()), same(&c.screen()), "the same views as the driver's");
    assert!(
        w.screen().contains("waiting for the operator to approve"),
        "{}",
        w.screen()
    );

    // Keys that would act: a message that says who can, no dialog, nothing submitted.
    let log = c
        ._dir
        .path()
        .join("runs")
        .join(&c.driver.state().run_id)
        .join("journal/events.log");
    let before = std::fs::read(&log).unwrap();
    for k in [
        key(KeyCode::Enter),
        key(KeyCode::Char('r')),
        key(KeyCode::Char('s')),
        key(KeyCode::Char('n')),
        ctrl('r'),
    ] {
        w.app.flash = None;
        assert_eq!(w.press(vec![k.clone()]).await, Stop::InputsEnded, "{k:?}");
        assert!(w.app.dialog.is_none(), "{k:?} opened a dialog");
        let flash = w.app.flash.clone().unwrap_or_else(|| panic!("{k:?} said nothing"));
        assert_eq!(
            flash.text,
            "read-only: alice@ops-1 (pid 4242) drives — act in their terminal"
        );
    }
    snap!("watch_02_a_key_that_would_act_says_who_can", w);
    assert_eq!(std::fs::read(&log).unwrap(), before);

    // The driver approves the checklist: the watcher's next look shows what the driver shows.
    let mut keys = vec![key(KeyCode::Enter)];
    keys.extend(text("CHG-1"));
    keys.push(key(KeyCode::Enter));
    c.press(keys).await;
    w.press(Vec::new()).await;
    assert!(w.screen().contains("✔ change-ticket"), "{}", w.screen());
    // The same views as the driver's, but for who the approval waits for.
    let same = |screen: &str| {
        body(screen)
            .into_iter()
            .filter(|l| !l.contains("waiting for"))
            .collect::<Vec<_>>()
    };
    assert_eq!(same(&w.screen()), same(&c.screen()), "the same views as the driver's");
    assert!(
        w.screen().contains("waiting for the operator to approve"),
        "{}",
        w.screen()
    );
    assert_eq!(
        w.watched.state,
        *c.driver.state(),
        "the state the driver holds, rebuilt from its log"
    );

    // Keys that look work: the log, its filter, the help (only the keys that work here).
    w.press(vec![key(KeyCode::Tab)]).await;
    assert_eq!(w.app.focus, Focus::Log);
    assert!(w.screen().contains("/ filter"), "{}", w.screen());
    w.press(vec![key(KeyCode::Tab), key(KeyCode::Down)]).await;
    assert_eq!((w.app.focus, w.app.selected), (Focus::Steps, 2));
    w.press(vec![key(KeyCode::Char('?'))]).await;
    let help = w.screen();
    assert!(help.contains("Watching:") && help.contains("switch between"), "{help}");
    assert!(
        !help.contains("roll back") && !help.contains("skip the current"),
        "{help}"
    );
    w.press(vec![key(KeyCode::Esc), key(KeyCode::Up)]).await;

    // q leaves at once, even while a step runs: nothing runs here.
    assert_eq!(w.press(vec![key(KeyCode::Char('q'))]).await, Stop::Quit);
    assert_eq!(w.press(vec![ctrl('c')]).await, Stop::Quit);
}

#[tokio::test]
async fn a_watcher_says_when_nobody_holds_the_run_and_when_it_ended() {
    let mut c = Cockpit::new(RUNBOOK, Some("production"), 80, 24);
    c.look().await;
    let mut w = Watcher::of(&c);
    // The driver goes (its lock with it); the folder stays.
    let dir = std::mem::replace(&mut c._dir, tempfile::tempdir().unwrap());
    drop(c);
    w.press(vec![key(KeyCode::Enter)]).await;
    let screen = w.screen();
    assert!(
        screen.contains("nobody holds the run now (last seen 22:00:00 UTC)"),
        "{screen}"
    );
    let run_id = w.watched.state.run_id.clone();
    assert!(
        screen.contains("read-only: nobody holds the run now — `cutover resume"),
        "{screen}"
    );
    assert_eq!(
        w.app.flash.as_ref().unwrap().text,
        format!("read-only: nobody holds the run now — `cutover resume {run_id}` to act")
    );
    drop(dir);

    // A run that completed.
    let done = "[runbook]\nname = \"done\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"command\"\n  run = \"true\"\n";
    let mut c = Cockpit::new(done, None, 80, 24);
    c.press(Vec::new()).await;
    assert!(
        matches!(c.driver.state().status, RunStatus::Completed { .. }),
        "{:?}\n{}",
        c.driver.state().status,
        c.screen()
    );
    let mut w = Watcher::of(&c);
    let dir = std::mem::replace(&mut c._dir, tempfile::tempdir().unwrap());
    drop(c);
    w.press(Vec::new()).await;
    assert!(w.screen().contains("the run ended: completed"), "{}", w.screen());
    drop(dir);
}

/// The keeper's state when the cluster broke a minute ago: the Lease unrenewed, three
/// events not replicated.
fn broken_cluster(now: DateTime<Utc>) -> cutover::cluster::keeper::Status {
    cutover::cluster::keeper::Status {
        place: "context prod-eu (https://10.0.0.1:6443), namespace cutover".to_string(),
        holder: "alice@ops-1 pid 4242".to_string(),
        lease_duration: std::time::Duration::from_secs(30),
        renewed: Some((
            now - Duration::seconds(65),
            std::time::Instant::now() - std::time::Duration::from_secs(65),
        )),
        renew_error: Some("the API server at https://10.0.0.1:6443 did not answer".to_string()),
        lost_to: None,
        replicated: 9,
        local: 12,
        replication_error: Some("the API server did not answer".to_string()),
        forced: false,
        lag: None,
        run_status: "active".to_string(),
    }
}

#[tokio::test]
async fn a_broken_cluster_is_loud_in_the_header_and_f_forces_steps_with_a_typed_word() {
    let c = Cockpit::after(DNS_RUNBOOK, None, Vec::new(), 120, 30);
    let state = c.driver.state().clone();
    let mut app = App::new(Theme { color: false }, &state, &[]);
    let now = t0();
    app.cluster = Some(cutover::tui::app::ClusterLine {
        status: broken_cluster(now),
        lease_wait: Some("the run's Lease could not be renewed".to_string()),
    });
    let draw = |app: &App| {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        let ctx = cutover::tui::view::Ctx {
            state: &state,
            app,
            now,
            local: FixedOffset::east_opt(0).unwrap(),
            busy: false,
        };
        terminal.draw(|f| cutover::tui::view::render(f, &ctx)).unwrap();
        terminal.backend().to_string()
    };
    let screen = draw(&app);
    assert!(
        screen.contains("⚠ Lease unrenewed for 1m 05s: new steps wait (F to force; rollback steps go on) · cluster"),
        "{screen}"
    );
    // Without the wait (a rollback step runs), the state of both is still loud.
    app.cluster.as_mut().unwrap().lease_wait = None;
    let screen = draw(&app);
    assert!(
        screen.contains("⚠ cluster unreachable — local only, 3 events behind · Lease unrenewed for 1m 05s"),
        "{screen}"
    );
    app.cluster.as_mut().unwrap().lease_wait = Some("the run's Lease could not be renewed".to_string());

    // F asks for the word; anything else is refused, FORCE forces.
    // Keys after the guard against doubled keys (the dialog opens at `now`).
    let later = now + past_the_guard();
    let press =
        |app: &mut App, code: KeyCode| app.on_key(&KeyEvent::new(code, KeyModifiers::NONE), &state, later, false);
    assert_eq!(
        app.on_key(
            &KeyEvent::new(KeyCode::Char('F'), KeyModifiers::NONE),
            &state,
            now,
            false
        ),
        None
    );
    assert!(draw(&app).contains("Type FORCE to start steps now"), "{}", draw(&app));
    for ch in "force".chars() {
        press(&mut app, KeyCode::Char(ch));
    }
    assert_eq!(press(&mut app, KeyCode::Enter), None, "lower case is not the word");
    assert!(draw(&app).contains("type FORCE exactly"), "{}", draw(&app));
    for _ in 0..5 {
        press(&mut app, KeyCode::Backspace);
    }
    for ch in "FORCE".chars() {
        press(&mut app, KeyCode::Char(ch));
    }
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        Some(cutover::tui::app::Reaction::ForceWithoutLease)
    );

    // Healthy: a quiet note of where the copy stands.
    let mut healthy = broken_cluster(now);
    healthy.renewed = Some((now - Duration::seconds(3), std::time::Instant::now()));
    healthy.renew_error = None;
    healthy.replication_error = None;
    healthy.replicated = 12;
    let mut app = App::new(Theme { color: false }, &state, &[]);
    app.cluster = Some(cutover::tui::app::ClusterLine {
        status: healthy,
        lease_wait: None,
    });
    let screen = draw(&app);
    assert!(
        screen.contains("replicated to #12 · Lease renewed 3.0s ago"),
        "{screen}"
    );
    assert!(!screen.contains('⚠'), "{screen}");
}
