//! `notify.webhook`: the message is posted as JSON by the HTTP sender (`http::probe`), with
//! the URL read from the environment at the last moment and never shown: the intent, the
//! outcome and every error name the variable and the host, not the URL.

use super::http::{HttpProbe, headers_from_env};
use super::{Context, Job, Prepared, Values};
use crate::engine::{Failure, Intent, Mode, Outcome, RunState};
use crate::runbook::{NotifyWebhookStep, Step};

/// The JSON body: `text` is what Slack's incoming webhooks and most chat bridges show;
/// the rest lets a receiver that understands it link the run.
pub fn body(message: &str, run: &RunState, step: &str) -> String {
    let rehearsal = run.mode == Mode::Rehearsal;
    let text = if rehearsal {
        format!("REHEARSAL: {message}")
    } else {
        message.to_string()
    };
    serde_json::json!({
        "text": text,
        "run": run.run_id,
        "runbook": run.runbook.name,
        "step": step,
        "rehearsal": rehearsal,
        "dry_run": run.dry_run,
    })
    .to_string()
}

/// Reads the URL and headers from the environment and fills in the message. A dry run
/// posts nothing: the message would reach people.
pub(crate) fn prepare(
    n: &NotifyWebhookStep,
    step: &Step,
    run: &RunState,
    values: &Values,
    ctx: &Context,
) -> Result<Prepared, Failure> {
    let var = &n.url_env;
    let url = std::env::var(var).map_err(|_| {
        Failure::new(format!("environment variable `{var}` (the webhook's URL) is not set")).advise(format!(
            "export {var}=https://… in the shell that runs cutover, then retry"
        ))
    })?;
    // The URL is a secret: a problem with it is described, never quoted.
    let host = match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => crate::words::host_port(&url),
        _ => {
            return Err(
                Failure::new(format!("environment variable `{var}` does not hold an http(s) URL"))
                    .advise(format!("set {var} to the webhook's full URL (https://…), then retry")),
            );
        }
    };
    let message = values.render(&n.message)?;
    let to = format!("the webhook in ${var} ({host})");
    let intent = Intent::Notify {
        to: to.clone(),
        message: ctx.redactor.redact(&message),
    };
    if run.dry_run {
        return Ok(Prepared {
            job: Job::DryRun(Outcome {
                summary: format!("dry run: would post to {to}"),
                details: vec![
                    format!("message: {}", ctx.redactor.redact(&message)),
                    "messages are not sent in a dry run: they reach people".to_string(),
                ],
                ..Outcome::default()
            }),
            intent,
        });
    }
    let probe = HttpProbe {
        method: "POST".to_string(),
        url,
        shown_as: Some(to),
        expect_status: None,
        json_body: Some(body(&message, run, &step.id)),
        max_latency: None,
        body_contains: None,
        resolve: None,
        timeout: n.timeout,
        headers: headers_from_env(&n.headers_env)?,
        retries: n.retries,
        retry_interval: n.retry_interval,
        repeatable: n.idempotent,
    };
    Ok(Prepared {
        intent,
        job: Job::Http(probe),
    })
}
