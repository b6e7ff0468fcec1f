//! The keeper: while a run is driven, renews its Lease and replicates its journal to the
//! cluster, in the background. The driver asks it before starting a side effect
//! ([`Keeper::verdict`]) and shows its [`Status`].
//!
//! - Renewals come every third of the Lease's duration. One that fails leaves the Lease
//!   *unrenewed*: the run goes on locally (the rollback must never depend on the cluster
//!   that may be what broke), rollback steps still start, any other new side effect waits
//!   until a renewal succeeds or the operator forces it.
//! - A renewal that finds another holder's name, or a write of the copy that finds it
//!   changed by someone else, means the run was taken over: the keeper stops writing at
//!   once and the driver stops driving (no split brain).
//! - Replication runs only while the Lease is current (renewed less than its duration ago,
//!   by this machine's monotonic clock), so a holder that was frozen past its Lease never
//!   writes over its successor.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::lease::{Record, Renewal, RunLease};
use super::remote::{Remote, WriteError};
use crate::journal::RunIdentity;
use crate::journal::replica::{self, log_start};
use crate::runbook::StateConfig;

/// How often the copy is looked at when nothing wakes the keeper (after an error).
const POLL: Duration = Duration::from_secs(1);
/// How long a clean stop waits for the last events to reach the cluster.
const LAST_PUSH: Duration = Duration::from_secs(5);

/// What the keeper knows, for the header and the driver.
#[derive(Debug, Clone)]
pub struct Status {
    /// `context prod-eu (https://…), namespace cutover`
    pub place: String,
    /// This process, as the Lease names it.
    pub holder: String,
    pub lease_duration: Duration,
    /// The last successful renewal (or the acquisition).
    pub renewed: Option<(DateTime<Utc>, Instant)>,
    /// Why the last renewal failed, if it did.
    pub renew_error: Option<String>,
    /// Who holds the run now, once it was taken over.
    pub lost_to: Option<String>,
    /// The last event the cluster's copy commits.
    pub replicated: u64,
    /// The last event of this machine's journal.
    pub local: u64,
    pub replication_error: Option<String>,
    /// The operator let new side effects start without a renewed Lease, until the next renewal.
    pub forced: bool,
    /// When each event reached the cluster (`seq`, from append to commit): the lag.
    pub lag: Option<Duration>,
    /// The run's state as of the last event appended (`active`, `completed`, …).
    pub run_status: String,
}

impl Status {
    /// The Lease is ours and renewed recently enough that nobody else can have it: less
    /// than its duration ago, by this machine's clock, less a margin for a slow write.
    ///
    /// The age is the larger of this process's monotonic clock and the wall clock: the
    /// monotonic clock stops while a laptop sleeps, the wall clock can be set back; a
    /// Lease is current only when both say so.
    pub fn lease_current(&self) -> bool {
        self.lease_current_at(Utc::now())
    }

    /// [`lease_current`](Self::lease_current) with the wall clock at `now`.
    pub fn lease_current_at(&self, now: DateTime<Utc>) -> bool {
        let margin = self.lease_duration / 10;
        self.lost_to.is_none()
            && self.renew_error.is_none()
            && self.renewed.is_some_and(|(wall, at)| {
                let age = at.elapsed().max((now - wall).to_std().unwrap_or_default());
                age + margin < self.lease_duration
            })
    }

    /// Events written here and not yet in the cluster.
    pub fn behind(&self) -> u64 {
        self.local.saturating_sub(self.replicated)
    }

    /// One line for the header: what the cluster has and whether the Lease holds.
    pub fn words(&self, now: DateTime<Utc>) -> String {
        if let Some(by) = &self.lost_to {
            return format!("run taken over by {by}: this process stopped driving");
        }
        format!("{} · {}", self.replica_words(), self.lease_words(now))
    }

    /// "replicated to #412", "cluster unreachable — local only, 37 events behind"
    pub fn replica_words(&self) -> String {
        match (&self.replication_error, self.behind()) {
            (Some(_), n) => format!("cluster unreachable — local only, {n} event{} behind", plural(n)),
            (None, 0) => format!("replicated to #{}", self.replicated),
            (None, n) => format!("replicating: #{} of #{} ({n} behind)", self.replicated, self.local),
        }
    }

    /// "Lease renewed 3.0s ago", "Lease unrenewed for 1m 05s"
    pub fn lease_words(&self, now: DateTime<Utc>) -> String {
        match (&self.renewed, self.lease_current_at(now)) {
            (Some((at, _)), true) => format!(
                "Lease renewed {} ago",
                crate::duration::took((now - *at).to_std().unwrap_or_default())
            ),
            (Some((at, _)), false) => format!(
                "Lease unrenewed for {}{}",
                crate::duration::took((now - *at).to_std().unwrap_or_default()),
                if self.forced { " (forced)" } else { "" }
            ),
            (None, _) => "Lease not held".to_string(),
        }
    }

    /// Whether the line is bad news at `now` (the header shows it loudly).
    pub fn alarming(&self, now: DateTime<Utc>) -> bool {
        self.lost_to.is_some() || !self.lease_current_at(now) || self.replication_error.is_some()
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Whether a side effect may start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// The run was taken over: stop driving.
    Lost(String),
    /// The Lease could not be renewed: only rollback steps start, unless forced.
    Unrenewed(String),
}

/// What the keeper is given when a run is held.
pub struct Held {
    pub lease: RunLease,
    pub record: Record,
    pub config: StateConfig,
    pub run_dir: PathBuf,
    pub identity: RunIdentity,
    /// The last event already in the local journal.
    pub local_seq: u64,
    /// The copy, when it was attached already (checked against the local journal).
    pub remote: Option<Remote>,
    /// The run's state now (`active`, …).
    pub run_status: String,
    /// When the request that took the Lease was sent (both clocks).
    pub sent: (DateTime<Utc>, Instant),
}

struct Shared {
    status: Mutex<Status>,
    wake: Notify,
    /// Told when the Lease is lost (wakes the driver).
    on_lost: Mutex<Option<Box<dyn Fn() + Send>>>,
    /// When the driver appended each event not yet replicated (for the lag).
    appended: Mutex<std::collections::VecDeque<(u64, Instant)>>,
}

impl Shared {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Keeper {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    release: Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Keeper {
    /// Starts keeping a run whose Lease was just acquired.
    pub fn start(held: Held) -> Keeper {
        let status = Status {
            place: held.lease.cluster.describe(),
            holder: held.record.holder.clone(),
            lease_duration: held.lease.duration,
            // From when the request that took the Lease was sent, not when it was answered.
            renewed: Some((held.sent.0, held.sent.1)),
            renew_error: None,
            lost_to: None,
            replicated: 0,
            local: held.local_seq,
            replication_error: None,
            forced: false,
            lag: None,
            run_status: held.run_status.clone(),
        };
        let shared = Arc::new(Shared {
            status: Mutex::new(status),
            wake: Notify::new(),
            on_lost: Mutex::new(None),
            appended: Mutex::new(Default::default()),
        });
        let cancel = CancellationToken::new();
        let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn(keep(held, shared.clone(), cancel.clone(), release.clone()));
        Keeper {
            shared,
            cancel,
            release,
            task: Some(task),
        }
    }

    pub fn status(&self) -> Status {
        self.shared.status().clone()
    }

    /// `f` is called (from the keeper's task) when the run is found taken over.
    pub fn on_lost(&self, f: impl Fn() + Send + 'static) {
        *self.shared.on_lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
    }

    /// The journal now ends at `seq`: replicate it.
    pub fn appended(&self, seq: u64, run_status: &str) {
        {
            let mut s = self.shared.status();
            s.local = s.local.max(seq);
            s.run_status = run_status.to_string();
        }
        self.shared
            .appended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((seq, Instant::now()));
        self.shared.wake.notify_one();
    }

    /// Whether a side effect may start now (`rollback`: it is a rollback step).
    pub fn verdict(&self, rollback: bool) -> Verdict {
        let s = self.shared.status();
        if let Some(by) = &s.lost_to {
            return Verdict::Lost(by.clone());
        }
        if s.lease_current() || s.forced || rollback {
            return Verdict::Go;
        }
        let why = s
            .renew_error
            .clone()
            .unwrap_or_else(|| "no renewal within the Lease's duration".to_string());
        Verdict::Unrenewed(format!(
            "the run's Lease in {} could not be renewed ({why}): another operator may be able to take the run \
             over, so no new step starts but rollback steps",
            s.place
        ))
    }

    /// Lets new side effects start without a renewed Lease until the next renewal.
    pub fn force(&self) {
        self.shared.status().forced = true;
    }

    /// Stops keeping: pushes what is left (briefly) and, when `release`, gives the Lease
    /// up so the next operator need not wait for it to run out.
    pub async fn stop(mut self, release: bool) {
        self.release.store(release, std::sync::atomic::Ordering::SeqCst);
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn keep(held: Held, shared: Arc<Shared>, cancel: CancellationToken, release: Arc<std::sync::atomic::AtomicBool>) {
    let Held {
        lease,
        mut record,
        config,
        run_dir,
        identity,
        remote,
        ..
    } = held;
    let every = lease.duration / 3;
    let mut next_renewal = Instant::now() + every;
    let mut offset = log_start() + remote.as_ref().map_or(0, |r| r.head().log_len);
    if let Some(r) = &remote {
        shared.status().replicated = r.head().last_seq;
    }
    let mut remote = remote;
    let mut stopped = false;
    let run_json = serde_json::to_vec_pretty(&identity).unwrap_or_default();
    let lost = |by: String| {
        shared.status().lost_to = Some(by);
        if let Some(f) = shared.on_lost.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            f();
        }
    };
    loop {
        if !stopped {
            tokio::select! {
                () = cancel.cancelled() => stopped = true,
                () = tokio::time::sleep_until(next_renewal.into()) => {}
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
        let stale = !shared.status().lease_current();
        if !stopped && (Instant::now() >= next_renewal || stale) {
            let now = Utc::now();
            let sent = Instant::now();
            match lease.renew(&record, now).await {
                Ok(r) => {
                    record = r;
                    let mut s = shared.status();
                    s.renewed = Some((now, sent));
                    s.renew_error = None;
                    s.forced = false;
                    next_renewal = Instant::now() + every;
                }
                Err(Renewal::Lost(r)) => {
                    let by = if r.holder.is_empty() {
                        last_writer(&lease, &config, &identity, &record.holder).await
                    } else {
                        r.holder
                    };
                    lost(by);
                    return;
                }
                Err(Renewal::Failed(e)) => {
                    shared.status().renew_error = Some(e.message);
                    next_renewal = Instant::now() + every.min(Duration::from_secs(2));
                }
            }
        }
        // Only a holder whose Lease nobody else can have writes the copy.
        if shared.status().lease_current() {
            let until = if stopped {
                Instant::now() + LAST_PUSH
            } else {
                next_renewal
            };
            let push = replicate(
                &shared,
                &config,
                &lease,
                &identity,
                &run_dir,
                &run_json,
                &mut remote,
                &mut offset,
                until,
            );
            let pushed = match tokio::time::timeout_at(until.max(Instant::now() + LAST_PUSH).into(), push).await {
                Ok(pushed) => pushed,
                // Cut off in the middle of an append: what this writer holds of the copy
                // may be ahead of the head; attach again (the head says what counts).
                Err(_) => {
                    remote = None;
                    Ok(())
                }
            };
            if let Err(by) = pushed {
                lost(by);
                return;
            }
        }
        if stopped {
            if release.load(std::sync::atomic::Ordering::SeqCst) && shared.status().behind() == 0 {
                let _ = lease.release(&record).await;
            }
            return;
        }
    }
}

/// Pushes what the local journal has and the cluster does not. `Err(holder)`: someone
/// else wrote the copy — the run was taken over.
#[allow(clippy::too_many_arguments)]
async fn replicate(
    shared: &Shared,
    config: &StateConfig,
    lease: &RunLease,
    identity: &RunIdentity,
    run_dir: &std::path::Path,
    run_json: &[u8],
    remote: &mut Option<Remote>,
    offset: &mut u64,
    until: Instant,
) -> Result<(), String> {
    let fail = |e: String| {
        shared.status().replication_error = Some(e);
    };
    if remote.is_none() {
        // (Re)attaching writes the head: only while the Lease is still this process's.
        let me = shared.status().holder.clone();
        match lease.read().await {
            Ok(Some(r)) if r.holder == me => {}
            Ok(Some(r)) if !r.holder.is_empty() => return Err(r.holder),
            Ok(_) => return Err("another process: its Lease was released or deleted meanwhile".to_string()),
            Err(e) => {
                fail(e.message);
                return Ok(());
            }
        }
        let prefix = |len: u64| replica::read_prefix(run_dir, len);
        let holder = shared.status().holder.clone();
        match Remote::attach(&lease.cluster, config.object, identity, &holder, prefix).await {
            Ok(r) => {
                *offset = log_start() + r.head().log_len;
                shared.status().replicated = r.head().last_seq;
                *remote = Some(r);
            }
            Err(WriteError::Superseded(m)) => return superseded(shared, lease, m, remote).await,
            // The run went on elsewhere: this process must not drive it on.
            Err(WriteError::Diverged(m)) => return Err(format!("another machine ({m})")),
            Err(WriteError::Cluster(e)) => {
                fail(e.message);
                return Ok(());
            }
        }
    }
    let Some(r) = remote.as_mut() else { return Ok(()) };
    // Renewing comes first: a long catch-up stops at the next renewal, and goes on after it.
    while Instant::now() < until && shared.status().lease_current() {
        let tail = match replica::read_tail(run_dir, *offset) {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => {
                fail(format!("cannot read this machine's journal: {e}"));
                return Ok(());
            }
        };
        let status = shared.status().run_status.clone();
        match r.append(&tail.bytes, tail.last_seq, &status, run_json).await {
            Ok(()) => {
                *offset = tail.end;
                let mut s = shared.status();
                s.replicated = tail.last_seq;
                s.local = s.local.max(tail.last_seq);
                s.replication_error = None;
                let mut appended = shared.appended.lock().unwrap_or_else(|e| e.into_inner());
                while let Some((seq, at)) = appended.front().copied() {
                    if seq > tail.last_seq {
                        break;
                    }
                    s.lag = Some(at.elapsed());
                    appended.pop_front();
                }
            }
            Err(WriteError::Superseded(m)) => return superseded(shared, lease, m, remote).await,
            Err(e) => {
                fail(e.to_string());
                // What this writer thinks the copy holds may be wrong now: attach again.
                *remote = None;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Who took the run over when its Lease is free again: the last writer of its copy (who
/// has since finished with it).
async fn last_writer(lease: &RunLease, config: &StateConfig, identity: &RunIdentity, me: &str) -> String {
    match super::remote::read_head(&lease.cluster, config.object, &identity.run_id).await {
        Ok(Some((_, head, _))) if head.writer != me && !head.writer.is_empty() => {
            format!("{} (who has since let the run go)", head.writer)
        }
        _ => "another process: its Lease was released or deleted meanwhile".to_string(),
    }
}

/// A write of the copy found it changed. If the Lease is someone else's, the run was
/// taken over (`Err(holder)`). If it is still this process's, the change was this process's
/// own write whose answer was lost (a timeout): attach again and go on.
async fn superseded(
    shared: &Shared,
    lease: &RunLease,
    message: String,
    remote: &mut Option<Remote>,
) -> Result<(), String> {
    let me = shared.status().holder.clone();
    match lease.read().await {
        Ok(Some(r)) if r.holder == me => {
            shared.status().replication_error = Some(message);
            *remote = None;
            Ok(())
        }
        Ok(Some(r)) if !r.holder.is_empty() => Err(r.holder),
        Ok(_) => Err(format!("another process ({message})")),
        // Not known: do not write, and ask again next time.
        Err(e) => {
            shared.status().replication_error = Some(e.message);
            *remote = None;
            Ok(())
        }
    }
}
