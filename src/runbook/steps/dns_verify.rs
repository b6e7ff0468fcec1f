//! `dns.verify`: every authoritative nameserver answers the new records; then resolvers are
//! polled (reported, not required).

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family, DEFAULT_RESOLVER_WAIT, DEFAULT_VERIFY_TIMEOUT};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;
use std::time::Duration;

use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::targets::{self, Targets};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsVerifyStep {
    /// What to see; by default what the last DNS change before this step wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Targets>,
    /// How long the authoritative servers have to agree.
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// How long resolvers are polled after that (their answers are reported, not required).
    #[serde(with = "serde_text")]
    pub resolver_wait: Duration,
}

impl StepKind for DnsVerifyStep {
    fn schema() -> Table {
        Table::new("Every authoritative nameserver answers the new value")
            .field(
                "expect",
                crate::runbook::targets::schema(
                    "What to see. Default: what the last DNS change before this step wrote",
                    serde_json::json!("192.0.2.20"),
                ),
            )
            .field(
                "timeout",
                s::duration(
                    &format!(
                        "How long the authoritative servers have to agree. Default: {}",
                        dur(DEFAULT_VERIFY_TIMEOUT)
                    ),
                    "10m",
                ),
            )
            .field(
                "resolver_wait",
                s::duration(
                    &format!(
                        "How long resolvers are polled after that (reported, not required). Default: {}",
                        dur(DEFAULT_RESOLVER_WAIT)
                    ),
                    "2m",
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(DnsVerifyStep {
            expect: targets::read(r, "expect").map(|(t, _)| t),
            timeout: r.duration("timeout").unwrap_or(DEFAULT_VERIFY_TIMEOUT),
            resolver_wait: r.duration("resolver_wait").unwrap_or(DEFAULT_RESOLVER_WAIT),
        })
    }
}

impl StepSpec for DnsVerifyStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, false, |d, lines| {
            match &self.expect {
                Some(e) => lines.push(format!(
                    "waits until {} answer {} for {}",
                    d.servers,
                    e.source(),
                    d.records
                )),
                None => lines.push(format!(
                    "waits until {} answer the new value for {}",
                    d.servers, d.records
                )),
            }
            lines.push(format!("gives them {}", dur(self.timeout)));
            if !d.config.resolvers.is_empty() {
                lines.push(format!(
                    "then polls resolvers {} for up to {} (reported, not required)",
                    d.config.resolvers.join(", "),
                    dur(self.resolver_wait)
                ));
            }
        });
    }

    fn templates(&self) -> Vec<&Template> {
        self.expect.iter().flat_map(|e| e.templates()).collect()
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.expect = self.expect.as_ref().map(|e| e.map_templates(f));
    }

    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Compare-and-swap: run again, it first reads what the servers hold, and records a
        // change that already happened as done.
        InDoubtPolicy::Rerun
    }
}
