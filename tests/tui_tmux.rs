//! The real binary in a real terminal (tmux): start a run, move around, approve a step,
//! quit, start again, and find the run exactly where it was.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::Sandbox;

const RUNBOOK: &str = r#"
[runbook]
name = "tmux"
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
  title = "Stop the VM scheduler"
  run = "true"
  approve = true
"#;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is not installed: `apt-get install -y tmux` (scripts/install-test-deps.sh installs it)"
        );
        // One server per test: tests in this binary run side by side.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            socket: format!("cutover-test-{}-{n}", std::process::id()),
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ok(&self, args: &[&str]) -> bool {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// A fresh server with one session running `command`. The previous server may still be
    /// shutting down when the new session is asked for (the session then dies with it), so
    /// start until the session is really there.
    fn start(&self, command: &str) {
        self.start_sized(command, 80, 24);
    }

    fn start_sized(&self, command: &str, width: u16, height: u16) {
        let (width, height) = (width.to_string(), height.to_string());
        self.tmux(&["kill-server"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.tmux(&["new-session", "-d", "-s", "t", "-x", &width, "-y", &height, command]);
            std::thread::sleep(Duration::from_millis(100));
            if self.ok(&["has-session", "-t", "t"]) {
                return;
            }
            assert!(Instant::now() < deadline, "tmux would not start a session");
        }
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "t", k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String {
        self.wait_for_within(text, Duration::from_secs(20))
    }

    fn wait_for_within(&self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {text:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn quit_and_start_again_finds_the_run_where_it_was() {
    let sb = Sandbox::new();
    let rb = sb.write("tmux.toml", RUNBOOK);
    let command = format!(
        "CUTOVER_STATE_DIR={} CUTOVER_OPERATOR=alice {} run {}; echo EXIT=$?; sleep 60",
        sb.state_dir().display(),
        env!("CARGO_BIN_EXE_cutover"),
        rb.display()
    );
    let tmux = Tmux::new();
    tmux.start(&command);
    tmux.wait_for("Enter approve change-ticket");

    // Move around (the detail follows), come back, approve the checklist item with a note.
    tmux.keys(&["Down"]);
    tmux.wait_for("stop-vm-cron — Stop the VM scheduler");
    tmux.keys(&["Up", "Enter"]);
    tmux.wait_for("Note (required):");
    tmux.keys(&["CHG-1"]);
    // A dialog ignores Enter for 300 ms after it opens (a doubled key never approves).
    std::thread::sleep(cutover::tui::app::CONFIRM_GUARD);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Enter approve stop-vm-cron");

    // Quit: the terminal is restored and the exit code says the run waits (3).
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXIT=3");
    assert!(
        !screen.contains("steps ──"),
        "the cockpit was left on the screen:\n{screen}"
    );

    // Start again: the same run, with the approval and its note, waiting at the next step.
    tmux.start(&command);
    let screen = tmux.wait_for("Enter approve stop-vm-cron");
    assert!(screen.contains("✔ change-ticket"), "{screen}");
    assert!(screen.contains("change-ticket: approved — note: CHG-1"), "{screen}");
    assert!(screen.contains("attempt 1"), "{screen}");
    assert_eq!(sb.summaries().len(), 1, "one run, resumed");
    tmux.keys(&["q"]);
    tmux.wait_for("EXIT=3");
}

/// The bad-release demo in the cockpit, watched as it plays: the watch breaches, the run
/// rolls back by itself, and the screen says what happened and what to do next.
#[test]
fn the_rolled_back_demo_ends_on_the_incident_panel() {
    let sb = Sandbox::new();
    let command = format!(
        "CUTOVER_STATE_DIR={} CUTOVER_OPERATOR=alice PATH=/nonexistent {} demo --scenario bad-release --auto-approve; \
         echo EXIT=$?; sleep 60",
        sb.state_dir().display(),
        env!("CARGO_BIN_EXE_cutover"),
    );
    let tmux = Tmux::new();
    tmux.start_sized(&command, 120, 40);
    let screen = tmux.wait_for_within("INCIDENT · rolled back at", Duration::from_secs(90));
    for expected in [
        "rolled back · waiting for YOU: write the RCA (Enter)",
        "What broke: watch failed",
        "✖ error_rate",
        "samples in a row, since",
        "What the rollback did, as checked",
        "✔ dns-back",
        "answers www.shop.demo. 203.0.113.10",
        "⚠ INCIDENT",
        "– validate",
        "Enter write the root-cause analysis",
    ] {
        assert!(screen.contains(expected), "{expected:?}:\n{screen}");
    }
    // The analysis opens with the facts of this rollback.
    tmux.keys(&["Enter"]);
    tmux.wait_for("Facts from the journal (attempt 1):");
    tmux.keys(&["Escape", "q"]);
    let screen = tmux.wait_for("EXIT=2");
    assert!(screen.contains("rolled back."), "{screen}");
    assert!(!screen.contains("steps ──"), "the cockpit was left on the screen:\n{screen}");
}
