//! `dns.check`: every record holds what it should before anything changes (preflight).

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::Table;
use crate::runbook::targets::Targets;
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheckStep {
    /// What every record must hold now (the VMs' addresses).
    pub expect: Targets,
}

impl StepKind for DnsCheckStep {
    fn schema() -> Table {
        Table::new("Every record holds the expected current value").required(
            "expect",
            crate::runbook::targets::schema(
                "What every record must hold now (the VMs' addresses)",
                serde_json::json!("192.0.2.10"),
            ),
        )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let expect = family::required_targets(
            r,
            "expect",
            "\"${vm_ip}\" (or a list: [\"192.0.2.10\", \"192.0.2.11\"])",
        );
        Some(DnsCheckStep { expect: expect? })
    }
}

impl StepSpec for DnsCheckStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, false, |d, lines| {
            lines.push(format!("checks that {} hold {}", d.records, self.expect.source()));
            lines.push(format!("asks {}, recursion off", d.servers));
        });
    }

    fn templates(&self) -> Vec<&Template> {
        self.expect.templates().collect()
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.expect = self.expect.map_templates(f);
    }

    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Compare-and-swap: run again, it first reads what the servers hold, and records a
        // change that already happened as done.
        InDoubtPolicy::Rerun
    }
}
