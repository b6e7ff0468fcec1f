//! The real binary in a real terminal (tmux): start a run, move around, approve a step,
//! quit, start again, and find the run exactly where it was.

use crate::support;

use std::time::{Duration, Instant};

use support::Sandbox;
use support::tmux::Tmux;

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
    let screen = tmux.wait_in("t", "INCIDENT · rolled back at", Duration::from_secs(90));
    for expected in [
        "rolled back · waiting for YOU: write the RCA (Enter)",
        "What broke: the metrics watch (watch) breached",
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
    assert!(
        !screen.contains("steps ──"),
        "the cockpit was left on the screen:\n{screen}"
    );
}

/// The bridge: one terminal drives the run, another watches it (`cutover watch`). The
/// watcher says who drives, follows each step within a couple of seconds, and its keys that
/// would act change nothing in the journal.
#[test]
fn a_watcher_follows_the_driver_live_and_its_keys_change_nothing() {
    let sb = Sandbox::new();
    let rb = sb.write("tmux.toml", RUNBOOK);
    let bin = env!("CARGO_BIN_EXE_cutover");
    let state = sb.state_dir();
    let tmux = Tmux::named("-watch");
    tmux.start_session(
        "driver",
        &format!(
            "CUTOVER_STATE_DIR={} CUTOVER_OPERATOR=alice {bin} run {}; echo EXIT=$?; sleep 60",
            state.display(),
            rb.display()
        ),
    );
    tmux.wait_in("driver", "Enter approve change-ticket", Duration::from_secs(20));
    let run_id = sb.only_run_id();
    tmux.start_session(
        "watcher",
        &format!(
            "CUTOVER_STATE_DIR={} CUTOVER_OPERATOR=bob {bin} watch {run_id}; echo EXIT=$?; sleep 60",
            state.display()
        ),
    );
    let screen = tmux.wait_in("watcher", " WATCHING ", Duration::from_secs(10));
    let driver = sb.summaries()[0].clone();
    let holder = cutover::journal::Store::open(&state).unwrap().holder(&run_id).unwrap();
    assert!(
        screen.contains(&format!("alice@{} (pid {}) drives", holder.host, holder.pid)),
        "the banner names who drives:\n{screen}"
    );
    assert!(screen.contains("change-ticket"), "{screen}");
    assert!(screen.contains("q quit"), "{screen}");
    assert!(
        !screen.contains("Enter approve") && !screen.contains("r roll back"),
        "the footer offers only keys that work:\n{screen}"
    );

    // Keys that would act: a message, and nothing recorded.
    let log = state.join("runs").join(&run_id).join("journal").join("events.log");
    let before = std::fs::read(&log).unwrap();
    tmux.keys_to("watcher", &["Enter"]);
    tmux.wait_in("watcher", "read-only: alice@", Duration::from_secs(5));
    tmux.keys_to("watcher", &["r", "s", "n", "C-r", "y"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::fs::read(&log).unwrap(),
        before,
        "a watcher's keys recorded something"
    );
    assert_eq!(sb.summaries()[0].last_seq, driver.last_seq);
    let screen = tmux.screen_of("driver");
    assert!(screen.contains("Enter approve change-ticket"), "{screen}");
    assert!(!screen.contains("Note (required):"), "{screen}");

    // The driver approves: the watcher shows it within two seconds.
    tmux.keys_to("driver", &["Enter"]);
    tmux.wait_in("driver", "Note (required):", Duration::from_secs(5));
    tmux.keys_to("driver", &["CHG-1"]);
    std::thread::sleep(cutover::tui::app::CONFIRM_GUARD);
    let pressed = Instant::now();
    tmux.keys_to("driver", &["Enter"]);
    tmux.wait_in("watcher", "✔ change-ticket", Duration::from_secs(5));
    let seen = pressed.elapsed();
    tmux.wait_in("driver", "Enter approve stop-vm-cron", Duration::from_secs(5));
    let screen = tmux.wait_in(
        "watcher",
        "change-ticket: approved — note: CHG-1",
        Duration::from_secs(5),
    );
    eprintln!("the watcher showed the approval {seen:?} after Enter was sent to the driver's terminal");
    assert!(screen.contains(" WATCHING "), "{screen}");

    // The driver leaves: the watcher says nobody holds the run; q leaves it with 0.
    tmux.keys_to("driver", &["q"]);
    tmux.wait_in("driver", "EXIT=3", Duration::from_secs(10));
    tmux.wait_in("watcher", "nobody holds the run now", Duration::from_secs(3));
    tmux.keys_to("watcher", &["q"]);
    let screen = tmux.wait_in("watcher", "EXIT=0", Duration::from_secs(5));
    assert!(
        !screen.contains("steps ──"),
        "the cockpit was left on the screen:\n{screen}"
    );
}
