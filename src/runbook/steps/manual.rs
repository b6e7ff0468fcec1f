//! `manual`: a checklist item the operator confirms, with instructions and maybe a note.

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualStep {
    #[serde(default)]
    pub note_required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Template>,
}

impl StepKind for ManualStep {
    fn schema() -> Table {
        Table::new("A checklist item the operator confirms")
            .field(
                "note",
                s::words(
                    &["optional", "required"],
                    "Whether the operator must leave a note when confirming (e.g. the change ticket). Default: optional",
                    "required",
                ),
            )
            .field(
                "instructions",
                s::string("What the operator does, shown with the item; `${var}` filled in", "Confirm the change ticket is approved"),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let note_required = match r.string("note") {
            None => false,
            Some((v, _)) if v == "optional" => false,
            Some((v, _)) if v == "required" => true,
            Some((v, span)) => {
                r.sink().push(
                    Diagnostic::error("bad-value", format!("`note` in {} is `{v}`", r.what), Some(span))
                        .with_help("write note = \"required\" to make the operator leave a note, or leave it out"),
                );
                false
            }
        };
        Some(ManualStep {
            note_required,
            instructions: r.template("instructions").map(|(t, _)| t),
        })
    }
}

impl StepSpec for ManualStep {
    fn describe(&self, _: &Runbook, lines: &mut Vec<String>) {
        lines.push(if self.note_required {
            "the operator confirms it is done and must leave a note".to_string()
        } else {
            "the operator confirms it is done".to_string()
        });
        if let Some(i) = &self.instructions {
            lines.push(format!("instructions: {i}"));
        }
    }

    fn templates(&self) -> Vec<&Template> {
        self.instructions.iter().collect()
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.instructions = self.instructions.as_ref().map(f);
    }

    no_outputs!();
    no_secrets!();

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        InDoubtPolicy::Rerun
    }
}
