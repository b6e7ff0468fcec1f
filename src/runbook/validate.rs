//! Checks that need the whole runbook: unique ids, `after` pointing at an earlier step,
//! step outputs used only after the step that produces them, rollback steps without gates.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::{Diagnostic, Source, Span, did_you_mean};
use super::model::{Action, Approval, OnFailure, Runbook, Step, Targets};
use super::reader::Sink;
use super::steps::{Family, Kind};
use super::tree::{Node, Table, Value};

/// Where a phase or step was written, kept beside the model for diagnostics.
pub struct StepSpans<'a> {
    pub id: String,
    pub id_span: Span,
    pub after_span: Option<Span>,
    pub table: Option<&'a Table>,
    pub table_span: Span,
    pub is_phase: bool,
}

impl StepSpans<'_> {
    pub fn phase(id: &str, id_span: Span) -> Self {
        Self {
            id: id.to_string(),
            id_span: id_span.clone(),
            after_span: None,
            table: None,
            table_span: id_span,
            is_phase: true,
        }
    }

    fn key_span(&self, key: &str) -> Span {
        self.table
            .and_then(|t| t.get_entry(key))
            .map_or(self.table_span.clone(), |(k, _)| k.span.clone())
    }

    /// The span of the first `${name}` in any string of this step.
    fn reference_span(&self, source: &Source, name: &str) -> Span {
        let needle = format!("${{{name}}}");
        let found = self.table.and_then(|t| find_in_table(t, source, &needle));
        found.unwrap_or_else(|| self.id_span.clone())
    }
}

fn find_in_table(table: &Table, source: &Source, needle: &str) -> Option<Span> {
    table
        .entries
        .iter()
        .find_map(|(_, node)| find_in_node(node, source, needle))
}

fn find_in_node(node: &Node, source: &Source, needle: &str) -> Option<Span> {
    match &node.value {
        Value::Str(_) => {
            let raw = source.text.get(node.span.clone())?;
            raw.find(needle)
                .map(|at| node.span.start + at..node.span.start + at + needle.len())
        }
        Value::Table(t) => find_in_table(t, source, needle),
        Value::Array(items) => items.iter().find_map(|i| find_in_node(i, source, needle)),
        _ => None,
    }
}

/// `dns_written`: the file has a `[dns]` section (which may have failed to load).
pub fn check_references(
    runbook: &Runbook,
    spans: &[StepSpans<'_>],
    source: &Source,
    sink: &Sink,
    dns_written: bool,
    written: Written,
) {
    let span_of = |id: &str, phase: bool| spans.iter().find(|s| s.id == id && s.is_phase == phase);
    check_duplicates(spans, sink);
    check_phase_order(runbook, spans, sink);

    let forward: Vec<&Step> = runbook.steps().map(|(_, s)| s).collect();
    let order: BTreeMap<&str, usize> = forward.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();

    // Which step produces each output, and outputs that clash.
    let mut producers: BTreeMap<&str, &str> = BTreeMap::new();
    for step in forward.iter().copied().chain(runbook.rollback.iter()) {
        for out in step.action.outputs() {
            let Some(at) = span_of(&step.id, false) else {
                continue;
            };
            if runbook.vars.contains_key(out) {
                sink.push(
                    Diagnostic::error(
                        "output-shadows-var",
                        format!("step `{}` captures `{out}`, which is already a variable", step.id),
                        Some(at.key_span("capture")),
                    )
                    .with_help("capture into a new name; variables from [vars] cannot change during a run"),
                );
            } else if let Some(first) = producers.insert(out, &step.id) {
                sink.push(
                    Diagnostic::error(
                        "duplicate-output",
                        format!("`{out}` is captured by step `{first}` and again by `{}`", step.id),
                        Some(at.key_span("capture")),
                    )
                    .with_help("give each captured value its own name"),
                );
            }
        }
    }

    let mut produced: BTreeSet<&str> = BTreeSet::new();
    for (index, step) in forward.iter().enumerate() {
        let Some(at) = span_of(&step.id, false) else {
            continue;
        };
        if let Some(after) = &step.after {
            check_after(step, after.step.as_str(), index, &order, runbook, at, sink);
        }
        for var in step.action.templates().iter().flat_map(|t| t.vars()) {
            if let Some(producer) = producers.get(var)
                && !produced.contains(var)
            {
                sink.push(
                    Diagnostic::error(
                        "output-used-too-early",
                        format!(
                            "step `{}` uses `${{{var}}}`, which step `{producer}` captures later",
                            step.id
                        ),
                        Some(at.reference_span(source, var)),
                    )
                    .with_help(format!(
                        "move step `{producer}` before `{}`, or use a value from [vars]",
                        step.id
                    )),
                );
            }
        }
        produced.extend(step.action.outputs());
        check_step_sense(step, at, runbook, sink);
    }

    check_dns(runbook, spans, sink, dns_written);
    check_scale_after_revert(runbook, spans, sink);
    check_section(
        runbook,
        spans,
        sink,
        written.k8s || runbook.k8s.is_some(),
        Family::K8s,
        super::k8s::missing_section,
    );
    check_section(
        runbook,
        spans,
        sink,
        written.metrics || runbook.metrics.is_some(),
        Family::Metrics,
        super::metrics::missing_section,
    );
    check_watch_has_baseline(runbook, spans, sink);

    for step in &runbook.rollback {
        let Some(at) = span_of(&step.id, false) else {
            continue;
        };
        for (present, key, why) in [
            (step.after.is_some(), "after", "a rollback runs at once"),
            (step.not_before.is_some(), "not_before", "a rollback runs at once"),
            (
                step.on_failure == OnFailure::Rollback,
                "on_failure",
                "a failing rollback step stops for the operator",
            ),
        ] {
            if present {
                sink.push(
                    Diagnostic::error(
                        "gate-in-rollback",
                        format!("rollback step `{}` has `{key}`: {why}", step.id),
                        Some(at.key_span(key)),
                    )
                    .with_help(format!("remove `{key}` from this rollback step")),
                );
            }
        }
    }
}

fn check_duplicates(spans: &[StepSpans<'_>], sink: &Sink) {
    let mut seen: BTreeMap<(bool, &str), &StepSpans<'_>> = BTreeMap::new();
    for s in spans {
        if let Some(first) = seen.get(&(s.is_phase, s.id.as_str())) {
            let what = if s.is_phase { "phase" } else { "step" };
            sink.push(
                Diagnostic::error(
                    "duplicate-id",
                    format!("{what} id `{}` is used twice", s.id),
                    Some(s.id_span.clone()),
                )
                .with_related(first.id_span.clone(), "first used")
                .with_help(format!(
                    "every {what} needs its own id: the journal and `after` refer to it"
                )),
            );
        } else {
            seen.insert((s.is_phase, s.id.as_str()), s);
        }
    }
}

fn check_phase_order(runbook: &Runbook, spans: &[StepSpans<'_>], sink: &Sink) {
    let before_hold = runbook
        .phases
        .iter()
        .take_while(|p| !p.after_hold)
        .map(|p| p.steps.len())
        .sum::<usize>();
    if before_hold == 0 && runbook.steps().count() > 0 {
        let span = spans.iter().find(|s| s.is_phase).map(|s| s.id_span.clone());
        sink.push(
            Diagnostic::error(
                "nothing-before-hold",
                "every phase waits for the hold: there is no cutover to hold for",
                span,
            )
            .with_help("only the phases that come after stable operation (decommissioning) take after_hold = true"),
        );
    }
    let mut hold_seen: Option<&str> = None;
    for phase in &runbook.phases {
        match (phase.after_hold, hold_seen) {
            (true, _) => hold_seen = Some(&phase.id),
            (false, Some(held)) => {
                let span = spans
                    .iter()
                    .find(|s| s.is_phase && s.id == phase.id)
                    .map(|s| s.id_span.clone());
                sink.push(
                    Diagnostic::error(
                        "phase-after-hold",
                        format!("phase `{}` comes after `{held}`, which waits for the hold", phase.id),
                        span,
                    )
                    .with_help("put phases with after_hold = true at the end of the runbook"),
                );
            }
            (false, None) => {}
        }
    }
}

fn check_after(
    step: &Step,
    target: &str,
    index: usize,
    order: &BTreeMap<&str, usize>,
    runbook: &Runbook,
    at: &StepSpans<'_>,
    sink: &Sink,
) {
    let span = at.after_span.clone().unwrap_or_else(|| at.key_span("after"));
    let problem = match order.get(target) {
        Some(&i) if i == index => Some((
            "a step cannot wait for itself".to_string(),
            "point `after.step` at an earlier step".to_string(),
        )),
        Some(&i) if i > index => Some((
            format!("`after` points at `{target}`, which comes later"),
            format!(
                "a step can only wait for an earlier one: move `{target}` before `{}`",
                step.id
            ),
        )),
        Some(_) => None,
        None if runbook.is_rollback_step(target) => Some((
            format!("`after` points at rollback step `{target}`"),
            "point `after.step` at a step of a phase".to_string(),
        )),
        None => Some((
            format!("`after` points at `{target}`, which does not exist"),
            match did_you_mean(target, order.keys().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use the id of an earlier step".to_string(),
            },
        )),
    };
    if let Some((message, help)) = problem {
        sink.push(Diagnostic::error("bad-after", format!("step `{}`: {message}", step.id), Some(span)).with_help(help));
    }
}

fn check_step_sense(step: &Step, at: &StepSpans<'_>, runbook: &Runbook, sink: &Sink) {
    // Judge what is written, not what decoded: a gate with a bad value is reported elsewhere.
    let written = |key: &str| at.table.is_some_and(|t| t.get(key).is_some());
    if let Action::Wait(_) = &step.action
        && !["duration", "after", "not_before"].iter().any(|k| written(k))
        && step.approve == Approval::None
    {
        sink.push(
            Diagnostic::warning(
                "empty-wait",
                format!("wait step `{}` has nothing to wait for", step.id),
                Some(at.id_span.clone()),
            )
            .with_help("give it `duration`, `after`, `not_before` or `approve = true`"),
        );
    }
    if step.on_failure == OnFailure::Rollback && runbook.rollback.is_empty() {
        sink.push(
            Diagnostic::warning(
                "empty-rollback",
                format!("step `{}` rolls back on failure, but [rollback] has no steps", step.id),
                Some(at.key_span("on_failure")),
            )
            .with_help("add [[rollback.step]] entries (DNS back to the VM, scale Deployments to zero)"),
        );
    }
}

/// Which optional sections the file has (even if they failed to load: those have their
/// own diagnostics).
pub struct Written {
    pub k8s: bool,
    pub metrics: bool,
}

/// A watch compares against a baseline measured before it: without one it would fail only
/// after DNS has moved.
fn check_watch_has_baseline(runbook: &Runbook, spans: &[StepSpans<'_>], sink: &Sink) {
    let mut baseline_seen = false;
    for (_, step) in runbook.steps() {
        match step.action.kind() {
            Kind::MetricsBaseline => baseline_seen = true,
            Kind::MetricsWatch if !baseline_seen => {
                if let Some(at) = spans.iter().find(|s| s.id == step.id && !s.is_phase) {
                    sink.push(
                        Diagnostic::error(
                            "watch-without-baseline",
                            format!("metrics.watch `{}` has no metrics.baseline step before it", step.id),
                            Some(at.id_span.clone()),
                        )
                        .with_help(
                            "add a metrics.baseline step before the flip: the watch's bounds are the baseline plus the allowed increase",
                        ),
                    );
                }
                return;
            }
            _ => {}
        }
    }
}

/// Steps of a kind family need their section (one diagnostic, at the first of them).
fn check_section(
    runbook: &Runbook,
    spans: &[StepSpans<'_>],
    sink: &Sink,
    present: bool,
    family: Family,
    missing: fn(super::diagnostic::Span) -> Diagnostic,
) {
    if present {
        return;
    }
    let first = runbook
        .steps()
        .map(|(_, s)| s)
        .chain(runbook.rollback.iter())
        .find(|s| s.action.kind().family() == family);
    if let Some(at) = first.and_then(|s| spans.iter().find(|sp| sp.id == s.id && !sp.is_phase)) {
        sink.push(missing(at.id_span.clone()));
    }
}

/// DNS steps need `[dns]`; a flip wants a TTL step before it; revert and restore refer to
/// a step that exists and is of the right kind.
fn check_dns(runbook: &Runbook, spans: &[StepSpans<'_>], sink: &Sink, dns_written: bool) {
    let span_of = |id: &str| spans.iter().find(|s| s.id == id && !s.is_phase);
    let all: Vec<&Step> = runbook.steps().map(|(_, s)| s).chain(runbook.rollback.iter()).collect();
    let forward: Vec<&Step> = runbook.steps().map(|(_, s)| s).collect();
    let of_kind = |kind: Kind| -> Vec<&Step> { forward.iter().copied().filter(|s| s.action.kind() == kind).collect() };
    let flips = of_kind(Kind::DnsFlip);
    let lowers = of_kind(Kind::DnsLowerTtl);
    for step in &all {
        if !step.action.is_dns() {
            continue;
        }
        let Some(at) = span_of(&step.id) else {
            continue;
        };
        if runbook.dns.is_none() {
            // A [dns] that failed to load has its own errors already.
            if !dns_written {
                sink.push(super::dns::missing_section(at.id_span.clone()));
            }
            // One is enough: every DNS step needs the same section.
            return;
        }
        let reference = |key: &str, named: &Option<String>, kind: Kind, candidates: &[&Step]| match named {
            Some(id) => match all.iter().find(|s| &s.id == id) {
                Some(s) if s.action.kind() == kind => {}
                Some(s) => sink.push(
                    Diagnostic::error(
                        "wrong-step-kind",
                        format!("`{key}` of step `{}` names `{id}`, a {} step", step.id, s.action.kind()),
                        Some(at.key_span(key)),
                    )
                    .with_help(format!("name the {kind} step")),
                ),
                None => {
                    let d = Diagnostic::error(
                        "unknown-step",
                        format!("`{key}` of step `{}` names `{id}`, which does not exist", step.id),
                        Some(at.key_span(key)),
                    );
                    sink.push(match did_you_mean(id, candidates.iter().map(|s| s.id.as_str())) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("name the {kind} step")),
                    });
                }
            },
            None if candidates.len() == 1 => {}
            None if candidates.is_empty() => sink.push(
                Diagnostic::error(
                    "no-such-step",
                    format!("step `{}` undoes a {kind} step, and the runbook has none", step.id),
                    Some(at.id_span.clone()),
                )
                .with_help(format!("add the {kind} step to a phase, or remove this step")),
            ),
            None => sink.push(
                Diagnostic::error(
                    "ambiguous-step",
                    format!("step `{}` could undo any of several {kind} steps", step.id),
                    Some(at.id_span.clone()),
                )
                .with_help(format!(
                    "say which: {key} = \"{}\"",
                    candidates.first().map_or("", |s| s.id.as_str())
                )),
            ),
        };
        match &step.action {
            Action::DnsRevert(r) => reference("flip", &r.flip, Kind::DnsFlip, &flips),
            Action::DnsRestoreTtl(r) => reference("lowered_by", &r.lowered_by, Kind::DnsLowerTtl, &lowers),
            Action::DnsCheck(c) => check_targets(runbook, step, at, "expect", &c.expect, sink),
            Action::DnsVerify(v) => {
                if let Some(e) = &v.expect {
                    check_targets(runbook, step, at, "expect", e, sink);
                }
            }
            Action::DnsFlip(f) => {
                check_targets(runbook, step, at, "from", &f.from, sink);
                check_targets(runbook, step, at, "to", &f.to, sink);
                let index = forward.iter().position(|s| s.id == step.id);
                let lowered_before = lowers.iter().any(|l| forward.iter().position(|s| s.id == l.id) < index);
                if index.is_some() && !lowered_before {
                    sink.push(
                        Diagnostic::warning(
                            "flip-without-ttl",
                            format!(
                                "flip `{}` has no dns.lower_ttl step before it: nothing makes sure resolvers' caches expire quickly",
                                step.id
                            ),
                            Some(at.id_span.clone()),
                        )
                        .with_help("add a dns.lower_ttl step in the preparation phase; the flip then waits out the lead time"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// A rollback that scales the new side to zero with no `dns.revert` before it pulls the
/// side DNS still points at: every client gets errors until someone moves DNS by hand.
fn check_scale_after_revert(runbook: &Runbook, spans: &[StepSpans<'_>], sink: &Sink) {
    let flips = runbook.steps().any(|(_, s)| matches!(s.action, Action::DnsFlip(_)));
    let mut reverted = false;
    for step in &runbook.rollback {
        match &step.action {
            Action::DnsRevert(_) => reverted = true,
            Action::K8sScale(k) if k.replicas == Some(0) && flips && !reverted => {
                if let Some(at) = spans.iter().find(|s| s.id == step.id && !s.is_phase) {
                    sink.push(
                        Diagnostic::warning(
                            "scale-without-revert",
                            format!(
                                "rollback step `{}` scales to zero with no dns.revert before it: clients DNS sends to the new side would get errors",
                                step.id
                            ),
                            Some(at.id_span.clone()),
                        )
                        .with_help("put a dns.revert step before it in [rollback]; the scale then waits out the flip's TTL (the drain) before it pulls the new side"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The values of a `dns.*` step against `[dns]`: every name given its own values is one of
/// the records, and with per-name values every record has some; values written out are
/// sorted into record sets as the run will (a CNAME stands alone); no CNAME at the apex.
fn check_targets(runbook: &Runbook, step: &Step, at: &StepSpans<'_>, key: &str, targets: &Targets, sink: &Sink) {
    let Some(dns) = &runbook.dns else { return };
    let span = at.key_span(key);
    let names = targets.names();
    for name in &names {
        if !dns.records.iter().any(|r| r == name) {
            let d = Diagnostic::error(
                "unknown-record",
                format!(
                    "`{key}` of step `{}` names {name}, which is not in [dns] records",
                    step.id
                ),
                Some(span.clone()),
            );
            sink.push(match did_you_mean(name, dns.records.iter().map(String::as_str)) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the records are: {}", dns.records.join(", "))),
            });
        }
    }
    if !names.is_empty() {
        for record in &dns.records {
            if !names.contains(&record.as_str()) {
                sink.push(
                    Diagnostic::error(
                        "record-without-value",
                        format!("`{key}` of step `{}` gives {record} no value", step.id),
                        Some(span.clone()),
                    )
                    .with_help(format!(
                        "add \"{record}\" = \"...\" to `{key}`; every record moves in one update"
                    )),
                );
            }
        }
    }
    let apex: Vec<&String> = dns.records.iter().filter(|r| **r == dns.zone).collect();
    for set in &targets.sets {
        let at_apex = match &set.name {
            Some(n) => *n == dns.zone,
            None => !apex.is_empty(),
        };
        let cname = set.rtype.as_deref() == Some("CNAME")
            || set.values.iter().filter_map(|t| t.as_literal()).any(|v| {
                super::targets::split_values(&v)
                    .iter()
                    .any(|v| super::targets::type_of(v) == Some("CNAME"))
            });
        if at_apex && cname && key != "from" {
            sink.push(
                Diagnostic::error(
                    "cname-at-apex",
                    format!("step `{}` would put a CNAME at the zone apex {}", step.id, dns.zone),
                    Some(span.clone()),
                )
                .with_help("the apex holds SOA and NS records, and a CNAME cannot stand beside them: flip the apex to the load balancer's addresses (A/AAAA), or use your provider's alias record by hand"),
            );
        }
    }
    // Everything written out: sort it into record sets now, as the run will.
    if let Some(rendered) = super::targets::literal_values(targets)
        && names.iter().all(|n| dns.records.iter().any(|r| r == n))
        && let Err(e) = super::targets::shape(&dns.records, targets, &rendered)
    {
        sink.push(
            Diagnostic::error("bad-value", format!("`{key}` of step `{}`: {e}", step.id), Some(span))
                .with_help("a name holds addresses (A, AAAA) or one CNAME, not both"),
        );
    }
}
