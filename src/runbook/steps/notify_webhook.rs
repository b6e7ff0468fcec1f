//! `notify.webhook`: posts a JSON message to a webhook (a chat channel, a bridge bot, an
//! incident tool). The URL comes from the environment and is a secret: Slack and Teams
//! webhook URLs carry their own credential, so it is masked everywhere and never journaled.
//!
//! ```toml
//! [[phase.step]]
//! id = "tell-bridge"
//! kind = "notify.webhook"
//! url_env = "BRIDGE_WEBHOOK_URL"
//! message = "DNS for www.shop.example now points at ${lb_ip}"
//! ```
//!
//! The body is `{"text": message, "run": …, "runbook": …, "step": …, "rehearsal": …}`: the
//! `text` field is what Slack's incoming webhooks and most chat bridges show.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::{DEFAULT_HTTP_TIMEOUT, DEFAULT_RETRY_INTERVAL, refuse_retries_unless_repeatable};
use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::{format as dur, serde_text};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyWebhookStep {
    /// The environment variable that holds the webhook's URL (a secret).
    pub url_env: String,
    /// The message, `${var}` filled in.
    pub message: Template,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// Header values read from environment variables (an `Authorization` token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(with = "serde_text")]
    pub retry_interval: Duration,
    /// Posting the message twice is harmless (the receiver drops duplicates, or a second
    /// message does no harm): then it is sent again after a crash, and may be retried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

impl StepKind for NotifyWebhookStep {
    fn schema() -> Table {
        Table::new("Posts a JSON message to a webhook")
            .required(
                "url_env",
                s::env_name("The environment variable that holds the webhook's URL (a secret)", "BRIDGE_WEBHOOK_URL"),
            )
            .required("message", s::string("The message; `${var}` filled in", "DNS for api.example.com now points at the cluster"))
            .field(
                "timeout",
                s::duration(&format!("How long one request may take. Default: {}", dur(DEFAULT_HTTP_TIMEOUT)), "10s"),
            )
            .field(
                "headers_env",
                s::env_table(
                    "Headers whose values come from environment variables: header name → variable name",
                    serde_json::json!({ "Authorization": "BRIDGE_TOKEN" }),
                ),
            )
            .field(
                "retries",
                s::int(0, 100, "How many times a failed post is tried again (only when idempotent). Default: 0", 2),
            )
            .field(
                "retry_interval",
                s::duration(&format!("The pause between tries. Default: {}", dur(DEFAULT_RETRY_INTERVAL)), "2s"),
            )
            .field(
                "idempotent",
                s::boolean("Posting the message twice is harmless: it is sent again after a crash and may be retried. Default: false", true),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        let url_env = r.required_string("url_env", "\"BRIDGE_WEBHOOK_URL\"");
        if let Some((name, span)) = &url_env
            && !super::is_env_name(name)
        {
            r.sink().push(
                Diagnostic::error(
                    "bad-env-name",
                    format!("`url_env` in {} must be the name of an environment variable", r.what),
                    Some(span.clone()),
                )
                .with_help(
                    "the URL of a webhook is a secret: export it (export BRIDGE_WEBHOOK_URL=https://…) and name \
                     the variable here, url_env = \"BRIDGE_WEBHOOK_URL\"",
                ),
            );
        }
        let message = r.required_template("message", "\"DNS for www.shop.example now points at ${lb_ip}\"");
        let step = NotifyWebhookStep {
            url_env: url_env?.0,
            message: message?.0,
            timeout: r.duration("timeout").unwrap_or(DEFAULT_HTTP_TIMEOUT),
            headers_env: super::env_names(r, "headers_env"),
            retries: r.int("retries", 0, 100).unwrap_or(0) as u32,
            retry_interval: r.duration("retry_interval").unwrap_or(DEFAULT_RETRY_INTERVAL),
            idempotent: r.bool("idempotent").unwrap_or(false),
        };
        refuse_retries_unless_repeatable(r, step.retries, step.idempotent, "POST");
        Some(step)
    }
}

impl StepSpec for NotifyWebhookStep {
    fn describe(&self, _: &Runbook, lines: &mut Vec<String>) {
        lines.push(format!(
            "posts a JSON message to the webhook in ${} (the URL is a secret, not shown)",
            self.url_env
        ));
        lines.push(format!("message: {}", self.message));
        for (name, var) in &self.headers_env {
            lines.push(format!("header {name}: from ${var} (not shown)"));
        }
        let mut limits = format!("timeout {}; any 2xx answer is success", dur(self.timeout));
        if self.retries > 0 {
            limits.push_str(&format!(
                ", {} retries {} apart",
                self.retries,
                dur(self.retry_interval)
            ));
        }
        limits.push_str(match self.in_doubt_policy() {
            InDoubtPolicy::Rerun => ", idempotent (sent again after a crash)",
            InDoubtPolicy::AskOperator => ", not idempotent (after a crash the operator says whether it was sent)",
        });
        lines.push(limits);
    }

    fn templates(&self) -> Vec<&Template> {
        vec![&self.message]
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.message = f(&self.message);
    }

    no_outputs!();

    fn secret_env(&self) -> Vec<&str> {
        std::iter::once(self.url_env.as_str())
            .chain(self.headers_env.values().map(String::as_str))
            .collect()
    }

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // A POST: after a crash it may or may not have reached the receiver.
        if self.idempotent {
            InDoubtPolicy::Rerun
        } else {
            InDoubtPolicy::AskOperator
        }
    }
}
