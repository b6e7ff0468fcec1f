//! The `[k8s]` section, and what the `k8s.*` step kinds (in `steps/`) share.

use std::time::Duration;

use super::diagnostic::{Diagnostic, Span};
use super::model::{K8sConfig, Runbook};
use super::reader::Reader;
use super::schema::{self as s, Table};

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
pub(crate) fn names(r: &Reader<'_>, key: &'static str) -> Vec<String> {
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

/// A `k8s.*` step in a runbook without `[k8s]`.
pub fn missing_section(step_span: Span) -> Diagnostic {
    Diagnostic::error(
        "k8s-section-missing",
        "this Kubernetes step needs a [k8s] section: which context, namespace and Deployments",
        Some(step_span),
    )
    .with_help("add:\n[k8s]\ncontext = \"prod-eu\"\nnamespace = \"shop\"\ndeployments = [\"web\", \"worker\"]")
}

/// Describes a `k8s.*` step: `body` says what it does, given the section; every one ends with
/// the cluster it talks to.
pub(crate) fn describe(runbook: &Runbook, lines: &mut Vec<String>, body: impl FnOnce(&K8sConfig, &mut Vec<String>)) {
    let Some(k) = runbook.k8s.as_ref() else {
        lines.push("needs the [k8s] section".to_string());
        return;
    };
    body(k, lines);
    lines.push(format!(
        "cluster: context {}",
        k.context.as_deref().unwrap_or("the kubeconfig's current context")
    ));
}

/// The Deployments a step works on: its own list, or the section's.
pub fn deployments<'a>(own: &'a [String], k8s: &'a K8sConfig) -> &'a [String] {
    if own.is_empty() { &k8s.deployments } else { own }
}

/// `[k8s]` in the runbook's JSON Schema.
pub(crate) fn schema() -> Table {
    use crate::duration::format as dur;
    Table::new("The cluster the new side runs in: context, namespace and Deployments")
        .required("namespace", s::string("The namespace of the Deployments", "shop"))
        .required(
            "deployments",
            s::strings("The Deployments of the new side", &["web", "worker"]),
        )
        .field(
            "context",
            s::string(
                "The kubeconfig context. Default: the kubeconfig's current context (name it per environment)",
                "prod-eu",
            ),
        )
        .field(
            "kubeconfig",
            s::string(
                "The kubeconfig file. Default: $KUBECONFIG or ~/.kube/config",
                "~/.kube/config",
            ),
        )
        .field(
            "request_timeout",
            s::duration(
                &format!(
                    "How long one API request may take. Default: {}",
                    dur(DEFAULT_REQUEST_TIMEOUT)
                ),
                "10s",
            ),
        )
        .field(
            "poll_interval",
            s::duration(
                &format!(
                    "The pause between polls while waiting. Default: {}",
                    dur(DEFAULT_POLL_INTERVAL)
                ),
                "2s",
            ),
        )
}
