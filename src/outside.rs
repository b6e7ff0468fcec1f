//! Calls to servers outside this process: DNS servers, a DNS provider's API, Prometheus, the
//! Kubernetes API server, an HTTP endpoint. Each call goes through [`call`], which
//!
//! - ends it after its limit (the runbook's timeout for that server), whatever the client
//!   library does inside (some retry and sleep out of sight: dns-update's providers do);
//! - while a step runs, says what it waits for: once a call has waited a second, a report
//!   names the server and the time waited so far, again every few seconds, then how it
//!   ended (an answer, an error, or nothing within the limit).
//!
//! Cancelling (a rollback, the operator quitting) is done around the whole step: the runner
//! and `effects::execute` stop waiting for the step's future when its token fires, which
//! drops every call in flight (see `effects::until_cancelled`).
//!
//! The reports go to the step's [`Reporter`], set for the task that performs the step with
//! [`reporting`]: the calls deep inside the DNS, metrics and Kubernetes clients reach it
//! without every function between taking it. Outside a step (preparing one, tests) nothing
//! is reported; the limit holds all the same.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::{ObjectCheck, Progress, Verdict};
use crate::runbook::duration::format as dur;

/// How an effect reports what it measures while it runs: the runner gives each step one that
/// sends to its driver; tests and benches may give one that collects.
#[derive(Clone)]
pub struct Reporter {
    send: Arc<dyn Fn(Progress) + Send + Sync>,
}

impl Reporter {
    pub fn new(send: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        Self { send: Arc::new(send) }
    }

    pub fn report(&self, report: Progress) {
        (self.send)(report);
    }
}

/// How long a call waits before it is reported, and then how often.
const NOTICE: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_secs(5);

/// No answer from `server` within `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    pub server: String,
    pub limit: Duration,
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} did not answer within {}", self.server, dur(self.limit))
    }
}

impl std::error::Error for NoAnswer {}

/// Where a step's waits are reported, and which servers did not answer the last time they
/// were asked in it (they are not reported again each time they are asked, only when they
/// answer again).
struct Waits {
    reporter: Reporter,
    silent: Mutex<BTreeMap<String, bool>>,
}

tokio::task_local! {
    static WAITS: Arc<Waits>;
}

/// Runs `fut` (a step being performed) with its waits on outside servers reported to
/// `reporter`.
pub async fn reporting<F: Future>(reporter: &Reporter, fut: F) -> F::Output {
    let waits = Arc::new(Waits {
        reporter: reporter.clone(),
        silent: Mutex::new(BTreeMap::new()),
    });
    WAITS.scope(waits, fut).await
}

fn report(waits: &Waits, server: &str, value: String, verdict: Verdict, note: String) {
    waits.reporter.report(Progress::ObjectChecked {
        check: ObjectCheck {
            object: server.to_string(),
            check: "answer".to_string(),
            value,
            verdict,
            note,
        },
    });
}

/// One call to `server` (words that name it with its address, e.g. `DNS server
/// 192.0.2.53:53`, `Prometheus at http://10.0.0.5:9090`), ended after `limit`. The call's
/// own result (an answer, or the client's error) is inside; `NoAnswer` when the limit came
/// first.
pub async fn call<T, E>(
    server: &str,
    limit: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<Result<T, E>, NoAnswer> {
    let waits = WAITS.try_with(Arc::clone).ok();
    let started = Instant::now();
    let deadline = started + limit;
    let fut = tokio::time::timeout_at(deadline, fut);
    tokio::pin!(fut);
    let known_silent = waits
        .as_ref()
        .is_some_and(|w| w.silent.lock().map(|s| s.get(server) == Some(&true)).unwrap_or(false));
    let mut next = started + NOTICE;
    let mut reported = false;
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            () = tokio::time::sleep_until(next), if waits.is_some() && !known_silent && next < deadline => {
                if let Some(w) = &waits {
                    report(
                        w,
                        server,
                        format!("none yet after {}", dur(Duration::from_secs(started.elapsed().as_secs()))),
                        Verdict::Inconclusive,
                        format!("gives up after {}", dur(limit)),
                    );
                }
                reported = true;
                next += EVERY;
            }
        }
    };
    let answered = result.is_ok();
    if let Some(w) = &waits {
        let was_silent = w
            .silent
            .lock()
            .map(|mut s| s.insert(server.to_string(), !answered) == Some(true))
            .unwrap_or(false);
        let took = crate::runbook::duration::took(started.elapsed());
        if answered && (reported || was_silent) {
            let (value, verdict) = match &result {
                Ok(Ok(_)) => (format!("received after {took}"), Verdict::Within),
                _ => (format!("failed after {took}"), Verdict::Breach),
            };
            report(w, server, value, verdict, String::new());
        } else if !answered && (reported || !was_silent) {
            report(
                w,
                server,
                format!("none within {}", dur(limit)),
                Verdict::Breach,
                String::new(),
            );
        }
    }
    result.map_err(|_| NoAnswer {
        server: server.to_string(),
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_ends_at_its_limit_and_names_the_server() {
        let started = Instant::now();
        let limit = Duration::from_millis(200);
        let hung = std::future::pending::<Result<(), ()>>();
        let e = call("DNS server 192.0.2.53:53", limit, hung).await.unwrap_err();
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
        assert_eq!(e.to_string(), "DNS server 192.0.2.53:53 did not answer within 200ms");
        assert_eq!(call("x", limit, async { Ok::<_, ()>(7) }).await, Ok(Ok(7)));
    }
}
