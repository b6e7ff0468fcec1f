//! `metrics.watch`: samples every metric against its bound for the watch after the flip;
//! breaches in a row roll back (or stop for the operator).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text_opt};
use crate::runbook::metrics as family;
use crate::runbook::model::OnBreach;
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsWatchStep {
    /// Overrides `[metrics] watch`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub duration: Option<Duration>,
}

impl StepKind for MetricsWatchStep {
    fn schema() -> Table {
        Table::new("Samples every metric against its bound after the flip").field(
            "duration",
            s::duration("How long to watch. Default: [metrics] watch", "15m"),
        )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(MetricsWatchStep {
            duration: r.duration("duration"),
        })
    }
}

impl StepSpec for MetricsWatchStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |m, lines| {
            lines.push(format!(
                "samples every {} for {}: {}",
                dur(m.interval),
                dur(self.duration.unwrap_or(m.watch)),
                m.queries
                    .iter()
                    .map(|q| format!("{} ≤ {}", q.name, crate::runbook::describe::bound_rule(q)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            lines.push(format!(
                "{} breaches in a row: {}; {} samples without data in a row: the run stops for your decision",
                m.consecutive,
                match m.on_breach {
                    OnBreach::Rollback => "roll back at once (incident recorded first)",
                    OnBreach::Ask => "the run stops for your decision",
                },
                m.inconclusive
            ));
            if let Some(d) = &m.dashboard {
                lines.push(format!("dashboard: {d}"));
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
