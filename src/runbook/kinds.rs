//! The registry of step kinds: the fields each kind takes, their defaults, and checks.
//! Later kinds (`k8s.*`, `metrics.*`) are added here; `dns.*` live in `dns.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::diagnostic::{Diagnostic, did_you_mean};
use super::model::{Action, CommandStep, HttpCheck, ManualStep, Resolve, WaitStep};
use super::reader::Reader;
use super::template::output_name_problem;
use super::tree::Value;

pub const KINDS: &[&str] = &[
    "manual",
    "command",
    "wait",
    "http",
    "dns.check",
    "dns.lower_ttl",
    "dns.flip",
    "dns.verify",
    "dns.revert",
    "dns.restore_ttl",
    "k8s.rollout",
    "k8s.smoke",
    "k8s.expose",
    "k8s.scale",
    "k8s.validate",
    "metrics.baseline",
    "metrics.watch",
];

pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// Names of the fields that declare a step output, read before interpolation so that
/// `${name}` references to outputs are recognised everywhere.
pub const OUTPUT_FIELDS: &[&str] = &["capture", "output"];

pub fn unknown_kind(r: &Reader<'_>, kind: &str, span: super::diagnostic::Span) {
    let d = Diagnostic::error(
        "unknown-kind",
        format!("unknown step kind `{kind}` in {}", r.what),
        Some(span),
    );
    let d = match did_you_mean(kind, KINDS.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`? Known kinds: {}", KINDS.join(", "))),
        None => d.with_help(format!("known kinds: {}", KINDS.join(", "))),
    };
    r.sink().push(d);
}

/// Reads the kind-specific fields of a step.
pub fn decode_action(kind: &str, r: &Reader<'_>) -> Option<Action> {
    match kind {
        "manual" => manual(r).map(Action::Manual),
        "command" => command(r).map(Action::Command),
        "wait" => Some(Action::Wait(WaitStep {
            duration: r.duration("duration"),
        })),
        "http" => http(r).map(Action::Http),
        k if k.starts_with("dns.") => super::dns::decode_step(k, r),
        k if k.starts_with("k8s.") => super::k8s::decode_step(k, r),
        k if k.starts_with("metrics.") => super::metrics::decode_step(k, r),
        _ => None,
    }
}

fn manual(r: &Reader<'_>) -> Option<ManualStep> {
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

fn command(r: &Reader<'_>) -> Option<CommandStep> {
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

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn http(r: &Reader<'_>) -> Option<HttpCheck> {
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
    let headers_env = string_map(r, "headers_env");
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
    // A retry sends the request again: after a timeout the first one may have acted.
    if check.retries > 0 && !check.safe_method() && !check.idempotent {
        r.sink().push(
            Diagnostic::error(
                "retries-not-idempotent",
                format!(
                    "`retries` in {} would send the {} again after a failure, though the first may have acted",
                    r.what, check.method
                ),
                r.node("retries").map(|n| n.span.clone()),
            )
            .with_help(format!(
                "only a request safe to repeat is retried: write idempotent = true if sending the {} twice is \
                 harmless, or leave retries out",
                check.method
            )),
        );
    }
    Some(check)
}

/// A table whose values are plain strings (e.g. environment variable names).
fn string_map(r: &Reader<'_>, key: &'static str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in r.template_map(key) {
        match v.as_literal() {
            Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
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

/// The output names a raw step table declares, for recognising `${name}` before decoding.
pub fn declared_outputs(step: &super::tree::Table) -> Vec<String> {
    OUTPUT_FIELDS
        .iter()
        .filter_map(|f| match step.get(f).map(|n| &n.value) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}
