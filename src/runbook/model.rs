//! The runbook after loading: environment applied, variables substituted, validated.
//! This is what a run records in its journal, so a run never depends on the file again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::duration::{serde_text, serde_text_opt};
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
        }
    }

    pub fn in_doubt_policy(&self) -> InDoubtPolicy {
        match self {
            Action::Command(c) if !c.idempotent => InDoubtPolicy::AskOperator,
            _ => InDoubtPolicy::Rerun,
        }
    }

    /// Variables this step defines for later steps.
    pub fn outputs(&self) -> Vec<&str> {
        match self {
            Action::Command(CommandStep {
                capture: Some(name), ..
            }) => vec![name.as_str()],
            _ => Vec::new(),
        }
    }

    /// Every template in the step, for checking which variables it needs at run time.
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            Action::Manual(m) => m.instructions.iter().collect(),
            Action::Command(c) => vec![&c.run],
            Action::Wait(_) => Vec::new(),
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
            Action::Wait(_) => {}
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
