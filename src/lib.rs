//! `cutover`: steps an operator through a blue-green cutover from virtual machines to
//! Kubernetes by switching DNS, keeping every step in a crash-safe journal.

pub mod bounded;
pub mod cli;
pub mod commands;
pub mod dns;
pub mod effects;
pub mod engine;
pub mod failpoint;
pub mod journal;
pub mod k8s;
pub mod metrics;
pub mod names;
pub mod outside;
pub mod redact;
pub mod report;
pub mod runbook;
pub mod runner;
pub mod sandbox;
pub mod terminal_text;
pub mod tui;
