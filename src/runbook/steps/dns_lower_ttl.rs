//! `dns.lower_ttl`: lowers every record's TTL ahead of the window, keeping its value; the flip
//! waits out the old TTL (and the lead time) from when every server serves the new one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family, DEFAULT_VERIFY_TIMEOUT};
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsLowerTtlStep {
    /// Overrides `[dns] cutover_ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// How long every authoritative server has to serve the lowered TTL.
    #[serde(default = "family::default_wait", with = "serde_text")]
    pub timeout: Duration,
}

impl Default for DnsLowerTtlStep {
    fn default() -> Self {
        Self {
            ttl: None,
            timeout: family::default_wait(),
        }
    }
}

impl StepKind for DnsLowerTtlStep {
    fn schema() -> Table {
        Table::new("Lowers every record's TTL")
            .field("ttl", s::duration("The TTL to set. Default: [dns] cutover_ttl", "60s"))
            .field(
                "timeout",
                s::duration(
                    &format!(
                        "How long every authoritative server has to serve the lowered TTL. Default: {}",
                        dur(DEFAULT_VERIFY_TIMEOUT)
                    ),
                    "10m",
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(DnsLowerTtlStep {
            ttl: r.duration("ttl").map(|d| d.as_secs().min(u64::from(u32::MAX)) as u32),
            timeout: r.duration("timeout").unwrap_or(DEFAULT_VERIFY_TIMEOUT),
        })
    }
}

impl StepSpec for DnsLowerTtlStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, true, |d, lines| {
            let ttl = self.ttl.unwrap_or(d.config.cutover_ttl);
            lines.push(format!("sets the TTL of {} to {ttl}s, values unchanged", d.records));
            lines.push(format!(
                "done when {} serve the new TTL (up to {}); the flip's clock starts then",
                d.servers,
                dur(self.timeout)
            ));
            lines.push(format!(
                "records the old TTL; the flip waits the longer of it and {} (lead time)",
                dur(d.config.ttl_lead_time)
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
