//! Events: past-tense facts about a run. They are the journal's content and the only
//! way the run state changes. Each is stored in an envelope with its schema version,
//! sequence number, time and the actor who caused it.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runbook::Runbook;
use crate::runbook::duration::serde_text;

/// Version of the event schema written by this build. Older versions are upcast on read.
pub const SCHEMA_VERSION: u32 = 1;

/// The actor name used for what the tool does on its own: measurements, a rollback a
/// failure started, an idempotent step run again after a crash, approvals of an
/// unattended rehearsal, the end of the hold.
pub const SYSTEM_ACTOR: &str = "cutover (automatic)";

/// The name older journals recorded the tool's own actions under.
pub const LEGACY_SYSTEM_ACTOR: &str = "cutover";

/// Whether `by` is the tool itself, under its name now or in an older journal.
pub fn is_system_actor(by: &str) -> bool {
    by == SYSTEM_ACTOR || by == LEGACY_SYSTEM_ACTOR
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub v: u32,
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// Who caused it: an operator's name, or `SYSTEM_ACTOR` for the tool itself.
    pub by: String,
    pub event: RunEvent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Live,
    Rehearsal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        mode: Mode,
        /// The resolved runbook: the run never needs the file again.
        runbook: Runbook,
        digest: String,
        /// Where the runbook was read from.
        source: String,
        /// How a rehearsal runs: time compression, gate overrides, unattended approvals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rehearsal: Option<Rehearsal>,
        /// Nothing is changed anywhere: mutating steps only say what they would send.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    /// A process took over the run. Steps it finds running were interrupted.
    SessionOpened {
        pid: u32,
        host: String,
        version: String,
        /// Set when this session took the run over from another holder whose cluster Lease
        /// had expired (`cutover takeover`): who that holder was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
    },
    SessionClosed {
        reason: String,
    },
    RunbookReloaded {
        runbook: Runbook,
        digest: String,
        source: String,
    },
    StepApproved {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        typed: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The intent, recorded before the side effect begins.
    StepStarted {
        step: String,
        intent: Intent,
    },
    StepSucceeded {
        step: String,
        outcome: Outcome,
    },
    StepFailed {
        step: String,
        failure: Failure,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// A failed step is made ready to run again.
    StepRetried {
        step: String,
    },
    InDoubtResolved {
        step: String,
        resolution: Resolution,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    NoteAdded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        text: String,
    },
    /// Written first when a rollback begins, so documenting never delays it.
    IncidentRecorded {
        incident: Incident,
    },
    RollbackStarted {
        trigger: RollbackTrigger,
    },
    RollbackCompleted,
    RcaAttached {
        text: String,
    },
    AttemptStarted {
        attempt: u32,
    },
    HoldStarted {
        until: DateTime<Utc>,
    },
    RunCompleted,
    /// A metrics watch began: until when, and the baseline and bound of each metric.
    WatchStarted {
        step: String,
        until: DateTime<Utc>,
        metrics: Vec<WatchedMetric>,
    },
    /// One sample of every watched metric, each with its bound and verdict.
    WatchSampled {
        step: String,
        samples: Vec<MetricSample>,
    },
    /// What one nameserver answered for one record.
    NameserverAnswered {
        step: String,
        answer: NameserverAnswer,
    },
    /// What one Kubernetes object showed for one check (ready/desired, an address, a
    /// restart, an HTTP check through a port-forward).
    ObjectChecked {
        step: String,
        check: ObjectCheck,
    },
    /// The operator ended a drain early: the new side is scaled to zero now, while some
    /// resolvers may still send clients to it.
    DrainEnded {
        step: String,
    },
    /// A step started a process group: if the tool dies, the next session can find it.
    ProcessStarted {
        step: String,
        process: ProcessRef,
    },
    /// A message to a `[notify]` target and its answer (or why it was not sent). Recorded
    /// in any state of the run, even after it completed; it never changes the run.
    NotificationSent {
        notification: Notification,
    },
}

/// One message to one `[notify]` target: about what, what it said in short, and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The target's name in the runbook.
    pub target: String,
    pub kind: crate::runbook::NotifyKind,
    pub event: crate::runbook::NotifyEvent,
    /// What it is about, the same for every target: `flip@41` (the record it reports),
    /// `approval_waiting:1:0:flip:0` (a situation). A later session does not send a
    /// situation's message again.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What the message said, in short (never the URL or key it went to).
    pub summary: String,
    pub delivery: Delivery,
    /// The last HTTP status received, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Requests made (0: none was made).
    pub attempts: u32,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The receiver accepted it (a 2xx answer).
    Delivered,
    /// Every attempt failed, or it could not be sent at all.
    Failed,
    /// A dry run: what would have been sent.
    DryRun,
    /// The session ended before it was sent.
    Dropped,
}

impl Delivery {
    pub fn word(self) -> &'static str {
        match self {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::DryRun => "not sent (dry run)",
            Delivery::Dropped => "dropped",
        }
    }
}

/// How a rehearsal differs from a live run, recorded when it starts. Only rehearsals
/// may compress time or approve by themselves; the engine ignores both for a live run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rehearsal {
    /// Time runs this many times faster (1 = real time): the TTL lead time, metrics
    /// watches, `wait` steps, `after` delays and the hold.
    pub compress: u32,
    /// Exact lengths that replace the compressed ones, by gate (`ttl-lead`, `watch`,
    /// `hold`, `wait`) or by step id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<GateOverride>,
    /// Every approval is given by the tool (CI pipelines rehearse unattended).
    #[serde(default)]
    pub auto_approve: bool,
    /// A `cutover demo`: its world ended with its process, so it cannot be resumed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

impl Default for Rehearsal {
    fn default() -> Self {
        Self {
            compress: 1,
            overrides: Vec::new(),
            auto_approve: false,
            demo: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateOverride {
    /// `ttl-lead`, `watch`, `hold`, `wait`, or a step id.
    pub gate: String,
    #[serde(with = "serde_text")]
    pub length: Duration,
}

/// The gates whose length a rehearsal can change.
pub const GATES: [&str; 6] = ["ttl-lead", "watch", "hold", "wait", "after", "drain"];

impl Rehearsal {
    /// The length a rehearsal uses for `gate` (of `step`, if a step's): an override for the
    /// step, then for the gate, else `real` divided by the compression.
    pub fn scaled(&self, gate: &str, step: Option<&str>, real: Duration) -> Duration {
        let named = |name: &str| self.overrides.iter().find(|o| o.gate == name).map(|o| o.length);
        step.and_then(named)
            .or_else(|| named(gate))
            .unwrap_or_else(|| real / self.compress.max(1))
    }

    /// Whether it changes any length at all.
    pub fn changes_time(&self) -> bool {
        self.compress > 1 || !self.overrides.is_empty()
    }
}

/// A process group, recognisable even if its pid is reused later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pgid: u32,
    /// The leader's start time in clock ticks since boot (from /proc).
    pub start_ticks: u64,
}

/// A metric under watch: how it is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchedMetric {
    pub name: String,
    pub baseline: f64,
    /// The value the metric must stay at or under.
    pub bound: f64,
    /// How the bound was derived, in words: "baseline + 0.1 percentage points".
    pub rule: String,
    /// Unit for display: "ratio", "seconds".
    pub unit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Within,
    Breach,
    /// No data, or the source could not be asked: never counted as healthy.
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSample {
    /// When it was measured, if not when it was journaled (a sample backfilled from history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub bound: f64,
    pub verdict: Verdict,
    /// Why the verdict was reached: "0.4 % > bound 0.3 % (baseline 0.2 % + 0.1 pp)".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameserverAnswer {
    /// The nameserver's name, e.g. `ns1.example.com.`
    pub server: String,
    /// Where it was asked, `IP:port`.
    pub address: String,
    pub record: String,
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What a step reports while it runs (before its outcome).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Progress {
    WatchStarted {
        until: DateTime<Utc>,
        metrics: Vec<WatchedMetric>,
    },
    WatchSampled {
        samples: Vec<MetricSample>,
    },
    NameserverAnswered {
        answer: NameserverAnswer,
    },
    ObjectChecked {
        check: ObjectCheck,
    },
    ProcessStarted {
        process: ProcessRef,
    },
}

/// One Kubernetes object's result for one check of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCheck {
    /// `Deployment shop/web`, `Pod shop/web-7f9c-x2x`, `Service shop/web-lb`.
    pub object: String,
    /// What was checked: `rollout`, `GET :3000/health/readiness`, `restarts`, ...
    pub check: String,
    /// What was measured: `3/3 ready`, `HTTP 200 in 12 ms`, `203.0.113.7`.
    pub value: String,
    pub verdict: Verdict,
    /// Why, or what it still waits for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Progress {
    pub fn into_event(self, step: String) -> RunEvent {
        match self {
            Progress::WatchStarted { until, metrics } => RunEvent::WatchStarted { step, until, metrics },
            Progress::WatchSampled { samples } => RunEvent::WatchSampled { step, samples },
            Progress::NameserverAnswered { answer } => RunEvent::NameserverAnswered { step, answer },
            Progress::ObjectChecked { check } => RunEvent::ObjectChecked { step, check },
            Progress::ProcessStarted { process } => RunEvent::ProcessStarted { step, process },
        }
    }
}

/// Exactly what a step is about to do, with every value resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// The operator confirms a checklist item.
    Confirm,
    /// A gate passes; nothing runs.
    Gate,
    Command {
        run: String,
        #[serde(with = "serde_text")]
        timeout: Duration,
    },
    Http {
        method: String,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolve: Option<String>,
    },
    /// A DNS read or change, exactly: every record with the value it must hold and the
    /// value and TTL it gets.
    Dns(DnsIntent),
    /// A Kubernetes read or change: which cluster, which objects, and for a change each
    /// object's count before and after.
    Kube(KubeIntent),
    /// A message posted to a webhook: where (never the URL, a secret), and what.
    Notify {
        /// "the webhook in $BRIDGE_WEBHOOK_URL (hooks.slack.com)"
        to: String,
        message: String,
    },
    /// Metrics read from Prometheus: the baseline, or the watch until when.
    Metrics {
        op: MetricsOp,
        source: String,
        /// `name: PromQL` of each metric.
        queries: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeIntent {
    pub op: KubeOp,
    /// The kubeconfig context and the cluster's address.
    pub context: String,
    pub namespace: String,
    /// What is read or checked, e.g. `Deployment web`.
    pub objects: Vec<String>,
    /// For `scale`: each Deployment's replicas before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scale: Vec<ScaleChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleChange {
    pub deployment: String,
    pub from: i32,
    pub to: i32,
}

/// What a DNS step does, as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsOp {
    Check,
    LowerTtl,
    Flip,
    Verify,
    Revert,
    RestoreTtl,
}

impl DnsOp {
    /// `lower_ttl`, as the journal spells it.
    pub fn name(self) -> &'static str {
        match self {
            DnsOp::Check => "check",
            DnsOp::LowerTtl => "lower_ttl",
            DnsOp::Flip => "flip",
            DnsOp::Verify => "verify",
            DnsOp::Revert => "revert",
            DnsOp::RestoreTtl => "restore_ttl",
        }
    }

    /// `lower ttl`, for people.
    pub fn words(self) -> &'static str {
        match self {
            DnsOp::LowerTtl => "lower ttl",
            DnsOp::RestoreTtl => "restore ttl",
            other => other.name(),
        }
    }

    /// Whether it changes records (rather than reading them).
    pub fn writes(self) -> bool {
        match self {
            DnsOp::LowerTtl | DnsOp::Flip | DnsOp::Revert | DnsOp::RestoreTtl => true,
            DnsOp::Check | DnsOp::Verify => false,
        }
    }
}

/// What a Kubernetes step does, as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KubeOp {
    Rollout,
    Smoke,
    Expose,
    Scale,
    Validate,
}

impl KubeOp {
    pub fn name(self) -> &'static str {
        match self {
            KubeOp::Rollout => "rollout",
            KubeOp::Smoke => "smoke",
            KubeOp::Expose => "expose",
            KubeOp::Scale => "scale",
            KubeOp::Validate => "validate",
        }
    }
}

impl std::fmt::Display for KubeOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a metrics step does, as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsOp {
    Baseline,
    Watch,
}

impl MetricsOp {
    pub fn name(self) -> &'static str {
        match self {
            MetricsOp::Baseline => "baseline",
            MetricsOp::Watch => "watch",
        }
    }
}

impl std::fmt::Display for MetricsOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsIntent {
    pub op: DnsOp,
    pub zone: String,
    /// How the change is made: "RFC 2136 UPDATE to 192.0.2.53:53 signed with TSIG key cutover".
    pub via: String,
    pub records: Vec<RecordChange>,
}

impl DnsIntent {
    /// Whether the intent changes records (rather than reading them).
    pub fn writes(&self) -> bool {
        self.op.writes()
    }
}

/// One record in a DNS intent. `from` is what it must hold (the compare); `to` and `ttl`
/// what it gets (the swap). A read has only `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    pub name: String,
    pub rtype: String,
    pub from: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The TTL found before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_ttl: Option<u32>,
    /// The TTL written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
}

/// What a step measured or produced.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// One line: "HTTP 200 in 118 ms".
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Variables captured for later steps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Evidence::is_none")]
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    /// What the operator can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    #[serde(default, skip_serializing_if = "Evidence::is_none")]
    pub evidence: Evidence,
    /// What the failure itself asks for, over the step's `on_failure`.
    #[serde(default, skip_serializing_if = "FailureAction::is_default")]
    pub action: FailureAction,
}

/// A failure may decide the rollback question itself: a metrics breach rolls back at once
/// (`on_breach = "rollback"`), and a watch that cannot see its metrics never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// As the step's `on_failure` says.
    #[default]
    AsConfigured,
    RollBack,
    /// Stop for the operator's decision, whatever `on_failure` says.
    Decide,
}

impl FailureAction {
    pub fn is_default(&self) -> bool {
        *self == FailureAction::AsConfigured
    }
}

/// The raw measurements behind an outcome, kept for the detail view and exports.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    #[default]
    None,
    Command {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        elapsed_ms: u64,
        /// The end of standard output, secrets redacted.
        stdout: String,
        stderr: String,
    },
    Http {
        attempts: Vec<HttpAttempt>,
    },
}

impl Evidence {
    pub fn is_none(&self) -> bool {
        matches!(self, Evidence::None)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAttempt {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why the attempt did not pass, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Run the step again.
    Retry,
    /// The side effect happened.
    Succeeded,
    /// The side effect did not happen, or went wrong.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RollbackTrigger {
    Operator { reason: String },
    StepFailed { step: String, message: String },
}

impl RunEvent {
    /// The snake_case name of the event, as written in the journal.
    pub fn name(&self) -> &'static str {
        match self {
            RunEvent::RunStarted { .. } => "run_started",
            RunEvent::SessionOpened { .. } => "session_opened",
            RunEvent::SessionClosed { .. } => "session_closed",
            RunEvent::RunbookReloaded { .. } => "runbook_reloaded",
            RunEvent::StepApproved { .. } => "step_approved",
            RunEvent::StepStarted { .. } => "step_started",
            RunEvent::StepSucceeded { .. } => "step_succeeded",
            RunEvent::StepFailed { .. } => "step_failed",
            RunEvent::StepSkipped { .. } => "step_skipped",
            RunEvent::StepRetried { .. } => "step_retried",
            RunEvent::InDoubtResolved { .. } => "in_doubt_resolved",
            RunEvent::NoteAdded { .. } => "note_added",
            RunEvent::IncidentRecorded { .. } => "incident_recorded",
            RunEvent::RollbackStarted { .. } => "rollback_started",
            RunEvent::RollbackCompleted => "rollback_completed",
            RunEvent::RcaAttached { .. } => "rca_attached",
            RunEvent::AttemptStarted { .. } => "attempt_started",
            RunEvent::HoldStarted { .. } => "hold_started",
            RunEvent::RunCompleted => "run_completed",
            RunEvent::WatchStarted { .. } => "watch_started",
            RunEvent::WatchSampled { .. } => "watch_sampled",
            RunEvent::NameserverAnswered { .. } => "nameserver_answered",
            RunEvent::ObjectChecked { .. } => "object_checked",
            RunEvent::DrainEnded { .. } => "drain_ended",
            RunEvent::ProcessStarted { .. } => "process_started",
            RunEvent::NotificationSent { .. } => "notification_sent",
        }
    }

    /// The step this event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            RunEvent::StepApproved { step, .. }
            | RunEvent::StepStarted { step, .. }
            | RunEvent::StepSucceeded { step, .. }
            | RunEvent::StepFailed { step, .. }
            | RunEvent::StepSkipped { step, .. }
            | RunEvent::StepRetried { step }
            | RunEvent::InDoubtResolved { step, .. }
            | RunEvent::WatchStarted { step, .. }
            | RunEvent::WatchSampled { step, .. }
            | RunEvent::NameserverAnswered { step, .. }
            | RunEvent::ObjectChecked { step, .. }
            | RunEvent::ProcessStarted { step, .. } => Some(step),
            RunEvent::NoteAdded { step, .. } => step.as_deref(),
            _ => None,
        }
    }
}

/// Reads a record of any schema version this build knows, upcasting older ones.
pub fn decode_record(bytes: &[u8]) -> Result<Recorded, String> {
    // Fast path: a current record parses directly.
    if let Ok(rec) = serde_json::from_slice::<Recorded>(bytes)
        && rec.v == SCHEMA_VERSION
    {
        return Ok(rec);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let v = value.get("v").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if v > u64::from(SCHEMA_VERSION) {
        return Err(format!(
            "written by a newer cutover (event schema v{v}, this build reads up to v{SCHEMA_VERSION}): upgrade cutover"
        ));
    }
    // v1 is the first schema; later versions add their upcasts here, oldest first.
    serde_json::from_value(value).map_err(|e| format!("unreadable event: {e}"))
}

impl Evidence {
    fn map_text(self, f: &mut impl FnMut(String) -> String) -> Self {
        match self {
            Evidence::None => Evidence::None,
            Evidence::Command {
                exit_code,
                elapsed_ms,
                stdout,
                stderr,
            } => Evidence::Command {
                exit_code,
                elapsed_ms,
                stdout: f(stdout),
                stderr: f(stderr),
            },
            Evidence::Http { attempts } => Evidence::Http {
                attempts: attempts
                    .into_iter()
                    .map(|a| HttpAttempt {
                        problem: a.problem.map(&mut *f),
                        ..a
                    })
                    .collect(),
            },
        }
    }
}

impl Outcome {
    fn map_text(self, f: &mut impl FnMut(String) -> String) -> Self {
        Outcome {
            summary: f(self.summary),
            details: self.details.into_iter().map(&mut *f).collect(),
            outputs: self.outputs.into_iter().map(|(k, v)| (k, f(v))).collect(),
            evidence: self.evidence.map_text(f),
        }
    }
}

impl Intent {
    /// The intent with `f` applied to its free text: what a command runs, where a request
    /// goes, what a message says. Every kind is named, so a new one must say what it holds.
    fn map_text(self, f: &mut impl FnMut(String) -> String) -> Self {
        match self {
            i @ (Intent::Confirm | Intent::Gate | Intent::Dns(_) | Intent::Kube(_) | Intent::Metrics { .. }) => i,
            Intent::Command { run, timeout } => Intent::Command { run: f(run), timeout },
            Intent::Http { method, url, resolve } => Intent::Http {
                method,
                url: f(url),
                resolve: resolve.map(&mut *f),
            },
            Intent::Notify { to, message } => Intent::Notify {
                to: f(to),
                message: f(message),
            },
        }
    }
}

impl Failure {
    /// A failure that says what went wrong; `advise`, `with_evidence` and `decide` add the rest.
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            ..Failure::default()
        }
    }

    /// What the operator can do about it.
    pub fn advise(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }

    pub fn with_evidence(mut self, evidence: Evidence) -> Self {
        self.evidence = evidence;
        self
    }

    /// The failure itself asks for the operator's decision, whatever `on_failure` says.
    pub fn decide(mut self) -> Self {
        self.action = FailureAction::Decide;
        self
    }

    fn map_text(self, f: &mut impl FnMut(String) -> String) -> Self {
        Failure {
            message: f(self.message),
            advice: self.advice.map(&mut *f),
            evidence: self.evidence.map_text(f),
            action: self.action,
        }
    }
}

impl RunEvent {
    /// The event with `f` applied to every free text in it: what a step printed,
    /// measured or was told, and what operators wrote. Structure (ids, times, durations,
    /// the validated runbook) is left alone, so the event always stays well-formed.
    pub fn map_text(self, f: &mut impl FnMut(String) -> String) -> Self {
        match self {
            e @ (RunEvent::RunStarted { .. }
            | RunEvent::SessionOpened { .. }
            | RunEvent::RunbookReloaded { .. }
            | RunEvent::StepRetried { .. }
            | RunEvent::RollbackCompleted
            | RunEvent::AttemptStarted { .. }
            | RunEvent::HoldStarted { .. }
            | RunEvent::RunCompleted
            | RunEvent::DrainEnded { .. }
            | RunEvent::ProcessStarted { .. }) => e,
            RunEvent::SessionClosed { reason } => RunEvent::SessionClosed { reason: f(reason) },
            RunEvent::StepApproved { step, typed, note } => RunEvent::StepApproved {
                step,
                typed: typed.map(&mut *f),
                note: note.map(&mut *f),
            },
            RunEvent::StepStarted { step, intent } => RunEvent::StepStarted {
                step,
                intent: intent.map_text(f),
            },
            RunEvent::StepSucceeded { step, outcome } => RunEvent::StepSucceeded {
                step,
                outcome: outcome.map_text(f),
            },
            RunEvent::StepFailed { step, failure } => RunEvent::StepFailed {
                step,
                failure: failure.map_text(f),
            },
            RunEvent::StepSkipped { step, reason } => RunEvent::StepSkipped {
                step,
                reason: f(reason),
            },
            RunEvent::InDoubtResolved { step, resolution, note } => RunEvent::InDoubtResolved {
                step,
                resolution,
                note: note.map(&mut *f),
            },
            RunEvent::NoteAdded { step, text } => RunEvent::NoteAdded { step, text: f(text) },
            RunEvent::IncidentRecorded { incident } => RunEvent::IncidentRecorded {
                incident: Incident {
                    summary: f(incident.summary),
                    step: incident.step,
                    details: incident.details.into_iter().map(&mut *f).collect(),
                },
            },
            RunEvent::RollbackStarted { trigger } => RunEvent::RollbackStarted {
                trigger: match trigger {
                    RollbackTrigger::Operator { reason } => RollbackTrigger::Operator { reason: f(reason) },
                    RollbackTrigger::StepFailed { step, message } => RollbackTrigger::StepFailed {
                        step,
                        message: f(message),
                    },
                },
            },
            RunEvent::RcaAttached { text } => RunEvent::RcaAttached { text: f(text) },
            RunEvent::WatchStarted { step, until, metrics } => RunEvent::WatchStarted { step, until, metrics },
            RunEvent::WatchSampled { step, samples } => RunEvent::WatchSampled {
                step,
                samples: samples
                    .into_iter()
                    .map(|s| MetricSample {
                        reason: f(s.reason),
                        ..s
                    })
                    .collect(),
            },
            RunEvent::NameserverAnswered { step, answer } => RunEvent::NameserverAnswered {
                step,
                answer: NameserverAnswer {
                    note: f(answer.note),
                    ..answer
                },
            },
            RunEvent::ObjectChecked { step, check } => RunEvent::ObjectChecked {
                step,
                check: ObjectCheck {
                    value: f(check.value),
                    note: f(check.note),
                    ..check
                },
            },
            RunEvent::NotificationSent { notification } => RunEvent::NotificationSent {
                notification: Notification {
                    summary: f(notification.summary),
                    error: notification.error.map(&mut *f),
                    ..notification
                },
            },
        }
    }
}
