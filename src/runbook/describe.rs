//! Plain-language descriptions of what a step will do and what it waits for, with every
//! value resolved. Used by `cutover plan`, headless output and the step detail view.

use super::duration::format as dur;
use super::model::{Action, Approval, DnsConfig, InDoubtPolicy, K8sConfig, OnFailure, Runbook, Step};

/// What the step does, one line per fact. DNS and Kubernetes steps read the runbook's
/// `[dns]` and `[k8s]` sections.
pub fn action_lines(action: &Action, runbook: &Runbook) -> Vec<String> {
    let dns = runbook.dns.as_ref();
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
            if !h.safe_method() {
                limits.push_str(match action.in_doubt_policy() {
                    InDoubtPolicy::Rerun => ", idempotent (sent again after a crash)",
                    InDoubtPolicy::AskOperator => {
                        ", not idempotent (after a crash the operator says whether it was sent)"
                    }
                });
            }
            lines.push(limits);
        }
        Action::DnsCheck(_)
        | Action::DnsLowerTtl(_)
        | Action::DnsFlip(_)
        | Action::DnsVerify(_)
        | Action::DnsRevert(_)
        | Action::DnsRestoreTtl(_) => dns_lines(action, dns, &mut lines),
        Action::K8sRollout(_)
        | Action::K8sSmoke(_)
        | Action::K8sExpose(_)
        | Action::K8sScale(_)
        | Action::K8sValidate(_) => k8s_lines(action, runbook.k8s.as_ref(), &mut lines),
        Action::MetricsBaseline(_) | Action::MetricsWatch(_) => {
            metrics_lines(action, runbook.metrics.as_ref(), &mut lines)
        }
    }
    lines
}

/// `baseline + 0.1 percentage points`, `baseline + 20 %`, with the cap if there is one.
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

fn metrics_lines(action: &Action, metrics: Option<&super::model::MetricsConfig>, lines: &mut Vec<String>) {
    let Some(m) = metrics else {
        lines.push("needs the [metrics] section".to_string());
        return;
    };
    let names: Vec<&str> = m.queries.iter().map(|q| q.name.as_str()).collect();
    match action {
        Action::MetricsBaseline(b) => {
            let window = b.window.unwrap_or(m.baseline);
            let end = b
                .end
                .map_or_else(|| "now".to_string(), |e| e.format("%Y-%m-%d %H:%M UTC").to_string());
            lines.push(format!(
                "measures {} over the {} before {end} (mean of a range query); no data is a failure, not a zero",
                names.join(", "),
                dur(window)
            ));
        }
        Action::MetricsWatch(w) => {
            lines.push(format!(
                "samples every {} for {}: {}",
                dur(m.interval),
                dur(w.duration.unwrap_or(m.watch)),
                m.queries
                    .iter()
                    .map(|q| format!("{} ≤ {}", q.name, bound_rule(q)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            lines.push(format!(
                "{} breaches in a row: {}; {} samples without data in a row: the run stops for your decision",
                m.consecutive,
                match m.on_breach {
                    super::model::OnBreach::Rollback => "roll back at once (incident recorded first)",
                    super::model::OnBreach::Ask => "the run stops for your decision",
                },
                m.inconclusive
            ));
            if let Some(d) = &m.dashboard {
                lines.push(format!("dashboard: {d}"));
            }
        }
        _ => {}
    }
    lines.push(format!("from {}", m.prometheus));
}

/// The Deployments a step works on: its own list, or the section's.
pub fn k8s_deployments<'a>(own: &'a [String], k8s: &'a K8sConfig) -> &'a [String] {
    if own.is_empty() { &k8s.deployments } else { own }
}

fn k8s_lines(action: &Action, k8s: Option<&K8sConfig>, lines: &mut Vec<String>) {
    let Some(k) = k8s else {
        lines.push("needs the [k8s] section".to_string());
        return;
    };
    let context = k.context.as_deref().unwrap_or("the kubeconfig's current context");
    let list = |own: &[String]| k8s_deployments(own, k).join(", ");
    match action {
        Action::K8sRollout(r) => {
            lines.push(format!(
                "Deployments {} in namespace {}: rolled out (generation observed, every replica updated, available and Ready)",
                list(&r.deployments),
                k.namespace
            ));
            lines.push(if r.exposed {
                "a LoadBalancer Service or Ingress may already route to them".to_string()
            } else {
                "and no external traffic yet: no LoadBalancer Service or Ingress routes to them".to_string()
            });
            lines.push(format!("gives them {}", dur(r.timeout)));
        }
        Action::K8sSmoke(s) => {
            for c in &s.checks {
                let mut line = format!(
                    "GET :{}{} on a Ready pod of {} (port-forward) → expects HTTP {}",
                    c.port, c.path, c.deployment, c.expect_status
                );
                if let Some(l) = c.max_latency {
                    line.push_str(&format!(" within {}", dur(l)));
                }
                if let Some(b) = &c.body_contains {
                    line.push_str(&format!(", body contains \"{b}\""));
                }
                lines.push(line);
            }
        }
        Action::K8sExpose(e) => {
            let what = match (&e.service, &e.ingress) {
                (Some(s), _) => format!("LoadBalancer Service {s}"),
                (None, Some(i)) => format!("Ingress {i}"),
                (None, None) => "a Service or Ingress".to_string(),
            };
            lines.push(format!(
                "waits up to {} until {what} in namespace {} has an external address",
                dur(e.timeout),
                k.namespace
            ));
            lines.push(format!("stores it as ${{{}}} for later steps", e.output));
        }
        Action::K8sScale(s) => {
            let to = match s.replicas {
                Some(n) => format!("{n} replicas"),
                None => "the replica counts an earlier scale step found".to_string(),
            };
            lines.push(format!(
                "scales Deployments {} in namespace {} to {to}, recording each count before",
                list(&s.deployments),
                k.namespace
            ));
            lines.push(format!("waits up to {} until they are there", dur(s.timeout)));
        }
        Action::K8sValidate(v) => {
            lines.push(format!(
                "pods of Deployments {} in namespace {}: Running and Ready, no restart in the last {}, no OOMKilled or CrashLoopBackOff",
                list(&v.deployments),
                k.namespace,
                dur(v.restart_window)
            ));
            lines.push("PersistentVolumeClaims Bound; namespace ResourceQuotas not exceeded".to_string());
            if let Some(a) = &v.require_annotation {
                lines.push(format!("every pod carries annotation {a}"));
            }
        }
        _ => {}
    }
    lines.push(format!("cluster: context {context}"));
}

fn dns_lines(action: &Action, dns: Option<&DnsConfig>, lines: &mut Vec<String>) {
    let Some(d) = dns else {
        lines.push("needs the [dns] section".to_string());
        return;
    };
    let records = format!("{} {}", d.records.join(", "), d.record_types.join("+"));
    let servers = if d.nameservers.is_empty() {
        format!("all authoritative nameservers of {} (from its NS records)", d.zone)
    } else {
        format!("nameservers {}", d.nameservers.join(", "))
    };
    match action {
        Action::DnsCheck(c) => {
            lines.push(format!("checks that {records} hold {}", c.expect.source()));
            lines.push(format!("asks {servers}, recursion off"));
        }
        Action::DnsLowerTtl(l) => {
            let ttl = l.ttl.unwrap_or(d.cutover_ttl);
            lines.push(format!("sets the TTL of {records} to {ttl}s, values unchanged"));
            lines.push(format!(
                "done when {servers} serve the new TTL (up to {}); the flip's clock starts then",
                dur(l.timeout)
            ));
            lines.push(format!(
                "records the old TTL; the flip waits the longer of it and {} (lead time)",
                dur(d.ttl_lead_time)
            ));
        }
        Action::DnsFlip(f) => {
            // Written out (the flip dialog fills in what earlier steps found): each set exactly.
            let shapes = (
                super::targets::literal_shape(&d.records, &f.from),
                super::targets::literal_shape(&d.records, &f.to),
            );
            if let (Some(from), Some(to)) = shapes {
                lines.push(format!("moves {records} (TTL {}s):", d.cutover_ttl));
                for c in super::targets::set_changes(&d.records, &d.record_types, &from, &to) {
                    let show = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
                    lines.push(if c.to.is_empty() {
                        format!("  {} {}: {} → deleted", c.name, c.rtype, show(&c.from))
                    } else {
                        format!("  {} {}: {} → {}", c.name, c.rtype, show(&c.from), show(&c.to))
                    });
                }
            } else {
                lines.push(format!(
                    "moves {records}: {} → {} (TTL {}s)",
                    f.from.source(),
                    f.to.source(),
                    d.cutover_ttl
                ));
                lines.push(
                    "an address makes A/AAAA records, a host name a CNAME (the address records go in the same change)"
                        .to_string(),
                );
            }
            lines.push(
                "compare-and-swap: only if every record set still holds exactly the old values (in any order)"
                    .to_string(),
            );
            lines.push(atomicity(d));
        }
        Action::DnsVerify(v) => {
            match &v.expect {
                Some(e) => lines.push(format!("waits until {servers} answer {} for {records}", e.source())),
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
        Action::DnsRevert(r) => {
            lines.push(format!(
                "moves {records} back to exactly what {} found, compare-and-swap",
                r.flip.as_deref().unwrap_or("the flip")
            ));
            lines.push(atomicity(d));
            lines.push(format!(
                "then waits until {servers} answer the old records (up to {})",
                dur(r.timeout)
            ));
        }
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

/// Whether every record set moves in one change, said plainly.
fn atomicity(d: &DnsConfig) -> String {
    match &d.provider {
        crate::runbook::DnsProvider::Rfc2136 { .. } => {
            "atomic: one UPDATE message; the server applies all of it or none of it".to_string()
        }
        crate::runbook::DnsProvider::Hosted { name, .. } => format!(
            "NOT atomic: the {name} API is read and compared first, then each record set is written by its own call; \
             a failure between calls leaves some moved (the step says which; running it again completes it)"
        ),
        crate::runbook::DnsProvider::Manual => "by hand: the operator makes the change shown".to_string(),
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
