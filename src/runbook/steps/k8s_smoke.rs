//! `k8s.smoke`: HTTP checks against one Ready pod of each Deployment, through a port-forward.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::{format as dur, serde_text, serde_text_opt};
use crate::runbook::k8s::{self as family, DEFAULT_SMOKE_TIMEOUT};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sSmokeStep {
    pub checks: Vec<SmokeCheck>,
}

/// One HTTP check against a pod of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeCheck {
    pub deployment: String,
    pub port: u16,
    pub path: String,
    pub expect_status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_text_opt")]
    pub max_latency: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
}

impl StepKind for K8sSmokeStep {
    fn schema() -> Table {
        Table::new("HTTP checks against one Ready pod of each Deployment").required(
            "checks",
            s::tables(
                "The checks, each a GET through a port-forward",
                Table::new("One check")
                    .required(
                        "deployment",
                        s::string("The Deployment one of whose Ready pods is asked", "web"),
                    )
                    .required("port", s::int(1, 65535, "The container port", 3000))
                    .field(
                        "path",
                        s::string("The path, from the root. Default: /", "/health/readiness"),
                    )
                    .field(
                        "expect_status",
                        s::int(100, 599, "The HTTP status that means success. Default: 200", 200),
                    )
                    .field(
                        "max_latency",
                        s::duration("The answer must come within this long", "500ms"),
                    )
                    .field("body_contains", s::string("Text the answer's body must contain", "ok"))
                    .field(
                        "timeout",
                        s::duration(
                            &format!("How long the request may take. Default: {}", dur(DEFAULT_SMOKE_TIMEOUT)),
                            "10s",
                        ),
                    ),
            ),
        )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let checks: Vec<SmokeCheck> = r
            .tables("checks")
            .into_iter()
            .filter_map(|(t, span)| {
                let c = Reader::new(t, span, format!("a check of {}", r.what), r.sink());
                let check = smoke_check(&c);
                c.finish();
                check
            })
            .collect();
        if r.table.get("checks").is_none() {
            r.missing(
                "checks",
                "[{ deployment = \"web\", port = 3000, path = \"/health/readiness\" }]",
            );
        }
        Some(K8sSmokeStep { checks })
    }
}

fn smoke_check(c: &Reader<'_>) -> Option<SmokeCheck> {
    let deployment = c.required_string("deployment", "\"web\"");
    let port = c.int("port", 1, 65535);
    if port.is_none() && c.table.get("port").is_none() {
        c.missing("port", "3000");
    }
    let path = match c.string("path") {
        None => "/".to_string(),
        Some((p, span)) => {
            if !p.starts_with('/') {
                c.sink().push(
                    Diagnostic::error("bad-value", format!("`path` in {} is `{p}`", c.what), Some(span))
                        .with_help("write the path from the root, e.g. path = \"/health/readiness\""),
                );
            }
            p
        }
    };
    Some(SmokeCheck {
        deployment: deployment?.0,
        port: port? as u16,
        path,
        expect_status: c.int("expect_status", 100, 599).unwrap_or(200) as u16,
        max_latency: c.duration("max_latency"),
        body_contains: c.string("body_contains").map(|(b, _)| b),
        timeout: c.duration("timeout").unwrap_or(DEFAULT_SMOKE_TIMEOUT),
    })
}

impl StepSpec for K8sSmokeStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |_, lines| {
            for c in &self.checks {
                let mut line = format!(
                    "GET :{}{} on a Ready pod of {} (port-forward) → expects HTTP {}",
                    c.port, c.path, c.deployment, c.expect_status
                );
                if let Some(l) = c.max_latency {
                    line.push_str(&format!(" within {}", dur(l)));
                }
                if let Some(b) = &c.body_contains {
                    line.push_str(&format!(", body contains \"{b}\""));
                }
                lines.push(line);
            }
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // Reads (or sets an absolute count, reading the Deployment first): safe to run again.
        InDoubtPolicy::Rerun
    }
}
