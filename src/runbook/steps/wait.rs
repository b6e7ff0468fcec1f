//! `wait`: a gate (nothing runs), or a pause after the previous step finished.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text_opt};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaitStep {
    /// Wait this long after the previous step finished.
    #[serde(default, with = "serde_text_opt", skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

impl StepKind for WaitStep {
    fn schema() -> Table {
        Table::new("A gate or a pause").field(
            "duration",
            s::duration(
                "Wait this long after the previous step finished. Without it the step is a gate: nothing runs",
                "10m",
            ),
        )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(WaitStep {
            duration: r.duration("duration"),
        })
    }
}

impl StepSpec for WaitStep {
    fn describe(&self, _: &Runbook, lines: &mut Vec<String>) {
        lines.push(match self.duration {
            Some(d) => format!("waits {} after the previous step finished", dur(d)),
            None => "a gate: nothing runs".to_string(),
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        InDoubtPolicy::Rerun
    }
}
