//! Plain-language descriptions of what a step will do and what it waits for, with every
//! value resolved. Used by `cutover plan`, headless output and the step detail view.

use super::duration::format as dur;
use super::model::{Action, Approval, DnsConfig, InDoubtPolicy, OnFailure, Step};

/// What the step does, one line per fact. DNS steps need the runbook's `[dns]`.
pub fn action_lines(action: &Action, dns: Option<&DnsConfig>) -> Vec<String> {
    let mut lines = Vec::new();
    match action {
        Action::Manual(m) => {
            lines.push(if m.note_required {
                "the operator confirms it is done and must leave a note".to_string()
            } else {
                "the operator confirms it is done".to_string()
            });
            if let Some(i) = &m.instructions {
                lines.push(format!("instructions: {i}"));
            }
        }
        Action::Command(c) => {
            lines.push(format!("runs: {}", c.run));
            lines.push(format!(
                "timeout {}, expects exit code {}{}",
                dur(c.timeout),
                c.expect_exit,
                match action.in_doubt_policy() {
                    InDoubtPolicy::Rerun => ", safe to run again",
                    InDoubtPolicy::AskOperator => ", not idempotent (after a crash the operator says whether it ran)",
                }
            ));
            if let Some(var) = &c.capture {
                lines.push(format!("captures its output as ${{{var}}}"));
            }
        }
        Action::Wait(w) => lines.push(match w.duration {
            Some(d) => format!("waits {} after the previous step finished", dur(d)),
            None => "a gate: nothing runs".to_string(),
        }),
        Action::Http(h) => {
            let mut check = format!("{} {} → expects HTTP {}", h.method, h.url, h.expect_status);
            if let Some(l) = h.max_latency {
                check.push_str(&format!(" within {}", dur(l)));
            }
            lines.push(check);
            if let Some(b) = &h.body_contains {
                lines.push(format!("body contains \"{b}\""));
            }
            if let Some(r) = &h.resolve {
                lines.push(format!("resolves {} to {} (DNS is not asked)", r.host, r.to));
            }
            for (name, value) in &h.headers {
                lines.push(format!("header {name}: {value}"));
            }
            for (name, var) in &h.headers_env {
                lines.push(format!("header {name}: from ${var} (not shown)"));
            }
            let mut limits = format!("timeout {}", dur(h.timeout));
            if h.retries > 0 {
                limits.push_str(&format!(", {} retries {} apart", h.retries, dur(h.retry_interval)));
            }
            lines.push(limits);
        }
        Action::DnsCheck(_)
        | Action::DnsLowerTtl(_)
        | Action::DnsFlip(_)
        | Action::DnsVerify(_)
        | Action::DnsRevert(_)
        | Action::DnsRestoreTtl(_) => dns_lines(action, dns, &mut lines),
    }
    lines
}

fn dns_lines(action: &Action, dns: Option<&DnsConfig>, lines: &mut Vec<String>) {
    let Some(d) = dns else {
        lines.push("needs the [dns] section".to_string());
        return;
    };
    let records = format!("{} {}", d.records.join(", "), d.record_type);
    let servers = if d.nameservers.is_empty() {
        format!("all authoritative nameservers of {} (from its NS records)", d.zone)
    } else {
        format!("nameservers {}", d.nameservers.join(", "))
    };
    match action {
        Action::DnsCheck(c) => {
            lines.push(format!("checks that {records} hold {}", c.expect));
            lines.push(format!("asks {servers}, recursion off"));
        }
        Action::DnsLowerTtl(l) => {
            let ttl = l.ttl.unwrap_or(d.cutover_ttl);
            lines.push(format!("sets the TTL of {records} to {ttl}s, values unchanged"));
            lines.push(format!(
                "records the old TTL; the flip waits the longer of it and {} (lead time)",
                dur(d.ttl_lead_time)
            ));
        }
        Action::DnsFlip(f) => {
            lines.push(format!(
                "moves {records}: {} → {} (TTL {}s)",
                f.from, f.to, d.cutover_ttl
            ));
            lines.push("compare-and-swap: only if every record still holds the old value".to_string());
        }
        Action::DnsVerify(v) => {
            match &v.expect {
                Some(e) => lines.push(format!("waits until {servers} answer {e} for {records}")),
                None => lines.push(format!("waits until {servers} answer the new value for {records}")),
            }
            lines.push(format!("gives them {}", dur(v.timeout)));
            if !d.resolvers.is_empty() {
                lines.push(format!(
                    "then polls resolvers {} for up to {} (reported, not required)",
                    d.resolvers.join(", "),
                    dur(v.resolver_wait)
                ));
            }
        }
        Action::DnsRevert(r) => lines.push(format!(
            "moves {records} back to what {} found, compare-and-swap",
            r.flip.as_deref().unwrap_or("the flip")
        )),
        Action::DnsRestoreTtl(r) => lines.push(format!(
            "puts back the TTL of {records} that {} recorded",
            r.lowered_by.as_deref().unwrap_or("the TTL step")
        )),
        _ => {}
    }
    if !matches!(action, Action::DnsCheck(_) | Action::DnsVerify(_)) {
        lines.push(format!("via {}", crate::dns::provider::Writer::describe(d)));
    }
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
