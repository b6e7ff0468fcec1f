//! The step kinds run by the real binary: HTTP checks against a real server on loopback
//! (with the hostname pinned to an address), and command output kept without secrets.

use crate::support;

use cutover::engine::{Evidence, RunEvent};
use support::{Sandbox, assert_exit, closed_port, health_server, text};

fn http_runbook(url: &str, extra: &str) -> String {
    format!(
        "[runbook]\nname = \"http\"\nhold = \"0s\"\n[[phase]]\nid = \"smoke\"\n  [[phase.step]]\n  id = \"check\"\n  \
         kind = \"http\"\n  url = \"{url}\"\n{extra}\n"
    )
}

#[test]
fn an_http_check_with_the_hostname_pinned_reaches_the_pinned_address_with_the_real_host() {
    let server = health_server();
    let sb = Sandbox::new();
    let port = server.port;
    let rb = sb.write(
        "http.toml",
        &http_runbook(
            &format!("http://api.cutover.test:{port}/health/readiness"),
            "  resolve = { host = \"api.cutover.test\", to = \"127.0.0.1\" }\n  body_contains = \"ok\"\n  max_latency = \"2s\"",
        ),
    );
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    assert!(
        text(&out.stdout).contains("check: succeeded — HTTP 200 in"),
        "{}",
        text(&out.stdout)
    );
    // The name does not resolve anywhere: the pin is the only way the request got there.
    assert_eq!(
        server.hosts.lock().unwrap().as_slice(),
        [format!("api.cutover.test:{port}")]
    );
    let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
    let evidence = records.iter().find_map(|r| match &r.event {
        RunEvent::StepSucceeded { outcome, .. } => Some(outcome.evidence.clone()),
        _ => None,
    });
    match evidence {
        Some(Evidence::Http { attempts }) => assert_eq!(attempts[0].status, Some(200)),
        other => panic!("expected HTTP evidence, got {other:?}"),
    }
}

#[test]
fn readiness_answering_503_fails_the_check_with_the_status_and_advice() {
    let server = health_server();
    let sb = Sandbox::new();
    let rb = sb.write(
        "http.toml",
        &http_runbook(&format!("http://127.0.0.1:{}/health/unready", server.port), ""),
    );
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("check: FAILED — HTTP 503, expected 200"), "{stdout}");
    assert!(stdout.contains("the service says it is not ready"), "{stdout}");
    assert!(stdout.contains("--retry check"), "the way on is spelled out: {stdout}");
}

#[test]
fn a_slow_answer_over_the_latency_budget_fails() {
    let server = health_server();
    let sb = Sandbox::new();
    let rb = sb.write(
        "http.toml",
        &http_runbook(
            &format!("http://127.0.0.1:{}/slow", server.port),
            "  max_latency = \"200ms\"",
        ),
    );
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    assert!(
        text(&out.stdout).contains("over the 200ms budget"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn nothing_listening_is_reported_with_the_address_after_the_retries() {
    let port = closed_port();
    let sb = Sandbox::new();
    let rb = sb.write(
        "http.toml",
        &http_runbook(
            &format!("http://127.0.0.1:{port}/health"),
            "  retries = 2\n  retry_interval = \"50ms\"\n  timeout = \"2s\"",
        ),
    );
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("could not connect to 127.0.0.1:{port}")),
        "{stdout}"
    );
    assert!(stdout.contains("(after 3 attempts)"), "{stdout}");
}

#[test]
fn command_output_is_journaled_with_secrets_masked() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "cmd.toml",
        "[runbook]\nname = \"cmd\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"deploy\"\n  \
         kind = \"command\"\n  run = \"echo using token $DEPLOY_TOKEN; echo warning: $DEPLOY_TOKEN >&2\"\n",
    );
    let secret = "s3cr3t-d3pl0y-t0k3n-42";
    let out = sb
        .cutover()
        .env("DEPLOY_TOKEN", secret)
        .args(["run", rb.to_str().unwrap(), "--headless", "--output", "json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(!text(&out.stdout).contains(secret), "the secret reached the screen");
    let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains(secret), "the secret reached the journal");
    let stdout = records.iter().find_map(|r| match &r.event {
        RunEvent::StepSucceeded { outcome, .. } => match &outcome.evidence {
            Evidence::Command { stdout, stderr, .. } => Some((stdout.clone(), stderr.clone())),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(
        stdout,
        Some((
            "using token [redacted]\n".to_string(),
            "warning: [redacted]\n".to_string()
        ))
    );
    // Nothing on disk under the state directory holds it either (summary, lock, sled files).
    assert_nowhere_on_disk(&sb, secret);
}

#[test]
fn a_captured_secret_reaches_later_steps_whole_and_is_journaled_as_a_reference() {
    let sb = Sandbox::new();
    // `login` prints a secret; `use` checks it arrives both ways a step can take it: as the
    // environment variable `$auth` and pasted in with `${auth}`.
    let rb = sb.write(
        "capture.toml",
        r#"[runbook]
name = "capture"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "login"
  kind = "command"
  run = 'printf "Bearer %s" "$DEPLOY_TOKEN"'
  capture = "auth"
  [[phase.step]]
  id = "go"
  kind = "manual"
  [[phase.step]]
  id = "unrelated"
  kind = "command"
  run = 'echo "does not need it"'
  [[phase.step]]
  id = "use"
  kind = "command"
  run = '''[ "$auth" = "Bearer $DEPLOY_TOKEN" ] && [ '${auth}' = "$auth" ] && echo "same: $auth"'''
"#,
    );
    let secret = "s3cr3t-d3pl0y-t0k3n-42";
    let with_token = |args: &[&str]| sb.cutover().env("DEPLOY_TOKEN", secret).args(args).output().unwrap();
    assert_exit(&with_token(&["run", rb.to_str().unwrap(), "--headless"]), 3);
    let run_id = sb.only_run_id();
    let (records, _) = sb.journal(&run_id).unwrap();
    let captured = records.iter().find_map(|r| match &r.event {
        RunEvent::StepSucceeded { step, outcome } if step == "login" => outcome.outputs.get("auth").cloned(),
        _ => None,
    });
    assert_eq!(
        captured.as_deref(),
        Some("Bearer [redacted: environment variable DEPLOY_TOKEN]"),
        "the journal names the secret's source, never its value"
    );

    // A session without the variable runs the steps that do not need it, cannot give the
    // one that does the value, and says what to do.
    let out = sb.output(&["resume", &run_id, "--approve", "go", "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("unrelated: succeeded"), "{stdout}");
    assert!(
        stdout.contains(
            "step `use` needs `${auth}` (captured by `login`), which holds the secret from environment variable DEPLOY_TOKEN, and this session does not have it"
        ) && stdout.contains("export DEPLOY_TOKEN in this shell, with the value it had then, and retry `use`"),
        "{stdout}"
    );

    // With it, the step gets the real value, in its environment and in its text.
    let out = with_token(&["resume", &run_id, "--retry", "use", "--headless"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("use: succeeded"), "both comparisons held: {stdout}");
    assert!(!stdout.contains(secret), "{stdout}");
    let (records, _) = sb.journal(&run_id).unwrap();
    let printed = records.iter().find_map(|r| match &r.event {
        RunEvent::StepSucceeded { step, outcome } if step == "use" => match &outcome.evidence {
            Evidence::Command { stdout, .. } => Some(stdout.clone()),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(printed.as_deref(), Some("same: Bearer [redacted]\n"));
    assert_nowhere_on_disk(&sb, secret);
}

/// Nothing under the state directory holds `secret` (summary, lock, sled's files).
fn assert_nowhere_on_disk(sb: &Sandbox, secret: &str) {
    for entry in walk(&sb.state_dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_command_that_runs_too_long_is_stopped_with_everything_it_started() {
    let sb = Sandbox::new();
    let child_pid = sb.path().join("grandchild.pid");
    let rb = sb.write(
        "slow.toml",
        &format!(
            "[runbook]\nname = \"slow\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"hang\"\n  kind = \"command\"\n  \
             timeout = \"500ms\"\n  run = \"sleep 30 & echo $! > {}; wait\"\n",
            child_pid.display()
        ),
    );
    let started = std::time::Instant::now();
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&out.stdout).contains("did not finish within 500ms and was stopped"),
        "{}",
        text(&out.stdout)
    );
    let pid: i32 = std::fs::read_to_string(&child_pid).unwrap().trim().parse().unwrap();
    // A killed process may linger as a zombie until it is reaped: that is not running.
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(") ").next().and_then(|rest| rest.chars().next()))
            .is_some_and(|state| state != 'Z' && state != 'X')
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!running(pid), "the command's own child (pid {pid}) was left running");
}

#[test]
fn a_command_that_leaves_a_background_process_holding_its_output_still_finishes() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "bg.toml",
        "[runbook]\nname = \"bg\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"start-forward\"\n  \
         kind = \"command\"\n  run = \"echo starting; sleep 20 &\"\n",
    );
    let started = std::time::Instant::now();
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "waited for the background process"
    );
    let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
    let stdout = records.iter().find_map(|r| match &r.event {
        RunEvent::StepSucceeded { outcome, .. } => match &outcome.evidence {
            Evidence::Command { stdout, .. } => Some(stdout.clone()),
            _ => None,
        },
        _ => None,
    });
    let stdout = stdout.expect("command evidence");
    assert!(stdout.starts_with("starting\n"), "{stdout}");
    assert!(stdout.contains("kept this stream open"), "{stdout}");
}
