//! Plain-language descriptions of what a step will do and what it waits for, with every
//! value resolved. Used by `cutover plan`, headless output and the step detail view.

use super::duration::format as dur;
use super::model::{Action, Approval, OnFailure, Runbook, Step};

/// What the step does, one line per fact. DNS and Kubernetes steps read the runbook's
/// `[dns]` and `[k8s]` sections.
pub fn action_lines(action: &Action, runbook: &Runbook) -> Vec<String> {
    let mut lines = Vec::new();
    action.spec().describe(runbook, &mut lines);
    lines
}

/// The bound of a metric, said plainly.
pub fn bound_rule(q: &super::model::MetricQuery) -> String {
    let mut rule = match q.max_increase {
        super::model::Increase::Absolute(a) if q.unit == "ratio" => {
            format!("baseline + {} percentage points", trim_float(a * 100.0))
        }
        super::model::Increase::Absolute(a) => format!("baseline + {}", trim_float(a)),
        super::model::Increase::Relative(r) => format!("baseline + {} %", trim_float(r * 100.0)),
    };
    if let Some(max) = q.max {
        rule.push_str(&format!(", at most {}", trim_float(max)));
    }
    rule
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// What the step waits for before it runs, and what happens when it fails.
pub fn gate_lines(step: &Step) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(after) = &step.after {
        lines.push(format!(
            "not before {} after `{}` succeeded (or was skipped)",
            dur(after.delay),
            after.step
        ));
    }
    if let Some(t) = step.not_before {
        lines.push(format!("not before {}", t.format("%Y-%m-%d %H:%M:%S UTC")));
    }
    match &step.approve {
        Approval::None => {}
        Approval::Confirm => lines.push("needs the operator's approval".to_string()),
        Approval::Type(text) => lines.push(format!("the operator must type `{text}` to approve")),
    }
    if step.on_failure == OnFailure::Rollback {
        lines.push("on failure: roll back at once".to_string());
    }
    lines
}
