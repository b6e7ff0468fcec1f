//! The runbook after loading: environment applied, variables substituted, validated.
//! This is what a run records in its journal, so a run never depends on the file again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::duration::serde_text;
pub use super::notify::{NotifyConfig, NotifyEvent, NotifyKind, NotifyTarget};
pub use super::steps::*;
pub use super::targets::{TargetSet, Targets};
use super::template::Template;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Runbook {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The environment this runbook was loaded for (`default` when it defines none).
    pub environment: String,
    /// Variables after substitution; values may still refer to step outputs.
    pub vars: BTreeMap<String, Template>,
    /// Stable operation required after the last step before the run is complete.
    #[serde(with = "serde_text")]
    pub hold: Duration,
    pub phases: Vec<Phase>,
    /// Steps run, in order, when the run rolls back.
    pub rollback: Vec<Step>,
    /// The `[dns]` section: provider, zone, records, TTLs, nameservers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsConfig>,
    /// The `[k8s]` section: cluster context, namespace and the application's Deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s: Option<K8sConfig>,
    /// The `[metrics]` section: Prometheus, the queries, the bounds, the watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// The `[state]` section: where the journal is replicated and how the run is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
    /// The `[notify]` section: who hears of the run's milestones, and how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub id: String,
    pub title: String,
    /// Steps of this phase wait until the hold after the cutover has ended (decommissioning).
    #[serde(default)]
    pub after_hold: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub action: Action,
    #[serde(default)]
    pub approve: Approval,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<After>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// What the operator must do before a step runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "text")]
pub enum Approval {
    #[default]
    None,
    /// A yes from the operator.
    Confirm,
    /// The operator must type exactly this text (e.g. the hostname being flipped).
    Type(String),
}

/// A time gate relative to when another step succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub step: String,
    #[serde(with = "serde_text")]
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop and let the operator retry, skip or roll back.
    #[default]
    Stop,
    /// Record an incident and roll back at once.
    Rollback,
}

/// Where the metrics come from, what is measured, and the bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// The Prometheus (or compatible) base URL.
    pub prometheus: String,
    /// An environment variable holding a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env: Option<String>,
    /// Basic authentication: a user name and the environment variable with the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<(String, String)>,
    /// Extra headers (e.g. `X-Scope-OrgID`), values given literally ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// ... or from environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    pub queries: Vec<MetricQuery>,
    #[serde(with = "serde_text")]
    pub baseline: Duration,
    #[serde(with = "serde_text")]
    pub watch: Duration,
    #[serde(with = "serde_text")]
    pub interval: Duration,
    /// Breaches in a row before the verdict.
    pub consecutive: u32,
    /// Inconclusive samples in a row before the run stops for a decision.
    pub inconclusive: u32,
    pub on_breach: OnBreach,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    #[serde(with = "serde_text")]
    pub query_timeout: Duration,
    /// PromQL for the requests per second still reaching the new side: shown while a
    /// rollback drains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_side_rate: Option<String>,
}

/// One measured metric and its bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricQuery {
    pub name: String,
    /// PromQL giving one number.
    pub query: String,
    /// `ratio`, `seconds`, or empty.
    #[serde(default)]
    pub unit: String,
    pub max_increase: Increase,
    /// An absolute cap, whatever the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// How far above its baseline a metric may go.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Increase {
    /// In the metric's own unit (0.001 = 0.1 percentage points of a ratio).
    Absolute(f64),
    /// A fraction of the baseline (0.2 = 20 %).
    Relative(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Roll back at once, as the procedure says.
    #[default]
    Rollback,
    /// Stop and let the operator decide.
    Ask,
}

/// Which cluster, which namespace, which application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sConfig {
    /// A kubeconfig file; by default `KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context; by default its current context (a warning says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    /// The application's Deployments, the default for every `k8s.*` step.
    pub deployments: Vec<String>,
    /// How long one API request may take.
    #[serde(with = "serde_text")]
    pub request_timeout: Duration,
    /// How often objects are read again while waiting.
    #[serde(with = "serde_text")]
    pub poll_interval: Duration,
}

/// Where a run's journal lives besides this machine (`[state]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateConfig {
    pub backend: StateBackend,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub namespace: String,
    pub object: StateObject,
    /// How long a holder that stopped renewing keeps the run.
    #[serde(with = "serde_text")]
    pub lease_duration: Duration,
    #[serde(with = "serde_text")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    /// The journal on this machine only, locked by a file lock.
    Local,
    /// Replicated to the cluster, locked by a Lease.
    Kubernetes,
}

/// What the journal's chunks are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateObject {
    Secret,
    ConfigMap,
}

impl StateConfig {
    /// The cluster this backend uses, as the `[k8s]` client connects to one.
    pub fn cluster(&self) -> K8sConfig {
        K8sConfig {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
            deployments: Vec::new(),
            request_timeout: self.request_timeout,
            poll_interval: Duration::from_secs(2),
        }
    }

    pub fn in_cluster(&self) -> bool {
        self.backend == StateBackend::Kubernetes
    }
}

/// How records are changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum DnsProvider {
    /// RFC 2136 UPDATE messages signed with TSIG, sent to the primary.
    Rfc2136 {
        /// The primary, `host:port` (port 53 when left out).
        server: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tsig: Option<TsigKey>,
    },
    /// The operator changes the records in a web console; the tool says exactly what to
    /// change and waits until every authoritative nameserver shows it.
    Manual,
    /// A hosted provider through its API (PowerDNS, Cloudflare, Route 53, ...).
    Hosted {
        /// The provider's name, e.g. `pdns`, `cloudflare`, `route53`.
        name: String,
        /// Non-secret settings (API URL, region, account ids).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        settings: BTreeMap<String, String>,
        /// Credentials: setting name → environment variable that holds it.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        credentials_env: BTreeMap<String, String>,
    },
}

/// A TSIG key: its name and algorithm in the runbook, its secret only in the environment
/// or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsConfig {
    #[serde(flatten)]
    pub provider: DnsProvider,
    /// The zone's origin, with a trailing dot.
    pub zone: String,
    /// The records that move, fully qualified, with a trailing dot.
    pub records: Vec<String>,
    /// The record types that move together: `A`, `AAAA` (both for dual stack) or `CNAME`.
    /// Journals from before dual stack hold one, as `record_type`.
    #[serde(alias = "record_type", deserialize_with = "one_or_many")]
    pub record_types: Vec<String>,
    /// The TTL during the cutover (seconds).
    pub cutover_ttl: u32,
    /// The least time between lowering the TTL and the flip (the old TTL counts if longer).
    #[serde(with = "serde_text")]
    pub ttl_lead_time: Duration,
    /// The authoritative nameservers, `IP:port` or `name=IP:port`; empty means discovered
    /// from the zone's NS records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The port discovered nameservers are asked on.
    pub nameserver_port: u16,
    /// Recursive resolvers polled after the authoritative servers agree, `IP[:port]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<String>,
    /// How long one DNS query may take.
    #[serde(with = "serde_text")]
    pub query_timeout: Duration,
    /// How often servers are asked again while waiting.
    #[serde(with = "serde_text")]
    pub poll_interval: Duration,
}

/// What to do when a crash leaves it unknown whether a step's side effect happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubtPolicy {
    /// Safe to run again.
    Rerun,
    /// Only the operator can say what happened.
    AskOperator,
}

impl Runbook {
    /// The forward steps in run order, with the phase each belongs to.
    pub fn steps(&self) -> impl Iterator<Item = (&Phase, &Step)> {
        self.phases.iter().flat_map(|p| p.steps.iter().map(move |s| (p, s)))
    }

    pub fn step_count(&self) -> usize {
        self.phases.iter().map(|p| p.steps.len()).sum::<usize>() + self.rollback.len()
    }

    /// Any step, forward or rollback, by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps()
            .map(|(_, s)| s)
            .chain(self.rollback.iter())
            .find(|s| s.id == id)
    }

    pub fn phase_of(&self, step_id: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.steps.iter().any(|s| s.id == step_id))
    }

    pub fn is_rollback_step(&self, id: &str) -> bool {
        self.rollback.iter().any(|s| s.id == id)
    }
}

/// A string or a list of strings, as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}
