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
mod crash;
mod demo;
mod dns;
mod dns_shapes;
mod engine_scenarios;
mod export;
mod failpoints;
mod fake_kube;
mod hostile_output;
mod hostile_runbooks;
mod hung_servers;
mod journal;
mod journal_damage;
mod k8s;
mod layers;
mod lock;
mod metrics;
mod names;
mod notify;
mod prometheus_harness;
mod redaction;
mod rehearsal;
mod runbook_diagnostics;
mod sandbox_dns;
mod sandbox_metrics;
mod steps;
mod tui;
mod tui_tmux;
