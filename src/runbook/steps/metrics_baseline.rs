//! `metrics.baseline`: measures every metric over the baseline window before the flip.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text_opt};
use crate::runbook::metrics as family;
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetricsBaselineStep {
    /// Overrides `[metrics] baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub window: Option<Duration>,
    /// The end of the window (default: when the step runs), e.g. the same hour last week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

impl StepKind for MetricsBaselineStep {
    fn schema() -> Table {
        Table::new("Measures every metric before the flip")
            .field(
                "window",
                s::duration("How far back the baseline reaches. Default: [metrics] baseline", "1h"),
            )
            .field(
                "end",
                s::instant(
                    "The end of the window, with its offset. Default: when the step runs",
                    "2026-12-01T22:00:00Z",
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(MetricsBaselineStep {
            window: r.duration("window"),
            end: r.instant("end"),
        })
    }
}

impl StepSpec for MetricsBaselineStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |m, lines| {
            let names: Vec<&str> = m.queries.iter().map(|q| q.name.as_str()).collect();
            let window = self.window.unwrap_or(m.baseline);
            let end = self
                .end
                .map_or_else(|| "now".to_string(), |e| e.format("%Y-%m-%d %H:%M UTC").to_string());
            lines.push(format!(
                "measures {} over the {} before {end} (mean of a range query); no data is a failure, not a zero",
                names.join(", "),
                dur(window)
            ));
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
