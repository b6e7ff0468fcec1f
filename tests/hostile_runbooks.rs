//! Hostile runbooks, generated: path-like names and control characters in every name
//! position, control characters in every free-text field, a file over the size bound,
//! nesting ten thousand deep, bytes that are not UTF-8. `cutover validate` and
//! `cutover run --headless` refuse each with exit 1 and an error saying what and where;
//! nothing is written outside the state directory (and no run is created in it), nothing
//! runs, the process never panics, and no message carries a raw control character.
//!
//! What is refused where: names (runbook name, environment, phase and step ids) follow
//! the one name rule of src/names.rs. Every other string of a runbook (titles,
//! descriptions, variables, commands, URLs, …) may hold tabs and line breaks but no
//! other control character: nobody means an escape sequence in a runbook, and one would
//! act on every terminal, export and post-mortem that shows the text.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::paths::{listing, new_outside};
use support::{Sandbox, text};

/// Where the state directory is, under the sandbox: deep enough that a name climbing out
/// of it with `../` still lands inside the sandbox, where the listing sees it.
const STATE: &str = "a/b/c/state";

/// A TOML basic string holding `s`, control characters written as escapes.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The fields of a runbook that is valid as it is (with `--env staging`); each case
/// replaces one of them.
#[derive(Clone)]
struct Fields {
    name: String,
    /// Instead of `name`: the name comes from this variable's value.
    name_from_var: Option<String>,
    description: String,
    env: String,
    var: String,
    phase: String,
    phase_title: String,
    step: String,
    title: String,
    run: String,
    url: String,
    rollback: String,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            name: "rb".into(),
            name_from_var: None,
            description: "a runbook".into(),
            env: "hostile".into(),
            var: "hello".into(),
            phase: "prepare".into(),
            phase_title: "Before the window".into(),
            step: "greet".into(),
            title: "Say hello".into(),
            run: "echo ${greeting} >> ran.txt".into(),
            url: "http://127.0.0.1:1/health".into(),
            rollback: "undo".into(),
        }
    }
}

impl Fields {
    fn render(&self) -> String {
        let (name, name_var) = match &self.name_from_var {
            Some(v) => ("\"${rbname}\"".to_string(), format!("rbname = {}\n", toml_string(v))),
            None => (toml_string(&self.name), String::new()),
        };
        format!(
            r#"[runbook]
name = {name}
description = {description}
hold = "0s"

[vars]
{name_var}greeting = {var}

[env.staging.vars]
greeting = "hi"

[env.{env}.vars]
greeting = "hi"

[[phase]]
id = {phase}
title = {phase_title}
  [[phase.step]]
  id = {step}
  title = {title}
  kind = "command"
  run = {run}
  [[phase.step]]
  id = "probe"
  kind = "http"
  url = {url}

[rollback]
  [[rollback.step]]
  id = {rollback}
  kind = "command"
  run = "true"
"#,
            description = toml_string(&self.description),
            var = toml_string(&self.var),
            env = toml_string(&self.env),
            phase = toml_string(&self.phase),
            phase_title = toml_string(&self.phase_title),
            step = toml_string(&self.step),
            title = toml_string(&self.title),
            run = toml_string(&self.run),
            url = toml_string(&self.url),
            rollback = toml_string(&self.rollback),
        )
    }
}

/// Values a name must not take. `{ABS}` stands for an absolute path inside the sandbox.
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "x/../../../escaped",
        "eu/prod",
        "../escaped",
        "{ABS}",
        "back\\..\\slash",
        ".hidden",
        "",
        ".",
        "..",
        "a..b",
        "nul\u{0}byte",
        "ok\u{1b}]52;c;aGk=\u{7}",
        "\u{1b}[2J",
        "csi\u{9b}2J",
        "del\u{7f}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push("x".repeat(500));
    names
}

/// Control characters a text field must not hold.
fn control_texts() -> Vec<&'static str> {
    vec![
        "clip \u{1b}]52;c;aGk=\u{7} board",
        "clear \u{1b}[2J screen",
        "nul \u{0} byte",
        "c1 \u{9b}2J csi",
        "bell \u{7}",
        "carriage \r return",
    ]
}

struct Case {
    label: String,
    bytes: Vec<u8>,
    /// What the error must say (besides `error`).
    says: &'static str,
    /// The environment `cutover run` is given.
    env: String,
    /// The file itself holds raw control bytes, which a diagnostic's excerpt of the line
    /// shows as they are: making printers safe is not this test's business.
    raw_in_file: bool,
}

fn name_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    type Set = fn(&mut Fields, String);
    let positions: [(&str, Set); 6] = [
        ("runbook name", |f, v| f.name = v),
        ("runbook name from a variable", |f, v| f.name_from_var = Some(v)),
        ("environment", |f, v| f.env = v),
        ("phase id", |f, v| f.phase = v),
        ("step id", |f, v| f.step = v),
        ("rollback step id", |f, v| f.rollback = v),
    ];
    for (position, set) in positions {
        for value in hostile_names() {
            let mut fields = Fields::default();
            set(&mut fields, value.clone());
            // A NUL cannot be passed as an argument: that run takes `staging`, and the
            // runbook's bad `[env.NAME]` stops it.
            let env = if position == "environment" && !value.contains('\0') {
                value.clone()
            } else {
                "staging".into()
            };
            cases.push(Case {
                label: format!("{position} {value:?}"),
                bytes: fields.render().into_bytes(),
                says: if position == "environment" {
                    "environment name"
                } else {
                    "bad-name"
                },
                env,
                raw_in_file: false,
            });
        }
    }
    cases
}

fn text_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    type Set = fn(&mut Fields, String);
    let positions: [(&str, Set); 6] = [
        ("description", |f, v| f.description = v),
        ("phase title", |f, v| f.phase_title = v),
        ("step title", |f, v| f.title = v),
        ("variable", |f, v| f.var = v),
        ("command", |f, v| f.run = v),
        ("url", |f, v| f.url = format!("http://127.0.0.1:1/{v}")),
    ];
    for (position, set) in positions {
        for value in control_texts() {
            let mut fields = Fields::default();
            set(&mut fields, value.to_string());
            cases.push(Case {
                label: format!("{position} {value:?}"),
                bytes: fields.render().into_bytes(),
                says: "control-character",
                env: "staging".into(),
                raw_in_file: false,
            });
        }
    }
    // Keys: a variable's name, and a header's.
    for value in control_texts() {
        let valid = Fields::default().render();
        for (position, text) in [
            (
                "variable name",
                valid.replace(
                    "greeting = \"hello\"",
                    &format!("greeting = \"hello\"\n{} = \"x\"", toml_string(value)),
                ),
            ),
            (
                "header name",
                valid.replace(
                    "  url = ",
                    &format!("  headers = {{ {} = \"x\" }}\n  url = ", toml_string(value)),
                ),
            ),
        ] {
            assert_ne!(text, valid, "{position}: the runbook did not change");
            cases.push(Case {
                label: format!("{position} {value:?}"),
                bytes: text.into_bytes(),
                says: "control-character",
                env: "staging".into(),
                raw_in_file: false,
            });
        }
    }
    // A C1 control written as itself (TOML allows it raw) rather than as an escape.
    let raw = Fields::default().render().replace("Say hello", "Say \u{9b}2J hello");
    cases.push(Case {
        label: "raw C1 control in a title".into(),
        bytes: raw.into_bytes(),
        says: "control-character",
        env: "staging".into(),
        raw_in_file: true,
    });
    cases
}

fn file_cases() -> Vec<Case> {
    let valid = Fields::default().render();
    let deep = |open: &str, middle: &str, close: &str| {
        format!(
            "{valid}\n[metrics_junk]\nx = {}{middle}{}\n",
            open.repeat(10_000),
            close.repeat(10_000)
        )
    };
    let mut padded = valid.clone();
    while padded.len() <= 1024 * 1024 {
        padded.push_str("# padding, padding, padding, padding, padding, padding, padding, padding\n");
    }
    let one_line = format!("{valid}# {}\n", "x".repeat(2 * 1024 * 1024));
    let mut not_utf8 = b"[runbook]\nname = \"caf".to_vec();
    not_utf8.extend_from_slice(b"\xe9\"\n");
    not_utf8.extend_from_slice(valid.split_once('\n').unwrap().1.split_once('\n').unwrap().1.as_bytes());
    vec![
        Case {
            label: "over 1 MiB".into(),
            bytes: padded.into_bytes(),
            says: "over the limit of 1 MiB",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "one 2 MiB line".into(),
            bytes: one_line.into_bytes(),
            says: "over the limit of 1 MiB",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "arrays nested 10 000 deep".into(),
            bytes: deep("[", "1", "]").into_bytes(),
            says: "nested too deeply",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "inline tables nested 10 000 deep".into(),
            bytes: deep("{ a = ", "1", " }").into_bytes(),
            says: "nested too deeply",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "a dotted key 10 000 deep".into(),
            bytes: format!("{valid}\n[junk]\n{}x = 1\n", "a.".repeat(10_000)).into_bytes(),
            says: "nested too deeply",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "a table header 10 000 deep".into(),
            bytes: format!("{valid}\n[{}x]\ny = 1\n", "a.".repeat(10_000)).into_bytes(),
            says: "nested too deeply",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "not UTF-8".into(),
            bytes: not_utf8,
            says: "rb.toml:2:12",
            env: "staging".into(),
            raw_in_file: false,
        },
        Case {
            label: "a raw NUL byte".into(),
            bytes: valid.replace("Say hello", "Say \0 hello").into_bytes(),
            says: "toml-syntax",
            env: "staging".into(),
            raw_in_file: true,
        },
        Case {
            label: "a raw ESC byte".into(),
            bytes: valid.replace("Say hello", "Say \u{1b}[2J hello").into_bytes(),
            says: "toml-syntax",
            env: "staging".into(),
            raw_in_file: true,
        },
    ]
}

fn run_in(sb: &Sandbox, args: &[&str]) -> Output {
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    sb.cutover()
        .args(args)
        .env("CUTOVER_STATE_DIR", sb.path().join(STATE))
        .env("TMPDIR", &tmp)
        .current_dir(sb.path())
        .output()
        .expect("run cutover")
}

/// Runs `validate` and `run --headless` on one case; returns what went wrong, if anything.
fn check(case: &Case) -> Vec<String> {
    let sb = Sandbox::new();
    let abs = sb.path().join("abs").to_string_lossy().into_owned();
    let bytes = String::from_utf8(case.bytes.clone())
        .map(|s| s.replace("{ABS}", &abs).into_bytes())
        .unwrap_or_else(|_| case.bytes.clone());
    let env = case.env.replace("{ABS}", &abs);
    let rb = sb.path().join("rb.toml");
    std::fs::write(&rb, &bytes).unwrap();
    std::fs::create_dir_all(sb.path().join(STATE).parent().unwrap()).unwrap();
    let before = listing(sb.path());
    let mut problems = Vec::new();
    for args in [
        vec!["validate", "rb.toml"],
        vec!["run", "rb.toml", "--env", &env, "--headless"],
    ] {
        let out = run_in(&sb, &args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let what = format!("{}: `cutover {}`", case.label, args[0]);
        if out.status.code() != Some(1) {
            problems.push(format!("{what} exited {:?}, not 1\n{stdout}\n{stderr}", out.status));
        }
        if stderr.contains("panicked") {
            problems.push(format!("{what} panicked: {stderr}"));
        }
        if !stderr.contains("error") || !stderr.contains(case.says) {
            let shown: String = stderr.chars().take(2000).collect();
            problems.push(format!("{what} did not say `{}`: {shown}", case.says));
        }
        let raw = |c: char| c.is_control() && !matches!(c, '\n' | '\t');
        if let Some(c) = stdout.chars().chain(stderr.chars()).find(|&c| raw(c))
            && !case.raw_in_file
        {
            problems.push(format!("{what} printed the raw control character {c:?}"));
        }
    }
    let after = listing(sb.path());
    let outside = new_outside(&before, &after, Path::new(STATE));
    let outside: Vec<&PathBuf> = outside.iter().filter(|p| !p.starts_with("tmp")).collect();
    if !outside.is_empty() {
        problems.push(format!(
            "{}: written outside the state directory: {outside:?}",
            case.label
        ));
    }
    let runs = sb.path().join(STATE).join("runs");
    let created: Vec<_> = std::fs::read_dir(&runs)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    if !created.is_empty() {
        problems.push(format!("{}: runs were created: {created:?}", case.label));
    }
    if sb.path().join("ran.txt").exists() {
        problems.push(format!("{}: a step ran", case.label));
    }
    problems
}

fn check_all(cases: Vec<Case>) {
    assert!(!cases.is_empty());
    let problems: Vec<String> = cases.iter().flat_map(check).collect();
    assert!(
        problems.is_empty(),
        "{} problems in {} cases:\n{}",
        problems.len(),
        cases.len(),
        problems.join("\n")
    );
}

#[test]
fn the_runbook_the_cases_start_from_is_valid() {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("rb.toml"), Fields::default().render()).unwrap();
    for env in ["staging", "hostile"] {
        let out = run_in(&sb, &["validate", "rb.toml", "--env", env]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

#[test]
fn path_like_names_and_control_characters_in_every_name_position_are_refused() {
    check_all(name_cases());
}

#[test]
fn control_characters_in_every_text_field_are_refused() {
    check_all(text_cases());
}

#[test]
fn oversized_deeply_nested_and_non_utf8_files_are_refused() {
    check_all(file_cases());
}
