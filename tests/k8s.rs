//! The Kubernetes steps end to end: the real binary against the fake API server
//! (`src/sandbox/kube`), whose port-forward reaches real HTTP servers on loopback. The
//! fake's fidelity is checked with the real kubectl in `tests/fake_kube.rs`.

use crate::support;

use std::time::Duration;

use cutover::engine::{RunEvent, StepStatus, Verdict};
use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use support::dns::wait_for;
use support::{Sandbox, assert_exit, health_server, text};

const NS: &str = "shop";

/// A cluster with `web` (2 replicas) and `worker` (1), each with Ready pods whose port
/// 3000 is a real health server.
fn cluster() -> (FakeKube, support::HealthServer) {
    let kube = FakeKube::start();
    let health = health_server();
    let target: std::net::SocketAddr = ([127, 0, 0, 1], health.port).into();
    kube.put(&deployment(NS, "web", "web", 2));
    kube.put(&deployment(NS, "worker", "worker", 1));
    for (pod, app) in [("web-1", "web"), ("web-2", "web"), ("worker-1", "worker")] {
        kube.put(&ready_pod(NS, pod, app, &[3000]));
        kube.pod_port(NS, pod, 3000, target);
    }
    (kube, health)
}

fn runbook(sb: &Sandbox, kube: &FakeKube, steps: &str, rollback: &str) -> std::path::PathBuf {
    let config = sb.path().join("kubeconfig");
    kube.write_kubeconfig(&config, "staging", NS);
    let text = format!(
        r#"[runbook]
name = "k8s-cutover"
hold = "0s"

[k8s]
kubeconfig = "{config}"
context = "staging"
namespace = "{NS}"
deployments = ["web", "worker"]
poll_interval = "50ms"
request_timeout = "3s"

[[phase]]
id = "prepare"
title = "Before the window"
{steps}
{rollback}
"#,
        config = config.display()
    );
    sb.write("k8s.toml", &text)
}

/// Sets how many of the worker's replicas are ready and available (the fake controller's
/// automatic rollout off).
fn worker_ready(kube: &FakeKube, ready: i32) {
    kube.update::<Deployment>(NS, "worker", |d| {
        let st = d.status.as_mut().unwrap();
        st.ready_replicas = Some(ready);
        st.available_replicas = Some(ready);
    });
}

fn run(sb: &Sandbox, rb: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", rb.to_str().unwrap(), "--headless"];
    if !extra.contains(&"--max-wait") {
        args.extend_from_slice(&["--max-wait", "30s"]);
    }
    args.extend_from_slice(extra);
    sb.output(&args)
}

const ROLLOUT: &str = r#"
  [[phase.step]]
  id = "rollout"
  kind = "k8s.rollout"
  title = "The new Deployments are rolled out"
  timeout = "2s"
"#;

#[test]
fn rollout_passes_when_every_deployment_is_ready_and_nothing_exposes_it() {
    let (kube, _health) = cluster();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Deployment web rollout: 2/2 ready"), "{stdout}");
    assert!(stdout.contains("context staging"), "the context is shown:\n{stdout}");
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let step = state.step("rollout").unwrap();
    assert_eq!(step.status, StepStatus::Succeeded);
    assert!(
        step.objects.iter().all(|o| o.verdict == Verdict::Within),
        "{:?}",
        step.objects
    );
    assert_eq!(step.objects.len(), 2, "{:?}", step.objects);
}

#[test]
fn a_rollout_that_never_gets_ready_says_what_it_waits_for_and_times_out() {
    let (kube, _health) = cluster();
    kube.set_auto_rollout(false);
    worker_ready(&kube, 0);
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("not rolled out after 2s") && stdout.contains("worker: 0/1 available"),
        "{stdout}"
    );
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let step = state.step("rollout").unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    let worker = step.objects.iter().find(|o| o.object == "Deployment worker").unwrap();
    assert_eq!(
        (worker.value.as_str(), worker.verdict),
        ("0/1 ready", Verdict::Inconclusive)
    );
    assert!(worker.note.contains("waiting"), "{worker:?}");
}

#[test]
fn an_ingress_that_already_routes_to_the_pods_fails_the_rollout_check() {
    let (kube, _health) = cluster();
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "web", "namespace": NS },
        "spec": { "type": "ClusterIP", "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": 3000 }] }
    }))
    .unwrap();
    let ing: Ingress = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": { "name": "public", "namespace": NS },
        "spec": { "rules": [{ "host": "api.example.com", "http": { "paths": [
            { "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } }
        ] } }] }
    }))
    .unwrap();
    kube.put(&svc);
    kube.put(&ing);
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("external traffic can already reach the new pods: Ingress public routes to Deployment web"),
        "{stdout}"
    );
}

#[test]
fn smoke_checks_go_through_a_port_forward_and_a_failing_readiness_endpoint_fails() {
    let (kube, health) = cluster();
    let steps = r#"
  [[phase.step]]
  id = "smoke"
  kind = "k8s.smoke"
  title = "Readiness of web and worker through a port-forward"
  checks = [
    { deployment = "web", port = 3000, path = "/health/readiness", body_contains = "ready" },
    { deployment = "worker", port = 3000, path = "/health/unready" },
  ]
"#;
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, steps, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("worker-1 GET :3000/health/unready: HTTP 503, expected 200"),
        "{stdout}"
    );
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let step = state.step("smoke").unwrap();
    let web = step.objects.iter().find(|o| o.object.starts_with("Pod web-")).unwrap();
    assert_eq!(web.verdict, Verdict::Within, "{web:?}");
    assert!(web.value.starts_with("HTTP 200"), "{web:?}");
    // The requests really reached the stand-in pods, through the fake's port-forward.
    assert!(health.hosts.lock().unwrap().len() >= 2);
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.contains("/pods/web-") && r.contains("/portforward")),
        "{:?}",
        kube.requests()
    );
}

#[test]
fn expose_waits_for_the_load_balancer_address_and_later_steps_use_it() {
    let (kube, _health) = cluster();
    let svc: Service = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "web-lb", "namespace": NS },
        "spec": { "type": "LoadBalancer", "selector": { "app": "web" }, "ports": [{ "port": 443, "targetPort": 3000 }] }
    }))
    .unwrap();
    kube.put(&svc);
    let steps = r#"
  [[phase.step]]
  id = "expose"
  kind = "k8s.expose"
  title = "The load balancer has an address"
  service = "web-lb"
  output = "lb_ip"
  timeout = "20s"
  [[phase.step]]
  id = "use"
  kind = "command"
  title = "Later steps see it"
  run = "echo flip to ${lb_ip}"
"#;
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, steps, "");
    let child = sb.spawn(&["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"]);
    // The cloud takes a moment to give the load balancer its address.
    wait_for(
        "the expose step asking for the Service",
        Duration::from_secs(20),
        || {
            kube.requests()
                .iter()
                .filter(|r| r.contains("/services/web-lb"))
                .count()
                >= 2
        },
    );
    kube.update::<Service>(NS, "web-lb", |s| {
        s.status = Some(
            serde_json::from_value(serde_json::json!({ "loadBalancer": { "ingress": [{ "ip": "203.0.113.7" }] } }))
                .unwrap(),
        );
    });
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("flip to 203.0.113.7"), "{stdout}");
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(state.outputs.get("lb_ip").map(String::as_str), Some("203.0.113.7"));
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, RunEvent::ObjectChecked { check, .. }
            if check.value == "none yet" && check.verdict == Verdict::Inconclusive)),
        "the wait is in the journal"
    );
}

const SCALE_ROLLBACK: &str = r#"
[rollback]
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  title = "Scale the new Deployments to zero"
  replicas = 0
"#;

const HOLD: &str = r#"
  [[phase.step]]
  id = "wait"
  kind = "wait"
  title = "Stay here (the test rolls back)"
  not_before = "2099-01-01T00:00:00Z"
"#;

#[test]
fn rollback_scales_every_deployment_to_zero_and_records_the_counts() {
    let (kube, _health) = cluster();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, HOLD, SCALE_ROLLBACK);
    assert_exit(&run(&sb, &rb, &["--max-wait", "0s"]), 3);
    let out = sb.output(&["rollback", &sb.only_run_id(), "--reason", "error rate doubled"]);
    assert_exit(&out, 2);
    for (name, was) in [("web", 2), ("worker", 1)] {
        let d = kube.get::<Deployment>(NS, name).unwrap();
        assert_eq!(d.spec.unwrap().replicas, Some(0), "{name}");
        let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
        let Some(cutover::engine::Intent::Kube(k)) = &state.step("scale-to-zero").unwrap().intent else {
            panic!("a Kubernetes intent")
        };
        let change = k.scale.iter().find(|c| c.deployment == name).unwrap();
        assert_eq!((change.from, change.to), (was, 0), "the previous count is journaled");
    }
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.starts_with("PATCH") && r.contains("/deployments/web/scale")),
        "it used the scale subresource: {:?}",
        kube.requests()
    );
}

#[test]
fn a_forbidden_scale_names_the_verb_and_resource_to_ask_for() {
    let (kube, _health) = cluster();
    kube.deny("patch", "deployments/scale");
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, HOLD, SCALE_ROLLBACK);
    assert_exit(&run(&sb, &rb, &["--max-wait", "0s"]), 3);
    let out = sb.output(&["rollback", &sb.only_run_id(), "--reason", "error rate doubled"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("not allowed to patch deployments/scale web")
            && stdout.contains("allows verb `patch` on resource `deployments/scale` in namespace `shop`"),
        "{stdout}"
    );
    assert_eq!(
        kube.get::<Deployment>(NS, "web").unwrap().spec.unwrap().replicas,
        Some(2)
    );
}

#[test]
fn expired_credentials_and_a_dead_api_server_give_clear_errors() {
    let (kube, _health) = cluster();
    kube.expire_token("test-token");
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("refused the credentials of context staging (401 Unauthorized)") && stdout.contains("expired"),
        "{stdout}"
    );

    drop(kube);
    // An address where nothing listens.
    let url = format!("https://127.0.0.1:{}", support::closed_port());
    let sb = Sandbox::new();
    let other = FakeKube::start();
    let rb = runbook(&sb, &other, ROLLOUT, "");
    // Point the kubeconfig at the address of the server that is gone.
    let config = sb.path().join("kubeconfig");
    let text_config = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&other.https_url(), &url);
    std::fs::write(&config, text_config).unwrap();
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("the API server at {url}")) && stdout.contains("did not answer"),
        "{stdout}"
    );
}

const VALIDATE: &str = r#"
  [[phase.step]]
  id = "validate"
  kind = "k8s.validate"
  title = "Post-cutover checklist"
  restart_window = "10m"
"#;

#[test]
fn validate_passes_on_a_healthy_app_and_names_an_oomkilled_container() {
    let (kube, _health) = cluster();
    // A container that restarted long before (a deploy two hours ago) is not a problem now.
    kube.update::<Pod>(NS, "web-1", |p| {
        let cs = &mut p.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0];
        cs.restart_count = 3;
        cs.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some("Error".into()),
                exit_code: 1,
                finished_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(2),
                )),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, VALIDATE, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("web-1/web restarts: 3 restart(s)"),
        "{}",
        text(&out.stdout)
    );

    kube.update::<Pod>(NS, "web-2", |p| {
        let cs = &mut p.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0];
        cs.restart_count = 1;
        cs.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                finished_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                )),
                ..Default::default()
            }),
            ..Default::default()
        });
    });
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, VALIDATE, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    let container = kube.get::<Pod>(NS, "web-2").unwrap().spec.unwrap().containers[0]
        .name
        .clone();
    assert!(
        stdout.contains(&format!("container {container} of pod web-2 was OOMKilled")),
        "names pod and container:\n{stdout}"
    );
}

/// The process dies while the scale step waits for the controller: the next session finds
/// the step in doubt, runs it again (scaling is absolute, so that is safe) and keeps the
/// counts the first try found, not the zeros it left behind.
#[test]
fn killed_mid_scale_the_rerun_keeps_the_counts_found_before() {
    let (kube, _health) = cluster();
    kube.set_auto_rollout(false);
    let steps = r#"
  [[phase.step]]
  id = "drain"
  kind = "k8s.scale"
  title = "Scale the new Deployments to zero"
  replicas = 0
  timeout = "30s"
"#;
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, steps, "");
    let mut child = sb.spawn(&["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"]);
    wait_for("the scale request", Duration::from_secs(20), || {
        kube.get::<Deployment>(NS, "worker")
            .is_some_and(|d| d.spec.unwrap().replicas == Some(0))
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    kube.set_auto_rollout(true);

    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 0);
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, RunEvent::InDoubtResolved { step, .. } if step == "drain")),
        "the step was in doubt after the kill:\n{}",
        text(&out.stdout)
    );
    let step = state.step("drain").unwrap();
    assert_eq!(step.status, StepStatus::Succeeded);
    let Some(cutover::engine::Intent::Kube(k)) = &step.intent else {
        panic!("a Kubernetes intent")
    };
    let counts: Vec<(String, i32, i32)> = k.scale.iter().map(|c| (c.deployment.clone(), c.from, c.to)).collect();
    assert_eq!(counts, vec![("web".into(), 2, 0), ("worker".into(), 1, 0)]);
    // The rerun read the counts already set: each Deployment was scaled once.
    for name in ["web", "worker"] {
        let patches = kube
            .requests()
            .iter()
            .filter(|r| r.starts_with(&format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/{name}/scale")))
            .count();
        assert_eq!(patches, 1, "{name}: {:?}", kube.requests());
    }
}

/// A port-forward whose pod side drops the connection mid-check: a clear failure naming
/// the pod and the check, and the run stops for a decision with the journal intact.
#[test]
fn a_port_forward_that_drops_mid_check_fails_the_smoke_step_clearly() {
    let (kube, _health) = cluster();
    let dropper = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let drop_addr = dropper.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in dropper.incoming().flatten() {
            // Read a little of the request, then go away without answering.
            let mut buf = [0u8; 16];
            let _ = std::io::Read::read(&mut &conn, &mut buf);
            drop(conn);
        }
    });
    kube.pod_port(NS, "web-1", 3000, drop_addr);
    kube.pod_port(NS, "web-2", 3000, drop_addr);
    let steps = r#"
  [[phase.step]]
  id = "smoke"
  kind = "k8s.smoke"
  title = "Readiness of web through a port-forward"
  checks = [{ deployment = "web", port = 3000, path = "/health/readiness", timeout = "5s" }]
"#;
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, steps, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "smoke: FAILED — web-1 GET :3000/health/readiness: no HTTP answer through the port-forward to web-1:3000: connection closed"
        ),
        "{stdout}"
    );
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    let step = state.step("smoke").unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    // Every Ready pod was checked, and each failure is its own line.
    assert_eq!(step.objects.len(), 2, "{:?}", step.objects);
    assert!(
        step.objects.iter().all(|o| o.verdict == Verdict::Breach),
        "{:?}",
        step.objects
    );
}

#[test]
fn the_kubeconfig_token_never_reaches_the_journal_or_the_output() {
    let (kube, _health) = cluster();
    let sb = Sandbox::new();
    // A step that prints the token it found (as a careless script might).
    let leak = r#"
  [[phase.step]]
  id = "whoami"
  kind = "command"
  title = "Print the kubeconfig"
  run = "grep token: kubeconfig"
"#;
    let rb = runbook(&sb, &kube, &format!("{ROLLOUT}{leak}"), "");
    let out = sb
        .cutover()
        .current_dir(sb.path())
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .output()
        .expect("run");
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("test-token"), "{stdout}");
    let journal = text(&sb.output(&["journal", &sb.only_run_id(), "--output", "json"]).stdout);
    assert!(
        journal.contains("[redacted]") && !journal.contains("test-token"),
        "{journal}"
    );
}

/// An API server that fails for a moment (etcd electing a leader answers 500) in the middle
/// of a rollout wait: the step asks again, shows the hiccup, and passes when the pods are
/// Ready. The same failure before the server ever answered the step fails it at once.
#[test]
fn a_rollout_wait_outlasts_an_api_server_hiccup_but_a_first_failure_is_reported_at_once() {
    let (kube, _health) = cluster();
    kube.set_auto_rollout(false);
    worker_ready(&kube, 0);
    let steps = ROLLOUT.replace("timeout = \"2s\"", "timeout = \"30s\"");
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, &steps, "");
    let child = sb.spawn(&["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"]);
    let reads = || {
        kube.requests()
            .iter()
            .filter(|r| r.starts_with("GET /apis/apps/v1/namespaces/shop/deployments/"))
            .count()
    };
    wait_for("the rollout wait", Duration::from_secs(20), || reads() >= 4);
    // 503, which kube's own retry would have hidden for minutes inside one request.
    kube.fail_requests(Some((503, "etcdserver: leader changed")));
    let failing_from = reads();
    // Several polls (every 50 ms) meet the failure.
    wait_for("polls during the failure", Duration::from_secs(20), || {
        reads() >= failing_from + 5
    });
    kube.fail_requests(None);
    worker_ready(&kube, 1);
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("etcdserver: leader changed") && stdout.contains("asking again every 50ms"),
        "the hiccup is shown: {stdout}"
    );
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(state.step("rollout").unwrap().status, StepStatus::Succeeded);
    let server: Vec<(String, Verdict)> = records
        .iter()
        .filter_map(|r| match &r.event {
            RunEvent::ObjectChecked { check, .. } if check.object.starts_with("API server https://127.0.0.1:") => {
                Some((check.value.clone(), check.verdict))
            }
            _ => None,
        })
        .collect();
    assert!(
        server.first().is_some_and(|(v, verdict)| v.contains("answered 503")
            && v.contains("etcdserver: leader changed")
            && *verdict == Verdict::Inconclusive),
        "{server:?}"
    );
    assert_eq!(
        server.last(),
        Some(&("answering again".to_string(), Verdict::Within)),
        "the journal shows the server came back"
    );

    // Failing from the first request: nothing to wait out, the step fails with the answer.
    kube.fail_requests(Some((500, "etcdserver: leader changed")));
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("answered 500")
            && stdout.contains("etcdserver: leader changed")
            && !stdout.contains("asking again"),
        "{stdout}"
    );
}

/// A kubeconfig that does not trust the server's certificate: a TLS problem, said as one,
/// not "did not answer".
#[test]
fn an_untrusted_server_certificate_is_reported_as_a_tls_problem() {
    let (kube, _health) = cluster();
    let sb = Sandbox::new();
    let rb = runbook(&sb, &kube, ROLLOUT, "");
    let config = sb.path().join("kubeconfig");
    let without_ca: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("certificate-authority-data"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&config, without_ca).unwrap();
    let out = run(&sb, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("the TLS connection to the API server at {}", kube.https_url()))
            && stdout.contains("certificate-authority-data")
            && !stdout.contains("did not answer"),
        "{stdout}"
    );
}
