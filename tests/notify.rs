//! `notify.webhook` run by the real binary against a receiver on loopback: the message
//! arrives as JSON with the run's values filled in, the URL (a secret, as Slack's and Teams'
//! webhook URLs are) and the header token never reach the screen, the journal or an
//! export, a dry run posts nothing, and a receiver's error fails the step saying so.

use crate::support;

use cutover::engine::{Intent, RunEvent};
use support::http::RequestLog;
use support::paths::listing;
use support::{Sandbox, assert_exit, text};

const URL_VAR: &str = "CUTOVER_TEST_BRIDGE_URL";
const TOKEN_VAR: &str = "CUTOVER_TEST_BRIDGE_TOKEN";
/// The secret part of the webhook's URL, as in `https://hooks.slack.com/services/T…/B…/…`.
const URL_SECRET: &str = "Xq7sEcReTpAtH93kd";
const TOKEN: &str = "Bearer tok-5b1e9c0d7a";

fn runbook(extra: &str) -> String {
    format!(
        "[runbook]\nname = \"notify\"\nhold = \"0s\"\n[[phase]]\nid = \"window\"\n  [[phase.step]]\n  id = \"find-lb\"\n  \
         kind = \"command\"\n  run = \"echo 198.51.100.7\"\n  capture = \"lb_ip\"\n  idempotent = true\n  \
         [[phase.step]]\n  id = \"tell\"\n  kind = \"notify.webhook\"\n  url_env = \"{URL_VAR}\"\n  \
         message = \"DNS for www.shop.example now points at ${{lb_ip}}\"\n  headers_env = {{ Authorization = \"{TOKEN_VAR}\" }}\n  \
         timeout = \"5s\"\n{extra}\n"
    )
}

fn run(sb: &Sandbox, receiver: &RequestLog, args: &[&str]) -> std::process::Output {
    sb.cutover()
        .env(URL_VAR, receiver.url(&format!("/services/T01/B02/{URL_SECRET}")))
        .env(TOKEN_VAR, TOKEN)
        .args(args)
        .output()
        .expect("run cutover")
}

/// Fails the test if any file under `dir` holds `secret`.
fn assert_no_file_holds(dir: &std::path::Path, secret: &str) {
    for path in listing(dir).into_iter().map(|p| dir.join(p)).filter(|p| p.is_file()) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds {secret}",
            path.display()
        );
    }
}

#[test]
fn the_message_arrives_as_json_and_the_url_and_token_are_never_shown_or_kept() {
    let receiver = RequestLog::start();
    let sb = Sandbox::new();
    let rb = sb.write("notify.toml", &runbook(""));
    let out = run(&sb, &receiver, &["run", rb.to_str().unwrap(), "--headless"]);
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_exit(&out, 0);
    assert!(shown.contains("tell: succeeded — HTTP 200 in"), "{shown}");

    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let post = &received[0];
    assert_eq!(post.request, format!("POST /services/T01/B02/{URL_SECRET}"));
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("authorization"), Some(TOKEN));
    let body: serde_json::Value = serde_json::from_slice(&post.body).expect("a JSON body");
    let run_id = sb.only_run_id();
    assert_eq!(body["text"], "DNS for www.shop.example now points at 198.51.100.7");
    assert_eq!(body["run"], run_id.as_str());
    assert_eq!(body["step"], "tell");
    assert_eq!(body["runbook"], "notify");
    assert_eq!(body["rehearsal"], false);

    // The journal says where, by the variable and the host, and what.
    let (records, _) = sb.journal(&run_id).unwrap();
    let intent = records.iter().find_map(|r| match &r.event {
        RunEvent::StepStarted { step, intent } if step == "tell" => Some(intent.clone()),
        _ => None,
    });
    assert_eq!(
        intent,
        Some(Intent::Notify {
            to: format!("the webhook in ${URL_VAR} (127.0.0.1:{})", receiver.port),
            message: "DNS for www.shop.example now points at 198.51.100.7".to_string(),
        })
    );

    // Neither the URL's secret nor the token is on the screen, in an export or on disk.
    let mut everything = shown;
    for format in ["md", "json", "html"] {
        let export = run(&sb, &receiver, &["export", &run_id, "--format", format]);
        assert_exit(&export, 0);
        everything.push_str(&text(&export.stdout));
    }
    for secret in [URL_SECRET, "tok-5b1e9c0d7a"] {
        assert!(!everything.contains(secret), "{secret} was shown:\n{everything}");
        assert_no_file_holds(&sb.state_dir(), secret);
    }
    assert_eq!(receiver.received().len(), 1, "an export posts nothing");
}

#[test]
fn a_receiver_that_answers_500_fails_the_step_with_the_status_and_not_the_url() {
    let receiver = RequestLog::start();
    receiver.set_status(500);
    let sb = Sandbox::new();
    let rb = sb.write("notify.toml", &runbook(""));
    let out = run(&sb, &receiver, &["run", rb.to_str().unwrap(), "--headless"]);
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_exit(&out, 3);
    assert!(shown.contains("HTTP 500, expected a 2xx answer"), "{shown}");
    assert!(!shown.contains(URL_SECRET), "{shown}");
    // Not idempotent, no retries: sent once.
    assert_eq!(receiver.received().len(), 1);
}

#[test]
fn a_dry_run_posts_nothing_and_says_what_it_would_post() {
    let receiver = RequestLog::start();
    let sb = Sandbox::new();
    let rb = sb.write("notify.toml", &runbook(""));
    let out = run(
        &sb,
        &receiver,
        &["run", rb.to_str().unwrap(), "--dry-run", "--headless"],
    );
    let shown = text(&out.stdout);
    assert_exit(&out, 0);
    assert!(
        shown.contains(&format!("dry run: would post to the webhook in ${URL_VAR}")),
        "{shown}"
    );
    assert!(receiver.received().is_empty(), "{:?}", receiver.received());
}

#[test]
fn a_rehearsal_says_so_in_the_message() {
    let receiver = RequestLog::start();
    let sb = Sandbox::new();
    let rb = sb.write("notify.toml", &runbook(""));
    let out = run(&sb, &receiver, &["rehearse", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    let received = receiver.received();
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body["text"],
        "REHEARSAL: DNS for www.shop.example now points at 198.51.100.7"
    );
    assert_eq!(body["rehearsal"], true);
}

#[test]
fn without_the_variable_the_step_says_what_to_export() {
    let receiver = RequestLog::start();
    let sb = Sandbox::new();
    let rb = sb.write("notify.toml", &runbook(""));
    let out = sb
        .cutover()
        .env_remove(URL_VAR)
        .env(TOKEN_VAR, TOKEN)
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_exit(&out, 3);
    assert!(
        shown.contains(&format!(
            "environment variable `{URL_VAR}` (the webhook's URL) is not set"
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("export {URL_VAR}=https://")), "{shown}");
    assert!(receiver.received().is_empty());
}

#[test]
fn a_runbook_that_would_post_twice_or_names_a_url_instead_of_a_variable_is_refused() {
    let sb = Sandbox::new();
    let retries = sb.write("retries.toml", &runbook("  retries = 2"));
    let out = sb.output(&["validate", retries.to_str().unwrap()]);
    let said = text(&out.stderr) + &text(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("retries-not-idempotent"), "{said}");
    assert!(said.contains("would send the POST again after a failure"), "{said}");
    // Said idempotent, it may retry.
    let fine = sb.write("fine.toml", &runbook("  retries = 2\n  idempotent = true"));
    let out = sb.output(&["validate", fine.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));

    let pasted = runbook("").replace(
        &format!("url_env = \"{URL_VAR}\""),
        "url_env = \"https://hooks.example/services/x\"",
    );
    let pasted = sb.write("pasted.toml", &pasted);
    let out = sb.output(&["validate", pasted.to_str().unwrap()]);
    let said = text(&out.stderr) + &text(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("pasted.toml:"), "points at the file: {said}");
    assert!(
        said.contains("`url_env` in step `tell` must be the name of an environment variable"),
        "{said}"
    );
}

#[test]
fn a_receiver_that_is_down_fails_the_step_and_the_error_does_not_quote_the_url() {
    let port = support::closed_port();
    // As given, and in a form the HTTP client would print normalised (the space encoded):
    // the redactor matches the value as given, so no text may quote the URL at all.
    for url in [
        format!("http://127.0.0.1:{port}/services/T01/B02/{URL_SECRET}"),
        format!("http://127.0.0.1:{port}/services/T01/B02/{URL_SECRET} x"),
    ] {
        let sb = Sandbox::new();
        let rb = sb.write("notify.toml", &runbook(""));
        let out = sb
            .cutover()
            .env(URL_VAR, &url)
            .env(TOKEN_VAR, TOKEN)
            .args(["run", rb.to_str().unwrap(), "--headless"])
            .output()
            .unwrap();
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert_exit(&out, 3);
        assert!(
            shown.contains(&format!(
                "could not connect to the webhook in ${URL_VAR} (127.0.0.1:{port})"
            )),
            "{shown}"
        );
        assert!(!shown.contains(URL_SECRET), "{url}: {shown}");
        assert_no_file_holds(&sb.state_dir(), URL_SECRET);
    }
}
