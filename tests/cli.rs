//! The command line as an operator meets it: help that teaches, exit codes that scripts
//! can rely on, plans with every value resolved, and the guard on a changed runbook.

use crate::support;

use support::{Sandbox, assert_exit, text};

const GATED: &str = r#"
[runbook]
name = "cli"
hold = "0s"
[[phase]]
id = "prepare"
  [[phase.step]]
  id = "ticket"
  kind = "manual"
  note = "required"
  [[phase.step]]
  id = "flip"
  kind = "command"
  run = "echo flipped"
  approve = "type:api.example.com"
[rollback]
  [[rollback.step]]
  id = "flip-back"
  kind = "command"
  run = "echo flipped back"
"#;

#[test]
fn help_teaches_the_commands_and_the_exit_codes() {
    let sb = Sandbox::new();
    let out = sb.output(&["--help"]);
    assert_exit(&out, 0);
    let help = text(&out.stdout);
    for needle in [
        "validate",
        "plan",
        "run",
        "status",
        "rollback",
        "rca",
        "Exit codes:",
        "2  the run rolled back",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let run_help = text(&sb.output(&["run", "--help"]).stdout);
    for needle in [
        "--approve",
        "STEP[=TEXT]",
        "--resolve",
        "--max-wait",
        "3  the run stopped and waits",
    ] {
        assert!(run_help.contains(needle), "run --help lacks {needle:?}:\n{run_help}");
    }
}

#[test]
fn validate_exits_0_for_a_valid_runbook_and_1_with_the_position_of_each_problem() {
    let sb = Sandbox::new();
    let good = sb.write("good.toml", GATED);
    let out = sb.output(&["validate", good.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("is valid"));

    let bad = sb.write("bad.toml", &GATED.replace("kind = \"command\"", "kind = \"comand\""));
    let out = sb.output(&["validate", bad.to_str().unwrap()]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bad.toml:13:10"), "{stderr}");
    assert!(stderr.contains("did you mean `command`?"), "{stderr}");

    let out = sb.output(&["validate", "/nonexistent/runbook.toml"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("cannot read runbook /nonexistent/runbook.toml"));
}

#[test]
fn plan_shows_every_step_with_values_resolved_for_the_environment() {
    let sb = Sandbox::new();
    let out = sb.output(&["plan", "runbooks/preflight.toml", "--env", "staging"]);
    assert_exit(&out, 0);
    let plan = text(&out.stdout);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[digest]");
    settings.bind(|| insta::assert_snapshot!("plan_preflight_staging", plan));
}

#[test]
fn exit_codes_tell_a_script_where_the_run_stands() {
    let sb = Sandbox::new();
    let rb = sb.write("gated.toml", GATED);
    let rb = rb.to_str().unwrap();

    // 3: waiting for the operator, with the way on spelled out.
    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 3);
    assert!(
        text(&out.stdout).contains("--approve ticket --note ticket='...'"),
        "{}",
        text(&out.stdout)
    );

    // A wrong typed confirmation is an error (1) and approves nothing.
    let out = sb.output(&[
        "run",
        rb,
        "--headless",
        "--approve",
        "ticket",
        "--note",
        "ticket=CHG-1",
        "--approve",
        "flip=api.example.org",
    ]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stdout).contains("which is not `api.example.com`"),
        "{}",
        text(&out.stdout)
    );

    // 0: completed, one JSON object per line.
    let out = sb.output(&[
        "run",
        rb,
        "--headless",
        "--output",
        "json",
        "--approve",
        "flip=api.example.com",
    ]);
    assert_exit(&out, 0);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "event" && l["event"]["type"] == "step_succeeded" && l["event"]["step"] == "flip")
    );
    assert_eq!(lines.last().unwrap()["kind"], "exit");
    assert_eq!(lines.last().unwrap()["code"], 0);
}

#[test]
fn a_rollback_exits_2_and_a_new_attempt_needs_the_root_cause_analysis() {
    let sb = Sandbox::new();
    let rb = sb.write("gated.toml", GATED);
    let rb = rb.to_str().unwrap();
    assert_exit(&sb.output(&["run", rb, "--headless"]), 3);
    let run_id = sb.only_run_id();

    let out = sb.output(&[
        "rollback",
        &run_id,
        "--reason",
        "the bridge called it off",
        "--headless",
    ]);
    assert_exit(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("INCIDENT recorded: operator rolled back: the bridge called it off"),
        "{stdout}"
    );
    assert!(stdout.contains("flip-back: succeeded"), "{stdout}");

    let out = sb.output(&["run", rb, "--headless", "--new-attempt"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("no second cutover attempt without a written root-cause analysis"));

    let rca = sb.write(
        "rca.md",
        "# RCA\nThe change board had not approved the window; we started anyway.\n",
    );
    assert_exit(&sb.output(&["rca", &run_id, "--file", rca.to_str().unwrap()]), 0);
    let out = sb.output(&["run", rb, "--headless", "--new-attempt"]);
    assert_exit(&out, 3);
    assert!(text(&out.stdout).contains("attempt 2 started"));
    let out = sb.output(&["status", &run_id, "--output", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["attempt"], 2);
}

#[test]
fn a_changed_runbook_is_refused_until_the_operator_reloads_it() {
    let sb = Sandbox::new();
    let rb = sb.write("gated.toml", GATED);
    let path = rb.to_str().unwrap();
    assert_exit(&sb.output(&["run", path, "--headless"]), 3);
    std::fs::write(&rb, GATED.replace("echo flipped\"", "echo flipped now\"")).unwrap();
    let out = sb.output(&["run", path, "--headless"]);
    assert_exit(&out, 1);
    assert!(
        text(&out.stderr).contains("the runbook changed since run"),
        "{}",
        text(&out.stderr)
    );
    let out = sb.output(&["run", path, "--headless", "--reload-runbook"]);
    assert_exit(&out, 3);
    assert!(
        text(&out.stdout).contains("runbook reloaded from"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn status_and_runs_describe_runs_without_holding_them() {
    let sb = Sandbox::new();
    let out = sb.output(&["runs"]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("No runs yet"));
    let rb = sb.write("gated.toml", GATED);
    assert_exit(&sb.output(&["run", rb.to_str().unwrap(), "--headless"]), 3);
    let out = sb.output(&["status"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ticket needs the operator's approval and a note"),
        "{stdout}"
    );
    assert!(stdout.contains("0/2 steps done"), "{stdout}");
    assert!(stdout.contains("not held"), "{stdout}");
    let out = sb.output(&["runs"]);
    assert!(text(&out.stdout).contains("cli.default."), "{}", text(&out.stdout));
}

#[test]
fn a_lost_summary_does_not_start_a_second_run() {
    let sb = Sandbox::new();
    let rb = sb.write("gated.toml", GATED);
    let rb = rb.to_str().unwrap();
    assert_exit(&sb.output(&["run", rb, "--headless"]), 3);
    let run_id = sb.only_run_id();
    std::fs::remove_file(sb.state_dir().join("runs").join(&run_id).join("summary.json")).unwrap();
    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 3);
    // The same run was resumed (its summary rebuilt), and no second one was created.
    assert_eq!(sb.only_run_id(), run_id);
    assert!(text(&out.stdout).contains("session opened"), "{}", text(&out.stdout));
}

#[test]
fn after_a_completed_run_a_new_one_starts_only_on_purpose() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "once.toml",
        "[runbook]\nname = \"once\"\nhold = \"0s\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"command\"\n  run = \"true\"\n",
    );
    let rb = rb.to_str().unwrap();
    assert_exit(&sb.output(&["run", rb, "--headless"]), 0);
    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 1);
    assert!(text(&out.stderr).contains("completed at"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--new-run"), "{}", text(&out.stderr));
    assert_exit(&sb.output(&["run", rb, "--headless", "--new-run"]), 0);
    assert_eq!(sb.summaries().len(), 2);
}

#[test]
fn a_runbook_holding_the_value_of_a_secret_is_refused_without_showing_it() {
    let sb = Sandbox::new();
    let secret = "pr0d-db-pa55w0rd";
    let rb = sb.write(
        "leak.toml",
        &format!(
            "[runbook]\nname = \"leak\"\n[vars]\nconn = \"{secret}\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"command\"\n  run = \"psql ${{conn}}\"\n"
        ),
    );
    let out = sb
        .cutover()
        .env("DB_PASSWORD", secret)
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("environment variable DB_PASSWORD"), "{stderr}");
    assert!(!stderr.contains(secret) && !text(&out.stdout).contains(secret));
    assert!(sb.summaries().is_empty(), "no run was started");
    let plan = sb
        .cutover()
        .env("DB_PASSWORD", secret)
        .args(["plan", rb.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!text(&plan.stdout).contains(secret), "plan shows it");
}

#[test]
fn a_rollback_stopped_at_a_manual_step_continues_with_the_command_it_names() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "rb.toml",
        "[runbook]\nname = \"rb\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"go\"\n  kind = \"wait\"\n  approve = true\n\
         [rollback]\n  [[rollback.step]]\n  id = \"tell-the-bridge\"\n  kind = \"manual\"\n",
    );
    assert_exit(&sb.output(&["run", rb.to_str().unwrap(), "--headless"]), 3);
    let run_id = sb.only_run_id();
    let out = sb.output(&["rollback", &run_id, "--reason", "called off", "--headless"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    let named = format!("cutover resume {run_id} --approve tell-the-bridge");
    assert!(stdout.contains(&named), "{stdout}");
    // The named command works; `cutover rollback` again would also just continue.
    let out = sb.output(&["resume", &run_id, "--approve", "tell-the-bridge", "--headless"]);
    assert_exit(&out, 2);
    assert!(text(&out.stdout).contains("rollback completed"));
}

/// A headless run told to stop by a signal mid-step (SIGHUP: the SSH session closed;
/// SIGTERM: `kill`) does what the cockpit does: it stops the step's command, closes the
/// session saying so (the step will be in doubt), exits 3, and the same command resumes.
#[test]
fn a_signal_mid_step_closes_the_session_and_the_same_command_resumes() {
    for (signal, name) in [(libc::SIGHUP, "SIGHUP"), (libc::SIGTERM, "SIGTERM")] {
        let sb = Sandbox::new();
        let marker = sb.path().join("started");
        let group = sb.path().join("pgid");
        let rb = sb.write(
            "signal.toml",
            &format!(
                r#"
[runbook]
name = "signal"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "deploy"
  kind = "command"
  idempotent = true
  run = "if [ -e {marker} ]; then echo again; else echo $$ > {group}; touch {marker}; sleep 30; fi"
  [[phase.step]]
  id = "after"
  kind = "command"
  run = "true"
"#,
                marker = marker.display(),
                group = group.display()
            ),
        );
        let rb = rb.to_str().unwrap();
        let child = sb.spawn(&["run", rb, "--headless"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // The command runs only once its intent is journaled.
        while !marker.exists() {
            assert!(std::time::Instant::now() < deadline, "the step never started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // SAFETY: sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 3);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("({name}); the run is saved")),
            "{name}: says why it stopped:\n{stdout}"
        );

        // The session is closed in the journal, and the step's command is stopped.
        let (records, state) = sb.journal(&sb.only_run_id()).unwrap();
        let closed = records.iter().rev().find_map(|r| match &r.event {
            cutover::engine::RunEvent::SessionClosed { reason } => Some(reason.clone()),
            _ => None,
        });
        let closed = closed.unwrap_or_else(|| panic!("{name}: no session closed:\n{stdout}"));
        assert!(
            closed.contains(name) && closed.contains("step `deploy` was interrupted and will be in doubt"),
            "{closed}"
        );
        assert_eq!(
            state.step("deploy").unwrap().status,
            cutover::engine::StepStatus::Running
        );
        let pgid: i32 = std::fs::read_to_string(&group).unwrap().trim().parse().unwrap();
        // SAFETY: signal 0 only checks that the group exists.
        let alive = || unsafe { libc::killpg(pgid, 0) } == 0;
        while alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: the step's command outlived the session"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }

        // The same command resumes: the idempotent step runs again and the run completes.
        let out = sb.output(&["run", rb, "--headless"]);
        assert_exit(&out, 0);
        let (_, state) = sb.journal(&sb.only_run_id()).unwrap();
        let deploy = state.step("deploy").unwrap();
        assert_eq!(
            (deploy.status, deploy.tries),
            (cutover::engine::StepStatus::Succeeded, 2),
            "{name}"
        );
    }
}

#[test]
fn completions_are_scripts_each_shell_reads_and_name_every_command() {
    let sb = Sandbox::new();
    let commands = [
        "validate", "plan", "run", "rehearse", "resume", "status", "export", "schema", "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = sb.output(&["completions", shell]);
        assert_exit(&out, 0);
        let script = text(&out.stdout);
        for c in commands {
            assert!(script.contains(c), "the {shell} script lacks `{c}`");
        }
    }
    let help = text(&sb.output(&["completions", "--help"]).stdout);
    assert!(help.contains("~/.config/fish/completions/cutover.fish"), "{help}");
    assert!(help.contains("bash-completion/completions/cutover"), "{help}");

    let script = sb.write("cutover.bash", &text(&sb.output(&["completions", "bash"]).stdout));
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let completed = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            // As bash calls a completion function: the command, the word, the word before it.
            "source {}; COMP_WORDS=(cutover re); COMP_CWORD=1; _cutover cutover re cutover; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let words = text(&completed.stdout);
    for w in ["rehearse", "resume"] {
        assert!(
            words.split_whitespace().any(|x| x == w),
            "`cutover re<TAB>` offers {words:?}"
        );
    }
    assert!(!words.contains("validate"), "{words}");
}

#[test]
fn the_man_page_has_every_command_and_the_exit_codes() {
    let sb = Sandbox::new();
    let out = sb.output(&["man"]);
    assert_exit(&out, 0);
    let page = text(&out.stdout);
    assert!(page.contains(".TH cutover"), "{page}");
    for c in [
        "validate",
        "plan",
        "run",
        "rehearse",
        "resume",
        "takeover",
        "schema",
        "completions",
    ] {
        assert!(page.contains(c), "the man page lacks `{c}`");
    }
    assert!(page.contains("Exit codes"), "{page}");
    assert!(page.contains("the run rolled back"), "{page}");

    let dir = sb.path().join("man1");
    let out = sb.output(&["man", "--output", dir.to_str().unwrap()]);
    assert_exit(&out, 0);
    for file in ["cutover.1", "cutover-run.1", "cutover-validate.1", "cutover-schema.1"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(".TH cutover"), "{file}");
    }
    let run = std::fs::read_to_string(dir.join("cutover-run.1")).unwrap();
    assert!(run.contains("\\-\\-approve"), "{run}");

    // Rendered by man itself: the page is one man reads.
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(dir.join("cutover.1"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run man ({e}): install it with `apt-get install man-db` (scripts/install-test-deps.sh does)")
        });
    let shown = text(&rendered.stdout);
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    assert!(shown.contains("NAME") && shown.contains("rehearse"), "{shown}");
}
