//! The Prometheus harness against a real Prometheus: live scrapes of the simulated app,
//! a killed (and frozen) Prometheus, and backfilled history for baselines. Each test starts
//! its own app and Prometheus on loopback.
//!
//! The tolerances are tight on purpose: the app's counters all grow in fixed proportion to
//! the same elapsed time, and Prometheus scrapes them in one go, so `rate()` extrapolates
//! every series by the same factor and the ratios the queries compute are exact up to
//! floating point. A looser match would hide a wrong query or a wrong latency shape.

use crate::support;

use std::time::{Duration, Instant, SystemTime};

use support::prometheus::{
    App, ERROR_RATE, History, P99_LATENCY, Prometheus, QueryError, Traffic, error_rate_over, p99_latency_over,
};

/// Floating point only: ratios of rates of proportional counters.
const EXACT: f64 = 1e-9;

fn close(v: f64, want: f64) -> bool {
    (v - want).abs() <= EXACT * want.abs().max(1.0)
}

#[track_caller]
fn assert_close(what: &str, got: Option<f64>, want: f64, prom: &Prometheus) {
    match got {
        Some(v) if close(v, want) => {}
        _ => panic!("{what}: got {got:?}, want {want}\n{}", prom.logs()),
    }
}

#[test]
fn the_queries_are_the_windowed_forms() {
    assert_eq!(error_rate_over("1m"), ERROR_RATE);
    assert_eq!(p99_latency_over("1m"), P99_LATENCY);
}

#[test]
fn live_error_rate_and_p99_follow_the_app() {
    let app = App::with_traffic(Traffic::new(200.0, 0.002, Duration::from_millis(120)));
    let started = Instant::now();
    let prom = Prometheus::start(&app);
    let ready = started.elapsed();
    prom.wait_for_data(ERROR_RATE, Duration::from_secs(20));
    let first_data = started.elapsed();
    eprintln!("Prometheus: ready after {ready:?}, first data after {first_data:?}");

    assert_close("error rate", prom.query(ERROR_RATE), 0.002, &prom);
    assert_close("p99 latency", prom.query(P99_LATENCY), 0.120, &prom);
    assert!(app.scrapes() >= 2, "Prometheus scraped {} times", app.scrapes());

    // Things get worse.
    app.set_error_ratio(0.05);
    app.set_latency(Duration::from_millis(400));
    let changed = Instant::now();
    // The one-minute window mixes old and new, but a 25-fold jump shows within seconds.
    prom.wait_for_value(ERROR_RATE, Duration::from_secs(10), |v| v > 0.01);
    prom.wait_for_value(P99_LATENCY, Duration::from_secs(10), |v| v > 0.25);
    let seen = changed.elapsed();
    // A window holding only new samples gives the new values exactly.
    prom.wait_for_value(&error_rate_over("5s"), Duration::from_secs(15), |v| close(v, 0.05));
    prom.wait_for_value(&p99_latency_over("5s"), Duration::from_secs(15), |v| close(v, 0.4));
    eprintln!(
        "change seen in the 1m window after {seen:?}, exact in a 5s window after {:?}",
        changed.elapsed()
    );
    assert!(seen < Duration::from_secs(5), "the change took {seen:?} to show");
}

#[test]
fn a_killed_prometheus_fails_queries_without_hanging() {
    let app = App::with_traffic(Traffic::new(100.0, 0.002, Duration::from_millis(80)));
    let mut prom = Prometheus::start(&app);
    prom.wait_for_data(ERROR_RATE, Duration::from_secs(20));

    prom.kill();
    assert!(!prom.is_running());
    let asked = Instant::now();
    let answer = prom.try_query(ERROR_RATE);
    assert!(
        matches!(answer, Err(QueryError::Unreachable(_))),
        "query after kill: {answer:?}"
    );
    assert_eq!(prom.query(P99_LATENCY), None);
    assert!(asked.elapsed() < Duration::from_secs(1), "took {:?}", asked.elapsed());

    // Back on the same port with the data scraped before the kill.
    let restarting = Instant::now();
    prom.restart();
    let took = prom.wait_for_data(ERROR_RATE, Duration::from_secs(10));
    eprintln!(
        "restart: ready after {:?}, data {took:?} later",
        restarting.elapsed() - took
    );
    assert_close("error rate after restart", prom.query(ERROR_RATE), 0.002, &prom);

    // Frozen: the port accepts but nothing answers; the query gives up after its timeout.
    prom.freeze();
    let asked = Instant::now();
    let answer = prom.try_query(ERROR_RATE);
    prom.thaw();
    assert!(
        matches!(answer, Err(QueryError::Unreachable(_))),
        "query while frozen: {answer:?}"
    );
    assert!(asked.elapsed() < Duration::from_secs(7), "took {:?}", asked.elapsed());
}

#[test]
fn history_gives_the_baseline_written() {
    let cutover = SystemTime::now() - Duration::from_secs(600);
    let baseline = Traffic::new(100.0, 0.001, Duration::from_millis(180));
    let bad = Traffic::new(100.0, 0.05, Duration::from_millis(900));
    // The hour before the cutover was healthy; the five minutes after it were not.
    let history = History::before(cutover, Duration::from_secs(3600), baseline).then(Duration::from_secs(300), bad);
    let app = App::start();
    let started = Instant::now();
    let prom = Prometheus::start_with_history(&app, &history);
    eprintln!("history: promtool and Prometheus ready after {:?}", started.elapsed());
    let mins = |m: u64| Duration::from_secs(60 * m);

    // Inside the baseline hour, and over the whole of it.
    assert_close(
        "error rate 30m before",
        prom.query_at(ERROR_RATE, cutover - mins(30)),
        0.001,
        &prom,
    );
    assert_close(
        "p99 30m before",
        prom.query_at(P99_LATENCY, cutover - mins(30)),
        0.180,
        &prom,
    );
    assert_close(
        "error rate over the hour",
        prom.query_at(&error_rate_over("1h"), cutover),
        0.001,
        &prom,
    );
    assert_close(
        "p99 over the hour",
        prom.query_at(&p99_latency_over("1h"), cutover),
        0.180,
        &prom,
    );
    // After the cutover.
    assert_close(
        "error rate 3m after",
        prom.query_at(ERROR_RATE, cutover + mins(3)),
        0.05,
        &prom,
    );
    assert_close(
        "p99 3m after",
        prom.query_at(P99_LATENCY, cutover + mins(3)),
        0.900,
        &prom,
    );
    // Before the history there is nothing.
    assert_eq!(prom.query_at(ERROR_RATE, cutover - mins(120)), None);
}
