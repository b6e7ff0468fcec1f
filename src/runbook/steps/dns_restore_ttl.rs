//! `dns.restore_ttl`: puts back the TTLs `dns.lower_ttl` recorded, after the watch.

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DnsRestoreTtlStep {
    /// The `dns.lower_ttl` step whose recorded TTLs come back (the only one by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowered_by: Option<String>,
}

impl StepKind for DnsRestoreTtlStep {
    fn schema() -> Table {
        Table::new("Puts the TTLs back").field(
            "lowered_by",
            s::string(
                "The `dns.lower_ttl` step whose recorded TTLs come back. Default: the only one",
                "lower-ttl",
            ),
        )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(DnsRestoreTtlStep {
            lowered_by: r.string("lowered_by").map(|(s, _)| s),
        })
    }
}

impl StepSpec for DnsRestoreTtlStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, true, |d, lines| {
            lines.push(format!(
                "puts back the TTL of {} that {} recorded",
                d.records,
                self.lowered_by.as_deref().unwrap_or("the TTL step")
            ));
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Compare-and-swap: run again, it first reads what the servers hold, and records a
        // change that already happened as done.
        InDoubtPolicy::Rerun
    }
}
