//! `[state] backend = "kubernetes"` with the real binary against the fake API server: the
//! journal replicated to the cluster byte for byte, the Lease held and renewed, a takeover
//! refused while the holder renews and done once its Lease ran out, the old holder stopping
//! at once when it comes back, and a cluster that breaks mid-run.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use cutover::engine::{RunEvent, StepStatus};
use cutover_sandbox::kube::FakeKube;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use support::{Sandbox, assert_exit, text};

const NS: &str = "cutover";

/// A runbook whose journal lives in `fake`'s cluster: `first` (quick), `long` (touches
/// `started`, then sleeps `seconds`, idempotent), `last` (appends the process's
/// `CUTOVER_TEST_WHO` to `did`).
/// `object`: what the chunks are kept in (`None`: the default, Secrets).
fn runbook(
    sb: &Sandbox,
    fake: &FakeKube,
    seconds: u32,
    lease: &str,
    object: Option<&str>,
) -> (PathBuf, PathBuf, PathBuf) {
    let kubeconfig = sb.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, "sandbox", NS);
    fake.put(&k8s_openapi::api::core::v1::Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(NS.to_string()),
            ..Default::default()
        },
        ..Default::default()
    });
    let started = sb.path().join("started");
    let did = sb.path().join("did");
    let rb = sb.write(
        "team.toml",
        &format!(
            "[runbook]\nname = \"team\"\nhold = \"0s\"\n\
             [state]\nbackend = \"kubernetes\"\nkubeconfig = \"{}\"\ncontext = \"sandbox\"\nnamespace = \"{NS}\"\n\
             {}lease_duration = \"{lease}\"\nrequest_timeout = \"1s\"\n\
             [[phase]]\nid = \"p\"\n\
             [[phase.step]]\nid = \"first\"\nkind = \"command\"\nrun = \"true\"\nidempotent = true\n\
             [[phase.step]]\nid = \"long\"\nkind = \"command\"\nidempotent = true\nrun = \"touch {}; sleep {seconds}\"\n\
             [[phase.step]]\nid = \"last\"\nkind = \"command\"\nrun = \"echo $CUTOVER_TEST_WHO >> {}\"\n",
            kubeconfig.display(),
            object.map(|o| format!("object = \"{o}\"\n")).unwrap_or_default(),
            started.display(),
            did.display()
        ),
    );
    (rb, started, did)
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lease_holder(fake: &FakeKube, run_id: &str) -> Option<String> {
    let names = cutover::cluster::Names::of(run_id);
    fake.get::<Lease>(NS, &names.lease)?.spec?.holder_identity
}

/// The head's `head.json`, as JSON, from its ConfigMap or Secret.
fn head(fake: &FakeKube, run_id: &str) -> Option<serde_json::Value> {
    let names = cutover::cluster::Names::of(run_id);
    let bytes = match fake.get::<ConfigMap>(NS, &names.head) {
        Some(cm) => cm.binary_data?.get("head.json")?.0.clone(),
        None => fake.get::<Secret>(NS, &names.head)?.data?.get("head.json")?.0.clone(),
    };
    serde_json::from_slice(&bytes).ok()
}

fn run_id_in(state_dir: &Path) -> String {
    let all = cutover::journal::Store::open(state_dir).unwrap().summaries();
    assert_eq!(all.len(), 1, "one run in {}", state_dir.display());
    all[0].run_id.clone()
}

/// `cutover run` of `rb` headless, in the background, as "a".
fn run_as_a(sb: &Sandbox, rb: &Path) -> Child {
    sb.cutover()
        .env("CUTOVER_TEST_WHO", "a")
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child) -> std::process::Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn a_run_is_replicated_to_the_cluster_and_its_lease_released_at_the_end() {
    let fake = FakeKube::start();
    let a = Sandbox::new();
    let (rb, _, did) = runbook(&a, &fake, 0, "30s", None);
    // Small chunks (a debug build's CUTOVER_CHUNK_BYTES): the copy spans many objects.
    let out = a
        .cutover()
        .env("CUTOVER_TEST_WHO", "a")
        .env("CUTOVER_CHUNK_BYTES", "700")
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(std::fs::read_to_string(&did).unwrap(), "a\n");
    let run_id = a.only_run_id();
    let (records, _) = a.journal(&run_id).unwrap();
    // The head commits every event, written by this process; the Lease was given up.
    let h = head(&fake, &run_id).expect("a head object in the cluster");
    let local_last = records.last().unwrap().seq;
    assert_eq!(h["last_seq"].as_u64(), Some(local_last), "{h}");
    assert!(h["writer"].as_str().unwrap().starts_with("tester@"), "{h}");
    assert_eq!(h["chunk_bytes"].as_u64(), Some(700), "{h}");
    let chunks = h["chunks"].as_u64().unwrap();
    assert!(chunks >= 3, "a run of a few kB in 700-byte chunks: {h}");
    assert!(h["log_len"].as_u64().unwrap() > 700 * (chunks - 1), "{h}");
    assert_eq!(lease_holder(&fake, &run_id), None, "a clean stop releases the Lease");

    // A colleague pulls it. A copy changed in the cluster is refused, and nothing is kept.
    let b = Sandbox::new();
    let (rb_b, _, _) = runbook(&b, &fake, 0, "30s", None);
    let names = cutover::cluster::Names::of(&run_id);
    let original = fake.get::<Secret>(NS, &names.chunk(0)).expect("chunk 0, a Secret");
    assert_eq!(original.type_.as_deref(), Some("Opaque"));
    fake.update::<Secret>(NS, &names.chunk(0), |s| {
        let events = &mut s.data.as_mut().unwrap().get_mut("events").unwrap().0;
        let n = events.len();
        events[n - 10] ^= 0x20;
    });
    let out = b.output(&["takeover", &run_id, rb_b.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not match its head's SHA-256"), "{stderr}");
    assert!(cutover::journal::Store::open(b.state_dir()).unwrap().runs().is_empty());
    fake.update::<Secret>(NS, &names.chunk(0), |s| s.data = original.data.clone());

    // Intact, it is the same events.
    let out = b
        .cutover()
        .args(["takeover", &run_id, rb_b.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{local_last} events pulled")), "{stderr}");
    let (pulled, state) = b.journal(&run_id).unwrap();
    assert_eq!(
        &pulled[..records.len()],
        &records[..],
        "the cluster's copy differs from the journal"
    );
    assert!(state.steps.iter().all(|s| s.status == StepStatus::Succeeded));
}

#[test]
fn a_takeover_waits_for_the_lease_and_the_old_holder_stops_when_it_comes_back() {
    let fake = FakeKube::start();
    let a = Sandbox::new();
    let (rb, started, did) = runbook(&a, &fake, 4, "3s", Some("configmap"));
    let first = run_as_a(&a, &rb);
    wait_for("the first run's long step", Duration::from_secs(20), || {
        started.exists()
    });
    let run_id = run_id_in(&a.state_dir());
    wait_for("the long step's intent in the cluster", Duration::from_secs(10), || {
        head(&fake, &run_id).and_then(|h| h["last_seq"].as_u64()).unwrap_or(0) >= 5
    });
    let holder_a = lease_holder(&fake, &run_id).expect("A holds the Lease");
    assert!(holder_a.ends_with(&format!(" pid {}", first.id())), "{holder_a}");

    // Refused while A renews, naming A.
    let b = Sandbox::new();
    let (rb_b, _, _) = runbook(&b, &fake, 4, "3s", Some("configmap"));
    let out = b.output(&["takeover", &run_id, rb_b.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("still held by {holder_a}")), "{stderr}");
    // Anyone with the runbook sees who holds it and since when; the holder's machine too.
    let out = b.output(&["runs", "--cluster", rb_b.to_str().unwrap()]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&run_id) && stdout.contains(&format!("held by {holder_a} since ")),
        "{stdout}"
    );
    // A second run of the same runbook from B's machine is refused: B takes this one over.
    let out = b.output(&["run", rb_b.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("run {run_id} of runbook team (default) is active"))
            && stderr.contains(&format!("cutover takeover {run_id}")),
        "{stderr}"
    );
    assert!(cutover::journal::Store::open(b.state_dir()).unwrap().runs().is_empty());
    let out = a.output(&["status", &run_id]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("cluster    held by {holder_a} since ")),
        "{stdout}"
    );

    // A's laptop freezes: its Lease runs out, B takes over and finishes the run.
    let pid = first.id() as libc::pid_t;
    // SAFETY: stops our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let out = b
        .cutover()
        .env("CUTOVER_TEST_WHO", "b")
        .args(["takeover", &run_id, rb_b.to_str().unwrap(), "--wait", "--headless"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_exit(&out, 0);
    assert!(stderr.contains("taken over from"), "{stderr}");
    let (records, state) = b.journal(&run_id).unwrap();
    let took = records.iter().find_map(|r| match &r.event {
        RunEvent::SessionOpened { took_over_from, .. } => took_over_from.clone(),
        _ => None,
    });
    assert_eq!(took.as_deref(), Some(holder_a.as_str()));
    // A's long step was in flight: in doubt for B, and retried (it is idempotent).
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, RunEvent::InDoubtResolved { step, .. } if step == "long")),
        "{records:#?}"
    );
    assert!(state.steps.iter().all(|s| s.status == StepStatus::Succeeded));

    // A comes back: it stops at once, says who took over, and starts nothing.
    // SAFETY: continues our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let back = Instant::now();
    let mut first = first;
    let status = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "A did not stop after losing its Lease"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = finish(first);
    assert_eq!(status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr) + &text(&out.stdout);
    assert!(stderr.contains("was taken over by tester@"), "{stderr}");
    // The run carries its runbook: B ran the same `last` (same file); A never did.
    assert_eq!(
        std::fs::read_to_string(&did).unwrap_or_default(),
        "b\n",
        "only B may run the last step"
    );
    // The cluster's copy is B's, whole.
    let h = head(&fake, &run_id).unwrap();
    assert_eq!(h["last_seq"].as_u64(), Some(records.last().unwrap().seq), "{h}");
    assert!(!h["writer"].as_str().unwrap().ends_with(&format!(" pid {pid}")), "{h}");
}

#[test]
fn a_broken_cluster_holds_new_steps_back_until_the_lease_is_renewed() {
    let fake = FakeKube::start();
    let a = Sandbox::new();
    let (rb, started, did) = runbook(&a, &fake, 2, "3s", Some("secret"));
    let child = run_as_a(&a, &rb);
    wait_for("the long step", Duration::from_secs(20), || started.exists());
    let run_id = run_id_in(&a.state_dir());
    fake.fail_requests(Some((503, "etcdserver: request timed out")));
    // The long step ends (it started before), but `last` does not start while the Lease
    // cannot be renewed.
    std::thread::sleep(Duration::from_secs(5));
    assert!(!did.exists(), "a new step started without a renewed Lease");
    fake.fail_requests(None);
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);
    assert_eq!(std::fs::read_to_string(&did).unwrap(), "a\n");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("waiting: the run's Lease in context sandbox") && stdout.contains("could not be renewed"),
        "the wait for the Lease is said: {stdout}"
    );
    assert!(
        stdout.contains("the run's Lease is renewed again: steps start"),
        "{stdout}"
    );
    // What was written meanwhile reached the cluster once it was back.
    let (records, _) = a.journal(&run_id).unwrap();
    let h = head(&fake, &run_id).unwrap();
    assert_eq!(h["last_seq"].as_u64(), Some(records.last().unwrap().seq), "{h}");
}
