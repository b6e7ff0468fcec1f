//! Fleets through the real binary: waves in order, concurrency inside a wave, a rollback
//! that stops the fleet (and what happens to the others of its wave), a fleet killed with
//! SIGKILL and started again, decisions per application, the grouping in `cutover runs`,
//! the fleet's export, and the fleet view in a real terminal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::tmux::Tmux;
use crate::support::{Sandbox, assert_exit, text};

/// An application's runbook: `deploy` writes `start APP` and `end APP` lines to the
/// sandbox's `order.log` around `work` (shell), then `check` fails when `fail-APP` exists
/// (and rolls back). `extra` goes into the step list after `check`.
fn app(sb: &Sandbox, name: &str, work: &str, extra: &str) -> PathBuf {
    let log = sb.path().join("order.log");
    let fail = sb.path().join(format!("fail-{name}"));
    sb.write(
        &format!("{name}.toml"),
        &format!(
            r#"[runbook]
name = "{name}"
hold = "1h"
[[phase]]
id = "p"
  [[phase.step]]
  id = "deploy"
  kind = "command"
  idempotent = true
  run = "echo start {name} >> {log}; {work}; echo end {name} >> {log}"
  [[phase.step]]
  id = "check"
  kind = "command"
  run = "test ! -e {fail}"
  on_failure = "rollback"
{extra}
[rollback]
  [[rollback.step]]
  id = "back"
  kind = "command"
  run = "echo back {name} >> {log}"
"#,
            log = log.display(),
            fail = fail.display()
        ),
    )
}

fn fleet(sb: &Sandbox, on_rollback: &str, waves: &[(&str, &[&str], usize)]) -> PathBuf {
    let mut text = format!("[fleet]\nname = \"estate\"\non_rollback = \"{on_rollback}\"\n");
    let mut apps: Vec<&str> = waves.iter().flat_map(|(_, a, _)| a.iter().copied()).collect();
    apps.sort_unstable();
    for a in apps {
        text.push_str(&format!("\n[[app]]\nname = \"{a}\"\nrunbook = \"{a}.toml\"\n"));
    }
    for (name, apps, concurrency) in waves {
        let list: Vec<String> = apps.iter().map(|a| format!("\"{a}\"")).collect();
        text.push_str(&format!(
            "\n[[wave]]\nname = \"{name}\"\napps = [{}]\nconcurrency = {concurrency}\n",
            list.join(", ")
        ));
    }
    sb.write("fleet.toml", &text)
}

fn order(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.path().join("order.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The fleet's cockpit in a real terminal (140×30), run from the sandbox's folder; the shell
/// prints `EXIT=N` when it ends.
fn fleet_in_tmux(sb: &Sandbox, fleet: &Path) -> Tmux {
    let command = format!(
        "cd {} && CUTOVER_STATE_DIR={} CUTOVER_OPERATOR=alice {} run {}; echo EXIT=$?; sleep 60",
        sb.path().display(),
        sb.state_dir().display(),
        env!("CARGO_BIN_EXE_cutover"),
        fleet.display()
    );
    let tmux = Tmux::new();
    tmux.start_sized(&command, 140, 30);
    tmux
}

/// Waits (20 s at most) until `text` shows twice on the screen, which it returns.
fn wait_for_twice(tmux: &Tmux, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = tmux.screen();
        if screen.matches(text).count() >= 2 {
            return screen;
        }
        assert!(Instant::now() < deadline, "`{text}` did not show twice:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_fleet(sb: &Sandbox, fleet: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", fleet.to_str().unwrap(), "--headless"];
    args.extend_from_slice(extra);
    sb.output(&args)
}

#[test]
fn waves_go_in_order_one_at_a_time_where_the_file_says_and_a_second_start_finds_them_done() {
    let sb = Sandbox::new();
    for a in ["a", "b", "c"] {
        app(&sb, a, "sleep 0.3", "");
    }
    let f = fleet(&sb, "ask", &[("pilot", &["a"], 1), ("rest", &["b", "c"], 1)]);
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert_eq!(
        order(&sb),
        ["start a", "end a", "start b", "end b", "start c", "end c"],
        "wave 2 starts only after wave 1 holds, and one at a time:\n{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("[b] ") && l.contains("check: succeeded")),
        "{stdout}"
    );
    assert!(
        stdout.contains("✔ pilot passed") && stdout.contains("✔ rest passed"),
        "{stdout}"
    );
    assert_eq!(sb.summaries().len(), 3);

    // Started again: every application holds already; nothing runs again.
    let again = run_fleet(&sb, &f, &[]);
    assert_exit(&again, 0);
    let said = text(&again.stdout);
    assert!(said.contains("[a] passed: holding until"), "{said}");
    assert_eq!(order(&sb).len(), 6, "nothing ran a second time");
    assert_eq!(sb.summaries().len(), 3);

    // `cutover runs` groups them by fleet and wave.
    let runs = text(&sb.output(&["runs"]).stdout);
    let fleet_line = runs.find("fleet estate.default").expect(&runs);
    let pilot = runs.find("\n  pilot").expect(&runs);
    let a_run = runs.find("    a.default.").expect(&runs);
    let rest = runs.find("\n  rest").expect(&runs);
    let c_run = runs.find("    c.default.").expect(&runs);
    assert!(
        fleet_line < pilot && pilot < a_run && a_run < rest && rest < c_run,
        "{runs}"
    );

    // One timeline: every application's events, by time.
    let md = sb.output(&["export", "estate.default"]);
    assert_exit(&md, 0);
    let md = text(&md.stdout);
    assert!(md.contains("| rest | b | `b.default."), "{md}");
    // Interleaved by time: a's hold comes before b's first event, b's before c's.
    let line_of = |app: &str, what: &str| {
        md.lines()
            .position(|l| l.starts_with(&format!("[{app}]")) && l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` line of {app}:\n{md}"))
    };
    assert!(
        line_of("a", "all steps done") < line_of("b", "started: runbook b"),
        "{md}"
    );
    assert!(
        line_of("b", "all steps done") < line_of("c", "started: runbook c"),
        "{md}"
    );
    let json = sb.output(&["export", "estate.default", "--format", "json"]);
    assert_exit(&json, 0);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["format"], "cutover.fleet-export/1");
    let times: Vec<String> = doc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["at"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "the timeline is in time order");
    let apps: Vec<&str> = doc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["app"].as_str().unwrap())
        .collect();
    for a in ["a", "b", "c"] {
        assert!(apps.contains(&a), "{a} is in the timeline");
    }
    let html = sb.output(&["export", "estate.default", "--format", "html"]);
    assert_exit(&html, 1);
    assert!(text(&html.stderr).contains("a fleet exports as Markdown or JSON"));
}

#[test]
fn a_rollback_stops_the_fleet_at_its_wave_and_rolls_back_the_others_when_the_file_says_so() {
    let sb = Sandbox::new();
    app(&sb, "a", "true", "");
    app(&sb, "b", "true", "");
    app(&sb, "c", "sleep 20", "");
    app(&sb, "d", "true", "");
    std::fs::write(sb.path().join("fail-b"), "").unwrap();
    let f = fleet(
        &sb,
        "roll_back",
        &[("one", &["a"], 1), ("two", &["b", "c"], 2), ("three", &["d"], 1)],
    );
    let started = Instant::now();
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 2);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "c was rolled back, not waited for"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("rolling back the others in two (c)"), "{stdout}");
    assert!(
        stdout.contains("■ the fleet stopped at two: rolled back: b"),
        "{stdout}"
    );
    let log = order(&sb);
    assert!(
        log.contains(&"back b".to_string()) && log.contains(&"back c".to_string()),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|l| l.ends_with(" d")),
        "wave three never started: {log:?}"
    );
    let c = sb.summaries().into_iter().find(|s| s.runbook == "c").unwrap();
    let (records, _) = sb.journal(&c.run_id).unwrap();
    assert!(
        records
            .iter()
            .any(|r| format!("{:?}", r.event).contains("the fleet: b rolled back in two")),
        "c's journal says why it rolled back"
    );
    let runs = text(&sb.output(&["runs"]).stdout);
    assert!(
        runs.contains("stopped: rolled back: b")
            && runs
                .lines()
                .any(|l| l.trim_start().starts_with("d ") && l.ends_with("not started")),
        "{runs}"
    );

    // A second start does not go past the rolled-back wave, and says how to go on.
    let again = run_fleet(&sb, &f, &[]);
    assert_exit(&again, 2);
    assert!(
        text(&again.stdout).contains("then run the fleet again with --new-attempt"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn without_a_terminal_to_ask_the_others_of_the_wave_go_on() {
    let sb = Sandbox::new();
    app(&sb, "b", "true", "");
    app(&sb, "c", "sleep 2", "");
    std::fs::write(sb.path().join("fail-b"), "").unwrap();
    let f = fleet(&sb, "ask", &[("two", &["b", "c"], 2)]);
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("there is no terminal to ask whether to roll back the others in two (c)"),
        "{stdout}"
    );
    let c = sb.summaries().into_iter().find(|s| s.runbook == "c").unwrap();
    assert_eq!(c.status.word(), "holding", "c went on to its hold");
}

#[test]
fn decisions_are_given_per_application_with_app_slash_step() {
    let sb = Sandbox::new();
    let gate = "  [[phase.step]]\n  id = \"go\"\n  kind = \"manual\"\n  approve = true\n";
    app(&sb, "a", "true", gate);
    app(&sb, "b", "true", gate);
    let f = fleet(&sb, "ask", &[("one", &["a", "b"], 2)]);
    let out = run_fleet(&sb, &f, &["--approve", "a/go"]);
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("■ the fleet stopped at one: waiting: b (go needs the operator's approval)"),
        "{stdout}"
    );
    let by_app = |name: &str| sb.summaries().into_iter().find(|s| s.runbook == name).unwrap();
    assert_eq!(by_app("a").status.word(), "holding");
    assert_eq!(by_app("b").status.word(), "active");
    let out = run_fleet(&sb, &f, &["--approve", "go"]);
    assert_exit(&out, 0);
    assert_eq!(by_app("b").status.word(), "holding");
}

#[test]
fn a_fleet_killed_in_the_middle_of_a_wave_goes_on_from_there() {
    let sb = Sandbox::new();
    let started = sb.path().join("started");
    let release = sb.path().join("release");
    app(&sb, "a", "true", "");
    app(
        &sb,
        "b",
        &format!(
            "test -e {} || {{ touch {}; sleep 30; }}",
            release.display(),
            started.display()
        ),
        "",
    );
    let f = fleet(&sb, "ask", &[("one", &["a"], 1), ("two", &["b"], 1)]);
    let mut child = sb.spawn(&["run", f.to_str().unwrap(), "--headless"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "b never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: Vec<(String, String)> = sb.summaries().into_iter().map(|s| (s.runbook, s.run_id)).collect();
    assert_eq!(before.len(), 2);

    std::fs::write(&release, "").unwrap();
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[a] passed: holding until"),
        "a is not run again:\n{stdout}"
    );
    let after: Vec<(String, String)> = sb.summaries().into_iter().map(|s| (s.runbook, s.run_id)).collect();
    assert_eq!(before, after, "the same runs went on; none was started anew");
    let b = &after.iter().find(|(r, _)| r == "b").unwrap().1;
    let (records, state) = sb.journal(b).unwrap();
    assert_eq!(state.status.word(), "holding");
    let text_of = format!("{records:?}");
    assert!(
        text_of.contains("SessionOpened") && text_of.matches("SessionOpened").count() == 2,
        "b was resumed once"
    );
}

#[test]
fn fleet_file_mistakes_point_at_their_line_and_column() {
    let sb = Sandbox::new();
    app(&sb, "a", "true", "");
    let f = sb.write(
        "fleet.toml",
        "[fleet]\nname = \"estate\"\n\n[[app]]\nname = \"a\"\nrunbook = \"a.toml\"\n\n[[wave]]\napps = [\"a\", \"b\"]\n",
    );
    for command in ["validate", "run"] {
        let out = sb.output(&[command, f.to_str().unwrap(), "--headless"][..if command == "run" { 3 } else { 2 }]);
        assert_exit(&out, 1);
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "{}:9:14: error: wave 1: no application `b` in this fleet",
                f.display()
            )),
            "{command}: {err}"
        );
    }
    assert!(sb.summaries().is_empty(), "nothing ran");
}

#[test]
fn the_fleet_view_shows_every_application_and_enter_opens_one() {
    let sb = Sandbox::new();
    app(&sb, "a", "true", "");
    let gate =
        "  [[phase.step]]\n  id = \"go\"\n  kind = \"manual\"\n  title = \"Ready for traffic\"\n  approve = true\n";
    app(&sb, "b", "true", gate);
    app(&sb, "c", "true", "");
    let f = fleet(&sb, "ask", &[("pilot", &["a"], 1), ("rest", &["b", "c"], 2)]);
    let tmux = fleet_in_tmux(&sb, &f);
    let screen = tmux.wait_for("⏸ needs you");
    assert!(screen.contains("fleet estate (default)"), "{screen}");
    assert!(screen.contains("1 needs you"), "{screen}");
    for (app, wave) in [("a", "pilot"), ("b", "rest"), ("c", "rest")] {
        let row = screen.lines().find(|l| {
            let words: Vec<&str> = l.split_whitespace().filter(|w| *w != "▶").collect();
            words.len() > 2 && words[0] == app && words[1] == wave
        });
        assert!(row.is_some(), "{app} in {wave}:\n{screen}");
    }
    // Open b (the second row), approve its step in its own cockpit, come back.
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("application b. q goes back to the fleet view");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Enter approve  Esc cancel");
    // A key that would answer is ignored while the question is new (a doubled key).
    std::thread::sleep(Duration::from_millis(800));
    tmux.keys(&["Enter"]);
    tmux.wait_for("· holding");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("every wave passed · 3/3 passed");
    assert!(!screen.contains("needs you"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXIT=0");
    assert!(screen.contains("go on with: cutover run"), "{screen}");
}

#[test]
fn the_shipped_fleet_and_its_applications_are_valid() {
    let sb = Sandbox::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fleet = root.join("runbooks/fleet.toml");
    let out = sb.output(&["validate", fleet.to_str().unwrap()]);
    assert_exit(&out, 0);
    let said = text(&out.stdout);
    assert!(
        said.contains("billing") && said.contains("(staging, production)"),
        "{said}"
    );
    let plan = sb.output(&["plan", fleet.to_str().unwrap(), "--env", "staging"]);
    assert_exit(&plan, 0);
    let plan = text(&plan.stdout);
    let pilot = plan.find("Wave 1: pilot").expect(&plan);
    let search = plan.find("search: ").expect(&plan);
    assert!(
        pilot < search && plan.contains("stop-vm-scheduler → scheduler-on-k8s"),
        "{plan}"
    );
    let vars = sb.output(&["run", fleet.to_str().unwrap(), "--env", "staging", "--vars", "x.toml"]);
    assert_exit(&vars, 1);
    assert!(text(&vars.stderr).contains("--vars is for one runbook"));
}

#[test]
fn an_application_gets_the_vars_files_the_fleet_file_lists_for_it() {
    let sb = Sandbox::new();
    let log = sb.path().join("order.log");
    sb.write(
        "a.toml",
        &format!(
            "[runbook]\nname = \"a\"\nhold = \"1h\"\n[vars]\nwho = \"the runbook\"\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"say\"\n  kind = \"command\"\n  run = \"echo ${{who}} >> {}\"\n",
            log.display()
        ),
    );
    sb.write("a.vars.toml", "[vars]\nwho = \"the vars file\"\n");
    let f = sb.write(
        "fleet.toml",
        "[fleet]\nname = \"estate\"\n[[app]]\nname = \"a\"\nrunbook = \"a.toml\"\nvars = [\"a.vars.toml\"]\n[[wave]]\napps = [\"a\"]\n",
    );
    assert_exit(&run_fleet(&sb, &f, &[]), 0);
    assert_eq!(order(&sb), ["the vars file"]);
}

#[test]
fn in_the_fleet_view_a_rollback_asks_about_the_others_of_its_wave() {
    let sb = Sandbox::new();
    app(&sb, "b", "true", "");
    app(&sb, "c", "sleep 30", "");
    app(&sb, "d", "true", "");
    std::fs::write(sb.path().join("fail-b"), "").unwrap();
    let f = fleet(&sb, "ask", &[("two", &["b", "c"], 2), ("three", &["d"], 1)]);
    let tmux = fleet_in_tmux(&sb, &f);
    let screen = tmux.wait_for("Roll back the others in this wave too (c)?");
    assert!(screen.contains("STOPPED: b rolled back in two"), "{screen}");
    assert!(screen.contains("y roll them back · n let them go on"), "{screen}");
    // A key pressed as a question appears is not taken as its answer: wait before answering.
    std::thread::sleep(Duration::from_millis(600));
    tmux.keys(&["y"]);
    let screen = wait_for_twice(&tmux, "↺ rolled back");
    assert!(
        !screen.contains("● running") && screen.contains("0/3 passed"),
        "{screen}"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("EXIT=2");
    assert!(
        order(&sb).contains(&"back c".to_string()),
        "c was rolled back: {:?}",
        order(&sb)
    );
    assert!(
        !order(&sb).iter().any(|l| l.ends_with(" d")),
        "wave three never started"
    );
}

#[test]
fn a_second_start_does_not_go_past_a_rollback_in_its_own_wave() {
    let sb = Sandbox::new();
    app(&sb, "b", "true", "");
    app(&sb, "c", "true", "");
    std::fs::write(sb.path().join("fail-b"), "").unwrap();
    let f = fleet(&sb, "keep", &[("two", &["b", "c"], 1)]);
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 2);
    assert!(text(&out.stdout).contains("rolled back: b"), "{}", text(&out.stdout));
    for _ in 0..2 {
        let again = run_fleet(&sb, &f, &[]);
        assert_exit(&again, 2);
        assert!(
            !order(&sb).iter().any(|l| l == "start c"),
            "c never starts: {:?}",
            order(&sb)
        );
    }
    assert_eq!(sb.summaries().len(), 1, "only b has a run");
}

#[test]
fn an_application_with_decommissioning_after_its_hold_passes_its_wave_at_the_hold() {
    let sb = Sandbox::new();
    let decommission = "[[phase]]\nid = \"decommission\"\nafter_hold = true\n  [[phase.step]]\n  id = \"stop-vms\"\n  kind = \"command\"\n  run = \"echo decommissioned >> ORDER\"\n";
    let log = sb.path().join("order.log");
    app(
        &sb,
        "a",
        "true",
        &decommission.replace("ORDER", &log.display().to_string()),
    );
    app(&sb, "b", "true", "");
    let f = fleet(&sb, "ask", &[("one", &["a"], 1), ("two", &["b"], 1)]);
    // A wait longer than the hold: the fleet still goes on at the hold, not after it.
    let out = run_fleet(&sb, &f, &["--max-wait", "100h"]);
    assert_exit(&out, 0);
    assert_eq!(
        order(&sb),
        ["start a", "end a", "start b", "end b"],
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn sigint_stops_a_headless_fleet_and_the_same_command_goes_on() {
    let sb = Sandbox::new();
    let started = sb.path().join("started");
    let release = sb.path().join("release");
    app(
        &sb,
        "a",
        &format!(
            "test -e {} || {{ touch {}; sleep 30; }}",
            release.display(),
            started.display()
        ),
        "",
    );
    app(&sb, "b", "true", "");
    let f = fleet(&sb, "ask", &[("one", &["a"], 1), ("two", &["b"], 1)]);
    let child = sb.spawn(&["run", f.to_str().unwrap(), "--headless"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "a never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("■ the fleet stopped at one: interrupted (SIGINT)"),
        "{stdout}"
    );
    assert!(!order(&sb).iter().any(|l| l.ends_with(" b")), "wave two never started");

    std::fs::write(&release, "").unwrap();
    let out = run_fleet(&sb, &f, &["--resolve", "a/deploy=retry"]);
    assert_exit(&out, 0);
    assert!(order(&sb).contains(&"end b".to_string()));
}

#[test]
fn keep_lets_the_others_go_on_and_a_new_attempt_after_the_rca_finishes_the_wave() {
    let sb = Sandbox::new();
    app(&sb, "b", "true", "");
    app(&sb, "c", "sleep 2", "");
    app(&sb, "d", "true", "");
    let fail = sb.path().join("fail-b");
    std::fs::write(&fail, "").unwrap();
    let f = fleet(&sb, "keep", &[("two", &["b", "c"], 2), ("three", &["d"], 1)]);
    let out = run_fleet(&sb, &f, &[]);
    assert_exit(&out, 2);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("b rolled back: the others in two (c) go on, as the fleet file says"),
        "{stdout}"
    );
    let by_app = |name: &str| sb.summaries().into_iter().find(|s| s.runbook == name);
    assert_eq!(by_app("c").unwrap().status.word(), "holding", "c went on to its hold");
    assert!(by_app("d").is_none(), "wave three never started");

    // No second attempt without the root-cause analysis.
    let b = by_app("b").unwrap().run_id;
    let refused = run_fleet(&sb, &f, &["--new-attempt"]);
    assert_exit(&refused, 1);
    assert!(by_app("d").is_none());
    let rca = sb.output(&[
        "rca",
        &b,
        "--text",
        "the check failed because fail-b was left behind by the test",
    ]);
    assert_exit(&rca, 0);
    std::fs::remove_file(&fail).unwrap();
    let out = run_fleet(&sb, &f, &["--new-attempt"]);
    assert_exit(&out, 0);
    let b_after = by_app("b").unwrap();
    assert_eq!(
        (b_after.run_id.as_str(), b_after.attempt),
        (b.as_str(), 2),
        "b's run went on to attempt 2"
    );
    assert_eq!(b_after.status.word(), "holding");
    assert_eq!(by_app("d").unwrap().status.word(), "holding");
}

#[test]
fn a_rollback_elsewhere_reaches_the_application_whose_cockpit_is_open() {
    let sb = Sandbox::new();
    app(&sb, "b", "sleep 3", "");
    app(&sb, "c", "sleep 30", "");
    std::fs::write(sb.path().join("fail-b"), "").unwrap();
    let f = fleet(&sb, "roll_back", &[("two", &["b", "c"], 2)]);
    let tmux = fleet_in_tmux(&sb, &f);
    tmux.wait_for("running deploy");
    // Open c and stay in its cockpit while b fails and rolls back.
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for("application c. q goes back to the fleet view");
    let screen = tmux.wait_for("c is rolling back (the fleet: b rolled back in two), as the fleet file says");
    assert!(
        screen.contains("fleet estate (default)"),
        "back in the fleet view:\n{screen}"
    );
    wait_for_twice(&tmux, "↺ rolled back");
    tmux.keys(&["q"]);
    tmux.wait_for("EXIT=2");
    assert!(order(&sb).contains(&"back c".to_string()), "{:?}", order(&sb));
}
