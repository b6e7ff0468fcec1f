//! Sending one message: a POST with a JSON body, each attempt bounded by the timeout,
//! retried with a doubling wait after an answer that may get better (no answer, 408, 429,
//! 5xx). Errors never quote the URL (a webhook's URL is its credential): they name the
//! target and its host.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::runbook::duration::format as dur;
use crate::runbook::notify::MAX_BACKOFF;

/// One request, ready to send.
#[derive(Clone)]
pub struct Request {
    pub url: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// How sending went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub delivered: bool,
    pub status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
}

pub struct Limits {
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

/// Whether an answer may be different if asked again.
fn worth_retrying(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 408 || s == 429 || s >= 500,
    }
}

pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {e}"))
}

/// The wait before retry `n` (1 for the first retry).
pub fn backoff(first: Duration, n: u32) -> Duration {
    first
        .saturating_mul(1u32 << (n.saturating_sub(1)).min(16))
        .min(MAX_BACKOFF.max(first))
}

/// Sends `request` to `shown` (the target in words: `bridge (hooks.slack.com:443)`), up to
/// `limits.attempts` times, stopping early once `stop` is set.
pub async fn post(
    client: &reqwest::Client,
    request: &Request,
    shown: &str,
    limits: &Limits,
    stop: &Arc<AtomicBool>,
) -> Answer {
    let mut answer = Answer {
        delivered: false,
        status: None,
        attempts: 0,
        error: None,
    };
    for n in 0..limits.attempts.max(1) {
        if n > 0 {
            tokio::time::sleep(backoff(limits.backoff, n)).await;
        }
        if stop.load(Ordering::SeqCst) {
            answer.error = Some(format!(
                "the session ended before attempt {} ({})",
                n + 1,
                answer.error.unwrap_or_default()
            ));
            return answer;
        }
        answer.attempts = n + 1;
        let mut builder = client
            .post(&request.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let sent = tokio::time::timeout(limits.timeout, async {
            let response = builder.send().await?;
            let status = response.status().as_u16();
            // Read the answer to its end (bounded by the timeout), so the connection is done.
            let _ = response.bytes().await;
            Ok::<u16, reqwest::Error>(status)
        })
        .await;
        match sent {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                answer.delivered = true;
                answer.status = Some(status);
                answer.error = None;
                return answer;
            }
            Ok(Ok(status)) => {
                answer.status = Some(status);
                answer.error = Some(format!("{shown} answered HTTP {status}"));
            }
            Ok(Err(e)) => {
                answer.status = None;
                answer.error = Some(problem(e, shown));
            }
            Err(_) => {
                answer.status = None;
                answer.error = Some(format!("no answer from {shown} within {}", dur(limits.timeout)));
            }
        }
        if !worth_retrying(answer.status) {
            break;
        }
    }
    answer
}

/// A client error in words, without the URL (reqwest writes it normalised, which the
/// redactor would not recognise).
fn problem(err: reqwest::Error, shown: &str) -> String {
    let connect = err.is_connect();
    let chain = crate::effects::http::error_chain(&err.without_url());
    if connect {
        format!("could not connect to {shown}: {chain}")
    } else {
        format!("request to {shown} failed: {chain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_a_cap() {
        let first = Duration::from_millis(500);
        assert_eq!(backoff(first, 1), Duration::from_millis(500));
        assert_eq!(backoff(first, 2), Duration::from_secs(1));
        assert_eq!(backoff(first, 3), Duration::from_secs(2));
        assert_eq!(backoff(first, 40), MAX_BACKOFF);
    }

    #[test]
    fn only_answers_that_may_change_are_retried() {
        for s in [None, Some(500), Some(503), Some(429), Some(408)] {
            assert!(worth_retrying(s), "{s:?}");
        }
        for s in [Some(400), Some(403), Some(404), Some(410)] {
            assert!(!worth_retrying(s), "{s:?}");
        }
    }
}
