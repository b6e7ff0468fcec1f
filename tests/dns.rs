//! The DNS steps against real servers: BIND as the primary taking TSIG-signed updates,
//! Knot as its secondary (NOTIFY and zone transfer), PowerDNS through its HTTP API. Each
//! test starts its own servers on loopback and stops them by PID.

use crate::support;

use std::time::Duration;

use cutover::engine::{Intent, RunEvent, StepStatus, Verdict};
use support::dns::{AuthPair, PowerDns, wait_for};
use support::{Sandbox, assert_exit, text};

const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";

/// A runbook for the pair: check, lower the TTL, (gate), flip, verify, then a gate that
/// keeps the run open so the test can roll it back. The nameservers are discovered from
/// the zone's NS records (ns1 = 127.0.0.1, ns2 = 127.0.0.2, both on the pair's port).
fn runbook(pair: &AuthPair, lead: &str, secret_env: &str) -> String {
    format!(
        r#"[runbook]
name = "dns-cutover"
hold = "0s"

[vars]
zone = "{zone}"
vm_ip = "{VM}"
lb_ip = "{LB}"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "${{zone}}"
records = ["app.${{zone}}", "api.${{zone}}"]
tsig_key = {{ name = "{key}", algorithm = "hmac-sha256", secret_env = "{secret_env}" }}
cutover_ttl = "60s"
ttl_lead_time = "{lead}"
poll_interval = "100ms"
query_timeout = "1s"

[[phase]]
id = "prepare"
title = "Before the window"
  [[phase.step]]
  id = "check"
  kind = "dns.check"
  title = "Records hold the VM address"
  expect = "${{vm_ip}}"
  [[phase.step]]
  id = "lower-ttl"
  kind = "dns.lower_ttl"
  title = "Lower the TTL"

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip DNS to the load balancer"
  from = "${{vm_ip}}"
  to = "${{lb_ip}}"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Every authoritative server answers the load balancer"
  timeout = "30s"
  [[phase.step]]
  id = "watch"
  kind = "wait"
  title = "Stay here (the test rolls back)"
  not_before = "2099-01-01T00:00:00Z"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
  title = "DNS back to the VM"
  [[rollback.step]]
  id = "verify-back"
  kind = "dns.verify"
  title = "Every authoritative server answers the VM again"
  timeout = "30s"
"#,
        zone = pair.zone(),
        primary = pair.primary(),
        key = pair.key_name(),
    )
}

/// The records start with a short TTL so the lead-time gate (the longer of the old TTL and
/// the lead time) is seconds, not minutes.
fn short_ttls(pair: &AuthPair) {
    let zone = pair.zone();
    pair.nsupdate(&format!(
        "update delete app.{zone} A\nupdate add app.{zone} 2 A {VM}\nupdate delete api.{zone} A\nupdate add api.{zone} 2 A {VM}\nsend\n"
    ));
    pair.wait_in_sync(Duration::from_secs(20));
}

fn run(sb: &Sandbox, pair: &AuthPair, path: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", path.to_str().unwrap(), "--headless"];
    if !extra.contains(&"--max-wait") {
        args.extend_from_slice(&["--max-wait", "30s"]);
    }
    args.extend_from_slice(extra);
    sb.cutover()
        .args(&args)
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .expect("run cutover")
}

/// The same run, in the background, its output collected.
fn spawn_run(sb: &Sandbox, pair: &AuthPair, path: &std::path::Path) -> std::process::Child {
    sb.cutover()
        .args(["run", path.to_str().unwrap(), "--headless", "--max-wait", "30s"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cutover")
}

fn both_answer(pair: &AuthPair, name: &str) -> (Vec<String>, Vec<String>) {
    (
        pair.query(pair.primary(), name, "A").values,
        pair.query(pair.secondary(), name, "A").values,
    )
}

#[test]
fn lower_gate_flip_verify_on_primary_and_secondary_then_revert() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "1s", "TEST_TSIG_SECRET"));
    let out = run(&sb, &pair, &rb, &[]);
    // It stops at the last gate, waiting (exit 3), with DNS flipped.
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("TTL lead time"),
        "the flip waited for the TTL lead time:\n{stdout}"
    );
    let zone = pair.zone();
    for name in [format!("app.{zone}"), format!("api.{zone}")] {
        let (p, s) = both_answer(&pair, &name);
        assert_eq!(p, vec![LB.to_string()], "primary, {name}");
        assert_eq!(s, vec![LB.to_string()], "secondary, {name}");
        assert_eq!(
            pair.query(pair.secondary(), &name, "A").ttl,
            Some(60),
            "the secondary has the new TTL"
        );
    }

    let run_id = sb.only_run_id();
    let (records, state) = sb.journal(&run_id).unwrap();
    // The TTL step recorded the old TTL and the new one.
    let Some(Intent::Dns(lowered)) = &state.step("lower-ttl").unwrap().intent else {
        panic!("lower-ttl has a DNS intent")
    };
    assert!(
        lowered
            .records
            .iter()
            .all(|r| r.old_ttl == Some(2) && r.ttl == Some(60)),
        "{lowered:?}"
    );
    // The flip was gated until the TTL step finished plus max(old TTL, lead time).
    let lowered_at = state.step("lower-ttl").unwrap().finished_at.unwrap();
    let flipped_at = state.step("flip").unwrap().started_at.unwrap();
    assert!(
        flipped_at >= lowered_at + chrono::Duration::seconds(2),
        "{lowered_at} → {flipped_at}"
    );
    // Verify heard both authoritative servers, and both agreed in the end.
    let verify = state.step("verify").unwrap();
    assert_eq!(verify.status, StepStatus::Succeeded);
    let servers: std::collections::BTreeSet<&str> = verify.answers.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(servers.len(), 2, "answers from both servers: {:?}", verify.answers);
    assert!(
        verify.answers.iter().all(|a| a.verdict == Verdict::Within),
        "{:?}",
        verify.answers
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, RunEvent::NameserverAnswered { step, answer } if step == "verify" && answer.address == pair.secondary().to_string())),
        "the secondary's answer is in the journal"
    );
    drop(records);

    // Roll back: DNS goes back to the VM on both servers.
    let out = sb
        .cutover()
        .args(["rollback", &run_id, "--reason", "error rate doubled"])
        .env("TEST_TSIG_SECRET", pair.secret_b64())
        .output()
        .unwrap();
    assert_exit(&out, 2);
    for name in [format!("app.{zone}"), format!("api.{zone}")] {
        let (p, s) = both_answer(&pair, &name);
        assert_eq!(
            (p, s),
            (vec![VM.to_string()], vec![VM.to_string()]),
            "{name} is back on the VM"
        );
    }
}

#[test]
fn the_flip_waits_for_the_lead_time_and_changes_nothing_before() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "24h", "TEST_TSIG_SECRET"));
    let out = run(&sb, &pair, &rb, &["--max-wait", "0s"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("flip is gated until"), "{stdout}");
    assert!(stdout.contains("TTL lead time"), "{stdout}");
    let status = sb.output(&["status", &sb.only_run_id()]);
    let status_text = text(&status.stdout);
    assert!(
        status_text.contains("TTL lead time") && status_text.contains("opens in 23h"),
        "{status_text}"
    );
    let zone = pair.zone();
    assert_eq!(
        both_answer(&pair, &format!("app.{zone}")).0,
        vec![VM.to_string()],
        "nothing flipped"
    );
}

#[test]
fn a_record_changed_behind_our_back_stops_the_flip_and_nothing_is_written() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let zone = pair.zone();
    // Someone moves app. by hand before the window.
    pair.set_a(&format!("app.{zone}"), "203.0.113.99", 2);
    pair.wait_in_sync(Duration::from_secs(20));
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "1s", "TEST_TSIG_SECRET"));
    // The preflight check catches it, naming the record, the value and the server.
    let out = run(&sb, &pair, &rb, &[]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("app.{zone} holds 203.0.113.99 at ns1.{zone}"))
            && stdout.contains("expected 192.0.2.10"),
        "{stdout}"
    );
    // Skipped anyway, the flip reads first and refuses with the value found.
    let out = run(&sb, &pair, &rb, &["--skip", "check=the test goes on regardless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("holds 203.0.113.99") && stdout.contains("nothing was written"),
        "the error shows the value found:\n{stdout}"
    );
    // All or nothing: api. was not moved either.
    assert_eq!(
        pair.query(pair.primary(), &format!("api.{zone}"), "A").values,
        vec![VM.to_string()]
    );
    assert_eq!(
        pair.query(pair.primary(), &format!("app.{zone}"), "A").values,
        vec!["203.0.113.99".to_string()]
    );
}

#[test]
fn a_wrong_tsig_key_says_so_and_writes_nothing() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "1s", "WRONG_TSIG_SECRET"));
    let out = sb
        .cutover()
        .args(["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"])
        .env("WRONG_TSIG_SECRET", "c2VjcmV0LXRoYXQtdGhlLXNlcnZlci1kb2VzLW5vdC1rbm93")
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("TSIG authentication failed"), "{stdout}");
    assert!(!stdout.contains("c2VjcmV0LXRoYXQt"), "the secret is never shown");
    let zone = pair.zone();
    assert_eq!(
        pair.query(pair.primary(), &format!("app.{zone}"), "A").ttl,
        Some(2),
        "nothing written"
    );
}

/// The TSIG key comes from a BIND key file made by `tsig-keygen` that holds several keys:
/// the one the runbook names is used, even when its name holds the word `secret` and
/// other keys come first.
#[test]
fn the_tsig_key_is_taken_by_name_from_a_key_file_with_several_keys() {
    let pair = AuthPair::start_with_key("ddns-secret");
    short_ttls(&pair);
    let keygen = |name: &str| {
        let out = std::process::Command::new(support::process::binary("tsig-keygen", "bind9", "BIND"))
            .args(["-a", "hmac-sha256", name])
            .output()
            .expect("run tsig-keygen");
        assert!(out.status.success(), "tsig-keygen failed: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let sb = Sandbox::new();
    let keys = sb.write(
        "keys.conf",
        &format!(
            "# keys for this zone\n{}/* the one the primary grants updates to */\n{}// an old one\n{}",
            keygen("other-key"),
            std::fs::read_to_string(pair.key_file()).unwrap(),
            keygen("ddns-secret-old"),
        ),
    );
    let rb = sb.write(
        "dns.toml",
        &runbook(&pair, "1s", "UNUSED").replace(
            "secret_env = \"UNUSED\"",
            &format!("secret_file = \"{}\"", keys.display()),
        ),
    );
    let out = sb
        .cutover()
        .args(["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"])
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(
        state.step("verify").unwrap().status,
        StepStatus::Succeeded,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        pair.query(pair.primary(), &format!("app.{}", pair.zone()), "A").values,
        vec![LB.to_string()],
        "the flip was signed with the right key"
    );
    assert!(
        !text(&out.stdout).contains(pair.secret_b64()),
        "the secret is never shown"
    );
}

/// The primary is killed (SIGKILL) mid-run, while the run waits at the TTL gate: the flip
/// fails with a message naming the server and its address, nothing is half-recorded, and
/// once the server is back `--retry flip` completes the run.
#[test]
fn a_primary_killed_mid_run_gives_a_clear_error_and_the_run_goes_on_when_it_is_back() {
    let mut pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "3s", "TEST_TSIG_SECRET"));
    let child = spawn_run(&sb, &pair, &rb);
    let zone = pair.zone().to_string();
    // The TTL step is done once both servers serve the lowered TTL (it polls every 100 ms).
    wait_for("the TTL lowering", Duration::from_secs(20), || {
        pair.servers()
            .iter()
            .all(|s| pair.query(*s, &format!("app.{zone}"), "A").ttl == Some(60))
    });
    std::thread::sleep(Duration::from_millis(500));
    pair.kill_primary();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&pair.primary().to_string()) && stdout.contains("did not answer"),
        "names the server that is down:\n{stdout}"
    );
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(state.step("lower-ttl").unwrap().status, StepStatus::Succeeded);
    assert_eq!(state.step("flip").unwrap().status, StepStatus::Failed, "{stdout}");
    assert_eq!(
        pair.query(pair.secondary(), &format!("app.{zone}"), "A").values,
        vec![VM.to_string()],
        "nothing was flipped"
    );

    pair.start_primary();
    let out = run(&sb, &pair, &rb, &["--retry", "flip"]);
    assert_exit(&out, 3);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(
        state.step("flip").unwrap().status,
        StepStatus::Succeeded,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state.step("verify").unwrap().status, StepStatus::Succeeded);
    assert_eq!(
        pair.query(pair.secondary(), &format!("app.{zone}"), "A").values,
        vec![LB.to_string()]
    );
}

/// The process dies between the flip's UPDATE and its outcome: the secondary is frozen
/// (SIGSTOP), so the flip's read-back after the write hangs; once the primary holds the new
/// value, cutover is killed with SIGKILL. The next session finds the flip in doubt, runs it
/// again (it reads first), sees the change already made, and records it as done.
#[test]
fn killed_between_intent_and_outcome_the_flip_resumes_to_what_the_servers_hold() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let rb = sb.write("dns.toml", &runbook(&pair, "1s", "TEST_TSIG_SECRET"));
    let mut child = spawn_run(&sb, &pair, &rb);
    let zone = pair.zone();
    let within = Duration::from_secs(30);
    wait_for("the TTL lowering", within, || {
        pair.query(pair.primary(), &format!("app.{zone}"), "A").ttl == Some(60)
    });
    wait_for("the secondary's transfer", within, || {
        pair.query(pair.secondary(), &format!("api.{zone}"), "A").ttl == Some(60)
    });
    // The TTL step is done once it has seen both servers serve the lowered TTL (it polls
    // every 100 ms): only then is the secondary frozen.
    std::thread::sleep(Duration::from_millis(500));
    pair.freeze_secondary();
    wait_for("the flip's UPDATE", within, || {
        pair.query(pair.primary(), &format!("app.{zone}"), "A").values == vec![LB.to_string()]
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    pair.thaw_secondary();

    let out = run(&sb, &pair, &rb, &[]);
    assert_exit(&out, 3);
    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    let flip = state.step("flip").unwrap();
    assert_eq!(flip.status, StepStatus::Succeeded, "{}", text(&out.stdout));
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, RunEvent::InDoubtResolved { step, .. } if step == "flip")),
        "the flip was in doubt after the kill:\n{}",
        text(&out.stdout)
    );
    assert!(
        flip.outcome
            .as_ref()
            .unwrap()
            .details
            .iter()
            .any(|d| d.contains("already held the new value")),
        "{:?}",
        flip.outcome
    );
    assert_eq!(state.step("verify").unwrap().status, StepStatus::Succeeded);
    assert_eq!(
        pair.query(pair.secondary(), &format!("api.{zone}"), "A").values,
        vec![LB.to_string()]
    );
}

#[test]
fn a_manual_flip_waits_until_every_server_shows_the_change() {
    let pair = AuthPair::start();
    short_ttls(&pair);
    let sb = Sandbox::new();
    let text_rb = runbook(&pair, "1s", "TEST_TSIG_SECRET")
        .replace("provider = \"rfc2136\"", "provider = \"manual\"")
        .replace(&format!("server = \"{}\"\n", pair.primary()), "")
        .replace(
            &format!(
                "tsig_key = {{ name = \"{}\", algorithm = \"hmac-sha256\", secret_env = \"TEST_TSIG_SECRET\" }}\n",
                pair.key_name()
            ),
            &format!(
                "nameservers = [\"ns1={}\", \"ns2={}\"]\n",
                pair.primary(),
                pair.secondary()
            ),
        )
        // The TTL is lowered by hand too; the test does it before the run.
        .replace(
            "  [[phase.step]]\n  id = \"lower-ttl\"\n  kind = \"dns.lower_ttl\"\n  title = \"Lower the TTL\"\n",
            "",
        );
    let rb = sb.write("dns.toml", &text_rb);
    let zone = pair.zone();
    let child = sb.spawn(&["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"]);
    // The operator makes the change in the "console" while the step waits.
    std::thread::sleep(Duration::from_millis(1500));
    pair.nsupdate(&format!(
        "update delete app.{zone} A\nupdate add app.{zone} 60 A {LB}\nupdate delete api.{zone} A\nupdate add api.{zone} 60 A {LB}\nsend\n"
    ));
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 3);
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(
        state.step("flip").unwrap().status,
        StepStatus::Succeeded,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state.step("verify").unwrap().status, StepStatus::Succeeded);
}

#[test]
fn powerdns_through_its_api_flips_and_refuses_a_changed_record() {
    let pdns = PowerDns::start();
    let zone = pdns.zone().to_string();
    let rb_text = format!(
        r#"[runbook]
name = "pdns-cutover"
hold = "0s"

[dns]
provider = "pdns"
zone = "{zone}"
records = ["app.{zone}", "api.{zone}"]
nameservers = ["pdns={dns}"]
settings = {{ api_url = "{api}" }}
credentials_env = {{ api_key = "TEST_PDNS_KEY" }}
ttl_lead_time = "1s"
poll_interval = "100ms"

[[phase]]
id = "window"
title = "The window"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  title = "Flip DNS"
  from = "{VM}"
  to = "{LB}"
  [[phase.step]]
  id = "verify"
  kind = "dns.verify"
  title = "Verify"
  timeout = "20s"
"#,
        dns = pdns.dns(),
        api = pdns.api_url(),
    );
    let sb = Sandbox::new();
    let rb = sb.write("pdns.toml", &rb_text);
    // Someone changed api. meanwhile: the flip reads first and refuses.
    pdns.set_a(&format!("api.{zone}"), "203.0.113.99", 300);
    let out = sb
        .cutover()
        .args(["run", rb.to_str().unwrap(), "--headless", "--max-wait", "30s"])
        .env("TEST_PDNS_KEY", pdns.api_key())
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("203.0.113.99") && stdout.contains("nothing was written"),
        "{stdout}"
    );
    assert!(!stdout.contains(pdns.api_key()), "the API key is never shown");
    assert_eq!(pdns.query(&format!("app.{zone}"), "A").values, vec![VM.to_string()]);

    // Put it back; the retry flips both and verify sees it over DNS.
    pdns.set_a(&format!("api.{zone}"), VM, 300);
    let out = sb
        .cutover()
        .args([
            "run",
            rb.to_str().unwrap(),
            "--headless",
            "--max-wait",
            "30s",
            "--retry",
            "flip",
        ])
        .env("TEST_PDNS_KEY", pdns.api_key())
        .output()
        .unwrap();
    assert_exit(&out, 0);
    for name in [format!("app.{zone}"), format!("api.{zone}")] {
        assert_eq!(pdns.query(&name, "A").values, vec![LB.to_string()], "{name}");
    }
}

/// Attempt 1 lowers the TTL (3600 → 60) and is rolled back by a runbook whose rollback does
/// not restore the TTL. After the root-cause analysis the runbook gains `dns.restore_ttl`;
/// attempt 2 finds the TTL already at 60, and must still remember 3600: for the lead-time
/// gate before its flip and for the TTL its rollback puts back.
#[test]
fn a_second_attempt_keeps_the_ttl_from_before_the_first_lowering() {
    ttl_memory_across_attempts(true);
}

/// The same, with attempt 2 rolled back before its own `dns.lower_ttl` ran: its rollback
/// still restores the TTL that attempt 1 lowered.
#[test]
fn a_second_attempt_rolled_back_before_lowering_restores_the_ttl_the_first_lowered() {
    ttl_memory_across_attempts(false);
}

fn ttl_memory_across_attempts(lower_again: bool) {
    let pair = AuthPair::start();
    let zone = pair.zone();
    let names = [format!("app.{zone}"), format!("api.{zone}")];
    for name in &names {
        pair.set_a(name, VM, 3600);
    }
    pair.wait_in_sync(Duration::from_secs(20));
    let sb = Sandbox::new();
    let first = format!(
        r#"[runbook]
name = "ttl-memory"
hold = "0s"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "{zone}"
records = ["{app}", "{api}"]
tsig_key = {{ name = "{key}", algorithm = "hmac-sha256", secret_env = "TEST_TSIG_SECRET" }}
cutover_ttl = "60s"
ttl_lead_time = "0s"
poll_interval = "100ms"
query_timeout = "1s"

[[phase]]
id = "p"
  [[phase.step]]
  id = "lower-ttl"
  kind = "dns.lower_ttl"
  [[phase.step]]
  id = "flip"
  kind = "dns.flip"
  from = "{VM}"
  to = "{LB}"

[rollback]
  [[rollback.step]]
  id = "dns-back"
  kind = "dns.revert"
"#,
        primary = pair.primary(),
        app = names[0],
        api = names[1],
        key = pair.key_name(),
    );
    let mut second = format!("{first}  [[rollback.step]]\n  id = \"ttl-back\"\n  kind = \"dns.restore_ttl\"\n");
    if !lower_again {
        // Attempt 2 stops for an approval before it lowers anything.
        second = second.replace(
            "kind = \"dns.lower_ttl\"\n",
            "kind = \"dns.lower_ttl\"\n  approve = true\n",
        );
    }
    let rb = sb.write("ttl.toml", &first);
    let tool = |args: &[&str]| {
        sb.cutover()
            .args(args)
            .env("TEST_TSIG_SECRET", pair.secret_b64())
            .output()
            .expect("run cutover")
    };
    let ttls = || {
        names
            .iter()
            .map(|n| pair.query(pair.primary(), n, "A").ttl)
            .collect::<Vec<_>>()
    };
    // Attempt 1: lowered, then held at the flip's gate (an hour: the old TTL) and rolled back.
    assert_exit(&run(&sb, &pair, &rb, &["--max-wait", "0s"]), 3);
    assert_eq!(ttls(), vec![Some(60), Some(60)]);
    let run_id = sb.only_run_id();
    assert_exit(
        &tool(&["rollback", &run_id, "--reason", "the database was not migrated"]),
        2,
    );
    assert_eq!(ttls(), vec![Some(60), Some(60)], "this rollback leaves the TTL low");
    let rca = sb.write(
        "rca.md",
        "The migration job was not part of the runbook; it is now a step before the flip.",
    );
    assert_exit(&tool(&["rca", &run_id, "--file", rca.to_str().unwrap()]), 0);

    // Attempt 2, with the TTL restored in the rollback from now on.
    std::fs::write(&rb, &second).unwrap();
    let out = run(
        &sb,
        &pair,
        &rb,
        &["--reload-runbook", "--new-attempt", "--max-wait", "0s"],
    );
    assert_exit(&out, 3);
    let (_, state) = sb.journal(&run_id).unwrap();
    assert_eq!(state.attempt, 2);
    if !lower_again {
        assert!(
            state.step("lower-ttl").unwrap().intent.is_none(),
            "not lowered in attempt 2"
        );
        drop(state);
        assert_exit(&tool(&["rollback", &run_id, "--reason", "rehearsing the rollback"]), 2);
        assert_eq!(
            ttls(),
            vec![Some(3600), Some(3600)],
            "the TTL from before attempt 1 is back"
        );
        return;
    }
    let Some(Intent::Dns(lowered)) = &state.step("lower-ttl").unwrap().intent else {
        panic!("lower-ttl has a DNS intent")
    };
    let old: Vec<Option<u32>> = lowered.records.iter().map(|r| r.old_ttl).collect();
    assert_eq!(
        old,
        vec![Some(3600), Some(3600)],
        "attempt 2 remembers the TTL before any lowering"
    );
    let gate = cutover::engine::situation(&state, chrono::Utc::now());
    assert!(
        matches!(
            &gate,
            cutover::engine::Situation::Gate {
                gate: cutover::engine::TimeGate::TtlLead { old_ttl_secs: 3600, .. },
                ..
            }
        ),
        "the flip waits out the original TTL: {gate:?}\n{}",
        text(&out.stdout)
    );
    drop(state);

    // Its rollback puts the original TTL back.
    assert_exit(&tool(&["rollback", &run_id, "--reason", "rehearsing the rollback"]), 2);
    assert_eq!(ttls(), vec![Some(3600), Some(3600)]);
    pair.wait_in_sync(Duration::from_secs(20));
    assert_eq!(
        pair.query(pair.secondary(), &names[1], "A").ttl,
        Some(3600),
        "the secondary too"
    );
}
