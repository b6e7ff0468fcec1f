//! Drives a run. The task that owns the `Driver` owns the state; effects run in their
//! own tasks and talk to it by message. Each effect first prepares its intent and waits;
//! the driver records the intent (flushed to disk) and only then lets it act; the
//! outcome comes back as another message and is recorded in turn.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cluster::keeper::{Keeper, Verdict};
use crate::effects::{self, Context, process};
use crate::engine::{
    Command, Failure, Intent, Mode, Outcome, ProcessRef, Progress, Recorded, Refusal, Resolution, RunState,
    SYSTEM_ACTOR, Situation, StepStatus, Work, decide, next_work, situation,
};
use crate::journal::{Journal, JournalError};
use crate::outside::Reporter;
use crate::runbook::Approval;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Another process took the run over: this one must stop driving at once.
    #[error(
        "run {run_id} was taken over by {by}: this process no longer holds the run's Lease in the cluster, so it stopped driving and changes nothing more. Follow the run where it is driven now"
    )]
    TakenOver { run_id: String, by: String },
}

/// How a driven run ended, as every front-end's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Completed = 0,
    Error = 1,
    RolledBack = 2,
    Waiting = 3,
}

/// A run held by this process: its journal and its state, moving together (the journal's
/// `Session` entries record who held it).
pub struct HeldRun {
    journal: Journal,
    state: RunState,
    pub operator: String,
    pub ctx: Context,
    /// Who this session is, as recorded when it opens (this machine and process).
    pub host: String,
    pub pid: u32,
    /// Told of every record once it is journaled (the demo's sandbox reacts to the run).
    observer: Option<Observer>,
    /// With `[state] backend = "kubernetes"`: the Lease and the journal's copy in the cluster.
    keeper: Option<Keeper>,
    /// Set by `cutover takeover`: the holder whose expired Lease this session took.
    pub took_over_from: Option<String>,
    /// Sends the run's milestones to the runbook's `[notify]` targets (see `crate::notify`).
    notifier: Option<crate::notify::Notifier>,
}

/// Something told of every record a session journals.
type Observer = Box<dyn Fn(&Recorded) + Send + Sync>;

impl HeldRun {
    pub fn new(journal: Journal, state: RunState, operator: &str) -> Self {
        let ctx = Context {
            run_id: state.run_id.clone(),
            attempt: state.attempt,
            redactor: Arc::new(effects::redactor_for(&state.runbook)),
        };
        let notifier = crate::notify::Notifier::start(&state, || journal.records(1).unwrap_or_default());
        Self {
            journal,
            state,
            operator: operator.to_string(),
            ctx,
            host: crate::journal::hostname(),
            pid: std::process::id(),
            observer: None,
            notifier,
            keeper: None,
            took_over_from: None,
        }
    }

    /// Keeps the run's Lease and its copy in the cluster while this session drives.
    pub fn keep_in_cluster(&mut self, keeper: Keeper) {
        keeper.appended(self.state.last_seq, self.state.status.word());
        self.keeper = Some(keeper);
    }

    pub fn keeper(&self) -> Option<&Keeper> {
        self.keeper.as_ref()
    }

    /// Stops keeping the run in the cluster: the last events are pushed and the Lease is
    /// given up, unless the run was taken over (then nothing is written there).
    pub async fn let_go(&mut self) {
        if let Some(k) = self.keeper.take() {
            let release = k.status().lost_to.is_none();
            k.stop(release).await;
        }
    }

    /// Tells `observer` of every record from now on, after it is journaled.
    pub fn observe(&mut self, observer: impl Fn(&Recorded) + Send + Sync + 'static) {
        self.observer = Some(Box::new(observer));
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Decides, masks secrets, appends (flushed) and applies. Nothing changes on refusal.
    pub fn submit(&mut self, command: Command, by: &str, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let events = decide(&self.state, command, now)?;
        // The runbook itself is checked before a run starts (see `refuse_leaking_runbook`).
        let events = events.into_iter().map(|e| self.ctx.redactor.redact_event(e)).collect();
        let records = self.journal.append(&mut self.state, now, by, events)?;
        self.ctx.attempt = self.state.attempt;
        if let Some(k) = &self.keeper {
            k.appended(self.state.last_seq, self.state.status.word());
        }
        if let Some(observer) = &self.observer {
            records.iter().for_each(observer);
        }
        if let Some(n) = &mut self.notifier {
            n.on_records(&records, &self.state);
        }
        Ok(records)
    }

    /// Journals what became of a message to a `[notify]` target (one the session gave up
    /// on is not journaled twice).
    pub fn record_notification(
        &mut self,
        report: crate::notify::Report,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recorded>, SubmitError> {
        if !self.notifier.as_mut().is_some_and(|n| n.recorded(report.id)) {
            return Ok(Vec::new());
        }
        let command = Command::RecordNotification {
            notification: report.notification,
        };
        self.submit(command, SYSTEM_ACTOR, now)
    }

    /// Whether a message to a `[notify]` target is under way (its outcome comes as a `Msg`).
    pub fn notifying(&self) -> bool {
        self.notifier.as_ref().is_some_and(|n| n.pending())
    }

    /// Opens this process's session on the run (steps left running become in doubt).
    pub fn open(&mut self, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let command = Command::OpenSession {
            pid: self.pid,
            host: self.host.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            took_over_from: self.took_over_from.clone(),
        };
        let by = self.operator.clone();
        let mut records = self.submit(command, &by, now)?;
        records.extend(self.stop_leftovers(now)?);
        Ok(records)
    }

    /// A step left in doubt may still have its processes running (the last session was
    /// killed, its command was not). They are stopped, and that is recorded, before the
    /// step can be run again or decided about.
    fn stop_leftovers(&mut self, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        if let Some(from) = self.took_over_from.clone() {
            return self.note_remote_leftovers(&from, now);
        }
        let leftovers: Vec<(String, ProcessRef)> = self
            .in_doubt_processes()
            .into_iter()
            .filter(|(_, p)| process::group_alive(*p))
            .collect();
        let mut records = Vec::new();
        for (step, p) in leftovers {
            if !process::stop_group(p, std::time::Duration::from_secs(5)) {
                return Err(SubmitError::Journal(JournalError::Invalid(format!(
                    "process group {} of step `{step}` is still running from the previous session and could not be \
                     stopped: stop it by hand (kill -KILL -{}), then run again",
                    p.pgid, p.pgid
                ))));
            }
            let text = format!(
                "process group {} of this step was still running from the previous session; it was stopped before going on",
                p.pgid
            );
            records.extend(self.submit(Command::Note { step: Some(step), text }, SYSTEM_ACTOR, now)?);
        }
        Ok(records)
    }

    /// The process groups that steps left in doubt had started.
    fn in_doubt_processes(&self) -> Vec<(String, ProcessRef)> {
        self.state
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::InDoubt)
            .filter_map(|s| s.process.map(|p| (s.id.clone(), p)))
            .collect()
    }

    /// After a takeover, the processes a step left belong to the old holder's machine: they
    /// are not this process's to stop (a pid means nothing here). Each is noted for the
    /// operator who decides about the step.
    fn note_remote_leftovers(&mut self, from: &str, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let leftovers = self.in_doubt_processes();
        let mut records = Vec::new();
        for (step, p) in leftovers {
            let text = format!(
                "this step's command ran as process group {} under {from}: it may still be running there. Check on \
                 that machine before deciding about the step",
                p.pgid
            );
            records.extend(self.submit(Command::Note { step: Some(step), text }, SYSTEM_ACTOR, now)?);
        }
        Ok(records)
    }

    /// Closes the session and snapshots the state so the next resume is quick.
    pub fn close(&mut self, reason: &str, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let by = self.operator.clone();
        // Messages still under way get `flush` to arrive; the rest are journaled as dropped.
        let mut records = Vec::new();
        for notification in self.notifier.as_mut().map(|n| n.settle()).unwrap_or_default() {
            records.extend(self.submit(Command::RecordNotification { notification }, SYSTEM_ACTOR, Utc::now())?);
        }
        records.extend(self.submit(
            Command::CloseSession {
                reason: reason.to_string(),
            },
            &by,
            now,
        )?);
        self.journal.snapshot(&self.state)?;
        Ok(records)
    }
}

/// Measures the requests per second still reaching the new side, every poll, until
/// cancelled. A query that fails says so; it never ends the drain.
async fn sample_drain(metrics: crate::runbook::MetricsConfig, reporter: Reporter, cancel: CancellationToken) {
    use crate::engine::{ObjectCheck, Verdict};
    let Some(query) = metrics.new_side_rate.clone() else {
        return;
    };
    let every = metrics
        .interval
        .clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(15));
    let prometheus = crate::metrics::Prometheus::new(&metrics);
    loop {
        let (value, verdict, note) = match &prometheus {
            Err(f) => ("unknown".to_string(), Verdict::Inconclusive, f.message.clone()),
            Ok(p) => match tokio::select! {
                r = p.instant(&query, None) => r,
                () = cancel.cancelled() => return,
            } {
                Ok(Some(v)) => (format!("{v:.1} req/s"), Verdict::Within, String::new()),
                Ok(None) => ("no data".to_string(), Verdict::Inconclusive, String::new()),
                Err(e) => ("unknown".to_string(), Verdict::Inconclusive, e.message),
            },
        };
        reporter.report(Progress::ObjectChecked {
            check: ObjectCheck {
                object: DRAIN_OBJECT.to_string(),
                check: "requests still arriving".to_string(),
                value,
                verdict,
                note,
            },
        });
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
    }
}

/// Messages from effect tasks to the driver.
pub enum Msg {
    /// The step's intent is ready; record it, then say go.
    Prepared {
        step: String,
        intent: Intent,
        go: oneshot::Sender<()>,
    },
    Finished {
        step: String,
        result: Result<Outcome, Failure>,
    },
    /// What a running step measured so far.
    Report { step: String, report: Progress },
    /// The cluster keeper's state changed (the run was taken over): look again.
    Cluster,
    /// What became of a message to a `[notify]` target.
    Notified(crate::notify::Report),
}

struct InFlight {
    step: String,
    cancel: CancellationToken,
    acting: bool,
}

pub struct Driver {
    pub session: HeldRun,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    in_flight: Option<InFlight>,
    /// Give approvals as the run reaches them (a rehearsal's `--auto-approve`, a dry run),
    /// with the operator's notes for the steps that have one.
    auto_approve: Option<std::collections::BTreeMap<String, String>>,
    /// While a rollback drains the new side: the task that measures the traffic still
    /// arriving there (`[metrics] new_side_rate`), for that step.
    drain_sampler: Option<(String, CancellationToken)>,
    /// Why the next step waits for the run's Lease to be renewed (`[state]` in the cluster).
    lease_wait: Option<String>,
}

/// How the traffic still reaching the new side is named in a drain's reports.
pub const DRAIN_OBJECT: &str = "new side";

impl Driver {
    pub fn new(session: HeldRun) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(k) = session.keeper() {
            let tx = tx.clone();
            k.on_lost(move || {
                let _ = tx.send(Msg::Cluster);
            });
        }
        if let Some(n) = &session.notifier {
            let tx = tx.clone();
            n.connect(move |report| {
                let _ = tx.send(Msg::Notified(report));
            });
        }
        Self {
            session,
            tx,
            rx,
            in_flight: None,
            auto_approve: None,
            drain_sampler: None,
            lease_wait: None,
        }
    }

    /// Approvals are given by the tool as the run reaches them. Only a rehearsal or a dry
    /// run may do that; for a live run it is refused.
    pub fn approve_automatically(&mut self, notes: std::collections::BTreeMap<String, String>) -> Result<(), String> {
        let state = self.state();
        if state.mode == Mode::Live && !state.dry_run {
            return Err(format!(
                "run {} is live: approvals are given by the operator (--auto-approve is only for rehearsals)",
                state.run_id
            ));
        }
        self.auto_approve = Some(notes);
        Ok(())
    }

    /// The approval the run waits for, given by the tool.
    fn auto_approval(&mut self, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let Situation::Approval { step, approval, .. } = situation(self.state(), now) else {
            return Ok(Vec::new());
        };
        let typed = match approval {
            Approval::Type(text) => Some(text),
            _ => None,
        };
        let why = if self.state().dry_run {
            "approved automatically: dry run, nothing is changed"
        } else {
            "approved automatically: rehearsal with --auto-approve"
        };
        let note = match self.auto_approve.as_ref().and_then(|n| n.get(&step)) {
            Some(given) => format!("{given} ({why})"),
            None => why.to_string(),
        };
        self.session.submit(
            Command::Approve {
                step,
                typed,
                note: Some(note),
            },
            SYSTEM_ACTOR,
            now,
        )
    }

    pub fn state(&self) -> &RunState {
        self.session.state()
    }

    /// The step whose effect is being prepared or performed.
    pub fn busy_with(&self) -> Option<&str> {
        self.in_flight.as_ref().map(|f| f.step.as_str())
    }

    /// Starts what is due now. Bookkeeping effects are recorded at once; a step is
    /// handed to a task (one at a time: steps run in order).
    pub fn start_due(&mut self, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        self.still_ours()?;
        // The wait for the Lease ends when it is renewed (not when a rollback step starts).
        if self
            .session
            .keeper()
            .is_some_and(|k| k.status().lease_current() || k.status().forced)
        {
            self.lease_wait = None;
        }
        let mut written = Vec::new();
        while self.in_flight.is_none() {
            // At every turn: a step retried after a crash needs its approval again, and
            // the try that was cut off used the first.
            if self.auto_approve.is_some() {
                written.extend(self.auto_approval(now)?);
            }
            let Some(effect) = next_work(self.state(), now).into_iter().next() else {
                break;
            };
            match effect {
                Work::RunStep { step } => {
                    if let Some(why) = self.held_back(&step)? {
                        self.lease_wait = Some(why);
                        break;
                    }
                    self.spawn(step)
                }
                Work::RetryInDoubt { step } => written.extend(self.session.submit(
                    Command::ResolveInDoubt {
                        step,
                        resolution: Resolution::Retry,
                        note: Some("safe to run again (idempotent)".to_string()),
                    },
                    SYSTEM_ACTOR,
                    now,
                )?),
                Work::CompleteRun => written.extend(self.session.submit(Command::Complete, SYSTEM_ACTOR, now)?),
                Work::RollBack { step } => written.extend(self.session.submit(
                    Command::RollbackForFailure { step },
                    SYSTEM_ACTOR,
                    now,
                )?),
            }
        }
        self.keep_drain_sampler(now);
        if let Some(n) = &mut self.session.notifier {
            n.on_situation(&self.session.state, now);
        }
        Ok(written)
    }

    /// Whether messages may arrive while no step runs: a drain's traffic is measured, a
    /// message to a `[notify]` target is under way, or the cluster keeper may say the run
    /// was taken over.
    pub fn listening(&self) -> bool {
        self.drain_sampler.is_some() || self.session.keeper().is_some() || self.session.notifying()
    }

    /// An error once another process took the run over.
    fn still_ours(&self) -> Result<(), SubmitError> {
        match self.session.keeper().map(|k| k.verdict(true)) {
            Some(Verdict::Lost(by)) => Err(SubmitError::TakenOver {
                run_id: self.state().run_id.clone(),
                by,
            }),
            _ => Ok(()),
        }
    }

    /// Why `step` may not start now (its side effect needs the run's Lease renewed), if so.
    fn held_back(&self, step: &str) -> Result<Option<String>, SubmitError> {
        let Some(keeper) = self.session.keeper() else {
            return Ok(None);
        };
        let rollback = self.state().runbook.rollback.iter().any(|s| s.id == step);
        match keeper.verdict(rollback) {
            Verdict::Go => Ok(None),
            Verdict::Unrenewed(why) => Ok(Some(why)),
            Verdict::Lost(by) => Err(SubmitError::TakenOver {
                run_id: self.state().run_id.clone(),
                by,
            }),
        }
    }

    /// Why the next step waits for the run's Lease, while it does.
    pub fn lease_wait(&self) -> Option<&str> {
        self.lease_wait.as_deref()
    }

    /// The cluster keeper's state, with `[state] backend = "kubernetes"`.
    pub fn cluster(&self) -> Option<crate::cluster::keeper::Status> {
        self.session.keeper().map(|k| k.status())
    }

    /// The operator lets new steps start although the Lease could not be renewed (until
    /// it is renewed again); recorded in the journal with who did it.
    pub fn force_without_lease(&mut self, by: &str, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let Some(keeper) = self.session.keeper() else {
            return Ok(Vec::new());
        };
        let place = keeper.status().place;
        keeper.force();
        self.lease_wait = None;
        let text = format!(
            "steps start without a renewed Lease in {place}, forced by {by}: make sure nobody else drives this run"
        );
        self.session.submit(Command::Note { step: None, text }, by, now)
    }

    /// Starts measuring the new side's traffic when a drain begins, stops when it ends.
    fn keep_drain_sampler(&mut self, now: DateTime<Utc>) {
        let state = self.state();
        // The current step, not started, behind a drain that has not run out (whatever
        // other gate it also waits for).
        let draining = crate::engine::plan::current(state).filter(|&i| {
            state.steps[i].status == StepStatus::Pending
                && crate::engine::plan::drain_gate(state, i).is_some_and(|(until, _)| until > now)
        });
        let want = match (draining, &state.runbook.metrics) {
            (Some(i), Some(m)) if m.new_side_rate.is_some() && !state.dry_run => {
                Some((state.steps[i].id.clone(), m.clone()))
            }
            _ => None,
        };
        if self.drain_sampler.as_ref().map(|(s, _)| s) == want.as_ref().map(|(s, _)| s) {
            return;
        }
        if let Some((_, cancel)) = self.drain_sampler.take() {
            cancel.cancel();
        }
        let Some((step, metrics)) = want else { return };
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let reporter = self.reporter(&step);
        tokio::spawn(async move { sample_drain(metrics, reporter, token).await });
        self.drain_sampler = Some((step, cancel));
    }

    fn spawn(&mut self, step: String) {
        let state = self.state();
        let Some(spec) = state.spec(&step).cloned() else {
            return;
        };
        let run = state.clone();
        let ctx = self.session.ctx.clone();
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let tx = self.tx.clone();
        let reporter = self.reporter(&step);
        let id = step.clone();
        tokio::spawn(async move {
            // Preparing reads servers too (a DNS step reads the records): a rollback stops it.
            let prepared = match effects::until_cancelled(&token, effects::prepare(&spec, &run, &ctx)).await {
                Ok(p) => p,
                Err(failure) => {
                    let _ = tx.send(Msg::Finished {
                        step: id,
                        result: Err(failure),
                    });
                    return;
                }
            };
            let (go, proceed) = oneshot::channel();
            let sent = tx.send(Msg::Prepared {
                step: id.clone(),
                intent: prepared.intent,
                go,
            });
            // Not recorded means not done.
            if sent.is_err() || proceed.await.is_err() {
                return;
            }
            let crash_point = crate::failpoint::during_effect(&id);
            // A bug that panics in an effect fails its step instead of leaving it running.
            let result = AssertUnwindSafe(effects::execute(prepared.job, &ctx, &reporter, token))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Err(Failure::new(format!("cutover failed inside this step: {what}")).advise("this is a bug in cutover: keep the journal for the report; check by hand what the step did, then retry or skip"
                                .to_string(),))
                });
            drop(crash_point);
            let _ = tx.send(Msg::Finished { step: id, result });
        });
        self.in_flight = Some(InFlight {
            step,
            cancel,
            acting: false,
        });
    }

    /// A way to report measurements of `step` into this driver, as its effect does.
    pub fn reporter(&self, step: &str) -> Reporter {
        let (step, tx) = (step.to_string(), self.tx.clone());
        Reporter::new(move |report| {
            let _ = tx.send(Msg::Report {
                step: step.clone(),
                report,
            });
        })
    }

    /// A message that has already arrived, if any.
    pub fn try_recv(&mut self) -> Option<Msg> {
        self.rx.try_recv().ok()
    }

    pub async fn recv(&mut self) -> Msg {
        // The driver holds a sender, so the channel never closes.
        self.rx.recv().await.expect("the driver keeps the channel open")
    }

    pub fn handle(&mut self, msg: Msg, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let by = self.session.operator.clone();
        match msg {
            Msg::Prepared { step, intent, go } => {
                // Asked again right before acting: the Lease may have run out meanwhile.
                match self.held_back(&step) {
                    Ok(None) => {}
                    Ok(Some(why)) => {
                        self.in_flight = None;
                        self.lease_wait = Some(why);
                        return Ok(Vec::new());
                    }
                    Err(e) => {
                        self.in_flight = None;
                        return Err(e);
                    }
                }
                match self.session.submit(Command::Begin { step, intent }, &by, now) {
                    Ok(records) => {
                        let _ = go.send(());
                        if let Some(f) = &mut self.in_flight {
                            f.acting = true;
                        }
                        Ok(records)
                    }
                    // The run moved on while the step was being prepared (e.g. a rollback).
                    Err(SubmitError::Refused(_)) => {
                        self.in_flight = None;
                        Ok(Vec::new())
                    }
                    Err(e) => {
                        self.in_flight = None;
                        Err(e)
                    }
                }
            }
            Msg::Finished { step, result } => {
                crate::failpoint::hit("after-effect", Some(&step));
                let acting = self.in_flight.take().is_some_and(|f| f.acting);
                let mut records = match self.session.submit(Command::Finish { step, result }, &by, now) {
                    // A step that failed (or was stopped) while being prepared, after the run
                    // moved on (a rollback): it never began, nothing to record.
                    Err(SubmitError::Refused(_)) if !acting => return Ok(Vec::new()),
                    other => other?,
                };
                // A failure that rolls the run back: the tool records the incident and starts
                // the rollback at once, as its own decision (also when the session is closing).
                if let Some(Work::RollBack { step }) = next_work(self.state(), now).into_iter().next() {
                    records.extend(
                        self.session
                            .submit(Command::RollbackForFailure { step }, SYSTEM_ACTOR, now)?,
                    );
                }
                Ok(records)
            }
            // A late report of a step that has finished or was stopped is dropped.
            Msg::Cluster => {
                self.still_ours()?;
                Ok(Vec::new())
            }
            Msg::Report { step, report } => {
                match self.session.submit(Command::Report { step, report }, SYSTEM_ACTOR, now) {
                    Err(SubmitError::Refused(_)) => Ok(Vec::new()),
                    other => other,
                }
            }
            Msg::Notified(report) => self.session.record_notification(report, now),
        }
    }

    /// An operator's command. A rollback also stops the step in progress.
    pub fn command(&mut self, command: Command, by: &str, now: DateTime<Utc>) -> Result<Vec<Recorded>, SubmitError> {
        let rollback = matches!(command, Command::Rollback { .. });
        let records = self.session.submit(command, by, now)?;
        if rollback && let Some(f) = &self.in_flight {
            f.cancel.cancel();
        }
        Ok(records)
    }

    /// Stops what is in progress without recording an outcome (the next session will find
    /// the step in doubt), then closes the session.
    pub async fn shutdown(&mut self, reason: &str) -> Result<Vec<Recorded>, SubmitError> {
        let mut reason = reason.to_string();
        if let Some((_, cancel)) = self.drain_sampler.take() {
            cancel.cancel();
        }
        // Outcomes of messages wait in the notifier from now on: closing journals them.
        if let Some(n) = &self.session.notifier {
            n.disconnect();
        }
        // What already arrived is real: record it before stopping anything.
        let mut recorded = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Prepared { .. } = msg {
                // Not recorded means not done: the effect is told nothing and stops.
                self.in_flight = None;
                continue;
            }
            // Stopping anyway: the keeper's news changes nothing here.
            if let Msg::Cluster = msg {
                continue;
            }
            recorded.extend(self.handle(msg, Utc::now())?);
        }
        if let Some(f) = self.in_flight.take() {
            f.cancel.cancel();
            if f.acting {
                reason = format!("{reason}; step `{}` was interrupted and will be in doubt", f.step);
                // Give the effect a moment to stop its processes.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                    while let Some(msg) = self.rx.recv().await {
                        if matches!(msg, Msg::Finished { .. }) {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        let closed = self.session.close(&reason, Utc::now());
        self.session.let_go().await;
        recorded.extend(closed?);
        Ok(recorded)
    }
}
