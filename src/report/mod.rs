//! The post-mortem export of a run: Markdown to paste into an incident document, the
//! versioned journal as JSON for other tools, and a self-contained HTML page whose charts
//! of the metrics watch come first. Every text passes through the run's redactor again on
//! the way out, although events were redacted when they were journaled. The Markdown and
//! HTML documents are for people, who may well `cat` them: control characters in them are
//! shown as escapes (`terminal_text`); the JSON keeps every text exactly.

mod build;
mod doc;
mod facts;
mod fleet;
mod html;
mod json;
mod markdown;
mod svg;

use crate::engine::{Recorded, RunState};
use crate::redact::Redactor;
use crate::terminal_text::{Lines, for_terminal};

pub use fleet::{AppRun, fleet_json, fleet_markdown};
pub use json::FORMAT;

/// The run as Markdown: header, timeline relative to the DNS flip, phases and steps,
/// DNS answers, the watch, decisions, incident and rollback, the RCA, sessions and gaps.
pub fn markdown(records: &[Recorded], state: &RunState, redactor: &Redactor) -> String {
    let facts = facts::Facts::new(records, state, redactor);
    let doc = build::document(&facts);
    let text = redactor.redact(&markdown::write(&doc, redactor));
    for_terminal(&text, Lines::Many).into_owned()
}

/// The whole journal, versioned: `{"format", "schema", "run": {…}, "events": [...]}`.
pub fn json(records: &[Recorded], state: &RunState, redactor: &Redactor) -> String {
    let facts = facts::Facts::new(records, state, redactor);
    json::write(&facts)
}

/// One self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched).
pub fn html(records: &[Recorded], state: &RunState, redactor: &Redactor) -> String {
    let facts = facts::Facts::new(records, state, redactor);
    let doc = build::document(&facts);
    let text = redactor.redact(&html::write(&facts, &doc));
    for_terminal(&text, Lines::Many).into_owned()
}

/// The charts alone (one SVG per watched metric of each watch), for embedding elsewhere.
pub fn charts(records: &[Recorded], state: &RunState, redactor: &Redactor) -> Vec<String> {
    let facts = facts::Facts::new(records, state, redactor);
    svg::charts(&facts).into_iter().map(|c| redactor.redact(&c)).collect()
}
