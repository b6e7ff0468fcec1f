//! Shared helpers for integration tests: run the real binary against a private state
//! directory, and read a run's journal back through the library.

#![allow(dead_code)]

pub mod dns;
pub mod http;
pub mod hung;
pub mod moto;
pub mod paths;
pub mod process;
pub mod prometheus;
pub mod runs;
pub mod slowlink;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use cutover::engine::{Recorded, RunState};
use cutover::journal::{Holder, JournalError, RunSummary, Store};

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes a file under the sandbox and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A runbook `held.toml` of one step that touches the returned marker file, then
    /// sleeps `seconds`: a run that stays held while a test looks at it.
    pub fn held_runbook(&self, seconds: u32) -> (PathBuf, PathBuf) {
        let marker = self.path().join("started");
        let rb = self.write(
            "held.toml",
            &format!(
                "[runbook]\nname = \"held\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"long\"\n  kind = \"command\"\n  \
                 idempotent = true\n  run = \"touch {}; sleep {seconds}\"\n",
                marker.display()
            ),
        );
        (rb, marker)
    }

    /// The binary, with this sandbox's state directory and a fixed operator name.
    pub fn cutover(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.env("CUTOVER_STATE_DIR", self.state_dir())
            .env("CUTOVER_OPERATOR", "tester")
            .env_remove("CUTOVER_LOG")
            .stdin(Stdio::null());
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cutover().args(args).output().expect("run cutover")
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cutover()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cutover")
    }

    pub fn summaries(&self) -> Vec<RunSummary> {
        Store::open(self.state_dir()).expect("store").summaries()
    }

    pub fn only_run_id(&self) -> String {
        let all = self.summaries();
        assert_eq!(all.len(), 1, "expected exactly one run, found {}", all.len());
        all[0].run_id.clone()
    }

    /// Opens the run (taking its lock) and returns every record and the state.
    pub fn journal(&self, run_id: &str) -> Result<(Vec<Recorded>, RunState), JournalError> {
        let store = Store::open(self.state_dir())?;
        let holder = Holder::this_process("test", "test", chrono::Utc::now());
        let (journal, state) = store.open_run(run_id, &holder)?;
        Ok((journal.records(1)?, state))
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code with the output in the message when it is not the expected one.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A small HTTP/1.1 server on loopback standing in for a service's health endpoints.
/// `/health/readiness` answers 200, `/health/unready` 503 (database down), `/slow` 200
/// after 400 ms. It records the Host header of every request.
pub struct HealthServer {
    pub port: u16,
    pub hosts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn health_server() -> HealthServer {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let hosts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hosts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line.trim() != "" {
                    if let Some(h) = line.to_ascii_lowercase().strip_prefix("host:") {
                        seen.lock().unwrap().push(h.trim().to_string());
                    }
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = match path {
                    "/health/readiness" => ("200 OK", "ready: ok"),
                    "/health/unready" => ("503 Service Unavailable", "database down"),
                    "/slow" => {
                        std::thread::sleep(std::time::Duration::from_millis(400));
                        ("200 OK", "slow but ok")
                    }
                    _ => ("404 Not Found", "no such endpoint"),
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    HealthServer { port, hosts }
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
