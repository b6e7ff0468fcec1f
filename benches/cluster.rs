//! The run's state in the cluster (`[state] backend = "kubernetes"`), against the fake
//! Kubernetes API server with the real `cutover` binary:
//!
//! - **replication lag**: from an event's time in the local journal to the moment the
//!   cluster's head commits it (the head polled every 2 ms), over a run of quick steps;
//! - **takeover time**: from the dead holder's Lease running out (its last renewTime plus
//!   the Lease's duration) to the new holder's session opened on the run
//!   (`cutover takeover --wait`, pull, check, Lease, import, resume), the holder frozen
//!   (SIGSTOP) as a laptop that went silent is.
//!
//! Prints figures; asserts nothing about speed. `cargo bench --bench cluster`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cutover::engine::RunEvent;
use cutover::journal::{Holder, Store};
use cutover_sandbox::kube::FakeKube;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};

const NS: &str = "cutover";
const STEPS: usize = 40;
const TAKEOVERS: usize = 5;

/// A runbook `name` (run ids come from the name and the minute: each run here has its own).
fn runbook(dir: &Path, fake: &FakeKube, name: &str, steps: &str, lease: &str) -> std::path::PathBuf {
    let kubeconfig = dir.join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, "sandbox", NS);
    let path = dir.join("team.toml");
    std::fs::write(
        &path,
        format!(
            "[runbook]\nname = \"{name}\"\nhold = \"0s\"\n[state]\nbackend = \"kubernetes\"\nkubeconfig = \"{}\"\n\
             context = \"sandbox\"\nnamespace = \"{NS}\"\nobject = \"configmap\"\nlease_duration = \"{lease}\"\nrequest_timeout = \"1s\"\n\
             [[phase]]\nid = \"p\"\n{steps}",
            kubeconfig.display()
        ),
    )
    .unwrap();
    path
}

fn cutover(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.env("CUTOVER_STATE_DIR", state)
        .env("CUTOVER_OPERATOR", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn records(state: &Path) -> (String, Vec<cutover::engine::Recorded>) {
    let store = Store::open(state).unwrap();
    let run_id = store.summaries().last().unwrap().run_id.clone();
    let (journal, _) = store
        .open_run(&run_id, &Holder::this_process("bench", "bench", Utc::now()))
        .unwrap();
    (run_id.clone(), journal.records(1).unwrap())
}

fn head_seq(fake: &FakeKube, names: &cutover::cluster::Names) -> u64 {
    fake.get::<ConfigMap>(NS, &names.head)
        .and_then(|cm| cm.binary_data)
        .and_then(|d| d.get("head.json").map(|b| b.0.clone()))
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|h| h["last_seq"].as_u64())
        .unwrap_or(0)
}

fn stats(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: median {:.1} ms, p95 {:.1} ms, max {:.1} ms, min {:.1} ms (n = {})",
        at(0.5),
        at(0.95),
        ms[ms.len() - 1],
        ms[0],
        ms.len()
    );
}

fn main() {
    let fake = FakeKube::start();
    fake.put(&Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(NS.to_string()),
            ..Default::default()
        },
        ..Default::default()
    });

    // Replication lag.
    let dir = tempfile::tempdir().unwrap();
    let steps: String = (0..STEPS)
        .map(|i| {
            format!("[[phase.step]]\nid = \"s{i}\"\nkind = \"command\"\nrun = \"sleep 0.05\"\nidempotent = true\n")
        })
        .collect();
    let rb = runbook(dir.path(), &fake, "lag", &steps, "30s");
    let state = dir.path().join("state");
    let mut child = cutover(&state)
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .spawn()
        .unwrap();
    let mut seen: Vec<(u64, DateTime<Utc>)> = Vec::new();
    let mut names = None;
    let mut last = 0;
    loop {
        if names.is_none()
            && let Some(s) = Store::open(&state).ok().and_then(|s| s.summaries().last().cloned())
        {
            names = Some(cutover::cluster::Names::of(&s.run_id));
        }
        if let Some(n) = &names {
            let seq = head_seq(&fake, n);
            if seq > last {
                seen.push((seq, Utc::now()));
                last = seq;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (_, recs) = records(&state);
    let mut lags = Vec::new();
    for r in &recs {
        // The first poll that saw the head at or past this event.
        if let Some((_, at)) = seen.iter().find(|(seq, _)| *seq >= r.seq) {
            lags.push((*at - r.at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    println!(
        "replication: {} events of a {STEPS}-step run, {} committed head versions seen",
        recs.len(),
        seen.len()
    );
    stats("replication lag (event written → committed in the cluster)", lags);

    // Takeover time.
    let mut takeovers = Vec::new();
    for i in 0..TAKEOVERS {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("started");
        let steps = format!(
            "[[phase.step]]\nid = \"long\"\nkind = \"command\"\nidempotent = true\nrun = \"touch {}; sleep 1\"\n",
            marker.display()
        );
        let rb = runbook(dir.path(), &fake, &format!("takeover{i}"), &steps, "3s");
        let a_state = dir.path().join("a");
        let mut a = cutover(&a_state)
            .args(["run", rb.to_str().unwrap(), "--headless"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !marker.exists() {
            assert!(Instant::now() < deadline, "the run never started its step");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        // Frozen, not killed: a dead process on this host is taken over at once (its pid
        // is gone), while a laptop that went silent elsewhere is waited for until its
        // Lease runs out, which is what this measures.
        // SAFETY: stops our own child.
        unsafe { libc::kill(a.id() as libc::pid_t, libc::SIGSTOP) };
        let run_id = Store::open(&a_state).unwrap().summaries()[0].run_id.clone();
        let names = cutover::cluster::Names::of(&run_id);
        // The dead holder's Lease runs out at its last renewal plus its duration.
        let expiry = last_renewal(&fake, &names) + chrono::Duration::seconds(3);
        let b_state = dir.path().join("b");
        let out = cutover(&b_state)
            .args(["takeover", &run_id, rb.to_str().unwrap(), "--wait", "--headless"])
            .output()
            .unwrap();
        assert!(out.status.success(), "the takeover failed");
        a.kill().unwrap();
        a.wait().unwrap();
        let (_, b_recs) = records(&b_state);
        let opened = b_recs
            .iter()
            .find_map(|r| match &r.event {
                RunEvent::SessionOpened {
                    took_over_from: Some(_),
                    ..
                } => Some(r.at),
                _ => None,
            })
            .expect("a takeover session");
        takeovers.push((opened - expiry).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    stats("takeover (Lease expiry → session opened on the new machine)", takeovers);
}

/// The Lease's renewTime as stored.
fn last_renewal(fake: &FakeKube, names: &cutover::cluster::Names) -> DateTime<Utc> {
    let lease = fake.get::<Lease>(NS, &names.lease).expect("the Lease");
    let spec = serde_json::to_value(lease.spec).unwrap();
    let text = spec["renewTime"].as_str().expect("a renewTime");
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}
