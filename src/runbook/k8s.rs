//! The `[k8s]` section and the `k8s.*` step kinds.

use std::time::Duration;

use super::diagnostic::{Diagnostic, Span};
use super::model::{
    Action, Drain, K8sConfig, K8sExposeStep, K8sRolloutStep, K8sScaleStep, K8sSmokeStep, K8sValidateStep, SmokeCheck,
};
use super::reader::Reader;
use super::template::output_name_problem;

pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_ROLLOUT_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_SMOKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_EXPOSE_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_SCALE_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(600);

/// Reads `[k8s]`.
pub fn section(r: &Reader<'_>) -> Option<K8sConfig> {
    let namespace = r.required_string("namespace", "\"shop\"");
    let deployments = names(r, "deployments");
    if deployments.is_empty() && r.table.get("deployments").is_none() {
        r.missing("deployments", "[\"web\", \"worker\"]");
    }
    let context = r.string("context").map(|(c, _)| c);
    if context.is_none() {
        r.sink().push(
            Diagnostic::warning(
                "k8s-context-implicit",
                "no `context` in [k8s]: the kubeconfig's current context will be used, whatever it is at the time",
                Some(r.span.clone()),
            )
            .with_help("name the context per environment, so staging and production never get mixed up: [env.production.k8s] context = \"prod-eu\""),
        );
    }
    Some(K8sConfig {
        kubeconfig: r.string("kubeconfig").map(|(k, _)| k),
        context,
        namespace: namespace?.0,
        deployments,
        request_timeout: r.duration("request_timeout").unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        poll_interval: r.duration("poll_interval").unwrap_or(DEFAULT_POLL_INTERVAL),
    })
}

/// A list of Kubernetes object names, each checked.
fn names(r: &Reader<'_>, key: &'static str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, span) in r.string_list(key) {
        if !is_object_name(&name) {
            r.sink().push(
                Diagnostic::error(
                    "bad-object-name",
                    format!("`{name}` in `{key}` is not a Kubernetes object name"),
                    Some(span),
                )
                .with_help("names are lower-case letters, digits, `-` and `.`, e.g. \"web\""),
            );
        }
        out.push(name);
    }
    out
}

fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Reads the kind-specific fields of a `k8s.*` step.
pub fn decode_step(kind: &str, r: &Reader<'_>) -> Option<Action> {
    match kind {
        "k8s.rollout" => Some(Action::K8sRollout(K8sRolloutStep {
            deployments: names(r, "deployments"),
            timeout: r.duration("timeout").unwrap_or(DEFAULT_ROLLOUT_TIMEOUT),
            exposed: r.bool("exposed").unwrap_or(false),
        })),
        "k8s.smoke" => {
            let checks: Vec<SmokeCheck> = r
                .tables("checks")
                .into_iter()
                .filter_map(|(t, span)| {
                    let c = Reader::new(t, span, format!("a check of {}", r.what), r.sink());
                    let check = smoke_check(&c);
                    c.finish();
                    check
                })
                .collect();
            if r.table.get("checks").is_none() {
                r.missing(
                    "checks",
                    "[{ deployment = \"web\", port = 3000, path = \"/health/readiness\" }]",
                );
            }
            Some(Action::K8sSmoke(K8sSmokeStep { checks }))
        }
        "k8s.expose" => {
            let service = r.string("service");
            let ingress = r.string("ingress");
            match (&service, &ingress) {
                (None, None) => r.missing("service", "\"web-lb\" (a LoadBalancer Service), or ingress = \"web\""),
                (Some(_), Some((_, span))) => r.sink().push(
                    Diagnostic::error(
                        "bad-value",
                        format!("{} names both a `service` and an `ingress`", r.what),
                        Some(span.clone()),
                    )
                    .with_help("one step waits for one address: keep the one the DNS record will point at"),
                ),
                _ => {}
            }
            let output = match r.string("output") {
                None => "lb_ip".to_string(),
                Some((name, span)) => {
                    if let Some(why) = output_name_problem(&name) {
                        r.sink().push(
                            Diagnostic::error(
                                "bad-var-name",
                                format!("`output` in {} is `{name}`, {why}", r.what),
                                Some(span),
                            )
                            .with_help("variable names use letters, digits and `_`, e.g. output = \"lb_ip\""),
                        );
                    }
                    name
                }
            };
            Some(Action::K8sExpose(K8sExposeStep {
                service: service.map(|(s, _)| s),
                ingress: ingress.map(|(s, _)| s),
                output,
                timeout: r.duration("timeout").unwrap_or(DEFAULT_EXPOSE_TIMEOUT),
            }))
        }
        "k8s.scale" => {
            let replicas = match r.node("replicas") {
                None => {
                    r.missing(
                        "replicas",
                        "0 (or \"restore\" to put back what an earlier scale step found)",
                    );
                    None
                }
                Some(n) if matches!(&n.value, super::tree::Value::Str(s) if s == "restore") => None,
                Some(_) => r.int("replicas", 0, 10_000).map(|n| n as i32),
            };
            Some(Action::K8sScale(K8sScaleStep {
                deployments: names(r, "deployments"),
                replicas,
                timeout: r.duration("timeout").unwrap_or(DEFAULT_SCALE_TIMEOUT),
                drain: drain(r),
            }))
        }
        "k8s.validate" => Some(Action::K8sValidate(K8sValidateStep {
            deployments: names(r, "deployments"),
            restart_window: r.duration("restart_window").unwrap_or(DEFAULT_RESTART_WINDOW),
            require_annotation: r.string("require_annotation").map(|(a, _)| a),
        })),
        _ => None,
    }
}

/// `drain = "ttl"` (the default after a revert) or a duration (`"0s"`: cut at once).
fn drain(r: &Reader<'_>) -> Option<Drain> {
    let (text, span) = r.string("drain")?;
    if text == "ttl" {
        return Some(Drain::Ttl);
    }
    match super::duration::parse(&text) {
        Ok(d) => Some(Drain::For(d)),
        Err(e) => {
            r.sink().push(
                super::diagnostic::Diagnostic::error("bad-duration", format!("`drain` is `{text}`: {e}"), Some(span))
                    .with_help("drain = \"ttl\" waits out the flip's TTL (the default); drain = \"30s\" a fixed time; drain = \"0s\" cuts at once"),
            );
            None
        }
    }
}

fn smoke_check(c: &Reader<'_>) -> Option<SmokeCheck> {
    let deployment = c.required_string("deployment", "\"web\"");
    let port = c.int("port", 1, 65535);
    if port.is_none() && c.table.get("port").is_none() {
        c.missing("port", "3000");
    }
    let path = match c.string("path") {
        None => "/".to_string(),
        Some((p, span)) => {
            if !p.starts_with('/') {
                c.sink().push(
                    Diagnostic::error("bad-value", format!("`path` in {} is `{p}`", c.what), Some(span))
                        .with_help("write the path from the root, e.g. path = \"/health/readiness\""),
                );
            }
            p
        }
    };
    Some(SmokeCheck {
        deployment: deployment?.0,
        port: port? as u16,
        path,
        expect_status: c.int("expect_status", 100, 599).unwrap_or(200) as u16,
        max_latency: c.duration("max_latency"),
        body_contains: c.string("body_contains").map(|(b, _)| b),
        timeout: c.duration("timeout").unwrap_or(DEFAULT_SMOKE_TIMEOUT),
    })
}

/// A `k8s.*` step in a runbook without `[k8s]`.
pub fn missing_section(step_span: Span) -> Diagnostic {
    Diagnostic::error(
        "k8s-section-missing",
        "this Kubernetes step needs a [k8s] section: which context, namespace and Deployments",
        Some(step_span),
    )
    .with_help("add:\n[k8s]\ncontext = \"prod-eu\"\nnamespace = \"shop\"\ndeployments = [\"web\", \"worker\"]")
}
