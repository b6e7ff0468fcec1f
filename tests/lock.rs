//! One process drives a run: a second one fails at once and says who holds it.

use crate::support;

use std::time::{Duration, Instant};

use support::{Sandbox, assert_exit, text};

#[test]
fn a_second_process_on_a_held_run_fails_at_once_naming_the_holder() {
    let sb = Sandbox::new();
    let (rb, marker) = sb.held_runbook(60);
    let rb = rb.to_str().unwrap();
    let mut first = sb.spawn(&["run", rb, "--headless"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the first run never started its step");
        std::thread::sleep(Duration::from_millis(10));
    }
    let host = cutover::journal::hostname();
    let pid = first.id();

    let started = Instant::now();
    let out = sb.output(&["run", rb, "--headless"]);
    let waited = started.elapsed();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "is held by pid {pid} on host {host} (tester, `cutover run`) since "
        )),
        "{stderr}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "it must fail at once, not wait ({waited:?})"
    );

    // Changing commands are refused the same way; reading ones work and name the holder.
    let run_id = sb.only_run_id();
    let out = sb.output(&["rollback", &run_id, "--reason", "test", "--headless"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains(&format!("held by pid {pid}")));
    let out = sb.output(&["status", &run_id]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("held by    pid {pid} on host {host}")),
        "{stdout}"
    );
    assert!(stdout.contains("running long"), "{stdout}");

    first.kill().unwrap();
    first.wait().unwrap();
    // Once the holder is gone the lock is free again (the kernel released it).
    let out = sb.output(&["status", &run_id]);
    assert!(text(&out.stdout).contains("held by    nobody"));
}
