//! `[notify]` run by the real binary against receivers on loopback: each format's body as
//! the service documents it (Slack, Teams, a generic webhook, PagerDuty Events v2), the
//! per-target filter, REHEARSAL in every message, the answers in the journal, retries,
//! secrets kept out of every file, line and export, and a receiver that hangs or fails
//! never slowing the run.

use std::time::{Duration, Instant};

use crate::support;

use cutover::engine::{Delivery, Notification, RunEvent};
use cutover::runbook::{NotifyEvent, NotifyKind};
use support::http::{Received, RequestLog};
use support::paths::listing;
use support::{Sandbox, assert_exit, text};

const SLACK_VAR: &str = "CUTOVER_T_SLACK_URL";
const TEAMS_VAR: &str = "CUTOVER_T_TEAMS_URL";
const HOOK_VAR: &str = "CUTOVER_T_HOOK_URL";
const HOOK_TOKEN_VAR: &str = "CUTOVER_T_HOOK_AUTH";
const PD_VAR: &str = "CUTOVER_T_PD_ROUTING";
/// The secret parts: a webhook URL's path, a token, an integration key.
const SLACK_SECRET: &str = "T0SLACKs3cr3tPath";
const TEAMS_SECRET: &str = "w0rkfl0wSig9z";
const HOOK_SECRET: &str = "h00kP4thQ2";
const HOOK_TOKEN: &str = "Bearer hk-7c1d9e";
const PD_KEY: &str = "pdR0ut1ngK3y0123456789abcdef0123";
const DASHBOARD: &str = "https://grafana.example/d/shop";

/// Four receivers, one per target.
struct Receivers {
    slack: RequestLog,
    teams: RequestLog,
    hook: RequestLog,
    pd: RequestLog,
}

impl Receivers {
    fn start() -> Self {
        Self {
            slack: RequestLog::start(),
            teams: RequestLog::start(),
            hook: RequestLog::start(),
            pd: RequestLog::start(),
        }
    }

    fn all(&self) -> usize {
        [&self.slack, &self.teams, &self.hook, &self.pd]
            .iter()
            .map(|r| r.received().len())
            .sum()
    }
}

/// `[notify]` with the four targets (`limits` added to the section), then `steps`.
fn runbook(r: &Receivers, limits: &str, steps: &str) -> String {
    format!(
        "[runbook]\nname = \"shop\"\nhold = \"0s\"\n\
         [notify]\ndashboard = \"{DASHBOARD}\"\n{limits}\n\
         [[notify.target]]\nname = \"bridge\"\nkind = \"slack\"\nurl_env = \"{SLACK_VAR}\"\n\
         [[notify.target]]\nname = \"managers\"\nkind = \"teams\"\nurl_env = \"{TEAMS_VAR}\"\nevents = [\"run_started\", \"completed\", \"rollback_completed\"]\n\
         [[notify.target]]\nname = \"bot\"\nkind = \"webhook\"\nurl_env = \"{HOOK_VAR}\"\nheaders_env = {{ Authorization = \"{HOOK_TOKEN_VAR}\" }}\n\
         [[notify.target]]\nname = \"oncall\"\nkind = \"pagerduty\"\nrouting_key_env = \"{PD_VAR}\"\nurl = \"{}\"\n\
         {steps}",
        r.pd.url("/v2/enqueue")
    )
}

const ONE_STEP: &str =
    "[[phase]]\nid = \"window\"\n  [[phase.step]]\n  id = \"ticket\"\n  kind = \"command\"\n  run = \"true\"\n";

/// A step that fails and rolls the run back; the rollback has one step.
const ROLLS_BACK: &str = "[[phase]]\nid = \"window\"\n  [[phase.step]]\n  id = \"smoke\"\n  kind = \"command\"\n  \
     run = \"exit 1\"\n  on_failure = \"rollback\"\n[rollback]\n  [[rollback.step]]\n  id = \"undo\"\n  kind = \"command\"\n  run = \"true\"\n";

fn cutover(sb: &Sandbox, r: &Receivers) -> std::process::Command {
    let mut c = sb.cutover();
    c.env(SLACK_VAR, r.slack.url(&format!("/services/T01/B02/{SLACK_SECRET}")))
        .env(TEAMS_VAR, r.teams.url(&format!("/workflows/run?sig={TEAMS_SECRET}")))
        .env(HOOK_VAR, r.hook.url(&format!("/hooks/{HOOK_SECRET}")))
        .env(HOOK_TOKEN_VAR, HOOK_TOKEN)
        .env(PD_VAR, PD_KEY);
    c
}

fn run(sb: &Sandbox, r: &Receivers, args: &[&str]) -> (std::process::Output, String) {
    let out = cutover(sb, r).args(args).output().expect("run cutover");
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    (out, shown)
}

fn json(req: &Received) -> serde_json::Value {
    serde_json::from_slice(&req.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&req.body)))
}

/// The journaled notifications of the only run.
fn notifications(sb: &Sandbox) -> Vec<Notification> {
    let (records, _) = sb.journal(&sb.only_run_id()).unwrap();
    records
        .into_iter()
        .filter_map(|r| match r.event {
            RunEvent::NotificationSent { notification } => Some(notification),
            _ => None,
        })
        .collect()
}

/// Fails if any file under the state directory, or `shown`, holds a secret.
fn assert_secrets_kept(sb: &Sandbox, shown: &str) {
    let dir = sb.state_dir();
    for secret in [SLACK_SECRET, TEAMS_SECRET, HOOK_SECRET, "hk-7c1d9e", PD_KEY] {
        assert!(!shown.contains(secret), "{secret} was shown:\n{shown}");
        for path in listing(&dir).into_iter().map(|p| dir.join(p)).filter(|p| p.is_file()) {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds {secret}",
                path.display()
            );
        }
    }
}

fn events(log: &RequestLog, field: impl Fn(&serde_json::Value) -> String) -> Vec<String> {
    log.received().iter().map(|r| field(&json(r))).collect()
}

#[test]
fn every_format_arrives_as_documented_filtered_per_target_and_journaled_with_its_answer() {
    let r = Receivers::start();
    let sb = Sandbox::new();
    let rb = sb.write("shop.toml", &runbook(&r, "", ONE_STEP));
    let (out, mut shown) = run(&sb, &r, &["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    let run_id = sb.only_run_id();

    // Slack hears of everything that happened: the start, the hold, the completion.
    let slack = r.slack.received();
    let said: Vec<String> = slack
        .iter()
        .map(|q| json(q)["blocks"][1]["text"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(said.len(), 3, "{said:?}");
    for (s, event) in said.iter().zip(["run_started", "hold_reached", "completed"]) {
        assert!(
            s.starts_with(&format!("*{event}* — run {run_id} of shop (default)")),
            "{s}"
        );
    }
    let first = &slack[0];
    assert_eq!(first.request, format!("POST /services/T01/B02/{SLACK_SECRET}"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    let body = json(first);
    assert_eq!(
        body["text"],
        format!("Cutover of shop (default) started by tester (run {run_id} of shop (default))")
    );
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(body["blocks"][0]["text"]["type"], "plain_text");
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        "Cutover of shop (default) started by tester"
    );
    assert_eq!(body["blocks"][1]["type"], "section");
    assert_eq!(body["blocks"][1]["text"]["type"], "mrkdwn");
    assert_eq!(
        body["blocks"][2]["fields"][0],
        serde_json::json!({"type": "mrkdwn", "text": "*steps*\n1"})
    );
    assert_eq!(body["blocks"][3]["type"], "context");
    assert!(
        body["blocks"][3]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<{DASHBOARD}|Dashboard>")),
        "{body}"
    );

    // Teams hears only of what its target lists.
    let teams = r.teams.received();
    assert_eq!(teams.len(), 2);
    let card = json(&teams[1]);
    assert_eq!(card["type"], "message");
    assert_eq!(card["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(card["attachments"][0]["contentUrl"].is_null());
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["version"], "1.4");
    assert_eq!(content["body"][0]["type"], "TextBlock");
    assert_eq!(content["body"][0]["text"], "Cutover of shop (default) completed");
    assert_eq!(content["body"][0]["weight"], "Bolder");
    assert_eq!(content["body"][2]["type"], "FactSet");
    assert_eq!(
        content["body"][2]["facts"][0],
        serde_json::json!({"title": "attempt", "value": "1"})
    );
    assert_eq!(
        content["actions"][0],
        serde_json::json!({"type": "Action.OpenUrl", "title": "Dashboard", "url": DASHBOARD})
    );

    // The generic webhook: its header from the environment, the documented object.
    let hook = r.hook.received();
    assert_eq!(hook.len(), 3);
    assert_eq!(hook[0].header("authorization"), Some(HOOK_TOKEN));
    let obj = json(&hook[2]);
    assert_eq!(obj["schema"], "cutover.notification/v1");
    assert_eq!(obj["event"], "completed");
    assert_eq!(obj["text"], "Cutover of shop (default) completed");
    assert_eq!(
        obj["run"],
        serde_json::json!({"id": run_id, "runbook": "shop", "environment": "default", "attempt": 1})
    );
    assert_eq!(obj["rehearsal"], false);
    assert_eq!(obj["dashboard"], DASHBOARD);
    assert_eq!(obj["severity"], "info");
    assert!(
        chrono::DateTime::parse_from_rfc3339(obj["at"].as_str().unwrap()).is_ok(),
        "{obj}"
    );

    // PagerDuty hears by default of what pages and what resolves it: here the completion.
    let pd = r.pd.received();
    assert_eq!(pd.len(), 1);
    assert_eq!(pd[0].request, "POST /v2/enqueue");
    assert_eq!(
        json(&pd[0]),
        serde_json::json!({"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": format!("cutover/{run_id}")})
    );

    // Every message is journaled with its answer, and shown.
    let sent = notifications(&sb);
    assert_eq!(sent.len(), 9, "{sent:#?}");
    assert!(
        sent.iter()
            .all(|n| n.delivery == Delivery::Delivered && n.status == Some(200) && n.attempts == 1),
        "{sent:#?}"
    );
    let to_teams: Vec<NotifyEvent> = sent
        .iter()
        .filter(|n| n.target == "managers")
        .map(|n| n.event)
        .collect();
    assert_eq!(to_teams, vec![NotifyEvent::RunStarted, NotifyEvent::Completed]);
    assert!(
        sent.iter()
            .any(|n| n.target == "oncall" && n.kind == NotifyKind::Pagerduty && n.event == NotifyEvent::Completed)
    );
    assert!(
        shown.contains("notified bridge (slack) of completed: HTTP 200 — Cutover of shop (default) completed"),
        "{shown}"
    );

    // The export lists them; no secret is anywhere.
    for format in ["md", "json", "html"] {
        let (export, said) = run(&sb, &r, &["export", &run_id, "--format", format]);
        assert_exit(&export, 0);
        if format == "md" {
            assert!(said.contains("## Notifications"), "{said}");
            assert!(
                said.contains(
                    "| completed | oncall (pagerduty) | Cutover of shop (default) completed | delivered: HTTP 200 |"
                ),
                "{said}"
            );
        }
        shown.push_str(&said);
    }
    assert_secrets_kept(&sb, &shown);
}

#[test]
fn a_rehearsal_says_so_everywhere_and_pagerduty_resolves_the_alert_the_rollback_opened() {
    let r = Receivers::start();
    let sb = Sandbox::new();
    let rb = sb.write("shop.toml", &runbook(&r, "", ROLLS_BACK));
    let (out, mut shown) = run(&sb, &r, &["rehearse", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 2);
    let run_id = sb.only_run_id();

    let pd = events(&r.pd, |b| b["event_action"].as_str().unwrap().to_string());
    assert_eq!(pd, vec!["trigger", "resolve"]);
    let pd = r.pd.received();
    let (trigger, resolve) = (json(&pd[0]), json(&pd[1]));
    assert_eq!(trigger["routing_key"], PD_KEY);
    assert_eq!(trigger["dedup_key"], format!("cutover/{run_id}"));
    assert_eq!(
        resolve["dedup_key"], trigger["dedup_key"],
        "the resolve closes the alert the trigger opened"
    );
    let p = &trigger["payload"];
    let summary = p["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("REHEARSAL: ROLLBACK of shop (default) started: smoke failed"),
        "{summary}"
    );
    assert!(summary.chars().count() <= 1024);
    assert_eq!(p["severity"], "error");
    assert_eq!(p["source"], "shop/default");
    assert_eq!(p["class"], "rollback_started");
    assert_eq!(p["component"], "shop");
    assert_eq!(p["group"], "default");
    assert!(
        chrono::DateTime::parse_from_rfc3339(p["timestamp"].as_str().unwrap()).is_ok(),
        "{p}"
    );
    assert_eq!(p["custom_details"]["run_id"], run_id.as_str());
    assert_eq!(p["custom_details"]["rehearsal"], true);
    assert_eq!(p["custom_details"]["step"], "smoke");
    assert_eq!(
        trigger["links"][0],
        serde_json::json!({"href": DASHBOARD, "text": "Dashboard"})
    );

    // Every chat message starts with REHEARSAL.
    let slack = events(&r.slack, |b| b["text"].as_str().unwrap().to_string());
    assert_eq!(slack.len(), 3, "{slack:?}");
    assert!(slack.iter().all(|t| t.starts_with("REHEARSAL: ")), "{slack:?}");
    let teams = events(&r.teams, |b| {
        b["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    });
    assert_eq!(
        teams,
        vec![
            "REHEARSAL: Cutover of shop (default) started by tester",
            "REHEARSAL: Rollback of shop (default) completed"
        ]
    );
    assert!(
        events(&r.hook, |b| b["text"].as_str().unwrap().to_string())
            .iter()
            .all(|t| t.starts_with("REHEARSAL: "))
    );
    assert!(
        events(&r.hook, |b| b["rehearsal"].to_string())
            .iter()
            .all(|t| t == "true")
    );

    // `cutover rca` drives no run, and still sends its message and journals the answer.
    let (out, said) = run(
        &sb,
        &r,
        &[
            "rca",
            &run_id,
            "--text",
            "The smoke test found the new image missing its config map.",
        ],
    );
    assert_exit(&out, 0);
    shown.push_str(&said);
    let last = json(r.slack.received().last().unwrap());
    assert_eq!(
        last["blocks"][1]["text"]["text"].as_str().unwrap().split(' ').next(),
        Some("*rca_attached*")
    );
    assert!(
        last["text"]
            .as_str()
            .unwrap()
            .starts_with("REHEARSAL: Root-cause analysis attached to attempt 1")
    );
    let rca = notifications(&sb)
        .into_iter()
        .filter(|n| n.event == NotifyEvent::RcaAttached)
        .collect::<Vec<_>>();
    assert_eq!(rca.len(), 2, "slack and the webhook: {rca:#?}");
    assert!(rca.iter().all(|n| n.delivery == Delivery::Delivered));
    assert_secrets_kept(&sb, &shown);
}

#[test]
fn a_500_is_retried_until_it_succeeds_and_a_receiver_that_keeps_failing_is_journaled_as_failed() {
    let r = Receivers::start();
    r.slack.answer_next(&[500, 503]);
    r.teams.set_status(500);
    r.hook.set_status(404);
    let sb = Sandbox::new();
    let limits = "attempts = 3\nbackoff = \"100ms\"\ntimeout = \"5s\"";
    let rb = sb.write("shop.toml", &runbook(&r, limits, ONE_STEP));
    let (out, shown) = run(&sb, &r, &["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 0);
    let sent = notifications(&sb);
    let of = |target: &str, event: NotifyEvent| {
        sent.iter()
            .find(|n| n.target == target && n.event == event)
            .unwrap_or_else(|| panic!("no {event} to {target}: {sent:#?}"))
            .clone()
    };
    // Slack: two failures, then the message goes through, the same body each time.
    let slack = of("bridge", NotifyEvent::RunStarted);
    assert_eq!(
        (slack.delivery, slack.status, slack.attempts, slack.error.clone()),
        (Delivery::Delivered, Some(200), 3, None)
    );
    let bodies: Vec<Vec<u8>> = r.slack.received().iter().take(3).map(|q| q.body.clone()).collect();
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "a retry sends the same message"
    );
    // Teams: 500 every time, given up after the attempts.
    let teams = of("managers", NotifyEvent::RunStarted);
    assert_eq!(
        (teams.delivery, teams.status, teams.attempts),
        (Delivery::Failed, Some(500), 3)
    );
    assert_eq!(
        teams.error.as_deref(),
        Some(format!("managers (127.0.0.1:{}) answered HTTP 500", r.teams.port).as_str())
    );
    // A 404 does not get better: not retried.
    let hook = of("bot", NotifyEvent::RunStarted);
    assert_eq!(
        (hook.delivery, hook.status, hook.attempts),
        (Delivery::Failed, Some(404), 1)
    );
    assert!(
        shown.contains("notification to managers (teams) of run_started FAILED (HTTP 500 after 3 attempts)"),
        "{shown}"
    );
    assert_secrets_kept(&sb, &shown);
}

/// How long `cutover run` of `steps` takes with the receivers as they are.
fn timed_run(r: &Receivers, limits: &str, steps: &str) -> (Duration, Sandbox, String) {
    let sb = Sandbox::new();
    let rb = sb.write("shop.toml", &runbook(r, limits, steps));
    let started = Instant::now();
    let (out, shown) = run(&sb, r, &["run", rb.to_str().unwrap(), "--headless"]);
    let took = started.elapsed();
    assert_exit(&out, 0);
    (took, sb, shown)
}

#[test]
fn a_receiver_that_hangs_or_fails_does_not_slow_the_run() {
    // Three steps, each a message's worth of waiting if sending held them up.
    let steps = "[[phase]]\nid = \"window\"\n  [[phase.step]]\n  id = \"one\"\n  kind = \"command\"\n  run = \"sleep 0.2\"\n  \
                 [[phase.step]]\n  id = \"two\"\n  kind = \"command\"\n  run = \"sleep 0.2\"\n  \
                 [[phase.step]]\n  id = \"three\"\n  kind = \"command\"\n  run = \"sleep 0.2\"\n";
    // A message to a hanging receiver waits 20 s for an answer; to a failing one, 3 s + 6 s
    // between its attempts: a run that waited for either would take far longer.
    let limits = "timeout = \"20s\"\nattempts = 3\nbackoff = \"3s\"\nflush = \"1s\"";
    let healthy = Receivers::start();
    let (baseline, _, _) = timed_run(&healthy, limits, steps);

    let hanging = Receivers::start();
    for log in [&hanging.slack, &hanging.teams, &hanging.hook, &hanging.pd] {
        log.set_delay(Duration::from_secs(60));
    }
    let (hung, sb, shown) = timed_run(&hanging, limits, steps);
    assert!(
        hung < baseline + Duration::from_secs(8),
        "with receivers that hang the run took {hung:?}, with healthy ones {baseline:?}"
    );
    // What was still under way when the session ended is journaled as dropped.
    let sent = notifications(&sb);
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|n| n.delivery == Delivery::Dropped), "{sent:#?}");
    assert!(
        sent[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("the session ended before it was sent (it waited 1s for it)"),
        "{sent:#?}"
    );
    assert!(
        shown.contains("notification to bridge (slack) of run_started DROPPED"),
        "{shown}"
    );

    let failing = Receivers::start();
    for log in [&failing.slack, &failing.teams, &failing.hook, &failing.pd] {
        log.set_status(500);
    }
    let (failed, _, _) = timed_run(&failing, limits, steps);
    assert!(
        failed < baseline + Duration::from_secs(8),
        "with receivers that answer 500 the run took {failed:?}, with healthy ones {baseline:?}"
    );
    assert!(hanging.all() > 0 && failing.all() > 0, "the receivers were asked");
}

#[test]
fn a_dry_run_sends_nothing_and_says_what_it_would_have_sent() {
    let r = Receivers::start();
    let sb = Sandbox::new();
    let rb = sb.write("shop.toml", &runbook(&r, "", ONE_STEP));
    let (out, shown) = run(&sb, &r, &["run", rb.to_str().unwrap(), "--dry-run", "--headless"]);
    assert_exit(&out, 0);
    assert_eq!(r.all(), 0, "a dry run sent a message");
    assert!(
        shown.contains(
            "dry run: would notify bridge (slack) of run_started — Cutover of shop (default) started by tester"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("dry run: would notify oncall (pagerduty) of completed"),
        "{shown}"
    );
}

#[test]
fn a_variable_that_is_not_set_stops_the_run_before_it_starts() {
    let r = Receivers::start();
    let sb = Sandbox::new();
    let rb = sb.write("shop.toml", &runbook(&r, "", ONE_STEP));
    let out = cutover(&sb, &r)
        .env_remove(PD_VAR)
        .args(["run", rb.to_str().unwrap(), "--headless"])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let said = text(&out.stderr);
    assert!(
        said.contains(
            "notify target `oncall`: environment variable `CUTOVER_T_PD_ROUTING` (the PagerDuty routing key) is not set"
        ),
        "{said}"
    );
    assert!(said.contains("before the run starts"), "{said}");
    assert!(sb.summaries().is_empty(), "no run was started");
    assert_eq!(r.all(), 0);
}

#[test]
fn an_approval_the_run_waits_for_is_announced_once_without_what_was_typed() {
    let r = Receivers::start();
    let sb = Sandbox::new();
    let steps = "[[phase]]\nid = \"window\"\n  [[phase.step]]\n  id = \"flip\"\n  kind = \"manual\"\n  title = \"Flip DNS\"\n  \
                 approve = \"type:www.shop.example\"\n";
    let rb = sb.write("shop.toml", &runbook(&r, "", steps));
    let (out, _) = run(&sb, &r, &["run", rb.to_str().unwrap(), "--headless"]);
    assert_exit(&out, 3);
    let run_id = sb.only_run_id();
    let waiting = |log: &RequestLog| {
        log.received()
            .iter()
            .map(json)
            .filter(|b| b["event"] == "approval_waiting")
            .collect::<Vec<_>>()
    };
    let asked = waiting(&r.hook);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["text"], "flip (Flip DNS) of shop (default) waits for approval");
    assert_eq!(asked[0]["step"], "flip");
    assert_eq!(
        asked[0]["facts"][0],
        serde_json::json!({"name": "approval", "value": "the operator types `www.shop.example`"})
    );
    // Resumed with the approval, the run does not announce the same wait again. The
    // session has no Slack URL: the run goes on, and each of its messages says why not.
    let out = cutover(&sb, &r)
        .env_remove(SLACK_VAR)
        .args(["resume", &run_id, "--approve", "flip=www.shop.example", "--headless"])
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_exit(&out, 0);
    assert_eq!(waiting(&r.hook).len(), 1, "{shown}");
    let events = events(&r.hook, |b| b["event"].as_str().unwrap().to_string());
    assert_eq!(
        events,
        vec!["run_started", "approval_waiting", "hold_reached", "completed"]
    );
    assert_eq!(
        r.slack.received().len(),
        2,
        "only the first session's messages reached Slack"
    );
    let unsent: Vec<Notification> = notifications(&sb)
        .into_iter()
        .filter(|n| n.delivery == Delivery::Failed)
        .collect();
    assert_eq!(unsent.len(), 2, "{unsent:#?}");
    assert!(unsent.iter().all(|n| n.target == "bridge" && n.attempts == 0));
    assert_eq!(
        unsent[0].error.as_deref(),
        Some(
            "environment variable `CUTOVER_T_SLACK_URL` (the target's URL) is not set; export it in the shell \
             that runs cutover and resume"
        )
    );
    assert!(
        shown.contains(
            "notification to bridge (slack) of completed NOT SENT: environment variable `CUTOVER_T_SLACK_URL`"
        ),
        "{shown}"
    );
}
