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
    DnsIntent, DnsOp, Failure, Intent, NameserverAnswer, Outcome, Progress, RecordChange, RunState, StepStatus, Verdict,
};
use crate::outside::Reporter;
use crate::runbook::steps::{DnsStep, Kind};
use crate::runbook::targets::{Shapes, set_changes, shape, split_values, types_for};
use crate::runbook::{DnsConfig, Targets};

/// How often a write that failed for a passing reason is tried, in all.
const WRITE_TRIES: u32 = 3;
/// How long a manual change may take before the step gives up (the operator can retry).
const MANUAL_WAIT: Duration = Duration::from_secs(3600);

pub struct DnsJob {
    pub op: DnsOp,
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

/// The DNS client's error, as a step's failure.
impl From<DnsError> for Failure {
    fn from(e: DnsError) -> Self {
        Failure {
            message: e.message,
            advice: e.advice,
            ..Failure::default()
        }
    }
}

fn fail(e: DnsError) -> Failure {
    e.into()
}

/// The last DNS change before `index` that succeeded, in the same run: what a verify
/// expects, and when the old answers expire.
fn last_change(state: &RunState, index: usize) -> Option<(&DnsIntent, Option<DateTime<Utc>>)> {
    (0..index).rev().find_map(|i| {
        let s = &state.steps[i];
        match &s.intent {
            Some(Intent::Dns(d)) if s.status == StepStatus::Succeeded && d.op.writes() => Some((d, s.finished_at)),
            _ => None,
        }
    })
}

fn step_of_kind<'a>(state: &'a RunState, named: &Option<String>, kind: Kind) -> Option<&'a crate::engine::StepState> {
    match named {
        Some(id) => state.step(id),
        None => state
            .steps
            .iter()
            .find(|s| state.spec(&s.id).is_some_and(|sp| sp.action.kind() == kind)),
    }
}

/// The TTL each record set has at the authoritative servers now: the largest seen, since
/// every cache may hold the largest. Sets no server holds are left out.
async fn current_ttls(
    config: &DnsConfig,
    servers: &[Nameserver],
    sets: &[(String, String)],
) -> Result<BTreeMap<(String, String), u32>, Failure> {
    let mut out = BTreeMap::new();
    for (record, rtype) in sets {
        let mut best: Option<u32> = None;
        let mut errors = Vec::new();
        for ns in servers {
            match wire::query(ns.addr, record, rtype, false, config.query_timeout).await {
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
                out.insert((record.clone(), rtype.clone()), t);
            }
            None if !errors.is_empty() => {
                return Err(Failure::new(format!(
                    "cannot read the TTL of {record} {rtype}: {}",
                    errors.join("; ")
                ))
                .advise(
                    "the authoritative servers must answer before the TTL is changed; retry when they do".to_string(),
                ));
            }
            None => {}
        }
    }
    Ok(out)
}

/// The record types of `[dns]` in their usual order, then any others `more` names.
fn types_of(config: &DnsConfig, more: &[&BTreeMap<String, Vec<String>>]) -> Vec<String> {
    types_for(&config.record_types, more)
}

/// A step's values rendered and sorted into record sets per name and type.
fn shapes(config: &DnsConfig, targets: &Targets, values: &Values<'_>, key: &str) -> Result<Shapes, Failure> {
    let rendered = targets
        .sets
        .iter()
        .map(|set| {
            set.values
                .iter()
                .map(|t| values.render_public(t, "a DNS record").map(|v| split_values(&v)))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.concat())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shaped = shape(&config.records, targets, &rendered).map_err(|e| {
        Failure::new(format!("`{key}`: {e}")).advise("check the step's values and the variables they are filled from")
    })?;
    if let Some(types) = shaped.get(&config.zone)
        && types.contains_key("CNAME")
        && key != "from"
    {
        return Err(Failure::new(format!(
                "`{key}` would put a CNAME ({}) at the zone apex {}",
                types["CNAME"].join(", "),
                config.zone
            )).advise("a CNAME cannot stand beside the apex's SOA and NS records: flip the apex to the load balancer's addresses, or make the provider's alias record by hand".to_string(),));
    }
    Ok(shaped)
}

/// What a read expects of every record set: the values `expect` gives it (none: the set
/// must not exist), for the types of `[dns]` and those the values have.
fn expectations(config: &DnsConfig, expect: &Shapes, ttl: Option<u32>) -> Vec<RecordChange> {
    let empty = BTreeMap::new();
    let mut out = Vec::new();
    for name in &config.records {
        let e = expect.get(name).unwrap_or(&empty);
        for rtype in types_of(config, &[e]) {
            let values = e.get(&rtype).cloned().unwrap_or_default();
            out.push(RecordChange {
                name: name.clone(),
                ttl: ttl.filter(|_| !values.is_empty()),
                rtype,
                from: values,
                to: Vec::new(),
                old_ttl: None,
            });
        }
    }
    out
}

/// Every record set a flip touches, each with what it must hold and what it gets.
fn flip_changes(config: &DnsConfig, from: &Shapes, to: &Shapes, ttl: u32) -> Vec<RecordChange> {
    set_changes(&config.records, &config.record_types, from, to)
        .into_iter()
        .map(|c| RecordChange {
            name: c.name,
            rtype: c.rtype,
            from: c.from,
            to: c.to,
            old_ttl: None,
            ttl: Some(ttl),
        })
        .collect()
}

/// What a read after `changes` expects: every set as the change left it (a deleted set
/// must not exist, so it has no TTL to compare).
fn as_left(changes: &[RecordChange]) -> Vec<RecordChange> {
    changes
        .iter()
        .map(|c| RecordChange {
            name: c.name.clone(),
            rtype: c.rtype.clone(),
            from: c.to.clone(),
            to: Vec::new(),
            old_ttl: None,
            ttl: c.ttl.filter(|_| !c.to.is_empty()),
        })
        .collect()
}

/// Resolves a `dns.*` step into its exact intent, reading what must be read first.
pub(crate) async fn prepare(
    dns_step: DnsStep<'_>,
    index: usize,
    state: &RunState,
    values: &Values<'_>,
) -> Result<(Intent, DnsJob), Failure> {
    let runbook = &state.runbook;
    let Some(config) = runbook.dns.clone() else {
        return Err(Failure::new("this DNS step has no [dns] section to work with").advise("add [dns] to the runbook"));
    };
    let mut job = DnsJob {
        op: DnsOp::Check,
        config: config.clone(),
        records: Vec::new(),
        timeout: Duration::ZERO,
        resolver_wait: Duration::ZERO,
        cache_expiry: None,
        nothing: None,
        dry_run: false,
    };
    match dns_step {
        DnsStep::Check(c) => {
            job.op = DnsOp::Check;
            job.records = expectations(&config, &shapes(&config, &c.expect, values, "expect")?, None);
        }
        DnsStep::Flip(f) => {
            job.op = DnsOp::Flip;
            let from = shapes(&config, &f.from, values, "from")?;
            let to = shapes(&config, &f.to, values, "to")?;
            job.records = flip_changes(&config, &from, &to, lowered_ttl(state, index, &config));
        }
        DnsStep::LowerTtl(l) => {
            job.op = DnsOp::LowerTtl;
            job.timeout = l.timeout;
            let ttl = l.ttl.unwrap_or(config.cutover_ttl);
            let servers = authoritative(&config).await.map_err(fail)?;
            let sets: Vec<(String, String)> = config
                .records
                .iter()
                .flat_map(|n| config.record_types.iter().map(move |t| (n.clone(), t.clone())))
                .collect();
            let ttls = current_ttls(&config, &servers, &sets).await?;
            let writer = Writer::new(&config, config.query_timeout).await.map_err(fail)?;
            for name in &config.records {
                let before = job.records.len();
                // A name that is a CNAME today (an old load balancer's) has its TTL there.
                for rtype in config.record_types.iter().chain(std::iter::once(&"CNAME".to_string())) {
                    if rtype == "CNAME" && job.records.len() > before {
                        break;
                    }
                    let values = current_values(&writer, &config, name, rtype).await?;
                    if values.is_empty() {
                        continue;
                    }
                    let key = (name.clone(), rtype.clone());
                    let now_ttl = match ttls.get(&key) {
                        Some(t) => Some(*t),
                        None => current_ttls(&config, &servers, std::slice::from_ref(&key))
                            .await?
                            .get(&key)
                            .copied(),
                    };
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
                if job.records.len() == before {
                    return Err(Failure::new(format!(
                        "{name} holds no {} record at {}",
                        config.record_types.join(" or "),
                        describe_source(&writer)
                    ))
                    .advise(
                        "check `records` and `type` in [dns]; a record must exist before its TTL is lowered"
                            .to_string(),
                    ));
                }
            }
        }
        DnsStep::RestoreTtl(r) => {
            job.op = DnsOp::RestoreTtl;
            let lowered = step_of_kind(state, &r.lowered_by, Kind::DnsLowerTtl);
            // The TTL from before, per name: whatever the name holds now (the old records
            // after a rollback, the new ones after a cutover) gets it back.
            let mut old: BTreeMap<String, u32> = BTreeMap::new();
            if let Some(Intent::Dns(d)) = lowered.and_then(|s| s.intent.as_ref()) {
                for c in &d.records {
                    if let Some(t) = c.old_ttl {
                        let e = old.entry(c.name.clone()).or_insert(t);
                        *e = (*e).max(t);
                    }
                }
            }
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
                    for rtype in types_of(&config, &[]).into_iter().chain(["CNAME".to_string()]) {
                        if job.records.iter().any(|c| c.name == *name && c.rtype == rtype) {
                            continue;
                        }
                        let values = current_values(&writer, &config, name, &rtype).await?;
                        if values.is_empty() {
                            continue;
                        }
                        job.records.push(RecordChange {
                            name: name.clone(),
                            rtype,
                            from: values.clone(),
                            to: values,
                            old_ttl: Some(state.lowered_ttls.get(name).map_or(config.cutover_ttl, |l| l.lowered)),
                            ttl: Some(ttl),
                        });
                    }
                }
            }
        }
        DnsStep::Revert(r) => {
            job.op = DnsOp::Revert;
            job.timeout = r.timeout;
            let flip = step_of_kind(state, &r.flip, Kind::DnsFlip);
            match flip.and_then(|s| s.intent.as_ref()) {
                // Exactly the sets the flip found come back, each from what the flip wrote.
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
        DnsStep::Verify(v) => {
            job.op = DnsOp::Verify;
            job.timeout = v.timeout;
            job.resolver_wait = v.resolver_wait;
            let last = last_change(state, index);
            job.records = match (&v.expect, last) {
                (Some(e), last) => {
                    let ttl = last.and_then(|(d, _)| d.records.iter().find_map(|r| r.ttl));
                    expectations(&config, &shapes(&config, e, values, "expect")?, ttl)
                }
                (None, Some((d, _))) => as_left(&d.records),
                (None, None) => {
                    return Err(
                        Failure::new("nothing to verify: no DNS change before this step has succeeded")
                            .advise("put dns.verify after dns.flip (or dns.revert), or give it `expect`"),
                    );
                }
            };
            // Resolvers may hold the answer from before the change for its TTL then.
            job.cache_expiry = last.and_then(|(d, at)| {
                let old = d.records.iter().filter_map(|r| r.old_ttl.or(r.ttl)).max()?;
                Some(crate::engine::later(at?, Duration::from_secs(u64::from(old))))
            });
        }
    }
    let intent = Intent::Dns(DnsIntent {
        op: job.op,
        zone: config.zone.clone(),
        via: if job.op.writes() {
            config.via()
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
            Some(Intent::Dns(d)) if d.op == DnsOp::LowerTtl => d.records.first().and_then(|r| r.ttl),
            _ => None,
        })
        .unwrap_or(config.cutover_ttl)
}

async fn current_values(writer: &Writer, config: &DnsConfig, name: &str, rtype: &str) -> Result<Vec<String>, Failure> {
    match writer {
        Writer::Manual => {
            let servers = authoritative(config).await.map_err(fail)?;
            let first = servers
                .first()
                .ok_or_else(|| fail(DnsError::usage("no nameservers".to_string())))?;
            wire::query(first.addr, name, rtype, false, config.query_timeout)
                .await
                .map(|a| a.values)
                .map_err(fail)
        }
        w => w
            .current(name, rtype, &config.zone, config.query_timeout)
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
        DnsOp::Check => check(&job, reporter).await,
        DnsOp::Verify if job.dry_run => dry_verify(&job, reporter).await,
        DnsOp::Verify => verify(&job, reporter, cancel).await,
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
    let expect = expected_words(&job.records, |r| &r.from);
    Ok(Outcome {
        summary: format!(
            "dry run: a real run waits here until {} authoritative server(s) answer {expect}",
            servers.len()
        ),
        details: vec!["every server was asked once; their answers are recorded".to_string()],
        ..Outcome::default()
    })
}

/// What a dry run would send: the compare-and-swap of each record set, exactly.
fn would_send(job: &DnsJob, updates: &[RecordUpdate]) -> Outcome {
    let config = &job.config;
    let mut details = vec![match &config.provider {
        crate::runbook::DnsProvider::Hosted { .. } => format!(
            "dry run: nothing was sent. A real run reads every record set through {}, compares, then writes each set by its own call (not atomic; sets that go away first):",
            config.via()
        ),
        _ => format!(
            "dry run: nothing was sent. A real run sends one UPDATE for zone {} via {} (all of it or none of it):",
            config.zone,
            config.via()
        ),
    }];
    details.extend(update_lines(updates).into_iter().map(|l| format!("  {l}")));
    if updates.is_empty() {
        details.push("  nothing: every record already holds the new value".to_string());
    }
    let what: Vec<String> = job
        .records
        .iter()
        .map(|r| crate::words::record_change_words(r, true))
        .collect();
    Outcome {
        summary: format!("dry run: would change {}", what.join("; ")),
        details,
        ..Outcome::default()
    }
}

/// An UPDATE in words, in the order the message holds it: every prerequisite, then name by
/// name the deletes of its sets and then their adds.
pub fn update_lines(updates: &[RecordUpdate]) -> Vec<String> {
    let mut lines = Vec::new();
    for u in updates {
        if u.from.is_empty() {
            lines.push(format!("prerequisite: {} has no {} record", u.name, u.rtype));
        } else {
            lines.push(format!(
                "prerequisite: {} {} = {} (exactly)",
                u.name,
                u.rtype,
                show(&u.from)
            ));
        }
    }
    for n in wire::names_in_order(updates) {
        for u in updates.iter().filter(|u| u.name == n) {
            lines.push(format!("delete the {} {} RRset", u.name, u.rtype));
        }
        for u in updates.iter().filter(|u| u.name == n) {
            for v in &u.to {
                lines.push(format!("add {} {} {} {v}", u.name, u.ttl, u.rtype));
            }
        }
    }
    lines
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
            reporter.report(Progress::NameserverAnswered { answer });
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
        record: set_label(record),
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
            // A set that must not exist has no TTL to compare.
            let ttl_ok = ttl.is_none() || expect.is_empty() || recursion || answer.ttl == ttl;
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

/// How answers name a record set: an A set by its name alone (as it always was), other
/// types with theirs (`www.shop.example. AAAA`).
fn set_label(r: &RecordChange) -> String {
    if r.rtype == "A" {
        r.name.clone()
    } else {
        format!("{} {}", r.name, r.rtype)
    }
}

/// Every record set's expected values, for a summary: `1.2.3.4, 2001:db8::1` when all
/// names expect the same, else name by name.
fn expected_words(records: &[RecordChange], side: fn(&RecordChange) -> &Vec<String>) -> String {
    let mut per_name: Vec<(String, Vec<String>)> = Vec::new();
    for r in records {
        let values = side(r);
        match per_name.iter_mut().find(|(n, _)| *n == r.name) {
            Some((_, v)) => v.extend(values.iter().cloned()),
            None => per_name.push((r.name.clone(), values.clone())),
        }
    }
    let first = per_name.first().map(|(_, v)| v.clone()).unwrap_or_default();
    if per_name.iter().all(|(_, v)| same(v, &first)) {
        show(&first)
    } else {
        per_name
            .iter()
            .map(|(n, v)| format!("{n} {}", show(v)))
            .collect::<Vec<_>>()
            .join("; ")
    }
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
                set_label(record),
                ns.name,
                ns.addr,
                show(&a.values),
                a.ttl.map(|t| format!(", TTL {t}")).unwrap_or_default()
            ));
            match a.verdict {
                Verdict::Within => {}
                Verdict::Breach => problems.push(format!(
                    "{} holds {} at {} ({}), expected {}{}",
                    set_label(record),
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
        return Err(Failure::new(problems.join("; ")).advise(advice));
    }
    Ok(Outcome {
        summary: format!(
            "{} record(s) hold {} on {} authoritative nameserver(s)",
            job.config.records.len(),
            expected_words(&job.records, |r| &r.from),
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
    let ttl_change = matches!(job.op, DnsOp::LowerTtl | DnsOp::RestoreTtl);
    let mut try_no = 0;
    let (went_through_before, sent) = loop {
        try_no += 1;
        let mut pending = Vec::new();
        let mut already = Vec::new();
        let attempt: Result<Option<Vec<RecordUpdate>>, DnsError> = async {
            for r in &job.records {
                let now = writer
                    .current(&r.name, &r.rtype, &config.zone, config.query_timeout)
                    .await?;
                // A set the change does not move (one that must stay absent beside a
                // CNAME) is only a prerequisite: it goes with the UPDATE, never counts as done.
                let moves = !same(&r.from, &r.to);
                if !ttl_change && moves && same(&now, &r.to) {
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
                    let mut e = mismatch(&set_label(r), &r.from, &now, &describe_source(&writer));
                    if now.is_empty() && r.rtype != "CNAME" {
                        // An address set that is not there may have given way to a CNAME.
                        if let Ok(c) = writer
                            .current(&r.name, "CNAME", &config.zone, config.query_timeout)
                            .await
                            && !c.is_empty()
                        {
                            e.message = e.message.replacen(
                                "holds nothing",
                                &format!("holds no {} record but a CNAME to {}", r.rtype, c.join(", ")),
                                1,
                            );
                        }
                    }
                    return Err(e);
                }
            }
            // Nothing to send when every set that moves is already in place.
            if !ttl_change && !pending.iter().any(|u| !same(&u.from, &u.to)) {
                pending.clear();
            }
            if job.dry_run {
                return Ok(Some(pending.clone()));
            }
            if !pending.is_empty() {
                writer.swap(&config.zone, &pending, config.query_timeout).await?;
            }
            Ok(None)
        }
        .await;
        match attempt {
            Ok(Some(would)) => return Ok(would_send(job, &would)),
            Ok(None) => {
                let sent: Vec<(String, String)> = pending.iter().map(|u| (u.name.clone(), u.rtype.clone())).collect();
                break (!already.is_empty(), sent);
            }
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
    // The source itself must hold what was sent: a server may accept an UPDATE and skip a
    // part of it (a CNAME beside other data of the name is ignored, RFC 2136 3.4.2.2).
    {
        for r in &job.records {
            let now = writer
                .current(&r.name, &r.rtype, &config.zone, config.query_timeout)
                .await
                .map_err(fail)?;
            if !same(&now, &r.to) {
                return Err(Failure::new(format!(
                        "{} accepted the change, but {} now holds {}, not {}",
                        describe_source(&writer),
                        set_label(r),
                        show(&now),
                        show(&r.to)
                    )).advise(if r.rtype == "CNAME" {
                        "a CNAME cannot stand beside other records of its name (MX, TXT, ...): the server skipped it, and the name's address records are already gone. Roll back now (the revert puts the addresses back), then move those records away or flip to addresses".to_string()
                    } else {
                        "look at the server's log and at what the name holds now before going on; retry or roll back"
                            .to_string()
                    }));
            }
        }
    }
    let servers = authoritative(config).await.unwrap_or_default();
    let mut answers = Answers::default();
    let mut details = vec![format!("via {}", config.via())];
    // The TTL is checked on the sets this write sent; one found already in place (a change
    // that went through before a crash, a flip that never sent its UPDATE) keeps its own.
    let mut expect = as_left(&job.records);
    for e in &mut expect {
        if !sent.iter().any(|(n, t)| *n == e.name && *t == e.rtype) {
            e.ttl = None;
        }
    }
    if matches!(job.op, DnsOp::LowerTtl | DnsOp::Revert) {
        // Done only when every authoritative server serves it: the lead time before the
        // flip counts from then, and a rollback pulls the new side only once DNS is back.
        if servers.is_empty() {
            return Err(fail(authoritative(config).await.err().unwrap_or_else(|| {
                DnsError::usage("no authoritative nameservers to verify the change on".to_string())
            })));
        }
        let what = match job.op {
            DnsOp::LowerTtl => format!("TTL {}", job.records.first().and_then(|r| r.ttl).unwrap_or(0)),
            _ => expected_words(&expect, |r| &r.from),
        };
        let asking = Asking {
            config,
            servers: &servers,
            reporter,
            cancel,
        };
        let took = until_all_serve(&asking, &expect, &what, job.timeout, &mut answers).await?;
        details.push(format!(
            "all {} authoritative nameserver(s) serve it after {} ms",
            servers.len(),
            took.as_millis()
        ));
    } else {
        // Read back from every authoritative server at once, for the record (verify waits
        // for them).
        let asked = futures_util::future::join_all(
            expect
                .iter()
                .flat_map(|r| servers.iter().map(move |ns| (r, ns)))
                .map(|(r, ns)| ask(ns, r, &r.from, r.ttl, false, config)),
        )
        .await;
        for mut a in asked {
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
        .map(|r| crate::words::record_change_words(r, true))
        .collect();
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
                    .map(|r| crate::words::record_change_words(r, true))
                    .collect(),
                ..Outcome::default()
            });
        }
        if Instant::now() > deadline {
            return Err(
                Failure::new("the change was not seen on every authoritative server within an hour")
                    .advise("make the change shown in the step detail, then retry; or roll back"),
            );
        }
        if !pause(config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
}

/// Who is asked while a step waits for the servers, and where their answers go.
#[derive(Clone, Copy)]
struct Asking<'a> {
    config: &'a DnsConfig,
    servers: &'a [Nameserver],
    reporter: &'a Reporter,
    cancel: &'a CancellationToken,
}

/// Asks every authoritative server about every record set in `expect` (each set's `from`
/// and `ttl`) until all of them answer it, for at most `timeout`. A server that lags is
/// named in the failure, with what it answers.
async fn until_all_serve(
    asking: &Asking<'_>,
    expect: &[RecordChange],
    what: &str,
    timeout: Duration,
    answers: &mut Answers,
) -> Result<Duration, Failure> {
    let Asking {
        config,
        servers,
        reporter,
        cancel,
    } = *asking;
    let started = Instant::now();
    loop {
        let mut lagging = Vec::new();
        // Servers that answered nothing at all in this round: not a lagging secondary.
        let mut silent: Vec<&Nameserver> = Vec::new();
        let mut unanswered = 0;
        // Every server and record at once: a silent server costs one query timeout a
        // round, not one per record.
        let asked = futures_util::future::join_all(
            expect
                .iter()
                .flat_map(|r| servers.iter().map(move |ns| (r, ns)))
                .map(|(r, ns)| async move { (r, ns, ask(ns, r, &r.from, r.ttl, false, config).await) }),
        )
        .await;
        for (r, ns, a) in asked {
            {
                if a.verdict == Verdict::Inconclusive {
                    unanswered += 1;
                    if !silent.contains(&ns) {
                        silent.push(ns);
                    }
                }
                if a.verdict != Verdict::Within {
                    lagging.push(format!(
                        "{} at {} ({}) answers {}{}",
                        set_label(r),
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
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return Err(Failure::new(format!(
                "not every authoritative server answers {what} after {}: {}",
                crate::runbook::duration::format(timeout),
                lagging.join("; ")
            ))
            .advise(verify_advice(&silent, lagging.len() > unanswered)));
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
    let what = expected_words(&job.records, |r| &r.from);
    let asking = Asking {
        config,
        servers: &servers,
        reporter,
        cancel,
    };
    until_all_serve(&asking, &job.records, &what, job.timeout, &mut answers).await?;
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
            config.records.join(", "),
            what,
            job.records
                .iter()
                .find_map(|r| r.ttl)
                .map(|t| format!(" with TTL {t}"))
                .unwrap_or_default()
        ),
        details,
        ..Outcome::default()
    })
}
