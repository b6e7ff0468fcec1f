//! Route 53's API, as implemented by moto (`moto[server]` from PyPI): a real third-party
//! implementation of the REST/XML API that the route53 provider talks to. The server runs
//! in its own process on loopback, started from the test, stopped by PID when the handle
//! drops, and it dies with the test process (PR_SET_PDEATHSIG).
//!
//! The harness creates hosted zones, seeds record sets and reads them back through the
//! API with its own plain HTTP/1.1 over a `TcpStream` (never with the code under test), so
//! a test asserts what the API holds independently of the product. moto checks no
//! signatures; it picks the service from the credential scope of the Authorization header,
//! so the harness sends one that names `route53`. A missing moto fails the test with how
//! to install it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::process::{free_port, spawn, stop};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
/// Any credentials do: moto reads the scope (service, region) and checks no signature.
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDMOTOTEST/20250101/us-east-1/route53/aws4_request, \
                    SignedHeaders=host, Signature=0000";

/// One record set as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSet {
    /// Fully qualified, with the trailing dot, as the API returns it.
    pub name: String,
    pub rtype: String,
    pub ttl: u32,
    /// In the order the API returns them.
    pub values: Vec<String>,
}

impl RecordSet {
    /// The values, sorted (for order-free comparisons).
    pub fn sorted(&self) -> Vec<String> {
        let mut v = self.values.clone();
        v.sort();
        v
    }
}

/// Fails the test unless `python3 -c 'import moto.server'` works, saying how to install it.
fn require_moto() {
    let hint = "these tests run a real implementation of Route 53's API (moto). Install it with \
                `python3 -m pip install 'moto[server]'` (or run scripts/install-test-deps.sh)";
    match Command::new("python3").args(["-c", "import moto.server"]).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "moto's server cannot be imported ({}); {hint}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
        ),
        Err(e) => panic!("python3 cannot be run ({e}); {hint}"),
    }
}

pub struct Moto {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Moto {
    /// Starts moto's server on a free loopback port and waits until it answers the Route 53
    /// API.
    pub fn start() -> Self {
        require_moto();
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port(&["127.0.0.1"]);
            let mut c = Command::new("python3");
            c.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path())
                // The server's own output unbuffered, so its log is complete if it fails.
                .env("PYTHONUNBUFFERED", "1");
            let child = spawn(c, &dir.path().join("moto.log"));
            let mut server = Moto { dir, port, child };
            let up = Instant::now();
            while up.elapsed() < START_TIMEOUT {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if server
                    .try_request("GET", "/2013-04-01/hostedzone", "")
                    .is_ok_and(|(s, _)| s == 200)
                {
                    return server;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last_log = server.log();
        }
        panic!("moto's server did not come up on loopback:\n{last_log}");
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// The API's base URL, e.g. `http://127.0.0.1:5000` (the provider's `endpoint`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// One HTTP/1.1 request; returns the status and the body.
    fn try_request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {AUTH}\r\n\
             Content-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = Vec::new();
        s.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            !head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
            "moto answered chunked; the harness reads whole bodies only:\n{head}"
        );
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok((status, body.to_string()))
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("moto {method} {path}: {e}\n{}", self.log()))
    }

    /// Creates a public hosted zone (`shop.test.`) and returns its id without the
    /// `/hostedzone/` prefix.
    pub fn create_zone(&self, name: &str) -> String {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="{XMLNS}"><Name>{}</Name><CallerReference>cutover-test-{}</CallerReference></CreateHostedZoneRequest>"#,
            escape(name),
            fastrand::u64(..)
        );
        let (status, answer) = self.request("POST", "/2013-04-01/hostedzone", &body);
        assert_eq!(status, 201, "CreateHostedZone {name}: {answer}");
        let id = tag(&answer, "Id").unwrap_or_else(|| panic!("CreateHostedZone {name} returned no Id: {answer}"));
        id.trim_start_matches("/hostedzone/").to_string()
    }

    /// Sends one ChangeResourceRecordSets batch of `(action, record set)` changes; returns
    /// the status and the body (the test asserts on refusals).
    pub fn try_change(&self, zone_id: &str, changes: &[(&str, &RecordSet)]) -> (u16, String) {
        let mut xml = String::new();
        for (action, rr) in changes {
            let records: String = rr
                .values
                .iter()
                .map(|v| format!("<ResourceRecord><Value>{}</Value></ResourceRecord>", escape(v)))
                .collect();
            xml.push_str(&format!(
                "<Change><Action>{action}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type>\
                 <TTL>{}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change>",
                escape(&rr.name),
                rr.rtype,
                rr.ttl
            ));
        }
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{XMLNS}"><ChangeBatch><Comment>cutover test harness</Comment><Changes>{xml}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        self.request("POST", &format!("/2013-04-01/hostedzone/{zone_id}/rrset"), &body)
    }

    /// Sends a ChangeResourceRecordSets request body as it is (for shapes `try_change` does
    /// not write, e.g. an alias record set); fails the test unless the API takes it.
    pub fn raw_change(&self, zone_id: &str, body: &str) {
        let (status, answer) = self.request("POST", &format!("/2013-04-01/hostedzone/{zone_id}/rrset"), body);
        assert_eq!(status, 200, "ChangeResourceRecordSets: {answer}");
    }

    /// Creates or replaces one record set (UPSERT), as an operator in the console would.
    pub fn upsert(&self, zone_id: &str, name: &str, rtype: &str, ttl: u32, values: &[&str]) {
        let rr = RecordSet {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let (status, body) = self.try_change(zone_id, &[("UPSERT", &rr)]);
        assert_eq!(status, 200, "UPSERT {name} {rtype} {values:?}: {body}");
    }

    /// Deletes one record set as it is now (Route 53 wants the exact TTL and values).
    pub fn delete(&self, zone_id: &str, name: &str, rtype: &str) {
        let rr = self
            .rrset(zone_id, name, rtype)
            .unwrap_or_else(|| panic!("{name} {rtype} is not in zone {zone_id}"));
        let (status, body) = self.try_change(zone_id, &[("DELETE", &rr)]);
        assert_eq!(status, 200, "DELETE {name} {rtype}: {body}");
    }

    /// Every record set of the zone (ListResourceRecordSets, following its pages).
    pub fn rrsets(&self, zone_id: &str) -> Vec<RecordSet> {
        let mut all = Vec::new();
        let mut next: Option<(String, String)> = None;
        loop {
            let mut path = format!("/2013-04-01/hostedzone/{zone_id}/rrset");
            if let Some((name, rtype)) = &next {
                path.push_str(&format!("?name={name}&type={rtype}"));
            }
            let (status, body) = self.request("GET", &path, "");
            assert_eq!(status, 200, "ListResourceRecordSets {zone_id}: {body}");
            for chunk in body.split("<ResourceRecordSet>").skip(1) {
                let chunk = chunk.split("</ResourceRecordSet>").next().unwrap_or("");
                let field = |t: &str| tag(chunk, t).unwrap_or_else(|| panic!("a record set without {t}: {chunk}"));
                all.push(RecordSet {
                    name: field("Name"),
                    rtype: field("Type"),
                    ttl: tag(chunk, "TTL").and_then(|t| t.parse().ok()).unwrap_or(0),
                    values: tags(chunk, "Value"),
                });
            }
            if tag(&body, "IsTruncated").as_deref() != Some("true") {
                return all;
            }
            next = Some((
                tag(&body, "NextRecordName").expect("NextRecordName"),
                tag(&body, "NextRecordType").expect("NextRecordType"),
            ));
        }
    }

    /// One record set (name with or without the trailing dot), or `None`.
    pub fn rrset(&self, zone_id: &str, name: &str, rtype: &str) -> Option<RecordSet> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.rrsets(zone_id)
            .into_iter()
            .find(|r| r.rtype == rtype && r.name.trim_end_matches('.').to_ascii_lowercase() == name)
    }

    /// The sorted values of one record set; empty when there is none.
    pub fn values(&self, zone_id: &str, name: &str, rtype: &str) -> Vec<String> {
        self.rrset(zone_id, name, rtype).map(|r| r.sorted()).unwrap_or_default()
    }

    /// The record sets at `name` (any type) as `TYPE values...`, sorted: what a test shows
    /// when an assertion fails, and what it compares to say nothing else changed.
    pub fn at(&self, zone_id: &str, name: &str) -> Vec<String> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut v: Vec<String> = self
            .rrsets(zone_id)
            .into_iter()
            .filter(|r| r.name.trim_end_matches('.').to_ascii_lowercase() == name)
            .map(|r| format!("{} {} {}", r.rtype, r.ttl, r.sorted().join(" ")))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The text of the first `<name>...</name>` in `xml`, unescaped.
fn tag(xml: &str, name: &str) -> Option<String> {
    tags(xml, name).into_iter().next()
}

/// The text of every `<name>...</name>` in `xml`, unescaped, in order.
fn tags(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(text, _)| unescape(text)))
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
