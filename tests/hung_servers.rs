//! Servers that accept a connection and never answer (or swallow a DNS query): every step
//! that calls one ends within its timeout with a message naming the server, and a rollback
//! while a step hangs goes ahead. Run by the real binary; the cancellation during a hang is
//! also driven in-process through the library's driver.

mod support;

use std::time::{Duration, Instant};

use support::hung::{SilentUdp, closed_udp_port};
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
