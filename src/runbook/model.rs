//! The runbook after loading: environment applied, variables substituted, validated.
//! This is what a run records in its journal, so a run never depends on the file again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::duration::{serde_text, serde_text_opt};
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Manual(ManualStep),
    Command(CommandStep),
    Wait(WaitStep),
    Http(HttpCheck),
    /// Every record holds the expected current value (preflight).
    #[serde(rename = "dns.check")]
    DnsCheck(DnsCheckStep),
    /// Lower every record's TTL, keeping its value; gates the flip.
    #[serde(rename = "dns.lower_ttl")]
    DnsLowerTtl(DnsLowerTtlStep),
    /// Move every record from `from` to `to`, compare-and-swap.
    #[serde(rename = "dns.flip")]
    DnsFlip(DnsFlipStep),
    /// Every authoritative nameserver answers the new value (then resolvers are polled).
    #[serde(rename = "dns.verify")]
    DnsVerify(DnsVerifyStep),
    /// Put the records back to what the flip found, compare-and-swap.
    #[serde(rename = "dns.revert")]
    DnsRevert(DnsRevertStep),
    /// Put the TTLs back to what they were before `dns.lower_ttl`.
    #[serde(rename = "dns.restore_ttl")]
    DnsRestoreTtl(DnsRestoreTtlStep),
    /// Every Deployment rolled out and Ready, and no external traffic reaches it yet.
    #[serde(rename = "k8s.rollout")]
    K8sRollout(K8sRolloutStep),
    /// HTTP checks against one Ready pod of each Deployment, through a port-forward.
    #[serde(rename = "k8s.smoke")]
    K8sSmoke(K8sSmokeStep),
    /// Waits for the LoadBalancer Service or Ingress address and stores it as a variable.
    #[serde(rename = "k8s.expose")]
    K8sExpose(K8sExposeStep),
    /// Sets the replicas of Deployments (rollback: zero), recording the previous counts.
    #[serde(rename = "k8s.scale")]
    K8sScale(K8sScaleStep),
    /// The post-cutover checklist: pods Ready, no restarts, no OOMKilled, PVCs, sidecar, quota.
    #[serde(rename = "k8s.validate")]
    K8sValidate(K8sValidateStep),
    /// Measures every metric over the baseline window before the flip.
    #[serde(rename = "metrics.baseline")]
    MetricsBaseline(MetricsBaselineStep),
    /// Samples every metric against its bound for the watch duration after the flip.
    #[serde(rename = "metrics.watch")]
    MetricsWatch(MetricsWatchStep),
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

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsBaselineStep {
    /// Overrides `[metrics] baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub window: Option<Duration>,
    /// The end of the window (default: when the step runs), e.g. the same hour last week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsWatchStep {
    /// Overrides `[metrics] watch`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub duration: Option<Duration>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sRolloutStep {
    /// Overrides `[k8s] deployments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// The exposure step already ran: a LoadBalancer Service or Ingress is expected.
    #[serde(default)]
    pub exposed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sSmokeStep {
    pub checks: Vec<SmokeCheck>,
}

/// One HTTP check against a pod of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeCheck {
    pub deployment: String,
    pub port: u16,
    pub path: String,
    pub expect_status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub max_latency: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sExposeStep {
    /// A Service of type LoadBalancer ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// ... or an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// The variable that gets the address, e.g. `lb_ip`.
    pub output: String,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sScaleStep {
    /// Overrides `[k8s] deployments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    /// The replica count; `None` restores what an earlier scale step recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How long the Deployments have to reach the count.
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// Scaling to zero after a `dns.revert`: how long the new side keeps serving first.
    /// `None`: the default, the flip's TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
}

/// How long the new side keeps serving after DNS went back, before it is scaled to zero:
/// resolvers hand out the new answer until its TTL runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// The TTL the flip wrote (the default).
    Ttl,
    /// A fixed time; zero cuts at once.
    For(Duration),
}

impl Serialize for Drain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Drain::Ttl => s.serialize_str("ttl"),
            Drain::For(d) => s.serialize_str(&super::duration::format(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for Drain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "ttl" {
            return Ok(Drain::Ttl);
        }
        super::duration::parse(&text)
            .map(Drain::For)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sValidateStep {
    /// Overrides `[k8s] deployments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    /// No container may have restarted within this long before the check.
    #[serde(with = "serde_text")]
    pub restart_window: Duration,
    /// An annotation every pod must carry, e.g. `sidecar.istio.io/status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_annotation: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheckStep {
    /// What every record must hold now (the VMs' addresses).
    pub expect: Targets,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsLowerTtlStep {
    /// Overrides `[dns] cutover_ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// How long every authoritative server has to serve the lowered TTL.
    #[serde(default = "default_wait", with = "serde_text")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsFlipStep {
    /// The set each record must still hold, exactly (compare) ...
    pub from: Targets,
    /// ... and what it gets (swap): addresses, or a host name for a CNAME.
    pub to: Targets,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsVerifyStep {
    /// What to see; by default what the last DNS change before this step wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Targets>,
    /// How long the authoritative servers have to agree.
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// How long resolvers are polled after that (their answers are reported, not required).
    #[serde(with = "serde_text")]
    pub resolver_wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRevertStep {
    /// The `dns.flip` step to undo (the runbook's only one by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip: Option<String>,
    /// How long every authoritative server has to answer the old records again.
    #[serde(default = "default_wait", with = "serde_text")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DnsRestoreTtlStep {
    /// The `dns.lower_ttl` step whose recorded TTLs come back (the only one by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowered_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualStep {
    #[serde(default)]
    pub note_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Template>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStep {
    pub run: Template,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    pub expect_exit: i32,
    /// Safe to run again when a crash leaves it unknown whether it ran.
    pub idempotent: bool,
    /// Stores the trimmed standard output under this variable name for later steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaitStep {
    /// Wait this long after the previous step finished.
    #[serde(default, with = "serde_text_opt", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub method: String,
    pub url: Template,
    pub expect_status: u16,
    #[serde(default, with = "serde_text_opt", skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<Resolve>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// Header values written in the runbook (never secrets: validation refuses those).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
    /// Header values read from environment variables at run time (secrets go here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(with = "serde_text")]
    pub retry_interval: Duration,
    /// Safe to send again when a crash leaves it unknown whether it was sent (GET, HEAD and
    /// OPTIONS always are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

impl HttpCheck {
    /// GET, HEAD and OPTIONS only read: sending them again (or in a dry run) changes nothing.
    pub fn safe_method(&self) -> bool {
        matches!(self.method.to_ascii_uppercase().as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// Pins a hostname to an address for one check, like `curl --resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    pub host: String,
    pub to: Template,
}

/// What to do when a crash leaves it unknown whether a step's side effect happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubtPolicy {
    /// Safe to run again.
    Rerun,
    /// Only the operator can say what happened.
    AskOperator,
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Manual(_) => "manual",
            Action::Command(_) => "command",
            Action::Wait(_) => "wait",
            Action::Http(_) => "http",
            Action::DnsCheck(_) => "dns.check",
            Action::DnsLowerTtl(_) => "dns.lower_ttl",
            Action::DnsFlip(_) => "dns.flip",
            Action::DnsVerify(_) => "dns.verify",
            Action::DnsRevert(_) => "dns.revert",
            Action::DnsRestoreTtl(_) => "dns.restore_ttl",
            Action::K8sRollout(_) => "k8s.rollout",
            Action::K8sSmoke(_) => "k8s.smoke",
            Action::K8sExpose(_) => "k8s.expose",
            Action::K8sScale(_) => "k8s.scale",
            Action::K8sValidate(_) => "k8s.validate",
            Action::MetricsBaseline(_) => "metrics.baseline",
            Action::MetricsWatch(_) => "metrics.watch",
        }
    }

    pub fn is_dns(&self) -> bool {
        self.kind().starts_with("dns.")
    }

    pub fn is_k8s(&self) -> bool {
        self.kind().starts_with("k8s.")
    }

    pub fn is_metrics(&self) -> bool {
        self.kind().starts_with("metrics.")
    }

    pub fn in_doubt_policy(&self) -> InDoubtPolicy {
        match self {
            Action::Command(c) if !c.idempotent => InDoubtPolicy::AskOperator,
            // A request that is not a read may have been acted on (a POST that was sent
            // and killed before its answer): only the operator can say.
            Action::Http(h) if !h.idempotent && !h.safe_method() => InDoubtPolicy::AskOperator,
            // DNS changes are compare-and-swap: run again, they first read what the
            // servers hold, and record a change that already happened as done. Scaling
            // sets an absolute count (reading the Deployment first); the other k8s kinds read.
            _ => InDoubtPolicy::Rerun,
        }
    }

    /// Variables this step defines for later steps.
    pub fn outputs(&self) -> Vec<&str> {
        match self {
            Action::Command(CommandStep {
                capture: Some(name), ..
            }) => vec![name.as_str()],
            Action::K8sExpose(e) => vec![e.output.as_str()],
            _ => Vec::new(),
        }
    }

    /// Every template in the step, for checking which variables it needs at run time.
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            Action::Manual(m) => m.instructions.iter().collect(),
            Action::Command(c) => vec![&c.run],
            Action::Wait(_)
            | Action::DnsLowerTtl(_)
            | Action::DnsRevert(_)
            | Action::DnsRestoreTtl(_)
            | Action::K8sRollout(_)
            | Action::K8sSmoke(_)
            | Action::K8sExpose(_)
            | Action::K8sScale(_)
            | Action::K8sValidate(_)
            | Action::MetricsBaseline(_)
            | Action::MetricsWatch(_) => Vec::new(),
            Action::DnsCheck(c) => c.expect.templates().collect(),
            Action::DnsFlip(f) => f.from.templates().chain(f.to.templates()).collect(),
            Action::DnsVerify(v) => v.expect.iter().flat_map(|e| e.templates()).collect(),
            Action::Http(h) => {
                let mut all = vec![&h.url];
                all.extend(h.body_contains.iter());
                all.extend(h.resolve.iter().map(|r| &r.to));
                all.extend(h.headers.values());
                all
            }
        }
    }

    /// The action with `f` applied to every template (e.g. to fill in captured values).
    pub fn map_templates(&self, f: &dyn Fn(&Template) -> Template) -> Action {
        let mut a = self.clone();
        match &mut a {
            Action::Manual(m) => m.instructions = m.instructions.as_ref().map(f),
            Action::Command(c) => c.run = f(&c.run),
            Action::Wait(_)
            | Action::DnsLowerTtl(_)
            | Action::DnsRevert(_)
            | Action::DnsRestoreTtl(_)
            | Action::K8sRollout(_)
            | Action::K8sSmoke(_)
            | Action::K8sExpose(_)
            | Action::K8sScale(_)
            | Action::K8sValidate(_)
            | Action::MetricsBaseline(_)
            | Action::MetricsWatch(_) => {}
            Action::DnsCheck(c) => c.expect = c.expect.map_templates(f),
            Action::DnsFlip(d) => {
                d.from = d.from.map_templates(f);
                d.to = d.to.map_templates(f);
            }
            Action::DnsVerify(v) => v.expect = v.expect.as_ref().map(|e| e.map_templates(f)),
            Action::Http(h) => {
                h.url = f(&h.url);
                h.body_contains = h.body_contains.as_ref().map(f);
                if let Some(r) = &mut h.resolve {
                    r.to = f(&r.to);
                }
                for v in h.headers.values_mut() {
                    *v = f(v);
                }
            }
        }
        a
    }

    /// Whether the operator has to confirm this step by its nature (a checklist item).
    pub fn needs_operator(&self) -> bool {
        matches!(self, Action::Manual(_))
    }
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

/// How long every authoritative server has to serve a change that a step waits for.
fn default_wait() -> Duration {
    super::dns::DEFAULT_VERIFY_TIMEOUT
}

impl Default for DnsLowerTtlStep {
    fn default() -> Self {
        Self {
            ttl: None,
            timeout: default_wait(),
        }
    }
}

impl Default for DnsRevertStep {
    fn default() -> Self {
        Self {
            flip: None,
            timeout: default_wait(),
        }
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
