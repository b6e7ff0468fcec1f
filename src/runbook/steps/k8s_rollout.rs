//! `k8s.rollout`: every Deployment rolled out and Ready, and no external traffic reaches it yet.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::k8s::{self as family, DEFAULT_ROLLOUT_TIMEOUT};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

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

impl StepKind for K8sRolloutStep {
    fn schema() -> Table {
        Table::new("Every Deployment rolled out and Ready")
            .field(
                "deployments",
                s::strings("The Deployments to check. Default: [k8s] deployments", &["web"]),
            )
            .field(
                "timeout",
                s::duration(
                    &format!(
                        "How long the rollout may take. Default: {}",
                        dur(DEFAULT_ROLLOUT_TIMEOUT)
                    ),
                    "10m",
                ),
            )
            .field(
                "exposed",
                s::boolean(
                    "The exposure step already ran: a LoadBalancer Service or Ingress is expected. Default: false",
                    false,
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(K8sRolloutStep {
            deployments: family::names(r, "deployments"),
            timeout: r.duration("timeout").unwrap_or(DEFAULT_ROLLOUT_TIMEOUT),
            exposed: r.bool("exposed").unwrap_or(false),
        })
    }
}

impl StepSpec for K8sRolloutStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |k, lines| {
            lines.push(format!(
                "Deployments {} in namespace {}: rolled out (generation observed, every replica updated, available and Ready)",
                family::deployments(&self.deployments, k).join(", "),
                k.namespace
            ));
            lines.push(if self.exposed {
                "a LoadBalancer Service or Ingress may already route to them".to_string()
            } else {
                "and no external traffic yet: no LoadBalancer Service or Ingress routes to them".to_string()
            });
            lines.push(format!("gives them {}", dur(self.timeout)));
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Reads (or sets an absolute count, reading the Deployment first): safe to run again.
        InDoubtPolicy::Rerun
    }
}
