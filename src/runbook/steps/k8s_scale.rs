//! `k8s.scale`: sets the replicas of Deployments (rollback: zero, after the drain), recording
//! the previous counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::k8s::{self as family, DEFAULT_SCALE_TIMEOUT};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sScaleStep {
    /// Overrides `[k8s] deployments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<String>,
    /// The replica count; `None` restores what an earlier scale step recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// How long the Deployments have to reach the count.
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// Scaling to zero after a `dns.revert`: how long the new side keeps serving first.
    /// `None`: the default, the flip's TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
}

/// How long the new side keeps serving after DNS went back, before it is scaled to zero:
/// resolvers hand out the new answer until its TTL runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// The TTL the flip wrote (the default).
    Ttl,
    /// A fixed time; zero cuts at once.
    For(Duration),
}

impl Serialize for Drain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Drain::Ttl => s.serialize_str("ttl"),
            Drain::For(d) => s.serialize_str(&crate::runbook::duration::format(*d)),
        }
    }
}

impl<'de> Deserialize<'de> for Drain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == "ttl" {
            return Ok(Drain::Ttl);
        }
        crate::runbook::duration::parse(&text)
            .map(Drain::For)
            .map_err(serde::de::Error::custom)
    }
}

impl StepKind for K8sScaleStep {
    fn schema() -> Table {
        Table::new("Sets the replicas of Deployments")
            .required(
                "replicas",
                s::any_of(
                    "The replica count, or \"restore\" to put back what an earlier scale step found",
                    vec![
                        serde_json::json!({"type": "integer", "minimum": 0, "maximum": 10_000}),
                        serde_json::json!({"const": "restore"}),
                    ],
                    serde_json::json!(0),
                ),
            )
            .field("deployments", s::strings("The Deployments to scale. Default: [k8s] deployments", &["web"]))
            .field(
                "timeout",
                s::duration(&format!("How long the Deployments have to reach the count. Default: {}", dur(DEFAULT_SCALE_TIMEOUT)), "5m"),
            )
            .field(
                "drain",
                s::matching(
                    &format!("ttl|{}", crate::runbook::duration::PATTERN),
                    "Scaling to zero after a revert: how long the new side keeps serving first, \"ttl\" (the flip's TTL, the default) or a duration (\"0s\" cuts at once)",
                    "ttl",
                ),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let replicas = match r.node("replicas") {
            None => {
                r.missing(
                    "replicas",
                    "0 (or \"restore\" to put back what an earlier scale step found)",
                );
                None
            }
            Some(n) if matches!(&n.value, crate::runbook::tree::Value::Str(s) if s == "restore") => None,
            Some(_) => r.int("replicas", 0, 10_000).map(|n| n as i32),
        };
        Some(K8sScaleStep {
            deployments: family::names(r, "deployments"),
            replicas,
            timeout: r.duration("timeout").unwrap_or(DEFAULT_SCALE_TIMEOUT),
            drain: drain(r),
        })
    }
}

/// `drain = "ttl"` (the default after a revert) or a duration (`"0s"`: cut at once).
fn drain(r: &Reader<'_>) -> Option<Drain> {
    let (text, span) = r.string("drain")?;
    if text == "ttl" {
        return Some(Drain::Ttl);
    }
    match crate::runbook::duration::parse(&text) {
        Ok(d) => Some(Drain::For(d)),
        Err(e) => {
            r.sink().push(
                crate::runbook::diagnostic::Diagnostic::error("bad-duration", format!("`drain` is `{text}`: {e}"), Some(span))
                    .with_help("drain = \"ttl\" waits out the flip's TTL (the default); drain = \"30s\" a fixed time; drain = \"0s\" cuts at once"),
            );
            None
        }
    }
}

impl StepSpec for K8sScaleStep {
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>) {
        family::describe(runbook, lines, |k, lines| {
            let to = match self.replicas {
                Some(n) => format!("{n} replicas"),
                None => "the replica counts an earlier scale step found".to_string(),
            };
            lines.push(format!(
                "scales Deployments {} in namespace {} to {to}, recording each count before",
                family::deployments(&self.deployments, k).join(", "),
                k.namespace
            ));
            lines.push(format!("waits up to {} until they are there", dur(self.timeout)));
        });
    }

    no_templates!();
    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // An absolute count (the Deployment is read first): sending it again changes nothing.
        InDoubtPolicy::Rerun
    }
}
