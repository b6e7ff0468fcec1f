//! A loopback HTTP/1.1 server that writes down every request it receives (method and path,
//! as soon as the request's head and body have arrived) and answers `200 ok` after a delay
//! the test sets. It stands in for an endpoint whose side effect must happen at most once:
//! the log is what the server saw, whatever the client thought happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct RequestLog {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    delay_ms: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU64>,
    next: Arc<Mutex<std::collections::VecDeque<u16>>>,
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Received {
    /// `METHOD /path`
    pub request: String,
    /// Header names lower-cased, with their values.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl RequestLog {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU64::new(200));
        let next = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let server = Server {
            log: seen.clone(),
            delay: delay_ms.clone(),
            received: received.clone(),
            status: status.clone(),
            next: next.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        Self {
            port,
            seen,
            delay_ms,
            received,
            status,
            next,
        }
    }

    /// The statuses of the next answers, in order; after them, the usual one (`set_status`).
    pub fn answer_next(&self, statuses: &[u16]) {
        self.next.lock().unwrap().extend(statuses.iter().copied());
    }

    /// The status every answer has from now on (200 at first).
    pub fn set_status(&self, status: u16) {
        self.status.store(u64::from(status), Ordering::SeqCst);
    }

    /// Every request so far with its headers and body.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How long the server waits before it answers each request from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request so far, as `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many `METHOD /path` requests arrived.
    pub fn count(&self, method: &str, path: &str) -> usize {
        let want = format!("{method} {path}");
        self.requests().iter().filter(|r| **r == want).count()
    }

    /// Waits until `count(method, path)` reaches `n`; fails the test after `timeout`.
    pub fn wait_for(&self, method: &str, path: &str, n: usize, timeout: Duration) {
        let started = Instant::now();
        while self.count(method, path) < n {
            assert!(
                started.elapsed() < timeout,
                "the server did not see {n} × {method} {path} within {timeout:?}; it saw {:?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[derive(Clone)]
struct Server {
    log: Arc<Mutex<Vec<String>>>,
    delay: Arc<AtomicU64>,
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU64>,
    next: Arc<Mutex<std::collections::VecDeque<u16>>>,
}

impl Server {
    fn serve(&self, stream: std::net::TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        if reader.read_line(&mut request).is_err() || request.is_empty() {
            return;
        }
        let mut length = 0usize;
        let mut headers = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok() && !line.trim().is_empty() {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.push((name, value.trim().to_string()));
            }
            line.clear();
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut words = request.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let request = format!("{method} {path}");
        self.log.lock().unwrap().push(request.clone());
        self.received.lock().unwrap().push(Received { request, headers, body });
        std::thread::sleep(Duration::from_millis(self.delay.load(Ordering::SeqCst)));
        let status = self
            .next
            .lock()
            .unwrap()
            .pop_front()
            .map_or_else(|| self.status.load(Ordering::SeqCst), u64::from);
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} Whatever\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok"
        );
    }
}
