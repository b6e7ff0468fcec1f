//! The in-process authoritative DNS server of `cutover demo` (`cutover_sandbox::dns`), held to
//! what BIND does: first through the real tools from Debian (`dig`, `nsupdate`), then through
//! the product's own rfc2136 provider driving a whole flip, verify and revert against it.

use crate::support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cutover::engine::{RunEvent, StepStatus, Verdict};
use cutover_sandbox::dns::{DnsSandboxConfig, SandboxDns, ZoneRecord};
use support::dns::wait_for;
use support::{Sandbox, assert_exit, text};

const ZONE: &str = "shop.demo.";
const KEY: &str = "cutover-demo.";
const VM: &str = "192.0.2.10";
const LB: &str = "198.51.100.7";

/// A sandbox DNS on its own runtime. The server is dropped (stopped) before the runtime.
struct Dns {
    dns: SandboxDns,
    secret: Vec<u8>,
    _runtime: tokio::runtime::Runtime,
}

impl Dns {
    fn start(records: Vec<ZoneRecord>, transfer_delay: Duration) -> Dns {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let secret: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        let dns = runtime
            .block_on(SandboxDns::start(DnsSandboxConfig {
                zone: ZONE.to_string(),
                tsig_key_name: KEY.to_string(),
                tsig_secret: secret.clone(),
                records,
                servers: 2,
                transfer_delay,
            }))
            .expect("start the sandbox DNS");
        Dns {
            dns,
            secret,
            _runtime: runtime,
        }
    }

    fn primary(&self) -> SocketAddr {
        self.dns.addrs()[0]
    }

    fn secondary(&self) -> SocketAddr {
        self.dns.addrs()[1]
    }

    fn secret_b64(&self) -> String {
        data_encoding::BASE64.encode(&self.secret)
    }

    /// `-y` for `dig` and `nsupdate`.
    fn key_arg(&self) -> String {
        format!("hmac-sha256:{}:{}", KEY.trim_end_matches('.'), self.secret_b64())
    }

    fn values(&self, name: &str) -> Option<(u32, Vec<String>)> {
        self.dns.lookup(name, "A")
    }
}

fn zone_records(ttl: u32) -> Vec<ZoneRecord> {
    vec![
        ZoneRecord::new("app.shop.demo.", "A", ttl, VM),
        ZoneRecord::new("api.shop.demo.", "A", ttl, VM),
        ZoneRecord::new("www.shop.demo.", "CNAME", 600, "app.shop.demo."),
        ZoneRecord::new("_info.deep.shop.demo.", "TXT", 30, "demo zone"),
    ]
}

fn tool(name: &str) -> std::path::PathBuf {
    support::process::binary(name, "bind9-dnsutils bind9-utils", "DNS client")
}

/// What `dig` printed, section by section.
#[derive(Debug, Default)]
struct Dig {
    rcode: String,
    flags: Vec<String>,
    /// (name, ttl, type, value)
    answer: Vec<(String, u32, String, String)>,
    authority: Vec<(String, u32, String, String)>,
    raw: String,
}

fn dig(server: SocketAddr, extra: &[&str], name: &str, rtype: &str) -> Dig {
    let out = Command::new(tool("dig"))
        .args([
            format!("@{}", server.ip()).as_str(),
            "-p",
            &server.port().to_string(),
            "+time=2",
            "+tries=1",
            "+noall",
            "+comments",
            "+answer",
            "+authority",
        ])
        .args(extra)
        .args([name, rtype])
        .output()
        .expect("run dig");
    let raw = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "dig {name} {rtype} failed:\n{raw}");
    let mut dig = Dig {
        raw: raw.clone(),
        ..Dig::default()
    };
    let mut section = "";
    for line in raw.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            dig.rcode = rest.split(',').next().unwrap_or("").trim().to_string();
        } else if let Some(flags) = line.strip_prefix(";; flags:") {
            dig.flags = flags
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect();
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(";;") && line.contains("SECTION") {
            section = "";
        } else if !line.starts_with(';') && !line.trim().is_empty() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 5 {
                let rr = (
                    f[0].to_string(),
                    f[1].parse().unwrap_or(u32::MAX),
                    f[3].to_string(),
                    f[4..].join(" "),
                );
                match section {
                    "answer" => dig.answer.push(rr),
                    "authority" => dig.authority.push(rr),
                    _ => {}
                }
            }
        }
    }
    dig
}

fn nsupdate(args: &[&str], script: &str) -> Output {
    let mut child = Command::new(tool("nsupdate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nsupdate");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().expect("nsupdate output")
}

fn script(server: SocketAddr, body: &str) -> String {
    format!("server {} {}\nzone {ZONE}\n{body}send\n", server.ip(), server.port())
}

fn both_out(out: &Output) -> String {
    format!("--- stdout\n{}\n--- stderr\n{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn dig_gets_authoritative_answers_over_udp_and_tcp() {
    let dns = Dns::start(zone_records(300), Duration::ZERO);
    for server in dns.dns.addrs() {
        for transport in [&["+notcp"][..], &["+tcp"][..]] {
            // Recursion desired is ignored: the answer is the zone's, AA set, RA not.
            let mut args = vec!["+rec"];
            args.extend_from_slice(transport);
            let d = dig(server, &args, "app.shop.demo", "A");
            assert_eq!(d.rcode, "NOERROR", "{}", d.raw);
            assert!(d.flags.contains(&"aa".to_string()), "{}", d.raw);
            assert!(!d.flags.contains(&"ra".to_string()), "{}", d.raw);
            assert_eq!(
                d.answer,
                vec![("app.shop.demo.".to_string(), 300, "A".to_string(), VM.to_string())],
                "{}",
                d.raw
            );
        }
    }
    let p = dns.primary();

    // NXDOMAIN and NODATA, both with the SOA for negative caching.
    let nx = dig(p, &["+norec"], "nothere.shop.demo", "A");
    assert_eq!(nx.rcode, "NXDOMAIN", "{}", nx.raw);
    assert!(nx.flags.contains(&"aa".to_string()), "{}", nx.raw);
    assert_eq!(nx.authority.len(), 1, "{}", nx.raw);
    assert_eq!((nx.authority[0].0.as_str(), nx.authority[0].2.as_str()), (ZONE, "SOA"));
    let nodata = dig(p, &["+norec"], "app.shop.demo", "AAAA");
    assert_eq!(nodata.rcode, "NOERROR", "{}", nodata.raw);
    assert!(nodata.answer.is_empty(), "{}", nodata.raw);
    assert_eq!(nodata.authority[0].2, "SOA", "{}", nodata.raw);
    // A name with only names below it exists (empty non-terminal).
    let ent = dig(p, &["+norec"], "deep.shop.demo", "TXT");
    assert_eq!(ent.rcode, "NOERROR", "{}", ent.raw);

    // The apex: SOA, and NS (made by the server: one per server).
    let soa = dig(p, &["+norec"], ZONE, "SOA");
    assert_eq!(soa.answer.len(), 1, "{}", soa.raw);
    assert!(
        soa.answer[0].3.starts_with("ns1.shop.demo. hostmaster.shop.demo. 1 "),
        "{}",
        soa.raw
    );
    let ns = dig(p, &["+norec"], ZONE, "NS");
    let mut hosts: Vec<&str> = ns.answer.iter().map(|r| r.3.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, ["ns1.shop.demo.", "ns2.shop.demo."], "{}", ns.raw);

    // A CNAME is followed inside the zone; TXT comes back as given.
    let www = dig(p, &["+norec"], "www.shop.demo", "A");
    let types: Vec<&str> = www.answer.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(types, ["CNAME", "A"], "{}", www.raw);
    let txt = dig(p, &["+norec"], "_info.deep.shop.demo", "TXT");
    assert_eq!(txt.answer[0].3, "\"demo zone\"", "{}", txt.raw);

    // Outside the zone: REFUSED, not authoritative.
    let other = dig(p, &["+norec"], "example.com", "A");
    assert_eq!(other.rcode, "REFUSED", "{}", other.raw);
    assert!(!other.flags.contains(&"aa".to_string()), "{}", other.raw);

    // A TSIG-signed query gets a signed answer that dig verifies.
    let signed = dig(p, &["+norec", "-y", &dns.key_arg()], "app.shop.demo", "A");
    assert_eq!(signed.rcode, "NOERROR", "{}", signed.raw);
    assert!(
        !signed.raw.to_ascii_lowercase().contains("tsig"),
        "dig found fault with the TSIG:\n{}",
        signed.raw
    );
}

#[test]
fn nsupdate_with_the_key_changes_a_record_and_the_secondary_follows() {
    let delay = Duration::from_millis(1500);
    let dns = Dns::start(zone_records(300), delay);
    let mut changes = dns.dns.changes();
    assert_eq!(*changes.borrow_and_update(), 1);

    // Over UDP: delete the set and add the new value with a new TTL.
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(
            dns.primary(),
            &format!("update delete app.shop.demo. A\nupdate add app.shop.demo. 120 A {LB}\n"),
        ),
    );
    assert!(out.status.success(), "nsupdate failed\n{}", both_out(&out));
    assert_eq!(dns.values("app.shop.demo."), Some((120, vec![LB.to_string()])));
    assert!(changes.has_changed().unwrap(), "the serial watch saw the change");
    assert_eq!(*changes.borrow_and_update(), 2);
    let d = dig(dns.primary(), &["+norec"], "app.shop.demo", "A");
    assert_eq!(d.answer[0].1, 120, "{}", d.raw);
    assert_eq!(d.answer[0].3, LB, "{}", d.raw);

    // The secondary still serves the old zone, then the new one after the transfer delay.
    let s = dig(dns.secondary(), &["+norec"], "app.shop.demo", "A");
    assert_eq!(s.answer[0].3, VM, "the secondary lags:\n{}", s.raw);
    let waited = wait_for("the secondary to follow", Duration::from_secs(10), || {
        dig(dns.secondary(), &["+norec"], "app.shop.demo", "A").answer[0].3 == LB
    });
    assert!(waited >= delay / 2, "the secondary followed after {waited:?}");
    let soa = dig(dns.secondary(), &["+norec"], ZONE, "SOA");
    assert!(
        soa.answer[0].3.contains(" 2 "),
        "serial 2 on the secondary:\n{}",
        soa.raw
    );

    // Over TCP (-v): re-adding the same value with another TTL changes the TTL (dns.lower_ttl).
    let out = nsupdate(
        &["-v", "-y", &dns.key_arg()],
        &script(dns.primary(), &format!("update add app.shop.demo. 5 A {LB}\n")),
    );
    assert!(out.status.success(), "nsupdate -v failed\n{}", both_out(&out));
    assert_eq!(dns.values("app.shop.demo."), Some((5, vec![LB.to_string()])));
    assert_eq!(*changes.borrow_and_update(), 3);

    // Updates go to the primary: the secondary refuses them, like BIND without forwarding.
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(dns.secondary(), "update delete api.shop.demo. A\n"),
    );
    assert!(!out.status.success(), "{}", both_out(&out));
    assert!(text(&out.stderr).contains("REFUSED") || text(&out.stdout).contains("REFUSED"));
    assert!(dns.values("api.shop.demo.").is_some());
    let log = dns.dns.updates();
    assert_eq!(log.iter().filter(|l| l.starts_with("accepted")).count(), 2, "{log:#?}");
}

#[test]
fn nsupdate_with_a_wrong_key_or_none_changes_nothing() {
    let dns = Dns::start(zone_records(300), Duration::ZERO);
    let body = format!("update delete app.shop.demo. A\nupdate add app.shop.demo. 60 A {LB}\n");
    let before = dns.values("app.shop.demo.");

    // The right key name, the wrong secret: NOTAUTH with TSIG error BADSIG.
    let wrong = format!(
        "hmac-sha256:{}:{}",
        KEY.trim_end_matches('.'),
        data_encoding::BASE64.encode(&[7u8; 32])
    );
    let out = nsupdate(&["-y", &wrong], &script(dns.primary(), &body));
    assert!(!out.status.success(), "a wrong secret was accepted\n{}", both_out(&out));
    assert!(
        both_out(&out).contains("BADSIG") || both_out(&out).contains("NOTAUTH"),
        "{}",
        both_out(&out)
    );

    // A key the server does not know: BADKEY.
    let unknown = format!("hmac-sha256:somebody-else:{}", dns.secret_b64());
    let out = nsupdate(&["-y", &unknown], &script(dns.primary(), &body));
    assert!(!out.status.success(), "an unknown key was accepted\n{}", both_out(&out));

    // No key at all: REFUSED.
    let out = nsupdate(&[], &script(dns.primary(), &body));
    assert!(
        !out.status.success(),
        "an unsigned update was accepted\n{}",
        both_out(&out)
    );
    assert!(both_out(&out).contains("REFUSED"), "{}", both_out(&out));

    assert_eq!(dns.values("app.shop.demo."), before, "nothing changed");
    assert_eq!(*dns.dns.changes().borrow(), 1, "the serial did not move");
    let log = dns.dns.updates();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(log[0].contains("BADSIG"), "{log:#?}");
    assert!(log[1].contains("BADKEY"), "{log:#?}");
    assert!(log[2].contains("REFUSED") && log[2].contains("unsigned"), "{log:#?}");
}

#[test]
fn a_prerequisite_that_does_not_hold_changes_nothing() {
    let dns = Dns::start(zone_records(300), Duration::ZERO);
    // Both records are to move together, but app. does not hold the expected old value.
    let body = format!(
        "prereq yxrrset app.shop.demo. A 203.0.113.99\n\
         update delete app.shop.demo. A\nupdate add app.shop.demo. 60 A {LB}\n\
         update delete api.shop.demo. A\nupdate add api.shop.demo. 60 A {LB}\n"
    );
    let out = nsupdate(&["-y", &dns.key_arg()], &script(dns.primary(), &body));
    assert!(!out.status.success(), "{}", both_out(&out));
    assert!(both_out(&out).contains("NXRRSET"), "{}", both_out(&out));
    assert_eq!(dns.values("app.shop.demo."), Some((300, vec![VM.to_string()])));
    assert_eq!(
        dns.values("api.shop.demo."),
        Some((300, vec![VM.to_string()])),
        "all or nothing"
    );

    // Name-level prerequisites as BIND answers them.
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(
            dns.primary(),
            "prereq nxdomain app.shop.demo.\nupdate delete api.shop.demo. A\n",
        ),
    );
    assert!(both_out(&out).contains("YXDOMAIN"), "{}", both_out(&out));
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(
            dns.primary(),
            "prereq yxdomain nothere.shop.demo.\nupdate delete api.shop.demo. A\n",
        ),
    );
    assert!(both_out(&out).contains("NXDOMAIN"), "{}", both_out(&out));
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(
            dns.primary(),
            "prereq nxrrset app.shop.demo. A\nupdate delete api.shop.demo. A\n",
        ),
    );
    assert!(both_out(&out).contains("YXRRSET"), "{}", both_out(&out));
    assert!(dns.values("api.shop.demo.").is_some(), "nothing changed");

    // The same update with the value that holds goes through.
    let out = nsupdate(
        &["-y", &dns.key_arg()],
        &script(dns.primary(), &body.replace("203.0.113.99", VM)),
    );
    assert!(out.status.success(), "{}", both_out(&out));
    assert_eq!(dns.values("app.shop.demo."), Some((60, vec![LB.to_string()])));
    assert_eq!(dns.values("api.shop.demo."), Some((60, vec![LB.to_string()])));
}

/// check → lower_ttl → (gate) → flip → verify on both servers → revert → verify, with the
/// TSIG secret in a file.
fn runbook(dns: &Dns, secret_file: &std::path::Path) -> String {
    format!(
        r#"[runbook]
name = "sandbox-dns"
hold = "0s"

[vars]
vm_ip = "{VM}"
lb_ip = "{LB}"

[dns]
provider = "rfc2136"
server = "{primary}"
zone = "shop.demo"
records = ["app.shop.demo", "api.shop.demo"]
tsig_key = {{ name = "cutover-demo", algorithm = "hmac-sha256", secret_file = "{secret}" }}
nameservers = ["ns1.shop.demo={primary}", "ns2.shop.demo={secondary}"]
cutover_ttl = "1s"
ttl_lead_time = "1s"
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
  title = "Both servers answer the load balancer"
  timeout = "30s"
  [[phase.step]]
  id = "revert"
  kind = "dns.revert"
  title = "DNS back to the VM"
  [[phase.step]]
  id = "verify-back"
  kind = "dns.verify"
  title = "Both servers answer the VM again"
  expect = "${{vm_ip}}"
  timeout = "30s"
"#,
        primary = dns.primary(),
        secondary = dns.secondary(),
        secret = secret_file.display(),
    )
}

#[test]
fn the_product_flips_verifies_and_reverts_against_the_sandbox() {
    let dns = Dns::start(zone_records(2), Duration::from_millis(1500));
    let sb = Sandbox::new();
    let secret = sb.write("tsig.key", &format!("{}\n", dns.secret_b64()));
    let rb = sb.write("dns.toml", &runbook(&dns, &secret));
    let out = sb
        .cutover()
        .args([
            "run",
            rb.to_str().unwrap(),
            "--headless",
            "--new-run",
            "--max-wait",
            "30s",
        ])
        .output()
        .expect("run cutover");
    assert_exit(&out, 0);
    for name in ["app.shop.demo.", "api.shop.demo."] {
        assert_eq!(
            dns.values(name),
            Some((1, vec![VM.to_string()])),
            "{name} is back on the VM"
        );
    }
    // lower_ttl, flip and revert each changed the zone: serial 1 → 4.
    assert_eq!(*dns.dns.changes().borrow(), 4, "{:#?}", dns.dns.updates());
    let log = dns.dns.updates();
    assert!(log.iter().all(|l| l.starts_with("accepted")), "{log:#?}");

    let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
    let verify = state.step("verify").unwrap();
    assert_eq!(verify.status, StepStatus::Succeeded);
    let servers: std::collections::BTreeSet<&str> = verify.answers.iter().map(|a| a.address.as_str()).collect();
    assert_eq!(servers.len(), 2, "answers from both servers: {:?}", verify.answers);
    assert!(
        verify.answers.iter().all(|a| a.verdict == Verdict::Within),
        "{:?}",
        verify.answers
    );
    // The secondary lagged behind the primary for a moment, and the verify saw it.
    let secondary = dns.secondary().to_string();
    let lagged = records.iter().any(|r| {
        matches!(&r.event, RunEvent::NameserverAnswered { step, answer }
            if step == "verify" && answer.address == secondary && answer.values == vec![VM.to_string()])
    });
    assert!(lagged, "the verify saw the secondary still on the VM before it agreed");
    assert_eq!(state.step("verify-back").unwrap().status, StepStatus::Succeeded);
}

#[test]
fn a_wrong_tsig_secret_fails_the_flip_saying_so() {
    let dns = Dns::start(zone_records(2), Duration::ZERO);
    let sb = Sandbox::new();
    let secret = sb.write(
        "tsig.key",
        &data_encoding::BASE64.encode(b"a-secret-the-server-does-not-know"),
    );
    // Without the TTL step, the first write is the flip itself.
    let lower = "  [[phase.step]]\n  id = \"lower-ttl\"\n  kind = \"dns.lower_ttl\"\n  title = \"Lower the TTL\"\n";
    let text_rb = runbook(&dns, &secret);
    assert!(text_rb.contains(lower));
    let rb = sb.write("dns.toml", &text_rb.replace(lower, ""));
    let out = sb
        .cutover()
        .args([
            "run",
            rb.to_str().unwrap(),
            "--headless",
            "--new-run",
            "--max-wait",
            "30s",
        ])
        .output()
        .expect("run cutover");
    let stdout = text(&out.stdout);
    assert_ne!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("TSIG authentication failed"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
    assert_eq!(state.step("flip").unwrap().status, StepStatus::Failed);
    assert_eq!(
        dns.values("app.shop.demo."),
        Some((2, vec![VM.to_string()])),
        "nothing written"
    );
    assert!(
        dns.dns.updates().iter().all(|l| l.contains("BADSIG")),
        "{:#?}",
        dns.dns.updates()
    );
}
