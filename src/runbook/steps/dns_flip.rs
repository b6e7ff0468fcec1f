//! `dns.flip`: moves every record set from `from` to `to`, compare-and-swap.

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::dns::{self as family};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::Table;
use crate::runbook::targets::{self, Targets};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsFlipStep {
    /// The set each record must still hold, exactly (compare) ...
    pub from: Targets,
    /// ... and what it gets (swap): addresses, or a host name for a CNAME.
    pub to: Targets,
}

impl StepKind for DnsFlipStep {
    fn schema() -> Table {
        Table::new("Moves every record from `from` to `to`")
            .required(
                "from",
                crate::runbook::targets::schema(
                    "The values every record must still hold, exactly (compare)",
                    serde_json::json!("192.0.2.10"),
                ),
            )
            .required(
                "to",
                crate::runbook::targets::schema(
                    "What the records get (swap): addresses, or a host name for a CNAME",
                    serde_json::json!("192.0.2.20"),
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let from = family::required_targets(r, "from", "\"${vm_ip}\" (or a list: [\"192.0.2.10\", \"192.0.2.11\"])");
        let to = family::required_targets(r, "to", "\"${lb_ip}\" (or a load balancer's host name, for a CNAME)");
        Some(DnsFlipStep { from: from?, to: to? })
    }
}

impl StepSpec for DnsFlipStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, true, |d, lines| {
            let config = d.config;
            // Written out (the flip dialog fills in what earlier steps found): each set exactly.
            let shapes = (
                targets::literal_shape(&config.records, &self.from),
                targets::literal_shape(&config.records, &self.to),
            );
            if let (Some(from), Some(to)) = shapes {
                lines.push(format!("moves {} (TTL {}s):", d.records, config.cutover_ttl));
                for c in targets::set_changes(&config.records, &config.record_types, &from, &to) {
                    let show = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
                    lines.push(if c.to.is_empty() {
                        format!("  {} {}: {} → deleted", c.name, c.rtype, show(&c.from))
                    } else {
                        format!("  {} {}: {} → {}", c.name, c.rtype, show(&c.from), show(&c.to))
                    });
                }
            } else {
                lines.push(format!(
                    "moves {}: {} → {} (TTL {}s)",
                    d.records,
                    self.from.source(),
                    self.to.source(),
                    config.cutover_ttl
                ));
                lines.push(
                    "an address makes A/AAAA records, a host name a CNAME (the address records go in the same change)"
                        .to_string(),
                );
            }
            lines.push(
                "compare-and-swap: only if every record set still holds exactly the old values (in any order)"
                    .to_string(),
            );
            lines.push(config.atomicity());
        });
    }

    fn templates(&self) -> Vec<&Template> {
        self.from.templates().chain(self.to.templates()).collect()
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.from = self.from.map_templates(f);
        self.to = self.to.map_templates(f);
    }

    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Compare-and-swap: run again, it first reads what the servers hold, and records a
        // change that already happened as done.
        InDoubtPolicy::Rerun
    }
}
