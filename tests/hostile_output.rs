//! Text from outside reaches the operator's terminal shown, never obeyed: a command's
//! output and what it captured, a server's error message. Control
//! characters (an OSC 52 clipboard write, cursor moves and erases, BEL, the C1 CSI, NUL)
//! and bytes that are not UTF-8 go through the real binary into every text printer, which
//! must show them as escapes; the JSON outputs must carry the recorded text exactly.

use crate::support;

use std::io::{BufRead, BufReader, Write};

use serde_json::Value;
use support::{Sandbox, assert_exit, text};

/// What the commands print, as `printf` writes it: `\ooo` is an octal byte. `\302\233` is
/// U+009B (the C1 CSI) in UTF-8; `\377\376` is not UTF-8 at all.
const HOSTILE_PRINTF: &str = r"clip \033]52;c;SGVsbG8=\007 wipe \033[2J\033[H up \033[1A\033[2K bell \007 csi \302\233 31m nul \000 bad \377\376 end\n";

/// The same output as the journal keeps it (bytes that are not UTF-8 become U+FFFD).
const HOSTILE_TEXT: &str = "clip \x1b]52;c;SGVsbG8=\x07 wipe \x1b[2J\x1b[H up \x1b[1A\x1b[2K bell \x07 csi \u{9b} 31m nul \0 bad \u{fffd}\u{fffd} end\n";

/// A value captured from a command (a capture refuses NUL, so there is none here).
const CAPTURE_PRINTF: &str = r"v\033]52;c;SGVsbG8=\007\033[2J\033[H\302\233x";
const CAPTURE_TEXT: &str = "v\x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b[H\u{9b}x";

/// A Prometheus error text, as the server sends it in JSON and as it is meant.
const SERVER_JSON: &str = r"bad query \u001b]52;c;SGVsbG8=\u0007 \u001b[2J\u001b[H \u009b31m here";
const SERVER_TEXT: &str = "bad query \x1b]52;c;SGVsbG8=\x07 \x1b[2J\x1b[H \u{9b}31m here";

/// A server on loopback that answers every request with HTTP 400 and a Prometheus-style
/// error whose text holds escapes.
fn hostile_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim() != "" {
                    line.clear();
                }
                let body = format!("{{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"{SERVER_JSON}\"}}");
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn runbook(port: u16) -> String {
    format!(
        r#"
[runbook]
name = "hostile"
hold = "0s"

[metrics]
prometheus = "http://127.0.0.1:{port}"
error_rate = 'sum(rate(errors[1m]))'
p99 = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))'
baseline = "1m"
max_error_rate_increase = 0.01
max_p99_increase = "50%"

[[phase]]
id = "p"
title = "Phase one"
  [[phase.step]]
  id = "grab"
  kind = "command"
  title = "Capture a value"
  run = '''printf '{CAPTURE_PRINTF}' '''
  capture = "grabbed"
  [[phase.step]]
  id = "noisy"
  kind = "command"
  title = "Print hostile output"
  run = '''printf '{HOSTILE_PRINTF}'; printf '{HOSTILE_PRINTF}' >&2; printf '%s' "$grabbed"; exit 1'''
  [[phase.step]]
  id = "api"
  kind = "http"
  title = "An endpoint that answers with escapes"
  url = "http://127.0.0.1:{port}/health"
  [[phase.step]]
  id = "baseline"
  kind = "metrics.baseline"
  title = "A Prometheus that answers with escapes"
"#
    )
}

/// No control character but the line break reaches the terminal, and the bytes are UTF-8.
fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let Ok(s) = std::str::from_utf8(bytes) else {
        panic!("{what}: not UTF-8:\n{}", text(bytes));
    };
    if let Some((i, c)) = s.char_indices().find(|(_, c)| c.is_control() && *c != '\n') {
        panic!(
            "{what}: control character {c:?} at byte {i}, in:\n{}",
            s.lines()
                .map(|l| l.escape_debug().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn assert_clean(what: &str, out: &std::process::Output) {
    assert_terminal_safe(&format!("{what} (stdout)"), &out.stdout);
    assert_terminal_safe(&format!("{what} (stderr)"), &out.stderr);
}

/// Every string anywhere in a JSON value.
fn strings(v: &Value, into: &mut Vec<String>) {
    match v {
        Value::String(s) => into.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, into)),
        Value::Object(o) => o.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

fn assert_carries(what: &str, json: &[Value], exact: &str) {
    let mut all = Vec::new();
    json.iter().for_each(|v| strings(v, &mut all));
    assert!(
        all.iter().any(|s| s.contains(exact)),
        "{what} does not carry {exact:?} exactly"
    );
}

fn json_lines(what: &str, bytes: &[u8]) -> Vec<Value> {
    text(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {l:?}")))
        .collect()
}

#[test]
fn hostile_text_is_shown_on_terminals_and_kept_exactly_in_json() {
    let sb = Sandbox::new();
    let port = hostile_server();
    let rb = sb.write("hostile.toml", &runbook(port));
    let rb = rb.to_str().unwrap();

    for args in [vec!["validate", rb], vec!["plan", rb]] {
        let out = sb.output(&args);
        assert_exit(&out, 0);
        assert_clean(args[0], &out);
    }

    // The capture succeeds and the hostile command fails: its output is shown.
    let out = sb.output(&["run", rb, "--headless"]);
    assert_exit(&out, 3);
    assert_clean("run --headless", &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(r"\x1b]52;c;SGVsbG8=\x07"),
        "shown as escapes:\n{stdout}"
    );
    assert!(stdout.contains(r"\u{9b}"), "{stdout}");
    let id = sb.only_run_id();

    // The HTTP check fails against the server; then the baseline, with its error text.
    let out = sb.output(&["resume", &id, "--headless", "--skip", "noisy=checked by hand"]);
    assert_exit(&out, 3);
    assert_clean("resume --skip noisy", &out);
    let out = sb.output(&["resume", &id, "--headless", "--skip", "api=checked by hand"]);
    assert_exit(&out, 3);
    assert_clean("resume --skip api", &out);
    assert!(
        text(&out.stdout).contains(r"bad query \x1b]52;c;SGVsbG8=\x07"),
        "{}",
        text(&out.stdout)
    );
    let out = sb.output(&["resume", &id, "--headless", "--retry", "baseline", "--output", "json"]);
    assert_exit(&out, 3);
    let lines = json_lines("resume --output json", &out.stdout);
    assert_carries("resume --output json", &lines, SERVER_TEXT);

    for args in [
        vec!["journal", id.as_str()],
        vec!["status", id.as_str()],
        vec!["status"],
        vec!["runs"],
        vec!["export", id.as_str(), "--format", "md"],
        vec!["export", id.as_str(), "--format", "html"],
    ] {
        let out = sb.output(&args);
        assert_exit(&out, 0);
        assert_clean(&args.join(" "), &out);
    }
    let journal = text(&sb.output(&["journal", &id]).stdout);
    assert!(
        journal.contains(r"captured ${grabbed} = v\x1b]52;c;SGVsbG8=\x07\x1b[2J\x1b[H\u{9b}x"),
        "{journal}"
    );

    // JSON keeps what was recorded, to the byte.
    let journal = sb.output(&["journal", &id, "--output", "json"]);
    assert_exit(&journal, 0);
    let records = json_lines("journal --output json", &journal.stdout);
    let export = sb.output(&["export", &id, "--format", "json"]);
    assert_exit(&export, 0);
    let export: Value = serde_json::from_slice(&export.stdout).expect("the JSON export");
    for (what, json) in [
        ("journal --output json", records),
        ("export --format json", vec![export]),
    ] {
        assert_carries(what, &json, CAPTURE_TEXT);
        assert_carries(what, &json, HOSTILE_TEXT);
        assert_carries(what, &json, &format!("{HOSTILE_TEXT}{CAPTURE_TEXT}"));
        assert_carries(what, &json, SERVER_TEXT);
    }
}

/// A runbook that does not load is reported with its source lines: they are shown too.
#[test]
fn a_broken_runbook_with_control_characters_is_reported_safely() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "broken.toml",
        "[runbook]\nname = \"x\" # \x1b]52;c;SGVsbG8=\x07\n[[phase]]\nid = \"p\"\n  [[phase.step]]\n  id = \"a\"\n  kind = \"comand\"\n",
    );
    let out = sb.output(&["validate", rb.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert_clean("validate", &out);
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 1);
    assert_clean("run", &out);
}

/// Bytes that are not UTF-8 are shown as U+FFFD; a value captured with them would not be
/// what the command printed, so the capture is refused (and the output still shown).
#[test]
fn a_capture_that_is_not_utf8_is_refused() {
    let sb = Sandbox::new();
    let rb = sb.write(
        "latin1.toml",
        r#"
[runbook]
name = "latin1"
hold = "0s"
[[phase]]
id = "p"
  [[phase.step]]
  id = "grab"
  kind = "command"
  run = '''printf 'caf\351\033[2J' '''
  capture = "cafe"
"#,
    );
    let out = sb.output(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    assert_clean("run --headless", &out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("cannot be captured as ${cafe}: it is not UTF-8 text"),
        "{stdout}"
    );
    assert!(stdout.contains("stdout| caf\u{fffd}\\x1b[2J"), "{stdout}");
}
