//! The step kinds. Each kind has one home here, a file that holds its fields (what the
//! journal keeps), how a runbook spells them (`decode`), what `cutover plan` says it does
//! (`describe`), the templates it fills in, the outputs it sets, the secrets it reads from
//! the environment, and whether it may run again after a crash. What a kind *does* lives one
//! layer up, in `crate::effects`, dispatched from the same [`Action`] enum.
//!
//! Adding a kind: write its file (a struct implementing [`StepKind`]), add one line to the
//! `step_kinds!` table below, and follow the compiler: every `match` over [`Action`] that
//! needs an arm (the effect, the intent's redaction) fails to build until it has one.

/// For a kind without templates: says so in one line inside its `impl StepSpec`.
macro_rules! no_templates {
    () => {
        fn templates(&self) -> Vec<&Template> {
            Vec::new()
        }

        fn map_templates(&mut self, _: &dyn Fn(&Template) -> Template) {}
    };
}

/// For a kind that sets no variable for later steps.
macro_rules! no_outputs {
    () => {
        fn outputs(&self) -> Vec<&str> {
            Vec::new()
        }
    };
}

/// For a kind that sends no value from the environment anywhere.
macro_rules! no_secrets {
    () => {
        fn secret_env(&self) -> Vec<&str> {
            Vec::new()
        }
    };
}

mod command;
mod dns_check;
mod dns_flip;
mod dns_lower_ttl;
mod dns_restore_ttl;
mod dns_revert;
mod dns_verify;
mod http;
mod k8s_expose;
mod k8s_rollout;
mod k8s_scale;
mod k8s_smoke;
mod k8s_validate;
mod manual;
mod metrics_baseline;
mod metrics_watch;
mod notify_webhook;
mod wait;

pub use command::CommandStep;
pub use dns_check::DnsCheckStep;
pub use dns_flip::DnsFlipStep;
pub use dns_lower_ttl::DnsLowerTtlStep;
pub use dns_restore_ttl::DnsRestoreTtlStep;
pub use dns_revert::DnsRevertStep;
pub use dns_verify::DnsVerifyStep;
pub use http::{HttpCheck, Resolve};
pub use k8s_expose::K8sExposeStep;
pub use k8s_rollout::K8sRolloutStep;
pub use k8s_scale::{Drain, K8sScaleStep};
pub use k8s_smoke::{K8sSmokeStep, SmokeCheck};
pub use k8s_validate::K8sValidateStep;
pub use manual::ManualStep;
pub use metrics_baseline::MetricsBaselineStep;
pub use metrics_watch::MetricsWatchStep;
pub use notify_webhook::NotifyWebhookStep;
pub use wait::WaitStep;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::diagnostic::Diagnostic;
use super::model::{InDoubtPolicy, Runbook};
use super::reader::Reader;
use super::schema::Table;
use super::template::Template;

/// What every step kind answers about itself. Nothing here has a default: a new kind says
/// what it reads, fills in and sets, so none of it is forgotten.
pub trait StepSpec {
    /// What the step does, one line per fact, with the runbook's sections at hand.
    fn describe(&self, runbook: &Runbook, lines: &mut Vec<String>);
    /// Every template, for checking which variables it needs at run time.
    fn templates(&self) -> Vec<&Template>;
    /// Applies `f` to every template (to fill in captured values).
    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template);
    /// The variables it defines for later steps.
    fn outputs(&self) -> Vec<&str>;
    /// The environment variables whose values it sends somewhere: secrets, masked everywhere.
    fn secret_env(&self) -> Vec<&str>;
    /// What a crash in the middle of it leaves.
    fn in_doubt_policy(&self) -> InDoubtPolicy;
}

/// A step kind: its fields as a runbook spells them.
pub trait StepKind: StepSpec + Sized {
    /// Reads the kind's own fields; diagnostics go to the reader's sink.
    fn decode(r: &Reader<'_>) -> Option<Self>;
    /// The kind's own fields as the runbook's JSON Schema describes them (`cutover
    /// schema`): every key `decode` asks for, with its description and an example.
    fn schema() -> Table;
}

/// Generates [`Action`] (one variant per kind, serialised with its name as `kind`), [`Kind`]
/// (the kinds by name) and the one dispatch from an action to its kind's answers.
macro_rules! step_kinds {
    ($( $(#[doc = $doc:literal])* $variant:ident($payload:ty) = $name:literal, )*) => {
        /// What a step does: one variant per step kind.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Action {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $variant($payload), )*
        }

        /// The step kinds, as a runbook names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $( $variant, )*
        }

        impl Kind {
            /// Every kind, in the order `--help` and diagnostics list them.
            pub const ALL: &'static [Kind] = &[$( Kind::$variant, )*];

            /// The name a runbook gives the kind: `dns.flip`.
            pub fn name(self) -> &'static str {
                match self {
                    $( Kind::$variant => $name, )*
                }
            }

            /// The kind's own fields, for the runbook's JSON Schema.
            pub fn schema(self) -> Table {
                match self {
                    $( Kind::$variant => <$payload as StepKind>::schema(), )*
                }
            }

            /// What the kind does, as the table's doc comment says it.
            pub fn summary(self) -> &'static str {
                match self {
                    $( Kind::$variant => concat!($($doc, )*), )*
                }
            }

            /// Reads a step of this kind.
            pub(crate) fn decode(self, r: &Reader<'_>) -> Option<Action> {
                match self {
                    $( Kind::$variant => <$payload as StepKind>::decode(r).map(Action::$variant), )*
                }
            }
        }

        impl Action {
            pub fn kind(&self) -> Kind {
                match self {
                    $( Action::$variant(_) => Kind::$variant, )*
                }
            }

            /// The kind's own answers about this step.
            pub fn spec(&self) -> &dyn StepSpec {
                match self {
                    $( Action::$variant(s) => s, )*
                }
            }

            fn spec_mut(&mut self) -> &mut dyn StepSpec {
                match self {
                    $( Action::$variant(s) => s, )*
                }
            }
        }
    };
}

step_kinds! {
    /// The operator confirms a checklist item.
    Manual(ManualStep) = "manual",
    /// A shell command; its exit code decides, its output may be captured.
    Command(CommandStep) = "command",
    /// A gate, or a pause after the previous step.
    Wait(WaitStep) = "wait",
    /// An HTTP request and what its answer must be.
    Http(HttpCheck) = "http",
    /// Every record holds the expected current value (preflight).
    DnsCheck(DnsCheckStep) = "dns.check",
    /// Lower every record's TTL, keeping its value; gates the flip.
    DnsLowerTtl(DnsLowerTtlStep) = "dns.lower_ttl",
    /// Move every record from `from` to `to`, compare-and-swap.
    DnsFlip(DnsFlipStep) = "dns.flip",
    /// Every authoritative nameserver answers the new value (then resolvers are polled).
    DnsVerify(DnsVerifyStep) = "dns.verify",
    /// Put the records back to what the flip found, compare-and-swap.
    DnsRevert(DnsRevertStep) = "dns.revert",
    /// Put the TTLs back to what they were before `dns.lower_ttl`.
    DnsRestoreTtl(DnsRestoreTtlStep) = "dns.restore_ttl",
    /// Every Deployment rolled out and Ready, and no external traffic reaches it yet.
    K8sRollout(K8sRolloutStep) = "k8s.rollout",
    /// HTTP checks against one Ready pod of each Deployment, through a port-forward.
    K8sSmoke(K8sSmokeStep) = "k8s.smoke",
    /// Waits for the LoadBalancer Service or Ingress address and stores it as a variable.
    K8sExpose(K8sExposeStep) = "k8s.expose",
    /// Sets the replicas of Deployments (rollback: zero), recording the previous counts.
    K8sScale(K8sScaleStep) = "k8s.scale",
    /// The post-cutover checklist: pods Ready, no restarts, no OOMKilled, PVCs, sidecar, quota.
    K8sValidate(K8sValidateStep) = "k8s.validate",
    /// Measures every metric over the baseline window before the flip.
    MetricsBaseline(MetricsBaselineStep) = "metrics.baseline",
    /// Samples every metric against its bound for the watch duration after the flip.
    MetricsWatch(MetricsWatchStep) = "metrics.watch",
    /// Posts a JSON message to a webhook whose URL comes from the environment.
    NotifyWebhook(NotifyWebhookStep) = "notify.webhook",
}

/// An action seen by family, each family's kinds typed: the effects dispatch on this, so a
/// new kind is an arm the compiler asks for in its family's effect too.
#[derive(Debug, Clone, Copy)]
pub enum Split<'a> {
    Manual(&'a ManualStep),
    Command(&'a CommandStep),
    Wait(&'a WaitStep),
    Http(&'a HttpCheck),
    Notify(&'a NotifyWebhookStep),
    Dns(DnsStep<'a>),
    K8s(K8sStep<'a>),
    Metrics(MetricsStep<'a>),
}

#[derive(Debug, Clone, Copy)]
pub enum DnsStep<'a> {
    Check(&'a DnsCheckStep),
    LowerTtl(&'a DnsLowerTtlStep),
    Flip(&'a DnsFlipStep),
    Verify(&'a DnsVerifyStep),
    Revert(&'a DnsRevertStep),
    RestoreTtl(&'a DnsRestoreTtlStep),
}

#[derive(Debug, Clone, Copy)]
pub enum K8sStep<'a> {
    Rollout(&'a K8sRolloutStep),
    Smoke(&'a K8sSmokeStep),
    Expose(&'a K8sExposeStep),
    Scale(&'a K8sScaleStep),
    Validate(&'a K8sValidateStep),
}

#[derive(Debug, Clone, Copy)]
pub enum MetricsStep<'a> {
    Baseline(&'a MetricsBaselineStep),
    Watch(&'a MetricsWatchStep),
}

impl Action {
    /// The action by family.
    pub fn split(&self) -> Split<'_> {
        match self {
            Action::Manual(s) => Split::Manual(s),
            Action::Command(s) => Split::Command(s),
            Action::Wait(s) => Split::Wait(s),
            Action::Http(s) => Split::Http(s),
            Action::NotifyWebhook(s) => Split::Notify(s),
            Action::DnsCheck(s) => Split::Dns(DnsStep::Check(s)),
            Action::DnsLowerTtl(s) => Split::Dns(DnsStep::LowerTtl(s)),
            Action::DnsFlip(s) => Split::Dns(DnsStep::Flip(s)),
            Action::DnsVerify(s) => Split::Dns(DnsStep::Verify(s)),
            Action::DnsRevert(s) => Split::Dns(DnsStep::Revert(s)),
            Action::DnsRestoreTtl(s) => Split::Dns(DnsStep::RestoreTtl(s)),
            Action::K8sRollout(s) => Split::K8s(K8sStep::Rollout(s)),
            Action::K8sSmoke(s) => Split::K8s(K8sStep::Smoke(s)),
            Action::K8sExpose(s) => Split::K8s(K8sStep::Expose(s)),
            Action::K8sScale(s) => Split::K8s(K8sStep::Scale(s)),
            Action::K8sValidate(s) => Split::K8s(K8sStep::Validate(s)),
            Action::MetricsBaseline(s) => Split::Metrics(MetricsStep::Baseline(s)),
            Action::MetricsWatch(s) => Split::Metrics(MetricsStep::Watch(s)),
        }
    }
}

/// The families of kinds, the part of the name before the dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Local,
    Dns,
    K8s,
    Metrics,
    Notify,
}

impl Kind {
    /// Reads a kind's name as a runbook writes it.
    pub fn named(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Every kind's name, for help and diagnostics.
    pub fn names() -> Vec<&'static str> {
        Kind::ALL.iter().map(|k| k.name()).collect()
    }

    pub fn family(self) -> Family {
        match self.name().split_once('.').map(|(family, _)| family) {
            Some("dns") => Family::Dns,
            Some("k8s") => Family::K8s,
            Some("metrics") => Family::Metrics,
            Some("notify") => Family::Notify,
            _ => Family::Local,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Action {
    pub fn is_dns(&self) -> bool {
        self.kind().family() == Family::Dns
    }

    pub fn is_k8s(&self) -> bool {
        self.kind().family() == Family::K8s
    }

    pub fn is_metrics(&self) -> bool {
        self.kind().family() == Family::Metrics
    }

    pub fn in_doubt_policy(&self) -> InDoubtPolicy {
        self.spec().in_doubt_policy()
    }

    /// Variables this step defines for later steps.
    pub fn outputs(&self) -> Vec<&str> {
        self.spec().outputs()
    }

    /// Every template in the step, for checking which variables it needs at run time.
    pub fn templates(&self) -> Vec<&Template> {
        self.spec().templates()
    }

    /// The action with `f` applied to every template (e.g. to fill in captured values).
    pub fn map_templates(&self, f: &dyn Fn(&Template) -> Template) -> Action {
        let mut a = self.clone();
        a.spec_mut().map_templates(f);
        a
    }

    /// The environment variables whose values the step sends: secrets.
    pub fn secret_env(&self) -> Vec<&str> {
        self.spec().secret_env()
    }

    /// Whether the operator has to confirm this step by its nature (a checklist item).
    pub fn needs_operator(&self) -> bool {
        matches!(self, Action::Manual(_))
    }
}

/// An unknown `kind`, with the nearest known one.
pub fn unknown_kind(r: &Reader<'_>, kind: &str, span: super::diagnostic::Span) {
    let names = Kind::names();
    let d = Diagnostic::error(
        "unknown-kind",
        format!("unknown step kind `{kind}` in {}", r.what),
        Some(span),
    );
    let d = match super::diagnostic::did_you_mean(kind, names.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`? Known kinds: {}", names.join(", "))),
        None => d.with_help(format!("known kinds: {}", names.join(", "))),
    };
    r.sink().push(d);
}

/// Names of the fields that declare a step output, read before interpolation so that
/// `${name}` references to outputs are recognised everywhere.
pub const OUTPUT_FIELDS: &[&str] = &["capture", "output"];

/// The output names a raw step table declares, for recognising `${name}` before decoding.
pub fn declared_outputs(step: &crate::runbook::tree::Table) -> Vec<String> {
    OUTPUT_FIELDS
        .iter()
        .filter_map(|f| match step.get(f).map(|n| &n.value) {
            Some(crate::runbook::tree::Value::Str(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// A table whose values are names of environment variables.
pub(crate) fn env_names(r: &Reader<'_>, key: &'static str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in r.template_map(key) {
        match v.as_literal() {
            Some(s) if is_env_name(&s) => {
                out.insert(k, s);
            }
            _ => r.sink().push(
                Diagnostic::error(
                    "bad-env-name",
                    format!("`{key}.{k}` in {} must be the name of an environment variable", r.what),
                    r.node(key).map(|n| n.span.clone()),
                )
                .with_help(format!("write the variable's name: {key} = {{ {k} = \"API_TOKEN\" }}")),
            ),
        }
    }
    out
}

/// Letters, digits and `_`: the name of an environment variable.
pub(crate) fn is_env_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_once_and_read_back_by_its_name() {
        let names = Kind::names();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for kind in Kind::ALL {
            assert_eq!(Kind::named(kind.name()), Some(*kind));
        }
        assert_eq!(Kind::named("dns.flip").map(Kind::family), Some(Family::Dns));
        assert_eq!(Kind::named("http").map(Kind::family), Some(Family::Local));
        assert_eq!(Kind::named("dns.flop"), None);
    }
}
