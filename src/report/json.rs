//! The whole journal as JSON for other tools, versioned twice: the export format, and the
//! event schema its records are written in (`Recorded` as the journal holds them).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::facts::Facts;
use crate::engine::SCHEMA_VERSION;
use crate::redact::Redactor;

/// The export format; a change that breaks readers gets a new number.
pub const FORMAT: &str = "cutover.export/1";

/// The document, its fields in this order: what it is first, the events last.
#[derive(serde::Serialize)]
struct Export {
    format: &'static str,
    schema: u32,
    run: Value,
    events: Vec<Value>,
}

pub fn write(f: &Facts<'_>) -> String {
    let s = f.state;
    let events: Vec<Value> = f
        .records
        .iter()
        .map(|(_, rec)| {
            let mut v = serde_json::to_value(rec).unwrap_or(Value::Null);
            scrub(&mut v, f.redactor);
            v
        })
        .collect();
    let mut run = json!({
        "run_id": s.run_id,
        "runbook": s.runbook.name,
        "environment": s.runbook.environment,
        "source": s.source,
        "digest": s.digest,
        "mode": s.mode,
        "rehearsal": s.rehearsal,
        "dry_run": s.dry_run,
        "status": s.status,
        "outcome": f.outcome(),
        "attempts": s.attempt,
        "operators": f.operators(),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "last_seq": s.last_seq,
        "events": events.len(),
        "flips": f.flips.iter().map(|(attempt, at)| json!({"attempt": attempt, "at": at})).collect::<Vec<_>>(),
        "rollbacks": f.rollbacks.iter().map(|(attempt, at)| json!({"attempt": attempt, "at": at})).collect::<Vec<_>>(),
        "gaps": f.gaps().iter().map(|g| json!({
            "from": g.from,
            "to": g.to,
            "crashed": g.crashed,
            "after_seq": g.last_seq,
        })).collect::<Vec<_>>(),
    });
    scrub(&mut run, f.redactor);
    let doc = Export {
        format: FORMAT,
        schema: SCHEMA_VERSION,
        run,
        events,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Masks a secret in any string of `v`. Events were redacted already, but only in their
/// free texts; this also covers the runbook and every structured field. Timestamps are
/// left whole (a secret that happens to look like a year must not break them).
fn scrub(v: &mut Value, redactor: &Redactor) {
    match v {
        Value::String(s) if redactor.leaks(s) && s.parse::<DateTime<Utc>>().is_err() => {
            *s = redactor.redact(s);
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, redactor)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub(i, redactor)),
        _ => {}
    }
}
