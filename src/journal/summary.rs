//! A small summary of each run, rewritten atomically after every append. `cutover runs`
//! and `cutover status` read it without opening the journal, so they work while another
//! process holds the run. It also records the last sequence number known to be durable,
//! which is how a truncated journal is detected.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Mode, RunState, RunStatus, Situation, StepStatus, current, situation};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub runbook: String,
    pub environment: String,
    pub mode: Mode,
    pub source: String,
    pub digest: String,
    pub attempt: u32,
    pub status: RunStatus,
    /// What the run waited for when the summary was written.
    pub situation: Situation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<String>,
    pub steps_done: usize,
    pub steps_total: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seq: u64,
    /// Every step with its state, for status from another terminal.
    #[serde(default)]
    pub steps: Vec<StepLine>,
    /// A `cutover demo`: once its process has ended, the run cannot go on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
    /// Where the run's Lease and copy are, when its state is in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::runbook::StateConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    pub id: String,
    /// The phase id, or `rollback`.
    pub phase: String,
    pub title: String,
    pub status: StepStatus,
    /// The outcome, failure or decision in one line.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

impl StepLine {
    pub fn of(state: &RunState, index: usize) -> Self {
        let s = &state.steps[index];
        let spec = state.spec(&s.id);
        let phase = if state.is_rollback_step(index) {
            "rollback".to_string()
        } else {
            state.runbook.phase_of(&s.id).map(|p| p.id.clone()).unwrap_or_default()
        };
        let summary = match s.status {
            StepStatus::Failed => s.failure.as_ref().map(|f| f.message.clone()),
            StepStatus::Skipped | StepStatus::InDoubt => s.decided.clone(),
            _ => s.outcome.as_ref().map(|o| o.summary.clone()),
        }
        .or_else(|| s.decided.clone())
        .unwrap_or_default();
        Self {
            id: s.id.clone(),
            phase,
            title: spec.map(|x| x.title.clone()).unwrap_or_default(),
            status: s.status,
            summary,
        }
    }
}

impl RunSummary {
    pub fn of(state: &RunState, now: DateTime<Utc>) -> Self {
        let forward = state.forward_count();
        Self {
            run_id: state.run_id.clone(),
            runbook: state.runbook.name.clone(),
            environment: state.runbook.environment.clone(),
            mode: state.mode,
            demo: state.rehearsal.as_ref().is_some_and(|r| r.demo),
            cluster: state.runbook.state.clone().filter(|c| c.in_cluster() && !state.dry_run),
            source: state.source.clone(),
            digest: state.digest.clone(),
            attempt: state.attempt,
            status: state.status.clone(),
            situation: situation(state, now),
            current_step: current(state).map(|i| state.steps[i].id.clone()),
            steps_done: state.steps[..forward].iter().filter(|s| s.status.is_done()).count(),
            steps_total: forward,
            created_at: state.created_at,
            updated_at: state.updated_at,
            last_seq: state.last_seq,
            steps: (0..state.steps.len()).map(|i| StepLine::of(state, i)).collect(),
        }
    }

    /// Whether `cutover run` on this runbook and environment continues this run.
    pub fn is_resumable(&self) -> bool {
        !matches!(self.status, RunStatus::Completed { .. })
    }

    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Like `write`, and on disk before it returns (at the end of a session).
    pub fn write_durably(&self, path: &Path) -> std::io::Result<()> {
        super::write_durably(path, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// Write to a temporary file and rename it over the old one: never half-written.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = path.with_extension("json.tmp");
        super::private_file(&tmp)?.write_all(&serde_json::to_vec(self).unwrap_or_default())?;
        crate::failpoint::hit("during-summary", None);
        std::fs::rename(&tmp, path)
    }
}
