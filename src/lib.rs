//! `cutover`: steps an operator through a blue-green cutover from virtual machines to
//! Kubernetes by switching DNS, keeping every step in a crash-safe journal.
//!
//! The modules are layers, listed here from the bottom up. A module uses only those above
//! it in this list (never one below), so each can be read, and tested, without the ones
//! that build on it. `tests/layers.rs` checks it. (Each layer is its own paragraph here:
//! rustfmt sorts the modules within one.)

// Leaves: no knowledge of cutover's model.
pub mod bounded;
pub mod duration;
pub mod error;
pub mod failpoint;
pub mod names;
pub mod terminal_text;

/// The runbook file format, and each step kind's fields and description (`runbook::steps`).
pub mod runbook;

/// The pure core: events, state, decisions, time gates. No I/O.
pub mod engine;

/// Shared phrasing of events, intents and values, for every front-end and export.
pub mod words;

/// Masks secrets in everything that leaves the process.
pub mod redact;

/// The crash-safe record of a run.
pub mod journal;

/// Calls to servers outside the process: limits, and reports while they wait.
pub mod outside;
// Clients of the outside servers.
pub mod dns;
pub mod k8s;
pub mod metrics;

/// The run's state in the cluster (`[state] backend = "kubernetes"`): its Lease, and its
/// journal replicated there.
pub mod cluster;

/// What each step kind does: prepare an intent, then perform it.
pub mod effects;
pub mod notify;

/// The driver: one task owns the run's state and journal; effects run beside it.
pub mod runner;

/// Fleets: many applications' runs, in waves.
pub mod fleet;

// Front-ends: they read the driver's state and send it commands.
pub mod headless;
pub mod report;
pub mod tui;

// The command line.
pub mod cli;
pub mod commands;
