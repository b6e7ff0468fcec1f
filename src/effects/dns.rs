//! The `dns.*` steps: what each will do (read before the intent is recorded, so the
//! intent holds the exact change), and doing it with every nameserver's answer reported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Values;
use super::stopped;
use crate::dns::provider::{Writer, mismatch, same};
use crate::dns::wire::{self, RecordUpdate};
use crate::dns::{DnsError, Nameserver, authoritative, pause};
use crate::engine::{
    DnsIntent, Failure, Intent, NameserverAnswer, Outcome, RecordChange, Report, RunState, StepStatus, Verdict,
};
use crate::runbook::{Action, DnsConfig, Step};
use crate::runner::Reporter;

/// How often a write that failed for a passing reason is tried, in all.
const WRITE_TRIES: u32 = 3;
/// How long a manual change may take before the step gives up (the operator can retry).
const MANUAL_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Check,
    LowerTtl,
    Flip,
    Verify,
    Revert,
    RestoreTtl,
}

impl Op {
    fn word(self) -> &'static str {
        match self {
            Op::Check => "check",
            Op::LowerTtl => "lower_ttl",
            Op::Flip => "flip",
            Op::Verify => "verify",
            Op::Revert => "revert",
            Op::RestoreTtl => "restore_ttl",
        }
    }

    fn writes(self) -> bool {
        matches!(self, Op::LowerTtl | Op::Flip | Op::Revert | Op::RestoreTtl)
    }
}

pub struct DnsJob {
    pub op: Op,
    pub config: DnsConfig,
    pub records: Vec<RecordChange>,
    /// For verify: how long the authoritative servers have, then the resolvers.
    pub timeout: Duration,
    pub resolver_wait: Duration,
    /// When resolvers' cached old answers expire at the latest.
    pub cache_expiry: Option<DateTime<Utc>>,
    /// Nothing to do (e.g. a revert when the flip never ran), with the reason.
    pub nothing: Option<String>,
    /// Read and compare, but send nothing: say what would be sent.
    pub dry_run: bool,
}

fn fail(e: DnsError) -> Failure {
    e.into_failure()
}

/// The last DNS change before `index` that succeeded, in the same run: what a verify
/// expects, and when the old answers expire.
fn last_change(state: &RunState, index: usize) -> Option<(&DnsIntent, Option<DateTime<Utc>>)> {
    (0..index).rev().find_map(|i| {
        let s = &state.steps[i];
        match &s.intent {
            Some(Intent::Dns(d)) if s.status == StepStatus::Succeeded && d.op != "check" && d.op != "verify" => {
                Some((d, s.finished_at))
            }
            _ => None,
        }
    })
}

fn step_of_kind<'a>(state: &'a RunState, named: &Option<String>, kind: &str) -> Option<&'a crate::engine::StepState> {
    match named {
        Some(id) => state.step(id),
        None => state
            .steps
            .iter()
            .find(|s| state.spec(&s.id).is_some_and(|sp| sp.action.kind() == kind)),
    }
}

/// The TTL each record has at the authoritative servers now: the largest seen, since
/// every cache may hold the largest.
async fn current_ttls(config: &DnsConfig, servers: &[Nameserver]) -> Result<BTreeMap<String, u32>, Failure> {
    let mut out = BTreeMap::new();
    for record in &config.records {
        let mut best: Option<u32> = None;
        let mut errors = Vec::new();
        for ns in servers {
            match wire::query(ns.addr, record, &config.record_type, false, config.query_timeout).await {
                Ok(a) => {
                    if let Some(t) = a.ttl {
                        best = Some(best.map_or(t, |b| b.max(t)));
                    }
                }
                Err(e) => errors.push(e.message),
            }
        }
        match best {
            Some(t) => {
                out.insert(record.clone(), t);
            }
            None if !errors.is_empty() => {
                return Err(Failure {
                    message: format!("cannot read the TTL of {record}: {}", errors.join("; ")),
                    advice: Some(
                        "the authoritative servers must answer before the TTL is changed; retry when they do"
                            .to_string(),
                    ),
                    ..Failure::default()
                });
            }
            None => {
                return Err(Failure {
                    message: format!("{record} does not exist on the authoritative servers"),
                    advice: Some("check `records` in [dns]; a record must exist before its TTL is lowered".to_string()),
                    ..Failure::default()
                });
            }
        }
    }
    Ok(out)
}

/// Resolves a `dns.*` step into its exact intent, reading what must be read first.
pub(crate) async fn prepare(
    step: &Step,
    index: usize,
    state: &RunState,
    values: &Values<'_>,
) -> Result<(Intent, DnsJob), Failure> {
    let runbook = &state.runbook;
    let Some(config) = runbook.dns.clone() else {
        return Err(Failure {
            message: "this DNS step has no [dns] section to work with".to_string(),
            advice: Some("add [dns] to the runbook".to_string()),
            ..Failure::default()
        });
    };
    let rtype = config.record_type.clone();
    let each = |from: Vec<String>, to: Vec<String>, old_ttl: Option<u32>, ttl: Option<u32>| -> Vec<RecordChange> {
        config
            .records
            .iter()
            .map(|name| RecordChange {
                name: name.clone(),
                rtype: rtype.clone(),
                from: from.clone(),
                to: to.clone(),
                old_ttl,
                ttl,
            })
            .collect()
    };
    let mut job = DnsJob {
        op: Op::Check,
        config: config.clone(),
        records: Vec::new(),
        timeout: Duration::ZERO,
        resolver_wait: Duration::ZERO,
        cache_expiry: None,
        nothing: None,
        dry_run: false,
    };
    match &step.action {
        Action::DnsCheck(c) => {
            job.op = Op::Check;
            job.records = each(
                vec![values.render_public(&c.expect, "a DNS record")?],
                Vec::new(),
                None,
                None,
            );
        }
        Action::DnsFlip(f) => {
            job.op = Op::Flip;
            let from = values.render_public(&f.from, "a DNS record")?;
            let to = values.render_public(&f.to, "a DNS record")?;
            for v in [&from, &to] {
                wire::rdata(&rtype, v).map_err(fail)?;
            }
            job.records = each(vec![from], vec![to], None, Some(lowered_ttl(state, index, &config)));
        }
        Action::DnsLowerTtl(l) => {
            job.op = Op::LowerTtl;
            let ttl = l.ttl.unwrap_or(config.cutover_ttl);
            let servers = authoritative(&config).await.map_err(fail)?;
            let ttls = current_ttls(&config, &servers).await?;
            let writer = Writer::new(&config, config.query_timeout).await.map_err(fail)?;
            for name in &config.records {
                let values = current_values(&writer, &config, name).await?;
                let now_ttl = ttls.get(name).copied();
                // The TTL may already be low: this step ran before a crash, or an earlier
                // attempt lowered it and its rollback left it so. The TTL from before is
                // the one resolvers may still cache, and the one to restore.
                let old_ttl = match (now_ttl, state.lowered_ttls.get(name)) {
                    (Some(t), Some(l)) if t == ttl || t == l.lowered => Some(l.before),
                    (t, _) => t,
                };
                job.records.push(RecordChange {
                    name: name.clone(),
                    rtype: rtype.clone(),
                    from: values.clone(),
                    to: values,
                    old_ttl,
                    ttl: Some(ttl),
                });
            }
        }
        Action::DnsRestoreTtl(r) => {
            job.op = Op::RestoreTtl;
            let lowered = step_of_kind(state, &r.lowered_by, "dns.lower_ttl");
            let mut old: BTreeMap<String, u32> = match lowered.and_then(|s| s.intent.as_ref()) {
                Some(Intent::Dns(d)) => d
                    .records
                    .iter()
                    .filter_map(|r| Some((r.name.clone(), r.old_ttl?)))
                    .collect(),
                _ => BTreeMap::new(),
            };
            // Not lowered in this attempt: an earlier attempt may have lowered it and left it so.
            if old.is_empty() && r.lowered_by.is_none() {
                old = state
                    .lowered_ttls
                    .iter()
                    .filter(|(name, _)| config.records.contains(name))
                    .map(|(name, l)| (name.clone(), l.before))
                    .collect();
            }
            if old.is_empty() {
                job.nothing = Some("the TTL was never lowered in this run: nothing to restore".to_string());
            } else {
                let writer = Writer::new(&config, config.query_timeout).await.map_err(fail)?;
                for name in &config.records {
                    let Some(&ttl) = old.get(name) else { continue };
                    let values = current_values(&writer, &config, name).await?;
                    job.records.push(RecordChange {
                        name: name.clone(),
                        rtype: rtype.clone(),
                        from: values.clone(),
                        to: values,
                        old_ttl: Some(state.lowered_ttls.get(name).map_or(config.cutover_ttl, |l| l.lowered)),
                        ttl: Some(ttl),
                    });
                }
            }
        }
        Action::DnsRevert(r) => {
            job.op = Op::Revert;
            let flip = step_of_kind(state, &r.flip, "dns.flip");
            match flip.and_then(|s| s.intent.as_ref()) {
                Some(Intent::Dns(d)) => {
                    job.records = d
                        .records
                        .iter()
                        .map(|c| RecordChange {
                            name: c.name.clone(),
                            rtype: c.rtype.clone(),
                            from: c.to.clone(),
                            to: c.from.clone(),
                            old_ttl: None,
                            ttl: c.ttl,
                        })
                        .collect();
                }
                _ => job.nothing = Some("the flip never started: DNS still points where it did".to_string()),
            }
        }
        Action::DnsVerify(v) => {
            job.op = Op::Verify;
            job.timeout = v.timeout;
            job.resolver_wait = v.resolver_wait;
            let last = last_change(state, index);
            let (expect, ttl) = match (&v.expect, last) {
                (Some(e), last) => (
                    vec![values.render_public(e, "a DNS record")?],
                    last.and_then(|(d, _)| d.records.first().and_then(|r| r.ttl)),
                ),
                (None, Some((d, _))) => (
                    d.records.first().map(|r| r.to.clone()).unwrap_or_default(),
                    d.records.first().and_then(|r| r.ttl),
                ),
                (None, None) => {
                    return Err(Failure {
                        message: "nothing to verify: no DNS change before this step has succeeded".to_string(),
                        advice: Some("put dns.verify after dns.flip (or dns.revert), or give it `expect`".to_string()),
                        ..Failure::default()
                    });
                }
            };
            // Resolvers may hold the answer from before the change for its TTL then.
            job.cache_expiry = last.and_then(|(d, at)| {
                let old = d.records.iter().filter_map(|r| r.old_ttl.or(r.ttl)).max()?;
                Some(crate::engine::later(at?, Duration::from_secs(u64::from(old))))
            });
            job.records = each(expect, Vec::new(), None, ttl);
        }
        _ => unreachable!("not a DNS step"),
    }
    let intent = Intent::Dns(DnsIntent {
        op: job.op.word().to_string(),
        zone: config.zone.clone(),
        via: if job.op.writes() {
            Writer::describe(&config)
        } else {
            "every authoritative nameserver, asked directly".to_string()
        },
        records: job.records.clone(),
    });
    Ok((intent, job))
}

/// ` (note)`, or nothing for an empty note.
fn parenthesised(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    }
}

/// The TTL the records have during the cutover: what the TTL step set, or `cutover_ttl`.
fn lowered_ttl(state: &RunState, index: usize, config: &DnsConfig) -> u32 {
    (0..index)
        .rev()
        .find_map(|i| match &state.steps[i].intent {
            Some(Intent::Dns(d)) if d.op == "lower_ttl" => d.records.first().and_then(|r| r.ttl),
            _ => None,
        })
        .unwrap_or(config.cutover_ttl)
}

async fn current_values(writer: &Writer, config: &DnsConfig, name: &str) -> Result<Vec<String>, Failure> {
    match writer {
        Writer::Manual => {
            let servers = authoritative(config).await.map_err(fail)?;
            let first = servers
                .first()
                .ok_or_else(|| fail(DnsError::usage("no nameservers".to_string())))?;
            wire::query(first.addr, name, &config.record_type, false, config.query_timeout)
                .await
                .map(|a| a.values)
                .map_err(fail)
        }
        w => w
            .current(name, &config.record_type, &config.zone, config.query_timeout)
            .await
            .map_err(fail),
    }
}

pub async fn execute(job: DnsJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    if let Some(why) = &job.nothing {
        return Ok(Outcome {
            summary: why.clone(),
            ..Outcome::default()
        });
    }
    match job.op {
        Op::Check => check(&job, reporter).await,
        Op::Verify if job.dry_run => dry_verify(&job, reporter).await,
        Op::Verify => verify(&job, reporter, cancel).await,
        _ => write(&job, reporter, cancel).await,
    }
}

/// A dry run's verify: nothing was changed, so every server is asked once and what it
/// answers now is recorded; a real run waits here until all of them answer the new value.
async fn dry_verify(job: &DnsJob, reporter: &Reporter) -> Result<Outcome, Failure> {
    let config = &job.config;
    let servers = authoritative(config).await.map_err(fail)?;
    let mut answers = Answers::default();
    for r in &job.records {
        for ns in &servers {
            let mut a = ask(ns, r, &r.from, r.ttl, false, config).await;
            if a.verdict == Verdict::Breach {
                a.verdict = Verdict::Inconclusive;
                a.note = "dry run: the change was not sent".to_string();
            }
            answers.see(reporter, a);
        }
    }
    let expect = job.records.first().map(|r| show(&r.from)).unwrap_or_default();
    Ok(Outcome {
        summary: format!(
            "dry run: a real run waits here until {} authoritative server(s) answer {expect}",
            servers.len()
        ),
        details: vec!["every server was asked once; their answers are recorded".to_string()],
        ..Outcome::default()
    })
}

/// What a dry run would send: the compare-and-swap of each record, exactly.
fn would_send(job: &DnsJob, updates: &[RecordUpdate]) -> Outcome {
    let config = &job.config;
    let mut details = vec![format!(
        "dry run: nothing was sent. A real run sends one UPDATE for zone {} via {}:",
        config.zone,
        Writer::describe(config)
    )];
    for u in updates {
        details.push(format!(
            "  prerequisite {} {} = {}; delete the {} RRset; add {} {} {} {}",
            u.name,
            u.rtype,
            show(&u.from),
            u.rtype,
            u.name,
            u.ttl,
            u.rtype,
            show(&u.to)
        ));
    }
    if updates.is_empty() {
        details.push("  nothing: every record already holds the new value".to_string());
    }
    let what: Vec<String> = job
        .records
        .iter()
        .map(crate::runner::lines::record_change_words)
        .collect();
    Outcome {
        summary: format!("dry run: would change {}", what.join("; ")),
        details,
        ..Outcome::default()
    }
}

/// What a server said, for telling whether it said something new.
type Said = (Vec<String>, Option<u32>, Verdict);

/// Remembers the last answer of each server (address) for each record, and reports only
/// changes, so a long wait does not fill the journal with the same answer.
#[derive(Default)]
struct Answers {
    last: BTreeMap<(String, String), Said>,
}

impl Answers {
    fn see(&mut self, reporter: &Reporter, answer: NameserverAnswer) {
        let key = (answer.address.clone(), answer.record.clone());
        let now = (answer.values.clone(), answer.ttl, answer.verdict);
        if self.last.get(&key) != Some(&now) {
            self.last.insert(key, now);
            reporter.report(Report::NameserverAnswered { answer });
        }
    }
}

/// Asks one server about one record and judges the answer against `expect` (and `ttl`).
async fn ask(
    ns: &Nameserver,
    record: &RecordChange,
    expect: &[String],
    ttl: Option<u32>,
    recursion: bool,
    config: &DnsConfig,
) -> NameserverAnswer {
    let mut answer = NameserverAnswer {
        server: ns.name.clone(),
        address: ns.addr.to_string(),
        record: record.name.clone(),
        values: Vec::new(),
        ttl: None,
        verdict: Verdict::Inconclusive,
        note: String::new(),
    };
    match wire::query(ns.addr, &record.name, &record.rtype, recursion, config.query_timeout).await {
        Err(e) => answer.note = e.message,
        Ok(a) => {
            answer.values = a.values;
            answer.ttl = a.ttl;
            let value_ok = same(&answer.values, expect);
            let ttl_ok = ttl.is_none() || recursion || answer.ttl == ttl;
            answer.verdict = if value_ok && ttl_ok {
                Verdict::Within
            } else {
                Verdict::Breach
            };
            if a.rcode != "NOERROR" {
                answer.note = a.rcode.clone();
            } else if !recursion && !a.authoritative {
                answer.note = "answer not authoritative (AA bit unset)".to_string();
                answer.verdict = Verdict::Breach;
            } else if value_ok && !ttl_ok {
                answer.note = format!("TTL {} is not yet {}", answer.ttl.unwrap_or(0), ttl.unwrap_or(0));
            }
        }
    }
    answer
}

fn show(v: &[String]) -> String {
    if v.is_empty() {
        "nothing".to_string()
    } else {
        v.join(", ")
    }
}

async fn check(job: &DnsJob, reporter: &Reporter) -> Result<Outcome, Failure> {
    let servers = authoritative(&job.config).await.map_err(fail)?;
    let mut answers = Answers::default();
    let mut problems = Vec::new();
    let mut details = Vec::new();
    let mut silent = Vec::new();
    let mut unanswered = 0;
    for record in &job.records {
        for ns in &servers {
            let a = ask(ns, record, &record.from, None, false, &job.config).await;
            if a.verdict == Verdict::Inconclusive {
                unanswered += 1;
                if !silent.contains(&ns) {
                    silent.push(ns);
                }
            }
            details.push(format!(
                "{} at {} ({}): {}{}",
                record.name,
                ns.name,
                ns.addr,
                show(&a.values),
                a.ttl.map(|t| format!(", TTL {t}")).unwrap_or_default()
            ));
            match a.verdict {
                Verdict::Within => {}
                Verdict::Breach => problems.push(format!(
                    "{} holds {} at {} ({}), expected {}{}",
                    record.name,
                    show(&a.values),
                    ns.name,
                    ns.addr,
                    show(&record.from),
                    parenthesised(&a.note)
                )),
                Verdict::Inconclusive => problems.push(format!("{} ({}): {}", ns.name, ns.addr, a.note)),
            }
            answers.see(reporter, a);
        }
    }
    if !problems.is_empty() {
        let values = "the records must hold the expected current value on every authoritative server before the cutover: find out why they do not";
        let advice = match (silent.is_empty(), problems.len() > unanswered) {
            (true, _) => values.to_string(),
            (false, false) => silent_advice(&silent),
            (false, true) => format!("{}; {values}", silent_advice(&silent)),
        };
        return Err(Failure {
            message: problems.join("; "),
            advice: Some(advice),
            ..Failure::default()
        });
    }
    Ok(Outcome {
        summary: format!(
            "{} record(s) hold {} on {} authoritative nameserver(s)",
            job.records.len(),
            job.records.first().map(|r| show(&r.from)).unwrap_or_default(),
            servers.len()
        ),
        details,
        ..Outcome::default()
    })
}

/// A change through the provider. Compare-and-swap, and converging: a record that already
/// holds the new value (the write before a crash went through) counts as done, one that
/// holds the old value is changed, anything else stops with nothing written.
async fn write(job: &DnsJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    let config = &job.config;
    let writer = Writer::new(config, config.query_timeout).await.map_err(fail)?;
    if let Writer::Manual = writer {
        if job.dry_run {
            // Nothing to read through: the operator would be shown this change.
            let updates: Vec<RecordUpdate> = job
                .records
                .iter()
                .map(|r| RecordUpdate {
                    name: r.name.clone(),
                    rtype: r.rtype.clone(),
                    from: r.from.clone(),
                    to: r.to.clone(),
                    ttl: r.ttl.unwrap_or(config.cutover_ttl),
                })
                .collect();
            return Ok(would_send(job, &updates));
        }
        return manual(job, reporter, cancel).await;
    }
    let ttl_change = matches!(job.op, Op::LowerTtl | Op::RestoreTtl);
    let mut try_no = 0;
    let went_through_before = loop {
        try_no += 1;
        let mut pending = Vec::new();
        let mut already = Vec::new();
        let attempt: Result<Option<Vec<RecordUpdate>>, DnsError> = async {
            for r in &job.records {
                let now = writer
                    .current(&r.name, &r.rtype, &config.zone, config.query_timeout)
                    .await?;
                if !ttl_change && same(&now, &r.to) {
                    already.push(r.name.clone());
                } else if same(&now, &r.from) {
                    pending.push(RecordUpdate {
                        name: r.name.clone(),
                        rtype: r.rtype.clone(),
                        from: now,
                        to: r.to.clone(),
                        ttl: r.ttl.unwrap_or(config.cutover_ttl),
                    });
                } else {
                    return Err(mismatch(&r.name, &r.from, &now, &describe_source(&writer)));
                }
            }
            if job.dry_run {
                return Ok(Some(pending));
            }
            if !pending.is_empty() {
                writer.swap(&config.zone, &pending, config.query_timeout).await?;
            }
            Ok(None)
        }
        .await;
        match attempt {
            Ok(Some(would)) => return Ok(would_send(job, &would)),
            Ok(None) => break !already.is_empty(),
            Err(e) if e.retryable && try_no < WRITE_TRIES => {
                // Safe: the next try reads again first and never writes over a change.
                if !pause(Duration::from_secs(1 << (try_no - 1)), cancel).await {
                    return Err(stopped());
                }
            }
            Err(mut e) => {
                if try_no > 1 {
                    e.message = format!("{}; gave up after {try_no} tries", e.message);
                }
                return Err(fail(e));
            }
        }
    };
    // Read back from every authoritative server, for the record (verify waits for them).
    let servers = authoritative(config).await.unwrap_or_default();
    let mut answers = Answers::default();
    for r in &job.records {
        for ns in &servers {
            let mut a = ask(ns, r, &r.to, r.ttl, false, config).await;
            // A secondary that has not transferred yet is normal right after a write.
            if a.verdict == Verdict::Breach {
                a.verdict = Verdict::Inconclusive;
                a.note = "not updated yet (a verify step waits for every server)".to_string();
            }
            answers.see(reporter, a);
        }
    }
    let what: Vec<String> = job
        .records
        .iter()
        .map(crate::runner::lines::record_change_words)
        .collect();
    let mut details = vec![format!("via {}", Writer::describe(config))];
    if went_through_before {
        details
            .push("some records already held the new value (a change before an interruption went through)".to_string());
    }
    Ok(Outcome {
        summary: what.join("; "),
        details,
        ..Outcome::default()
    })
}

/// What to do when not every server answers the new value: reach the ones that answer
/// nothing; a secondary that answers the old value has not transferred the zone.
fn verify_advice(silent: &[&Nameserver], some_answer_old: bool) -> String {
    let transfer = "a secondary that lags has not transferred the zone: check NOTIFY and zone transfers from the primary (and its log), then retry";
    if silent.is_empty() {
        return transfer.to_string();
    }
    let reach = silent_advice(silent);
    if some_answer_old {
        format!("{reach}; {transfer}")
    } else {
        reach
    }
}

/// `silent_advice` for the servers that answered nothing.
fn silent_advice(silent: &[&Nameserver]) -> String {
    let addrs: Vec<String> = silent.iter().map(|ns| ns.addr.to_string()).collect();
    let port = silent.first().map_or(53, |ns| ns.addr.port());
    crate::dns::silent_advice(&addrs.join(", "), port)
}

fn describe_source(w: &Writer) -> String {
    match w {
        Writer::Rfc2136 { server, .. } => format!("the primary {server}"),
        Writer::Hosted { name, .. } => format!("the {name} API"),
        Writer::Manual => "the authoritative servers".to_string(),
    }
}

/// The operator changes the records by hand: the intent says exactly what; the step
/// polls every authoritative server until all show it.
async fn manual(job: &DnsJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    let config = &job.config;
    let deadline = Instant::now() + MANUAL_WAIT;
    let servers = authoritative(config).await.map_err(fail)?;
    let mut answers = Answers::default();
    loop {
        let mut all = true;
        for r in &job.records {
            for ns in &servers {
                let a = ask(ns, r, &r.to, r.ttl, false, config).await;
                all &= a.verdict == Verdict::Within;
                answers.see(reporter, a);
            }
        }
        if all {
            return Ok(Outcome {
                summary: format!(
                    "changed by hand and seen on all {} authoritative nameserver(s)",
                    servers.len()
                ),
                details: job
                    .records
                    .iter()
                    .map(crate::runner::lines::record_change_words)
                    .collect(),
                ..Outcome::default()
            });
        }
        if Instant::now() > deadline {
            return Err(Failure {
                message: "the change was not seen on every authoritative server within an hour".to_string(),
                advice: Some("make the change shown in the step detail, then retry; or roll back".to_string()),
                ..Failure::default()
            });
        }
        if !pause(config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
}

async fn verify(job: &DnsJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    let config = &job.config;
    let started = Instant::now();
    let servers = authoritative(config).await.map_err(fail)?;
    let mut answers = Answers::default();
    let mut lagging: Vec<String>;
    // Servers that answered nothing at all in the last round: not a lagging secondary.
    let mut silent: Vec<&Nameserver>;
    let mut unanswered: usize;
    loop {
        lagging = Vec::new();
        silent = Vec::new();
        unanswered = 0;
        for r in &job.records {
            for ns in &servers {
                let a = ask(ns, r, &r.from, r.ttl, false, config).await;
                if a.verdict == Verdict::Inconclusive {
                    unanswered += 1;
                    if !silent.contains(&ns) {
                        silent.push(ns);
                    }
                }
                if a.verdict != Verdict::Within {
                    lagging.push(format!(
                        "{} at {} ({}) answers {}{}",
                        r.name,
                        ns.name,
                        ns.addr,
                        show(&a.values),
                        parenthesised(&a.note)
                    ));
                }
                answers.see(reporter, a);
            }
        }
        if lagging.is_empty() {
            break;
        }
        if started.elapsed() >= job.timeout {
            return Err(Failure {
                message: format!(
                    "not every authoritative server answers {} after {}: {}",
                    show(&job.records.first().map(|r| r.from.clone()).unwrap_or_default()),
                    crate::runbook::duration::format(job.timeout),
                    lagging.join("; ")
                ),
                advice: Some(verify_advice(&silent, lagging.len() > unanswered)),
                ..Failure::default()
            });
        }
        if !pause(config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
    let authoritative_after = started.elapsed();
    let mut details = vec![format!(
        "all {} authoritative nameserver(s) agree after {} ms",
        servers.len(),
        authoritative_after.as_millis()
    )];
    // Then the resolvers: reported, not required (some ignore TTLs; none are ours).
    if !config.resolvers.is_empty() {
        let resolvers: Vec<Nameserver> = config
            .resolvers
            .iter()
            .filter_map(|r| {
                crate::dns::parse_server(r, 53).map(|addr| Nameserver {
                    name: format!("resolver {r}"),
                    addr,
                })
            })
            .collect();
        let until = Instant::now() + job.resolver_wait;
        let mut behind: Vec<String>;
        loop {
            behind = Vec::new();
            for r in &job.records {
                for res in &resolvers {
                    let mut a = ask(res, r, &r.from, None, true, config).await;
                    if a.verdict != Verdict::Within {
                        let expiry = job.cache_expiry.map(|t| {
                            if t > Utc::now() {
                                format!("its cached old answer expires by {}", t.format("%H:%M:%S UTC"))
                            } else {
                                "its cache should have expired: it may ignore TTLs".to_string()
                            }
                        });
                        if let Some(e) = expiry {
                            a.note = if a.note.is_empty() {
                                e
                            } else {
                                format!("{}; {e}", a.note)
                            };
                        }
                        behind.push(format!("{} at {}: {} ({})", r.name, res.addr, show(&a.values), a.note));
                    }
                    answers.see(reporter, a);
                }
            }
            if behind.is_empty() || Instant::now() >= until {
                break;
            }
            if !pause(config.poll_interval, cancel).await {
                return Err(stopped());
            }
        }
        if behind.is_empty() {
            details.push(format!("all {} resolver(s) answer the new value", resolvers.len()));
        } else {
            details.push(format!("resolvers still behind (not required): {}", behind.join("; ")));
        }
    }
    Ok(Outcome {
        summary: format!(
            "{} answers {} on every authoritative nameserver{}",
            job.records
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            show(&job.records.first().map(|r| r.from.clone()).unwrap_or_default()),
            job.records
                .first()
                .and_then(|r| r.ttl)
                .map(|t| format!(" with TTL {t}"))
                .unwrap_or_default()
        ),
        details,
        ..Outcome::default()
    })
}
