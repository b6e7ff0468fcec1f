//! The demo's simulated service and its Prometheus-compatible query API: read by a real
//! Prometheus client (`promtool`), by the product's own client and by the binary's
//! baseline step; and the model itself, evaluated at chosen instants (no sleeping).

use crate::support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cutover::metrics::Prometheus;
use cutover::runbook::model::{Increase, MetricQuery, OnBreach};
use cutover::runbook::{MetricsConfig, metrics::DEFAULT_QUERY_TIMEOUT};
use cutover_sandbox::metrics::{ERROR_RATE_QUERY, Metric, P99_QUERY, PromApi, Scenario, ServiceSim};

const VM: &str = "203.0.113.10";
const K8S: &str = "198.51.100.20";
const TEN_S: Duration = Duration::from_secs(10);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(t: DateTime<Utc>, offset: i64) -> DateTime<Utc> {
    t + chrono::Duration::seconds(offset)
}

/// A fixed instant, so the model tests see the same noise every run.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn promtool() -> Command {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool is not installed: it comes with Debian's `prometheus` package; run scripts/install-test-deps.sh"
    );
    Command::new("promtool")
}

/// Runs promtool off the runtime's threads (the API answers on them) and returns
/// (success, stdout, stderr).
async fn run(mut cmd: Command) -> (bool, String, String) {
    let line = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run promtool"))
        .await
        .unwrap();
    eprintln!(
        "{line}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// promtool's promql format: `{} => VALUE @[TIMESTAMP]`, one sample per line.
fn samples(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("{} =>").trim();
            let (v, t) = l.split_once(" @[")?;
            Some((t.trim_end_matches(']').parse().ok()?, v.trim().parse().ok()?))
        })
        .collect()
}

fn unix(t: DateTime<Utc>) -> String {
    t.timestamp().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_reads_instant_and_range_answers() {
    let promtool_cmd = promtool;
    let now = Utc::now();
    let sim = Arc::new(ServiceSim::new(Scenario::Healthy, VM, K8S, secs(600)));
    // Traffic moved to Kubernetes three minutes ago, over 30 s: history holds the move.
    sim.dns_changed_at(at(now, -180), &[K8S.to_string()], secs(30));
    let api = PromApi::start(sim.clone()).await.unwrap();

    // Instant: before the move (VMs), and after it (Kubernetes), both metrics.
    for (query, metric, when, around) in [
        (ERROR_RATE_QUERY, Metric::ErrorRatio, at(now, -240), 0.0020),
        (ERROR_RATE_QUERY, Metric::ErrorRatio, at(now, -60), 0.0015),
        (P99_QUERY, Metric::P99, at(now, -240), 0.180),
        (P99_QUERY, Metric::P99, at(now, -60), 0.160),
    ] {
        let mut cmd = promtool_cmd();
        cmd.args(["query", "instant", &format!("--time={}", unix(when)), &api.url(), query]);
        let (ok, out, err) = run(cmd).await;
        assert!(ok, "promtool failed for {query}: {err}");
        let got = samples(&out);
        let want = sim.observed(metric, when, TEN_S, Utc::now()).unwrap();
        assert_eq!(
            got.len(),
            1,
            "one sample expected for {query}, promtool printed:\n{out}"
        );
        assert_eq!(got[0].0, when.timestamp() as f64, "{out}");
        assert!(
            (got[0].1 - want).abs() < 1e-12,
            "{query}: promtool read {}, the sim says {want}",
            got[0].1
        );
        assert!(
            (want - around).abs() < around * 0.1,
            "{query} at {when}: {want}, expected about {around}"
        );
    }

    // Range: a point every 15 s over the last 5 minutes, the move visible in it.
    let (start, end) = (at(now, -300), at(now, -5));
    let mut cmd = promtool_cmd();
    cmd.args([
        "query",
        "range",
        &format!("--start={}", unix(start)),
        &format!("--end={}", unix(end)),
        "--step=15s",
        &api.url(),
        ERROR_RATE_QUERY,
    ]);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "promtool range failed: {err}");
    let got = samples(&out);
    assert_eq!(
        got.len(),
        20,
        "5 minutes every 15 s from start to end, promtool printed:\n{out}"
    );
    for (i, (t, v)) in got.iter().enumerate() {
        let when = at(start, 15 * i as i64);
        assert_eq!(*t, when.timestamp() as f64);
        let want = sim.observed(Metric::ErrorRatio, when, TEN_S, Utc::now()).unwrap();
        assert!((v - want).abs() < 1e-12, "point {i}: {v} vs {want}");
    }
    assert!(
        got[0].1 > 0.0018 && got[19].1 < 0.0017,
        "VM first, Kubernetes last: {got:?}"
    );

    // Before the history: no data, as a real Prometheus without samples.
    let mut cmd = promtool_cmd();
    cmd.args([
        "query",
        "instant",
        &format!("--time={}", unix(at(now, -3600))),
        &api.url(),
        P99_QUERY,
    ]);
    let (ok, out, err) = run(cmd).await;
    assert!(ok, "{err}");
    assert!(
        samples(&out).is_empty(),
        "no data expected before the history starts: {out}"
    );

    // Anything else: bad_data naming the two queries.
    let mut cmd = promtool_cmd();
    cmd.args(["query", "instant", &api.url(), "up"]);
    let (ok, out, err) = run(cmd).await;
    assert!(!ok, "an unknown query must fail: {out}");
    assert!(
        err.contains("bad_data") && err.contains("only three queries") && err.contains("histogram_quantile(0.99"),
        "{err}"
    );
}

fn metrics_config(url: &str) -> MetricsConfig {
    MetricsConfig {
        prometheus: url.to_string(),
        bearer_token_env: None,
        basic_auth: None,
        headers: Default::default(),
        headers_env: Default::default(),
        queries: vec![
            MetricQuery {
                name: "error_rate".into(),
                query: ERROR_RATE_QUERY.into(),
                unit: "ratio".into(),
                max_increase: Increase::Absolute(0.001),
                max: None,
            },
            MetricQuery {
                name: "p99".into(),
                query: P99_QUERY.into(),
                unit: "seconds".into(),
                max_increase: Increase::Relative(0.2),
                max: None,
            },
        ],
        baseline: secs(300),
        watch: secs(60),
        interval: secs(5),
        consecutive: 2,
        inconclusive: 3,
        on_breach: OnBreach::Rollback,
        dashboard: None,
        query_timeout: DEFAULT_QUERY_TIMEOUT,
        new_side_rate: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_products_client_reads_a_baseline_from_history_and_instant_values() {
    let sim = Arc::new(ServiceSim::new(Scenario::BadRelease, VM, K8S, secs(600)));
    let api = PromApi::start(sim.clone()).await.unwrap();
    let prom = Prometheus::new(&metrics_config(&api.url())).unwrap();

    // The baseline as the metrics.baseline step asks it: 5 minutes, 240 points.
    let end = Utc::now();
    let start = at(end, -300);
    let step = Duration::from_secs_f64(300.0 / 240.0);
    let points = prom.range(ERROR_RATE_QUERY, start, end, step).await.unwrap();
    assert!(points.len() >= 240, "{} points", points.len());
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    assert!((mean - 0.002).abs() < 0.0001, "error-rate baseline {mean}");
    let points = prom.range(P99_QUERY, start, end, step).await.unwrap();
    let p99 = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    assert!((p99 - 0.180).abs() < 0.005, "p99 baseline {p99}");

    // Instant values now, and after the bad release has taken the traffic (history moved back).
    let now_err = prom.instant(ERROR_RATE_QUERY, Some(Utc::now())).await.unwrap().unwrap();
    assert!((now_err - 0.002).abs() < 0.0003, "{now_err}");
    let flip = at(Utc::now(), -120);
    sim.dns_changed_at(flip, &[K8S.to_string()], secs(10));
    let later = prom
        .instant(ERROR_RATE_QUERY, Some(at(flip, 40)))
        .await
        .unwrap()
        .unwrap();
    assert!(
        later > 0.05,
        "the bad release's error ratio 40 s after the flip: {later}"
    );
    let later = prom.instant(P99_QUERY, Some(at(flip, 40))).await.unwrap().unwrap();
    assert!(later > 0.5, "the bad release's p99 40 s after the flip: {later}");

    // Without data: nothing before the history, and nothing in the future.
    assert_eq!(prom.instant(P99_QUERY, Some(at(end, -3600))).await.unwrap(), None);
    assert_eq!(prom.instant(P99_QUERY, Some(at(Utc::now(), 3600))).await.unwrap(), None);
    let early = prom.range(P99_QUERY, at(end, -7200), at(end, -3600), TEN_S).await;
    assert_eq!(early.unwrap(), Vec::new());

    // Anything else is rejected with the reason.
    let e = prom.instant("rate(up[1m])", None).await.unwrap_err();
    assert!(
        e.message.contains("rejected the query (HTTP 400") && e.message.contains("only three queries"),
        "{e}"
    );
    let e = prom.range(P99_QUERY, end, start, TEN_S).await.unwrap_err();
    assert!(e.message.contains("end timestamp must not be before start time"), "{e}");
}

/// The bounds the default runbook puts on the watch, from the sim's own baseline.
struct Bounds {
    error: f64,
    p99: f64,
}

fn bounds(sim: &ServiceSim, now: DateTime<Utc>) -> Bounds {
    let ts: Vec<DateTime<Utc>> = (0..240).map(|i| at(now, -300 + i * 5 / 4)).collect();
    let mean = |f: &dyn Fn(DateTime<Utc>) -> f64| ts.iter().map(|t| f(*t)).sum::<f64>() / ts.len() as f64;
    Bounds {
        error: mean(&|t| sim.error_ratio(t, TEN_S)) + 0.001,
        p99: mean(&|t| sim.p99(t, TEN_S)) * 1.2,
    }
}

#[test]
fn healthy_kubernetes_stays_within_the_bounds_after_the_move() {
    let now = t0();
    let sim = ServiceSim::with_start(Scenario::Healthy, VM, K8S, secs(600), now);
    let b = bounds(&sim, now);
    assert!((b.error - 0.003).abs() < 0.0001, "error bound {}", b.error);
    assert!((b.p99 - 0.216).abs() < 0.003, "p99 bound {}", b.p99);
    sim.dns_changed_at(at(now, 5), &[K8S.to_string()], secs(30));
    assert_eq!(sim.k8s_share(at(now, 5)), 0.0);
    assert!((sim.k8s_share(at(now, 20)) - 0.5).abs() < 1e-9);
    assert_eq!(sim.k8s_share(at(now, 35)), 1.0);
    for s in (0..=900).step_by(5) {
        let t = at(now, s);
        let (e, p) = (sim.error_ratio(t, TEN_S), sim.p99(t, TEN_S));
        assert!(e < b.error, "error ratio {e} over its bound {} at +{s}s", b.error);
        assert!(p < b.p99, "p99 {p} over its bound {} at +{s}s", b.p99);
    }
    let settled = sim.error_ratio(at(now, 120), secs(60));
    assert!((settled - 0.0015).abs() < 0.0001, "Kubernetes alone: {settled}");
    let settled = sim.p99(at(now, 120), secs(60));
    assert!((settled - 0.160).abs() < 0.004, "Kubernetes alone: {settled}");
}

#[test]
fn a_bad_release_breaches_within_half_a_minute_of_the_move() {
    let now = t0();
    let sim = ServiceSim::with_start(Scenario::BadRelease, VM, K8S, secs(600), now);
    let b = bounds(&sim, now);
    // Nothing happens on Kubernetes before it gets traffic.
    assert!(sim.error_ratio(at(now, 300), TEN_S) < b.error);
    let flip = at(now, 10);
    sim.dns_changed_at(flip, &[K8S.to_string()], secs(30));
    // The watch's view: a sample every 5 s; two in a row over the bound is a breach.
    let mut streak = 0;
    let mut breached = None;
    for s in (0..=60).step_by(5) {
        let t = at(flip, s);
        if sim.error_ratio(t, TEN_S) > b.error {
            streak += 1;
        } else {
            streak = 0;
        }
        if streak == 2 {
            breached = Some(s);
            break;
        }
    }
    let breached = breached.expect("the error ratio never breached in the minute after the move");
    assert!(breached <= 30, "breached only {breached} s after the move");
    // And it gets clearly worse: ~6 % and ~600 ms once all traffic is on Kubernetes.
    let e = sim.error_ratio(at(flip, 60), TEN_S);
    let p = sim.p99(at(flip, 60), TEN_S);
    assert!((e - 0.06).abs() < 0.006, "{e}");
    assert!((p - 0.6).abs() < 0.05, "{p}");
    assert!(sim.p99(at(flip, 30), TEN_S) > b.p99, "the p99 breaches too");
}

#[test]
fn reverting_dns_moves_the_traffic_back() {
    let now = t0();
    let sim = ServiceSim::with_start(Scenario::BadRelease, VM, K8S, secs(600), now);
    let b = bounds(&sim, now);
    sim.dns_changed_at(at(now, 10), &[K8S.to_string()], secs(20));
    let back = at(now, 40);
    assert_eq!(sim.k8s_share(back), 1.0);
    sim.dns_changed_at(back, &[VM.to_string()], secs(20));
    assert!((sim.k8s_share(at(back, 10)) - 0.5).abs() < 1e-9);
    assert_eq!(sim.k8s_share(at(back, 20)), 0.0);
    assert_eq!(sim.k8s_share(at(back, 3600)), 0.0);
    // Once the window holds only VM traffic again, the service is back to its baseline.
    let e = sim.error_ratio(at(back, 35), TEN_S);
    assert!(e < b.error && (e - 0.002).abs() < 0.0002, "{e}");
    assert!(sim.p99(at(back, 35), TEN_S) < b.p99);
    // A revert half-way through a move takes back those that had moved.
    let sim = ServiceSim::with_start(Scenario::Healthy, VM, K8S, secs(600), now);
    sim.dns_changed_at(now, &[K8S.to_string()], secs(20));
    sim.dns_changed_at(at(now, 10), &[VM.to_string()], secs(20));
    assert!((sim.k8s_share(at(now, 10)) - 0.5).abs() < 1e-9);
    assert!(sim.k8s_share(at(now, 20)) < 0.5);
    assert_eq!(sim.k8s_share(at(now, 30)), 0.0);
    // An answer holding neither side's address leaves the traffic where it was.
    sim.dns_changed_at(at(now, 40), &["192.0.2.99".to_string()], secs(1));
    assert_eq!(sim.k8s_share(at(now, 60)), 0.0);
}

#[test]
fn the_model_is_deterministic() {
    let now = t0();
    let a = ServiceSim::with_start(Scenario::BadRelease, VM, K8S, secs(60), now);
    let b = ServiceSim::with_start(Scenario::BadRelease, VM, K8S, secs(60), now);
    for sim in [&a, &b] {
        sim.dns_changed_at(at(now, 3), &[K8S.to_string()], secs(10));
    }
    for s in -60..60 {
        let t = at(now, s);
        assert_eq!(a.error_ratio(t, TEN_S).to_bits(), b.error_ratio(t, TEN_S).to_bits());
        assert_eq!(a.p99(t, TEN_S).to_bits(), b.p99(t, TEN_S).to_bits());
    }
    // Noise there is, though: not every second the same.
    let values: Vec<f64> = (0..10).map(|s| a.error_ratio(at(now, -30 + s), secs(1))).collect();
    assert!(values.windows(2).any(|w| w[0] != w[1]), "{values:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binarys_baseline_step_reads_the_sandbox() {
    let sim = Arc::new(ServiceSim::new(Scenario::Healthy, VM, K8S, secs(600)));
    let api = PromApi::start(sim).await.unwrap();
    let sb = support::Sandbox::new();
    let rb = sb.write(
        "baseline.toml",
        &format!(
            r#"[runbook]
name = "sandbox-baseline"
hold = "0s"

[metrics]
prometheus = "{url}"
error_rate = '{ERROR_RATE_QUERY}'
p99 = '{P99_QUERY}'
baseline = "5m"

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  title = "Error rate and p99 before the flip"
"#,
            url = api.url()
        ),
    );
    let mut cmd = sb.cutover();
    cmd.args(["run", rb.to_str().unwrap(), "--headless"]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    support::assert_exit(&out, 0);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let outputs = &state.step("baseline").unwrap().outcome.as_ref().unwrap().outputs;
    let error_rate: f64 = outputs["baseline_error_rate"].parse().unwrap();
    let p99: f64 = outputs["baseline_p99"].parse().unwrap();
    assert!((error_rate - 0.002).abs() < 0.0001, "{error_rate}");
    assert!((p99 - 0.180).abs() < 0.005, "{p99}");
}

fn with_params(api: &PromApi, path: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{}{path}", api.url()), params).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_format_is_prometheus_s() {
    let now = Utc::now();
    let sim = Arc::new(ServiceSim::new(Scenario::Healthy, VM, K8S, secs(600)));
    let api = PromApi::start(sim.clone()).await.unwrap();
    let http = reqwest::Client::new();
    let when = at(now, -30).timestamp();
    let want = sim
        .observed(Metric::P99, at(now, -30), Duration::from_secs(60), Utc::now())
        .unwrap();
    let query = "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket[1m])) by (le))";

    // GET with URL parameters, POST form-encoded: the same answer, Prometheus's shape.
    let get: serde_json::Value = http
        .get(with_params(
            &api,
            "/api/v1/query",
            &[("query", query), ("time", &when.to_string())],
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
        .unwrap();
    let body = format!("query={}&time={when}", query.replace(' ', "+").replace('(', "%28"));
    let post: serde_json::Value = http
        .post(format!("{}/api/v1/query", api.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
        .unwrap();
    let expected = serde_json::json!({
        "status": "success",
        "data": { "resultType": "vector", "result": [ { "metric": {}, "value": [when, format!("{want}")] } ] }
    });
    assert_eq!(get, expected);
    assert_eq!(post, expected);

    // A range with a fractional start: points keep their milliseconds.
    let start = format!("{when}.5");
    let range: serde_json::Value = http
        .get(with_params(
            &api,
            "/api/v1/query_range",
            &[
                ("query", query),
                ("start", &start),
                ("end", &(when + 3).to_string()),
                ("step", "1s"),
            ],
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
        .unwrap();
    assert_eq!(range["data"]["resultType"], "matrix");
    let values = range["data"]["result"][0]["values"].as_array().unwrap();
    let stamps: Vec<f64> = values.iter().map(|v| v[0].as_f64().unwrap()).collect();
    let w = when as f64;
    assert_eq!(stamps, vec![w + 0.5, w + 1.5, w + 2.5]);

    // Errors: bad_data with 400.
    let resp = http
        .get(with_params(
            &api,
            "/api/v1/query_range",
            &[("query", query), ("start", "1"), ("end", "2"), ("step", "0")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let e: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(e["status"], "error");
    assert_eq!(e["errorType"], "bad_data");
    assert!(e["error"].as_str().unwrap().contains("step"), "{e}");
    let resp = http
        .get(with_params(
            &api,
            "/api/v1/query",
            &[("query", query), ("time", "yesterday")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Readiness, health and build information.
    for path in ["/-/ready", "/-/healthy"] {
        let r = http.get(format!("{}{path}", api.url())).send().await.unwrap();
        assert!(r.status().is_success(), "{path}");
    }
    let info: serde_json::Value = http
        .get(format!("{}/api/v1/status/buildinfo", api.url()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
        .unwrap();
    assert_eq!(info["status"], "success");
    assert!(info["data"]["version"].is_string());

    // Dropped, it stops answering.
    let url = api.url();
    drop(api);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        http.get(format!("{url}/-/ready")).send().await.is_err(),
        "still answering after drop"
    );
}
