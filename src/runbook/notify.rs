//! The `[notify]` section: who hears of the run's milestones (the bridge channel, the
//! on-call rotation), in which format, and for which events. What is sent and how is in
//! `crate::notify`; this file reads the section and says what is wrong with it, at its
//! line and column.
//!
//! ```toml
//! [notify]
//! dashboard = "https://grafana.example/d/shop"   # optional: linked in every message
//! [[notify.target]]
//! name = "bridge"
//! kind = "slack"                  # slack | teams | webhook | pagerduty
//! url_env = "BRIDGE_SLACK_URL"    # the webhook's URL is a secret: only its variable is named
//! events = ["flip", "breach", "rollback_started", "rollback_completed"]
//! [[notify.target]]
//! name = "oncall"
//! kind = "pagerduty"
//! routing_key_env = "PD_ROUTING_KEY"
//! ```
//!
//! `[env.NAME.notify]` overrides keys of `[notify]`; `[[env.NAME.notify.target]]` replaces
//! the whole list of targets for that environment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, did_you_mean};
use super::duration::serde_text;
use super::reader::Reader;
use super::schema::{self as s, Table};
use super::steps::{env_names, is_env_name};
use serde_json::json;

/// How long one request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per message (the first and the retries).
pub const DEFAULT_ATTEMPTS: u32 = 4;
/// The wait before the first retry; it doubles after each (up to `MAX_BACKOFF`).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a session that ends waits for messages still being sent.
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(5);
/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyConfig {
    /// A dashboard linked in every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    pub attempts: u32,
    #[serde(with = "serde_text")]
    pub backoff: Duration,
    #[serde(with = "serde_text")]
    pub flush: Duration,
    pub targets: Vec<NotifyTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyTarget {
    pub name: String,
    pub kind: NotifyKind,
    /// The variable holding the URL (Slack, Teams, webhook): a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// A URL that is no secret (PagerDuty's endpoint, by default `PAGERDUTY_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PagerDuty: the variable holding the integration (routing) key, a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key_env: Option<String>,
    /// A generic webhook's headers: header → variable (an `Authorization` token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    /// The events this target hears of.
    pub events: Vec<NotifyEvent>,
}

impl NotifyTarget {
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }

    /// Every environment variable it reads: all of them hold secrets.
    pub fn secret_env(&self) -> Vec<&str> {
        self.url_env
            .iter()
            .chain(self.routing_key_env.iter())
            .chain(self.headers_env.values())
            .map(String::as_str)
            .collect()
    }
}

impl NotifyConfig {
    /// Every environment variable the section reads.
    pub fn secret_env(&self) -> Vec<&str> {
        self.targets.iter().flat_map(NotifyTarget::secret_env).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    /// A Slack incoming webhook: `text` and `blocks`.
    Slack,
    /// A Microsoft Teams Workflows webhook: a message with an Adaptive Card.
    Teams,
    /// Any receiver: cutover's own JSON object (see `crate::notify::body::webhook`).
    Webhook,
    /// PagerDuty's Events API v2.
    Pagerduty,
}

impl NotifyKind {
    pub const ALL: [NotifyKind; 4] = [
        NotifyKind::Slack,
        NotifyKind::Teams,
        NotifyKind::Webhook,
        NotifyKind::Pagerduty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyKind::Slack => "slack",
            NotifyKind::Teams => "teams",
            NotifyKind::Webhook => "webhook",
            NotifyKind::Pagerduty => "pagerduty",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The milestones a target can hear of, as the runbook names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    RunStarted,
    ApprovalWaiting,
    GateOpened,
    Flip,
    Breach,
    RollbackStarted,
    RollbackCompleted,
    RcaAttached,
    HoldReached,
    Completed,
    Takeover,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 11] = [
        NotifyEvent::RunStarted,
        NotifyEvent::ApprovalWaiting,
        NotifyEvent::GateOpened,
        NotifyEvent::Flip,
        NotifyEvent::Breach,
        NotifyEvent::RollbackStarted,
        NotifyEvent::RollbackCompleted,
        NotifyEvent::RcaAttached,
        NotifyEvent::HoldReached,
        NotifyEvent::Completed,
        NotifyEvent::Takeover,
    ];

    /// What a PagerDuty target hears of when the runbook does not say: what pages, and what
    /// resolves it. The other kinds hear of everything.
    pub const PAGING: [NotifyEvent; 4] = [
        NotifyEvent::Breach,
        NotifyEvent::RollbackStarted,
        NotifyEvent::RollbackCompleted,
        NotifyEvent::Completed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::RunStarted => "run_started",
            NotifyEvent::ApprovalWaiting => "approval_waiting",
            NotifyEvent::GateOpened => "gate_opened",
            NotifyEvent::Flip => "flip",
            NotifyEvent::Breach => "breach",
            NotifyEvent::RollbackStarted => "rollback_started",
            NotifyEvent::RollbackCompleted => "rollback_completed",
            NotifyEvent::RcaAttached => "rca_attached",
            NotifyEvent::HoldReached => "hold_reached",
            NotifyEvent::Completed => "completed",
            NotifyEvent::Takeover => "takeover",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn is_http_url(text: &str) -> bool {
    matches!(reqwest::Url::parse(text), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Reads `[notify]`.
pub fn section(r: &Reader<'_>) -> Option<NotifyConfig> {
    let dashboard = r.string("dashboard");
    if let Some((url, span)) = &dashboard
        && !is_http_url(url)
    {
        r.sink().push(
            Diagnostic::error(
                "bad-url",
                format!("`dashboard` in [notify] is `{url}`, not an http(s) URL"),
                Some(span.clone()),
            )
            .with_help("write the dashboard's full address, e.g. dashboard = \"https://grafana.example/d/shop\""),
        );
    }
    let timeout = r.duration("timeout").unwrap_or(DEFAULT_TIMEOUT);
    let attempts = r.int("attempts", 1, 20).unwrap_or(i64::from(DEFAULT_ATTEMPTS)) as u32;
    let backoff = r.duration("backoff").unwrap_or(DEFAULT_BACKOFF);
    let flush = r.duration("flush").unwrap_or(DEFAULT_FLUSH);
    for (key, value) in [("timeout", timeout), ("flush", flush)] {
        if value.is_zero() {
            r.sink().push(
                Diagnostic::error(
                    "bad-duration",
                    format!("`{key}` in [notify] is 0s"),
                    r.table.get(key).map(|n| n.span.clone()),
                )
                .with_help(format!(
                    "leave `{key}` out for the default, or give it a length, e.g. \"5s\""
                )),
            );
        }
    }
    let tables = r.tables("target");
    if tables.is_empty() && r.table.get("target").is_none() {
        r.sink().push(
            Diagnostic::error("no-targets", "[notify] has no [[notify.target]]", Some(r.span.clone())).with_help(
                "add who hears of the run:\n[[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\nurl_env = \"BRIDGE_SLACK_URL\"",
            ),
        );
    }
    let mut targets: Vec<NotifyTarget> = Vec::new();
    let mut ok = true;
    for (table, span) in tables {
        let mut t = Reader::new(table, span, "a [[notify.target]]", r.sink());
        match target(&mut t) {
            Some((target, name_span)) => {
                if targets.iter().any(|o| o.name == target.name) {
                    r.sink().push(
                        Diagnostic::error(
                            "duplicate-target",
                            format!("two notify targets are named `{}`", target.name),
                            Some(name_span),
                        )
                        .with_help("give each target its own name: the journal and the export name them"),
                    );
                    ok = false;
                }
                targets.push(target);
            }
            None => ok = false,
        }
        t.finish();
    }
    ok.then_some(NotifyConfig {
        dashboard: dashboard.map(|(d, _)| d),
        timeout,
        attempts,
        backoff,
        flush,
        targets,
    })
}

fn target(t: &mut Reader<'_>) -> Option<(NotifyTarget, super::diagnostic::Span)> {
    let sink = t.sink();
    let name = t.required_string("name", "\"bridge\"");
    if let Some((n, _)) = &name {
        t.what = format!("notify target `{n}`");
    }
    let t: &Reader<'_> = t;
    let t_what = t.what.clone();
    if let Some((n, span)) = &name {
        if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            sink.push(
                Diagnostic::error("bad-name", format!("notify target name `{n}`"), Some(span.clone()))
                    .with_help("a target's name is letters, digits, `-` and `_`, e.g. name = \"bridge\""),
            );
        }
    }
    let kinds: Vec<&str> = NotifyKind::ALL.iter().map(|k| k.name()).collect();
    let kind = match t.required_string("kind", "\"slack\" (or teams, webhook, pagerduty)") {
        Some((k, span)) => match NotifyKind::named(&k) {
            Some(kind) => Some(kind),
            None => {
                let d = Diagnostic::error(
                    "unknown-kind",
                    format!("`kind` in {t_what} is `{k}`, not a kind of notify target"),
                    Some(span),
                );
                sink.push(match did_you_mean(&k, kinds.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`? Kinds: {}", kinds.join(", "))),
                    None => d.with_help(format!("kinds: {}", kinds.join(", "))),
                });
                None
            }
        },
        None => None,
    };
    let env_field = |key: &'static str| {
        let (var, span) = t.string(key)?;
        if is_env_name(&var) {
            return Some((var, span));
        }
        sink.push(
            Diagnostic::error(
                "bad-env-name",
                format!("`{key}` in {t_what} must be the name of an environment variable"),
                Some(span),
            )
            .with_help(format!(
                "the value is a secret: export it (export BRIDGE_SLACK_URL=https://…) and name the variable here, {key} = \"BRIDGE_SLACK_URL\""
            ))
            .masking_the_value(),
        );
        None
    };
    let url_env = env_field("url_env");
    let routing_key_env = env_field("routing_key_env");
    let url = t.string("url");
    let headers_env = env_names(t, "headers_env");
    let ok = std::cell::Cell::new(true);
    let refuse = |key: &str, why: String| {
        ok.set(false);
        sink.push(
            Diagnostic::error("bad-field", format!("`{key}` in {t_what}: {why}"), t.key_span(key)).with_help(why),
        );
    };
    match kind {
        Some(NotifyKind::Pagerduty) => {
            if routing_key_env.is_none() && t.table.get("routing_key_env").is_none() {
                ok.set(false);
                t.missing(
                    "routing_key_env",
                    "\"PD_ROUTING_KEY\" (the integration key, from the environment)",
                );
            }
            if t.table.get("url_env").is_some() {
                refuse(
                    "url_env",
                    "a PagerDuty target posts to the Events API (`url`, by default its public endpoint); its secret is the routing key".to_string(),
                );
            }
            if let Some((u, span)) = &url
                && !is_http_url(u)
            {
                ok.set(false);
                sink.push(
                    Diagnostic::error(
                        "bad-url",
                        format!("`url` in {t_what} is `{u}`, not an http(s) URL"),
                        Some(span.clone()),
                    )
                    .with_help(format!("leave it out for PagerDuty's endpoint ({PAGERDUTY_URL})")),
                );
            }
        }
        Some(k) => {
            if t.table.get("url_env").is_none() {
                ok.set(false);
                t.missing(
                    "url_env",
                    "\"BRIDGE_SLACK_URL\" (the variable that holds the webhook's URL)",
                );
            }
            if t.table.get("url").is_some() {
                refuse(
                    "url",
                    format!(
                        "a {} webhook's URL carries its own credential: export it and name the variable with url_env",
                        k.name()
                    ),
                );
            }
            if t.table.get("routing_key_env").is_some() {
                refuse(
                    "routing_key_env",
                    "only a PagerDuty target has a routing key".to_string(),
                );
            }
        }
        None => {}
    }
    if !headers_env.is_empty() && kind.is_some_and(|k| k != NotifyKind::Webhook) {
        refuse(
            "headers_env",
            "only a generic `webhook` target sends headers".to_string(),
        );
    }
    let events = match t.node("events") {
        None => match kind {
            Some(NotifyKind::Pagerduty) => NotifyEvent::PAGING.to_vec(),
            _ => NotifyEvent::ALL.to_vec(),
        },
        Some(node) => {
            let listed = t.string_list("events");
            if listed.is_empty() && matches!(node.value, super::tree::Value::Array(_)) {
                ok.set(false);
                sink.push(
                    Diagnostic::error(
                        "no-events",
                        format!("`events` in {t_what} is empty"),
                        Some(node.span.clone()),
                    )
                    .with_help("leave `events` out for every event, or name some"),
                );
            }
            let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.name()).collect();
            let mut events = Vec::new();
            for (e, span) in listed {
                match NotifyEvent::named(&e) {
                    Some(ev) if !events.contains(&ev) => events.push(ev),
                    Some(_) => {}
                    None => {
                        ok.set(false);
                        let d = Diagnostic::error(
                            "unknown-event",
                            format!("`{e}` in `events` of {t_what} is not an event"),
                            Some(span),
                        );
                        sink.push(match did_you_mean(&e, names.iter().copied()) {
                            Some(s) => d.with_help(format!("did you mean `{s}`? Events: {}", names.join(", "))),
                            None => d.with_help(format!("events: {}", names.join(", "))),
                        });
                    }
                }
            }
            events
        }
    };
    let (name, name_span) = name?;
    let kind = kind?;
    if !ok.get() {
        return None;
    }
    let url_env = match kind {
        NotifyKind::Pagerduty => None,
        _ => Some(url_env?.0),
    };
    let routing_key_env = match kind {
        NotifyKind::Pagerduty => Some(routing_key_env?.0),
        _ => None,
    };
    Some((
        NotifyTarget {
            name,
            kind,
            url_env,
            url: url.map(|(u, _)| u),
            routing_key_env,
            headers_env,
            events,
        },
        name_span,
    ))
}

/// `[notify]` in the runbook's JSON Schema.
pub(crate) fn schema() -> Table {
    use super::duration::format as dur;
    let events: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.name()).collect();
    let paging: Vec<&str> = NotifyEvent::PAGING.iter().map(|e| e.name()).collect();
    let url_env = s::env_name(
        "The environment variable that holds the webhook's URL (a secret)",
        "BRIDGE_SLACK_URL",
    );
    let kinds = NotifyKind::ALL
        .iter()
        .map(|k| {
            let t = Table::new(format!("A {} target", k.name()));
            let t = match k {
                NotifyKind::Pagerduty => t
                    .required(
                        "routing_key_env",
                        s::env_name(
                            "The environment variable that holds the integration's routing key",
                            "PD_ROUTING_KEY",
                        ),
                    )
                    .field(
                        "url",
                        s::string(
                            &format!("The Events API endpoint. Default: {PAGERDUTY_URL}"),
                            PAGERDUTY_URL,
                        ),
                    ),
                NotifyKind::Webhook => t.required("url_env", url_env.clone()).field(
                    "headers_env",
                    s::env_table(
                        "Headers whose values come from environment variables: name → variable",
                        json!({"Authorization": "HOOK_TOKEN"}),
                    ),
                ),
                NotifyKind::Slack | NotifyKind::Teams => t.required("url_env", url_env.clone()),
            };
            (k.name(), t)
        })
        .collect();
    let target = Table::new("Who hears of the run: a chat channel, a webhook or PagerDuty")
        .required(
            "name",
            s::matching(
                "[A-Za-z0-9_-]+",
                "The target's name, as the journal and the export show it",
                "bridge",
            ),
        )
        .field("kind", s::string("What the target is", "slack"))
        .field(
            "events",
            json!({
                "type": "array",
                "description": format!(
                    "The events sent to it. Default: every event ({}); PagerDuty: {}",
                    events.join(", "),
                    paging.join(", ")
                ),
                "items": {"enum": events},
                "minItems": 1,
                "examples": [["flip", "breach", "rollback_started", "rollback_completed"]],
            }),
        )
        .variants("kind", None, kinds);
    let mut target = target;
    target = target.rule(json!({"required": ["kind"]}));
    Table::new("Who hears of the run's milestones (the bridge channel, the on-call rotation)")
        .field(
            "dashboard",
            s::string(
                "A dashboard linked in every message",
                "https://grafana.example.com/d/shop",
            ),
        )
        .field(
            "timeout",
            s::duration(
                &format!("How long one request may take. Default: {}", dur(DEFAULT_TIMEOUT)),
                "5s",
            ),
        )
        .field(
            "attempts",
            s::int(
                1,
                20,
                &format!("Tries per message, the first included. Default: {DEFAULT_ATTEMPTS}"),
                4,
            ),
        )
        .field(
            "backoff",
            s::duration(
                &format!(
                    "The wait before the first retry; it doubles after each (up to {}). Default: {}",
                    dur(MAX_BACKOFF),
                    dur(DEFAULT_BACKOFF)
                ),
                "1s",
            ),
        )
        .field(
            "flush",
            s::duration(
                &format!(
                    "How long a session that ends waits for messages still being sent. Default: {}",
                    dur(DEFAULT_FLUSH)
                ),
                "5s",
            ),
        )
        .required("target", s::tables("[[notify.target]]: who hears of the run", target))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn load(notify: &str) -> Result<crate::runbook::Loaded, String> {
        let text = format!(
            "[runbook]\nname = \"n\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n{notify}"
        );
        crate::runbook::load_str(Path::new("rb.toml"), &text, None).map_err(|e| e.to_string())
    }

    #[test]
    fn targets_are_read_with_their_defaults() {
        let loaded = load(
            "[notify]\ndashboard = \"https://grafana.example/d/shop\"\n[[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\n\
             url_env = \"BRIDGE_URL\"\nevents = [\"flip\", \"breach\"]\n[[notify.target]]\nname = \"oncall\"\nkind = \"pagerduty\"\n\
             routing_key_env = \"PD_KEY\"\n",
        )
        .unwrap();
        let n = loaded.runbook.notify.unwrap();
        assert_eq!(n.dashboard.as_deref(), Some("https://grafana.example/d/shop"));
        assert_eq!(n.attempts, super::DEFAULT_ATTEMPTS);
        assert_eq!(
            n.targets[0].events,
            vec![super::NotifyEvent::Flip, super::NotifyEvent::Breach]
        );
        assert_eq!(n.targets[1].events, super::NotifyEvent::PAGING.to_vec());
        assert_eq!(n.targets[1].routing_key_env.as_deref(), Some("PD_KEY"));
        assert_eq!(n.secret_env(), vec!["BRIDGE_URL", "PD_KEY"]);
    }

    #[test]
    fn mistakes_are_reported_at_their_place() {
        let err = load(
            "[notify]\n[[notify.target]]\nname = \"bridge\"\nkind = \"slak\"\nurl_env = \"X\"\n[[notify.target]]\nname = \"b\"\n\
             kind = \"slack\"\nurl_env = \"https://hooks.slack.com/services/T/B/secret\"\nevents = [\"flipp\"]\n\
             [[notify.target]]\nname = \"pd\"\nkind = \"pagerduty\"\n",
        )
        .unwrap_err();
        assert!(err.contains("--> rb.toml:11:8"), "{err}");
        assert!(err.contains("--> rb.toml:17:11"), "{err}");
        assert!(err.contains("`kind` in notify target `bridge` is `slak`"), "{err}");
        assert!(err.contains("did you mean `slack`?"), "{err}");
        assert!(
            err.contains("`url_env` in notify target `b` must be the name of an environment variable"),
            "{err}"
        );
        assert!(
            !err.contains("hooks.slack.com/services/T/B/secret"),
            "the value is masked: {err}"
        );
        assert!(
            err.contains("`flipp` in `events` of notify target `b` is not an event"),
            "{err}"
        );
        assert!(err.contains("did you mean `flip`?"), "{err}");
        assert!(err.contains("notify target `pd` has no `routing_key_env`"), "{err}");
    }

    #[test]
    fn a_slack_url_written_inline_is_refused() {
        let err =
            load("[notify]\n[[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\nurl = \"https://x.example/h\"\n")
                .unwrap_err();
        assert!(err.contains("has no `url_env`"), "{err}");
        assert!(err.contains("carries its own credential"), "{err}");
        let err = load("[notify]\n").unwrap_err();
        assert!(err.contains("[notify] has no [[notify.target]]"), "{err}");
    }

    #[test]
    fn an_environment_replaces_the_targets() {
        let text = "[runbook]\nname = \"n\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"wait\"\n\
                    [notify]\n[[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\nurl_env = \"A\"\n\
                    [env.staging.vars]\n[env.prod.notify]\ndashboard = \"https://d.example/prod\"\n\
                    [[env.prod.notify.target]]\nname = \"oncall\"\nkind = \"pagerduty\"\nrouting_key_env = \"PD\"\n";
        let prod = crate::runbook::load_str(Path::new("rb.toml"), text, Some("prod")).unwrap();
        let n = prod.runbook.notify.unwrap();
        assert_eq!(n.targets.len(), 1);
        assert_eq!(n.targets[0].name, "oncall");
        assert_eq!(n.dashboard.as_deref(), Some("https://d.example/prod"));
        let staging = crate::runbook::load_str(Path::new("rb.toml"), text, Some("staging")).unwrap();
        assert_eq!(staging.runbook.notify.unwrap().targets[0].name, "bridge");
    }
}
