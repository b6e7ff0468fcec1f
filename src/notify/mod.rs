//! Notifications: the run tells the bridge (a Slack or Teams channel, a webhook, PagerDuty)
//! of its milestones, as the runbook's `[notify]` section says (see `runbook::notify` for
//! the section itself).
//!
//! # Events
//!
//! | event | when |
//! |---|---|
//! | `run_started` | the run's first session opens (or a new attempt starts) |
//! | `approval_waiting` | the run waits for an operator's approval: what must be given (a yes, or the text to type) and who holds the run; never what was typed |
//! | `gate_opened` | a time gate of the next step opened (the window start, the TTL lead time, an `after` delay, the hold, a drain) |
//! | `flip` | DNS was flipped and a `dns.verify` after it saw it on every authoritative nameserver (without a verify step: when the flip succeeds) |
//! | `breach` | a watch sample breached a metric's bound: metric, value, bound, baseline (once per run of breaches of a metric) |
//! | `rollback_started`, `rollback_completed` | the rollback began (why), and ended |
//! | `rca_attached` | a root-cause analysis was attached (its first line) |
//! | `hold_reached` | every step is done; the hold for stable operation begins |
//! | `completed` | the run completed |
//! | `takeover` | a session took the run over from a holder whose Lease had expired |
//!
//! Every message names the run, the runbook and environment, the step and the measured
//! values where there are some, and links the dashboard. A rehearsal's messages start with
//! `REHEARSAL:`. A dry run sends nothing: it journals what it would have sent.
//!
//! # Sending never holds up the run
//!
//! Messages are derived from what was just journaled (`derive`), and handed to a sender
//! thread with one queue per target: a target that hangs or fails delays only its own later
//! messages. Each request is bounded by `timeout` (5 s); a message is tried up to `attempts`
//! times (4), after no answer, 408, 429 or a 5xx, waiting `backoff` (1 s) and twice as long
//! after each further failure (at most 30 s). What became of each message — the target, the
//! event, what it said in short, and the answer (HTTP status, attempts, error) — comes back
//! to the driver, is journaled as a `notification_sent` record, shown in the cockpit's log
//! and headless output, and listed in the export. When the session ends, it waits up to
//! `flush` (5 s) for messages still under way, and journals the rest as dropped.
//!
//! # Secrets
//!
//! Webhook URLs (Slack's and Teams' carry their own credential) and PagerDuty's routing key
//! are read from the environment (`url_env`, `routing_key_env`, `headers_env`), masked in
//! everything cutover writes or shows, and never journaled: messages and errors name the
//! target and its host. A variable that is not set is an error before `cutover run` or
//! `cutover rehearse` starts anything (`check_environment`); a session that continues a run
//! (`resume`, `rollback`, `rca`) goes on without it, journaling each message for that
//! target as not sent and why.

pub mod body;
pub mod derive;
mod send;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

pub use derive::{About, Notice, Severity, from_records, from_situation};

use crate::engine::{Delivery, Notification, Recorded, RunEvent, RunState};
use crate::runbook::duration::format as dur;
use crate::runbook::notify::PAGERDUTY_URL;
use crate::runbook::{NotifyKind, NotifyTarget, Runbook};

/// What became of one message, as it comes back to the driver to be journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: u64,
    pub notification: Notification,
}

type Sink = Box<dyn Fn(Report) + Send>;

#[derive(Default)]
struct Outbox {
    /// Where reports go (the driver's channel); without one they wait here.
    sink: Option<Sink>,
    waiting: Vec<Report>,
    /// The session ended: later reports are not wanted.
    closed: bool,
}

#[derive(Default)]
struct Shared {
    outbox: Mutex<Outbox>,
    arrived: Condvar,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn deliver(&self, report: Report) {
        let mut out = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if out.closed {
            return;
        }
        match &out.sink {
            Some(sink) => sink(report),
            None => {
                out.waiting.push(report);
                self.arrived.notify_all();
            }
        }
    }
}

/// Where a target's URL and key are, read from the environment.
pub struct Resolved {
    pub url: String,
    pub routing_key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The target in words, never the URL: `bridge (hooks.slack.com:443)`.
    pub shown: String,
}

fn env_var(var: &str, what: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(format!("environment variable `{var}` ({what}) is not set")),
    }
}

/// Reads a target's URL, key and headers from the environment.
pub fn resolve(t: &NotifyTarget) -> Result<Resolved, String> {
    let url = match (&t.url_env, &t.url, t.kind) {
        (Some(var), _, _) => {
            let url = env_var(var, "the target's URL")?;
            if !matches!(reqwest::Url::parse(&url), Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            {
                return Err(format!("environment variable `{var}` does not hold an http(s) URL"));
            }
            url
        }
        (None, Some(url), _) => url.clone(),
        (None, None, NotifyKind::Pagerduty) => PAGERDUTY_URL.to_string(),
        (None, None, _) => return Err("no URL".to_string()),
    };
    let routing_key = match &t.routing_key_env {
        Some(var) => Some(env_var(var, "the PagerDuty routing key")?),
        None => None,
    };
    let mut headers = Vec::new();
    for (name, var) in &t.headers_env {
        headers.push((name.clone(), env_var(var, &format!("header {name}"))?));
    }
    let shown = format!("{} ({})", t.name, crate::words::host_port(&url));
    Ok(Resolved {
        url,
        routing_key,
        headers,
        shown,
    })
}

/// Refuses to start a run whose `[notify]` targets cannot be reached for want of an
/// environment variable: the bridge would never hear of it.
pub fn check_environment(runbook: &Runbook) -> Result<(), String> {
    let Some(n) = &runbook.notify else { return Ok(()) };
    let problems: Vec<String> = n
        .targets
        .iter()
        .filter_map(|t| resolve(t).err().map(|e| format!("notify target `{}`: {e}", t.name)))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}. Export it in the shell that runs cutover before the run starts (or take the target out of [notify]): \
         the run would go on without telling them",
        problems.join("; ")
    ))
}

enum Route {
    Queue(tokio::sync::mpsc::UnboundedSender<Job>),
    DryRun,
    Unavailable(String),
}

struct Job {
    id: u64,
    request: send::Request,
    notification: Notification,
}

struct Target {
    config: NotifyTarget,
    route: Route,
    routing_key: Option<String>,
    url: String,
    headers: Vec<(String, String)>,
}

/// Sends a run's messages and hands back what became of them.
pub struct Notifier {
    targets: Vec<Target>,
    shared: Arc<Shared>,
    /// Messages not journaled yet, by id: what each was (its outcome still unknown).
    outstanding: BTreeMap<u64, Notification>,
    next_id: u64,
    /// Situations already announced (this session, or an earlier one's journaled message).
    announced: HashSet<String>,
    flush: Duration,
}

impl Notifier {
    /// A notifier for the run, if its runbook has a `[notify]` section. `journaled` gives the
    /// records so far (read only then): situations already announced are not announced again.
    pub fn start(state: &RunState, journaled: impl FnOnce() -> Vec<Recorded>) -> Option<Self> {
        let config = state.runbook.notify.as_ref()?;
        let announced = journaled()
            .into_iter()
            .filter_map(|r| match r.event {
                RunEvent::NotificationSent { notification } => Some(notification.key),
                _ => None,
            })
            .collect();
        let shared = Arc::new(Shared::default());
        let mut queues = Vec::new();
        let mut targets = Vec::new();
        for t in &config.targets {
            let (route, resolved) = if state.dry_run {
                (Route::DryRun, None)
            } else {
                match resolve(t) {
                    Ok(r) => {
                        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                        queues.push((rx, r.shown.clone()));
                        (Route::Queue(tx), Some(r))
                    }
                    Err(e) => (Route::Unavailable(e), None),
                }
            };
            targets.push(Target {
                config: t.clone(),
                route,
                routing_key: resolved.as_ref().and_then(|r| r.routing_key.clone()),
                url: resolved.as_ref().map(|r| r.url.clone()).unwrap_or_default(),
                headers: resolved.map(|r| r.headers).unwrap_or_default(),
            });
        }
        if !queues.is_empty() {
            let limits = Arc::new(send::Limits {
                timeout: config.timeout,
                attempts: config.attempts,
                backoff: config.backoff,
            });
            let worker = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("cutover-notify".to_string())
                .spawn(move || serve(queues, worker, limits));
            if let Err(e) = spawned {
                for t in &mut targets {
                    if let Route::Queue(_) = t.route {
                        t.route = Route::Unavailable(format!("could not start the sender: {e}"));
                    }
                }
            }
        }
        Some(Self {
            targets,
            shared,
            outstanding: BTreeMap::new(),
            next_id: 1,
            announced,
            flush: config.flush,
        })
    }

    /// Reports go to `sink` from now on (those that came before, first).
    pub fn connect(&self, sink: impl Fn(Report) + Send + 'static) {
        let mut out = self.shared.outbox.lock().unwrap_or_else(|p| p.into_inner());
        for report in out.waiting.drain(..) {
            sink(report);
        }
        out.sink = Some(Box::new(sink));
    }

    /// Reports wait here again (the session is ending: see `settle`).
    pub fn disconnect(&self) {
        self.shared.outbox.lock().unwrap_or_else(|p| p.into_inner()).sink = None;
    }

    /// Whether a message is on its way or its outcome is not journaled yet.
    pub fn pending(&self) -> bool {
        !self.outstanding.is_empty()
    }

    /// The outcome of message `id` is journaled now; false if it was not expected (the
    /// session already gave up on it).
    pub fn recorded(&mut self, id: u64) -> bool {
        self.outstanding.remove(&id).is_some()
    }

    /// Sends the milestones among `records`, just journaled (`state` is after them).
    pub fn on_records(&mut self, records: &[Recorded], state: &RunState) {
        for notice in from_records(records, state) {
            self.dispatch(&notice);
        }
    }

    /// Sends what the run waits for at `now`, once per situation.
    pub fn on_situation(&mut self, state: &RunState, now: DateTime<Utc>) {
        for notice in from_situation(state, now) {
            if self.announced.insert(notice.key.clone()) {
                self.dispatch(&notice);
            }
        }
    }

    fn dispatch(&mut self, notice: &Notice) {
        for t in self.targets.iter().filter(|t| t.config.wants(notice.event)) {
            let id = self.next_id;
            self.next_id += 1;
            let notification = Notification {
                target: t.config.name.clone(),
                kind: t.config.kind,
                event: notice.event,
                key: notice.key.clone(),
                step: notice.step.clone(),
                summary: body::summary(notice),
                delivery: Delivery::Failed,
                status: None,
                attempts: 0,
                error: None,
            };
            self.outstanding.insert(id, notification.clone());
            let now = |delivery, error: Option<String>| Report {
                id,
                notification: Notification {
                    delivery,
                    error,
                    ..notification.clone()
                },
            };
            match &t.route {
                Route::DryRun => self.shared.deliver(now(Delivery::DryRun, None)),
                Route::Unavailable(why) => self.shared.deliver(now(
                    Delivery::Failed,
                    Some(format!("{why}; export it in the shell that runs cutover and resume")),
                )),
                Route::Queue(queue) => {
                    let body = match t.config.kind {
                        NotifyKind::Slack => body::slack(notice),
                        NotifyKind::Teams => body::teams(notice),
                        NotifyKind::Webhook => body::webhook(notice),
                        NotifyKind::Pagerduty => body::pagerduty(notice, t.routing_key.as_deref().unwrap_or_default()),
                    };
                    let job = Job {
                        id,
                        request: send::Request {
                            url: t.url.clone(),
                            body: body.to_string(),
                            headers: t.headers.clone(),
                        },
                        notification: notification.clone(),
                    };
                    if queue.send(job).is_err() {
                        self.shared
                            .deliver(now(Delivery::Failed, Some("the sender has stopped".to_string())));
                    }
                }
            }
        }
    }

    /// The session ends: waits up to `flush` for the messages still under way, then gives
    /// back the outcome of every message not journaled yet (those still under way as
    /// dropped), and stops sending.
    pub fn settle(&mut self) -> Vec<Notification> {
        self.disconnect();
        let deadline = Instant::now() + self.flush;
        let mut out = self.shared.outbox.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let arrived: HashSet<u64> = out.waiting.iter().map(|r| r.id).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.outstanding.keys().all(|id| arrived.contains(id)) || left.is_zero() {
                break;
            }
            out = self
                .shared
                .arrived
                .wait_timeout(out, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        out.closed = true;
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut arrived: BTreeMap<u64, Notification> = out.waiting.drain(..).map(|r| (r.id, r.notification)).collect();
        drop(out);
        let flush = self.flush;
        std::mem::take(&mut self.outstanding)
            .into_iter()
            .map(|(id, template)| {
                arrived.remove(&id).unwrap_or_else(|| Notification {
                    delivery: Delivery::Dropped,
                    error: Some(format!(
                        "the session ended before it was sent (it waited {} for it)",
                        dur(flush)
                    )),
                    ..template
                })
            })
            .collect()
    }
}

/// The sender thread: one task per target, each taking its messages in order.
fn serve(
    queues: Vec<(tokio::sync::mpsc::UnboundedReceiver<Job>, String)>,
    shared: Arc<Shared>,
    limits: Arc<send::Limits>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            // Nothing can be sent: every message says so.
            let why = format!("could not start the sender: {e}");
            for (mut rx, _) in queues {
                while let Some(job) = rx.blocking_recv() {
                    shared.deliver(Report {
                        id: job.id,
                        notification: Notification {
                            error: Some(why.clone()),
                            ..job.notification
                        },
                    });
                }
            }
            return;
        }
    };
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for (mut rx, shown) in queues {
            let shared = shared.clone();
            let limits = limits.clone();
            tasks.push(tokio::spawn(async move {
                let client = send::client();
                while let Some(job) = rx.recv().await {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let answer = match &client {
                        Ok(c) => send::post(c, &job.request, &shown, &limits, &shared.stop).await,
                        Err(e) => send::Answer {
                            delivered: false,
                            status: None,
                            attempts: 0,
                            error: Some(e.clone()),
                        },
                    };
                    shared.deliver(Report {
                        id: job.id,
                        notification: Notification {
                            delivery: if answer.delivered {
                                Delivery::Delivered
                            } else {
                                Delivery::Failed
                            },
                            status: answer.status,
                            attempts: answer.attempts,
                            error: answer.error,
                            ..job.notification
                        },
                    });
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
