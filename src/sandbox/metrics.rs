//! A simulated service and a Prometheus-compatible query API over it, for `cutover demo`.
//!
//! The service's clients follow the DNS record: when it moves from the VM address to the
//! Kubernetes one, clients move over as their caches expire, and the error ratio and p99
//! latency follow whichever side serves them. The [`Scenario`] decides how Kubernetes
//! behaves. [`PromApi`] answers the three queries the demo runbook asks (recognised by what
//! they measure, not their exact text) with Prometheus's own JSON shapes, so the product's
//! unchanged client — or `promtool` — reads them as it would a real server.
//!
//! Everything is a pure function of time: the noise comes from a hash of the second, and
//! the traffic from the DNS changes recorded with their instants.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The demo's error ratio: 5xx responses over all responses, with a 10 s rate window.
pub const ERROR_RATE_QUERY: &str =
    r#"sum(rate(http_requests_total{job="api",code=~"5.."}[10s])) / sum(rate(http_requests_total{job="api"}[10s]))"#;

/// The demo's p99 latency in seconds, from the request-duration histogram, 10 s rate window.
pub const P99_QUERY: &str =
    r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="api"}[10s])))"#;

/// How the Kubernetes side behaves once it serves traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Kubernetes serves a little better than the VMs: the watch holds.
    Healthy,
    /// A bad release: errors and latency climb within ~20 s of the first request, the
    /// watch breaches and rolls back.
    BadRelease,
}

/// The model's numbers (ratios are fractions: 0.002 = 0.2 %; latencies in seconds).
pub mod model {
    /// VM side: error ratio and p99.
    pub const VM_ERROR: f64 = 0.0020;
    pub const VM_P99: f64 = 0.180;
    /// Kubernetes, healthy.
    pub const K8S_ERROR: f64 = 0.0015;
    pub const K8S_P99: f64 = 0.160;
    /// Kubernetes, bad release: from the first value to the second over `BAD_RAMP`
    /// after the first request reaches it.
    pub const BAD_ERROR: (f64, f64) = (0.003, 0.060);
    pub const BAD_P99: (f64, f64) = (0.200, 0.600);
    pub const BAD_RAMP_SECS: f64 = 20.0;
    /// Noise, ± this fraction of the value, per second.
    pub const NOISE: f64 = 0.08;
    /// Spread of each side's latency (log-normal σ) used to mix the p99s.
    pub const LATENCY_SIGMA: f64 = 0.5;
    /// The shop's requests per second, all sides together.
    pub const REQUESTS_PER_SECOND: f64 = 120.0;
}

/// Which metric a query measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    ErrorRatio,
    P99,
    /// Requests per second reaching Kubernetes (`side="k8s"`): what a drain watches.
    NewSideRate,
}

/// One DNS change: from `at`, clients move to `target` (share of Kubernetes) over `over`.
#[derive(Clone, Debug)]
struct Move {
    at: DateTime<Utc>,
    target: f64,
    over: Duration,
}

/// The simulated service. Pure in time; the only state is the list of DNS changes.
pub struct ServiceSim {
    scenario: Scenario,
    vm: String,
    k8s: String,
    /// The first instant with data.
    history_start: DateTime<Utc>,
    moves: Mutex<Vec<Move>>,
}

impl ServiceSim {
    /// `vm` and `k8s` are the addresses the DNS record holds for each side
    /// ("203.0.113.10", "198.51.100.20"). History of VM-only traffic is available for
    /// `history` before now (so a baseline over the last minutes works at once).
    pub fn new(scenario: Scenario, vm: &str, k8s: &str, history: Duration) -> ServiceSim {
        ServiceSim::with_start(scenario, vm, k8s, history, Utc::now())
    }

    /// As [`new`](Self::new), with "now" given: history runs from `start - history`.
    pub fn with_start(scenario: Scenario, vm: &str, k8s: &str, history: Duration, start: DateTime<Utc>) -> ServiceSim {
        ServiceSim {
            scenario,
            vm: vm.to_string(),
            k8s: k8s.to_string(),
            history_start: start - chrono::Duration::from_std(history).unwrap_or_default(),
            moves: Mutex::new(Vec::new()),
        }
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// The first instant the query API has data for.
    pub fn history_start(&self) -> DateTime<Utc> {
        self.history_start
    }

    /// The DNS answer changed now: clients move to the new answer over `move_over` (their
    /// caches expire at random times within it).
    pub fn dns_changed(&self, values: &[String], move_over: Duration) {
        self.dns_changed_at(Utc::now(), values, move_over);
    }

    /// As [`dns_changed`](Self::dns_changed), at `at`. An answer that holds neither side's
    /// address leaves the traffic where it is (those clients would fail, which this model
    /// does not cover); one that holds both splits it evenly per address.
    pub fn dns_changed_at(&self, at: DateTime<Utc>, values: &[String], move_over: Duration) {
        let on = |addr: &str| values.iter().filter(|v| v.trim() == addr).count() as f64;
        let (vm, k8s) = (on(&self.vm), on(&self.k8s));
        if vm + k8s == 0.0 {
            return;
        }
        let mut moves = self.moves.lock().unwrap_or_else(|e| e.into_inner());
        moves.push(Move {
            at,
            target: k8s / (vm + k8s),
            over: move_over,
        });
        moves.sort_by_key(|m| m.at);
    }

    /// Share of requests served by Kubernetes at `t` (0.0..=1.0).
    pub fn k8s_share(&self, t: DateTime<Utc>) -> f64 {
        let moves = self.moves.lock().unwrap_or_else(|e| e.into_inner());
        share(&moves, t)
    }

    /// Error ratio at `t`, averaged over `window` (the query's rate window).
    pub fn error_ratio(&self, t: DateTime<Utc>, window: Duration) -> f64 {
        self.average(Metric::ErrorRatio, t, window, None).unwrap_or(f64::NAN)
    }

    /// p99 latency in seconds at `t`, averaged over `window`.
    pub fn p99(&self, t: DateTime<Utc>, window: Duration) -> f64 {
        self.average(Metric::P99, t, window, None).unwrap_or(f64::NAN)
    }

    /// What Prometheus would answer at `t`: the average over the seconds of the window that
    /// lie between the history start and `now` (samples exist only there); `None` without any.
    pub fn observed(&self, metric: Metric, t: DateTime<Utc>, window: Duration, now: DateTime<Utc>) -> Option<f64> {
        self.average(metric, t, window, Some((self.history_start, now)))
    }

    /// The mean of the per-second values at whole seconds in `(t - window, t]`, only those
    /// within `clip` when given. Long windows are sampled at 120 evenly spaced seconds.
    fn average(
        &self,
        metric: Metric,
        t: DateTime<Utc>,
        window: Duration,
        clip: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Option<f64> {
        let moves = self.moves.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let first_k8s = moves.iter().find(|m| m.target > 0.0).map(|m| m.at);
        let end = t.timestamp_millis().div_euclid(1000);
        let secs = (window.as_millis() as i64 / 1000).max(1);
        let mut lo = end - secs + 1;
        let mut hi = end;
        if let Some((from, to)) = clip {
            let from_s = from.timestamp_millis().div_euclid(1000) + i64::from(from.timestamp_subsec_millis() > 0);
            lo = lo.max(from_s);
            hi = hi.min(to.timestamp_millis().div_euclid(1000));
        }
        if lo > hi {
            return None;
        }
        let n = hi - lo + 1;
        let stride = (n / 120).max(1);
        let (mut sum, mut count) = (0.0, 0u32);
        let mut s = hi;
        while s >= lo {
            sum += self.at_second(metric, s, &moves, first_k8s);
            count += 1;
            s -= stride;
        }
        Some(sum / f64::from(count))
    }

    /// The service's value during second `s` (unix seconds).
    fn at_second(&self, metric: Metric, s: i64, moves: &[Move], first_k8s: Option<DateTime<Utc>>) -> f64 {
        let t = Utc.timestamp_opt(s, 0).single().unwrap_or_default();
        let k = share(moves, t);
        let (vm, k8s) = self.sides(metric, s, t, first_k8s);
        match metric {
            Metric::ErrorRatio => (1.0 - k) * vm + k * k8s,
            Metric::P99 => mixed_quantile(0.99, &[(1.0 - k, vm), (k, k8s)], model::LATENCY_SIGMA),
            Metric::NewSideRate => k * k8s,
        }
    }

    /// Each side's own value (VM, Kubernetes) during second `s`.
    fn sides(&self, metric: Metric, s: i64, t: DateTime<Utc>, first_k8s: Option<DateTime<Utc>>) -> (f64, f64) {
        let salt = match metric {
            Metric::ErrorRatio => 0x45_52_52,
            Metric::P99 => 0x50_39_39,
            Metric::NewSideRate => 0x52_50_53,
        };
        let wobble = |side: u64| 1.0 + model::NOISE * noise(s, salt ^ (side << 32));
        let (vm, k8s) = match (metric, self.scenario) {
            (Metric::ErrorRatio, Scenario::Healthy) => (model::VM_ERROR, model::K8S_ERROR),
            (Metric::P99, Scenario::Healthy) => (model::VM_P99, model::K8S_P99),
            (Metric::NewSideRate, _) => (model::REQUESTS_PER_SECOND, model::REQUESTS_PER_SECOND),
            (metric, Scenario::BadRelease) => {
                let progress = first_k8s.map_or(0.0, |first| {
                    let since = (t - first).num_milliseconds() as f64 / 1000.0;
                    (since / model::BAD_RAMP_SECS).clamp(0.0, 1.0)
                });
                let ((from, to), vm) = match metric {
                    Metric::ErrorRatio => (model::BAD_ERROR, model::VM_ERROR),
                    Metric::P99 | Metric::NewSideRate => (model::BAD_P99, model::VM_P99),
                };
                (vm, from + (to - from) * progress)
            }
        };
        (vm * wobble(1), k8s * wobble(2))
    }
}

/// Kubernetes's share at `t`. After each change, every client's cache expires once at a
/// random point of the change's `over` (client `u` ∈ [0, 1) at `at + u·over`, the same `u`
/// for every change), and it then holds the answer current at that instant. The share is
/// the measure of clients whose last lookup by `t` gave Kubernetes (weighted by the
/// answer's share of Kubernetes addresses), computed exactly over the pieces of [0, 1)
/// where the last lookup comes from the same change.
fn share(moves: &[Move], t: DateTime<Utc>) -> f64 {
    let rel = |x: DateTime<Utc>| (x - t).num_milliseconds() as f64 / 1000.0;
    // (start relative to t, ≤ 0; spread in seconds; target), ordered by start.
    let changes: Vec<(f64, f64, f64)> = moves
        .iter()
        .filter(|m| m.at <= t)
        .map(|m| (rel(m.at), m.over.as_secs_f64(), m.target))
        .collect();
    if changes.is_empty() {
        return 0.0;
    }
    let mut cuts = vec![0.0, 1.0];
    let mut cut = |u: f64| {
        if u > 0.0 && u < 1.0 {
            cuts.push(u);
        }
    };
    for &(a, d, _) in &changes {
        if d > 0.0 {
            cut(-a / d);
            for &(b, e, _) in &changes {
                cut((b - a) / d);
                if d != e {
                    cut((b - a) / (d - e));
                }
            }
        }
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut total = 0.0;
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let u = (lo + hi) / 2.0;
        // The client's last lookup by t, and the answer DNS gave then.
        let last = changes
            .iter()
            .map(|&(a, d, _)| a + u * d)
            .filter(|r| *r <= 0.0)
            .fold(f64::NEG_INFINITY, f64::max);
        if last > f64::NEG_INFINITY {
            let answer = changes.iter().rev().find(|(a, _, _)| *a <= last).map_or(0.0, |c| c.2);
            total += (hi - lo) * answer;
        }
    }
    total.clamp(0.0, 1.0)
}

/// Deterministic noise in [-1, 1] from the second and a salt (splitmix64).
fn noise(second: i64, salt: u64) -> f64 {
    let mut z = (second as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// The `q` quantile of a mix of log-normal latencies, each given as (weight, its own p99),
/// all with spread `sigma`: solves Σ wᵢ·Fᵢ(x) = q by bisection on log x. A worse side with
/// a few percent of the traffic pulls the mix's p99 most of the way to its own.
fn mixed_quantile(q: f64, sides: &[(f64, f64)], sigma: f64) -> f64 {
    let sides: Vec<(f64, f64)> = sides.iter().copied().filter(|(w, _)| *w > 1e-9).collect();
    match sides.as_slice() {
        [] => return f64::NAN,
        [(_, p)] => return *p,
        _ => {}
    }
    let total: f64 = sides.iter().map(|(w, _)| w).sum();
    // log of each side's median: ln p99 − z₀.₉₉·σ.
    let z99 = 2.326_347_874;
    let cdf = |x: f64| {
        sides
            .iter()
            .map(|(w, p)| w / total * normal_cdf((x - (p.ln() - z99 * sigma)) / sigma))
            .sum::<f64>()
    };
    let (mut lo, mut hi) = sides
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, p)| {
            (lo.min(p.ln()), hi.max(p.ln()))
        });
    lo -= 4.0 * sigma;
    hi += 4.0 * sigma;
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// Φ(z), from erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

// ---------------------------------------------------------------------------------------
// Queries

/// A query the sandbox understands: what it measures, over which rate window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recognised {
    pub metric: Metric,
    pub window: Duration,
}

/// Recognises a query by what it measures: `histogram_quantile(0.99, …
/// http_request_duration_seconds_bucket …)` is the p99; a ratio of `http_requests_total`
/// with a 5xx `code` matcher over all of `http_requests_total` is the error ratio. The rate
/// window is the first `[…]` in the query (1m without one).
pub fn recognise(query: &str) -> Result<Recognised, String> {
    let q: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    let window = match range_selector(&q) {
        Some(Ok(w)) => w,
        Some(Err(e)) => return Err(e),
        None => Duration::from_secs(60),
    };
    let metric = if let Some(at) = q.find("histogram_quantile(") {
        let rest = &q[at + "histogram_quantile(".len()..];
        let quantile = rest.split(',').next().unwrap_or_default();
        if quantile.parse::<f64>().ok() == Some(0.99) && rest.contains("http_request_duration_seconds_bucket") {
            Some(Metric::P99)
        } else {
            None
        }
    } else if let Some((num, den)) = split_division(&q) {
        let is_5xx = |s: &str| {
            ["code=~\"5", "code=\"5", "code=~'5", "code='5"]
                .iter()
                .any(|m| s.contains(m))
        };
        if num.contains("http_requests_total")
            && is_5xx(num)
            && den.contains("http_requests_total")
            && !den.contains("code")
        {
            Some(Metric::ErrorRatio)
        } else {
            None
        }
    } else if q.contains("http_requests_total") && q.contains("side=\"k8s\"") && !q.contains("code") {
        Some(Metric::NewSideRate)
    } else {
        None
    };
    metric.map(|metric| Recognised { metric, window }).ok_or_else(|| {
        format!(
            "the cutover sandbox answers only three queries: the p99 latency (histogram_quantile(0.99, …) over \
             http_request_duration_seconds_bucket, e.g. {P99_QUERY}), the error ratio (5xx http_requests_total \
             over all http_requests_total, e.g. {ERROR_RATE_QUERY}) and the requests reaching Kubernetes \
             (sum(rate(http_requests_total{{side=\"k8s\"}}[10s]))); it does not know {query:?}"
        )
    })
}

/// The first range selector's duration (`[10s]`, or the range of a subquery `[5m:1m]`).
fn range_selector(q: &str) -> Option<Result<Duration, String>> {
    let start = q.find('[')?;
    let end = start + q[start..].find(']')?;
    let inner = &q[start + 1..end];
    let range = inner.split(':').next().unwrap_or_default();
    Some(parse_prom_duration(range).ok_or_else(|| format!("bad range selector [{inner}] in the query")))
}

/// Splits at the last `/` outside quotes, brackets and parentheses.
fn split_division(q: &str) -> Option<(&str, &str)> {
    let (mut depth, mut quote, mut at) = (0i32, None::<char>, None);
    for (i, c) in q.char_indices() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, '/') if depth == 0 => at = Some(i),
            _ => {}
        }
    }
    at.map(|i| (&q[..i], &q[i + 1..]))
}

/// A Prometheus duration: `500ms`, `10s`, `1m`, `1h30m`, `1d`, `1w`, `1y`.
fn parse_prom_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let millis = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(millis)?)?;
    }
    Some(Duration::from_millis(total))
}

// ---------------------------------------------------------------------------------------
// The HTTP API

/// The Prometheus HTTP query API over a [`ServiceSim`], on 127.0.0.1:<free port>. Its
/// tasks run on the current tokio runtime and stop when this is dropped.
pub struct PromApi {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
}

impl PromApi {
    /// Serves the Prometheus HTTP API on 127.0.0.1:0.
    pub async fn start(sim: Arc<ServiceSim>) -> std::io::Result<PromApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let app = router(sim);
        let until = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(until).await {
                tracing::error!("the sandbox's Prometheus API stopped: {e}");
            }
        });
        Ok(PromApi { addr, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for PromApi {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn router(sim: Arc<ServiceSim>) -> Router {
    Router::new()
        .route("/api/v1/query", get(instant).post(instant))
        .route("/api/v1/query_range", get(range).post(range))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/-/ready", get(|| async { "Prometheus Server is Ready.\n" }))
        .route("/-/healthy", get(|| async { "Prometheus Server is Healthy.\n" }))
        .with_state(sim)
}

/// A Prometheus API error: `{"status":"error","errorType":"bad_data","error":…}`, 400.
struct BadData(String);

impl IntoResponse for BadData {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "status": "error", "errorType": "bad_data", "error": self.0 })),
        )
            .into_response()
    }
}

fn success(data: Value) -> Response {
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

/// The request's parameters, as Prometheus reads them: a form-encoded POST body first,
/// then the URL's query string; the first value of a name wins.
struct Params(Vec<(String, String)>);

impl Params {
    fn read(method: &Method, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Params {
        let mut all = Vec::new();
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if *method == Method::POST && form {
            all.extend(form_decode(body));
        }
        all.extend(form_decode(query.unwrap_or_default().as_bytes()));
        Params(all)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, BadData> {
        self.get(name)
            .map(|v| {
                parse_time(v).ok_or_else(|| {
                    BadData(format!(
                        "invalid parameter \"{name}\": cannot parse \"{v}\" to a valid timestamp"
                    ))
                })
            })
            .transpose()
    }

    fn query(&self) -> Result<Recognised, BadData> {
        let q = self.get("query").unwrap_or_default();
        if q.trim().is_empty() {
            return Err(BadData(
                "invalid parameter \"query\": 1:1: parse error: no expression found in input".to_string(),
            ));
        }
        recognise(q).map_err(|e| BadData(format!("invalid parameter \"query\": {e}")))
    }
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
fn form_decode(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

/// A Prometheus timestamp: unix seconds (fractions allowed) or RFC 3339.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return None;
        }
        return Utc.timestamp_millis_opt((secs * 1000.0).round() as i64).single();
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// A step: seconds (fractions allowed) or a Prometheus duration.
fn parse_step(s: &str) -> Option<Duration> {
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    parse_prom_duration(s)
}

/// A timestamp as Prometheus writes it: seconds, with milliseconds only when there are any.
fn stamp(t: DateTime<Utc>) -> Value {
    let ms = t.timestamp_millis();
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// A sample value as Prometheus writes it: a string, `NaN`, `+Inf`, `-Inf`.
fn sample(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// Milliseconds precision, as Prometheus evaluates.
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(t.timestamp_millis()).single().unwrap_or(t)
}

async fn instant(
    State(sim): State<Arc<ServiceSim>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::read(&method, &headers, query.as_deref(), &body);
    let answer = || -> Result<Value, BadData> {
        let r = params.query()?;
        let now = Utc::now();
        let at = to_millis(params.time("time")?.unwrap_or(now));
        let result = match sim.observed(r.metric, at, r.window, now) {
            Some(v) => vec![json!({ "metric": {}, "value": [stamp(at), sample(v)] })],
            None => Vec::new(),
        };
        Ok(json!({ "resultType": "vector", "result": result }))
    };
    match answer() {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

async fn range(
    State(sim): State<Arc<ServiceSim>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::read(&method, &headers, query.as_deref(), &body);
    let answer = || -> Result<Value, BadData> {
        let r = params.query()?;
        let start = params
            .time("start")?
            .ok_or_else(|| BadData("invalid parameter \"start\": cannot parse \"\" to a valid timestamp".into()))?;
        let end = params
            .time("end")?
            .ok_or_else(|| BadData("invalid parameter \"end\": cannot parse \"\" to a valid timestamp".into()))?;
        if end < start {
            return Err(BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        let raw_step = params.get("step").unwrap_or_default();
        let step = parse_step(raw_step).ok_or_else(|| {
            BadData(format!(
                "invalid parameter \"step\": cannot parse \"{raw_step}\" to a valid duration"
            ))
        })?;
        let step_ms = step.as_millis() as i64;
        if step_ms <= 0 {
            return Err(BadData(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let (start, end) = (to_millis(start), to_millis(end));
        if (end - start).num_milliseconds() / step_ms > 11_000 {
            return Err(BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let now = Utc::now();
        let mut values = Vec::new();
        let mut t = start;
        while t <= end {
            if let Some(v) = sim.observed(r.metric, t, r.window, now) {
                values.push(json!([stamp(t), sample(v)]));
            }
            t += chrono::Duration::milliseconds(step_ms);
        }
        let result = if values.is_empty() {
            Vec::new()
        } else {
            vec![json!({ "metric": {}, "values": values })]
        };
        Ok(json!({ "resultType": "matrix", "result": result }))
    };
    match answer() {
        Ok(data) => success(data),
        Err(e) => e.into_response(),
    }
}

async fn buildinfo() -> Response {
    success(json!({
        "version": "2.42.0",
        "revision": "cutover-sandbox",
        "branch": "cutover-sandbox",
        "buildUser": "cutover",
        "buildDate": "",
        "goVersion": "none (the cutover demo's simulated Prometheus)",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_two_queries_by_what_they_measure() {
        assert_eq!(
            recognise(ERROR_RATE_QUERY),
            Ok(Recognised {
                metric: Metric::ErrorRatio,
                window: Duration::from_secs(10)
            })
        );
        assert_eq!(
            recognise(P99_QUERY),
            Ok(Recognised {
                metric: Metric::P99,
                window: Duration::from_secs(10)
            })
        );
        let other = r#"sum( rate(http_requests_total{ code =~ "5xx" , job="x"}[2m]) )
            / sum(rate(http_requests_total{job="x"}[2m]))"#;
        assert_eq!(recognise(other).map(|r| r.window), Ok(Duration::from_secs(120)));
        let no_window = "histogram_quantile(0.99, sum by (le) (http_request_duration_seconds_bucket))";
        assert_eq!(recognise(no_window).map(|r| r.window), Ok(Duration::from_secs(60)));
        for bad in [
            "up",
            "histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))",
            "sum(rate(http_requests_total[1m])) / sum(rate(http_requests_total[1m]))",
            r#"sum(rate(http_requests_total{code=~"5.."}[1m]))"#,
        ] {
            let e = recognise(bad).unwrap_err();
            assert!(e.contains("only three queries"), "{e}");
        }
    }

    #[test]
    fn durations_and_forms() {
        assert_eq!(parse_prom_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_prom_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_prom_duration("10"), None);
        assert_eq!(parse_step("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            form_decode(b"query=a+b%3D%22c%22&time=1.5&x"),
            vec![
                ("query".to_string(), "a b=\"c\"".to_string()),
                ("time".to_string(), "1.5".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(form_decode(b"a=%"), vec![("a".to_string(), "%".to_string())]);
    }

    #[test]
    fn a_worse_side_with_a_few_percent_pulls_the_p99_up() {
        assert!((mixed_quantile(0.99, &[(1.0, 0.18)], 0.5) - 0.18).abs() < 1e-12);
        let even = mixed_quantile(0.99, &[(0.5, 0.18), (0.5, 0.18)], 0.5);
        assert!((even - 0.18).abs() < 1e-6, "{even}");
        // 5 % of the traffic on a side with a 600 ms p99 already takes the mix far over
        // the VMs' 180 ms (to that side's p80); 20 % to its p95.
        let few = mixed_quantile(0.99, &[(0.95, 0.18), (0.05, 0.6)], 0.5);
        assert!(few > 0.25 && few < 0.35, "{few}");
        let more = mixed_quantile(0.99, &[(0.8, 0.18), (0.2, 0.6)], 0.5);
        assert!(more > 0.4 && more < 0.5, "{more}");
    }
}
