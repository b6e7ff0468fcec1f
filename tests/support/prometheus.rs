//! A real Prometheus on loopback scraping an application whose traffic the test controls,
//! for the metrics tests (error rate and p99 latency against a baseline).
//!
//! * [`App`]: a `/metrics` endpoint served from a background thread. A simulated traffic
//!   generator ([`Traffic`]: requests per second, error ratio, latency) drives the counters
//!   `http_requests_total{code="200"|"500"}` and the histogram `http_request_duration_seconds`.
//!   The counters are computed from elapsed wall time on every scrape, so they are monotonic
//!   and exact, and [`ERROR_RATE`] and [`P99_LATENCY`] return the values the test set.
//! * [`Prometheus`]: Prometheus (Debian's 2.42) scraping the app every second as
//!   `job="app"`, in a fresh temporary directory, on a free loopback port. It dies with the
//!   test process (PR_SET_PDEATHSIG) and is stopped by PID when the handle drops.
//! * [`History`]: traffic in the past, written as OpenMetrics and turned into TSDB blocks
//!   with `promtool tsdb create-blocks-from openmetrics` before Prometheus starts, for
//!   baseline queries at a past `time=`.
//!
//! The harness reads Prometheus through its HTTP API with a tiny HTTP client of its own,
//! never through the code under test. A missing binary fails the test naming the package.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::process::{free_port, spawn, stop};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Error ratio of the app's requests over the last minute (5xx / all).
pub const ERROR_RATE: &str =
    r#"sum(rate(http_requests_total{job="app",code=~"5.."}[1m])) / sum(rate(http_requests_total{job="app"}[1m]))"#;

/// p99 latency of the app's requests over the last minute, in seconds.
pub const P99_LATENCY: &str =
    r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="app"}[1m])))"#;

/// [`ERROR_RATE`] over another window, e.g. `"1h"` for a baseline or `"5s"` to see a
/// change within seconds (with the 1 s scrape interval a window needs at least two samples).
pub fn error_rate_over(window: &str) -> String {
    format!(
        r#"sum(rate(http_requests_total{{job="app",code=~"5.."}}[{window}])) / sum(rate(http_requests_total{{job="app"}}[{window}]))"#
    )
}

/// [`P99_LATENCY`] over another window.
pub fn p99_latency_over(window: &str) -> String {
    format!(
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{job="app"}}[{window}])))"#
    )
}

/// The histogram's bucket upper bounds in seconds (Prometheus client defaults), then `+Inf`.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

const START_TIMEOUT: Duration = Duration::from_secs(20);

fn binary(name: &str, package: &str) -> PathBuf {
    super::process::binary(name, package, "Prometheus")
}
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------------------------------
// Simulated traffic

/// What the simulated application is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Requests per second.
    pub rps: f64,
    /// Fraction of the requests answered with 500 (the rest with 200), in [0, 1].
    pub error_ratio: f64,
    /// The p99 latency: the request latencies are shaped so that Prometheus's
    /// `histogram_quantile(0.99, …)` over [`BUCKETS`] interpolates to exactly this value.
    /// Must lie in (5 ms, 10 s] (above the first bucket's bound, at most the last one).
    pub latency: Duration,
}

impl Traffic {
    pub fn new(rps: f64, error_ratio: f64, latency: Duration) -> Self {
        let t = Traffic {
            rps,
            error_ratio,
            latency,
        };
        t.check();
        t
    }

    fn check(&self) {
        assert!(
            self.rps >= 0.0 && self.rps.is_finite(),
            "rps must be >= 0, got {}",
            self.rps
        );
        assert!(
            (0.0..=1.0).contains(&self.error_ratio),
            "error ratio must be in [0, 1], got {}",
            self.error_ratio
        );
        latency_shape(self.latency);
    }
}

impl Default for Traffic {
    /// 100 requests per second, no errors, p99 50 ms.
    fn default() -> Self {
        Traffic {
            rps: 100.0,
            error_ratio: 0.0,
            latency: Duration::from_millis(50),
        }
    }
}

/// The latency distribution for a p99 of `latency`: at most two (value, fraction) points.
///
/// With every request in one bucket (a, b], `histogram_quantile(0.99)` would give
/// a + 0.99·(b − a) whatever the latency within the bucket, so a change from 120 ms to 180 ms
/// would be invisible. Instead, with r = (L − a)/(b − a):
/// * r < 0.99: a fraction p = (0.99 − r)/(1 − r) of the requests take a (counted in the
///   bucket `le=a`), the rest take L; the quantile's rank then falls at fraction r into (a, b].
/// * r ≥ 0.99: 0.99/r of the requests take L, the rest take the next bucket's bound.
fn latency_shape(latency: Duration) -> [(f64, f64); 2] {
    let l = latency.as_secs_f64();
    let i = BUCKETS.iter().position(|b| l <= *b);
    let i = match i {
        Some(i) if i > 0 => i,
        _ => panic!(
            "simulated p99 latency {latency:?} is outside (5ms, 10s]: histogram_quantile cannot \
             interpolate to it over the buckets {BUCKETS:?}"
        ),
    };
    let (a, b) = (BUCKETS[i - 1], BUCKETS[i]);
    let r = (l - a) / (b - a);
    if r < 0.99 {
        let p = (0.99 - r) / (1.0 - r);
        [(a, p), (l, 1.0 - p)]
    } else {
        let above = BUCKETS.get(i + 1).copied().unwrap_or(b * 2.0);
        let inside = 0.99 / r;
        [(l, inside), (above, 1.0 - inside)]
    }
}

/// Cumulative counters of the simulated application.
#[derive(Debug, Clone, Default)]
struct Counters {
    ok: f64,
    errors: f64,
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [f64; BUCKETS.len() + 1],
    sum: f64,
}

impl Counters {
    fn advance(&mut self, traffic: &Traffic, secs: f64) {
        if secs <= 0.0 {
            return;
        }
        let n = traffic.rps * secs;
        self.ok += n * (1.0 - traffic.error_ratio);
        self.errors += n * traffic.error_ratio;
        for (value, fraction) in latency_shape(traffic.latency) {
            let i = BUCKETS.iter().position(|b| value <= *b).unwrap_or(BUCKETS.len());
            self.buckets[i] += n * fraction;
            self.sum += n * fraction * value;
        }
    }

    fn count(&self) -> f64 {
        self.buckets.iter().sum()
    }

    /// (le label, cumulative count) for every bucket, `+Inf` last.
    fn cumulative(&self) -> Vec<(String, f64)> {
        let mut total = 0.0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, n) in self.buckets.iter().enumerate() {
            total += n;
            let le = BUCKETS.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            out.push((le, total));
        }
        // +Inf must equal _count exactly.
        if let Some(last) = out.last_mut() {
            last.1 = self.count();
        }
        out
    }

    /// Prometheus text exposition format (version 0.0.4).
    fn exposition(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP http_requests_total Requests handled, by status code.\n");
        s.push_str("# TYPE http_requests_total counter\n");
        s.push_str(&format!("http_requests_total{{code=\"200\"}} {}\n", self.ok));
        s.push_str(&format!("http_requests_total{{code=\"500\"}} {}\n", self.errors));
        s.push_str("# HELP http_request_duration_seconds Request latency.\n");
        s.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (le, n) in self.cumulative() {
            s.push_str(&format!("http_request_duration_seconds_bucket{{le=\"{le}\"}} {n}\n"));
        }
        s.push_str(&format!("http_request_duration_seconds_sum {}\n", self.sum));
        s.push_str(&format!("http_request_duration_seconds_count {}\n", self.count()));
        s
    }

    /// OpenMetrics samples at `ts` (seconds since the epoch), with the given labels, for
    /// the requests family and the histogram family respectively.
    fn openmetrics(&self, labels: &str, ts: f64) -> (String, String) {
        let requests = format!(
            "http_requests_total{{{labels},code=\"200\"}} {} {ts}\nhttp_requests_total{{{labels},code=\"500\"}} {} {ts}\n",
            self.ok, self.errors
        );
        let mut histogram = String::new();
        for (le, n) in self.cumulative() {
            histogram.push_str(&format!(
                "http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n} {ts}\n"
            ));
        }
        histogram.push_str(&format!(
            "http_request_duration_seconds_sum{{{labels}}} {} {ts}\n",
            self.sum
        ));
        histogram.push_str(&format!(
            "http_request_duration_seconds_count{{{labels}}} {} {ts}\n",
            self.count()
        ));
        (requests, histogram)
    }
}

struct Sim {
    traffic: Traffic,
    counters: Counters,
    at: Instant,
}

impl Sim {
    /// Brings the counters up to now with the traffic in force since the last update.
    fn update(&mut self) -> &Counters {
        let now = Instant::now();
        self.counters.advance(&self.traffic, (now - self.at).as_secs_f64());
        self.at = now;
        &self.counters
    }
}

struct Shared {
    sim: Mutex<Sim>,
    scrapes: AtomicU64,
    serving: AtomicBool,
    stopping: AtomicBool,
}

// ------------------------------------------------------------------------------------------
// The application

/// A `/metrics` endpoint on `127.0.0.1:<free port>` whose traffic the test sets. Changes
/// take effect at the moment of the call; counters advance with wall time.
pub struct App {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl App {
    /// Starts the endpoint with [`Traffic::default`].
    pub fn start() -> Self {
        Self::with_traffic(Traffic::default())
    }

    pub fn with_traffic(traffic: Traffic) -> Self {
        traffic.check();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app's metrics port");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            sim: Mutex::new(Sim {
                traffic,
                counters: Counters::default(),
                at: Instant::now(),
            }),
            scrapes: AtomicU64::new(0),
            serving: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
        });
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        App {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, as a scrape target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    fn change(&self, f: impl FnOnce(&mut Traffic)) {
        let mut sim = self.shared.sim.lock().unwrap();
        sim.update();
        let mut t = sim.traffic;
        f(&mut t);
        t.check();
        sim.traffic = t;
    }

    pub fn set_traffic(&self, traffic: Traffic) {
        self.change(|t| *t = traffic);
    }

    pub fn set_rate(&self, requests_per_second: f64) {
        self.change(|t| t.rps = requests_per_second);
    }

    pub fn set_error_ratio(&self, ratio: f64) {
        self.change(|t| t.error_ratio = ratio);
    }

    /// Sets the p99 latency (see [`Traffic::latency`]).
    pub fn set_latency(&self, latency: Duration) {
        self.change(|t| t.latency = latency);
    }

    pub fn traffic(&self) -> Traffic {
        self.shared.sim.lock().unwrap().traffic
    }

    /// While false, `/metrics` answers 503, so Prometheus records `up == 0` and the series
    /// go stale (as when the application is down).
    pub fn set_serving(&self, serving: bool) {
        self.shared.serving.store(serving, Ordering::SeqCst);
    }

    /// How many times `/metrics` has been served.
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.load(Ordering::SeqCst)
    }

    /// The exposition as it would be served now.
    pub fn render(&self) -> String {
        self.shared.sim.lock().unwrap().update().exposition()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Shared) {
    let _ = stream.set_read_timeout(Some(HTTP_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HTTP_TIMEOUT));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() || request.is_empty() {
        return;
    }
    // Read the headers through so that closing does not reset the connection.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = if path.split('?').next() != Some("/metrics") {
        ("404 Not Found", "text/plain", "not found\n".to_string())
    } else if !state.serving.load(Ordering::SeqCst) {
        ("503 Service Unavailable", "text/plain", "down\n".to_string())
    } else {
        state.scrapes.fetch_add(1, Ordering::SeqCst);
        let body = state.sim.lock().unwrap().update().exposition();
        ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

// ------------------------------------------------------------------------------------------
// History

/// Traffic in the past, as consecutive segments from a start time, sampled every `step`
/// (15 s by default) into OpenMetrics for `promtool`. The series carry `job="app"` and the
/// app's `instance`, so live scrapes continue them (the counters restart from zero, which
/// `rate()` treats as a counter reset).
#[derive(Debug, Clone)]
pub struct History {
    start: SystemTime,
    segments: Vec<(Duration, Traffic)>,
    step: Duration,
}

impl History {
    pub fn starting_at(start: SystemTime) -> Self {
        History {
            start,
            segments: Vec::new(),
            step: Duration::from_secs(15),
        }
    }

    /// "The `duration` before `end` had `traffic`", e.g. the hour before the cutover.
    pub fn before(end: SystemTime, duration: Duration, traffic: Traffic) -> Self {
        Self::starting_at(end - duration).then(duration, traffic)
    }

    /// Appends a segment of `duration` with `traffic`.
    pub fn then(mut self, duration: Duration, traffic: Traffic) -> Self {
        traffic.check();
        self.segments.push((duration, traffic));
        self
    }

    /// The sampling interval (as a scrape interval would be).
    pub fn step(mut self, step: Duration) -> Self {
        assert!(step >= Duration::from_millis(1), "history step must be at least 1 ms");
        self.step = step;
        self
    }

    pub fn start(&self) -> SystemTime {
        self.start
    }

    pub fn end(&self) -> SystemTime {
        self.start + self.segments.iter().map(|(d, _)| *d).sum::<Duration>()
    }

    /// The OpenMetrics text: one sample per series every `step` from the start to the end
    /// (inclusive), series by series in time order, then `# EOF`.
    pub fn openmetrics(&self, instance: &str) -> String {
        let total = (self.end().duration_since(self.start).unwrap()).as_secs_f64();
        let step = self.step.as_secs_f64();
        let start = unix_secs(self.start);
        let labels = format!("job=\"app\",instance=\"{instance}\"");
        let mut times = Vec::new();
        let mut k = 0u64;
        while (k as f64) * step <= total + 1e-9 {
            times.push((k as f64) * step);
            k += 1;
        }
        let mut counters = Counters::default();
        let mut previous = 0.0_f64;
        let (mut ok, mut errors, mut histogram) = (String::new(), String::new(), String::new());
        for t in times {
            // Integrate the traffic over (previous, t], split at segment boundaries.
            let mut seg_start = 0.0;
            for (d, traffic) in &self.segments {
                let seg_end = seg_start + d.as_secs_f64();
                let overlap = t.min(seg_end) - previous.max(seg_start);
                counters.advance(traffic, overlap);
                seg_start = seg_end;
            }
            previous = t;
            // Millisecond timestamps: what the TSDB stores.
            let ts = ((start + t) * 1000.0).round() / 1000.0;
            let (requests, h) = counters.openmetrics(&labels, ts);
            let mut lines = requests.lines();
            ok.push_str(lines.next().unwrap());
            ok.push('\n');
            errors.push_str(lines.next().unwrap());
            errors.push('\n');
            histogram.push_str(&h);
        }
        format!(
            "# HELP http_requests Requests handled, by status code.\n# TYPE http_requests counter\n{ok}{errors}\
             # HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n\
             {histogram}# EOF\n"
        )
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).expect("time after 1970").as_secs_f64()
}

// ------------------------------------------------------------------------------------------
// Prometheus

/// Why an instant query gave no number.
#[derive(Debug)]
pub enum QueryError {
    /// No connection, or it broke or timed out (Prometheus down, killed, frozen).
    Unreachable(std::io::Error),
    /// Prometheus answered with an error (bad PromQL, …).
    Api { status: u16, message: String },
    /// An answer the harness does not understand (e.g. more than one series).
    Unexpected(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Unreachable(e) => write!(f, "Prometheus unreachable: {e}"),
            QueryError::Api { status, message } => write!(f, "Prometheus answered {status}: {message}"),
            QueryError::Unexpected(s) => write!(f, "unexpected answer from Prometheus: {s}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Prometheus 2.42 scraping one [`App`] every second as `job="app"`.
pub struct Prometheus {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Prometheus {
    /// Starts Prometheus scraping `app` and returns once it is ready (`/-/ready`). The first
    /// scrape comes about 5 s later: use [`Prometheus::wait_for_data`].
    pub fn start(app: &App) -> Self {
        Self::launch(app, None)
    }

    /// Like [`Prometheus::start`], with `history` written into the TSDB first (promtool
    /// `create-blocks-from openmetrics`). Query it with [`Prometheus::query_at`].
    pub fn start_with_history(app: &App, history: &History) -> Self {
        assert!(
            history.end() <= SystemTime::now(),
            "history must end in the past (live scrapes continue its series from now on)"
        );
        Self::launch(app, Some(history))
    }

    fn launch(app: &App, history: Option<&History>) -> Self {
        let prometheus = binary("prometheus", "prometheus");
        let mut last_logs = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let d = dir.path();
            std::fs::write(
                d.join("prometheus.yml"),
                format!(
                    "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
                     scrape_configs: [ {{ job_name: app, static_configs: [ {{ targets: [\"{}\"] }} ] }} ]\n",
                    app.target()
                ),
            )
            .expect("write prometheus.yml");
            std::fs::create_dir_all(d.join("data")).unwrap();
            if let Some(h) = history {
                backfill(d, &h.openmetrics(&app.target()));
            }
            let mut p = Prometheus {
                dir,
                port: free_port(&["127.0.0.1"]),
                child: None,
            };
            p.child = Some(p.spawn(&prometheus));
            if p.try_wait_ready(START_TIMEOUT) {
                return p;
            }
            last_logs = p.logs();
        }
        panic!("Prometheus did not come up on loopback:\n{last_logs}");
    }

    fn spawn(&self, prometheus: &Path) -> Child {
        let d = self.dir.path();
        let mut c = Command::new(prometheus);
        c.arg(format!("--config.file={}", d.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            // History older than the default 15 days would be deleted at start.
            .arg("--storage.tsdb.retention.time=10y")
            .arg("--log.level=warn")
            .current_dir(d);
        spawn(c, &d.join("prometheus.log"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The temporary directory (config, `data/`, `prometheus.log`, `history.om`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn try_wait_ready(&mut self, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                return false;
            }
            if http_get(self.port, "/-/ready").is_ok_and(|(status, _)| status == 200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Polls `/-/ready` until it answers 200; returns how long that took.
    pub fn wait_ready(&mut self, timeout: Duration) -> Duration {
        let started = Instant::now();
        if !self.try_wait_ready(timeout) {
            panic!("Prometheus not ready within {timeout:?}:\n{}", self.logs());
        }
        started.elapsed()
    }

    /// Polls `promql` until it returns a number (not NaN); returns how long that took.
    pub fn wait_for_data(&self, promql: &str, timeout: Duration) -> Duration {
        let started = Instant::now();
        self.wait_for_value(promql, timeout, |v| !v.is_nan());
        started.elapsed()
    }

    /// Polls `promql` until its value satisfies `done`; returns the value.
    pub fn wait_for_value(&self, promql: &str, timeout: Duration, mut done: impl FnMut(f64) -> bool) -> f64 {
        let started = Instant::now();
        loop {
            let answer = self.try_query(promql);
            if let Ok(Some(v)) = answer
                && done(v)
            {
                return v;
            }
            if started.elapsed() > timeout {
                panic!(
                    "`{promql}` did not reach the expected value within {timeout:?}; last answer: {answer:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Instant query now: `None` if Prometheus failed or the result is empty. NaN (e.g. an
    /// error ratio with no traffic) comes back as `Some(NaN)`.
    pub fn query(&self, promql: &str) -> Option<f64> {
        self.try_query(promql).ok().flatten()
    }

    /// Instant query at a past time (for history).
    pub fn query_at(&self, promql: &str, at: SystemTime) -> Option<f64> {
        self.try_query_at(promql, at).ok().flatten()
    }

    pub fn try_query(&self, promql: &str) -> Result<Option<f64>, QueryError> {
        self.instant(promql, None)
    }

    pub fn try_query_at(&self, promql: &str, at: SystemTime) -> Result<Option<f64>, QueryError> {
        self.instant(promql, Some(at))
    }

    fn instant(&self, promql: &str, at: Option<SystemTime>) -> Result<Option<f64>, QueryError> {
        let mut path = format!("/api/v1/query?query={}", url_encode(promql));
        if let Some(t) = at {
            path.push_str(&format!("&time={:.3}", unix_secs(t)));
        }
        let (status, body) = http_get(self.port, &path).map_err(QueryError::Unreachable)?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| QueryError::Unexpected(format!("HTTP {status}, {e}: {body}")))?;
        if status != 200 || json["status"] != "success" {
            return Err(QueryError::Api {
                status,
                message: json["error"].as_str().unwrap_or(&body).to_string(),
            });
        }
        let data = &json["data"];
        let value = match data["resultType"].as_str() {
            Some("scalar") => &data["result"],
            Some("vector") => {
                let result = data["result"].as_array().map(Vec::as_slice).unwrap_or_default();
                match result {
                    [] => return Ok(None),
                    [one] => &one["value"],
                    _ => return Err(QueryError::Unexpected(format!("{} series: {body}", result.len()))),
                }
            }
            _ => return Err(QueryError::Unexpected(body)),
        };
        // [timestamp, "value"]; Prometheus spells specials "NaN", "+Inf", "-Inf".
        let text = value[1].as_str().ok_or_else(|| QueryError::Unexpected(body.clone()))?;
        let v = match text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().map_err(|_| QueryError::Unexpected(body.clone()))?,
        };
        Ok(Some(v))
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL by PID, as a crash would; queries then fail at once (connection refused).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM by PID (SIGKILL if still there after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c);
        }
    }

    /// Freezes Prometheus (SIGSTOP): the port stays open but nothing answers, so queries
    /// time out (after 5 s in this harness).
    pub fn freeze(&self) {
        if let Some(pid) = self.pid() {
            unsafe {
                libc::kill(pid as i32, libc::SIGSTOP);
            }
        }
    }

    pub fn thaw(&self) {
        if let Some(pid) = self.pid() {
            unsafe {
                libc::kill(pid as i32, libc::SIGCONT);
            }
        }
    }

    /// Starts Prometheus again (killing it first if it runs) on the same port with the same
    /// data; returns once ready. Data scraped before survives (WAL replay).
    pub fn restart(&mut self) {
        self.kill();
        let prometheus = binary("prometheus", "prometheus");
        self.child = Some(self.spawn(&prometheus));
        if !self.try_wait_ready(START_TIMEOUT) {
            panic!("Prometheus did not come back on port {}:\n{}", self.port, self.logs());
        }
    }

    /// The tail of Prometheus's log, for failure messages.
    pub fn logs(&self) -> String {
        let p = self.dir.path().join("prometheus.log");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let mut out = format!("--- {}\n", p.display());
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // The data is thrown away with the directory: no need for a graceful shutdown.
        self.kill();
    }
}

/// Writes `openmetrics` to `dir/history.om` and turns it into blocks under `dir/data`.
fn backfill(dir: &Path, openmetrics: &str) {
    let promtool = binary("promtool", "prometheus");
    let file = dir.join("history.om");
    std::fs::write(&file, openmetrics).expect("write history.om");
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&file)
        .arg(dir.join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool tsdb create-blocks-from openmetrics failed:\n{}{}\n(input: {})",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        file.display()
    );
}

// ------------------------------------------------------------------------------------------
// Processes and HTTP

/// One HTTP/1.0 GET on loopback (so the body is never chunked); returns status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "incomplete HTTP response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad status line: {head}")))?;
    Ok((status, body.to_string()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
