//! `k8s.expose`: waits for the LoadBalancer Service's or Ingress's address and stores it as
//! a variable (every address, comma-separated, when it has several).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::k8s::{self as family, DEFAULT_EXPOSE_TIMEOUT};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;
use crate::runbook::template::output_name_problem;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sExposeStep {
    /// A Service of type LoadBalancer ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// ... or an Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// The variable that gets the address, e.g. `lb_ip`.
    pub output: String,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
}

impl StepKind for K8sExposeStep {
    fn schema() -> Table {
        Table::new("Waits for the LoadBalancer Service or Ingress address")
            .field(
                "service",
                s::string("A Service of type LoadBalancer (or give `ingress`)", "web-lb"),
            )
            .alternative("ingress", s::string("An Ingress (or give `service`)", "web"))
            .field(
                "output",
                s::matching(
                    "[A-Za-z_][A-Za-z0-9_]*",
                    "The variable that gets the address, for later steps. Default: lb_ip",
                    "lb_ip",
                ),
            )
            .field(
                "timeout",
                s::duration(
                    &format!(
                        "How long the address may take to appear. Default: {}",
                        dur(DEFAULT_EXPOSE_TIMEOUT)
                    ),
                    "10m",
                ),
            )
            .rule(serde_json::json!({"anyOf": [{"required": ["service"]}, {"required": ["ingress"]}]}))
            .rule(serde_json::json!({"not": {"required": ["service", "ingress"]}}))
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let service = r.string("service");
        let ingress = r.string("ingress");
        match (&service, &ingress) {
            (None, None) => r.missing("service", "\"web-lb\" (a LoadBalancer Service), or ingress = \"web\""),
            (Some(_), Some((_, span))) => r.sink().push(
                Diagnostic::error(
                    "bad-value",
                    format!("{} names both a `service` and an `ingress`", r.what),
                    Some(span.clone()),
                )
                .with_help("one step waits for one address: keep the one the DNS record will point at"),
            ),
            _ => {}
        }
        let output = match r.string("output") {
            None => "lb_ip".to_string(),
            Some((name, span)) => {
                if let Some(why) = output_name_problem(&name) {
                    r.sink().push(
                        Diagnostic::error(
                            "bad-var-name",
                            format!("`output` in {} is `{name}`, {why}", r.what),
                            Some(span),
                        )
                        .with_help("variable names use letters, digits and `_`, e.g. output = \"lb_ip\""),
                    );
                }
                name
            }
        };
        Some(K8sExposeStep {
            service: service.map(|(s, _)| s),
            ingress: ingress.map(|(s, _)| s),
            output,
            timeout: r.duration("timeout").unwrap_or(DEFAULT_EXPOSE_TIMEOUT),
        })
    }
}

impl StepSpec for K8sExposeStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |k, lines| {
            let what = match (&self.service, &self.ingress) {
                (Some(s), _) => format!("LoadBalancer Service {s}"),
                (None, Some(i)) => format!("Ingress {i}"),
                (None, None) => "a Service or Ingress".to_string(),
            };
            lines.push(format!(
                "waits up to {} until {what} in namespace {} has an external address",
                dur(self.timeout),
                k.namespace
            ));
            lines.push(format!("stores it as ${{{}}} for later steps", self.output));
        });
    }

    no_templates!();

    fn outputs(&self) -> Vec<&str> {
        vec![self.output.as_str()]
    }

    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Reads (or sets an absolute count, reading the Deployment first): safe to run again.
        InDoubtPolicy::Rerun
    }
}
