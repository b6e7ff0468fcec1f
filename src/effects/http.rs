//! HTTP checks: status, latency budget and body content, optionally with the hostname
//! pinned to an address (like `curl --resolve`) so a new load balancer's TLS and Host
//! routing are proven before DNS moves. Redirects are not followed: a check sees what
//! the endpoint itself answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::engine::{Evidence, Failure, HttpAttempt, Outcome};
use crate::runbook::duration::format as dur;

/// Bodies are read up to this size; `body_contains` looks at this much.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub method: String,
    pub url: String,
    /// What the step shows instead of the URL, when the URL is a secret (a webhook's).
    pub shown_as: Option<String>,
    /// `None`: any 2xx answer passes.
    pub expect_status: Option<u16>,
    /// A JSON body to send.
    pub json_body: Option<String>,
    pub max_latency: Option<Duration>,
    pub body_contains: Option<String>,
    /// Hostname pinned to an address for this check.
    pub resolve: Option<(String, SocketAddr)>,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub retries: u32,
    pub retry_interval: Duration,
    /// Safe to send again: a read (GET, HEAD, OPTIONS) or a step that says so.
    pub repeatable: bool,
}

/// Header values read from the environment at run time (`headers_env`: header → variable).
pub(crate) fn headers_from_env(
    headers_env: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, Failure> {
    headers_env
        .iter()
        .map(|(name, var)| {
            let value = std::env::var(var).map_err(|_| {
                Failure::new(format!("environment variable `{var}` (for header {name}) is not set"))
                    .advise(format!("export {var} in the shell that runs cutover, then retry"))
            })?;
            Ok((name.clone(), value))
        })
        .collect()
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Where the request goes: `host:port`, or the pinned address.
fn target(probe: &HttpProbe) -> String {
    match (&probe.resolve, &probe.shown_as) {
        (Some((host, addr)), _) => format!("{host} (pinned to {addr})"),
        (None, Some(shown)) => shown.clone(),
        (None, None) => crate::words::host_port(&probe.url),
    }
}

/// One attempt, ended after the probe's timeout whatever the client does (and reported
/// while it waits, see `outside`). The `http` and `notify.webhook` steps and the `[notify]`
/// targets all send through it.
pub(crate) async fn bounded_attempt(client: &reqwest::Client, probe: &HttpProbe) -> HttpAttempt {
    let started = Instant::now();
    let server = format!("HTTP server {}", target(probe));
    let answered = async {
        let a = attempt(client, probe).await;
        if a.status.is_some() { Ok(a) } else { Err(a) }
    };
    crate::outside::call(&server, probe.timeout, answered)
        .await
        .map(|a| a.unwrap_or_else(|failed| failed))
        .unwrap_or_else(|_| HttpAttempt {
            status: None,
            latency_ms: ms(started.elapsed()),
            problem: Some(format!(
                "no answer from {} within {}",
                target(probe),
                dur(probe.timeout)
            )),
        })
}

/// An error and its sources in one line, each layer's text once: "error sending request:
/// client error (Connect): tcp connect error: Connection refused".
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if !chain.contains(&text) {
            if !chain.is_empty() {
                chain.push_str(": ");
            }
            chain.push_str(&text);
        }
        source = e.source();
    }
    chain
}

/// Words for a failed request: what went wrong at which layer. When the URL is a secret
/// (`shown_as`), the client's own text loses it: reqwest writes the URL normalised (host in
/// lower case, default port dropped, spaces encoded), which the redactor, matching the value
/// as it was given, would not recognise.
pub(crate) fn request_problem(err: reqwest::Error, probe: &HttpProbe) -> String {
    let err = if probe.shown_as.is_some() {
        err.without_url()
    } else {
        err
    };
    let chain = error_chain(&err);
    let target = target(probe);
    if err.is_timeout() {
        format!("no answer from {target} within {}", dur(probe.timeout))
    } else if err.is_connect() {
        format!("could not connect to {target}: {chain}")
    } else {
        format!("request to {target} failed: {chain}")
    }
}

async fn attempt(client: &reqwest::Client, probe: &HttpProbe) -> HttpAttempt {
    let method = reqwest::Method::from_bytes(probe.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = client.request(method, &probe.url);
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &probe.json_body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    let started = Instant::now();
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return HttpAttempt {
                status: None,
                latency_ms: ms(started.elapsed()),
                problem: Some(request_problem(e, probe)),
            };
        }
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut response = response;
    let mut body_error = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() >= MAX_BODY {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some(request_problem(e, probe));
                break;
            }
        }
    }
    let latency = started.elapsed();
    let problem = if let Some(e) = body_error {
        Some(e)
    } else if let Some(expected) = probe.expect_status.filter(|e| *e != status) {
        Some(format!("HTTP {status}, expected {expected}"))
    } else if probe.expect_status.is_none() && !(200..300).contains(&status) {
        Some(format!("HTTP {status}, expected a 2xx answer"))
    } else if let Some(max) = probe.max_latency.filter(|m| latency > *m) {
        Some(format!("took {} ms, over the {} budget", ms(latency), dur(max)))
    } else {
        probe
            .body_contains
            .as_ref()
            .filter(|n| !String::from_utf8_lossy(&body).contains(n.as_str()))
            .map(|needle| format!("the body does not contain \"{needle}\""))
    };
    HttpAttempt {
        status: Some(status),
        latency_ms: ms(latency),
        problem,
    }
}

pub async fn probe(probe: &HttpProbe, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    // No client timeout: each attempt is bounded as a whole (`bounded_attempt`).
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addr)) = &probe.resolve {
        builder = builder.resolve(host, *addr);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::new(format!("could not set up the HTTP client: {e}")))?;
    let mut attempts = Vec::new();
    // Stopped (a rollback, a quit): what the attempts so far found is kept.
    let stopped = |attempts: Vec<HttpAttempt>| Failure {
        evidence: Evidence::Http { attempts },
        ..super::stopped()
    };
    for n in 0..=probe.retries {
        if n > 0 {
            tokio::select! {
                () = tokio::time::sleep(probe.retry_interval) => {}
                () = cancel.cancelled() => return Err(stopped(attempts)),
            }
        }
        let result = tokio::select! {
            a = bounded_attempt(&client, probe) => a,
            () = cancel.cancelled() => return Err(stopped(attempts)),
        };
        let passed = result.problem.is_none();
        attempts.push(result);
        if passed {
            break;
        }
    }
    let mut details = vec![format!(
        "{} {}",
        probe.method,
        probe.shown_as.as_deref().unwrap_or(&probe.url)
    )];
    if let Some((host, addr)) = &probe.resolve {
        details.push(format!("{host} pinned to {addr}"));
    }
    let tries = attempts.len();
    let evidence = Evidence::Http {
        attempts: attempts.clone(),
    };
    match attempts.last() {
        Some(HttpAttempt {
            status: Some(status),
            latency_ms,
            problem: None,
        }) => Ok(Outcome {
            summary: format!(
                "HTTP {status} in {latency_ms} ms{}",
                if tries > 1 {
                    format!(" (attempt {tries})")
                } else {
                    String::new()
                }
            ),
            details,
            evidence,
            ..Outcome::default()
        }),
        Some(last) => Err(Failure {
            message: format!(
                "{}{}",
                last.problem.clone().unwrap_or_default(),
                if tries > 1 {
                    format!(" (after {tries} attempts)")
                } else {
                    String::new()
                }
            ),
            advice: Some(advice_for(last, probe)),
            evidence,
            ..Failure::default()
        }),
        None => Err(Failure::new(
            "stopped before it finished (a rollback, or the operator quit)",
        )),
    }
}

fn advice_for(last: &HttpAttempt, probe: &HttpProbe) -> String {
    match last.status {
        None if probe.resolve.is_some() => {
            "check that the load balancer address is right and listening, and that its certificate covers the hostname"
                .to_string()
        }
        None => "check that the service is up and reachable from this machine".to_string(),
        Some(503) => {
            "the service says it is not ready: check its dependencies (database, queues) before going on".to_string()
        }
        Some(_) => "look at the service's logs for this request, fix the cause, then retry".to_string(),
    }
}
