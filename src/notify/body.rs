//! A notice in each target's format, as the services document their input:
//!
//! - Slack incoming webhooks: `text` (the notification's fallback, mrkdwn) and `blocks` —
//!   a `header` (plain text, at most 150 characters), a `section` with the run, a `section`
//!   of `fields` (at most 10, each at most 2000 characters) with the measured values, and a
//!   `context` with the dashboard link. `&`, `<` and `>` are escaped in mrkdwn.
//! - Microsoft Teams Workflows ("When a Teams webhook request is received"): a `message`
//!   whose one attachment is an Adaptive Card (`application/vnd.microsoft.card.adaptive`,
//!   card version 1.4): a bold `TextBlock`, a subtle `TextBlock` with the run, a `FactSet`,
//!   and an `Action.OpenUrl` to the dashboard.
//! - A generic webhook: cutover's own object, `schema = "cutover.notification/v1"` (see
//!   `webhook`).
//! - PagerDuty Events API v2: `routing_key`, `event_action` (`trigger`, or `resolve` for
//!   `rollback_completed` and `completed`), `dedup_key` (`cutover/RUN_ID`: every message of
//!   a run is one alert, so the end of a rollback resolves what the breach opened), and for
//!   a trigger a `payload` (`summary` at most 1024 characters, `source`, `severity`,
//!   `timestamp`, `component`, `group`, `class`, `custom_details`) and `links`.

use serde_json::{Value, json};

use super::derive::Notice;
use crate::runbook::NotifyEvent;

/// Slack's limits.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_SECTION_MAX: usize = 3000;
const SLACK_FIELD_MAX: usize = 2000;
const SLACK_FIELDS_MAX: usize = 10;
/// PagerDuty's limits.
const PD_SUMMARY_MAX: usize = 1024;
const PD_DEDUP_MAX: usize = 255;

/// At most `max` characters, with `…` where it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The run in words: `run shop-prod-… of shop (prod), attempt 2`.
fn run_words(n: &Notice) -> String {
    let a = &n.about;
    let mut s = format!("run {} of {} ({})", a.run_id, a.runbook, a.environment);
    if a.attempt > 1 {
        s.push_str(&format!(", attempt {}", a.attempt));
    }
    if let Some(step) = &n.step {
        s.push_str(&format!(", step {step}"));
    }
    s
}

/// What a message said, in short, for the journal and the export.
pub fn summary(n: &Notice) -> String {
    cut(&n.headline(), 300)
}

fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn slack(n: &Notice) -> Value {
    let text = slack_escape(&format!("{} ({})", n.headline(), run_words(n)));
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&n.headline(), SLACK_HEADER_MAX)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(
            &format!("*{}* — {}", slack_escape(n.event.name()), slack_escape(&run_words(n))),
            SLACK_SECTION_MAX,
        )}}),
    ];
    if !n.facts.is_empty() {
        let fields: Vec<Value> = n
            .facts
            .iter()
            .take(SLACK_FIELDS_MAX)
            .map(|(k, v)| {
                json!({"type": "mrkdwn", "text": cut(&format!("*{}*\n{}", slack_escape(k), slack_escape(v)), SLACK_FIELD_MAX)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    let mut context = format!(
        "cutover · {} · {}",
        slack_escape(&n.by),
        n.at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(d) = &n.about.dashboard {
        context = format!("<{}|Dashboard> · {context}", slack_escape(d));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}));
    json!({"text": text, "blocks": blocks})
}

pub fn teams(n: &Notice) -> Value {
    let color = match n.severity {
        super::Severity::Critical | super::Severity::Error => "Attention",
        super::Severity::Warning => "Warning",
        super::Severity::Info => "Default",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": n.headline(), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color}),
        json!({"type": "TextBlock", "text": format!("{} · {}", n.event.name(), run_words(n)), "isSubtle": true, "wrap": true, "spacing": "None"}),
    ];
    if !n.facts.is_empty() {
        let facts: Vec<Value> = n.facts.iter().map(|(k, v)| json!({"title": k, "value": v})).collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(d) = &n.about.dashboard {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Dashboard", "url": d}]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// cutover's own JSON for any receiver. Stable: fields are only ever added.
///
/// ```json
/// {"schema": "cutover.notification/v1", "event": "flip", "key": "flip@41",
///  "text": "REHEARSAL: DNS flipped …", "title": "DNS flipped …", "severity": "info",
///  "rehearsal": true, "dry_run": false,
///  "run": {"id": "…", "runbook": "shop", "environment": "staging", "attempt": 1},
///  "step": "verify", "at": "2026-…Z", "by": "alice",
///  "facts": [{"name": "www.shop.example. A", "value": "203.0.113.7 (TTL 60)"}],
///  "dashboard": "https://grafana.example/d/shop"}
/// ```
pub fn webhook(n: &Notice) -> Value {
    let a = &n.about;
    json!({
        "schema": "cutover.notification/v1",
        "event": n.event.name(),
        "key": n.key,
        "text": n.headline(),
        "title": n.title,
        "severity": n.severity.name(),
        "rehearsal": a.rehearsal,
        "dry_run": a.dry_run,
        "run": {"id": a.run_id, "runbook": a.runbook, "environment": a.environment, "attempt": a.attempt},
        "step": n.step,
        "at": n.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "by": n.by,
        "facts": n.facts.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
        "dashboard": a.dashboard,
    })
}

/// Whether the event ends the run's alert in PagerDuty.
pub fn resolves(event: NotifyEvent) -> bool {
    matches!(event, NotifyEvent::RollbackCompleted | NotifyEvent::Completed)
}

/// The alert every message of a run is about.
pub fn dedup_key(run_id: &str) -> String {
    cut(&format!("cutover/{run_id}"), PD_DEDUP_MAX)
}

pub fn pagerduty(n: &Notice, routing_key: &str) -> Value {
    let a = &n.about;
    if resolves(n.event) {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key(&a.run_id),
        });
    }
    let mut details = serde_json::Map::new();
    for (k, v) in [
        ("event", n.event.name().to_string()),
        ("run_id", a.run_id.clone()),
        ("runbook", a.runbook.clone()),
        ("environment", a.environment.clone()),
        ("attempt", a.attempt.to_string()),
        ("by", n.by.clone()),
    ] {
        details.insert(k.to_string(), Value::String(v));
    }
    details.insert("rehearsal".to_string(), Value::Bool(a.rehearsal));
    if let Some(step) = &n.step {
        details.insert("step".to_string(), Value::String(step.clone()));
    }
    for (k, v) in &n.facts {
        details.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(&a.run_id),
        "client": "cutover",
        "payload": {
            "summary": cut(&n.headline(), PD_SUMMARY_MAX),
            "source": a.system,
            "severity": n.severity.name(),
            "timestamp": n.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "component": a.runbook,
            "group": a.environment,
            "class": n.event.name(),
            "custom_details": details,
        },
    });
    if let Some(d) = &a.dashboard {
        body["client_url"] = json!(d);
        body["links"] = json!([{"href": d, "text": "Dashboard"}]);
    }
    body
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::notify::{About, Severity};

    fn notice(event: NotifyEvent, title: &str, rehearsal: bool) -> Notice {
        Notice {
            event,
            key: format!("{}@9", event.name()),
            at: chrono::Utc.with_ymd_and_hms(2026, 3, 1, 22, 0, 5).unwrap(),
            by: "alice".to_string(),
            step: Some("watch".to_string()),
            title: title.to_string(),
            facts: (0..12).map(|i| (format!("fact{i}"), format!("<v{i}> & co"))).collect(),
            severity: Severity::Critical,
            about: About {
                run_id: "shop-prod-1".to_string(),
                runbook: "shop".to_string(),
                environment: "prod".to_string(),
                attempt: 2,
                rehearsal,
                dry_run: false,
                dashboard: Some("https://grafana.example/d/shop".to_string()),
                system: "www.shop.example".to_string(),
            },
        }
    }

    #[test]
    fn slack_escapes_markup_and_keeps_to_its_limits() {
        let long = "x".repeat(400);
        let b = slack(&notice(NotifyEvent::Breach, &format!("<!channel> {long}"), true));
        let text = b["text"].as_str().unwrap();
        assert!(text.starts_with("REHEARSAL: &lt;!channel&gt;"), "{text}");
        assert!(
            text.contains("run shop-prod-1 of shop (prod), attempt 2, step watch"),
            "{text}"
        );
        let header = b["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(b["blocks"][0]["type"], "header");
        assert_eq!(b["blocks"][0]["text"]["type"], "plain_text");
        assert_eq!(header.chars().count(), 150);
        assert!(
            header.starts_with("REHEARSAL: <!channel>"),
            "plain text is not escaped: {header}"
        );
        let fields = b["blocks"][2]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 10);
        assert_eq!(fields[0]["type"], "mrkdwn");
        assert_eq!(fields[0]["text"], "*fact0*\n&lt;v0&gt; &amp; co");
        assert_eq!(b["blocks"][3]["type"], "context");
        assert!(
            b["blocks"][3]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("<https://grafana.example/d/shop|Dashboard> · cutover · alice")
        );
    }

    #[test]
    fn teams_gets_a_message_with_one_adaptive_card() {
        let b = teams(&notice(NotifyEvent::Breach, "error_rate breached", false));
        assert_eq!(b["type"], "message");
        let a = &b["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null());
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["$schema"], "http://adaptivecards.io/schemas/adaptive-card.json");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["body"][0]["type"], "TextBlock");
        assert_eq!(card["body"][0]["text"], "error_rate breached");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(card["body"][2]["type"], "FactSet");
        assert_eq!(card["body"][2]["facts"][11]["title"], "fact11");
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(card["actions"][0]["url"], "https://grafana.example/d/shop");
    }

    #[test]
    fn pagerduty_triggers_one_alert_per_run_and_resolves_it() {
        let long = "y".repeat(2000);
        let t = pagerduty(&notice(NotifyEvent::Breach, &long, true), "R0UT1NG");
        assert_eq!(t["routing_key"], "R0UT1NG");
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "cutover/shop-prod-1");
        let p = &t["payload"];
        assert_eq!(p["summary"].as_str().unwrap().chars().count(), 1024);
        assert!(p["summary"].as_str().unwrap().starts_with("REHEARSAL: yyy"));
        assert_eq!(p["source"], "www.shop.example");
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["timestamp"], "2026-03-01T22:00:05.000Z");
        assert_eq!(p["component"], "shop");
        assert_eq!(p["group"], "prod");
        assert_eq!(p["class"], "breach");
        assert_eq!(p["custom_details"]["run_id"], "shop-prod-1");
        assert_eq!(p["custom_details"]["rehearsal"], true);
        assert_eq!(p["custom_details"]["fact3"], "<v3> & co");
        assert_eq!(t["links"][0]["href"], "https://grafana.example/d/shop");
        let r = pagerduty(&notice(NotifyEvent::RollbackCompleted, "done", false), "R0UT1NG");
        assert_eq!(
            r,
            json!({"routing_key": "R0UT1NG", "event_action": "resolve", "dedup_key": "cutover/shop-prod-1"})
        );
    }

    #[test]
    fn the_webhook_object_is_stable() {
        let b = webhook(&notice(NotifyEvent::Flip, "DNS flipped", false));
        assert_eq!(b["schema"], "cutover.notification/v1");
        assert_eq!(b["event"], "flip");
        assert_eq!(b["key"], "flip@9");
        assert_eq!(b["text"], "DNS flipped");
        assert_eq!(b["severity"], "critical");
        assert_eq!(b["run"]["id"], "shop-prod-1");
        assert_eq!(b["run"]["attempt"], 2);
        assert_eq!(b["step"], "watch");
        assert_eq!(b["at"], "2026-03-01T22:00:05Z");
        assert_eq!(b["facts"][0], json!({"name": "fact0", "value": "<v0> & co"}));
        assert_eq!(b["dashboard"], "https://grafana.example/d/shop");
        assert_eq!(b["rehearsal"], false);
    }
}
