//! A fleet's post-mortem: its applications, waves and outcomes, and one timeline that
//! interleaves every application's journal by time. Each application's own export keeps the
//! detail (the watch's charts, DNS answers, decisions); this one tells the night's story.
//! Every text passes through its run's redactor.

use serde_json::json;

use crate::engine::{Recorded, RunState};
use crate::journal::FleetRecord;
use crate::redact::Redactor;
use crate::terminal_text::{Lines, for_terminal};
use crate::words::record_line;

/// One application's run as read for the export.
pub struct AppRun<'a> {
    pub app: &'a str,
    pub records: &'a [Recorded],
    pub state: &'a RunState,
    pub redactor: &'a Redactor,
}

/// Every application's records, merged by time (then by application, then by sequence).
fn timeline<'a>(runs: &'a [AppRun<'a>]) -> Vec<(&'a AppRun<'a>, &'a Recorded)> {
    let mut all: Vec<(&AppRun, &Recorded)> = runs
        .iter()
        .flat_map(|r| r.records.iter().map(move |e| (r, e)))
        .collect();
    all.sort_by(|(a, x), (b, y)| x.at.cmp(&y.at).then(a.app.cmp(b.app)).then(x.seq.cmp(&y.seq)));
    all
}

fn outcome(state: &RunState) -> String {
    let mut words = state.status.word().to_string();
    if let Some(i) = state.incidents.last() {
        words.push_str(&format!(" — incident: {}", i.value.summary));
    }
    words
}

pub fn fleet_markdown(fleet: &FleetRecord, runs: &[AppRun<'_>]) -> String {
    let mut out = String::new();
    let mode = match fleet.mode {
        crate::engine::Mode::Live => "",
        crate::engine::Mode::Rehearsal => " — REHEARSAL",
    };
    out.push_str(&format!("# Fleet {} ({}){mode}\n\n", fleet.fleet, fleet.environment));
    out.push_str(&format!("Fleet file `{}`; record `{}`.", fleet.source, fleet.fleet_id));
    if !fleet.stopped.is_empty() {
        out.push_str(&format!(" The fleet stopped: {}.", redacted(&fleet.stopped, runs)));
    }
    out.push_str("\n\n## Applications\n\n| Wave | Application | Run | Attempt | Outcome |\n|---|---|---|---|---|\n");
    for wave in &fleet.waves {
        for app in &wave.apps {
            match runs.iter().find(|r| r.app == app) {
                Some(r) => out.push_str(&format!(
                    "| {} | {} | `{}` | {} | {} |\n",
                    cell(&wave.name),
                    cell(app),
                    r.state.run_id,
                    r.state.attempt,
                    cell(&r.redactor.redact(&outcome(r.state)))
                )),
                None => out.push_str(&format!(
                    "| {} | {} | — | — | not started |\n",
                    cell(&wave.name),
                    cell(app)
                )),
            }
        }
    }
    out.push_str("\n## Timeline\n\nEvery application's journal, by time (UTC).\n\n```text\n");
    let width = runs.iter().map(|r| r.app.chars().count()).max().unwrap_or(0) + 2;
    let mut day = None;
    for (run, record) in timeline(runs) {
        let date = record.at.date_naive();
        if day != Some(date) {
            out.push_str(&format!("── {date} ──\n"));
            day = Some(date);
        }
        let line = run.redactor.redact(&record_line(record));
        out.push_str(&format!("{:<width$} {line}\n", format!("[{}]", run.app)));
    }
    out.push_str("```\n\n## Each application\n\n");
    for r in runs {
        out.push_str(&format!(
            "- {}: `cutover export {} --format html -o {}.html` (the watch's charts, DNS answers, decisions)\n",
            r.app, r.state.run_id, r.app
        ));
    }
    for_terminal(&out, Lines::Many).into_owned()
}

pub fn fleet_json(fleet: &FleetRecord, runs: &[AppRun<'_>]) -> String {
    let apps: Vec<serde_json::Value> = fleet
        .waves
        .iter()
        .flat_map(|w| w.apps.iter().map(move |a| (w, a)))
        .map(|(w, app)| match runs.iter().find(|r| r.app == app) {
            Some(r) => json!({
                "app": app, "wave": w.name, "run_id": r.state.run_id, "attempt": r.state.attempt,
                "status": r.state.status, "outcome": r.redactor.redact(&outcome(r.state)),
            }),
            None => json!({ "app": app, "wave": w.name, "run_id": null, "status": null }),
        })
        .collect();
    let timeline: Vec<serde_json::Value> = timeline(runs)
        .into_iter()
        .map(|(run, record)| {
            let mut event = serde_json::to_value(record).unwrap_or_default();
            redact_strings(&mut event, run.redactor);
            json!({ "app": run.app, "run_id": run.state.run_id, "record": event })
        })
        .collect();
    let doc = json!({
        "format": "cutover.fleet-export/1",
        "fleet": fleet.fleet,
        "fleet_id": fleet.fleet_id,
        "environment": fleet.environment,
        "mode": fleet.mode,
        "stopped": redacted(&fleet.stopped, runs),
        "apps": apps,
        "timeline": timeline,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Text of the fleet's own (where it stopped, which quotes the runs) through every run's
/// redactor.
fn redacted(text: &str, runs: &[AppRun<'_>]) -> String {
    runs.iter().fold(text.to_string(), |t, r| r.redactor.redact(&t))
}

/// Every string in a JSON value through the redactor (keys included).
fn redact_strings(value: &mut serde_json::Value, redactor: &Redactor) {
    match value {
        serde_json::Value::String(s) => *s = redactor.redact(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(v, redactor)),
        serde_json::Value::Object(map) => {
            let entries: Vec<(String, serde_json::Value)> = std::mem::take(map).into_iter().collect();
            for (k, mut v) in entries {
                redact_strings(&mut v, redactor);
                map.insert(redactor.redact(&k), v);
            }
        }
        _ => {}
    }
}

/// A table cell: one line, and no `|` to break the table.
fn cell(text: &str) -> String {
    for_terminal(text, Lines::One).replace('|', "\\|")
}
