//! The `[state]` section: where a run's journal lives besides this machine, and how it is
//! locked.
//!
//! ```toml
//! [state]
//! backend = "kubernetes"      # default "local": the journal on this machine only
//! context = "prod-eu"         # the kubeconfig context (per environment: [env.production.state])
//! namespace = "cutover"
//! object = "secret"           # or "configmap": what the journal's chunks are stored in
//! lease_duration = "30s"      # how long a holder that stopped renewing keeps the run
//! ```
//!
//! With `kubernetes`, the local journal stays the source of truth of the process that
//! drives; every batch it writes is replicated to the cluster in the background, and the
//! run is locked by a `coordination.k8s.io/v1` Lease so that another operator can see who
//! holds it and take it over (`cutover takeover RUN_ID`) once that holder is gone.

use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::model::{StateBackend, StateConfig, StateObject};
use super::reader::Reader;
use super::schema::{self as s, Table};

pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(30);
/// The shortest Lease accepted: renewals come every third of it, and each may take a
/// request timeout.
const SHORTEST_LEASE: Duration = Duration::from_secs(3);

/// Reads `[state]`.
pub fn section(r: &Reader<'_>) -> Option<StateConfig> {
    // A mistake in one key still lets the others be read (and checked).
    let mut bad = false;
    let backend = match r.string("backend") {
        None => StateBackend::Local,
        Some((b, _)) if b == "local" => StateBackend::Local,
        Some((b, _)) if b == "kubernetes" => StateBackend::Kubernetes,
        Some((b, span)) => {
            r.sink().push(
                Diagnostic::error(
                    "unknown-state-backend",
                    format!("`backend = \"{b}\"` in {}: there is no such backend", r.what),
                    Some(span),
                )
                .with_help("backends are \"local\" (this machine only) and \"kubernetes\" (replicated to the cluster, locked by a Lease)"),
            );
            bad = true;
            StateBackend::Kubernetes
        }
    };
    let object = match r.string("object") {
        None => StateObject::Secret,
        Some((o, _)) if o == "secret" => StateObject::Secret,
        Some((o, _)) if o == "configmap" => StateObject::ConfigMap,
        Some((o, span)) => {
            r.sink().push(
                Diagnostic::error(
                    "unknown-state-object",
                    format!(
                        "`object = \"{o}\"` in {}: the journal is kept in a \"secret\" or a \"configmap\"",
                        r.what
                    ),
                    Some(span),
                )
                .with_help("object = \"secret\" (the default: Secrets are usually readable by fewer people)"),
            );
            bad = true;
            StateObject::Secret
        }
    };
    let namespace = match backend {
        StateBackend::Kubernetes => r.required_string("namespace", "\"cutover\"").map(|(n, _)| n),
        StateBackend::Local => r.string("namespace").map(|(n, _)| n),
    };
    let lease_duration = r.duration("lease_duration").unwrap_or(DEFAULT_LEASE_DURATION);
    let request_timeout = r
        .duration("request_timeout")
        .unwrap_or(super::k8s::DEFAULT_REQUEST_TIMEOUT);
    let lease_span = r.key_span("lease_duration").unwrap_or_else(|| r.span.clone());
    if lease_duration < SHORTEST_LEASE {
        r.sink().push(
            Diagnostic::error(
                "lease-too-short",
                format!(
                    "`lease_duration` in {} is {}: a Lease shorter than {} expires between two renewals",
                    r.what,
                    super::duration::format(lease_duration),
                    super::duration::format(SHORTEST_LEASE)
                ),
                Some(lease_span),
            )
            .with_help("lease_duration = \"30s\" (client-go's leader election uses 15s)"),
        );
    } else if lease_duration < request_timeout * 3 {
        // Renewals come every third of the Lease; one that takes its whole request timeout
        // must still end before the Lease does.
        r.sink().push(
            Diagnostic::error(
                "lease-shorter-than-requests",
                format!(
                    "`lease_duration` in {} is {}, less than three times `request_timeout` ({}): a renewal could \
                     still be waiting for the API server when the Lease runs out",
                    r.what,
                    super::duration::format(lease_duration),
                    super::duration::format(request_timeout)
                ),
                Some(lease_span),
            )
            .with_help(format!(
                "lease_duration = \"{}\", or a shorter request_timeout",
                super::duration::format(request_timeout * 3)
            )),
        );
    }
    if bad {
        return None;
    }
    Some(StateConfig {
        backend,
        kubeconfig: r.string("kubeconfig").map(|(k, _)| k),
        context: r.string("context").map(|(c, _)| c),
        namespace: namespace.unwrap_or_default(),
        object,
        lease_duration,
        request_timeout: r
            .duration("request_timeout")
            .unwrap_or(super::k8s::DEFAULT_REQUEST_TIMEOUT),
    })
}

/// `[state]` in the runbook's JSON Schema.
pub(crate) fn schema() -> Table {
    use super::duration::format as dur;
    Table::new("Where a run's journal lives besides this machine, and how the run is locked")
        .field(
            "backend",
            s::words(
                &["local", "kubernetes"],
                "\"local\": the journal on this machine only (the default); \"kubernetes\": replicated to the cluster, the run locked by a Lease",
                "kubernetes",
            ),
        )
        .field(
            "object",
            s::words(
                &["secret", "configmap"],
                "What the journal's chunks are stored in, with the kubernetes backend. Default: secret",
                "secret",
            ),
        )
        .field(
            "namespace",
            s::string("The namespace of the Lease and the journal (required with the kubernetes backend)", "cutover"),
        )
        .field(
            "lease_duration",
            s::duration(
                &format!(
                    "How long a holder that stopped renewing keeps the run; at least {} and three request timeouts. Default: {}",
                    dur(SHORTEST_LEASE),
                    dur(DEFAULT_LEASE_DURATION)
                ),
                "30s",
            ),
        )
        .field(
            "request_timeout",
            s::duration(
                &format!(
                    "How long one API request may take. Default: {}",
                    dur(super::k8s::DEFAULT_REQUEST_TIMEOUT)
                ),
                "10s",
            ),
        )
        .field(
            "kubeconfig",
            s::string("The kubeconfig file. Default: $KUBECONFIG or ~/.kube/config", "~/.kube/config"),
        )
        .field("context", s::string("The kubeconfig context. Default: the current context", "prod-eu"))
        .rule(serde_json::json!({
            "if": {"properties": {"backend": {"const": "kubernetes"}}, "required": ["backend"]},
            "then": {"required": ["namespace"]},
        }))
}
