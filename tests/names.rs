//! Names that become paths: environment names, `--env` and run ids given on the command
//! line follow one rule (src/names.rs), so no run is ever created, opened or read outside
//! `STATE_DIR/runs/`, and `cutover runs` lists every run there is. Files read from the
//! command line are bounded.

use crate::support;

use std::path::Path;

use cutover::journal::{Holder, JournalError, Store};
use support::paths::{copy_dir, listing, new_outside};
use support::{Sandbox, assert_exit, text};

/// A runbook whose only step appends to `ran.txt` in the working directory: running it
/// twice shows.
const APPENDS: &str = r#"
[runbook]
name = "rb"
hold = "0s"

[env.staging]

[env."eu/prod"]

[env."x/../../../escaped"]

[[phase]]
id = "p"
  [[phase.step]]
  id = "append"
  kind = "command"
  run = "echo ran >> ran.txt"
"#;

/// A run that waits for its operator at once.
const WAITS: &str = r#"
[runbook]
name = "waits"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "ticket"
  kind = "manual"
[rollback]
  [[rollback.step]]
  id = "undo"
  kind = "command"
  run = "true"
"#;

#[test]
fn an_environment_name_that_is_a_path_is_refused_at_its_line_and_nothing_runs() {
    let sb = Sandbox::new();
    let rb = sb.write("rb.toml", APPENDS);
    let rb = rb.to_str().unwrap();
    let before = listing(sb.path());

    let out = sb
        .cutover()
        .args(["validate", rb])
        .current_dir(sb.path())
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    for at in ["rb.toml:8:6", "rb.toml:10:6"] {
        assert!(stderr.contains(at), "no diagnostic at {at}:\n{stderr}");
    }
    assert!(
        stderr.contains("error[bad-name]: the environment name has `/`"),
        "{stderr}"
    );

    for env in ["eu/prod", "x/../../../escaped", "staging"] {
        let out = sb
            .cutover()
            .args(["run", rb, "--env", env, "--headless"])
            .current_dir(sb.path())
            .output()
            .unwrap();
        assert_exit(&out, 1);
    }
    assert!(!sb.path().join("ran.txt").exists(), "a step ran");
    assert_eq!(
        new_outside(&before, &listing(sb.path()), Path::new("state")),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(sb.summaries().is_empty(), "a run was created");
    let runs = sb.state_dir().join("runs");
    let created = std::fs::read_dir(&runs).map(|d| d.count()).unwrap_or(0);
    assert_eq!(created, 0, "something was created in {}", runs.display());
}

#[test]
fn env_on_the_command_line_follows_the_same_rule() {
    let sb = Sandbox::new();
    let rb = sb.write("waits.toml", WAITS);
    let rb = rb.to_str().unwrap();
    let before = listing(sb.path());
    for env in ["../../escaped", "eu/prod", "", ".hidden", "a\u{1b}[2Jb"] {
        for command in [
            vec!["validate", rb, "--env", env],
            vec!["plan", rb, "--env", env],
            vec!["run", rb, "--env", env, "--headless"],
            vec!["rehearse", rb, "--env", env, "--headless"],
        ] {
            let out = sb.output(&command);
            assert_exit(&out, 1);
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("--env") && stderr.contains("is not a valid environment name"),
                "{command:?}: {stderr}"
            );
            assert!(!stderr.contains('\u{1b}'), "{command:?} printed a raw ESC: {stderr:?}");
        }
    }
    assert!(sb.summaries().is_empty());
    assert_eq!(
        new_outside(&before, &listing(sb.path()), Path::new("state")),
        Vec::<std::path::PathBuf>::new()
    );
}

/// A copy of a real run planted outside `runs/`, where only a path-like id reaches it.
fn planted_run(sb: &Sandbox) -> std::path::PathBuf {
    let rb = sb.write("waits.toml", WAITS);
    assert_exit(&sb.output(&["run", rb.to_str().unwrap(), "--headless"]), 3);
    let run_id = sb.only_run_id();
    let planted = sb.path().join("planted");
    copy_dir(&sb.state_dir().join("runs").join(&run_id), &planted);
    planted
}

#[test]
fn a_run_id_that_is_a_path_is_refused_by_every_command_before_any_path_is_built() {
    let sb = Sandbox::new();
    let planted = planted_run(&sb);
    let before = listing(sb.path());
    let mut ids = vec![
        "../../planted",
        "../runs/../../planted",
        "/etc",
        ".",
        "..",
        "",
        "x\u{1b}]52;c;aGk=\u{7}",
    ];
    let absolute = planted.to_str().unwrap().to_string();
    ids.push(&absolute);
    for id in ids {
        for command in [
            vec!["status", id],
            vec!["journal", id],
            vec!["export", id],
            vec!["resume", id, "--headless"],
            vec!["rollback", id, "--reason", "testing", "--headless"],
            vec!["rca", id, "--text", "an analysis"],
        ] {
            let out = sb.output(&command);
            assert_exit(&out, 1);
            let stderr = text(&out.stderr);
            assert!(stderr.contains("is not a valid run id"), "{command:?}: {stderr}");
            assert!(
                stderr.contains("cutover runs"),
                "{command:?} does not say where ids are: {stderr}"
            );
            assert!(!stderr.contains('\u{1b}'), "{command:?} printed a raw ESC: {stderr:?}");
        }
    }
    assert_eq!(listing(sb.path()), before, "a command changed files");
}

#[test]
fn the_store_builds_no_path_from_an_invalid_run_id() {
    let sb = Sandbox::new();
    let planted = planted_run(&sb);
    let before = listing(&planted);
    let store = Store::open(sb.state_dir()).unwrap();
    let holder = Holder::this_process("test", "test", chrono::Utc::now());
    for id in ["../../planted", "..", "", "a/b"] {
        match store.open_run(id, &holder) {
            Err(JournalError::Invalid(why)) => assert!(why.contains("is not a valid run id"), "{why}"),
            Err(other) => panic!("{id:?}: {other}"),
            Ok(_) => panic!("{id:?} opened a run"),
        }
        assert!(
            matches!(store.read_copy(id, &holder), Err(JournalError::Invalid(_))),
            "{id:?}"
        );
        assert!(store.summary(id).is_none(), "{id:?} has a summary");
        assert!(store.holder(id).is_none(), "{id:?} has a holder");
    }
    assert_eq!(listing(&planted), before);
}

#[test]
fn the_root_cause_analysis_file_is_bounded_and_must_be_text() {
    let sb = Sandbox::new();
    let rb = sb.write("waits.toml", WAITS);
    assert_exit(&sb.output(&["run", rb.to_str().unwrap(), "--headless"]), 3);
    let run_id = sb.only_run_id();
    assert_exit(
        &sb.output(&["rollback", &run_id, "--reason", "called off", "--headless"]),
        2,
    );

    let big = sb.path().join("big-rca.md");
    std::fs::write(&big, "the cause was\n".repeat(300 * 1024 / 14 + 1)).unwrap();
    let size = std::fs::metadata(&big).unwrap().len();
    let out = sb.output(&["rca", &run_id, "--file", big.to_str().unwrap()]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("big-rca.md") && stderr.contains(&format!("{size} bytes")) && stderr.contains("256 KiB"),
        "{stderr}"
    );

    let latin1 = sb.path().join("latin1.md");
    std::fs::write(&latin1, b"# RCA\nla caf\xe9 ferm\xe9e\n").unwrap();
    let out = sb.output(&["rca", &run_id, "--file", latin1.to_str().unwrap()]);
    assert_exit(&out, 1);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("latin1.md:2:7") && stderr.contains("UTF-8"), "{stderr}");

    let (_, state) = sb.journal(&run_id).unwrap();
    assert!(state.rcas.is_empty(), "a refused analysis was attached");

    let small = sb.write("rca.md", "# RCA\nThe window was not approved.\n");
    assert_exit(&sb.output(&["rca", &run_id, "--file", small.to_str().unwrap()]), 0);
}
