//! The `[metrics]` section, and what the `metrics.*` step kinds (in `steps/`) share.

use std::collections::BTreeMap;
use std::time::Duration;

use super::diagnostic::{Diagnostic, Span};
use super::model::{Increase, MetricQuery, MetricsConfig, OnBreach, Runbook};
use super::reader::Reader;
use super::schema::{self as s, Table};
use super::tree::Value;
use serde_json::json;

pub const DEFAULT_MAX_ERROR_RATE_INCREASE: f64 = 0.001;
pub const DEFAULT_MAX_P99_INCREASE: f64 = 0.20;
pub const DEFAULT_BASELINE: Duration = Duration::from_secs(3600);
pub const DEFAULT_WATCH: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_CONSECUTIVE: u32 = 2;
pub const DEFAULT_INCONCLUSIVE: u32 = 3;
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads `[metrics]`.
pub fn section(r: &Reader<'_>) -> Option<MetricsConfig> {
    let prometheus = r.required_string("prometheus", "\"http://prometheus.monitoring:9090\"");
    if let Some((url, span)) = &prometheus
        && !matches!(reqwest::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https"))
    {
        r.sink().push(
            Diagnostic::error(
                "bad-url",
                format!("`prometheus` is `{url}`, not an http(s) URL"),
                Some(span.clone()),
            )
            .with_help("write the base URL, e.g. prometheus = \"http://prometheus.monitoring:9090\""),
        );
    }
    let mut queries = Vec::new();
    let error_rate = r.required_string(
        "error_rate",
        "'sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))'",
    );
    let p99 = r.required_string(
        "p99",
        "'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))'",
    );
    if let Some((q, _)) = error_rate {
        queries.push(MetricQuery {
            name: "error_rate".to_string(),
            query: q,
            unit: "ratio".to_string(),
            max_increase: Increase::Absolute(
                number(r, "max_error_rate_increase").unwrap_or(DEFAULT_MAX_ERROR_RATE_INCREASE),
            ),
            max: number(r, "max_error_rate"),
        });
    }
    if let Some((q, _)) = p99 {
        queries.push(MetricQuery {
            name: "p99".to_string(),
            query: q,
            unit: "seconds".to_string(),
            max_increase: increase(r, "max_p99_increase").unwrap_or(Increase::Relative(DEFAULT_MAX_P99_INCREASE)),
            max: r.duration("max_p99").map(|d| d.as_secs_f64()),
        });
    }
    if let Some(extra) = r.table("queries", "`queries` in [metrics]") {
        for (key, node) in &extra.table.entries {
            let Value::Table(t) = &node.value else {
                r.sink().push(
                    Diagnostic::error(
                        "bad-value",
                        format!("`queries.{}` must be a table", key.name),
                        Some(node.span.clone()),
                    )
                    .with_help(format!(
                        "[metrics.queries.{}]\nquery = '...'\nmax_increase = \"20%\"",
                        key.name
                    )),
                );
                continue;
            };
            let q = Reader::new(t, node.span.clone(), format!("query `{}`", key.name), r.sink());
            let query = q.required_string("query", "'sum(rate(jobs_failed_total[1m]))'");
            let max_increase = increase(&q, "max_increase");
            if max_increase.is_none() && q.table.get("max_increase").is_none() {
                q.missing("max_increase", "\"20%\" (relative) or 0.5 (absolute)");
            }
            let unit = q.string("unit").map(|(u, _)| u).unwrap_or_default();
            let max = number(&q, "max");
            q.finish();
            if let (Some((query, _)), Some(max_increase)) = (query, max_increase) {
                queries.push(MetricQuery {
                    name: key.name.clone(),
                    query,
                    unit,
                    max_increase,
                    max,
                });
            }
        }
        // The entries were read by hand above.
        drop(extra);
    }
    let on_breach = match r.string("on_breach") {
        None => OnBreach::Rollback,
        Some((v, _)) if v == "rollback" => OnBreach::Rollback,
        Some((v, _)) if v == "ask" => OnBreach::Ask,
        Some((v, span)) => {
            r.sink().push(
                Diagnostic::error("bad-value", format!("`on_breach` is `{v}`"), Some(span))
                    .with_help("on_breach = \"rollback\" (the procedure: roll back at once) or \"ask\""),
            );
            OnBreach::Rollback
        }
    };
    let basic_auth = r.table("basic_auth", "`basic_auth` in [metrics]").and_then(|b| {
        let user = b.required_string("username", "\"ops\"");
        let password_env = b.required_string("password_env", "\"PROMETHEUS_PASSWORD\"");
        b.finish();
        Some((user?.0, password_env?.0))
    });
    let interval = r.duration("interval").unwrap_or(DEFAULT_INTERVAL);
    let watch = r.duration("watch").unwrap_or(DEFAULT_WATCH);
    if interval.is_zero() || interval > watch {
        r.sink().push(
            Diagnostic::error(
                "bad-duration",
                "`interval` must be more than zero and no longer than `watch`",
                r.node("interval").map(|n| n.span.clone()),
            )
            .with_help("e.g. watch = \"15m\", interval = \"10s\""),
        );
    }
    let bearer_token_env = r.string("bearer_token_env").map(|(v, _)| v);
    let headers_env: BTreeMap<String, String> = r
        .template_map("headers_env")
        .into_iter()
        .filter_map(|(k, v)| v.as_literal().map(|v| (k, v)))
        .collect();
    if let Some((url, span)) = &prometheus
        && let Ok(parsed) = reqwest::Url::parse(url)
        && parsed.scheme() == "http"
        && !loopback(&parsed)
    {
        let sent: Vec<&str> = [
            bearer_token_env.as_ref().map(|_| "a bearer token"),
            basic_auth.as_ref().map(|_| "a basic-auth password"),
            (!headers_env.is_empty()).then_some("headers from the environment"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !sent.is_empty() {
            r.sink().push(
                Diagnostic::warning(
                    "credentials-over-http",
                    format!(
                        "{} would go to {} over plain http: anyone on the network path can read and reuse them",
                        sent.join(" and "),
                        parsed.host_str().unwrap_or_default()
                    ),
                    Some(span.clone()),
                )
                .with_help("use the https URL of Prometheus (or of the proxy in front of it)"),
            );
        }
    }
    Some(MetricsConfig {
        prometheus: prometheus?.0.trim_end_matches('/').to_string(),
        bearer_token_env,
        basic_auth,
        headers: r
            .template_map("headers")
            .into_iter()
            .filter_map(|(k, v)| v.as_literal().map(|v| (k, v)))
            .collect(),
        headers_env,
        queries,
        baseline: r.duration("baseline").unwrap_or(DEFAULT_BASELINE),
        watch,
        interval,
        consecutive: r.int("consecutive", 1, 1000).map_or(DEFAULT_CONSECUTIVE, |n| n as u32),
        inconclusive: r
            .int("inconclusive", 1, 1000)
            .map_or(DEFAULT_INCONCLUSIVE, |n| n as u32),
        on_breach,
        dashboard: r.string("dashboard").map(|(d, _)| d),
        query_timeout: r.duration("query_timeout").unwrap_or(DEFAULT_QUERY_TIMEOUT),
        new_side_rate: r.string("new_side_rate").map(|(q, _)| q),
    })
}

/// Whether the URL's host is this machine (loopback): credentials sent there do not cross a
/// network.
fn loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A number, integer or not.
fn number(r: &Reader<'_>, key: &'static str) -> Option<f64> {
    let node = r.node(key)?;
    match node.value {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) if f.is_finite() && f >= 0.0 => Some(f),
        _ => {
            r.sink().push(
                Diagnostic::error(
                    "bad-value",
                    format!("`{key}` in {} must be a number", r.what),
                    Some(node.span.clone()),
                )
                .with_help(format!("e.g. {key} = 0.001")),
            );
            None
        }
    }
}

/// `"20%"` (relative to the baseline) or a number (absolute, in the metric's unit).
fn increase(r: &Reader<'_>, key: &'static str) -> Option<Increase> {
    let node = r.table.get(key)?;
    if let Value::Str(s) = &node.value {
        r.node(key);
        let parsed = s
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite() && *p >= 0.0);
        return match parsed {
            Some(p) => Some(Increase::Relative(p / 100.0)),
            None => {
                r.sink().push(
                    Diagnostic::error(
                        "bad-value",
                        format!("`{key}` in {} is `{s}`", r.what),
                        Some(node.span.clone()),
                    )
                    .with_help(format!(
                        "a percentage of the baseline, {key} = \"20%\", or an absolute number"
                    )),
                );
                None
            }
        };
    }
    number(r, key).map(Increase::Absolute)
}

/// Describes a `metrics.*` step: `body` says what it does, given the section; every one ends
/// with where the metrics come from.
pub(crate) fn describe(
    runbook: &Runbook,
    lines: &mut Vec<String>,
    body: impl FnOnce(&MetricsConfig, &mut Vec<String>),
) {
    let Some(m) = runbook.metrics.as_ref() else {
        lines.push("needs the [metrics] section".to_string());
        return;
    };
    body(m, lines);
    lines.push(format!("from {}", m.prometheus));
}

/// A `metrics.*` step in a runbook without `[metrics]`.
pub fn missing_section(step_span: Span) -> Diagnostic {
    Diagnostic::error(
        "metrics-section-missing",
        "this metrics step needs a [metrics] section: which Prometheus, which queries, which bounds",
        Some(step_span),
    )
    .with_help("add:\n[metrics]\nprometheus = \"http://prometheus.monitoring:9090\"\nerror_rate = '...'\np99 = '...'")
}

/// `"20%"` (relative to the baseline) or a number (absolute, in the metric's unit).
fn increase_schema(description: &str, example: serde_json::Value) -> serde_json::Value {
    s::any_of(
        description,
        vec![
            json!({"type": "number", "minimum": 0}),
            json!({"type": "string", "pattern": r"^\s*[0-9]+(?:\.[0-9]+)?\s*%$"}),
        ],
        example,
    )
}

/// `[metrics]` in the runbook's JSON Schema.
pub(crate) fn schema() -> Table {
    use crate::duration::format as dur;
    let example_query = "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))";
    Table::new("Where the metrics come from (Prometheus), which queries, and the bounds of the watch")
        .required(
            "prometheus",
            s::string("The base http(s) URL of Prometheus", "https://prometheus.example.com"),
        )
        .required("error_rate", s::string("The PromQL query of the error rate (a ratio)", example_query))
        .required(
            "p99",
            s::string(
                "The PromQL query of the 99th percentile latency, in seconds",
                "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
            ),
        )
        .field(
            "max_error_rate_increase",
            s::number(
                &format!("How much the error rate may rise over the baseline (absolute). Default: {DEFAULT_MAX_ERROR_RATE_INCREASE}"),
                0.001,
            ),
        )
        .field("max_error_rate", s::number("A ceiling for the error rate, whatever the baseline", 0.01))
        .field(
            "max_p99_increase",
            increase_schema(
                &format!(
                    "How much p99 may rise over the baseline: \"20%\" (relative) or seconds (absolute). Default: {}%",
                    DEFAULT_MAX_P99_INCREASE * 100.0
                ),
                json!("20%"),
            ),
        )
        .field("max_p99", s::duration("A ceiling for p99, whatever the baseline", "800ms"))
        .field(
            "queries",
            json!({
                "type": "object",
                "description": "More queries watched with the two above: [metrics.queries.NAME]",
                "additionalProperties": Table::new("A query and its bound")
                    .required("query", s::string("The PromQL query", "sum(rate(jobs_failed_total[1m]))"))
                    .required(
                        "max_increase",
                        increase_schema("How much it may rise over the baseline: \"20%\" (relative) or a number (absolute)", json!("20%")),
                    )
                    .field("unit", s::string("The unit it is shown in", "jobs/s"))
                    .field("max", s::number("A ceiling, whatever the baseline", 5.0))
                    .build(),
                "examples": [{"failed_jobs": {"query": "sum(rate(jobs_failed_total[1m]))", "max_increase": "20%", "unit": "jobs/s", "max": 5.0}}],
            }),
        )
        .field(
            "on_breach",
            s::words(
                &["rollback", "ask"],
                "What a breach during the watch does: roll back at once, or ask the operator. Default: rollback",
                "rollback",
            ),
        )
        .field(
            "basic_auth",
            s::table(
                Table::new("Basic authentication to Prometheus (the password from the environment)")
                    .required("username", s::string("The user name", "ops"))
                    .required(
                        "password_env",
                        s::env_name("The environment variable that holds the password", "PROMETHEUS_PASSWORD"),
                    ),
            ),
        )
        .field(
            "interval",
            s::duration(
                &format!("The pause between samples during the watch. Default: {}", dur(DEFAULT_INTERVAL)),
                "10s",
            ),
        )
        .field(
            "watch",
            s::duration(&format!("How long the watch after the flip lasts. Default: {}", dur(DEFAULT_WATCH)), "15m"),
        )
        .field(
            "bearer_token_env",
            s::env_name("The environment variable that holds a bearer token for Prometheus", "PROMETHEUS_TOKEN"),
        )
        .field(
            "headers_env",
            s::env_table(
                "Headers sent to Prometheus, their values from environment variables: name → variable",
                json!({"X-Scope-OrgID": "PROMETHEUS_TENANT"}),
            ),
        )
        .field(
            "headers",
            s::string_table("Headers sent to Prometheus, written here (no secrets)", json!({"Accept": "application/json"})),
        )
        .field(
            "baseline",
            s::duration(&format!("How far back the baseline reaches. Default: {}", dur(DEFAULT_BASELINE)), "1h"),
        )
        .field(
            "consecutive",
            s::int(1, 1000, &format!("How many samples in a row out of bounds make a breach. Default: {DEFAULT_CONSECUTIVE}"), 2),
        )
        .field(
            "inconclusive",
            s::int(
                1,
                1000,
                &format!("How many samples in a row without an answer stop the watch for the operator. Default: {DEFAULT_INCONCLUSIVE}"),
                3,
            ),
        )
        .field("dashboard", s::string("A dashboard linked in the watch", "https://grafana.example.com/d/shop"))
        .field(
            "query_timeout",
            s::duration(&format!("How long one query may take. Default: {}", dur(DEFAULT_QUERY_TIMEOUT)), "5s"),
        )
        .field(
            "new_side_rate",
            s::string(
                "A query of the request rate the new side serves, shown during the watch",
                "sum(rate(http_requests_total{namespace=\"shop\"}[1m]))",
            ),
        )
}
