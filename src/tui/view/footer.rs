//! The footer: the keys that apply right now, or the last message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Ctx;
use crate::engine::{RunStatus, Situation, StepStatus, current, situation};
use crate::runbook::Approval;
use crate::tui::app::{Dialog, Focus, running};
use crate::tui::keys::{KeyAction, binding};

/// (keys, what they do, style) for what applies now.
fn applicable(ctx: &Ctx<'_>) -> Vec<(String, String, Style)> {
    let theme = ctx.app.theme;
    let key = |action: KeyAction, label: &str| (binding(action).shown.to_string(), label.to_string(), theme.key());
    if let Some(d) = &ctx.app.dialog {
        let pairs: &[(&str, &str)] = match d {
            Dialog::Approve {
                approval: Approval::Type(_),
                checklist: true,
                ..
            } => &[("Enter", "approve"), ("Tab", "next field"), ("Esc", "cancel")],
            Dialog::Approve { .. } => &[("Enter", "approve"), ("Esc", "cancel")],
            Dialog::Rollback { .. } => &[("Enter", "roll back now"), ("Esc", "cancel")],
            Dialog::Skip { .. } | Dialog::Note { .. } => &[("Enter", "save"), ("Esc", "cancel")],
            Dialog::InDoubt { .. } => &[
                ("s", "it happened"),
                ("f", "it did not"),
                ("r", "run it again"),
                ("Esc", "cancel"),
            ],
            Dialog::Retry { .. } => &[("Enter", "retry"), ("s", "skip"), ("Esc", "cancel")],
            Dialog::Rca { .. } => &[("Ctrl-S", "save"), ("Enter", "new line"), ("Esc", "cancel")],
            Dialog::NewAttempt { .. } => &[("Enter", "start"), ("Esc", "cancel")],
            Dialog::Quit { .. } => &[("y", "quit"), ("n", "stay")],
        };
        return pairs
            .iter()
            .map(|(k, l)| (k.to_string(), l.to_string(), theme.key()))
            .collect();
    }
    if ctx.app.log.editing.is_some() {
        return vec![
            ("Enter".into(), "filter".into(), theme.key()),
            ("Esc".into(), "clear".into(), theme.key()),
        ];
    }
    // Most needed first: the footer drops what does not fit from the end.
    let mut keys = Vec::new();
    let act = match situation(ctx.state, ctx.now) {
        Situation::Approval {
            step,
            approval: Approval::Type(_),
            ..
        } => Some(format!("type to approve {step}")),
        Situation::Approval { step, .. } => Some(format!("approve {step}")),
        Situation::Failed { step, .. } => Some(format!("retry {step}")),
        Situation::InDoubt { step } => Some(format!("resolve {step}")),
        Situation::RolledBack { rca_attached: false } => Some("write the root-cause analysis".to_string()),
        Situation::RolledBack { rca_attached: true } => Some(format!("start attempt {}", ctx.state.attempt + 1)),
        _ => None,
    };
    if let Some(label) = act {
        keys.push(key(KeyAction::Act, &label));
    }
    if matches!(ctx.state.status, RunStatus::Active | RunStatus::Holding { .. }) {
        let watching = running(ctx.state).is_some_and(|i| ctx.state.steps[i].watch.is_some());
        let mut k = key(KeyAction::Rollback, "roll back");
        if watching {
            k.2 = theme.danger_key();
            k.1 = "ROLL BACK".to_string();
        }
        keys.push(k);
    }
    if current(ctx.state).is_some_and(|i| matches!(ctx.state.steps[i].status, StepStatus::Pending | StepStatus::Failed))
    {
        keys.push(key(KeyAction::Skip, "skip"));
    }
    keys.push(key(KeyAction::Help, "help"));
    keys.push(key(KeyAction::Quit, "quit"));
    keys.push(key(KeyAction::Note, "note"));
    keys.push(key(
        KeyAction::SwitchFocus,
        if ctx.app.focus == Focus::Steps { "log" } else { "steps" },
    ));
    if ctx.app.focus == Focus::Log {
        keys.push(key(KeyAction::Filter, "filter"));
    }
    keys.push(("↑↓".to_string(), "select".to_string(), theme.key()));
    keys
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let mut spans = Vec::new();
    let mut used = 0;
    if let Some(flash) = &ctx.app.flash {
        let style = if flash.error { theme.error() } else { theme.accent() };
        used += flash.text.chars().count() + 2;
        spans.push(Span::styled(flash.text.clone(), style));
        spans.push(Span::raw("  "));
    }
    for (keys, label, style) in applicable(ctx) {
        let width = keys.chars().count() + label.chars().count() + 3;
        if used + width > area.width as usize {
            break;
        }
        used += width;
        spans.push(Span::styled(keys, style));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
