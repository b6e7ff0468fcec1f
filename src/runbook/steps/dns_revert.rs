//! `dns.revert`: puts the records back to exactly what the flip found, compare-and-swap, and
//! waits until every authoritative server answers them again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family, DEFAULT_VERIFY_TIMEOUT};
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRevertStep {
    /// The `dns.flip` step to undo (the runbook's only one by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip: Option<String>,
    /// How long every authoritative server has to answer the old records again.
    #[serde(default = "default_timeout", with = "serde_text")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    DEFAULT_VERIFY_TIMEOUT
}

impl Default for DnsRevertStep {
    fn default() -> Self {
        Self {
            flip: None,
            timeout: default_timeout(),
        }
    }
}

impl StepKind for DnsRevertStep {
    fn decode(r: &Reader<'_>) -> Option<Self> {
        Some(DnsRevertStep {
            flip: r.string("flip").map(|(s, _)| s),
            timeout: r.duration("timeout").unwrap_or(DEFAULT_VERIFY_TIMEOUT),
        })
    }
}

impl StepSpec for DnsRevertStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, true, |d, lines| {
            lines.push(format!(
                "moves {} back to exactly what {} found, compare-and-swap",
                d.records,
                self.flip.as_deref().unwrap_or("the flip")
            ));
            lines.push(d.config.atomicity());
            lines.push(format!(
                "then waits until {} answer the old records (up to {})",
                d.servers,
                dur(self.timeout)
            ));
        });
    }

    fn templates(&self) -> Vec<&Template> {
        Vec::new()
    }

    fn map_templates(&mut self, _: &dyn Fn(&Template) -> Template) {}

    fn outputs(&self) -> Vec<&str> {
        Vec::new()
    }

    fn secret_env(&self) -> Vec<&str> {
        Vec::new()
    }

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Compare-and-swap: run again, it first reads what the servers hold, and records a
        // change that already happened as done.
        InDoubtPolicy::Rerun
    }
}
