//! Prometheus's HTTP query API (or a compatible one: Thanos, Mimir, VictoriaMetrics,
//! Grafana-fronted): instant and range queries that must each give one number.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::runbook::MetricsConfig;

/// What went wrong talking to Prometheus, in words for the operator: which server, what it
/// answered, and (when there is something to do) what to do. The effects turn it into a
/// step's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsError {
    pub message: String,
    pub advice: Option<String>,
}

impl MetricsError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            advice: None,
        }
    }
}

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MetricsError {}

impl From<String> for MetricsError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

pub struct Prometheus {
    base: String,
    client: reqwest::Client,
    headers: Vec<(String, String)>,
    /// How it authenticates, in words, for errors: names of variables, never values.
    auth: String,
    /// How long one query may take in all (`query_timeout` in [metrics]).
    timeout: Duration,
}

impl Prometheus {
    /// Reads the credentials the section names from the environment.
    pub fn new(cfg: &MetricsConfig) -> Result<Prometheus, MetricsError> {
        let env = |var: &str, what: &str| {
            std::env::var(var).map_err(|_| MetricsError {
                message: format!("environment variable `{var}` ({what} for Prometheus) is not set"),
                advice: Some(format!("export {var} in the shell that runs cutover, then retry")),
            })
        };
        let mut headers: Vec<(String, String)> = cfg.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, var) in &cfg.headers_env {
            headers.push((name.clone(), env(var, &format!("header {name}"))?));
        }
        if let Some(var) = &cfg.bearer_token_env {
            headers.push((
                "Authorization".to_string(),
                format!("Bearer {}", env(var, "the bearer token")?),
            ));
        }
        if let Some((user, var)) = &cfg.basic_auth {
            let password = env(var, "the basic-auth password")?;
            let token = data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes());
            headers.push(("Authorization".to_string(), format!("Basic {token}")));
        }
        // Credentials go to the configured server only: reqwest drops `Authorization` on a
        // redirect to another host, but not the headers from `headers_env`, so a redirect
        // to another origin is refused when there are any (see `same_origin_only`).
        let credentials = cfg.bearer_token_env.is_some() || cfg.basic_auth.is_some() || !cfg.headers_env.is_empty();
        let redirects = if credentials {
            same_origin_only()
        } else {
            reqwest::redirect::Policy::default()
        };
        // No client timeout: every query is bounded as a whole by `outside::call`.
        let client = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MetricsError::new(format!("could not set up the HTTP client: {e}")))?;
        let auth = match (&cfg.bearer_token_env, &cfg.basic_auth) {
            (Some(var), _) => format!("check the bearer token in ${var}"),
            (None, Some((user, var))) => format!("check user `{user}` and the password in ${var}"),
            (None, None) if !cfg.headers_env.is_empty() => format!(
                "check the headers from {}",
                cfg.headers_env
                    .values()
                    .map(|v| format!("${v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            (None, None) => {
                "no credentials are configured: set bearer_token_env or basic_auth in [metrics]".to_string()
            }
        };
        Ok(Prometheus {
            base: cfg.prometheus.clone(),
            client,
            headers,
            auth,
            timeout: cfg.query_timeout,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One query, ended after `query_timeout` (reported while it waits, see `outside`).
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| format!("bad Prometheus URL {}: {e}", self.base))?;
        let server = format!("Prometheus at {}", self.base);
        crate::outside::call(&server, self.timeout, self.fetch(url))
            .await
            .unwrap_or_else(|e| {
                Err(format!(
                    "{e}: check that it is up and reachable from here (`query_timeout` in [metrics] is the time one query may take)"
                ))
            })
    }

    async fn fetch(&self, url: reqwest::Url) -> Result<Value, String> {
        let mut req = self.client.get(url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_redirect() {
                format!("Prometheus at {}: {}", self.base, crate::error::root_cause(&e))
            } else {
                format!(
                    "Prometheus at {} did not answer: {}",
                    self.base,
                    crate::error::root_cause(&e)
                )
            }
        })?;
        let status = resp.status();
        // Proxies and Prometheus's own auth answer these in plain text or HTML, not JSON.
        match status.as_u16() {
            401 | 403 => {
                return Err(format!(
                    "Prometheus at {} refused the credentials (HTTP {status}): {}",
                    self.base, self.auth
                ));
            }
            502..=504 => return Err(format!("Prometheus at {} is unavailable (HTTP {status})", self.base)),
            _ => {}
        }
        let bytes = self.body(resp).await?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
            format!(
                "Prometheus at {} answered HTTP {status} with no JSON (is this the query API's base URL?)",
                self.base
            )
        })?;
        if body["status"] != "success" {
            let error = body["error"].as_str().unwrap_or("no error text");
            return Err(match status.as_u16() {
                401 | 403 => format!(
                    "Prometheus at {} refused the credentials (HTTP {status}): {error}",
                    self.base
                ),
                _ => format!(
                    "Prometheus at {} rejected the query (HTTP {status}): {error}",
                    self.base
                ),
            });
        }
        Ok(body["data"].clone())
    }

    /// The answer's body, up to `MAX_BODY`: a query that gives one number never needs more,
    /// and an endless answer must not fill the memory.
    async fn body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
        let too_big = || {
            format!(
                "Prometheus at {} sent more than {} MiB for one query: that is no answer to a query that gives one number",
                self.base,
                MAX_BODY >> 20
            )
        };
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("Prometheus at {} broke off its answer: {e}", self.base))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// The query's value now (or at `at`); `None` when it has no data.
    pub async fn instant(&self, query: &str, at: Option<DateTime<Utc>>) -> Result<Option<f64>, MetricsError> {
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = at {
            params.push(("time", seconds(t)));
        }
        let data = self.get("/api/v1/query", &params).await?;
        let series = one_series(&data)?;
        Ok(series.and_then(|s| number(&s["value"][1])))
    }

    /// Every point of the query between `start` and `end`, `step` apart (points without
    /// data are left out).
    pub async fn range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<(DateTime<Utc>, f64)>, MetricsError> {
        let params = [
            ("query", query.to_string()),
            ("start", seconds(start)),
            ("end", seconds(end)),
            ("step", format!("{}", step.as_secs_f64().max(0.001))),
        ];
        let data = self.get("/api/v1/query_range", &params).await?;
        let Some(series) = one_series(&data)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for point in series["values"].as_array().into_iter().flatten() {
            let (Some(t), Some(v)) = (point[0].as_f64(), number(&point[1])) else {
                continue;
            };
            let millis = (t * 1000.0).round() as i64;
            if let Some(at) = Utc.timestamp_millis_opt(millis).single() {
                out.push((at, v));
            }
        }
        Ok(out)
    }
}

/// The most one answer may hold.
const MAX_BODY: usize = 16 << 20;

/// Where a URL is: scheme, host and port (the port the scheme implies if none is written).
/// A redirect elsewhere is a redirect to another server, whatever the names look like.
fn origin(url: &reqwest::Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// Redirects within the same origin are followed (up to 10); one to another origin is
/// refused, naming both, so that the credentials never leave for a server nobody named.
fn same_origin_only() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous().last().map(origin).unwrap_or_default();
        let to = origin(attempt.url());
        if from != to {
            let message = format!(
                "it redirected from {from} to {to}, another server: cutover does not send the credentials there. \
                 If {to} is the right Prometheus, set `prometheus` in [metrics] to it"
            );
            attempt.error(message)
        } else if attempt.previous().len() > 10 {
            attempt.error(format!("more than 10 redirects within {from}"))
        } else {
            attempt.follow()
        }
    })
}

fn seconds(t: DateTime<Utc>) -> String {
    format!("{:.3}", t.timestamp_millis() as f64 / 1000.0)
}

/// A finite number from Prometheus's string form (`"NaN"`, `"+Inf"` are no data).
fn number(v: &Value) -> Option<f64> {
    v.as_str().and_then(|s| s.parse::<f64>().ok()).filter(|f| f.is_finite())
}

/// The result's only series; more than one is a query that does not give one number.
fn one_series(data: &Value) -> Result<Option<Value>, String> {
    match data["resultType"].as_str() {
        Some("scalar") => Ok(Some(serde_json::json!({ "value": data["result"].clone() }))),
        _ => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            match result.len() {
                0 => Ok(None),
                1 => Ok(result.into_iter().next()),
                n => Err(format!(
                    "the query returns {n} series, not one number: aggregate it (e.g. wrap it in sum(...))"
                )),
            }
        }
    }
}
