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
        Self {
            socket: format!("cutover-test-{}", std::process::id()),
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
        self.tmux(&["kill-server"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.tmux(&["new-session", "-d", "-s", "t", "-x", "80", "-y", "24", command]);
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
        let deadline = Instant::now() + Duration::from_secs(20);
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
