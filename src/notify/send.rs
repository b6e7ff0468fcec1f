//! Sending one message: a POST with a JSON body through the HTTP steps' sender
//! (`effects::http::bounded_attempt`), each attempt bounded by the timeout,
//! retried with a doubling wait after an answer that may get better (no answer, 408, 429,
//! 5xx). Errors never quote the URL (a webhook's URL is its credential): they name the
//! target and its host.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::effects::http::{HttpProbe, bounded_attempt};
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
        // One attempt through the HTTP steps' own sender: bounded as a whole, the answer
        // read to its end, the URL never in an error.
        let probe = HttpProbe {
            method: "POST".to_string(),
            url: request.url.clone(),
            shown_as: Some(shown.to_string()),
            expect_status: None,
            json_body: Some(request.body.clone()),
            max_latency: None,
            body_contains: None,
            resolve: None,
            timeout: limits.timeout,
            headers: request.headers.clone(),
            retries: 0,
            retry_interval: Duration::ZERO,
            repeatable: true,
        };
        let attempt = bounded_attempt(client, &probe).await;
        answer.status = attempt.status;
        match attempt.status {
            Some(status) if (200..300).contains(&status) => {
                answer.delivered = true;
                answer.error = None;
                return answer;
            }
            Some(status) => answer.error = Some(format!("{shown} answered HTTP {status}")),
            None => answer.error = attempt.problem,
        }
        if !worth_retrying(answer.status) {
            break;
        }
    }
    answer
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
