//! The metrics steps against a real Prometheus scraping an app whose traffic the test
//! controls; a breach rolls back a real DNS flip (BIND primary, Knot secondary) and scales
//! the Deployments on the fake Kubernetes API server to zero. Durations are compressed:
//! a 12 s watch sampled every second.

use crate::support;

use std::time::{Duration, SystemTime};

use cutover::engine::{RunEvent, RunStatus, StepStatus, Verdict};
use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::api::apps::v1::Deployment;
use support::dns::{AuthPair, wait_for};
use support::prometheus::{App, History, Prometheus, Traffic, error_rate_over, p99_latency_over};
use support::{Sandbox, assert_exit, text};

const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";
const NS: &str = "shop";

fn healthy() -> Traffic {
    Traffic::new(200.0, 0.002, Duration::from_millis(120))
}

/// Everything a watch needs: the app and its Prometheus (with data), the DNS pair, the
/// cluster.
struct World {
    app: App,
    prometheus: Prometheus,
    pair: AuthPair,
    kube: FakeKube,
}

fn world() -> World {
    let app = App::with_traffic(healthy());
    let mut prometheus = Prometheus::start(&app);
    prometheus.wait_ready(Duration::from_secs(20));
    prometheus.wait_for_data(&error_rate_over("5s"), Duration::from_secs(30));
    let pair = AuthPair::start();
    let kube = FakeKube::start();
    kube.put(&deployment(NS, "web", "web", 2));
    kube.put(&ready_pod(NS, "web-1", "web", &[3000]));
    World {
        app,
        prometheus,
        pair,
        kube,
    }
}

fn runbook(sb: &Sandbox, w: &World, watch: &str) -> std::path::PathBuf {
    let config = sb.path().join("kubeconfig");
    w.kube.write_kubeconfig(&config, "staging", NS);
    let zone = w.pair.zone();
    sb.write(
        "metrics.toml",
        &format!(
            r#"[runbook]
name = "watched-cutover"
hold = "0s"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "{zone}"
records = ["app.{zone}"]
tsig_key = {{ name = "{key}", secret_env = "TEST_TSIG_SECRET" }}
poll_interval = "100ms"
query_timeout = "1s"

[k8s]
kubeconfig = "{config}"
context = "staging"
namespace = "{NS}"
deployments = ["web"]
poll_interval = "50ms"

[metrics]
prometheus = "{prom}"
bearer_token_env = "TEST_PROM_TOKEN"
error_rate = '{error_rate}'
p99 = '{p99}'
baseline = "10s"
watch = "{watch}"
interval = "1s"
consecutive = 2
inconclusive = 3
max_error_rate_increase = 0.01
max_p99_increase = "50%"
query_timeout = "2s"
dashboard = "https://grafana.example/d/app"

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
  title = "Flip DNS"
  from = "{VM}"
  to = "{LB}"
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
  title = "Scale to zero"
  replicas = 0
"#,
            primary = w.pair.primary(),
            key = w.pair.key_name(),
            config = config.display(),
            prom = w.prometheus.url(),
            error_rate = error_rate_over("5s"),
            p99 = p99_latency_over("5s"),
        ),
    )
}

fn command(sb: &Sandbox, w: &World, rb: &std::path::Path) -> std::process::Command {
    let mut c = sb.cutover();
    c.args(["run", rb.to_str().unwrap(), "--headless", "--max-wait", "60s"])
        .env("TEST_TSIG_SECRET", w.pair.secret_b64())
        .env("TEST_PROM_TOKEN", PROM_TOKEN);
    c
}

/// Sent to Prometheus with every query; it must never be shown or journaled.
const PROM_TOKEN: &str = "prom-token-7f3a9c2e51d8";

fn spawn(sb: &Sandbox, w: &World, rb: &std::path::Path) -> std::process::Child {
    command(sb, w, rb)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn app_record(w: &World) -> Vec<String> {
    w.pair
        .query(w.pair.primary(), &format!("app.{}", w.pair.zone()), "A")
        .values
}

/// Waits until the flip is on the primary (the watch starts right after it).
fn wait_for_flip(w: &World) {
    wait_for("the flip", Duration::from_secs(40), || {
        app_record(w) == vec![LB.to_string()]
    });
}

#[test]
fn a_healthy_watch_passes_with_every_sample_journaled() {
    let w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "8s");
    let out = command(&sb, &w, &rb).output().unwrap();
    assert_exit(&out, 0);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let watch = state.step("watch").unwrap();
    assert_eq!(watch.status, StepStatus::Succeeded, "{}", text(&out.stdout));
    let samples = &watch.watch.as_ref().unwrap().samples;
    assert!(samples.len() >= 6, "a sample every second for 8 s: {}", samples.len());
    for (_, set) in samples {
        assert_eq!(set.len(), 2, "both metrics in every sample");
        for s in set {
            assert_eq!(s.verdict, Verdict::Within, "{s:?}");
            assert!(
                s.value.is_some() && s.bound > 0.0 && s.reason.contains("≤ bound"),
                "{s:?}"
            );
        }
    }
    let baseline = &state.step("baseline").unwrap().outcome.as_ref().unwrap().outputs;
    let error_rate: f64 = baseline["baseline_error_rate"].parse().unwrap();
    assert!((error_rate - 0.002).abs() < 0.001, "baseline error rate {error_rate}");
    assert_eq!(app_record(&w), vec![LB.to_string()], "DNS stays flipped");
    // The bearer token went to Prometheus, and nowhere else.
    let journal = sb.output(&["journal", &sb.only_run_id(), "--output", "json"]);
    for (what, text) in [
        ("output", text(&out.stdout) + &text(&out.stderr)),
        ("journal", text(&journal.stdout)),
    ] {
        assert!(!text.contains(PROM_TOKEN), "the token is in the {what}");
    }
}

#[test]
fn a_dry_run_reads_the_baseline_and_one_sample_and_flips_nothing() {
    let w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "15m");
    let out = command(&sb, &w, &rb).arg("--dry-run").output().unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("baseline: succeeded — baseline over"), "{stdout}");
    assert!(stdout.contains("flip: succeeded — dry run: would change"), "{stdout}");
    // The queries and bounds are checked against Prometheus once; nobody waits 15 minutes.
    assert_eq!(stdout.matches("watch: sample — ").count(), 1, "{stdout}");
    assert!(stdout.contains("watch: succeeded"), "{stdout}");
    assert_eq!(app_record(&w), vec![VM.to_string()], "DNS was not flipped");
    assert!(sb.summaries().is_empty(), "a dry run leaves no run behind");
}

/// The error ratio or p99 jumps after the flip: the incident is written first, then DNS goes
/// back on the real BIND and the Deployment is scaled to zero on the API server.
fn breach_rolls_back(bad: Traffic, metric: &str) {
    let w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "30s");
    let child = spawn(&sb, &w, &rb);
    wait_for_flip(&w);
    w.app.set_traffic(bad);
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert!(matches!(state.status, RunStatus::RolledBack { .. }), "{stdout}");
    let incident = records
        .iter()
        .position(|r| matches!(&r.event, RunEvent::IncidentRecorded { incident } if incident.summary.contains(metric) && incident.summary.contains("bound")))
        .unwrap_or_else(|| panic!("an incident naming {metric} and its bound:\n{stdout}"));
    let first_rollback_step = records
        .iter()
        .position(|r| matches!(&r.event, RunEvent::StepStarted { step, .. } if step == "dns-back"))
        .unwrap();
    assert!(incident < first_rollback_step, "the incident entry comes first");
    // The breach decided the rollback, not the operator whose session it was.
    assert_eq!(records[incident].by, "cutover (automatic)");
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, RunEvent::RollbackStarted { .. }) && r.by == "cutover (automatic)")
    );
    assert_eq!(app_record(&w), vec![VM.to_string()], "DNS is back on the VM");
    w.pair
        .wait_until_agree(&format!("app.{}", w.pair.zone()), "A", &[VM], Duration::from_secs(10));
    let web = w.kube.get::<Deployment>(NS, "web").unwrap();
    assert_eq!(web.spec.unwrap().replicas, Some(0), "scaled to zero");
    let samples = &state.step("watch").unwrap().watch.as_ref().unwrap().samples;
    let breaches = samples
        .iter()
        .flat_map(|(_, s)| s.iter())
        .filter(|s| s.metric == metric && s.verdict == Verdict::Breach)
        .count();
    assert!(breaches >= 2, "two breaches in a row before the verdict");
}

#[test]
fn an_error_ratio_jump_rolls_back_dns_and_scales_to_zero() {
    breach_rolls_back(Traffic::new(200.0, 0.2, Duration::from_millis(120)), "error_rate");
}

#[test]
fn a_p99_regression_rolls_back() {
    breach_rolls_back(Traffic::new(200.0, 0.002, Duration::from_millis(900)), "p99");
}

#[test]
fn prometheus_gone_mid_watch_stops_for_a_decision_and_never_calls_it_healthy() {
    let mut w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "30s");
    let child = spawn(&sb, &w, &rb);
    wait_for_flip(&w);
    w.prometheus.kill();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("cannot call this healthy"), "{stdout}");
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(state.status, RunStatus::Active, "no rollback without a decision");
    let watch = state.step("watch").unwrap();
    assert_eq!(watch.status, StepStatus::Failed);
    let last = &watch.watch.as_ref().unwrap().samples.last().unwrap().1;
    assert!(
        last.iter()
            .all(|s| s.verdict == Verdict::Inconclusive && s.value.is_none()),
        "{last:?}"
    );
    assert_eq!(app_record(&w), vec![LB.to_string()], "DNS stays where it is");
}

/// The process dies mid-watch; while it is gone the error ratio spikes and recovers. The
/// next session backfills the gap from Prometheus's history, sees the breach in it, and
/// rolls back; the watch keeps its original end.
#[test]
fn a_crash_mid_watch_is_backfilled_from_history_and_a_breach_in_the_gap_counts() {
    let w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "40s");
    let mut child = spawn(&sb, &w, &rb);
    wait_for_flip(&w);
    // Let a few live samples be taken, then kill it.
    let scrapes = w.app.scrapes();
    wait_for("three scrapes after the flip", Duration::from_secs(20), || {
        w.app.scrapes() >= scrapes + 3
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    let killed_at = SystemTime::now();
    w.app.set_traffic(Traffic::new(200.0, 0.3, Duration::from_millis(120)));
    let scrapes = w.app.scrapes();
    wait_for("the spike being scraped", Duration::from_secs(20), || {
        w.app.scrapes() >= scrapes + 6
    });
    w.app.set_traffic(healthy());
    let scrapes = w.app.scrapes();
    wait_for("the recovery being scraped", Duration::from_secs(20), || {
        w.app.scrapes() >= scrapes + 7
    });

    let out = command(&sb, &w, &rb).output().unwrap();
    let stdout = text(&out.stdout);
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    let untils: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::WatchStarted { until, .. } => Some(*until),
            _ => None,
        })
        .collect();
    assert_eq!(untils.len(), 2, "{stdout}");
    assert_eq!(
        untils[0], untils[1],
        "the resumed watch ends when the first one was meant to"
    );
    let backfilled: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::WatchSampled { samples, .. } if samples.iter().any(|s| s.reason.contains("backfilled")) => {
                Some(samples.clone())
            }
            _ => None,
        })
        .collect();
    assert!(!backfilled.is_empty(), "the gap was backfilled:\n{stdout}");
    let killed_at: chrono::DateTime<chrono::Utc> = killed_at.into();
    assert!(
        backfilled
            .iter()
            .flatten()
            .all(|s| s.at.is_some_and(|at| at >= killed_at - chrono::Duration::seconds(3))),
        "backfilled samples carry the time they were measured at"
    );
    assert!(
        backfilled
            .iter()
            .flatten()
            .any(|s| s.metric == "error_rate" && s.verdict == Verdict::Breach),
        "the spike in the gap is in the record:\n{stdout}"
    );
    assert!(matches!(state.status, RunStatus::RolledBack { .. }), "{stdout}");
    assert_eq!(app_record(&w), vec![VM.to_string()]);
}

#[test]
fn the_baseline_comes_from_history_and_no_data_is_a_failure_not_a_zero() {
    let end = SystemTime::now() - Duration::from_secs(3600);
    let history = History::before(
        end,
        Duration::from_secs(3600),
        Traffic::new(50.0, 0.004, Duration::from_millis(180)),
    );
    let app = App::with_traffic(healthy());
    let mut prometheus = Prometheus::start_with_history(&app, &history);
    prometheus.wait_ready(Duration::from_secs(20));
    let end_text = chrono::DateTime::<chrono::Utc>::from(end).to_rfc3339();
    let sb = Sandbox::new();
    let rb = |window: &str, end: &str| {
        sb.write(
            "baseline.toml",
            &format!(
                r#"[runbook]
name = "baseline"
hold = "0s"

[metrics]
prometheus = "{prom}"
error_rate = '{error_rate}'
p99 = '{p99}'

[[phase]]
id = "before"
title = "Before the window"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  title = "The same hour yesterday"
  window = "{window}"
  end = "{end}"
"#,
                prom = prometheus.url(),
                error_rate = error_rate_over("1m"),
                p99 = p99_latency_over("1m"),
            ),
        )
    };
    let path = rb("30m", &end_text);
    let out = sb.output(&["run", path.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let outputs = &state.step("baseline").unwrap().outcome.as_ref().unwrap().outputs;
    let error_rate: f64 = outputs["baseline_error_rate"].parse().unwrap();
    let p99: f64 = outputs["baseline_p99"].parse().unwrap();
    assert!(
        (error_rate - 0.004).abs() < 0.0005,
        "error rate from history: {error_rate}"
    );
    assert!((p99 - 0.180).abs() < 0.02, "p99 from history: {p99}");

    // A window with nothing in it: the step fails, it does not measure a zero.
    let sb2 = Sandbox::new();
    std::fs::copy(&path, sb2.path().join("baseline.toml")).unwrap();
    let empty_end = chrono::DateTime::<chrono::Utc>::from(end - Duration::from_secs(4 * 3600)).to_rfc3339();
    let text_rb = std::fs::read_to_string(&path).unwrap().replace(&end_text, &empty_end);
    let path2 = sb2.write("baseline.toml", &text_rb);
    let out = sb2.output(&["run", path2.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    assert!(
        text(&out.stdout).contains("a baseline without data is not zero"),
        "{}",
        text(&out.stdout)
    );
}

/// Resumed after its end had passed, with Prometheus gone: history cannot be read, so the
/// watch must not pass on no evidence; it stops for a decision and does not roll back.
#[test]
fn a_watch_resumed_after_its_end_with_prometheus_down_does_not_pass() {
    let mut w = world();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &w, "4s");
    let mut child = spawn(&sb, &w, &rb);
    wait_for_flip(&w);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    w.prometheus.kill();
    // Past the watch's end.
    std::thread::sleep(Duration::from_secs(5));
    let out = command(&sb, &w, &rb).output().unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let watch = state.step("watch").unwrap();
    assert_eq!(watch.status, StepStatus::Failed, "{stdout}");
    assert_eq!(
        state.status,
        RunStatus::Active,
        "no rollback without a decision:\n{stdout}"
    );
    assert!(stdout.contains("cannot call this healthy"), "{stdout}");
}

/// The headers of one request (lower-case names).
type Headers = Vec<(String, String)>;

/// A loopback HTTP server that answers every request with `respond(path)` and records the
/// headers of each request it got.
struct Recording {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Headers>>>,
}

fn recording_server(respond: impl Fn(&str, &mut std::net::TcpStream) + Send + Sync + 'static) -> Recording {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen, respond) = (seen.clone(), respond.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut headers = Vec::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                    line.clear();
                }
                seen.lock().unwrap().push(headers);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut stream = stream;
                respond(&path, &mut stream);
            });
        }
    });
    Recording { port, requests }
}

/// A runbook with only a baseline against `prometheus`, sending a bearer token and an API
/// key header from the environment.
fn baseline_only(sb: &Sandbox, prometheus: &str) -> std::path::PathBuf {
    sb.write(
        "baseline.toml",
        &format!(
            r#"[runbook]
name = "baseline-only"
hold = "0s"

[metrics]
prometheus = "{prometheus}"
bearer_token_env = "TEST_PROM_TOKEN"
headers_env = {{ "X-Api-Key" = "TEST_PROM_KEY" }}
error_rate = 'sum(rate(errors[1m]))'
p99 = 'max(latency)'
baseline = "10s"
query_timeout = "20s"

[[phase]]
id = "p"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
"#
        ),
    )
}

const PROM_KEY: &str = "prom-api-key-51d8e0c4a7";

fn run_baseline(sb: &Sandbox, rb: &std::path::Path) -> std::process::Output {
    sb.cutover()
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .env("TEST_PROM_TOKEN", PROM_TOKEN)
        .env("TEST_PROM_KEY", PROM_KEY)
        .output()
        .unwrap()
}

/// Prometheus (here a stand-in) redirects to another origin (`localhost` on another port):
/// the credentials — the bearer token and the header from the environment — never reach
/// it; the step fails naming both.
#[test]
fn a_redirect_to_another_host_never_gets_the_credentials() {
    use std::io::Write;
    let other = recording_server(|_, stream| {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let to = other.port;
    let first = recording_server(move |path, stream| {
        let _ = write!(
            stream,
            "HTTP/1.1 302 Found\r\nLocation: http://localhost:{to}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    });
    let sb = Sandbox::new();
    let rb = baseline_only(&sb, &format!("http://127.0.0.1:{}", first.port));
    let out = run_baseline(&sb, &rb);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    // The first server got them (it is the configured one).
    let got = first.requests.lock().unwrap().clone();
    assert!(got[0].iter().any(|(k, v)| k == "x-api-key" && v == PROM_KEY), "{got:?}");
    for request in other.requests.lock().unwrap().iter() {
        for (k, v) in request {
            assert!(
                !v.contains(PROM_KEY) && !v.contains(PROM_TOKEN),
                "the other host got the credentials in {k}"
            );
        }
    }
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{}", first.port))
            && stdout.contains(&format!("http://localhost:{to}")),
        "names both:\n{stdout}"
    );
    assert!(!stdout.contains(PROM_KEY) && !stdout.contains(PROM_TOKEN), "{stdout}");
}

/// An answer without end (or just huge) is cut at 16 MiB with a clear error, long before
/// the query's timeout: it never fills the memory.
#[test]
fn an_endless_prometheus_answer_is_cut_with_a_clear_error() {
    use std::io::Write;
    let endless = recording_server(|_, stream| {
        if write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        .is_err()
        {
            return;
        }
        let _ = stream.write_all(b"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
        let chunk = vec![b' '; 64 * 1024];
        // Stops when the client hangs up.
        while stream.write_all(&chunk).is_ok() {}
    });
    let sb = Sandbox::new();
    let rb = baseline_only(&sb, &format!("http://127.0.0.1:{}", endless.port));
    let started = std::time::Instant::now();
    let out = run_baseline(&sb, &rb);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Prometheus at http://127.0.0.1:{} sent more than 16 MiB",
            endless.port
        )),
        "{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut before the query's timeout"
    );
}

/// Credentials for Prometheus over plain http to a host that is not this machine are
/// warned about (anyone on the path can read them); over https, or to loopback, they are not.
#[test]
fn credentials_over_plain_http_to_another_host_are_warned_about() {
    let sb = Sandbox::new();
    for (url, warned) in [
        ("http://prometheus.monitoring:9090", true),
        ("https://prometheus.monitoring:9090", false),
        ("http://127.0.0.1:9090", false),
        ("http://localhost:9090", false),
    ] {
        let rb = baseline_only(&sb, url);
        let out = sb.output(&["validate", rb.to_str().unwrap()]);
        let all = text(&out.stdout) + &text(&out.stderr);
        assert_eq!(all.contains("warning[credentials-over-http]"), warned, "{url}:\n{all}");
    }
}
