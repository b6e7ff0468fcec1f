//! `k8s.validate`: the post-cutover checklist: pods Ready, no restarts, no OOMKilled, PVCs
//! Bound, a sidecar's annotation, quotas.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::k8s::{self as family, DEFAULT_RESTART_WINDOW};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

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

impl StepKind for K8sValidateStep {
    fn schema() -> Table {
        Table::new("The post-cutover checklist")
            .field(
                "deployments",
                s::strings("The Deployments to check. Default: [k8s] deployments", &["web"]),
            )
            .field(
                "restart_window",
                s::duration(
                    &format!(
                        "No container may have restarted within this long before the check. Default: {}",
                        dur(DEFAULT_RESTART_WINDOW)
                    ),
                    "10m",
                ),
            )
            .field(
                "require_annotation",
                s::string("An annotation every pod must carry", "sidecar.istio.io/status"),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(K8sValidateStep {
            deployments: family::names(r, "deployments"),
            restart_window: r.duration("restart_window").unwrap_or(DEFAULT_RESTART_WINDOW),
            require_annotation: r.string("require_annotation").map(|(a, _)| a),
        })
    }
}

impl StepSpec for K8sValidateStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |k, lines| {
            lines.push(format!(
                "pods of Deployments {} in namespace {}: Running and Ready, no restart in the last {}, no OOMKilled or CrashLoopBackOff",
                family::deployments(&self.deployments, k).join(", "),
                k.namespace,
                dur(self.restart_window)
            ));
            lines.push("PersistentVolumeClaims Bound; namespace ResourceQuotas not exceeded".to_string());
            if let Some(a) = &self.require_annotation {
                lines.push(format!("every pod carries annotation {a}"));
            }
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Reads only.
        InDoubtPolicy::Rerun
    }
}
