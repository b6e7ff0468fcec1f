//! The run's Lease and its copy in the cluster, for the commands that drive a run
//! (`[state] backend = "kubernetes"`), and `cutover takeover`.

use anyhow::{Result, bail};
use chrono::Utc;

use super::validate::load_or_report;
use super::{Env, drive};
use crate::cli::TakeoverArgs;
use crate::cluster::keeper::{Held, Keeper};
use crate::cluster::lease::{Record, Refused, RunLease};
use crate::cluster::{self, remote};
use crate::journal::{RunIdentity, hostname, replica};
use crate::runbook::StateConfig;
use crate::runner::HeldRun;

/// Whether the holder a Lease names is a process of this host that no longer runs (this
/// machine crashed or the process was killed), and the Lease has also missed a renewal
/// (a host name and a pid alone can match a live holder in another pid namespace): its
/// Lease need not run out first.
fn gone_from_here(r: &Record) -> bool {
    let missed = r.renewed.or(r.acquired).is_some_and(|t| {
        (Utc::now() - t).to_std().unwrap_or_default() > r.duration / 3 + std::time::Duration::from_secs(2)
    });
    let Some((host, pid)) = cluster::host_and_pid(&r.holder) else {
        return false;
    };
    if !missed {
        return false;
    }
    if host != hostname() || pid == std::process::id() {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

fn in_cluster(session: &HeldRun) -> Option<StateConfig> {
    let state = session.state();
    let demo = state.rehearsal.as_ref().is_some_and(|r| r.demo);
    state
        .runbook
        .state
        .clone()
        .filter(|c| c.in_cluster() && !state.dry_run && !demo)
}

fn identity_of(session: &HeldRun) -> Result<RunIdentity> {
    let path = session.journal().dir().join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// What the session's holder is called in the cluster.
fn lease_identity(session: &HeldRun) -> String {
    cluster::identity(&session.operator, &session.host, session.pid)
}

/// Takes the run's Lease and starts keeping its journal in the cluster, before the
/// session's first event, when the runbook says `[state] backend = "kubernetes"`. A Lease
/// someone else renews refuses the session. An unreachable cluster refuses it too, but for
/// `rollback_anyway` (`cutover rollback`: a rollback never depends on the cluster), which
/// then goes on locally and says so.
pub async fn claim(session: &mut HeldRun, rollback_anyway: bool) -> Result<()> {
    let Some(cfg) = in_cluster(session) else {
        return Ok(());
    };
    let run_id = session.state().run_id.clone();
    let identity = lease_identity(session);
    let unreachable = |message: String| -> Result<()> {
        if rollback_anyway {
            eprintln!(
                "warning: {message}. The rollback goes on from this machine's journal without the run's Lease; \
                 make sure nobody else drives run {run_id}"
            );
            return Ok(());
        }
        bail!(
            "{message}. Run {run_id} keeps its lock there ([state] backend = \"kubernetes\"), so it is not driven \
             without it: restore access to the cluster and try again. A rollback is never refused for this: \
             `cutover rollback {run_id}` goes on from this machine's journal"
        )
    };
    let cluster = match cluster::connect(&cfg).await {
        Ok(c) => c,
        Err(e) => return unreachable(format!("cannot reach the cluster that holds run {run_id}'s Lease: {e}")),
    };
    let lease = RunLease::new(cluster.clone(), &run_id, cfg.lease_duration);
    let now = Utc::now();
    let sent = (now, std::time::Instant::now());
    let record = match lease.acquire(&identity, now, gone_from_here).await {
        Ok(r) => r,
        Err(Refused::Held(r)) => bail!(
            "run {run_id} is held in the cluster ({}) by {}. Only one process may drive a run: let it finish, or \
             once its Lease has run out (it is renewed while its holder lives), take the run over with `cutover \
             takeover {run_id} RUNBOOK --env ENV`",
            cluster.describe(),
            r.describe(now)
        ),
        Err(Refused::Cluster(e)) => return unreachable(format!("cannot take run {run_id}'s Lease: {e}")),
    };
    let run = match identity_of(session) {
        Ok(r) => r,
        Err(e) => {
            let _ = lease.release(&record).await;
            return Err(e);
        }
    };
    // The copy must be a prefix of this journal: otherwise the run went on elsewhere.
    let dir = session.journal().dir().to_path_buf();
    let attached = remote::Remote::attach(&cluster, cfg.object, &run, &identity, |len| {
        replica::read_prefix(&dir, len)
    })
    .await;
    let attached = match attached {
        Ok(r) => Some(r),
        Err(remote::WriteError::Cluster(e)) => {
            eprintln!(
                "warning: cannot reach the copy of run {run_id} in the cluster yet ({e}); it is retried in the background"
            );
            None
        }
        Err(e) => {
            let _ = lease.release(&record).await;
            bail!("{e}");
        }
    };
    start_keeper(session, lease, record, sent, cfg, run, attached);
    Ok(())
}

fn start_keeper(
    session: &mut HeldRun,
    lease: RunLease,
    record: Record,
    sent: (chrono::DateTime<Utc>, std::time::Instant),
    config: StateConfig,
    identity: RunIdentity,
    remote: Option<remote::Remote>,
) {
    let keeper = Keeper::start(Held {
        lease,
        record,
        config,
        run_dir: session.journal().dir().to_path_buf(),
        identity,
        local_seq: session.state().last_seq,
        run_status: session.state().status.word().to_string(),
        remote,
        sent,
    });
    session.keep_in_cluster(keeper);
}

/// `cutover takeover RUN_ID RUNBOOK --env ENV`.
pub async fn takeover(env: &Env, args: TakeoverArgs) -> Result<i32> {
    let Some(loaded) = load_or_report(&args.runbook) else {
        return Ok(1);
    };
    let run_id = args.run_id.clone();
    let Some(cfg) = loaded.runbook.state.clone().filter(StateConfig::in_cluster) else {
        bail!(
            "runbook {} (environment {}) keeps its runs on this machine only: a takeover needs [state] backend = \
             \"kubernetes\", which replicates the journal to the cluster and locks the run with a Lease",
            args.runbook.runbook.display(),
            loaded.runbook.environment
        );
    };
    let cluster = cluster::connect(&cfg).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let lease = RunLease::new(cluster.clone(), &run_id, cfg.lease_duration);
    let operator = env.operator.clone();
    let me = cluster::identity(&operator, &hostname(), std::process::id());
    let started = std::time::Instant::now();
    // Refused while someone renews it; with --wait, until it runs out. "Run out" is judged
    // by the wall clock (the holder's renewTime against this machine's time) and, as
    // client-go's leader election does, by watching the Lease unchanged for its whole
    // duration on this machine's own clock: a difference between the two machines' clocks
    // never lets a takeover in while the holder still trusts its Lease. A Lease that ran
    // out longer ago than its duration, or was released, needs no watching.
    let mut watched: Option<(String, std::time::Instant)> = None;
    let record = loop {
        let now = Utc::now();
        let record = lease.read().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(record) = record else {
            bail!(
                "there is no Lease for run {run_id} in {}: nothing to take over. Check the run id and the \
                 environment (its [state] names the cluster and namespace)",
                cluster.describe()
            );
        };
        if watched.as_ref().is_none_or(|(rv, _)| *rv != record.resource_version) {
            watched = Some((record.resource_version.clone(), std::time::Instant::now()));
        }
        let unchanged_for = watched.as_ref().map(|(_, at)| at.elapsed()).unwrap_or_default();
        let long_gone = record
            .expires()
            .is_none_or(|e| e + chrono::Duration::from_std(record.duration).unwrap_or_default() <= now);
        let free = record.free_at(now) && (long_gone || unchanged_for >= record.duration);
        if free || gone_from_here(&record) {
            break record;
        }
        if !args.wait && record.free_at(now) {
            bail!(
                "the Lease of run {run_id} ({}) ran out only just now by this machine's clock: in case the two \
                 machines' clocks differ, it is watched unchanged for its whole duration ({}) first. Run again with \
                 --wait",
                record.describe(now),
                crate::duration::took(record.duration)
            );
        }
        if !args.wait {
            bail!(
                "run {run_id} is still held by {}: its holder renews its Lease, so it is alive. Ask them on the \
                 bridge; if they are gone, the takeover works once the Lease has run out (add --wait to wait for it)",
                record.describe(now)
            );
        }
        eprint!(
            "\r\x1b[Kwaiting for the Lease of run {run_id} to run out: held by {}",
            record.describe(now)
        );
        // Read again each second, and right when it runs out.
        let until_expiry = record
            .expires()
            .and_then(|e| (e - now).to_std().ok())
            .unwrap_or_default();
        let nap = until_expiry.min(std::time::Duration::from_secs(1)) + std::time::Duration::from_millis(5);
        tokio::time::sleep(nap).await;
    };
    if args.wait {
        eprintln!();
    }
    let pulled = remote::pull(&cluster, cfg.object, &run_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "run {run_id} has a Lease in {} but no journal there: nothing to continue from",
                cluster.describe()
            )
        })?;
    // Who held the run last: the Lease's holder, or, once released, the copy's last writer.
    let previous = if record.holder.is_empty() {
        format!("{} (who had released it)", pulled.head.writer)
    } else {
        record.holder.clone()
    };
    let checked = replica::check(&run_id, &pulled.bytes).map_err(|e| {
        anyhow::anyhow!("the cluster's copy of run {run_id} does not check out: {e}. It is not taken over")
    })?;
    // Taken as it was read: if its holder renewed meanwhile, or someone else took it, this fails.
    let sent = (Utc::now(), std::time::Instant::now());
    let record = lease
        .take(Some(record), &me, Utc::now(), |_: &Record| true)
        .await
        .map_err(|r| match r {
            Refused::Held(r) => anyhow::anyhow!(
                "run {run_id} was taken by {} while its journal was being pulled: it is theirs",
                r.describe(Utc::now())
            ),
            Refused::Cluster(e) => anyhow::anyhow!("cannot take run {run_id}'s Lease: {e}"),
        })?;
    let holder = env.holder("cutover takeover");
    let imported = env.store.import_run(&pulled.identity, &pulled.bytes, &holder);
    let (journal, state, kept) = match imported {
        Ok(x) => x,
        Err(e) => {
            let _ = lease.release(&record).await;
            return Err(e.into());
        }
    };
    eprintln!(
        "✔ run {run_id}: {} events pulled from {} and checked (event #{}, written by {previous}); Lease taken",
        checked.events,
        cluster.describe(),
        pulled.head.last_seq,
    );
    if let Some(kept) = kept {
        eprintln!("  this machine's earlier copy of the run is kept at {}", kept.display());
    }
    let mut session = HeldRun::new(journal, state, &operator);
    session.took_over_from = Some(previous.clone());
    let dir = session.journal().dir().to_path_buf();
    let identity = pulled.identity.clone();
    let attached = match remote::Remote::attach(&cluster, cfg.object, &identity, &me, |len| {
        replica::read_prefix(&dir, len)
    })
    .await
    {
        Ok(r) => Some(r),
        // The keeper attaches again in the background.
        Err(remote::WriteError::Cluster(e)) => {
            eprintln!("warning: cannot write the copy of run {run_id} yet ({e}); it is retried in the background");
            None
        }
        Err(e) => {
            let _ = lease.release(&record).await;
            bail!("{e}");
        }
    };
    start_keeper(&mut session, lease, record, sent, cfg, identity, attached);
    let preamble = match session.open(Utc::now()) {
        Ok(p) => p,
        Err(e) => {
            session.let_go().await;
            return Err(e.into());
        }
    };
    eprintln!(
        "  taken over from {previous} in {}",
        crate::duration::took(started.elapsed())
    );
    drive(session, &args.drive, preamble, loaded.warning_lines()).await
}

/// Who holds run `run_id` in the cluster and how far its copy goes, in one line (or why
/// that is not known).
pub async fn holder_line(cfg: &StateConfig, run_id: &str) -> String {
    let cluster = match cluster::connect(cfg).await {
        Ok(c) => c,
        Err(e) => return format!("unknown: {e}"),
    };
    let now = Utc::now();
    let lease = RunLease::new(cluster.clone(), run_id, cfg.lease_duration);
    let held = match lease.read().await {
        Ok(Some(r)) => held_words(&r, now),
        Ok(None) => "no Lease".to_string(),
        Err(e) => return format!("unknown: {e}"),
    };
    let copy = match remote::read_head(&cluster, cfg.object, run_id).await {
        Ok(Some((_, head, _))) => format!("its copy goes to #{} (written by {})", head.last_seq, head.writer),
        Ok(None) => "no copy yet".to_string(),
        Err(e) => format!("copy unreadable: {e}"),
    };
    format!("{held}; {copy} — {}", cluster.describe())
}

/// "held by alice@ops-1 pid 42 since 02:10:00 UTC, renewed 3s ago (expires in 27s)"
fn held_words(r: &Record, now: chrono::DateTime<Utc>) -> String {
    if r.holder.is_empty() {
        return "held by nobody (released)".to_string();
    }
    let since = r
        .acquired
        .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    let rest = r.describe(now);
    let rest = rest.strip_prefix(r.holder.as_str()).unwrap_or(&rest);
    format!("held by {}{since}{rest}", r.holder)
}

/// The run ids in the cluster `cfg` names, from their Leases.
async fn run_ids(cluster: &crate::k8s::Cluster) -> Result<Vec<String>> {
    let api = cluster.api::<k8s_openapi::api::coordination::v1::Lease>();
    let selector = format!("{}={}", cluster::MANAGED_BY.0, cluster::MANAGED_BY.1);
    let leases = cluster
        .bounded(api.list(&kube::api::ListParams::default().labels(&selector)))
        .await
        .map_err(|e| anyhow::anyhow!("{}", cluster.error(e, "list", "leases", None)))?;
    Ok(leases
        .items
        .iter()
        .filter_map(|l| {
            l.metadata
                .annotations
                .as_ref()?
                .get(cluster::RUN_ID_ANNOTATION)
                .cloned()
        })
        .collect())
}

/// Before a new run of `runbook` starts: a run of the same runbook, environment and mode
/// that is not completed in the cluster, and that this machine does not have, was started
/// elsewhere. It is continued with a takeover, never doubled by a second run.
pub async fn refuse_parallel_run(
    cfg: &StateConfig,
    runbook: &crate::runbook::Runbook,
    mode: crate::engine::Mode,
    store: &crate::journal::Store,
) -> Result<()> {
    let cluster = cluster::connect(cfg).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let here: std::collections::HashSet<String> = store.runs().into_iter().map(|r| r.identity.run_id).collect();
    let now = Utc::now();
    for run_id in run_ids(&cluster).await? {
        if here.contains(&run_id) {
            continue;
        }
        let (same, head) = match remote::read_head(&cluster, cfg.object, &run_id).await {
            Ok(Some((identity, head, _))) => (
                identity.runbook == runbook.name
                    && identity.environment == runbook.environment
                    && identity.mode == mode,
                head,
            ),
            // No copy yet (or unreadable): the run id says which runbook and environment.
            _ => (
                run_id.starts_with(&format!("{}.{}.", runbook.name, runbook.environment)),
                remote::Head::default(),
            ),
        };
        if !same || head.status == "completed" {
            continue;
        }
        let held = match RunLease::new(cluster.clone(), &run_id, cfg.lease_duration).read().await {
            Ok(Some(r)) => held_words(&r, now),
            _ => "held by nobody".to_string(),
        };
        bail!(
            "run {run_id} of runbook {} ({}) is {} in {}: {held}; its copy goes to #{} (written by {}). A second run \
             would change the same DNS and Deployments: continue that one here with `cutover takeover {run_id} \
             RUNBOOK --env {}` (once its Lease has run out or been released)",
            runbook.name,
            runbook.environment,
            if head.status.is_empty() {
                "in progress"
            } else {
                head.status.as_str()
            },
            cluster.describe(),
            head.last_seq,
            head.writer,
            runbook.environment
        );
    }
    Ok(())
}

/// `cutover runs --cluster RUNBOOK`: the runs kept where the runbook's [state] says.
pub async fn runs(args: &crate::cli::ListArgs) -> Result<i32> {
    let path = args.cluster.clone().unwrap_or_default();
    let given = crate::cli::RunbookArgs {
        runbook: path.clone(),
        env: args.env.clone(),
        vars: Vec::new(),
    };
    let Some(loaded) = load_or_report(&given) else {
        return Ok(1);
    };
    let Some(cfg) = loaded.runbook.state.clone().filter(StateConfig::in_cluster) else {
        bail!(
            "runbook {} (environment {}) keeps its runs on this machine only ([state] backend is not \"kubernetes\"): \
             see them with `cutover runs`",
            path.display(),
            loaded.runbook.environment
        );
    };
    let cluster = cluster::connect(&cfg).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for run_id in run_ids(&cluster).await? {
        let record = RunLease::new(cluster.clone(), &run_id, cfg.lease_duration)
            .read()
            .await
            .ok()
            .flatten();
        let head = remote::read_head(&cluster, cfg.object, &run_id).await.ok().flatten();
        rows.push(serde_json::json!({
            "run_id": run_id,
            "holder": record.as_ref().map(|r| r.holder.clone()).filter(|h| !h.is_empty()),
            "since": record.as_ref().and_then(|r| r.acquired),
            "renewed": record.as_ref().and_then(|r| r.renewed),
            "expires": record.as_ref().and_then(Record::expires),
            "lease": record.as_ref().map(|r| held_words(r, now)),
            "replicated_to": head.as_ref().map(|(_, h, _)| h.last_seq),
            "written_by": head.as_ref().map(|(_, h, _)| h.writer.clone()),
            "status": head.as_ref().map(|(_, h, _)| h.status.clone()),
        }));
    }
    match args.output {
        crate::headless::Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        crate::headless::Output::Text => {
            println!("Runs in {}:", cluster.describe());
            if rows.is_empty() {
                println!("  none");
            }
            for r in &rows {
                println!(
                    "  {}  {} · {}; copy to #{}",
                    r["run_id"].as_str().unwrap_or_default(),
                    r["status"].as_str().filter(|s| !s.is_empty()).unwrap_or("?"),
                    r["lease"].as_str().unwrap_or("no Lease"),
                    r["replicated_to"].as_u64().map_or("?".to_string(), |n| n.to_string())
                );
            }
        }
    }
    Ok(0)
}
