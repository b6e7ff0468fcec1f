//! The numbers that matter most to an operator: from a breach being visible in Prometheus
//! to DNS back on every authoritative server, and then the drain: the Deployments are
//! scaled to zero the flip's TTL after that (not sooner, not much later). Real Prometheus
//! scraping an app whose error ratio the bench raises, real BIND + Knot, the fake
//! Kubernetes API server, and the real `cutover` binary (watch interval 1 s, one breach
//! is a verdict, the flip's TTL 2 s). Prints figures; asserts nothing about speed.
//!
//! `cargo bench --bench rollback` (needs prometheus, bind9, knot: scripts/install-test-deps.sh).

#[allow(dead_code)]
#[path = "../tests/support/dns.rs"]
mod dns;
#[allow(dead_code)]
#[path = "../tests/support/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "../tests/support/prometheus.rs"]
mod prometheus;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::api::apps::v1::Deployment;
use prometheus::{App, Prometheus, Traffic, error_rate_over};

const RUNS: usize = 12;
const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";
const NS: &str = "shop";
const INTERVAL_MS: u64 = 1000;
/// Baseline 0.2 %, bound baseline + 1 percentage point.
const BOUND: f64 = 0.012;
/// The TTL the flip writes: the drain before the scale to zero.
const TTL_SECS: u64 = 2;

fn healthy() -> Traffic {
    Traffic::new(200.0, 0.002, Duration::from_millis(120))
}

fn main() {
    let app = App::with_traffic(healthy());
    let mut prom = Prometheus::start(&app);
    prom.wait_ready(Duration::from_secs(20));
    let query = error_rate_over("5s");
    prom.wait_for_data(&query, Duration::from_secs(30));
    let pair = dns::AuthPair::start();
    let kube = FakeKube::start();
    let zone = pair.zone().to_string();
    let record = format!("app.{zone}");
    let mut latencies = Vec::new();
    let mut drains: Vec<f64> = Vec::new();
    for run in 0..RUNS {
        kube.put(&deployment(NS, "web", "web", 2));
        kube.put(&ready_pod(NS, "web-1", "web", &[3000]));
        app.set_traffic(healthy());
        // The previous run's bad traffic must be out of the next run's 10 s baseline window,
        // or its bound would not be the one this bench measures against.
        prom.wait_for_value(&error_rate_over("15s"), Duration::from_secs(60), |v| v < 0.003);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("kubeconfig");
        kube.write_kubeconfig(&config, "bench", NS);
        let runbook = dir.path().join("rollback.toml");
        std::fs::write(
            &runbook,
            format!(
                r#"[runbook]
name = "rollback-bench"
hold = "0s"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "{zone}"
records = ["{record}"]
tsig_key = {{ name = "{key}", secret_env = "BENCH_TSIG_SECRET" }}
poll_interval = "20ms"
query_timeout = "1s"
cutover_ttl = "{TTL_SECS}s"

[k8s]
kubeconfig = "{config}"
context = "bench"
namespace = "{NS}"
deployments = ["web"]
poll_interval = "20ms"

[metrics]
prometheus = "{prom}"
error_rate = '{query}'
p99 = '{p99}'
baseline = "10s"
watch = "60s"
interval = "{INTERVAL_MS}ms"
consecutive = 1
max_error_rate_increase = 0.01
max_p99_increase = "100%"

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  title = "Baseline"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "{VM}"
  to = "{LB}"
  [[phase.step]]
  id = "watch"
  kind = "metrics.watch"
  title = "Watch"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
  title = "DNS back"
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  title = "Scale to zero"
  replicas = 0
"#,
                primary = pair.primary(),
                key = pair.key_name(),
                config = config.display(),
                prom = prom.url(),
                p99 = prometheus::p99_latency_over("5s"),
            ),
        )
        .unwrap();
        // Prometheus scrapes every second and the watch samples every second: start at a
        // random phase to the scrapes, or every run would measure the same offset.
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..INTERVAL_MS)));
        let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(["run", runbook.to_str().unwrap(), "--headless", "--max-wait", "90s"])
            .env("CUTOVER_STATE_DIR", dir.path().join("state"))
            .env("CUTOVER_OPERATOR", "bench")
            .env("BENCH_TSIG_SECRET", pair.secret_b64())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        dns::wait_for("the flip", Duration::from_secs(60), || {
            pair.query(pair.primary(), &record, "A").values == vec![LB.to_string()]
        });
        // Let the watch take a few healthy samples, then break the release.
        std::thread::sleep(Duration::from_millis(2 * INTERVAL_MS));
        app.set_traffic(Traffic::new(200.0, 0.3, Duration::from_millis(120)));
        // Poll finely: the moment Prometheus first answers a value over the bound.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !prom.query(&query).is_some_and(|v| v > BOUND) {
            assert!(Instant::now() < deadline, "the breach never showed in Prometheus");
            std::thread::sleep(Duration::from_millis(5));
        }
        let visible = Instant::now();
        // Poll finely: when every authoritative server answers the VM again, then when the
        // Deployment reaches zero (it must not before DNS is back).
        let deadline = visible + Duration::from_secs(30);
        let (mut dns_back, mut at_zero) = (None, None);
        while at_zero.is_none() {
            assert!(
                Instant::now() < deadline,
                "DNS back and the Deployment at zero within 30 s"
            );
            let zero = kube
                .get::<Deployment>(NS, "web")
                .and_then(|d| d.spec.and_then(|s| s.replicas))
                == Some(0);
            if dns_back.is_none()
                && pair
                    .servers()
                    .iter()
                    .all(|s| dns::try_query(*s, &record, "A").is_some_and(|a| a.values == vec![VM.to_string()]))
            {
                dns_back = Some(Instant::now());
            }
            if zero {
                assert!(dns_back.is_some(), "scaled to zero before DNS was back everywhere");
                at_zero = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = dns_back.unwrap() - visible;
        let drained = at_zero.unwrap() - dns_back.unwrap();
        latencies.push(took);
        drains.push(drained.as_secs_f64() - TTL_SECS as f64);
        println!(
            "run {}: DNS back everywhere {:.0} ms after the breach showed; scaled to zero {:.0} ms after that",
            run + 1,
            took.as_secs_f64() * 1000.0,
            drained.as_secs_f64() * 1000.0
        );
        let _ = child.wait();
    }
    latencies.sort();
    drains.sort_by(f64::total_cmp);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "breach visible in Prometheus → DNS reverted and verified on both authoritative servers \
         (watch interval {INTERVAL_MS} ms): median {:.0} ms, max {:.0} ms, min {:.0} ms (n = {})",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() - 1]),
        ms(latencies[0]),
        latencies.len()
    );
    println!(
        "drain accuracy: scale to zero minus (DNS back everywhere + TTL {TTL_SECS} s; target within ±1 s): \
         median {:+.0} ms, min {:+.0} ms, max {:+.0} ms",
        drains[drains.len() / 2] * 1000.0,
        drains[0] * 1000.0,
        drains[drains.len() - 1] * 1000.0
    );
}
