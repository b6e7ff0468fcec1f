//! Control characters in a runbook. Names (the runbook's name, environment names, phase
//! and step ids) follow the stricter rule for names (src/names.rs), checked where they
//! are read. Every other string and key — titles, descriptions, notes, variables,
//! commands, URLs, queries, header names — may hold tabs and line breaks (`\n`, `\r\n`)
//! but no other control character: nobody means an escape sequence in a runbook, and
//! one would act on every terminal, export and post-mortem that shows the text (`ESC ]
//! 52` writes the clipboard, `ESC [ 2 J` clears the screen).

use super::diagnostic::Diagnostic;
use super::reader::Sink;
use super::tree::{Node, Table, Value};
use crate::names;

/// The first control character `text` must not hold.
fn refused_control(text: &str) -> Option<char> {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' | '\n' => {}
            '\r' if chars.peek() == Some(&'\n') => {}
            c if c.is_control() => return Some(c),
            _ => {}
        }
    }
    None
}

/// Reports every string and key of the file (every environment's too) holding a control
/// character, except the names the rule for names covers.
pub fn check_control_characters(root: &Table, sink: &Sink) {
    scan_table(root, &[], sink);
}

/// Whether `key` in the table at `path` holds a name checked by the rule for names.
fn is_name(path: &[&str], key: &str) -> bool {
    key == "name" && path == ["runbook"]
        || key == "id" && matches!(path, ["phase"] | ["phase", "step"] | ["rollback", "step"])
}

fn scan_table(table: &Table, path: &[&str], sink: &Sink) {
    for (key, node) in &table.entries {
        // Environment names are names.
        if path != ["env"]
            && let Some(c) = refused_control(&key.name)
        {
            push(
                sink,
                c,
                format!("the key `{}`", names::shown(&key.name)),
                key.span.clone(),
            );
        }
        if is_name(path, &key.name) {
            continue;
        }
        let mut here = path.to_vec();
        here.push(&key.name);
        scan_node(node, &here, sink);
    }
}

fn scan_node(node: &Node, path: &[&str], sink: &Sink) {
    match &node.value {
        Value::Str(s) => {
            if let Some(c) = refused_control(s) {
                let field = path.last().map_or(String::new(), |k| names::shown(k));
                push(sink, c, format!("`{field}`"), node.span.clone());
            }
        }
        Value::Table(t) => scan_table(t, path, sink),
        Value::Array(items) => items.iter().for_each(|item| scan_node(item, path, sink)),
        _ => {}
    }
}

fn push(sink: &Sink, c: char, what: String, span: super::diagnostic::Span) {
    sink.push(
        Diagnostic::error(
            "control-character",
            format!("{what} holds {}", names::describe_char(c)),
            Some(span),
        )
        .with_help(
            "a runbook's text may hold tabs and line breaks but no other control character: an escape \
             sequence would act on every terminal and report that shows it. Remove it",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_and_line_breaks_are_text_other_controls_are_not() {
        assert_eq!(refused_control("a\tb\nc\r\nd"), None);
        assert_eq!(refused_control("plain ünïcode ✔"), None);
        assert_eq!(refused_control("a\rb"), Some('\r'));
        assert_eq!(refused_control("\u{1b}[2J"), Some('\u{1b}'));
        assert_eq!(refused_control("nul\0"), Some('\0'));
        assert_eq!(refused_control("del\u{7f}"), Some('\u{7f}'));
        assert_eq!(refused_control("c1\u{9b}2J"), Some('\u{9b}'));
        assert_eq!(refused_control("ends\r"), Some('\r'));
    }
}
