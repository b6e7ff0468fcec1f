//! `http`: a request and what its answer must be (status, latency, body), maybe pinned to
//! an address (`resolve`), with headers from the runbook or from the environment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{StepKind, StepSpec};
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::duration::{format as dur, serde_text, serde_text_opt};
use crate::runbook::model::{InDoubtPolicy, Runbook};
use crate::runbook::reader::Reader;
use crate::runbook::schema::{self as s, Table};
use crate::runbook::template::Template;

pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub method: String,
    pub url: Template,
    pub expect_status: u16,
    #[serde(default, with = "serde_text_opt", skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<Resolve>,
    #[serde(with = "serde_text")]
    pub timeout: Duration,
    /// Header values written in the runbook (never secrets: validation refuses those).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Template>,
    /// Header values read from environment variables at run time (secrets go here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    #[serde(default)]
    pub retries: u32,
    #[serde(with = "serde_text")]
    pub retry_interval: Duration,
    /// Safe to send again when a crash leaves it unknown whether it was sent (GET, HEAD and
    /// OPTIONS always are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

impl HttpCheck {
    /// GET, HEAD and OPTIONS only read: sending them again (or in a dry run) changes nothing.
    pub fn safe_method(&self) -> bool {
        matches!(self.method.to_ascii_uppercase().as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// Pins a hostname to an address for one check, like `curl --resolve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    pub host: String,
    pub to: Template,
}

impl StepKind for HttpCheck {
    fn schema() -> Table {
        Table::new("An HTTP request and what its answer must be")
            .required("url", s::string("The full http(s) URL; `${var}` filled in", "https://api.example.com/health"))
            .field("method", s::words(METHODS, "The request method. Default: GET", "GET"))
            .field(
                "resolve",
                s::table(
                    Table::new("Pins the URL's host to an address for this request, like `curl --resolve` (DNS is not asked)")
                        .required("host", s::string("The URL's host name", "api.example.com"))
                        .required("to", s::string("The address to connect to; `${var}` filled in (e.g. a captured load balancer address)", "192.0.2.20")),
                ),
            )
            .field(
                "headers_env",
                s::env_table(
                    "Headers whose values come from environment variables (secrets go here): header name → variable name",
                    serde_json::json!({ "Authorization": "API_TOKEN" }),
                ),
            )
            .field("expect_status", s::int(100, 599, "The HTTP status that means success. Default: 200", 200))
            .field("max_latency", s::duration("The answer must come within this long", "500ms"))
            .field("body_contains", s::string("Text the answer's body must contain; `${var}` filled in", "ok"))
            .field(
                "timeout",
                s::duration(&format!("How long one request may take. Default: {}", dur(DEFAULT_HTTP_TIMEOUT)), "10s"),
            )
            .field(
                "headers",
                s::string_table(
                    "Headers written in the runbook (never secrets: use headers_env): name → value",
                    serde_json::json!({ "Accept": "application/json" }),
                ),
            )
            .field(
                "retries",
                s::int(0, 100, "How many times a failed request is tried again (only a GET, HEAD, OPTIONS or an idempotent request). Default: 0", 3),
            )
            .field(
                "retry_interval",
                s::duration(&format!("The pause between tries. Default: {}", dur(DEFAULT_RETRY_INTERVAL)), "2s"),
            )
            .field(
                "idempotent",
                s::boolean("Sending it twice is harmless: it is sent again after a crash and may be retried. Default: false (GET, HEAD and OPTIONS always are)", true),
            )
    }

    fn decode(r: &Reader<'_>) -> Option<Self> {
        decode_http(r)
    }
}

impl StepSpec for HttpCheck {
    fn describe(&self, _: &Runbook, lines: &mut Vec<String>) {
        let mut check = format!("{} {} → expects HTTP {}", self.method, self.url, self.expect_status);
        if let Some(l) = self.max_latency {
            check.push_str(&format!(" within {}", dur(l)));
        }
        lines.push(check);
        if let Some(b) = &self.body_contains {
            lines.push(format!("body contains \"{b}\""));
        }
        if let Some(r) = &self.resolve {
            lines.push(format!("resolves {} to {} (DNS is not asked)", r.host, r.to));
        }
        for (name, value) in &self.headers {
            lines.push(format!("header {name}: {value}"));
        }
        for (name, var) in &self.headers_env {
            lines.push(format!("header {name}: from ${var} (not shown)"));
        }
        let mut limits = format!("timeout {}", dur(self.timeout));
        if self.retries > 0 {
            limits.push_str(&format!(
                ", {} retries {} apart",
                self.retries,
                dur(self.retry_interval)
            ));
        }
        if !self.safe_method() {
            limits.push_str(match self.in_doubt_policy() {
                InDoubtPolicy::Rerun => ", idempotent (sent again after a crash)",
                InDoubtPolicy::AskOperator => ", not idempotent (after a crash the operator says whether it was sent)",
            });
        }
        lines.push(limits);
    }

    fn templates(&self) -> Vec<&Template> {
        let mut all = vec![&self.url];
        all.extend(self.body_contains.iter());
        all.extend(self.resolve.iter().map(|r| &r.to));
        all.extend(self.headers.values());
        all
    }

    fn map_templates(&mut self, f: &dyn Fn(&Template) -> Template) {
        self.url = f(&self.url);
        self.body_contains = self.body_contains.as_ref().map(f);
        if let Some(r) = &mut self.resolve {
            r.to = f(&r.to);
        }
        for v in self.headers.values_mut() {
            *v = f(v);
        }
    }

    no_outputs!();

    fn secret_env(&self) -> Vec<&str> {
        self.headers_env.values().map(String::as_str).collect()
    }

    fn in_doubt_policy(&self) -> InDoubtPolicy {
        // A request that is not a read may have been acted on (a POST that was sent and
        // killed before its answer): only the operator can say.
        if self.idempotent || self.safe_method() {
            InDoubtPolicy::Rerun
        } else {
            InDoubtPolicy::AskOperator
        }
    }
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn decode_http(r: &Reader<'_>) -> Option<HttpCheck> {
    let url = r.required_template("url", "\"https://api.example.com/health/readiness\"");
    if let Some((url, span)) = &url
        && let Some(literal) = url.as_literal()
    {
        match reqwest::Url::parse(&literal) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => r.sink().push(
                Diagnostic::error(
                    "bad-url",
                    format!("`url` in {} is not an http(s) URL: `{literal}`", r.what),
                    Some(span.clone()),
                )
                .with_help("write a full URL, e.g. url = \"https://api.example.com/health\""),
            ),
        }
    }
    let method = match r.string("method") {
        None => "GET".to_string(),
        Some((m, span)) => {
            let upper = m.to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                r.sink().push(
                    Diagnostic::error("bad-value", format!("`method` in {} is `{m}`", r.what), Some(span))
                        .with_help(format!("use one of {}", METHODS.join(", "))),
                );
            }
            upper
        }
    };
    let resolve = r.table("resolve", format!("`resolve` of {}", r.what)).and_then(|t| {
        let host = t.required_string("host", "\"api.example.com\"");
        let to = t.required_template("to", "\"${lb_ip}\"");
        t.finish();
        let (host, host_span) = host?;
        Some((Resolve { host, to: to?.0 }, host_span))
    });
    if let (Some((url, url_span)), Some((res, host_span))) = (&url, &resolve)
        && let Some(literal) = url.as_literal()
        && let Ok(u) = reqwest::Url::parse(&literal)
        && u.host_str() != Some(res.host.as_str())
    {
        let url_host = u.host_str().unwrap_or("");
        r.sink().push(
            Diagnostic::error(
                "resolve-host-mismatch",
                format!(
                    "`resolve.host` is `{}` but the URL's host is `{url_host}`: the pin would have no effect",
                    res.host
                ),
                Some(host_span.clone()),
            )
            .with_related(url_span.clone(), "the URL is")
            .with_help(format!("pin the URL's host: host = \"{url_host}\"")),
        );
    }
    let resolve = resolve.map(|(r, _)| r);
    let headers_env = super::env_names(r, "headers_env");
    let check = HttpCheck {
        method,
        url: url?.0,
        expect_status: r.int("expect_status", 100, 599).unwrap_or(200) as u16,
        max_latency: r.duration("max_latency"),
        body_contains: r.template("body_contains").map(|(t, _)| t),
        resolve,
        timeout: r.duration("timeout").unwrap_or(DEFAULT_HTTP_TIMEOUT),
        headers: r.template_map("headers"),
        headers_env,
        retries: r.int("retries", 0, 100).unwrap_or(0) as u32,
        retry_interval: r.duration("retry_interval").unwrap_or(DEFAULT_RETRY_INTERVAL),
        idempotent: r.bool("idempotent").unwrap_or(false),
    };
    refuse_retries_unless_repeatable(r, check.retries, check.safe_method() || check.idempotent, &check.method);
    Some(check)
}

/// A retry sends the request again: after a timeout the first one may have acted. Only a
/// request safe to repeat (a read, or one the runbook says is idempotent) is retried.
pub(crate) fn refuse_retries_unless_repeatable(r: &Reader<'_>, retries: u32, repeatable: bool, method: &str) {
    if retries == 0 || repeatable {
        return;
    }
    r.sink().push(
        Diagnostic::error(
            "retries-not-idempotent",
            format!(
                "`retries` in {} would send the {method} again after a failure, though the first may have acted",
                r.what
            ),
            r.node("retries").map(|n| n.span.clone()),
        )
        .with_help(format!(
            "only a request safe to repeat is retried: write idempotent = true if sending the {method} twice is \
             harmless, or leave retries out"
        )),
    );
}
