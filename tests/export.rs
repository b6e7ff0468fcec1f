//! The post-mortem export: two runs built event by event at fixed times (a completed
//! rehearsal, and a live run that breached its watch, rolled back and crashed once on
//! the way), exported as Markdown, JSON and HTML; then the command on a real run.

use crate::support;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cutover::engine::{
    DnsIntent, DnsOp, Failure, FailureAction, GateOverride, Incident, Intent, KubeIntent, KubeOp, MetricSample,
    MetricsOp, Mode, NameserverAnswer, ObjectCheck, Outcome, RecordChange, Recorded, Rehearsal, RollbackTrigger,
    RunEvent, RunState, RunStatus, SCHEMA_VERSION, ScaleChange, Verdict, WatchedMetric,
};
use cutover::redact::Redactor;
use cutover::report;
use support::{Sandbox, assert_exit, text};

const RUNBOOK: &str = r#"
[runbook]
name = "shop-api"
description = "VM → Kubernetes, blue-green by DNS"
hold = "72h"

[vars]
vm_ip = "192.0.2.10"
lb_ip = "198.51.100.7"

[dns]
provider = "rfc2136"
server = "192.0.2.53:53"
tsig_key = { name = "cutover", algorithm = "hmac-sha256", secret_env = "CUTOVER_TEST_TSIG_SECRET" }
zone = "shop.example"
records = ["api.shop.example"]
nameservers = ["ns1.shop.example=192.0.2.53", "ns2.shop.example=192.0.2.54"]
cutover_ttl = "60s"
ttl_lead_time = "24h"

[k8s]
context = "prod-eu"
namespace = "shop"
deployments = ["web"]

[metrics]
prometheus = "http://prometheus.monitoring:9090"
error_rate = 'sum(rate(http_requests_total{job="shop",code=~"5.."}[1m])) / sum(rate(http_requests_total{job="shop"}[1m]))'
p99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="shop"}[1m])))'
baseline = "1h"
max_error_rate_increase = 0.001
max_p99_increase = "20%"
watch = "15m"
interval = "1m"

[[phase]]
id = "window"
title = "The window"

  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  title = "Error rate and p99 before the flip"

  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Point DNS at the load balancer"
  from = "${vm_ip}"
  to = "${lb_ip}"
  approve = "type:api.shop.example"
  on_failure = "rollback"

  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Every authoritative nameserver answers the load balancer"
  on_failure = "rollback"

  [[phase.step]]
  id = "watch"
  kind = "metrics.watch"
  title = "Watch error rate and p99"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
  title = "DNS back to the VM"

  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  title = "Scale the new Deployments to zero"
  replicas = 0
"#;

const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";
const SECRET: &str = "hunter2-s3cret";

/// Appends events at fixed times, numbering them as the journal does.
struct Run {
    t0: DateTime<Utc>,
    records: Vec<Recorded>,
}

impl Run {
    fn new(t0: &str, mode: Mode, rehearsal: Option<Rehearsal>) -> Self {
        let loaded = cutover::runbook::load_str(Path::new("shop.toml"), RUNBOOK, None).expect("the test runbook loads");
        let mut run = Run {
            t0: t0.parse().unwrap(),
            records: Vec::new(),
        };
        run.at(
            0,
            "alice",
            RunEvent::RunStarted {
                run_id: format!("shop-api.default.{}", &t0[..10]),
                mode,
                runbook: loaded.runbook,
                digest: "sha256:0123456789abcdef".into(),
                source: "runbooks/shop.toml".into(),
                rehearsal,
                dry_run: false,
            },
        );
        run
    }

    fn at(&mut self, secs: i64, by: &str, event: RunEvent) -> &mut Self {
        self.records.push(Recorded {
            v: SCHEMA_VERSION,
            seq: self.records.len() as u64 + 1,
            at: self.time(secs),
            by: by.into(),
            event,
        });
        self
    }

    fn time(&self, secs: i64) -> DateTime<Utc> {
        self.t0 + chrono::Duration::seconds(secs)
    }

    fn state(&self) -> RunState {
        RunState::replay(&self.records).expect("a run")
    }
}

fn session(pid: u32) -> RunEvent {
    RunEvent::SessionOpened {
        pid,
        host: "ops-1".into(),
        version: "0.1.0".into(),
        took_over_from: None,
    }
}

fn started(step: &str, intent: Intent) -> RunEvent {
    RunEvent::StepStarted {
        step: step.into(),
        intent,
    }
}

fn succeeded(step: &str, summary: &str, details: &[&str]) -> RunEvent {
    RunEvent::StepSucceeded {
        step: step.into(),
        outcome: Outcome {
            summary: summary.into(),
            details: details.iter().map(|d| (*d).to_string()).collect(),
            ..Outcome::default()
        },
    }
}

fn dns(op: DnsOp, from: &str, to: Option<&str>) -> Intent {
    Intent::Dns(DnsIntent {
        op,
        zone: "shop.example.".into(),
        via: "RFC 2136 UPDATE to 192.0.2.53:53 signed with TSIG key cutover".into(),
        records: vec![RecordChange {
            name: "api.shop.example.".into(),
            rtype: "A".into(),
            from: vec![from.into()],
            to: to.map(|t| vec![t.to_string()]).unwrap_or_default(),
            old_ttl: Some(60),
            ttl: to.map(|_| 60),
        }],
    })
}

fn answer(ns: &str, address: &str, value: &str) -> RunEvent {
    RunEvent::NameserverAnswered {
        step: "verify".into(),
        answer: NameserverAnswer {
            server: ns.into(),
            address: address.into(),
            record: "api.shop.example.".into(),
            values: vec![value.into()],
            ttl: Some(60),
            verdict: if value == LB { Verdict::Within } else { Verdict::Breach },
            note: String::new(),
        },
    }
}

fn metrics_intent(op: MetricsOp, until: Option<DateTime<Utc>>) -> Intent {
    Intent::Metrics {
        op,
        source: "http://prometheus.monitoring:9090".into(),
        queries: vec![
            "error_rate: sum(rate(...))".into(),
            "p99: histogram_quantile(0.99, ...)".into(),
        ],
        until,
    }
}

fn watched() -> Vec<WatchedMetric> {
    vec![
        WatchedMetric {
            name: "error_rate".into(),
            baseline: 0.002,
            bound: 0.003,
            rule: "baseline + 0.1 percentage points".into(),
            unit: "ratio".into(),
        },
        WatchedMetric {
            name: "p99".into(),
            baseline: 0.180,
            bound: 0.216,
            rule: "baseline + 20 %".into(),
            unit: "seconds".into(),
        },
    ]
}

fn sample(error_rate: f64, p99: f64) -> RunEvent {
    let one = |metric: &str, value: f64, bound: f64, shown: String| {
        let verdict = if value > bound {
            Verdict::Breach
        } else {
            Verdict::Within
        };
        MetricSample {
            at: None,
            metric: metric.into(),
            value: Some(value),
            bound,
            verdict,
            reason: match verdict {
                Verdict::Breach => format!("{shown} > bound"),
                _ => format!("{shown} within bound"),
            },
        }
    };
    RunEvent::WatchSampled {
        step: "watch".into(),
        samples: vec![
            one("error_rate", error_rate, 0.003, format!("{:.2} %", error_rate * 100.0)),
            one("p99", p99, 0.216, format!("{:.0} ms", p99 * 1000.0)),
        ],
    }
}

/// Steps up to a verified flip, from `t` seconds on.
fn up_to_verified_flip(run: &mut Run, t: i64, approver: &str, note: Option<&str>) {
    run.at(
        t,
        "alice",
        started("baseline", metrics_intent(MetricsOp::Baseline, None)),
    )
    .at(
        t + 2,
        "alice",
        succeeded("baseline", "error_rate 0.20 %, p99 180 ms over the last 1h", &[]),
    )
    .at(
        t + 30,
        approver,
        RunEvent::StepApproved {
            step: "flip".into(),
            typed: Some("api.shop.example".into()),
            note: note.map(str::to_string),
        },
    )
    .at(t + 31, "alice", started("flip", dns(DnsOp::Flip, VM, Some(LB))))
    .at(
        t + 32,
        "alice",
        succeeded(
            "flip",
            "api.shop.example. now answers 198.51.100.7 on the primary",
            &["compare-and-swap: the record held 192.0.2.10"],
        ),
    )
    .at(t + 33, "alice", started("verify", dns(DnsOp::Verify, LB, None)))
    .at(t + 34, "cutover", answer("ns1.shop.example.", "192.0.2.53:53", LB))
    .at(t + 35, "cutover", answer("ns2.shop.example.", "192.0.2.54:53", LB))
    .at(
        t + 35,
        "alice",
        succeeded("verify", "2 of 2 authoritative nameservers answer 198.51.100.7", &[]),
    );
}

/// (a) A rehearsal, time compressed 60× with the watch set to 4 minutes, approved by
/// the tool, that completes.
fn rehearsal() -> Run {
    let mut run = Run::new(
        "2026-12-05T14:00:00Z",
        Mode::Rehearsal,
        Some(Rehearsal {
            compress: 60,
            overrides: vec![GateOverride {
                gate: "watch".into(),
                length: Duration::from_secs(240),
            }],
            auto_approve: true,
            demo: false,
        }),
    );
    run.at(0, "alice", session(4242));
    up_to_verified_flip(&mut run, 1, "cutover", None);
    let until = run.time(40 + 240);
    run.at(
        40,
        "alice",
        started("watch", metrics_intent(MetricsOp::Watch, Some(until))),
    )
    .at(
        40,
        "cutover",
        RunEvent::WatchStarted {
            step: "watch".into(),
            until,
            metrics: watched(),
        },
    );
    for (i, (e, p)) in [(0.0021, 0.181), (0.0024, 0.190), (0.0019, 0.176), (0.0022, 0.185)]
        .into_iter()
        .enumerate()
    {
        run.at(100 + 60 * i as i64, "cutover", sample(e, p));
    }
    let hold_until = run.time(281 + 72 * 3600 / 60);
    run.at(
        281,
        "alice",
        succeeded("watch", "4 samples, every one within bounds", &[]),
    )
    .at(281, "alice", RunEvent::HoldStarted { until: hold_until })
    .at(281 + 72 * 60, "cutover", RunEvent::RunCompleted)
    .at(
        281 + 72 * 60,
        "alice",
        RunEvent::SessionClosed {
            reason: "the run is completed".into(),
        },
    );
    run
}

/// (b) A live run: the first session crashes before the flip; the second flips, the
/// watch breaches, the incident is recorded, DNS is reverted and the Deployment scaled
/// to zero; the next day an RCA is attached in a third session.
fn rolled_back() -> Run {
    let mut run = Run::new("2026-12-12T22:00:00Z", Mode::Live, None);
    run.at(0, "alice", session(1111))
        .at(
            5,
            "alice",
            started("baseline", metrics_intent(MetricsOp::Baseline, None)),
        )
        // The first session dies here, with the baseline running: nothing closes it.
        .at(240, "alice", session(2222));
    up_to_verified_flip(
        &mut run,
        241,
        "alice",
        Some(&format!("CHG-1234 approved by bob; bridge token {SECRET}")),
    );
    let until = run.time(280 + 900);
    run.at(
        280,
        "alice",
        started("watch", metrics_intent(MetricsOp::Watch, Some(until))),
    )
    .at(
        280,
        "cutover",
        RunEvent::WatchStarted {
            step: "watch".into(),
            until,
            metrics: watched(),
        },
    );
    for (i, (e, p)) in [(0.0021, 0.182), (0.0026, 0.201), (0.0045, 0.209), (0.0061, 0.262)]
        .into_iter()
        .enumerate()
    {
        run.at(340 + 60 * i as i64, "cutover", sample(e, p));
    }
    let message = "error_rate above its bound in 2 samples in a row (0.61 % > 0.30 %)";
    run.at(
        520,
        "cutover",
        RunEvent::StepFailed {
            step: "watch".into(),
            failure: Failure {
                message: message.into(),
                advice: None,
                action: FailureAction::RollBack,
                ..Failure::default()
            },
        },
    )
    .at(
        520,
        "cutover",
        RunEvent::IncidentRecorded {
            incident: Incident {
                summary: format!("watch failed: {message}"),
                step: Some("watch".into()),
                details: vec!["p99 262 ms > bound 216 ms".into()],
            },
        },
    )
    .at(
        520,
        "cutover",
        RunEvent::RollbackStarted {
            trigger: RollbackTrigger::StepFailed {
                step: "watch".into(),
                message: message.into(),
            },
        },
    )
    .at(520, "alice", started("dns-back", dns(DnsOp::Revert, LB, Some(VM))))
    .at(
        521,
        "alice",
        succeeded(
            "dns-back",
            "api.shop.example. answers 192.0.2.10 again on the primary",
            &[],
        ),
    )
    .at(
        521,
        "alice",
        started(
            "scale-to-zero",
            Intent::Kube(KubeIntent {
                op: KubeOp::Scale,
                context: "prod-eu (https://k8s.prod-eu.example:6443)".into(),
                namespace: "shop".into(),
                objects: vec!["Deployment web".into()],
                scale: vec![ScaleChange {
                    deployment: "web".into(),
                    from: 3,
                    to: 0,
                }],
            }),
        ),
    )
    .at(
        526,
        "cutover",
        RunEvent::ObjectChecked {
            step: "scale-to-zero".into(),
            check: ObjectCheck {
                object: "Deployment shop/web".into(),
                check: "replicas".into(),
                value: "0/0".into(),
                verdict: Verdict::Within,
                note: String::new(),
            },
        },
    )
    .at(526, "alice", succeeded("scale-to-zero", "web scaled 3 → 0", &[]))
    .at(526, "alice", RunEvent::RollbackCompleted)
    .at(
        530,
        "alice",
        RunEvent::SessionClosed {
            reason: "rolled back".into(),
        },
    )
    .at(86_400, "bob", session(3333))
    .at(
        86_410,
        "bob",
        RunEvent::RcaAttached {
            text: "Root cause: the new pods shared one database connection pool of 5.\n\n\
                   Under production traffic | requests *queued* and timed out (HTTP 503).\n\
                   Fix: pool size from the environment; load test at 2× peak before the next attempt."
                .into(),
        },
    )
    .at(
        86_410,
        "bob",
        RunEvent::SessionClosed {
            reason: "root-cause analysis attached".into(),
        },
    );
    run
}

fn redactor() -> Redactor {
    let mut r = Redactor::default();
    r.add("the test", SECRET);
    r
}

#[test]
fn a_completed_rehearsal_reads_as_a_rehearsal_with_its_timeline_answers_and_samples() {
    let run = rehearsal();
    let md = report::markdown(&run.records, &run.state(), &redactor());
    assert!(
        md.starts_with("# Cutover post-mortem: shop-api (default) — **REHEARSAL**"),
        "{md}"
    );
    assert!(md.contains("time compressed 60×"), "{md}");
    assert!(md.contains("approvals given automatically"), "{md}");
    insta::assert_snapshot!("rehearsal_markdown", md);
}

#[test]
fn a_rolled_back_run_shows_the_breach_the_incident_the_rollback_the_rca_and_the_crash() {
    let run = rolled_back();
    let md = report::markdown(&run.records, &run.state(), &redactor());
    assert!(!md.contains(SECRET), "the approval note's secret is masked");
    assert!(md.contains("CHG-1234 approved by bob; bridge token [redacted]"), "{md}");
    assert!(md.contains("ended without closing (crash or kill)"), "{md}");
    assert!(md.contains("ROLLED BACK"), "{md}");
    assert!(
        md.contains("| T+04:08 | cutover (automatic) | ROLLBACK started because watch failed"),
        "the flip is time zero: {md}"
    );
    insta::assert_snapshot!("rolled_back_markdown", md);
}

/// Journals written before the tool's actions were recorded as `cutover (automatic)` read
/// as they are and export with the tool named as it is now: `cutover` was the tool, and an
/// incident and rollback a failure started were the tool's even where the journal has the
/// operator whose session it was. The JSON keeps what the journal holds.
#[test]
fn an_older_journal_names_the_tool_as_it_is_named_now() {
    let mut run = Run::new("2026-12-12T22:00:00Z", Mode::Live, None);
    run.at(0, "alice", session(1111));
    up_to_verified_flip(&mut run, 1, "alice", None);
    let message = "error_rate above its bound in 2 samples in a row (0.61 % > 0.30 %)";
    let until = run.time(40 + 900);
    run.at(
        40,
        "alice",
        started("watch", metrics_intent(MetricsOp::Watch, Some(until))),
    )
    .at(100, "cutover", sample(0.0061, 0.262))
    .at(
        160,
        "alice",
        RunEvent::StepFailed {
            step: "watch".into(),
            failure: Failure {
                message: message.into(),
                action: FailureAction::RollBack,
                ..Failure::default()
            },
        },
    )
    .at(
        160,
        "alice",
        RunEvent::IncidentRecorded {
            incident: Incident {
                summary: format!("step `watch` failed: {message}"),
                step: Some("watch".into()),
                details: Vec::new(),
            },
        },
    )
    .at(
        160,
        "alice",
        RunEvent::RollbackStarted {
            trigger: RollbackTrigger::StepFailed {
                step: "watch".into(),
                message: message.into(),
            },
        },
    );
    let state = run.state();
    assert_eq!(state.status, RunStatus::RollingBack);
    let md = report::markdown(&run.records, &state, &redactor());
    for line in [
        "**Operated by:** alice (what the tool did by itself is by `cutover (automatic)`)",
        r"by cutover (automatic), attempt 1: step \`watch\` failed",
        ") by cutover (automatic): watch failed:",
        "| cutover (automatic) | watch: sample",
    ] {
        assert!(md.contains(line), "{line:?} in:\n{md}");
    }
    let json: serde_json::Value = serde_json::from_str(&report::json(&run.records, &state, &redactor())).unwrap();
    let by: Vec<&str> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["by"].as_str().unwrap())
        .collect();
    assert_eq!(&by[by.len() - 4..], ["cutover", "alice", "alice", "alice"]);
    assert_eq!(json["run"]["operators"], serde_json::json!(["alice"]));
}

#[test]
fn time_zero_is_the_flip_try_that_succeeded_not_a_failed_one() {
    let mut run = Run::new("2026-12-05T14:00:00Z", Mode::Live, None);
    run.at(0, "alice", session(4242))
        .at(
            10,
            "alice",
            started("baseline", metrics_intent(MetricsOp::Baseline, None)),
        )
        .at(12, "alice", succeeded("baseline", "error_rate 0.20 %, p99 180 ms", &[]))
        .at(
            30,
            "alice",
            RunEvent::StepApproved {
                step: "flip".into(),
                typed: Some("api.shop.example".into()),
                note: None,
            },
        )
        .at(31, "alice", started("flip", dns(DnsOp::Flip, VM, Some(LB))))
        .at(
            32,
            "alice",
            RunEvent::StepFailed {
                step: "flip".into(),
                failure: cutover::engine::Failure {
                    message: "TSIG authentication failed".into(),
                    ..Default::default()
                },
            },
        )
        .at(1231, "alice", RunEvent::StepRetried { step: "flip".into() })
        .at(1231, "alice", started("flip", dns(DnsOp::Flip, VM, Some(LB))))
        .at(1232, "alice", succeeded("flip", "moved", &[]));
    let md = report::markdown(&run.records, &run.state(), &redactor());
    assert!(
        md.contains("| T−19:59 | alice | flip: FAILED"),
        "the failed try is before time zero:\n{md}"
    );
    assert!(md.contains("| T+00:01 | alice | flip: succeeded"), "{md}");
}

#[test]
fn json_is_the_whole_journal_versioned_and_reads_back_as_records() {
    let run = rehearsal();
    let json = report::json(&run.records, &run.state(), &redactor());
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(value["format"], report::FORMAT);
    assert_eq!(value["schema"], SCHEMA_VERSION);
    let events: Vec<Recorded> = serde_json::from_value(value["events"].clone()).expect("events are records");
    assert_eq!(events, run.records);
    insta::assert_snapshot!("rehearsal_json", json);

    let run = rolled_back();
    let json = report::json(&run.records, &run.state(), &redactor());
    assert!(!json.contains(SECRET));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["events"].as_array().unwrap().len(), run.records.len());
    assert_eq!(value["run"]["gaps"][0]["crashed"], true);
}

#[test]
fn html_is_one_page_with_the_charts_first_and_nothing_fetched() {
    let run = rolled_back();
    let state = run.state();
    let html = report::html(&run.records, &state, &redactor());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains(SECRET));
    for absent in ["<script", "src=", "<link", "url(", "@import", "href="] {
        assert!(!html.contains(absent), "the page must not hold {absent:?}");
    }
    let svg = html.find("<svg").expect("a chart");
    let timeline = html.find("<h2>Timeline</h2>").expect("the timeline");
    assert!(svg < timeline, "the charts come before the timeline");
    for needle in [
        "class=\"bound\"",
        "class=\"baseline\"",
        "class=\"flip\"",
        "class=\"rollback\"",
        "class=\"sample breach\"",
        "banner live",
        "<table>",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
    // The operator's words are escaped, never markup.
    assert!(html.contains("requests *queued*"));
    let charts = report::charts(&run.records, &state, &redactor());
    assert_eq!(charts.len(), 2, "error rate and p99");
    for c in &charts {
        assert!(html.contains(c.as_str()));
    }
    insta::assert_snapshot!("rolled_back_charts_svg", charts.join("\n\n"));

    let run = rehearsal();
    let html = report::html(&run.records, &run.state(), &redactor());
    assert!(html.contains("banner rehearsal"));
    assert!(!html.contains("class=\"rollback\""));
}

#[test]
fn text_that_looks_like_markup_is_shown_as_text() {
    let mut run = rolled_back();
    let state_before = run.state();
    run.at(
        90_000,
        "bob",
        RunEvent::NoteAdded {
            step: None,
            text: "<script>alert(1)</script> | [x](http://evil.example) **bold**".into(),
        },
    );
    let state = run.state();
    assert_ne!(state_before.last_seq, state.last_seq);
    let html = report::html(&run.records, &state, &redactor());
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let md = report::markdown(&run.records, &state, &redactor());
    assert!(
        md.contains(r"\<script>alert(1)\</script> \| [x\](http://evil.example) \*\*bold\*\*"),
        "{md}"
    );
}

// Through the binary.

const QUICKSTART: &[&str] = &[
    "run",
    "runbooks/quickstart.toml",
    "--new-run",
    "--headless",
    "--approve",
    "ready",
    "--note",
    "ready=trying the export",
    "--approve",
    "go=quickstart",
];

#[test]
fn the_export_command_writes_every_format_of_a_real_run() {
    let sb = Sandbox::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = sb.cutover().current_dir(root).args(QUICKSTART).output().unwrap();
    assert_exit(&out, 0);
    let run_id = sb.only_run_id();
    let (records, _) = sb.journal(&run_id).unwrap();

    for format in ["md", "json", "html"] {
        let file = sb.path().join(format!("export.{format}"));
        let out = sb.output(&["export", &run_id, "--format", format, "-o", file.to_str().unwrap()]);
        assert_exit(&out, 0);
        assert!(text(&out.stderr).contains(&run_id));
        let written = std::fs::read_to_string(&file).unwrap();
        match format {
            "md" => {
                assert!(written.starts_with("# Cutover post-mortem: quickstart (default) — LIVE"));
                assert!(written.contains("ready: approved — note: trying the export"));
            }
            "json" => {
                let value: serde_json::Value = serde_json::from_str(&written).unwrap();
                assert_eq!(value["format"], "cutover.export/1");
                let events: Vec<Recorded> = serde_json::from_value(value["events"].clone()).unwrap();
                assert_eq!(events, records, "every event, as journaled");
                assert_eq!(value["run"]["run_id"], run_id.as_str());
            }
            _ => {
                assert!(written.starts_with("<!DOCTYPE html>"));
                assert!(written.contains("</html>"));
                assert!(!written.contains("<script"));
            }
        }
    }
    // Standard output by default, Markdown by default.
    let out = sb.output(&["export", &run_id]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).starts_with("# Cutover post-mortem"));
}

#[test]
fn the_export_reads_a_run_that_another_process_holds() {
    let sb = Sandbox::new();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = sb.cutover().current_dir(root).args(QUICKSTART).output().unwrap();
    assert_exit(&out, 0);
    let run_id = sb.only_run_id();
    // This test holds the run, as a session driving it would.
    let held = cutover::journal::Store::open(sb.state_dir())
        .unwrap()
        .open_run(
            &run_id,
            &cutover::journal::Holder::this_process("alice", "cutover run", Utc::now()),
        )
        .unwrap();
    // The copy it reads from lives in the state directory, never in the shared temp dir.
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = sb
        .cutover()
        .env("TMPDIR", &tmp)
        .args(["export", &run_id, "--format", "json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["run"]["run_id"], run_id.as_str());
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "nothing was written to TMPDIR"
    );
    assert_private(&sb.state_dir());
    assert_eq!(
        sb.cutover().args(["export", &run_id]).output().unwrap().status.code(),
        Some(0)
    );
    drop(held);
    let scratch = sb.state_dir().join("scratch");
    assert_eq!(
        std::fs::read_dir(&scratch).map(|d| d.count()).unwrap_or(0),
        0,
        "the copies read from are removed"
    );
}

/// Everything under the state directory is its owner's alone: folders 0700, files 0600.
fn assert_private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is {mode:o}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            assert_private(&path);
        } else {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
        }
    }
}

#[test]
fn an_unknown_run_is_a_clear_error() {
    let sb = Sandbox::new();
    let out = sb.output(&["export", "no-such-run", "--format", "md"]);
    assert_exit(&out, 1);
    let err = text(&out.stderr);
    assert!(err.contains("there is no run no-such-run"), "{err}");
    assert!(err.contains("cutover runs"), "{err}");
    let out = sb.output(&["export", "../../etc"]);
    assert_exit(&out, 1);
    let help = text(&sb.output(&["export", "--help"]).stdout);
    for needle in ["--format", "md", "json", "html", "-o, --output", "Examples:"] {
        assert!(help.contains(needle), "export --help lacks {needle:?}:\n{help}");
    }
}
