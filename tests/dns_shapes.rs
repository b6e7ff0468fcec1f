//! Record shapes real estates have, against real servers (BIND primary, Knot secondary):
//! record sets compared order-free, A → CNAME and back, dual stack, different targets per
//! name, each moved in one atomic UPDATE (a prerequisite failure on one name moves none,
//! checked on the UPDATE itself too);
//! the TTL step and the revert done only when every authoritative server serves them (a
//! frozen secondary holds them, named); and the drain between the revert and the scale to
//! zero, against the fake Kubernetes API server.

use crate::support;

use std::time::Duration;

use cutover::engine::{Intent, StepStatus};
use cutover_sandbox::kube::{FakeKube, deployment};
use k8s_openapi::api::apps::v1::Deployment;
use support::dns::AuthPair;
use support::{Sandbox, assert_exit, text};

const VM1: &str = "192.0.2.10";
const VM2: &str = "192.0.2.11";
const VM6: &str = "2001:db8::10";
const LB1: &str = "198.51.100.7";
const LB2: &str = "198.51.100.8";
const LB6: &str = "2001:db8:1::7";
const ELB: &str = "k8s-shop-web-1a2b3c.elb.us-east-1.amazonaws.com.";

/// A runbook for the pair with `dns_extra` added to [dns], the steps given (the flip and
/// what it needs), a gate that keeps the run open, and a rollback of revert + verify.
fn runbook(pair: &AuthPair, dns_extra: &str, steps: &str, rollback: &str) -> String {
    format!(
        r#"[runbook]
name = "dns-shapes"
hold = "0s"

[vars]
zone = "{zone}"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "${{zone}}"
records = ["app.${{zone}}", "api.${{zone}}"]
tsig_key = {{ name = "{key}", algorithm = "hmac-sha256", secret_env = "TEST_TSIG_SECRET" }}
cutover_ttl = "3s"
ttl_lead_time = "1s"
poll_interval = "100ms"
query_timeout = "1s"
{dns_extra}

[[phase]]
id = "window"
title = "The window"
{steps}
  [[phase.step]]
  id = "stay"
  kind = "wait"
  title = "Stay here (the test rolls back)"
  not_before = "2099-01-01T00:00:00Z"

[rollback]
{rollback}
"#,
        zone = pair.zone(),
        primary = pair.primary(),
        key = pair.key_name(),
    )
}

const FLIP_AND_VERIFY: &str = r#"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Every authoritative server answers the new records"
  timeout = "20s"
"#;

const REVERT: &str = r#"
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
  title = "DNS back"
  timeout = "20s"
"#;

fn run(sb: &Sandbox, pair: &AuthPair, path: &std::path::Path) -> std::process::Output {
    sb.cutover()
        .args(["run", path.to_str().unwrap(), "--headless", "--max-wait", "30s"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .expect("run cutover")
}

fn rollback(sb: &Sandbox, pair: &AuthPair, run_id: &str) -> std::process::Output {
    sb.cutover()
        .args(["rollback", run_id, "--reason", "the test rolls back"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .expect("roll back")
}

/// Both servers' answer for `name`/`rtype`, once they agree.
fn agreed(pair: &AuthPair, name: &str, rtype: &str, values: &[&str]) {
    pair.wait_until_agree(name, rtype, values, Duration::from_secs(20));
}

/// Sets the records of `name` (every type it holds goes) to `records` (`TYPE value`), TTL 2.
fn set(pair: &AuthPair, name: &str, records: &[&str]) {
    let mut cmd = format!("update delete {name}\n");
    for r in records {
        cmd.push_str(&format!("update add {name} 2 {r}\n"));
    }
    cmd.push_str("send\n");
    pair.nsupdate(&cmd);
    pair.wait_in_sync(Duration::from_secs(20));
}

#[test]
fn a_record_set_moves_whole_compared_in_any_order_and_comes_back_exactly() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    for name in [&app, &api] {
        set(&pair, name, &[&format!("A {VM1}"), &format!("A {VM2}")]);
    }
    let sb = Sandbox::new();
    // The runbook lists the pool in another order than the servers hold it.
    let steps = format!(
        r#"
  [[phase.step]]
  id = "check"
  kind = "dns.check"
  title = "The VM pool"
  expect = ["{VM2}", "{VM1}"]
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip the pool to the load balancer's two addresses"
  from = ["{VM2}", "{VM1}"]
  to = ["{LB1}", "{LB2}"]
{FLIP_AND_VERIFY}"#
    );
    let rb = sb.write("sets.toml", &runbook(&pair, "", &steps, REVERT));
    let out = run(&sb, &pair, &rb);
    assert_exit(&out, 3);
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[LB1, LB2]);
    }
    let run_id = sb.only_run_id();
    let (_, state) = sb.journal(&run_id).unwrap();
    let Some(Intent::Dns(flip)) = &state.step("flip").unwrap().intent else {
        panic!("the flip has a DNS intent")
    };
    assert_eq!(flip.records.len(), 2, "one A set per name: {flip:?}");
    assert!(
        flip.records
            .iter()
            .all(|r| r.rtype == "A" && r.from.len() == 2 && r.to.len() == 2)
    );

    let out = rollback(&sb, &pair, &run_id);
    assert_exit(&out, 2);
    // Exactly the set the flip found, on both servers.
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[VM1, VM2]);
    }
}

#[test]
fn a_record_set_that_differs_by_one_address_is_not_flipped() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    set(&pair, &app, &[&format!("A {VM1}"), &format!("A {VM2}")]);
    // api holds one more address than the runbook says: the set is not the same.
    set(&pair, &api, &[&format!("A {VM1}"), &format!("A {VM2}"), "A 192.0.2.12"]);
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = ["{VM1}", "{VM2}"]
  to = "{LB1}"
"#
    );
    let rb = sb.write("sets.toml", &runbook(&pair, "", &steps, REVERT));
    let out = run(&sb, &pair, &rb);
    // A failed step stops the run for the operator's decision (exit 3).
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("192.0.2.12") && stdout.contains("nothing was written"),
        "the failure says what the record holds:\n{stdout}"
    );
    // Neither name moved.
    agreed(&pair, &app, "A", &[VM1, VM2]);
    agreed(&pair, &api, "A", &[VM1, VM2, "192.0.2.12"]);
}

#[test]
fn a_to_cname_in_one_update_and_back_to_the_addresses() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    for name in [&app, &api] {
        set(&pair, name, &[&format!("A {VM1}")]);
    }
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Point the names at the ELB"
  from = "{VM1}"
  to = "{ELB}"
{FLIP_AND_VERIFY}"#
    );
    let rb = sb.write("cname.toml", &runbook(&pair, "", &steps, REVERT));
    let out = run(&sb, &pair, &rb);
    assert_exit(&out, 3);
    for name in [&app, &api] {
        agreed(&pair, name, "CNAME", &[ELB]);
        // The A set went in the same change: an A query finds only the CNAME.
        agreed(&pair, name, "A", &[]);
    }
    let run_id = sb.only_run_id();
    let (_, state) = sb.journal(&run_id).unwrap();
    let Some(Intent::Dns(flip)) = &state.step("flip").unwrap().intent else {
        panic!("the flip has a DNS intent")
    };
    let types: Vec<(&str, usize, usize)> = flip
        .records
        .iter()
        .filter(|r| r.name == app)
        .map(|r| (r.rtype.as_str(), r.from.len(), r.to.len()))
        .collect();
    // The AAAA set is a prerequisite (it must not exist: a CNAME stands alone).
    assert_eq!(types, vec![("A", 1, 0), ("AAAA", 0, 0), ("CNAME", 0, 1)], "{flip:?}");

    let out = rollback(&sb, &pair, &run_id);
    assert_exit(&out, 2);
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[VM1]);
        agreed(&pair, name, "CNAME", &[]);
    }
}

#[test]
fn a_name_with_an_aaaa_record_is_not_turned_into_a_cname_and_keeps_its_addresses() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    set(&pair, &app, &[&format!("A {VM1}")]);
    // [dns] type is A only, but api also has an AAAA: a CNAME cannot stand beside it, and a
    // server would skip the CNAME after deleting the A set.
    set(&pair, &api, &[&format!("A {VM1}"), &format!("AAAA {VM6}")]);
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Point the names at the ELB"
  from = "{VM1}"
  to = "{ELB}"
"#
    );
    let rb = sb.write("cname.toml", &runbook(&pair, "", &steps, REVERT));
    let out = run(&sb, &pair, &rb);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("api.example.test. AAAA holds 2001:db8::10") && stdout.contains("nothing was written"),
        "{stdout}"
    );
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[VM1]);
        agreed(&pair, name, "CNAME", &[]);
    }
    agreed(&pair, &api, "AAAA", &[VM6]);
}

/// The UPDATE itself is all or nothing: sent with one name's prerequisite stale (as if the
/// record changed between cutover's read and its write), BIND applies none of it.
#[test]
fn one_update_with_a_stale_prerequisite_on_one_name_changes_no_name() {
    use cutover::dns::wire::{RecordUpdate, Tsig, compare_and_swap};
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    set(&pair, &app, &[&format!("A {VM1}")]);
    set(&pair, &api, &["A 192.0.2.99"]);
    let tsig = Tsig {
        name: pair.key_name().to_string(),
        algorithm: "hmac-sha256".to_string(),
        secret: data_encoding::BASE64.decode(pair.secret_b64().as_bytes()).unwrap(),
    };
    let update = |name: &str| RecordUpdate {
        name: name.to_string(),
        rtype: "A".to_string(),
        from: vec![VM1.to_string()],
        to: vec![LB1.to_string()],
        ttl: 60,
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let e = runtime
        .block_on(compare_and_swap(
            pair.primary(),
            &zone,
            Some(&tsig),
            &[update(&app), update(&api)],
            Duration::from_secs(3),
        ))
        .unwrap_err();
    assert!(e.message.contains("refused the compare-and-swap"), "{}", e.message);
    agreed(&pair, &app, "A", &[VM1]);
    agreed(&pair, &api, "A", &["192.0.2.99"]);
    // With the prerequisite right, both move in the same UPDATE.
    set(&pair, &api, &[&format!("A {VM1}")]);
    runtime
        .block_on(compare_and_swap(
            pair.primary(),
            &zone,
            Some(&tsig),
            &[update(&app), update(&api)],
            Duration::from_secs(3),
        ))
        .unwrap();
    agreed(&pair, &app, "A", &[LB1]);
    agreed(&pair, &api, "A", &[LB1]);
}

#[test]
fn a_cname_at_the_zone_apex_is_refused_before_anything_runs() {
    let pair = AuthPair::start();
    let sb = Sandbox::new();
    let text_ = runbook(
        &pair,
        "",
        &format!(
            r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "{VM1}"
  to = "{ELB}"
"#
        ),
        REVERT,
    )
    .replace(
        r#"records = ["app.${zone}", "api.${zone}"]"#,
        r#"records = ["${zone}", "app.${zone}"]"#,
    );
    let rb = sb.write("apex.toml", &text_);
    let out = sb.output(&["validate", rb.to_str().unwrap()]);
    assert_exit(&out, 1);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("cname-at-apex") && all.contains("apex.toml:"), "{all}");
}

#[test]
fn dual_stack_moves_a_and_aaaa_together_or_not_at_all() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    set(&pair, &app, &[&format!("A {VM1}"), &format!("AAAA {VM6}")]);
    // api's AAAA is not what the runbook expects: the whole UPDATE fails, app included.
    set(&pair, &api, &[&format!("A {VM1}"), "AAAA 2001:db8::99"]);
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip both stacks"
  from = ["{VM1}", "{VM6}"]
  to = {{ A = "{LB1}", AAAA = "{LB6}" }}
{FLIP_AND_VERIFY}"#
    );
    let rb = sb.write("dual.toml", &runbook(&pair, r#"type = ["A", "AAAA"]"#, &steps, REVERT));
    let out = run(&sb, &pair, &rb);
    // A failed step stops the run for the operator's decision (exit 3).
    assert_exit(&out, 3);
    assert!(
        text(&out.stdout).contains("api.example.test. AAAA holds 2001:db8::99"),
        "the failure names the record set that differs:\n{}",
        text(&out.stdout)
    );
    agreed(&pair, &app, "A", &[VM1]);
    agreed(&pair, &app, "AAAA", &[VM6]);

    // Put api right and retry: both stacks of both names move.
    set(&pair, &api, &[&format!("A {VM1}"), &format!("AAAA {VM6}")]);
    let run_id = sb.only_run_id();
    let out = sb
        .cutover()
        .args(["resume", &run_id, "--retry", "flip", "--headless", "--max-wait", "30s"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[LB1]);
        agreed(&pair, name, "AAAA", &[LB6]);
    }
    let out = rollback(&sb, &pair, &run_id);
    assert_exit(&out, 2);
    for name in [&app, &api] {
        agreed(&pair, name, "A", &[VM1]);
        agreed(&pair, name, "AAAA", &[VM6]);
    }
}

#[test]
fn different_targets_per_name_move_in_one_update_or_none_does() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    let (app, api) = (format!("app.{zone}"), format!("api.{zone}"));
    set(&pair, &app, &[&format!("A {VM1}")]);
    set(&pair, &api, &[&format!("A {VM2}")]);
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "app to one load balancer, api to another"
  from = {{ "{app}" = "{VM1}", "{api}" = "{VM2}" }}
  to = {{ "{app}" = "{LB1}", "{api}" = "{ELB}" }}
{FLIP_AND_VERIFY}"#
    );
    let rb = sb.write("per-name.toml", &runbook(&pair, "", &steps, REVERT));
    // First api is changed behind our back: app must not move either.
    set(&pair, &api, &["A 192.0.2.99"]);
    let out = run(&sb, &pair, &rb);
    // A failed step stops the run for the operator's decision (exit 3).
    assert_exit(&out, 3);
    agreed(&pair, &app, "A", &[VM1]);
    agreed(&pair, &api, "A", &["192.0.2.99"]);

    set(&pair, &api, &[&format!("A {VM2}")]);
    let run_id = sb.only_run_id();
    let out = sb
        .cutover()
        .args(["resume", &run_id, "--retry", "flip", "--headless", "--max-wait", "30s"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    agreed(&pair, &app, "A", &[LB1]);
    agreed(&pair, &api, "CNAME", &[ELB]);
    agreed(&pair, &api, "A", &[]);
    let out = rollback(&sb, &pair, &run_id);
    assert_exit(&out, 2);
    agreed(&pair, &app, "A", &[VM1]);
    agreed(&pair, &api, "A", &[VM2]);
    agreed(&pair, &api, "CNAME", &[]);
}

#[test]
fn a_frozen_secondary_holds_the_ttl_step_by_name_and_the_clock_starts_when_it_catches_up() {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    for name in [format!("app.{zone}"), format!("api.{zone}")] {
        set(&pair, &name, &[&format!("A {VM1}")]);
    }
    let sb = Sandbox::new();
    let steps = format!(
        r#"
  [[phase.step]]
  id = "lower-ttl"
  kind = "dns.lower_ttl"
  title = "Lower the TTL"
  ttl = "1s"
  timeout = "2s"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "{VM1}"
  to = "{LB1}"
"#
    );
    let rb = sb.write("lag.toml", &runbook(&pair, "", &steps, REVERT));
    pair.freeze_secondary();
    let out = run(&sb, &pair, &rb);
    pair.thaw_secondary();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    let secondary = pair.secondary().to_string();
    assert!(
        stdout.contains("lower-ttl") && stdout.contains(&secondary) && stdout.contains("TTL 1"),
        "the failure names the server that does not serve the lowered TTL:\n{stdout}"
    );
    let run_id = sb.only_run_id();
    let (_, state) = sb.journal(&run_id).unwrap();
    assert_eq!(state.step("lower-ttl").unwrap().status, StepStatus::Failed);
    assert_eq!(
        state.step("flip").unwrap().status,
        StepStatus::Pending,
        "the flip never ran"
    );

    // Thawed, the secondary catches up; the retry succeeds once both serve TTL 1, and the
    // flip's gate counts from that moment.
    pair.wait_in_sync(Duration::from_secs(20));
    let out = sb
        .cutover()
        .args([
            "resume",
            &run_id,
            "--retry",
            "lower-ttl",
            "--headless",
            "--max-wait",
            "30s",
        ])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let (_, state) = sb.journal(&run_id).unwrap();
    let lowered = state.step("lower-ttl").unwrap();
    assert_eq!(lowered.status, StepStatus::Succeeded);
    assert!(
        lowered
            .answers
            .iter()
            .any(|a| a.address == secondary && a.ttl == Some(1)),
        "the secondary was seen serving the new TTL: {:?}",
        lowered.answers
    );
    let flip_started = state.step("flip").unwrap().started_at.unwrap();
    // The gate: the longer of the old TTL (2 s) and the lead time (1 s), from the moment
    // every server served the new TTL.
    assert!(
        flip_started >= lowered.finished_at.unwrap() + chrono::Duration::seconds(2),
        "{:?} → {flip_started}",
        lowered.finished_at
    );
}

/// The flip, verify, and a rollback of revert then scale to zero: against BIND + Knot and
/// the fake Kubernetes API server.
fn with_cluster(pair: &AuthPair, sb: &Sandbox, kube: &FakeKube, drain: &str) -> std::path::PathBuf {
    let config = sb.path().join("kubeconfig");
    kube.write_kubeconfig(&config, "staging", "shop");
    let steps = format!(
        r#"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip"
  from = "{VM1}"
  to = "{LB1}"
{FLIP_AND_VERIFY}"#
    );
    let rollback = format!(
        r#"{REVERT}
  [[rollback.step]]
  id = "scale-to-zero"
  kind = "k8s.scale"
  title = "Scale to zero once resolvers let go"
  replicas = 0
  timeout = "20s"
  {drain}
"#
    );
    let text_ = runbook(pair, "", &steps, &rollback).replace(
        "[[phase]]",
        &format!(
            "[k8s]\nkubeconfig = \"{}\"\ncontext = \"staging\"\nnamespace = \"shop\"\ndeployments = [\"web\"]\npoll_interval = \"50ms\"\n\n[[phase]]",
            config.display()
        ),
    );
    sb.write("drain.toml", &text_)
}

/// The pair with app and api on the VM, and a cluster whose `web` serves with 2 replicas.
fn at_vm_with_cluster() -> (AuthPair, FakeKube) {
    let pair = AuthPair::start();
    let zone = pair.zone().to_string();
    for name in [format!("app.{zone}"), format!("api.{zone}")] {
        set(&pair, &name, &[&format!("A {VM1}")]);
    }
    let kube = FakeKube::start();
    kube.put(&deployment("shop", "web", "web", 2));
    (pair, kube)
}

#[test]
fn the_rollback_drains_the_new_side_for_the_flips_ttl_after_dns_is_back_everywhere() {
    let (pair, kube) = at_vm_with_cluster();
    let sb = Sandbox::new();
    let rb = with_cluster(&pair, &sb, &kube, "");
    let out = run(&sb, &pair, &rb);
    assert_exit(&out, 3);
    let run_id = sb.only_run_id();
    let out = rollback(&sb, &pair, &run_id);
    assert_exit(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("drain: DNS is back on every authoritative server"),
        "the drain is said:\n{stdout}"
    );
    let (_, state) = sb.journal(&run_id).unwrap();
    let back = state.step("dns-back").unwrap();
    let scale = state.step("scale-to-zero").unwrap();
    assert_eq!(scale.status, StepStatus::Succeeded);
    // The flip wrote TTL 3: the scale began no sooner than 3 s after every authoritative
    // server answered the VM again.
    let gap = scale.started_at.unwrap() - back.finished_at.unwrap();
    assert!(gap >= chrono::Duration::seconds(3), "scaled {gap} after DNS was back");
    assert!(
        back.answers.iter().any(|a| a.address == pair.secondary().to_string()),
        "the revert was verified on the secondary: {:?}",
        back.answers
    );
    let web: Deployment = kube.get("shop", "web").expect("web exists");
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(0));
}

#[test]
fn a_frozen_secondary_holds_the_revert_and_nothing_is_scaled_down() {
    let (pair, kube) = at_vm_with_cluster();
    let sb = Sandbox::new();
    let rb = with_cluster(&pair, &sb, &kube, r#"drain = "0s""#);
    let text_ = std::fs::read_to_string(&rb).unwrap().replace(
        "title = \"DNS back\"\n  timeout = \"20s\"",
        "title = \"DNS back\"\n  timeout = \"2s\"",
    );
    std::fs::write(&rb, text_).unwrap();
    let out = run(&sb, &pair, &rb);
    assert_exit(&out, 3);
    let run_id = sb.only_run_id();
    pair.freeze_secondary();
    let out = rollback(&sb, &pair, &run_id);
    pair.thaw_secondary();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("dns-back") && stdout.contains(&pair.secondary().to_string()),
        "the revert fails naming the server that still answers the load balancer:\n{stdout}"
    );
    let (_, state) = sb.journal(&run_id).unwrap();
    assert_eq!(state.step("dns-back").unwrap().status, StepStatus::Failed);
    assert_eq!(state.step("scale-to-zero").unwrap().status, StepStatus::Pending);
    let web: Deployment = kube.get("shop", "web").expect("web exists");
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(2), "the new side still serves");
}
