//! The document as one self-contained HTML page: inline CSS, inline SVG, no script and
//! nothing fetched. The charts of the watch come right after the title: people look at
//! the curve first. Every text is redacted, then escaped.

use std::fmt::Write as _;

use super::doc::{Block, Doc, Span};
use super::facts::Facts;
use super::svg;
use crate::engine::Mode;
use crate::redact::Redactor;

const STYLE: &str = "
body { font-family: -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto; max-width: 76em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
blockquote { border-left: 4px solid #ccc; margin: .6em 0; padding: .2em 1em; background: #fafafa; }
blockquote pre { white-space: pre-wrap; font-family: inherit; margin: 0; }
.banner { display: inline-block; padding: .2em .8em; font-weight: bold; border-radius: 4px; margin-right: .5em; }
.banner.live { background: #ffebee; color: #b71c1c; }
.banner.rehearsal { background: #fff8e1; color: #8a6d00; border: 2px dashed #c9a400; }
.banner.dry-run { background: #e3f2fd; color: #0d47a1; }
.charts svg { display: block; margin: .8em 0; max-width: 100%; height: auto; }
";

/// Text safe anywhere in HTML, attributes included.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub fn write(f: &Facts<'_>, doc: &Doc) -> String {
    let r = f.redactor;
    let s = f.state;
    let mut out = String::new();
    let title = format!(
        "Cutover post-mortem: {} ({}) — {}{}",
        s.runbook.name,
        s.runbook.environment,
        match s.mode {
            Mode::Live => "LIVE",
            Mode::Rehearsal => "REHEARSAL",
        },
        if s.dry_run { " — DRY RUN" } else { "" }
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&r.redact(&title))
    );
    let mut blocks = doc.blocks.iter();
    if let Some(first) = blocks.next() {
        block(&mut out, first, r);
    }
    out.push_str("<p>");
    out.push_str(match s.mode {
        Mode::Live => "<span class=\"banner live\">LIVE</span>",
        Mode::Rehearsal => "<span class=\"banner rehearsal\">REHEARSAL</span>",
    });
    if s.dry_run {
        out.push_str("<span class=\"banner dry-run\">DRY RUN</span>");
    }
    let _ = writeln!(out, " {}</p>", escape(&r.redact(&f.outcome())));
    let charts = svg::charts(f);
    if !charts.is_empty() {
        out.push_str("<section class=\"charts\">\n<h2>Metrics during the watch</h2>\n");
        for c in charts {
            out.push_str(&r.redact(&c));
            out.push('\n');
        }
        out.push_str("</section>\n");
    }
    for b in blocks {
        block(&mut out, b, r);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn block(out: &mut String, b: &Block, r: &Redactor) {
    match b {
        Block::Heading(level, line) => {
            let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(line, r));
        }
        Block::Para(line) => {
            let _ = writeln!(out, "<p>{}</p>", inline(line, r));
        }
        Block::List(items) => {
            // Deeper items open a list inside the item before them.
            let mut depth = 0;
            out.push_str("<ul>\n<li>");
            for (n, (d, i)) in items.iter().enumerate() {
                if n > 0 {
                    if *d > depth {
                        out.push_str("\n<ul>\n<li>");
                        depth += 1;
                    } else {
                        while depth > *d {
                            out.push_str("</li>\n</ul>\n");
                            depth -= 1;
                        }
                        out.push_str("</li>\n<li>");
                    }
                }
                out.push_str(&inline(i, r));
            }
            while depth > 0 {
                out.push_str("</li>\n</ul>\n");
                depth -= 1;
            }
            out.push_str("</li>\n</ul>\n");
        }
        Block::Table(header, rows) => {
            out.push_str("<table>\n<thead><tr>");
            for h in header {
                let _ = write!(out, "<th>{}</th>", escape(&r.redact(h)));
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in rows {
                out.push_str("<tr>");
                for c in row {
                    let cell = r.redact(c).lines().map(escape).collect::<Vec<_>>().join("<br>");
                    let _ = write!(out, "<td>{cell}</td>");
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Block::Quote(text) => {
            let _ = writeln!(out, "<blockquote><pre>{}</pre></blockquote>", escape(&r.redact(text)));
        }
    }
}

fn inline(line: &[Span], r: &Redactor) -> String {
    line.iter()
        .map(|span| match span {
            Span::Text(t) => escape(&r.redact(t)),
            Span::Strong(t) => format!("<strong>{}</strong>", escape(&r.redact(t))),
            Span::Code(t) => format!("<code>{}</code>", escape(&r.redact(t))),
        })
        .collect()
}
