//! Text on its way to a terminal. Much of what cutover prints comes from elsewhere: a
//! command's output, what it captured, a server's error message, a runbook's titles. A
//! terminal obeys the control characters in it: ESC starts sequences that move the cursor,
//! erase the screen, set the window title or write the clipboard (OSC 52), BEL rings, and
//! C1 characters such as U+009B stand for `ESC [` on some terminals. So every printer of
//! text (headless lines, `journal`, `status`, `runs`, `validate`, `plan`, the Markdown and
//! HTML exports, error messages, the cockpit) passes it through [`for_terminal`] first.
//!
//! JSON output does not: serde writes control characters as `\u001b`-style escapes itself,
//! and the JSON must carry the text exactly as it was recorded.

use std::borrow::Cow;

/// Whether line breaks in the text are meant to be printed as line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// One line (a record's line, a field, a log pane line): a line break in it is shown
    /// as `\n`, so that text from outside cannot start a line that looks like cutover's.
    One,
    /// Text printed on several lines on purpose (a plan, a report, an error with advice):
    /// `\n` stays a line break, and so does `\r\n`.
    Many,
}

/// `text` made safe to print on a terminal, with nothing hidden:
///
/// - every control character is shown as an escape instead of being sent: C0 controls and
///   DEL as `\x1b`, `\x07`, `\x00`, `\x7f` …, C1 controls (U+0080 to U+009F) as `\u{9b}` …,
///   and a carriage return as `\r` (it would let later text overwrite the line);
/// - a tab becomes four spaces (it only moves the cursor, but the cockpit lays text out by
///   columns and a tab has none);
/// - a line break is kept with [`Lines::Many`] and shown as `\n` with [`Lines::One`].
///
/// A backslash is left as it is, so `\x1b` typed literally looks the same as an escaped
/// ESC: the JSON output tells them apart. Bytes that were not UTF-8 never get here: output
/// is read with `String::from_utf8_lossy`, which shows them as U+FFFD (�).
pub fn for_terminal(text: &str, lines: Lines) -> Cow<'_, str> {
    let keeps = |c: char| !c.is_control() || (c == '\n' && lines == Lines::Many);
    if text.chars().all(keeps) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if lines == Lines::Many && chars.peek() == Some(&'\n') => {}
            '\t' => out.push_str("    "),
            c if keeps(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let hostile = "a\x1b]52;c;SGVsbG8=\x07b\x1b[2J\x1b[H\x1b[1A\x1b[2K\u{9b}31m\0\x7fz";
        let shown = for_terminal(hostile, Lines::Many);
        assert_eq!(
            shown,
            "a\\x1b]52;c;SGVsbG8=\\x07b\\x1b[2J\\x1b[H\\x1b[1A\\x1b[2K\\u{9b}31m\\x00\\x7fz"
        );
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn line_breaks_stay_only_where_several_lines_are_meant() {
        assert_eq!(for_terminal("one\r\ntwo\nthree\rx", Lines::Many), "one\ntwo\nthree\\rx");
        assert_eq!(for_terminal("one\r\ntwo\n", Lines::One), "one\\r\\ntwo\\n");
        assert_eq!(for_terminal("a\tb", Lines::One), "a    b");
    }

    #[test]
    fn ordinary_text_is_not_copied() {
        let text = "api.example.com. A 192.0.2.10 → 198.51.100.7 — ✔ ünïcode\nsecond line";
        assert!(matches!(for_terminal(text, Lines::Many), Cow::Borrowed(_)));
        assert_eq!(for_terminal(text, Lines::One), text.replace('\n', "\\n"));
    }
}
