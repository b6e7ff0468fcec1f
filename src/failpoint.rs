//! Named crash points for fault-injection tests.
//!
//! In a debug build (every test build), `CUTOVER_FAILPOINT=NAME` makes the process die at
//! the point called NAME exactly as `kill -9` would: no destructor runs, nothing more is
//! flushed, locks are released by the kernel. `NAME:STEP` fires only for that step, and
//! `NAME#N` (or `NAME:STEP#N`) only the Nth time the point is reached (counting from 1).
//! The snapshot and summary points belong to no step: for them `NAME:STEP` means a write
//! made after STEP's intent was on disk and before any other step's was (the latest step
//! started is STEP). Release builds compile every point to nothing.
//!
//! The points, in the order a step meets them:
//! - `before-intent-flush`: the step's intent is handed to the store, not yet on disk;
//! - `after-intent-flush`: the intent is durable, the side effect has not started;
//! - `during-effect`: the side effect started `CUTOVER_FAILPOINT_DELAY_MS` ago (default 100);
//! - `after-effect`: the side effect finished, its outcome is not recorded yet;
//! - `during-snapshot`: a snapshot of the state is written, not flushed;
//! - `during-summary`: the run's summary is half replaced (its temporary file written).

/// Every point's name, for tests that walk them all.
pub const POINTS: &[&str] = &[
    "before-intent-flush",
    "after-intent-flush",
    "during-effect",
    "after-effect",
    "during-snapshot",
    "during-summary",
];

/// Dies here if the environment names this point (and step). No-op in release builds.
#[inline]
pub fn hit(point: &str, step: Option<&str>) {
    #[cfg(debug_assertions)]
    armed::hit(point, step);
    #[cfg(not(debug_assertions))]
    let _ = (point, step);
}

/// For `during-effect`: dies after the configured delay unless the returned guard is dropped
/// first (the effect finished), which disarms the point.
pub fn during_effect(step: &str) -> DuringEffect {
    #[cfg(debug_assertions)]
    {
        armed::during_effect(step)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = step;
        DuringEffect { _disarm: None }
    }
}

/// Disarms `during-effect` when dropped.
pub struct DuringEffect {
    _disarm: Option<std::sync::mpsc::Sender<()>>,
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    static HITS: AtomicU64 = AtomicU64::new(0);
    /// The step whose intent was flushed last: what a point without a step of its own
    /// (a snapshot, the summary) is matched against.
    static LATEST_STEP: Mutex<Option<String>> = Mutex::new(None);

    struct Spec {
        point: String,
        step: Option<String>,
        nth: u64,
    }

    fn spec() -> Option<Spec> {
        let raw = std::env::var("CUTOVER_FAILPOINT").ok().filter(|s| !s.is_empty())?;
        let (rest, nth) = match raw.rsplit_once('#') {
            Some((rest, n)) => (rest.to_string(), n.parse().unwrap_or(1)),
            None => (raw, 1),
        };
        let (point, step) = match rest.split_once(':') {
            Some((p, s)) => (p.to_string(), Some(s.to_string())),
            None => (rest, None),
        };
        Some(Spec { point, step, nth })
    }

    fn matches(point: &str, step: Option<&str>) -> Option<Spec> {
        let spec = spec()?;
        let wanted = spec.point == point && spec.step.as_deref().is_none_or(|s| Some(s) == step);
        wanted.then_some(spec)
    }

    fn die(point: &str, step: Option<&str>) -> ! {
        eprintln!(
            "failpoint {point}{}: killing this process",
            step.map(|s| format!(" ({s})")).unwrap_or_default()
        );
        // SAFETY: signals this very process; SIGKILL cannot be caught, as with `kill -9`.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL is delivered before kill() returns to a single-threaded caller; other
        // threads may run for an instant. Never go on.
        loop {
            std::thread::park();
        }
    }

    pub fn hit(point: &str, step: Option<&str>) {
        let latest = LATEST_STEP.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if point == "after-intent-flush" {
            *LATEST_STEP.lock().unwrap_or_else(|e| e.into_inner()) = step.map(str::to_string);
        }
        let step = step.or(latest.as_deref());
        let Some(spec) = matches(point, step) else { return };
        if HITS.fetch_add(1, Ordering::SeqCst) + 1 == spec.nth {
            die(point, step);
        }
    }

    pub fn during_effect(step: &str) -> super::DuringEffect {
        let Some(spec) = matches("during-effect", Some(step)) else {
            return super::DuringEffect { _disarm: None };
        };
        if HITS.fetch_add(1, Ordering::SeqCst) + 1 != spec.nth {
            return super::DuringEffect { _disarm: None };
        }
        let delay = std::env::var("CUTOVER_FAILPOINT_DELAY_MS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(100);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let step = step.to_string();
        std::thread::spawn(move || {
            // Dies unless the effect finished first (the guard dropped: the channel closed).
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_millis(delay))
            {
                die("during-effect", Some(&step));
            }
        });
        super::DuringEffect { _disarm: Some(tx) }
    }
}
