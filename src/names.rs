//! The one rule for names that become part of a path or a run id.
//!
//! A run lives in `STATE_DIR/runs/RUN_ID/`, and its id is built from names the runbook
//! and the command line give: `{runbook}.{environment}.[rehearsal.]{YYYYMMDDTHHMMZ}[-N]`.
//! Step and phase ids go into the journal, the command line (`--approve STEP`) and every
//! report. So every such name — the runbook's `[runbook] name`, environment names
//! (`[env.NAME]` and `--env NAME`), step ids and phase ids — follows one rule:
//!
//! - 1 to 64 characters (a run id: up to 200, since it holds two names and a time);
//! - only ASCII letters, digits, `-`, `_` and `.`;
//! - starting and ending with a letter or digit;
//! - no `..` anywhere.
//!
//! So a name is never empty, `.` or `..`, never hidden (a leading dot), never holds a
//! path separator, a control character or anything a terminal interprets, and names
//! joined with `.` never make a `..`. Run ids given on the command line are checked with
//! the same rule before any path is built from them.

use std::fmt;

/// The longest name (runbook name, environment, step or phase id).
pub const MAX_NAME: usize = 64;
/// The longest run id: two names, `rehearsal.`, the time and a counter fit well within.
pub const MAX_RUN_ID: usize = 200;

/// The rule in words, for error messages and help.
pub const RULE: &str = "1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting and ending with a letter or \
                        digit, without `..`";

/// What a name names: it decides the words in messages and the longest allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Runbook,
    Environment,
    Step,
    Phase,
    RunId,
}

impl NameKind {
    /// "Environment names", to begin a sentence.
    pub fn plural(self) -> &'static str {
        match self {
            NameKind::Runbook => "Runbook names",
            NameKind::Environment => "Environment names",
            NameKind::Step => "Step ids",
            NameKind::Phase => "Phase ids",
            NameKind::RunId => "Run ids",
        }
    }

    pub fn max_len(self) -> usize {
        match self {
            NameKind::RunId => MAX_RUN_ID,
            _ => MAX_NAME,
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Runbook => "runbook name",
            NameKind::Environment => "environment name",
            NameKind::Step => "step id",
            NameKind::Phase => "phase id",
            NameKind::RunId => "run id",
        })
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// What is wrong with `name` as a `kind`, as a sentence (`None`: nothing), e.g. "the
/// environment name has `/` (a path separator), which a name cannot hold". It quotes an
/// offending character safely: a control character is written as its code, never as
/// itself. The name is not repeated: a diagnostic points at it.
pub fn name_problem(kind: NameKind, name: &str) -> Option<String> {
    problem(kind, name).map(|words| format!("the {kind} {words}"))
}

/// The refusal of a name given on the command line (or to the store), naming it safely:
/// "`eu/prod` is not a valid environment name: it has `/` (a path separator), which a name
/// cannot hold. Environment names are …".
pub fn refusal(kind: NameKind, name: &str) -> Option<String> {
    let words = problem(kind, name)?;
    let rule = match kind {
        NameKind::RunId => format!(
            "A run id looks like `royal-bank-api.production.20261201T2200Z`: letters, digits, `-`, `_` \
             and `.`, at most {MAX_RUN_ID}; see `cutover runs` for the run ids"
        ),
        _ => format!("{} are {RULE}", kind.plural()),
    };
    Some(format!("`{}` is not a valid {kind}: it {words}. {rule}", shown(name)))
}

/// What is wrong, as words that follow "the step id" or "it".
fn problem(kind: NameKind, name: &str) -> Option<String> {
    let max = kind.max_len();
    let length = name.chars().count();
    if length == 0 {
        return Some("is empty".to_string());
    }
    if length > max {
        return Some(format!("is {length} characters long, over the limit of {max}"));
    }
    if let Some(c) = name.chars().find(|&c| !allowed(c)) {
        return Some(format!("has {}, which a name cannot hold", describe_char(c)));
    }
    if name == "." || name == ".." {
        return Some(format!("is `{name}`, which a path reads as a folder"));
    }
    if name.contains("..") {
        return Some("has `..`, which a path reads as the parent folder".to_string());
    }
    let first = name.chars().next().unwrap_or('.');
    if !first.is_ascii_alphanumeric() {
        return Some(format!("starts with `{first}`: a name starts with a letter or digit"));
    }
    let last = name.chars().next_back().unwrap_or('.');
    if !last.is_ascii_alphanumeric() {
        return Some(format!("ends with `{last}`: a name ends with a letter or digit"));
    }
    None
}

/// A character as a message shows it: printable ones in backquotes, others by code.
pub(crate) fn describe_char(c: char) -> String {
    match c {
        '/' | '\\' => format!("`{c}` (a path separator)"),
        ' ' => "a space".to_string(),
        '\0' => "the NUL character (U+0000)".to_string(),
        '\u{1b}' => "the ESC character (U+001B)".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c if c.is_ascii() => format!("`{c}`"),
        c if c.is_alphanumeric() => format!("`{c}` (U+{:04X}, not ASCII)", u32::from(c)),
        c => format!("the character U+{:04X}", u32::from(c)),
    }
}

/// A name as a message shows it whatever it holds: control characters and other
/// unusual ones escaped, and a long name cut to its first 40 characters.
pub fn shown(name: &str) -> String {
    const KEEP: usize = 40;
    let length = name.chars().count();
    let mut out: String = name
        .chars()
        .take(KEEP)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' || (c.is_alphanumeric() && !c.is_control()) {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect();
    if length > KEEP {
        out.push_str(&format!("… ({length} characters)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_use_follow_the_rule() {
        for name in [
            "royal-bank-api",
            "royal-bank-api-preflight",
            "staging",
            "production",
            "default",
            "demo-shop",
            "lower-ttl",
            "flip_back",
            "v1.2",
            "eu-prod",
            "EU-Prod",
            "a",
            "9",
            &"x".repeat(MAX_NAME),
        ] {
            assert_eq!(name_problem(NameKind::Environment, name), None, "{name}");
        }
    }

    #[test]
    fn path_like_and_hostile_names_are_refused() {
        for (name, words) in [
            ("", "is empty"),
            (".", "`.`"),
            ("..", "`..`"),
            (".hidden", "starts with `.`"),
            ("-flag", "starts with `-`"),
            ("trailing.", "ends with `.`"),
            ("a..b", "`..`"),
            ("eu/prod", "`/` (a path separator)"),
            ("x/../../escaped", "`/` (a path separator)"),
            ("c:\\x", "`:`"),
            ("back\\slash", "`\\` (a path separator)"),
            ("nul\0byte", "NUL character (U+0000)"),
            ("\u{1b}]52;c;aGk=\u{7}", "ESC character (U+001B)"),
            ("csi\u{9b}2J", "control character U+009B"),
            ("two words", "a space"),
            ("prød", "`ø` (U+00F8, not ASCII)"),
        ] {
            let problem = name_problem(NameKind::Environment, name);
            let problem = problem.unwrap_or_else(|| panic!("{name:?} was accepted"));
            assert!(problem.contains(words), "{name:?}: {problem}");
            assert!(!problem.chars().any(char::is_control), "{problem:?}");
        }
        let long = "x".repeat(500);
        let problem = name_problem(NameKind::Step, &long).unwrap();
        assert!(
            problem.contains("500 characters long, over the limit of 64"),
            "{problem}"
        );
        let refused = refusal(NameKind::Environment, "eu/prod").unwrap();
        assert!(
            refused.starts_with("`eu/prod` is not a valid environment name: it has `/`"),
            "{refused}"
        );
        assert!(refused.contains("Environment names are 1 to 64"), "{refused}");
        assert!(name_problem(NameKind::Step, &"x".repeat(MAX_NAME + 1)).is_some());
    }

    #[test]
    fn run_ids_follow_the_same_rule_with_room_for_two_names() {
        for id in [
            "royal-bank-api.production.20261201T2200Z",
            "rb.staging.rehearsal.20261201T2200Z-2",
            &format!("{0}.{0}.rehearsal.20261201T2200Z-99", "x".repeat(MAX_NAME)),
        ] {
            assert_eq!(name_problem(NameKind::RunId, id), None, "{id}");
        }
        for id in [
            "../../escaped",
            "rb.eu/prod.20261201T2200Z",
            ".",
            "..",
            "",
            "rb..x",
            "/etc",
        ] {
            assert!(name_problem(NameKind::RunId, id).is_some(), "{id:?} was accepted");
        }
    }

    #[test]
    fn shown_names_carry_no_control_characters_and_stay_short() {
        assert_eq!(shown("staging"), "staging");
        assert_eq!(shown("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(shown("n\0"), "n\\u{0}");
        assert_eq!(shown("c\u{9b}"), "c\\u{9b}");
        let long = shown(&"y".repeat(500));
        assert!(
            long.starts_with(&"y".repeat(40)) && long.ends_with("… (500 characters)"),
            "{long}"
        );
    }
}
