//! Servers that accept a connection and never answer (or swallow a DNS query): every step
//! that calls one ends within its timeout with a message naming the server, and a rollback
//! while a step hangs goes ahead. Run by the real binary; the cancellation during a hang is
//! also driven in-process through the library's driver.

use crate::support;

use std::time::{Duration, Instant};

use support::hung::{HungTcp, SilentUdp, closed_udp_port};
use support::{Sandbox, assert_exit, text};

/// Runs `cutover run RUNBOOK --headless` and returns its output and how long it took.
fn run_timed(sb: &Sandbox, rb: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let mut c = sb.cutover();
    c.args(["run", rb.to_str().unwrap(), "--headless", "--max-wait", "60s"]);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run cutover");
    (out, started.elapsed())
}

/// A generous bound: the step's own limit plus 10 s for the process, the journal and load.
fn assert_within(took: Duration, limit: Duration, out: &std::process::Output) {
    assert!(
        took < limit + Duration::from_secs(10),
        "took {took:?}, the limit was {limit:?}\n{}",
        text(&out.stdout)
    );
}

/// A DNS step whose only nameserver answers nothing: the message names the server and the
/// timeout in force (1 s here), and the advice is about reaching the server, not about
/// zone transfers.
#[test]
fn a_nameserver_that_answers_nothing_is_named_with_the_timeout_in_force() {
    let silent = SilentUdp::start();
    let closed = closed_udp_port();
    for (addr, kind) in [
        (silent.addr, "dns.verify"),
        (closed, "dns.verify"),
        (silent.addr, "dns.check"),
    ] {
        let sb = Sandbox::new();
        let extra = if kind == "dns.verify" { "timeout = \"2s\"" } else { "" };
        let rb = sb.write(
            "dead-ns.toml",
            &format!(
                r#"[runbook]
name = "dead-ns"
hold = "0s"

[dns]
provider = "manual"
zone = "example.test"
records = ["app.example.test"]
nameservers = ["ns1.example.test={addr}"]
query_timeout = "1s"
poll_interval = "100ms"

[[phase]]
id = "p"
  [[phase.step]]
  id = "ask"
  kind = "{kind}"
  expect = "192.0.2.10"
  {extra}
"#
            ),
        );
        let (out, took) = run_timed(&sb, &rb, &[]);
        assert_exit(&out, 3);
        assert_within(took, Duration::from_secs(3), &out);
        let stdout = text(&out.stdout);
        let failed = stdout
            .lines()
            .find(|l| l.contains("ask: FAILED"))
            .unwrap_or_else(|| panic!("no failure line:\n{stdout}"));
        assert!(failed.contains(&addr.to_string()), "names the server: {failed}");
        assert!(
            failed.contains("within 1s") && !failed.contains("3s"),
            "says the timeout in force (1s): {failed}"
        );
        assert!(
            failed.contains("is the server up") && failed.contains("firewall"),
            "advice fits a server that answers nothing: {failed}"
        );
        assert!(!failed.contains("zone transfer"), "no zone-transfer advice: {failed}");
    }
}

/// A runbook of `sections` and one phase holding `steps`.
fn runbook(sections: &str, steps: &str) -> String {
    format!("[runbook]\nname = \"hung\"\nhold = \"0s\"\n\n{sections}\n\n[[phase]]\nid = \"p\"\n{steps}\n")
}

const FLIP: &str =
    "  [[phase.step]]\n  id = \"flip\"\n  kind = \"dns.flip\"\n  from = \"192.0.2.10\"\n  to = \"198.51.100.7\"\n";

/// A hosted DNS provider's API that accepts the connection and never answers: each call
/// ends at `query_timeout` (2 s) whatever the provider's client does (Route 53's has no
/// timeout at all, and both retry out of sight), the write is tried three times in all
/// with pauses of 1 s and 2 s, and the failure names the API's address.
#[test]
fn a_hung_dns_provider_api_ends_within_its_timeout_naming_it() {
    let hung = HungTcp::start();
    let silent = SilentUdp::start();
    for (provider, settings, credentials) in [
        (
            "pdns",
            format!("api_url = \"http://{}\"", hung.addr),
            "api_key = \"TEST_DNS_KEY\"",
        ),
        (
            "route53",
            format!(
                "endpoint = \"http://{}\", region = \"us-east-1\", hosted_zone_id = \"Z0TEST\"",
                hung.addr
            ),
            "access_key_id = \"TEST_DNS_KEY\", secret_access_key = \"TEST_DNS_SECRET\"",
        ),
    ] {
        let sb = Sandbox::new();
        let rb = sb.write(
            "hosted.toml",
            &runbook(
                &format!(
                    "[dns]\nprovider = \"{provider}\"\nzone = \"example.test\"\nrecords = [\"app.example.test\"]\n\
                     nameservers = [\"ns1.example.test={}\"]\nsettings = {{ {settings} }}\n\
                     credentials_env = {{ {credentials} }}\nquery_timeout = \"2s\"\n",
                    silent.addr
                ),
                FLIP,
            ),
        );
        let (out, took) = run_timed(
            &sb,
            &rb,
            &[
                ("TEST_DNS_KEY", "key-id-0123456789"),
                ("TEST_DNS_SECRET", "secret-0123456789"),
            ],
        );
        assert_exit(&out, 3);
        // Three tries of 2 s, with pauses of 1 s and 2 s between them.
        assert_within(took, Duration::from_secs(9), &out);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!(
                "flip: FAILED — the {provider} API at {} did not answer within 2s",
                hung.addr
            )),
            "{provider}: names the API and the timeout:\n{stdout}"
        );
        assert!(stdout.contains("gave up after 3 tries"), "{stdout}");
        // While it waited, it said so, naming the server.
        assert!(
            stdout.contains(&format!(
                "flip: ? the {provider} API at {} answer: none yet after 1s",
                hung.addr
            )),
            "{provider}: reports the wait:\n{stdout}"
        );
    }
}

/// An RFC 2136 primary that swallows every query: the read before the write ends at
/// `query_timeout`, three tries, and the failure names the primary.
#[test]
fn a_silent_rfc2136_primary_ends_within_its_timeout_naming_it() {
    let silent = SilentUdp::start();
    let sb = Sandbox::new();
    let rb = sb.write(
        "rfc2136.toml",
        &runbook(
            &format!(
                "[dns]\nprovider = \"rfc2136\"\nserver = \"{a}\"\nzone = \"example.test\"\nrecords = [\"app.example.test\"]\n\
                 nameservers = [\"ns1.example.test={a}\"]\nquery_timeout = \"1s\"\n",
                a = silent.addr
            ),
            FLIP,
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[]);
    assert_exit(&out, 3);
    assert_within(took, Duration::from_secs(6), &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "flip: FAILED — DNS server {} did not answer within 1s",
            silent.addr
        )),
        "{stdout}"
    );
}

/// A Prometheus-shaped server on loopback: range queries (the baseline) get one series of
/// data; instant queries (the watch's samples) are never answered.
fn prometheus_hung_for_samples() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                    line.clear();
                }
                if !request.contains("/api/v1/query_range") {
                    // Hold the connection open and say nothing.
                    std::thread::sleep(Duration::from_secs(120));
                    return;
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let body = format!(
                    r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[[{},"0.01"],[{},"0.01"]]}}]}}}}"#,
                    now - 5,
                    now - 1
                );
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    addr
}

fn metrics_section(addr: std::net::SocketAddr) -> String {
    format!(
        "[metrics]\nprometheus = \"http://{addr}\"\nerror_rate = 'sum(rate(errors[1m]))'\np99 = 'max(latency)'\nbaseline = \"10s\"\n\
         watch = \"60s\"\ninterval = \"1s\"\nconsecutive = 2\ninconclusive = 2\nmax_error_rate_increase = 0.01\n\
         query_timeout = \"2s\"\n"
    )
}

/// Prometheus that never answers: the baseline ends at `query_timeout`; the watch takes
/// samples that end at `query_timeout` as inconclusive (never healthy) and stops for a
/// decision after `inconclusive` of them; both name the server.
#[test]
fn a_hung_prometheus_ends_the_baseline_and_the_watch_within_their_timeouts_naming_it() {
    let hung = HungTcp::start();
    let sb = Sandbox::new();
    let rb = sb.write(
        "baseline.toml",
        &runbook(
            &metrics_section(hung.addr),
            "  [[phase.step]]\n  id = \"baseline\"\n  kind = \"metrics.baseline\"\n",
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[]);
    assert_exit(&out, 3);
    assert_within(took, Duration::from_secs(2), &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "baseline: FAILED — baseline of error_rate: Prometheus at http://{} did not answer within 2s",
            hung.addr
        )),
        "{stdout}"
    );

    let half = prometheus_hung_for_samples();
    let sb = Sandbox::new();
    let rb = sb.write(
        "watch.toml",
        &runbook(
            &metrics_section(half),
            "  [[phase.step]]\n  id = \"baseline\"\n  kind = \"metrics.baseline\"\n\
             \x20 [[phase.step]]\n  id = \"watch\"\n  kind = \"metrics.watch\"\n",
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[]);
    assert_exit(&out, 3);
    // Two samples of 2 s each (a watch of a minute, stopped long before its end).
    assert_within(took, Duration::from_secs(5), &out);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("baseline: succeeded"), "{stdout}");
    assert!(
        stdout.contains("watch: FAILED — no usable data for 2 samples in a row")
            && stdout.contains(&format!("Prometheus at http://{half} did not answer within 2s")),
        "{stdout}"
    );
}

/// A kubeconfig whose API server accepts the connection and never answers (not even the
/// TLS handshake): the step ends at `request_timeout` naming the server.
#[test]
fn a_hung_kubernetes_api_server_ends_within_its_timeout_naming_it() {
    let hung = HungTcp::start();
    let sb = Sandbox::new();
    let kubeconfig = sb.write(
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: hung\n  cluster:\n    server: https://{}\n    insecure-skip-tls-verify: true\n\
             contexts:\n- name: hung\n  context:\n    cluster: hung\n    user: ops\ncurrent-context: hung\n\
             users:\n- name: ops\n  user:\n    token: kube-token-0123456789\n",
            hung.addr
        ),
    );
    let rb = sb.write(
        "k8s.toml",
        &runbook(
            &format!(
                "[k8s]\nkubeconfig = \"{}\"\ncontext = \"hung\"\nnamespace = \"shop\"\ndeployments = [\"web\"]\nrequest_timeout = \"2s\"\n",
                kubeconfig.display()
            ),
            "  [[phase.step]]\n  id = \"rollout\"\n  kind = \"k8s.rollout\"\n  timeout = \"60s\"\n",
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[]);
    assert_exit(&out, 3);
    assert_within(took, Duration::from_secs(2), &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "rollout: FAILED — the API server at https://{} (context hung) did not answer within 2s",
            hung.addr
        )),
        "{stdout}"
    );
}

/// An `http` step whose endpoint never answers ends at its `timeout`, naming host:port.
#[test]
fn a_hung_http_endpoint_ends_within_its_timeout_naming_it() {
    let hung = HungTcp::start();
    let sb = Sandbox::new();
    let rb = sb.write(
        "http.toml",
        &runbook(
            "",
            &format!(
                "  [[phase.step]]\n  id = \"check\"\n  kind = \"http\"\n  url = \"http://{}/health\"\n  timeout = \"2s\"\n",
                hung.addr
            ),
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[]);
    assert_exit(&out, 3);
    assert_within(took, Duration::from_secs(2), &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("check: FAILED — no answer from {} within 2s", hung.addr)),
        "{stdout}"
    );
}

/// A forward step hangs on a hosted provider's API; when it gives up, `on_failure =
/// "rollback"` starts the rollback, whose steps (against a live server) run and complete.
#[test]
fn a_step_hung_on_a_provider_rolls_back_when_it_gives_up_and_the_rollback_completes() {
    let hung = HungTcp::start();
    let silent = SilentUdp::start();
    let health = support::health_server();
    let sb = Sandbox::new();
    let rb = sb.write(
        "rollback.toml",
        &format!(
            "{}  on_failure = \"rollback\"\n\n[rollback]\n  [[rollback.step]]\n  id = \"vm-healthy\"\n  kind = \"http\"\n  \
             url = \"http://127.0.0.1:{}/health/readiness\"\n",
            runbook(
                &format!(
                    "[dns]\nprovider = \"pdns\"\nzone = \"example.test\"\nrecords = [\"app.example.test\"]\n\
                     nameservers = [\"ns1.example.test={}\"]\nsettings = {{ api_url = \"http://{}\" }}\n\
                     credentials_env = {{ api_key = \"TEST_DNS_KEY\" }}\nquery_timeout = \"2s\"\n",
                    silent.addr, hung.addr
                ),
                FLIP,
            ),
            health.port
        ),
    );
    let (out, took) = run_timed(&sb, &rb, &[("TEST_DNS_KEY", "key-id-0123456789")]);
    assert_exit(&out, 2);
    assert_within(took, Duration::from_secs(9), &out);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(
        state.step("vm-healthy").unwrap().status,
        cutover::engine::StepStatus::Succeeded,
        "{}",
        text(&out.stdout)
    );
}

/// The operator rolls back while a step waits on a server that never answers (the cockpit's
/// `r`, here through the driver the cockpit uses): the wait is dropped at once, whether the
/// step is acting (the flip reading through the provider's API) or still being prepared (the
/// TTL step reading the nameservers), and the rollback steps run, long before the step's
/// own limit (two minutes here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_while_a_step_hangs_stops_the_wait_and_the_rollback_completes() {
    use chrono::Utc;
    use cutover::engine::{Command, Mode, RunEvent, RunStatus, StepStatus};
    use cutover::journal::{Holder, Store};
    use cutover::runner::{Driver, HeldRun};

    let hung = HungTcp::start();
    let silent = SilentUdp::start();
    let health = support::health_server();
    for (kind, acting) in [("dns.flip", true), ("dns.lower_ttl", false)] {
        let step = if kind == "dns.flip" {
            FLIP.to_string()
        } else {
            "  [[phase.step]]\n  id = \"flip\"\n  kind = \"dns.lower_ttl\"\n".to_string()
        };
        // The API key comes from a variable every process has: the hung API never reads it.
        let text = format!(
            "{}\n[rollback]\n  [[rollback.step]]\n  id = \"vm-healthy\"\n  kind = \"http\"\n  \
             url = \"http://127.0.0.1:{}/health/readiness\"\n",
            runbook(
                &format!(
                    "[dns]\nprovider = \"pdns\"\nzone = \"example.test\"\nrecords = [\"app.example.test\"]\n\
                     nameservers = [\"ns1.example.test={}\"]\nsettings = {{ api_url = \"http://{}\" }}\n\
                     credentials_env = {{ api_key = \"PATH\" }}\nquery_timeout = \"2m\"\n",
                    silent.addr, hung.addr
                ),
                &step,
            ),
            health.port
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let loaded = cutover::runbook::load_str(std::path::Path::new("hung.toml"), &text, None).unwrap();
        let holder = Holder::this_process("tester", "test", Utc::now());
        let (journal, state, _) = store
            .open_or_create(
                &loaded.runbook.name,
                &loaded.runbook.environment,
                Mode::Live,
                &holder,
                Utc::now(),
                false,
                |run_id| RunEvent::RunStarted {
                    run_id,
                    mode: Mode::Live,
                    runbook: loaded.runbook.clone(),
                    digest: loaded.digest.clone(),
                    source: "hung.toml".into(),
                    rehearsal: None,
                    dry_run: false,
                },
            )
            .unwrap();
        let mut session = HeldRun::new(journal, state, "tester");
        session.open(Utc::now()).unwrap();
        let mut driver = Driver::new(session);
        driver.start_due(Utc::now()).unwrap();
        assert_eq!(driver.busy_with(), Some("flip"));

        // Wait until the step hangs: acting, it says what it waits for; being prepared, it
        // is a second into a query that will not be answered.
        let hanging = Instant::now();
        while hanging.elapsed() < Duration::from_millis(1500) || acting {
            assert!(
                hanging.elapsed() < Duration::from_secs(20),
                "{kind}: no report of the wait"
            );
            let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), driver.recv()).await else {
                continue;
            };
            driver.handle(msg, Utc::now()).unwrap();
            let flip = driver.state().step("flip").unwrap();
            if flip.objects.iter().any(|o| o.value.starts_with("none yet")) {
                let waiting = &flip.objects[0];
                assert_eq!(waiting.object, format!("the pdns API at {}", hung.addr));
                break;
            }
        }
        assert_eq!(driver.busy_with(), Some("flip"), "{kind}: the step still waits");

        let asked = Instant::now();
        driver
            .command(
                Command::Rollback {
                    reason: "the provider hangs".into(),
                },
                "tester",
                Utc::now(),
            )
            .unwrap();
        while !matches!(driver.state().status, RunStatus::RolledBack { .. }) {
            assert!(
                asked.elapsed() < Duration::from_secs(30),
                "{kind}: the rollback did not complete; the run is {:?}",
                driver.state().status
            );
            driver.start_due(Utc::now()).unwrap();
            if let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), driver.recv()).await {
                driver.handle(msg, Utc::now()).unwrap();
            }
        }
        let state = driver.state();
        assert_eq!(
            state.step("vm-healthy").unwrap().status,
            StepStatus::Succeeded,
            "{kind}"
        );
        let flip = state.step("flip").unwrap();
        if acting {
            assert_eq!(flip.status, StepStatus::Failed, "{kind}");
            let failure = flip.failure.as_ref().unwrap();
            assert!(
                failure.message.contains("stopped before it finished"),
                "{kind}: {failure:?}"
            );
        } else {
            assert_eq!(flip.status, StepStatus::Pending, "{kind}: it never began");
        }
    }
}

/// A POST stopped by a rollback while it waits for its answer may have reached the server:
/// its failure says to check there, never that the step can simply run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_stopped_by_a_rollback_says_it_may_have_reached_the_server() {
    use chrono::Utc;
    use cutover::engine::{Command, RunStatus, StepStatus};
    use cutover::journal::Store;
    use cutover::runner::{Driver, HeldRun};

    let hung = HungTcp::start();
    let text = format!(
        "[runbook]\nname = \"post\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"announce\"\n  \
         kind = \"http\"\n  method = \"POST\"\n  url = \"http://{}/api/incidents\"\n  timeout = \"2m\"\n",
        hung.addr
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (journal, state) = support::runs::new_run_of(&store, &text);
    let mut session = HeldRun::new(journal, state, "tester");
    session.open(Utc::now()).unwrap();
    let mut driver = Driver::new(session);
    driver.start_due(Utc::now()).unwrap();
    // Until the request is on its way: the step's intent is recorded.
    let began = Instant::now();
    while driver.state().step("announce").unwrap().status != StepStatus::Running {
        assert!(began.elapsed() < Duration::from_secs(20), "the POST never began");
        if let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), driver.recv()).await {
            driver.handle(msg, Utc::now()).unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    driver
        .command(
            Command::Rollback {
                reason: "the status page hangs".into(),
            },
            "tester",
            Utc::now(),
        )
        .unwrap();
    while !matches!(driver.state().status, RunStatus::RolledBack { .. }) {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the rollback did not complete"
        );
        driver.start_due(Utc::now()).unwrap();
        if let Ok(msg) = tokio::time::timeout(Duration::from_millis(100), driver.recv()).await {
            driver.handle(msg, Utc::now()).unwrap();
        }
    }
    let failure = driver
        .state()
        .step("announce")
        .unwrap()
        .failure
        .clone()
        .expect("the POST failed");
    let advice = failure.advice.unwrap_or_default();
    assert!(advice.contains("may have reached the server"), "{advice}");
    assert!(!advice.contains("can be run again"), "{advice}");
}
