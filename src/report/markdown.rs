//! The document as Markdown (CommonMark with GitHub tables), escaped so that what an
//! operator or a command wrote is shown as text, never read as markup.

use super::doc::{Block, Doc, Span};
use crate::redact::Redactor;

pub fn write(doc: &Doc, redactor: &Redactor) -> String {
    let mut out = String::new();
    for block in &doc.blocks {
        match block {
            Block::Heading(level, line) => {
                out.push_str(&"#".repeat(usize::from(*level)));
                out.push(' ');
                out.push_str(&inline(line, redactor));
            }
            Block::Para(line) => out.push_str(&inline(line, redactor)),
            Block::List(items) => {
                let lines: Vec<String> = items
                    .iter()
                    .map(|(depth, i)| format!("{}- {}", "  ".repeat(usize::from(*depth)), inline(i, redactor)))
                    .collect();
                out.push_str(&lines.join("\n"));
            }
            Block::Table(header, rows) => {
                let row = |cells: &[String]| {
                    let cells: Vec<String> = cells.iter().map(|c| cell(&redactor.redact(c))).collect();
                    format!("| {} |", cells.join(" | "))
                };
                out.push_str(&row(header));
                out.push('\n');
                out.push_str(&format!("|{}", "---|".repeat(header.len())));
                for r in rows {
                    out.push('\n');
                    out.push_str(&row(r));
                }
            }
            Block::Quote(text) => {
                let lines: Vec<String> = redactor
                    .redact(text)
                    .lines()
                    .map(|l| {
                        if l.is_empty() {
                            ">".to_string()
                        } else {
                            format!("> {l}")
                        }
                    })
                    .collect();
                out.push_str(&lines.join("\n"));
            }
        }
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn inline(line: &[Span], redactor: &Redactor) -> String {
    line.iter()
        .map(|span| match span {
            Span::Text(t) => escape(&redactor.redact(t)),
            Span::Strong(t) => format!("**{}**", escape(&redactor.redact(t))),
            Span::Code(t) => code_span(&redactor.redact(t)),
        })
        .collect()
}

/// Text with the characters that would start markup escaped; one line.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        match c {
            '\\' | '`' | '*' | '|' => {
                out.push('\\');
                out.push(c);
            }
            // Only where it would close a link's text: `[redacted]` stays readable.
            ']' if next.is_some_and(|n| n == '(' || n == '[') => {
                out.push('\\');
                out.push(c);
            }
            // Only where it could open an HTML tag or an autolink.
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || "/!?".contains(n)) => {
                out.push('\\');
                out.push(c);
            }
            '#' | '>' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: escaped, with its line breaks kept as `<br>`.
fn cell(text: &str) -> String {
    text.lines().map(escape).collect::<Vec<_>>().join("<br>")
}

/// A code span that holds any text: its fence is longer than any run of backticks in it.
fn code_span(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}
