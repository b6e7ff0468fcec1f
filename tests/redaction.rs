//! Secrets never leave the process: over generated environment variables whose names
//! contain PASSWORD, SECRET, KEY or TOKEN (anywhere, in any case) and random values, a
//! TSIG secret from a key file and a bearer token from the kubeconfig, a run whose
//! commands print them (with debug logs on), whose HTTP check sends one as a header and whose
//! operator pastes one into a note leaves no value in the journal's bytes on disk, the
//! headless output, `cutover journal`, `status`, any export, or the cockpit's screen.

use crate::support;

use std::path::Path;

use chrono::FixedOffset;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::{Sandbox, assert_exit, health_server, text};

const CASES: u64 = 10;
const WORDS: [&str; 4] = ["PASSWORD", "SECRET", "KEY", "TOKEN"];
/// Letters, digits and the punctuation that JSON, HTML, Markdown and shells treat specially.
const CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+=@%!,~^*#[]{}()<>&\"'\\|;? $`";

struct Secret {
    name: String,
    value: String,
}

fn letters(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| rng.uppercase()).collect()
}

/// A variable name the redactor must recognise: the word in any case, at the start, the
/// end, or inside.
fn secret_name(rng: &mut fastrand::Rng, case: u64, i: usize) -> String {
    let word = WORDS[rng.usize(..WORDS.len())];
    let word: String = match rng.u8(..3) {
        0 => word.to_string(),
        1 => word.to_ascii_lowercase(),
        _ => word
            .chars()
            .map(|c| if rng.bool() { c.to_ascii_lowercase() } else { c })
            .collect(),
    };
    let tag = format!("CT{case}X{i}{}", letters(rng, 3));
    match rng.u8(..4) {
        0 => format!("{word}_{tag}"),
        1 => format!("{tag}_{word}"),
        2 => format!("{tag}{word}{}", letters(rng, 2)),
        _ => format!("x{tag}_{word}_{}", rng.u8(..100)),
    }
}

fn secret_value(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(8..48);
    let mut v: String = (0..len).map(|_| char::from(CHARS[rng.usize(..CHARS.len())])).collect();
    // Never only spaces at its ends: a value is what a person would paste.
    v = v.trim().to_string();
    while v.len() < 8 {
        v.push(rng.alphanumeric());
    }
    v
}

fn runbook(secrets: &[Secret], header_var: &str, port: u16) -> String {
    let mut steps = String::new();
    steps.push_str("  [[phase.step]]\n  id = \"ready\"\n  kind = \"manual\"\n  note = \"required\"\n");
    for (i, s) in secrets.iter().enumerate() {
        // Half to standard output, half to standard error; printf, so nothing is interpreted.
        let to = if i % 2 == 0 { "" } else { " >&2" };
        steps.push_str(&format!(
            "  [[phase.step]]\n  id = \"print-{i}\"\n  kind = \"command\"\n  run = 'printf \"value: %s\\n\" \"${name}\"{to}'\n  idempotent = true\n",
            name = s.name
        ));
    }
    // A captured secret, used by later steps: they must get the value itself, from their
    // environment and pasted into a command's text (which is journaled as intent).
    steps.push_str(&format!(
        "  [[phase.step]]\n  id = \"capture\"\n  kind = \"command\"\n  run = 'printf \"%s\" \"${name}\"'\n  capture = \"captured\"\n  idempotent = true\n",
        name = secrets[0].name
    ));
    steps.push_str(&format!(
        "  [[phase.step]]\n  id = \"use-captured\"\n  kind = \"command\"\n  run = '[ \"$captured\" = \"${name}\" ] && printf \"got %s\\n\" \"$captured\"'\n  idempotent = true\n",
        name = secrets[0].name
    ));
    // Pasted where the shell does not look inside (a quoted here-document), compared there.
    steps.push_str(&format!(
        "  [[phase.step]]\n  id = \"paste-captured\"\n  kind = \"command\"\n  run = '''\nread -r pasted <<'END'\n${{captured}}\nEND\n[ \"$pasted\" = \"${name}\" ]\n'''\n  idempotent = true\n",
        name = secrets[0].name
    ));
    steps.push_str(&format!(
        "  [[phase.step]]\n  id = \"with-header\"\n  kind = \"http\"\n  url = \"http://127.0.0.1:{port}/health/readiness\"\n  headers_env = {{ \"X-Api-Key\" = \"{header_var}\" }}\n"
    ));
    // The TSIG key file and the kubeconfig are printed by a careless script.
    steps.push_str(
        "  [[phase.step]]\n  id = \"print-files\"\n  kind = \"command\"\n  run = 'cat tsig.key kubeconfig'\n  idempotent = true\n",
    );
    format!(
        "[runbook]\nname = \"redaction\"\nhold = \"0s\"\n\n\
         [dns]\nprovider = \"rfc2136\"\nserver = \"127.0.0.1:53\"\nzone = \"example.test.\"\n\
         records = [\"app.example.test.\"]\ntsig_key = {{ name = \"cutover\", secret_file = \"tsig.key\" }}\n\n\
         [k8s]\nkubeconfig = \"kubeconfig\"\ncontext = \"staging\"\nnamespace = \"shop\"\ndeployments = [\"web\"]\n\n\
         [[phase]]\nid = \"all\"\n{steps}"
    )
}

/// A kubeconfig whose user has `token` (a bearer token).
fn kubeconfig(token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: staging\n  cluster:\n    server: https://127.0.0.1:6443\n\
         users:\n- name: ops\n  user:\n    token: {token}\ncontexts:\n- name: staging\n  context:\n    cluster: staging\n    user: ops\n\
         current-context: staging\n"
    )
}

/// The forms a value takes in JSON and in HTML, besides itself.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    let html = value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    let mut all = vec![value.to_string(), json[1..json.len() - 1].to_string(), html];
    all.dedup();
    all
}

fn assert_clean(place: &str, haystack: &[u8], secrets: &[Secret]) {
    for s in secrets {
        for form in forms(&s.value) {
            let found = haystack.windows(form.len()).any(|w| w == form.as_bytes());
            assert!(!found, "the value of {} ({:?}) appears in {place}", s.name, s.value);
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The cockpit drawn for the finished run, once with each step selected.
fn screens(sb: &Sandbox, run_id: &str) -> String {
    let (records, state) = sb.journal(run_id).unwrap();
    let mut app = cutover::tui::app::App::new(cutover::tui::theme::Theme { color: false }, &state, &records);
    let mut all = String::new();
    for selected in 0..state.steps.len() {
        app.selected = selected;
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        terminal
            .draw(|frame| {
                let ctx = cutover::tui::view::Ctx {
                    state: &state,
                    app: &app,
                    now: state.updated_at,
                    local: FixedOffset::east_opt(0).unwrap(),
                    busy: false,
                };
                cutover::tui::view::render(frame, &ctx);
            })
            .unwrap();
        all.push_str(&terminal.backend().to_string());
    }
    all
}

#[test]
fn no_secret_reaches_the_journal_the_output_the_exports_or_the_screen() {
    let seed = std::env::var("REDACTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_212);
    let server = health_server();
    for case in 0..CASES {
        let mut rng = fastrand::Rng::with_seed(seed + case);
        let count = rng.usize(3..6);
        let secrets: Vec<Secret> = (0..count)
            .map(|i| Secret {
                name: secret_name(&mut rng, case, i),
                value: secret_value(&mut rng),
            })
            .collect();
        let header_var = secrets[count - 1].name.clone();
        // A TSIG secret (base64, as BIND writes it) and a bearer token, from files.
        let tsig: String = data_encoding::BASE64.encode(&(0..32).map(|_| rng.u8(..)).collect::<Vec<u8>>());
        let token: String = (0..rng.usize(20..60)).map(|_| rng.alphanumeric()).collect();
        let context = format!("case {case} (REDACTION_SEED={seed}, the case's seed {})", seed + case);

        let sb = Sandbox::new();
        let file = sb.write("redaction.toml", &runbook(&secrets, &header_var, server.port));
        sb.write("tsig.key", &format!("{tsig}\n"));
        sb.write("kubeconfig", &kubeconfig(&token));
        // Set in the environment: only the variables. Checked everywhere: all of them.
        let env_secrets: Vec<(String, String)> = secrets.iter().map(|s| (s.name.clone(), s.value.clone())).collect();
        let secrets: Vec<Secret> = secrets
            .into_iter()
            .chain([
                Secret {
                    name: "the TSIG secret".into(),
                    value: tsig.clone(),
                },
                Secret {
                    name: "the kubeconfig token".into(),
                    value: token.clone(),
                },
            ])
            .collect();
        let with_secrets = |c: &mut std::process::Command| {
            for (name, value) in &env_secrets {
                c.env(name, value);
            }
        };
        let note = format!("ready=pasted by mistake: {}", secrets[1].value);
        let mut run = sb.cutover();
        with_secrets(&mut run);
        let out = run
            .current_dir(sb.path())
            .env("CUTOVER_LOG", "debug")
            .args([
                "run",
                file.to_str().unwrap(),
                "--headless",
                "--approve",
                "ready",
                "--note",
                &note,
            ])
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let headless = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            text(&headless).contains("[redacted]"),
            "{context}: the output shows where values were masked:\n{}",
            text(&headless)
        );
        assert_clean(&format!("{context}: the headless output"), &headless, &secrets);

        let run_id = sb.only_run_id();
        let mut files = Vec::new();
        files_under(&sb.state_dir(), &mut files);
        assert!(
            files.iter().any(|f| f.ends_with("db")),
            "{context}: sled's data file is there"
        );
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert_clean(&format!("{context}: {}", f.display()), &bytes, &secrets);
        }

        let mut views: Vec<(String, Vec<String>)> = vec![
            ("cutover journal".into(), vec!["journal".into(), run_id.clone()]),
            (
                "cutover journal --output json".into(),
                vec!["journal".into(), run_id.clone(), "--output".into(), "json".into()],
            ),
            ("cutover status".into(), vec!["status".into(), run_id.clone()]),
        ];
        for format in ["md", "json", "html"] {
            views.push((
                format!("cutover export --format {format}"),
                vec!["export".into(), run_id.clone(), "--format".into(), format.into()],
            ));
        }
        for (what, args) in &views {
            // With the secrets in the environment (as the operator's shell has them), and
            // without: the journal itself must hold none.
            for with_env in [true, false] {
                let mut c = sb.cutover();
                c.current_dir(sb.path());
                if with_env {
                    with_secrets(&mut c);
                }
                let out = c.args(args).output().unwrap();
                assert_exit(&out, 0);
                let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
                assert_clean(
                    &format!("{context}: {what} (secrets in the environment: {with_env})"),
                    &all,
                    &secrets,
                );
                if what.contains("json") {
                    // What the commands printed is there, masked: the path was exercised.
                    let shown = text(&all);
                    assert!(shown.contains("value: [redacted]"), "{context}: {what}:\n{shown}");
                    assert!(shown.contains("got [redacted]"), "{context}: {what}:\n{shown}");
                    assert!(shown.contains("token: [redacted]"), "{context}: {what}:\n{shown}");
                }
            }
        }

        let screen = screens(&sb, &run_id);
        assert!(screen.contains("redaction"), "{context}: the cockpit was drawn");
        assert_clean(&format!("{context}: the cockpit"), screen.as_bytes(), &secrets);
    }
}
