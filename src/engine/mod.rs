//! The pure core of a run: events, the state they build, the rules that decide which
//! events a command produces, and what should happen next. No I/O, no clock: the
//! time is always an argument.

pub mod decide;
pub mod event;
pub mod plan;
pub mod state;
pub mod story;

pub use decide::{Command, MIN_RCA_CHARS, Refusal, decide};
pub use event::{
    Delivery, DnsIntent, DnsOp, Evidence, Failure, FailureAction, GATES, GateOverride, HttpAttempt, Incident, Intent,
    KubeIntent, KubeOp, LEGACY_SYSTEM_ACTOR, MetricSample, MetricsOp, Mode, NameserverAnswer, Notification,
    ObjectCheck, Outcome, ProcessRef, Progress, RecordChange, Recorded, Rehearsal, Resolution, RollbackTrigger,
    RunEvent, SCHEMA_VERSION, SYSTEM_ACTOR, ScaleChange, Verdict, WatchedMetric, is_system_actor,
};
pub use plan::{Situation, TimeGate, Work, current, later, next_work, rollback_due, situation};
pub use state::{LoweredTtl, RunState, RunStatus, StepState, StepStatus, Watch};
