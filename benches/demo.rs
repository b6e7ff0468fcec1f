//! Resident memory during a metrics watch, and how long the demo's story takes: runs
//! `cutover demo --headless` (the whole cutover against the built-in sandbox, whose DNS
//! servers, Kubernetes API and Prometheus API live in the same process, so the figure is
//! an upper bound for the tool alone) and samples the process's RSS every 250 ms.
//!
//!   cargo bench --bench demo                      # a one-minute watch
//!   DEMO_WATCH=15m cargo bench --bench demo       # the procedure's 15 minutes
//!
//! Prints the RSS when the watch starts, the highest during it, when it ends, and the
//! process's peak (VmHWM).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A field of /proc/PID/status in kB.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn main() {
    let watch = std::env::var("DEMO_WATCH").unwrap_or_else(|_| "1m".to_string());
    let state = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["demo", "--headless", "--watch", &watch])
        .env("CUTOVER_STATE_DIR", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cutover demo");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("watch: started") {
                let _ = tx.send(true);
            } else if line.contains("watch: succeeded") || line.contains("watch: FAILED") {
                let _ = tx.send(false);
            }
        }
    });
    let (mut watching, mut at_start, mut at_end, mut highest, mut hwm) = (false, None, None, 0, 0);
    let mut samples = 0;
    let mut watch_took = Duration::ZERO;
    let mut watch_began = None;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        let rss = status_kb(pid, "VmRSS:").unwrap_or(0);
        hwm = hwm.max(status_kb(pid, "VmHWM:").unwrap_or(0));
        while let Ok(on) = rx.try_recv() {
            if on {
                watching = true;
                at_start = Some(rss);
                watch_began = Some(Instant::now());
            } else {
                watching = false;
                at_end = Some(rss);
                watch_took = watch_began.map(|t| t.elapsed()).unwrap_or_default();
            }
        }
        if watching {
            highest = highest.max(rss);
            samples += 1;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let status = child.wait().expect("wait");
    println!(
        "cutover demo --headless --watch {watch}: exit {:?} after {:.1} s",
        status.code(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  watch lasted {:.1} s ({samples} RSS samples)",
        watch_took.as_secs_f64()
    );
    println!(
        "  RSS at watch start     {}",
        at_start.map(mb).unwrap_or_else(|| "-".into())
    );
    println!("  RSS highest in watch   {}", mb(highest));
    println!(
        "  RSS at watch end       {}",
        at_end.map(mb).unwrap_or_else(|| "-".into())
    );
    println!("  peak RSS (VmHWM)       {}", mb(hwm));
    println!("  (the sandbox's DNS, Kubernetes and Prometheus servers run in the same process)");
}
