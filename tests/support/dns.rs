//! Real authoritative DNS servers on loopback for the DNS tests and the DNS benchmark.
//!
//! * [`AuthPair`]: BIND 9 as the primary on `127.0.0.1:PORT`, taking TSIG-signed dynamic
//!   updates, and Knot as its secondary on `127.0.0.2:PORT` (same port), kept in sync by
//!   NOTIFY and zone transfers signed with the same key. The zone's NS records name both
//!   (`ns1` → 127.0.0.1, `ns2` → 127.0.0.2), so nameserver discovery finds both.
//! * [`PowerDns`]: PowerDNS with its sqlite backend and HTTP API.
//!
//! Every server runs in a fresh temporary directory, is started from the test, is stopped
//! by PID when the handle drops, and dies with the test process (PR_SET_PDEATHSIG). The
//! harness inspects the servers with `dig` and `nsupdate` from bind9-dnsutils, never with
//! the code under test. A missing binary fails the test with the package to install.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::process::{free_port, spawn, stop};
use std::time::{Duration, Instant};

pub const ZONE: &str = "example.test.";
const KEY_NAME: &str = "cutover-key";
const START_TIMEOUT: Duration = Duration::from_secs(20);

fn binary(name: &str, package: &str) -> PathBuf {
    super::process::binary(name, package, "DNS server")
}

/// What one server answered (from `dig +norec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rcode: String,
    pub authoritative: bool,
    /// The record values, sorted.
    pub values: Vec<String>,
    /// The TTL of the answer's records, if there were any.
    pub ttl: Option<u32>,
}

fn random_secret() -> String {
    let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    data_encoding::BASE64.encode(&bytes)
}

/// Queries one server with recursion off through `dig`. `None` when it did not answer.
pub fn try_query(server: SocketAddr, name: &str, rtype: &str) -> Option<Answer> {
    let dig = binary("dig", "bind9-dnsutils");
    let out = Command::new(dig)
        .args([
            &format!("@{}", server.ip()),
            "-p",
            &server.port().to_string(),
            "+norec",
            "+time=1",
            "+tries=1",
            "+noall",
            "+comments",
            "+answer",
            name,
            rtype,
        ])
        .output()
        .expect("run dig");
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("->>HEADER<<-") {
        return None;
    }
    let mut answer = Answer {
        rcode: String::new(),
        authoritative: false,
        values: Vec::new(),
        ttl: None,
    };
    for line in text.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            answer.rcode = rest.split(',').next().unwrap_or("").trim().to_string();
        } else if let Some(flags) = line.strip_prefix(";; flags:") {
            let flags = flags.split(';').next().unwrap_or("");
            answer.authoritative = flags.split_whitespace().any(|f| f == "aa");
        } else if !line.starts_with(';') && !line.trim().is_empty() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 5 && fields[3].eq_ignore_ascii_case(rtype) {
                answer.ttl = fields[1].parse().ok();
                answer.values.push(fields[4..].join(" "));
            }
        }
    }
    answer.values.sort();
    Some(answer)
}

/// Polls `done` every 20 ms until it holds; fails the test naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "{what} did not happen within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

fn zone_file(dir: &Path) {
    std::fs::write(
        dir.join("example.test.zone"),
        "$ORIGIN example.test.\n\
         $TTL 3600\n\
         @   IN SOA ns1.example.test. hostmaster.example.test. ( 1 60 60 3600 60 )\n\
         @   IN NS ns1.example.test.\n\
         @   IN NS ns2.example.test.\n\
         ns1 IN A 127.0.0.1\n\
         ns2 IN A 127.0.0.2\n\
         app 300 IN A 192.0.2.10\n\
         api 300 IN A 192.0.2.10\n",
    )
    .expect("write zone file");
}

/// BIND primary + Knot secondary for `example.test.` on one port.
pub struct AuthPair {
    dir: tempfile::TempDir,
    port: u16,
    /// The TSIG key BIND grants updates to and Knot transfers with.
    key_name: String,
    secret: String,
    primary: Option<Child>,
    secondary: Option<Child>,
}

impl AuthPair {
    pub fn start() -> Self {
        Self::start_with_key(KEY_NAME)
    }

    /// The pair, with the TSIG key named `key_name` (e.g. one whose name holds the word
    /// `secret`).
    pub fn start_with_key(key_name: &str) -> Self {
        let named = binary("named", "bind9");
        let knotd = binary("knotd", "knot");
        binary("dig", "bind9-dnsutils");
        binary("nsupdate", "bind9-dnsutils");
        let mut last_logs = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port(&["127.0.0.1", "127.0.0.2"]);
            let mut pair = AuthPair {
                dir,
                port,
                key_name: key_name.to_string(),
                secret: random_secret(),
                primary: None,
                secondary: None,
            };
            pair.configure();
            pair.primary = Some(pair.launch_primary(&named));
            if !pair.serving(pair.primary(), true) {
                last_logs = pair.logs();
                continue;
            }
            pair.secondary = Some(spawn(
                {
                    let mut c = Command::new(&knotd);
                    c.arg("-c").arg(pair.dir.path().join("knot.conf"));
                    c
                },
                &pair.dir.path().join("knot.log"),
            ));
            if !pair.serving(pair.secondary(), false) {
                last_logs = pair.logs();
                continue;
            }
            return pair;
        }
        panic!("BIND and Knot did not come up on loopback:\n{last_logs}");
    }

    fn configure(&self) {
        let dir = self.dir.path();
        let d = dir.display();
        let port = self.port;
        let secret = &self.secret;
        let key_name = &self.key_name;
        zone_file(dir);
        let key = format!("key \"{key_name}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n");
        std::fs::write(dir.join("tsig.key"), &key).unwrap();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "include \"{d}/tsig.key\";\n\
                 options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\";\n\
                   listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
                   recursion no; dnssec-validation no; notify-delay 0;\n\
                   notify-source 127.0.0.1; transfer-source 127.0.0.1; }};\n\
                 controls {{ }};\n\
                 zone \"example.test\" {{ type primary; file \"{d}/example.test.zone\";\n\
                   update-policy {{ grant {key_name} zonesub ANY; }};\n\
                   notify explicit; also-notify {{ 127.0.0.2 port {port}; }};\n\
                   allow-transfer {{ key {key_name}; }}; }};\n"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("knot/db")).unwrap();
        std::fs::write(
            dir.join("knot.conf"),
            format!(
                "server:\n  rundir: \"{d}/knot\"\n  listen: 127.0.0.2@{port}\n  pidfile: \"{d}/knot/knot.pid\"\n\
                 log:\n  - target: stderr\n    any: info\n\
                 database:\n  storage: \"{d}/knot/db\"\n\
                 key:\n  - id: {key_name}\n    algorithm: hmac-sha256\n    secret: {secret}\n\
                 remote:\n  - id: primary\n    address: 127.0.0.1@{port}\n    key: {key_name}\n\
                 acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    action: notify\n\
                 template:\n  - id: default\n    storage: \"{d}/knot\"\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: none\n\
                 zone:\n  - domain: example.test\n    master: primary\n    acl: notify_from_primary\n"
            ),
        )
        .unwrap();
    }

    fn launch_primary(&self, named: &Path) -> Child {
        let mut c = Command::new(named);
        c.arg("-g").arg("-c").arg(self.dir.path().join("named.conf"));
        let log = self.dir.path().join("named.log");
        // Keep the earlier log when the primary is restarted.
        let log = if log.exists() {
            self.dir.path().join(format!("named.{}.log", fastrand::u32(..)))
        } else {
            log
        };
        spawn(c, &log)
    }

    /// Waits until `server` answers the zone's SOA with authority; false if it did not.
    fn serving(&mut self, server: SocketAddr, primary: bool) -> bool {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            let child = if primary {
                self.primary.as_mut()
            } else {
                self.secondary.as_mut()
            };
            if let Some(Ok(Some(_))) = child.map(|c| c.try_wait()) {
                return false;
            }
            if try_query(server, ZONE, "SOA").is_some_and(|a| a.rcode == "NOERROR" && a.authoritative) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn primary(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn secondary(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 2], self.port))
    }

    pub fn servers(&self) -> [SocketAddr; 2] {
        [self.primary(), self.secondary()]
    }

    /// The zone, absolute (with the trailing dot).
    pub fn zone(&self) -> &str {
        ZONE
    }

    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    pub fn secret_b64(&self) -> &str {
        &self.secret
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The BIND-format key file (`key "cutover-key" { ... };`).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("tsig.key")
    }

    /// What `server` answers, failing the test if it does not answer.
    pub fn query(&self, server: SocketAddr, name: &str, rtype: &str) -> Answer {
        try_query(server, name, rtype)
            .unwrap_or_else(|| panic!("{server} did not answer {name} {rtype}\n{}", self.logs()))
    }

    /// Sends `commands` (nsupdate syntax, ending in `send`) to the primary, signed.
    pub fn try_nsupdate(&self, commands: &str) -> Result<(), String> {
        let mut child = Command::new(binary("nsupdate", "bind9-dnsutils"))
            .arg("-k")
            .arg(self.key_file())
            .args(["-t", "3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nsupdate");
        let script = format!("server 127.0.0.1 {}\nzone {ZONE}\n{commands}", self.port);
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn nsupdate(&self, commands: &str) {
        if let Err(e) = self.try_nsupdate(commands) {
            panic!("nsupdate failed: {e}\n{}", self.logs());
        }
    }

    /// Replaces the A records of `name` by one with `value` and `ttl`.
    pub fn set_a(&self, name: &str, value: &str, ttl: u32) {
        self.nsupdate(&format!(
            "update delete {name} A\nupdate add {name} {ttl} A {value}\nsend\n"
        ));
    }

    pub fn serial(&self, server: SocketAddr) -> u32 {
        let soa = self.query(server, ZONE, "SOA");
        soa.values
            .first()
            .and_then(|v| v.split_whitespace().nth(2))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no SOA serial from {server}: {soa:?}"))
    }

    /// Waits until both servers answer exactly `values` for `name`; returns how long it took.
    pub fn wait_until_agree(&self, name: &str, rtype: &str, values: &[&str], timeout: Duration) -> Duration {
        let mut want: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        want.sort();
        wait_for(
            &format!("both servers answering {name} {rtype} {want:?}"),
            timeout,
            || {
                self.servers()
                    .iter()
                    .all(|s| try_query(*s, name, rtype).is_some_and(|a| a.values == want))
            },
        )
    }

    /// Waits until the secondary has the primary's serial.
    pub fn wait_in_sync(&self, timeout: Duration) -> Duration {
        wait_for("the secondary catching up with the primary", timeout, || {
            self.serial(self.primary()) == self.serial(self.secondary())
        })
    }

    /// Stops the primary (SIGTERM, by PID); its zone and journal stay for a restart.
    pub fn stop_primary(&mut self) {
        if let Some(mut c) = self.primary.take() {
            stop(&mut c);
        }
    }

    /// Kills the primary (SIGKILL, by PID), as a crash would.
    pub fn kill_primary(&mut self) {
        if let Some(mut c) = self.primary.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the primary again on the same port with the zone as it was.
    pub fn start_primary(&mut self) {
        assert!(self.primary.is_none(), "the primary is already running");
        self.primary = Some(self.launch_primary(&binary("named", "bind9")));
        assert!(
            self.serving(self.primary(), true),
            "BIND did not come back:\n{}",
            self.logs()
        );
    }

    /// Freezes the secondary (SIGSTOP): it stays bound but answers nothing.
    pub fn freeze_secondary(&self) {
        let pid = self.secondary.as_ref().expect("the secondary runs").id();
        unsafe {
            libc::kill(pid as i32, libc::SIGSTOP);
        }
    }

    /// The secondary's process id (to freeze it from another thread).
    pub fn secondary_pid(&self) -> u32 {
        self.secondary.as_ref().expect("the secondary runs").id()
    }

    /// Lets a frozen secondary go on (SIGCONT).
    pub fn thaw_secondary(&self) {
        let pid = self.secondary.as_ref().expect("the secondary runs").id();
        unsafe {
            libc::kill(pid as i32, libc::SIGCONT);
        }
    }

    /// Every server log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                out.push_str(&format!("--- {}\n", p.display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for AuthPair {
    fn drop(&mut self) {
        for c in [self.secondary.as_mut(), self.primary.as_mut()].into_iter().flatten() {
            stop(c);
        }
    }
}

/// PowerDNS (sqlite backend) with its HTTP API, serving `example.test.` with `app` and
/// `api` at 192.0.2.10 (TTL 300).
pub struct PowerDns {
    dir: tempfile::TempDir,
    dns: SocketAddr,
    http_port: u16,
    api_key: String,
    child: Child,
}

impl PowerDns {
    pub fn start() -> Self {
        let pdns = binary("pdns_server", "pdns-server pdns-backend-sqlite3");
        let sqlite = binary("sqlite3", "sqlite3");
        let schema = Path::new("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql");
        assert!(
            schema.exists(),
            "{} is missing: apt-get install -y pdns-backend-sqlite3",
            schema.display()
        );
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let d = dir.path();
            let db = d.join("pdns.sqlite3");
            let status = Command::new(&sqlite)
                .arg(&db)
                .stdin(std::fs::File::open(schema).unwrap())
                .status()
                .expect("run sqlite3");
            assert!(status.success(), "creating the PowerDNS database failed");
            let port = free_port(&["127.0.0.1"]);
            let http_port = free_port(&["127.0.0.1"]);
            let api_key = format!("pdns-key-{}", fastrand::u64(..));
            std::fs::write(
                d.join("pdns.conf"),
                format!(
                    "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address=127.0.0.1\nlocal-port={port}\n\
                     socket-dir={d}\napi=yes\napi-key={api_key}\nwebserver=yes\nwebserver-address=127.0.0.1\n\
                     webserver-port={http_port}\nwebserver-allow-from=127.0.0.0/8\ndaemon=no\nguardian=no\n\
                     disable-syslog=yes\nsetuid=\nsetgid=\nsecurity-poll-suffix=\n\
                     cache-ttl=0\nquery-cache-ttl=0\nnegquery-cache-ttl=0\n\
                     default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 60\n",
                    db = db.display(),
                    d = d.display(),
                ),
            )
            .unwrap();
            let mut c = Command::new(&pdns);
            c.arg(format!("--config-dir={}", d.display()));
            let child = spawn(c, &d.join("pdns.log"));
            let mut server = PowerDns {
                dir,
                dns: SocketAddr::from(([127, 0, 0, 1], port)),
                http_port,
                api_key,
                child,
            };
            let up = Instant::now();
            let mut ready = false;
            while up.elapsed() < START_TIMEOUT {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break;
                }
                if server
                    .try_api("GET", "/api/v1/servers/localhost", "")
                    .is_ok_and(|(s, _)| s == 200)
                {
                    ready = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            if !ready {
                last_log = std::fs::read_to_string(server.dir.path().join("pdns.log")).unwrap_or_default();
                continue;
            }
            let (status, body) = server.api(
                "POST",
                "/api/v1/servers/localhost/zones",
                &format!(
                    r#"{{"name":"{ZONE}","kind":"Native","nameservers":["ns1.{ZONE}"],"rrsets":[
                    {{"name":"ns1.{ZONE}","type":"A","ttl":3600,"changetype":"REPLACE","records":[{{"content":"127.0.0.1","disabled":false}}]}},
                    {{"name":"app.{ZONE}","type":"A","ttl":300,"changetype":"REPLACE","records":[{{"content":"192.0.2.10","disabled":false}}]}},
                    {{"name":"api.{ZONE}","type":"A","ttl":300,"changetype":"REPLACE","records":[{{"content":"192.0.2.10","disabled":false}}]}}]}}"#
                ),
            );
            assert_eq!(status, 201, "creating the zone through the PowerDNS API: {body}");
            wait_for("PowerDNS serving the zone", START_TIMEOUT, || {
                try_query(server.dns, &format!("app.{ZONE}"), "A").is_some_and(|a| a.values == ["192.0.2.10"])
            });
            return server;
        }
        panic!("PowerDNS did not come up on loopback:\n{last_log}");
    }

    /// One HTTP/1.1 request to the API with the key; returns status and body.
    fn try_api(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api_key,
            body.len()
        )?;
        let mut response = String::new();
        s.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    fn api(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_api(method, path, body)
            .unwrap_or_else(|e| panic!("PowerDNS API {method} {path}: {e}"))
    }

    /// The DNS address (UDP and TCP).
    pub fn dns(&self) -> SocketAddr {
        self.dns
    }

    /// The API's base URL, e.g. `http://127.0.0.1:8081`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn zone(&self) -> &str {
        ZONE
    }

    pub fn query(&self, name: &str, rtype: &str) -> Answer {
        try_query(self.dns, name, rtype)
            .unwrap_or_else(|| panic!("PowerDNS at {} did not answer {name} {rtype}", self.dns))
    }

    /// Replaces the A records of `name` through the API (as an operator in a console would).
    pub fn set_a(&self, name: &str, value: &str, ttl: u32) {
        let (status, body) = self.api(
            "PATCH",
            &format!("/api/v1/servers/localhost/zones/{ZONE}"),
            &format!(
                r#"{{"rrsets":[{{"name":"{name}","type":"A","ttl":{ttl},"changetype":"REPLACE","records":[{{"content":"{value}","disabled":false}}]}}]}}"#
            ),
        );
        assert_eq!(status, 204, "PATCH {name} through the PowerDNS API: {body}");
        wait_for(
            &format!("PowerDNS answering {name} = {value}"),
            Duration::from_secs(10),
            || try_query(self.dns, name, "A").is_some_and(|a| a.values == [value]),
        );
    }
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
