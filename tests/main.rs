//! Every integration test file under `tests/` is a module of this one test binary (`all`).
//! Each test binary links the whole dependency set (kube, hickory, ratatui, sled…),
//! so one binary per file meant ~30 links of the same thing on every test build; now a test
//! build links this binary once (and `route53`, kept apart: see Cargo.toml).
//!
//! A file's tests are the tests under its module path. One file: `cargo test --test all cli::`;
//! one test: `cargo test --test all cli::plan_shows_every_step` (add `-- --exact` with the
//! full path `cli::…` for exactly one). Insta names snapshots by module path, so the
//! snapshots of `tests/cli.rs` are `tests/snapshots/all__cli__*.snap`.
//!
//! All files' tests now share one process and its threads: a test must not change
//! process-wide state (environment variables, the working directory, signal dispositions)
//! that another file's tests read.

mod support;

mod cli;
mod cluster_state;
mod crash;
mod demo;
mod dns;
mod dns_shapes;
mod engine_scenarios;
mod export;
mod failpoints;
mod fake_kube;
mod fleet;
mod hostile_output;
mod hostile_runbooks;
mod hung_servers;
mod includes;
mod journal;
mod journal_damage;
mod k8s;
mod layers;
mod lock;
mod metrics;
mod names;
mod notify;
mod notify_targets;
mod prometheus_harness;
mod redaction;
mod rehearsal;
mod runbook_diagnostics;
mod sandbox_dns;
mod sandbox_metrics;
mod schema;
mod steps;
mod tui;
mod tui_tmux;
mod watch;

/// With `autotests = false`, a file under `tests/` that is neither a module here nor its own
/// `[[test]]` in Cargo.toml would never be compiled, and nothing would say so.
#[test]
fn every_test_file_is_compiled() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = std::fs::read_to_string(root.join("tests/main.rs")).unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let mut forgotten = Vec::new();
    for entry in std::fs::read_dir(root.join("tests")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(module) = name.strip_suffix(".rs") else {
            continue;
        };
        if module == "main" {
            continue;
        }
        let declared = main.lines().any(|l| l.trim() == format!("mod {module};"));
        let own_target = manifest.contains(&format!("path = \"tests/{name}\""));
        if !declared && !own_target {
            forgotten.push(name);
        }
    }
    assert!(
        forgotten.is_empty(),
        "never compiled: {forgotten:?} — add `mod NAME;` to tests/main.rs"
    );
}
