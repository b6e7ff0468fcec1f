//! Diagnostics for runbooks: what is wrong, where (file:line:col), and how to fix it.
//! Rendered like a compiler error so an operator can jump straight to the line.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;

/// Byte range into the runbook text.
pub type Span = Range<usize>;

/// The text of a runbook and the path it was read from, for turning spans into positions.
///
/// A runbook that includes procedures, or is loaded with `--vars` files, is read from
/// several files: `text` is all of them one after the other (each followed by a newline),
/// and `files` says where each one starts, so a span still is one byte range and a
/// position names its own file. `path` is the runbook named on the command line.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub files: Vec<SourceFile>,
}

/// One file of a [`Source`].
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// Where the file's text starts in [`Source::text`].
    pub start: usize,
    /// The length of the file's text (without the newline that follows it).
    pub len: usize,
    /// The `include` entry that read this file, in the including file.
    pub included_from: Option<Span>,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let path = path.into();
        let text = text.into();
        Self {
            files: vec![SourceFile {
                path: path.clone(),
                start: 0,
                len: text.len(),
                included_from: None,
            }],
            path,
            text,
        }
    }

    /// Appends another file of the load; returns where its text starts (the amount to
    /// shift the spans of its tree by).
    pub fn add_file(&mut self, path: impl Into<PathBuf>, text: &str, included_from: Option<Span>) -> usize {
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.text.push('\n');
        self.files.push(SourceFile {
            path: path.into(),
            start,
            len: text.len(),
            included_from,
        });
        start
    }

    /// The file a byte offset lies in (the last file that starts at or before it).
    pub fn file_at(&self, offset: usize) -> &SourceFile {
        self.files
            .iter()
            .rev()
            .find(|f| f.start <= offset)
            .or(self.files.first())
            .expect("a source has at least one file")
    }

    /// The text of the file an offset lies in, and the offset within it.
    fn local(&self, offset: usize) -> (&SourceFile, &str, usize) {
        let file = self.file_at(offset);
        let end = (file.start + file.len).min(self.text.len());
        let text = self.text.get(file.start..end).unwrap_or("");
        (file, text, offset.saturating_sub(file.start).min(text.len()))
    }

    /// 1-based line and column (in characters) of a byte offset, in its own file.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let (_, text, offset) = self.local(offset);
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// `path:line:col` for a byte offset.
    pub fn location(&self, offset: usize) -> String {
        let (line, col) = self.position(offset);
        format!("{}:{line}:{col}", self.file_at(offset).path.display())
    }

    /// `path:line` for a byte offset.
    pub fn file_line(&self, offset: usize) -> String {
        let (line, _) = self.position(offset);
        format!("{}:{line}", self.file_at(offset).path.display())
    }

    /// The `include` entries that led to the file an offset lies in, innermost first.
    pub fn include_chain(&self, offset: usize) -> Vec<Span> {
        let mut chain = Vec::new();
        let mut at = offset;
        while let Some(from) = self.file_at(at).included_from.clone() {
            // A file is only ever included from one read before it: this ends.
            if chain.len() > self.files.len() {
                break;
            }
            at = from.start;
            chain.push(from);
        }
        chain
    }

    /// The text of a line (1-based) of the file an offset lies in.
    fn line_text(&self, offset: usize, line: usize) -> &str {
        let (_, text, _) = self.local(offset);
        text.lines().nth(line - 1).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable short code, e.g. `unknown-kind`, for documentation and tests.
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    /// Another place that explains this one (e.g. where an id was first defined).
    pub related: Option<(Span, String)>,
    pub help: Option<String>,
    /// The text under the span is a secret: it is masked when the line is shown.
    pub masked: bool,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            related: None,
            help: None,
            masked: false,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>, span: Option<Span>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message, span)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, note: impl Into<String>) -> Self {
        self.related = Some((span, note.into()));
        self
    }

    pub fn masking_the_value(mut self) -> Self {
        self.masked = true;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// One line for a status line or log: `file:line:col: warning[code]: message`.
    pub fn one_line(&self, source: &Source) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = match &self.span {
            Some(span) => source.location(span.start),
            None => source.path.display().to_string(),
        };
        format!("{at}: {label}[{}]: {}", self.code, self.message)
    }

    /// Renders the diagnostic with the offending line and a caret under the span.
    pub fn render(&self, source: &Source) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code, self.message);
        let gutter = match &self.span {
            Some(span) => render_snippet(&mut out, source, span, self.masked),
            None => {
                let _ = writeln!(out, " --> {}", source.path.display());
                1
            }
        };
        let pad = " ".repeat(gutter);
        if let Some(span) = &self.span {
            for from in source.include_chain(span.start) {
                let _ = writeln!(out, "{pad} = included from {}", source.location(from.start));
            }
        }
        if let Some((span, note)) = &self.related {
            let _ = writeln!(out, "{pad} = note: {note} at {}", source.location(span.start));
        }
        if let Some(help) = &self.help {
            // Continuation lines line up under the text after `= help: `.
            let indent = format!("\n{pad}         ");
            let _ = writeln!(out, "{pad} = help: {}", help.replace('\n', &indent));
        }
        out
    }
}

/// Writes the located line with a caret; returns the width of the line-number gutter.
fn render_snippet(out: &mut String, source: &Source, span: &Span, masked: bool) -> usize {
    let (line, col) = source.position(span.start);
    let text = source.line_text(span.start, line);
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad}--> {}", source.location(span.start));
    let _ = writeln!(out, "{pad} |");
    // Underline up to the end of the span or the end of the line, whichever comes first.
    let line_chars = text.chars().count();
    let span_chars = source.text[span.start..span.end.min(source.text.len())]
        .split('\n')
        .next()
        .map_or(1, |s| s.chars().count())
        .max(1);
    let width = span_chars.min(line_chars.saturating_sub(col - 1).max(1));
    let shown: String = if masked {
        text.chars()
            .enumerate()
            .map(|(i, c)| if i >= col - 1 && i < col - 1 + width { '*' } else { c })
            .collect()
    } else {
        text.to_string()
    };
    let _ = writeln!(out, "{line} | {shown}");
    let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width));
    gutter
}

/// Everything found while loading one runbook.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// All diagnostics, sorted by position, rendered against the source.
    pub fn render(&self, source: &Source) -> String {
        let mut items: Vec<&Diagnostic> = self.items.iter().collect();
        items.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
        let mut out = String::new();
        for d in items {
            out.push_str(&d.render(source));
            out.push('\n');
        }
        let errors = self.error_count();
        if errors > 0 {
            let _ = writeln!(
                out,
                "{}: {errors} error{} found; nothing was run",
                source.path.display(),
                if errors == 1 { "" } else { "s" }
            );
        }
        out
    }
}

/// The closest candidate to a misspelled name, if any is close enough to be a useful hint.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    // `prod` for `production`: an abbreviation is a strong hint.
    if wrong.len() >= 3
        && let Some(c) = candidates
            .iter()
            .find(|c| c.starts_with(wrong) && c.len() > wrong.len())
    {
        return Some(c);
    }
    candidates
        .into_iter()
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, c)| *d <= (c.len().max(wrong.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance where swapping two neighbouring letters counts as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = Source::new("r.toml", "a = 1\nbé = \"x\"\n");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(src.position(10), (2, 4));
    }

    #[test]
    fn each_file_of_a_source_has_its_own_lines() {
        let mut src = Source::new("app.toml", "[runbook]\ninclude = [\"p.toml\"]");
        let include = src.text.find("\"p.toml\"").unwrap();
        let start = src.add_file("p.toml", "[vars]\nzone = 1\n", Some(include..include + 8));
        assert_eq!(start, src.text.find("[vars]").unwrap());
        assert_eq!(src.location(include), "app.toml:2:12");
        assert_eq!(src.location(start), "p.toml:1:1");
        assert_eq!(src.location(start + 7), "p.toml:2:1");
        assert_eq!(src.file_line(start + 14), "p.toml:2");
        assert_eq!(src.include_chain(start + 7), vec![include..include + 8]);
        assert!(src.include_chain(include).is_empty());
        // The path of the load stays the runbook's.
        assert_eq!(src.path, PathBuf::from("app.toml"));

        let d = Diagnostic::error("bad", "zone is a number", Some(start + 14..start + 15));
        assert_eq!(
            d.render(&src),
            "error[bad]: zone is a number\n --> p.toml:2:8\n  |\n2 | zone = 1\n  |        ^\n  = included from app.toml:2:12\n"
        );
        assert_eq!(d.one_line(&src), "p.toml:2:8: error[bad]: zone is a number");
    }

    #[test]
    fn suggestions_only_when_close() {
        let kinds = ["manual", "command", "wait", "http"];
        assert_eq!(did_you_mean("comand", kinds), Some("command"));
        assert_eq!(did_you_mean("htp", kinds), Some("http"));
        assert_eq!(did_you_mean("hots", ["host", "zone"]), Some("host"));
        assert_eq!(did_you_mean("kubernetes", kinds), None);
    }
}
