//! The footer: the keys that apply right now, or the last message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ctx, fit};
use crate::tui::app::{Focus, act_label, can_roll_back, running, skippable};
use crate::tui::keys::{KeyAction, binding};

/// (keys, what they do, style) for what applies now.
fn applicable(ctx: &Ctx<'_>) -> Vec<(String, String, Style)> {
    let theme = ctx.app.theme;
    let key = |action: KeyAction, label: &str| (binding(action).shown.to_string(), label.to_string(), theme.key());
    if let Some(d) = &ctx.app.dialog {
        return d
            .keys()
            .iter()
            .map(|(k, l)| (k.to_string(), l.to_string(), theme.key()))
            .collect();
    }
    if ctx.app.log.editing.is_some() {
        return vec![
            ("Enter".into(), "keep the filter".into(), theme.key()),
            ("Esc".into(), "clear it".into(), theme.key()),
        ];
    }
    if ctx.app.log.opened.is_some() {
        return vec![("any key".into(), "closes the line".into(), theme.key())];
    }
    // Watching: only the keys that look (and quit) work.
    if ctx.app.read_only.is_some() {
        let mut keys = vec![key(KeyAction::Quit, "quit"), key(KeyAction::Help, "help")];
        keys.extend(looking(ctx));
        return keys;
    }
    // Most needed first. Rollback and quit are always kept; others go when there is no room.
    let mut keys = Vec::new();
    if ctx.app.focus == Focus::Log {
        keys.push(key(KeyAction::Act, "open the line"));
    } else if let Some(label) = act_label(ctx.state, ctx.now) {
        keys.push(key(KeyAction::Act, &fit(&label, 36)));
    }
    if can_roll_back(ctx.state) {
        let watching = running(ctx.state).is_some_and(|i| ctx.state.steps[i].watch.is_some());
        let mut k = key(KeyAction::Rollback, "roll back");
        if watching {
            k.2 = theme.danger_key();
            k.1 = "ROLL BACK".to_string();
        }
        keys.push(k);
    }
    keys.push(key(KeyAction::Quit, "quit"));
    if skippable(ctx.state).is_some() {
        keys.push(key(KeyAction::Skip, "skip"));
    }
    keys.push(key(KeyAction::Help, "help"));
    keys.push(key(KeyAction::Note, "note"));
    keys.extend(looking(ctx));
    keys
}

/// The keys that move around: the other pane, the log's filter, the selection.
fn looking(ctx: &Ctx<'_>) -> Vec<(String, String, Style)> {
    let theme = ctx.app.theme;
    let key = |action: KeyAction, label: &str| (binding(action).shown.to_string(), label.to_string(), theme.key());
    let mut keys = vec![key(
        KeyAction::SwitchFocus,
        if ctx.app.focus == Focus::Steps { "log" } else { "steps" },
    )];
    if ctx.app.focus == Focus::Log {
        keys.push(key(KeyAction::Filter, "filter"));
        if ctx.app.read_only.is_some() {
            keys.push(key(KeyAction::Act, "open the line"));
        }
    }
    keys.push(("↑↓".to_string(), "select".to_string(), theme.key()));
    keys
}

pub fn render(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>) {
    let theme = ctx.app.theme;
    let width = area.width as usize;
    let mut spans = Vec::new();
    let mut used = 0;
    // A problem outside any dialog, or the answer to the last key, comes first.
    let message = match (&ctx.app.alert, &ctx.app.flash) {
        (Some(alert), _) => Some((format!("⚠ {alert}"), theme.error())),
        (None, Some(flash)) => Some((
            flash.text.clone(),
            if flash.error { theme.error() } else { theme.accent() },
        )),
        (None, None) => None,
    };
    if let Some((text, style)) = message {
        // Leave room for the keys that must stay (a watcher's: q).
        let keep = if ctx.app.read_only.is_some() { 10 } else { 26 };
        let text = fit(&text, width.saturating_sub(keep));
        used += text.chars().count() + 2;
        spans.push(Span::styled(text, style));
        spans.push(Span::raw("  "));
    }
    for (keys, label, style) in applicable(ctx) {
        let needed = keys.chars().count() + label.chars().count() + 3;
        if used + needed > width {
            continue;
        }
        used += needed;
        spans.push(Span::styled(keys, style));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
