//! `command`: a shell command; its exit code decides, its output may be captured.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::{Template, output_name_problem};

pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandStep {
    pub run: Template,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    pub expect_exit: i32,
    /// Safe to run again when a crash leaves it unknown whether it ran.
    pub idempotent: bool,
    /// Stores the trimmed standard output under this variable name for later steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
}

impl StepKind for CommandStep {
    fn schema() -> Table {
        Table::new("A shell command")
            .required(
                "run",
                s::string("The command, run by `sh -c`; `${var}` filled in (step outputs too)", "./scripts/stop-cron.sh"),
            )
            .field(
                "timeout",
                s::duration(&format!("How long it may run before it is killed and fails. Default: {}", dur(DEFAULT_COMMAND_TIMEOUT)), "5m"),
            )
            .field("expect_exit", s::int(0, 255, "The exit code that means success. Default: 0", 0))
            .field(
                "idempotent",
                s::boolean("Safe to run again when a crash leaves it unknown whether it ran (otherwise the operator says). Default: false", true),
            )
            .field(
                "capture",
                s::matching("[A-Za-z_][A-Za-z0-9_]*", "Stores the trimmed standard output in this variable for later steps (`${name}`)", "vm_ip"),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let run = r.required_template("run", "\"./scripts/stop-cron.sh\"");
        let timeout = r.duration("timeout").unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        let expect_exit = r.int("expect_exit", 0, 255).unwrap_or(0) as i32;
        let idempotent = r.bool("idempotent").unwrap_or(false);
        let capture = r
            .string("capture")
            .and_then(|(name, span)| match output_name_problem(&name) {
                None => Some(name),
                Some(why) => {
                    r.sink().push(
                        Diagnostic::error(
                            "bad-var-name",
                            format!("`capture` in {} is `{name}`, {why}", r.what),
                            Some(span),
                        )
                        .with_help("variable names use letters, digits and `_`, e.g. capture = \"lb_ip\""),
                    );
                    None
                }
            });
        Some(CommandStep {
            run: run?.0,
            timeout,
            expect_exit,
            idempotent,
            capture,
        })
    }
}

impl StepSpec for CommandStep {
    fn describe(&self, _: &Runbook, lines: &mut Vec<String>) {
        lines.push(format!("runs: {}", self.run));
        lines.push(format!(
            "timeout {}, expects exit code {}{}",
            dur(self.timeout),
            self.expect_exit,
            match self.in_doubt_policy() {
                InDoubtPolicy::Rerun => ", safe to run again",
                InDoubtPolicy::AskOperator => ", not idempotent (after a crash the operator says whether it ran)",
            }
        ));
        if let Some(var) = &self.capture {
            lines.push(format!("captures its output as ${{{var}}}"));
        }
    }

    fn templates(&self) -> Vec<&Template> {
        vec![&self.run]
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.run = f(&self.run);
    }

    fn outputs(&self) -> Vec<&str> {
        self.capture.iter().map(String::as_str).collect()
    }

    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        if self.idempotent {
            InDoubtPolicy::Rerun
        } else {
            InDoubtPolicy::AskOperator
        }
    }
}
