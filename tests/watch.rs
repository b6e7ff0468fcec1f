//! `cutover watch` beside a real driver process: followers see each event within a second,
//! never take the run's lock nor write in its folder, and five of them leave the driver's
//! timing as it was. (The read-only cockpit's screens are in tui.rs; the bridge in tmux,
//! driver and watcher side by side, in tui_tmux.rs.)

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use cutover::engine::{Recorded, RunEvent};
use cutover::journal::Follower;
use cutover::tui::watcher::POLL;
use support::tmux::Tmux;
use support::{Sandbox, assert_exit, text};

/// Waits for the one run of the sandbox to exist and returns its id.
fn run_appears(sb: &Sandbox, driver: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = sb.summaries().first() {
            return s.run_id.clone();
        }
        if let Ok(Some(status)) = driver.try_wait() {
            panic!("the driver ended ({status}) before its run appeared");
        }
        assert!(Instant::now() < deadline, "the run never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_dir(sb: &Sandbox, run_id: &str) -> PathBuf {
    sb.state_dir().join("runs").join(run_id)
}

/// The driver's exit, its output shown when it is not `code`.
fn finished(driver: Child, code: i32) {
    let out = driver.wait_with_output().unwrap();
    assert_exit(&out, code);
}

/// An event's kind and step, without its times and measurements.
fn kind(r: &Recorded) -> String {
    let debug = format!("{:?}", r.event);
    let name = debug.split([' ', '{', '(']).next().unwrap_or_default().to_string();
    let step = match &r.event {
        RunEvent::StepStarted { step, .. }
        | RunEvent::StepSucceeded { step, .. }
        | RunEvent::ProcessStarted { step, .. } => step.as_str(),
        _ => "",
    };
    format!("{name} {step}")
}

const FOLLOWED: &str = r#"
[runbook]
name = "followed"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "one"
  kind = "command"
  run = "sleep 0.4"
  [[phase.step]]
  id = "pause"
  kind = "wait"
  duration = "1s"
  [[phase.step]]
  id = "two"
  kind = "command"
  run = "sleep 0.4"
  [[phase.step]]
  id = "three"
  kind = "command"
  run = "sleep 0.4"
"#;

#[test]
fn a_follower_sees_each_event_of_a_live_driver_within_a_second_and_the_driver_keeps_its_lock() {
    let sb = Sandbox::new();
    let rb = sb.write("followed.toml", FOLLOWED);
    let rb = rb.to_str().unwrap();
    let mut driver = sb.spawn(&["run", rb, "--headless"]);
    let run_id = run_appears(&sb, &mut driver);
    let mut follower = Follower::open(&run_dir(&sb, &run_id), &run_id);
    let mut seen: Vec<(Recorded, DateTime<Utc>)> = Vec::new();
    let mut second_driver_refused = false;
    let mut first_poll = true;
    loop {
        let ended = driver.try_wait().unwrap().is_some();
        let now = Utc::now();
        let new = follower.poll().unwrap();
        // What was there before the follower began is not a measure of its latency.
        let at = if first_poll { None } else { Some(now) };
        first_poll = false;
        seen.extend(new.into_iter().map(|r| (r, at.unwrap_or(DateTime::<Utc>::MIN_UTC))));
        if ended {
            break;
        }
        // While the driver runs, following leaves its lock with it: the follower sees it as the
        // holder, and a second driver is refused, naming it.
        if let Some(h) = follower.holder() {
            assert_eq!(h.pid, driver.id(), "the holder is the driver");
            if !second_driver_refused && seen.iter().any(|(r, _)| kind(r) == "StepSucceeded one") {
                let out = sb.output(&["run", rb, "--headless"]);
                assert_exit(&out, 1);
                let stderr = text(&out.stderr);
                assert!(stderr.contains(&format!("is held by pid {}", driver.id())), "{stderr}");
                second_driver_refused = true;
                // Starting that second process took time the follower did not poll in:
                // what arrived meanwhile is no measure of its latency.
                first_poll = true;
            }
        }
        std::thread::sleep(POLL);
    }
    finished(driver, 0);
    assert!(second_driver_refused, "the run ended before a second driver was tried");
    assert_eq!(follower.holder(), None, "the driver let go of its lock");

    // Every event, decoded as the journal decodes it, each seen within a second.
    let (records, _) = sb.journal(&run_id).unwrap();
    let followed: Vec<Recorded> = seen.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(followed, records);
    let late: Vec<(String, i64)> = seen
        .iter()
        .filter(|(_, at)| *at != DateTime::<Utc>::MIN_UTC)
        .map(|(r, at)| (kind(r), (*at - r.at).num_milliseconds()))
        .collect();
    assert!(late.len() >= 8, "most events were recorded while followed: {late:?}");
    let worst = late.iter().map(|(_, ms)| *ms).max().unwrap();
    eprintln!(
        "driver's record → follower: worst {worst} ms over {} events (poll every {POLL:?})",
        late.len()
    );
    assert!(
        late.iter().all(|(_, ms)| *ms < 1000),
        "seen later than a second: {late:?}"
    );
}

/// A runbook that waits for a file (so the watchers can settle first), then is timed: a
/// 2 s pause, a step, a 1 s pause, a step.
fn timed(go: &Path) -> String {
    format!(
        r#"
[runbook]
name = "timed"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "go"
  kind = "command"
  run = "while [ ! -e {} ]; do sleep 0.02; done"
  [[phase.step]]
  id = "pause"
  kind = "wait"
  duration = "2s"
  [[phase.step]]
  id = "work"
  kind = "command"
  run = "sleep 0.2"
  [[phase.step]]
  id = "pause-again"
  kind = "wait"
  duration = "1s"
  [[phase.step]]
  id = "last"
  kind = "command"
  run = "true"
"#,
        go.display()
    )
}

/// Runs the timed runbook with `watchers` cockpits following it (in tmux), and returns the
/// driver's events after `go` finished, as (kind, milliseconds after it).
fn timed_run(watchers: usize) -> Vec<(String, i64)> {
    let sb = Sandbox::new();
    let go = sb.path().join("go");
    let rb = sb.write("timed.toml", &timed(&go));
    let mut driver = sb.spawn(&["run", rb.to_str().unwrap(), "--headless"]);
    let run_id = run_appears(&sb, &mut driver);
    let tmux = Tmux::named(&format!("-five-{watchers}"));
    for i in 0..watchers {
        tmux.start_session(
            &format!("w{i}"),
            &format!(
                "CUTOVER_STATE_DIR={} {} watch {run_id}; echo EXIT=$?; sleep 60",
                sb.state_dir().display(),
                env!("CARGO_BIN_EXE_cutover"),
            ),
        );
    }
    for i in 0..watchers {
        tmux.wait_in(&format!("w{i}"), "drives", Duration::from_secs(10));
    }
    std::fs::write(&go, "").unwrap();
    finished(driver, 0);
    // They were following: each sees the run end.
    for i in 0..watchers {
        tmux.wait_in(&format!("w{i}"), "the run ended: completed", Duration::from_secs(5));
    }
    let (records, _) = sb.journal(&run_id).unwrap();
    let start = records
        .iter()
        .find(|r| kind(r) == "StepSucceeded go")
        .expect("go finished")
        .at;
    records
        .iter()
        .filter(|r| r.at >= start)
        .map(|r| (kind(r), (r.at - start).num_milliseconds()))
        .collect()
}

#[test]
fn five_watchers_leave_the_drivers_timing_as_it_was() {
    let alone = timed_run(0);
    let watched = timed_run(5);
    eprintln!("alone:   {alone:?}\nwatched: {watched:?}");
    let kinds = |run: &[(String, i64)]| run.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&watched), kinds(&alone), "the same events in the same order");
    let at = |run: &[(String, i64)], k: &str| run.iter().find(|(kind, _)| kind == k).unwrap().1;
    // The pauses were kept (the gates did not open early)...
    assert!(at(&alone, "StepSucceeded pause") >= 2000, "{alone:?}");
    assert!(at(&watched, "StepSucceeded pause") >= 2000, "{watched:?}");
    // ...and no event of the watched run came much later than alone (a few ms on a quiet
    // machine; the margin is for a busy CI machine running the five cockpits too).
    for ((k, alone_ms), (_, watched_ms)) in alone.iter().zip(&watched) {
        assert!(
            *watched_ms <= alone_ms + 1500,
            "{k}: {watched_ms} ms after go with five watchers, {alone_ms} ms alone"
        );
    }
}

/// Every file under `dir` with its bytes and modification time.
fn files(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    support::paths::listing(dir)
        .into_iter()
        .filter(|p| dir.join(p).is_file())
        .map(|p| {
            let full = dir.join(&p);
            let modified = std::fs::metadata(&full).unwrap().modified().unwrap();
            (p, (std::fs::read(&full).unwrap(), modified))
        })
        .collect()
}

#[test]
fn a_watcher_takes_no_lock_and_writes_nothing_in_the_run() {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "strace is not installed: `apt-get install -y strace`");
    let sb = Sandbox::new();
    let (rb, marker) = sb.held_runbook(30);
    let rb = rb.to_str().unwrap();
    let mut driver = sb.spawn(&["run", rb, "--headless"]);
    let run_id = run_appears(&sb, &mut driver);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the driver never started its step");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = run_dir(&sb, &run_id);
    let trace = sb.path().join("trace");
    let tmux = Tmux::named("-strace");
    tmux.start_session(
        "w",
        &format!(
            "CUTOVER_STATE_DIR={} strace -f -qq -o {} -e trace=%file,fcntl,flock,ftruncate {} watch {run_id}; \
             echo EXIT=$?; sleep 60",
            sb.state_dir().display(),
            trace.display(),
            env!("CARGO_BIN_EXE_cutover"),
        ),
    );
    tmux.wait_in("w", &format!("(pid {}) drives", driver.id()), Duration::from_secs(20));

    // The driver still holds its run: a second driver is refused, naming it.
    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains(&format!("is held by pid {}", driver.id())),
        "{}",
        text(&out.stderr)
    );

    // The driver stops; the watcher says nobody holds the run, and changes nothing in it
    // however long it looks.
    support::process::stop(&mut driver);
    tmux.wait_in("w", "nobody holds the run now", Duration::from_secs(5));
    let before = files(&dir);
    std::thread::sleep(Duration::from_millis(1500));
    tmux.keys_to("w", &["Enter", "r"]);
    assert_eq!(
        files(&dir),
        before,
        "the run's folder changed while only a watcher looked"
    );
    tmux.keys_to("w", &["q"]);
    tmux.wait_in("w", "EXIT=0", Duration::from_secs(5));
    assert_eq!(files(&dir), before);

    // What it did, by the kernel's account: it read the event log and asked who holds the
    // lock, and never opened anything of the run to write, nor took or tested a lock by
    // taking it.
    let trace = std::fs::read_to_string(&trace).unwrap();
    let run = dir.display().to_string();
    let in_run: Vec<&str> = trace.lines().filter(|l| l.contains(&run)).collect();
    assert!(
        in_run.iter().any(|l| l.contains("events.log\", O_RDONLY")),
        "the trace does not show the watcher reading the log:\n{trace}"
    );
    assert!(trace.contains("F_OFD_GETLK"), "{trace}");
    let writes: Vec<&&str> = in_run
        .iter()
        .filter(|l| {
            ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                .iter()
                .any(|f| l.contains(f))
                || [
                    "rename", "unlink", "mkdir", "chmod", "fchmod", "chown", "fchown", "truncate", "link", "utime",
                ]
                .iter()
                .any(|call| l.split_whitespace().nth(1).is_some_and(|c| c.starts_with(call)))
        })
        .collect();
    assert!(writes.is_empty(), "the watcher wrote in the run's folder:\n{writes:#?}");
    let locks: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("flock(") || l.contains("SETLK") || l.contains("ftruncate("))
        .collect();
    assert!(locks.is_empty(), "the watcher took a lock:\n{locks:#?}");
}

#[test]
fn watch_teaches_itself_and_refuses_an_unknown_run_or_no_terminal() {
    let sb = Sandbox::new();
    let help = sb.output(&["watch", "--help"]);
    assert_exit(&help, 0);
    let help = text(&help.stdout);
    assert!(
        help.contains("read-only") && help.contains("Examples:\n  cutover runs"),
        "{help}"
    );
    assert!(text(&sb.output(&["--help"]).stdout).contains("cutover watch <RUN_ID>"));

    let out = sb.output(&["watch", "no-such-run"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("there is no run no-such-run (see `cutover runs`)"));

    let rb = sb.write("followed.toml", FOLLOWED);
    assert_exit(&sb.output(&["run", rb.to_str().unwrap(), "--headless"]), 0);
    let run_id = sb.only_run_id();
    let out = sb.output(&["watch", &run_id]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("needs a terminal") && stderr.contains(&format!("`cutover status {run_id}`")),
        "{stderr}"
    );
}
