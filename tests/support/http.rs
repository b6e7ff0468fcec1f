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
}

impl RequestLog {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (log, delay) = (seen.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, delay) = (log.clone(), delay.clone());
                std::thread::spawn(move || serve(stream, &log, &delay));
            }
        });
        Self { port, seen, delay_ms }
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

fn serve(stream: std::net::TcpStream, log: &Mutex<Vec<String>>, delay: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() || request.is_empty() {
        return;
    }
    let mut length = 0usize;
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok() && !line.trim().is_empty() {
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        line.clear();
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    log.lock().unwrap().push(format!("{method} {path}"));
    std::thread::sleep(Duration::from_millis(delay.load(Ordering::SeqCst)));
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok"
    );
}
