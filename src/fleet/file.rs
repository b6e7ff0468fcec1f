//! The fleet file: the applications an estate moves and the waves it moves them in.
//!
//! ```toml
//! [fleet]
//! name = "estate-2026"
//! concurrency = 2          # applications driven at once inside a wave (default: the whole wave)
//! on_rollback = "ask"      # the others in a wave when one rolls back: ask | roll_back | keep
//!
//! [[app]]
//! name = "billing"
//! runbook = "apps/billing.toml"           # relative to this file
//! vars = ["apps/billing.staging.vars.toml"] # optional [vars] files
//!
//! [[wave]]
//! name = "pilot"
//! apps = ["billing"]
//! ```
//!
//! Every mistake is reported with the fleet file's `path:line:col`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::names::{self, NameKind};
use crate::runbook::Source;

/// The largest fleet file read: a real one lists a few dozen applications.
pub const MAX_FLEET_BYTES: u64 = crate::bounded::MIB;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub name: String,
    pub description: String,
    /// The fleet file, as given.
    pub path: PathBuf,
    pub on_rollback: OnRollback,
    pub apps: Vec<App>,
    pub waves: Vec<Wave>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: String,
    /// The application's runbook, relative to the fleet file's folder already.
    pub runbook: PathBuf,
    pub vars: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    pub name: String,
    pub apps: Vec<String>,
    /// How many of its applications are driven at once.
    pub concurrency: usize,
}

/// What happens to the other applications of a wave when one of them rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnRollback {
    /// Ask the operator (headless without a terminal: keep them, and say how to roll back).
    #[default]
    Ask,
    /// Roll them back too.
    RollBack,
    /// Let them go on to the end of their own run.
    Keep,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    fleet: Spanned<RawHeader>,
    #[serde(default)]
    app: Vec<Spanned<RawApp>>,
    #[serde(default)]
    wave: Vec<Spanned<RawWave>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    on_rollback: OnRollback,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    runbook: Spanned<String>,
    #[serde(default)]
    vars: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWave {
    name: Option<Spanned<String>>,
    apps: Spanned<Vec<Spanned<String>>>,
    concurrency: Option<Spanned<i64>>,
}

/// Whether this text is a fleet file (a top-level `[fleet]` table) rather than a runbook.
pub fn is_fleet(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("fleet"))
}

/// Whether the file at `path` is a fleet file; a file that cannot be read is not (the
/// runbook loader says why it cannot be read).
pub fn is_fleet_file(path: &Path) -> bool {
    crate::bounded::read(path, MAX_FLEET_BYTES)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| is_fleet(&t))
}

/// Reads and checks a fleet file. The error lists every problem, one per line, each with
/// `path:line:col`.
pub fn load(path: &Path) -> Result<Fleet, String> {
    let bytes = crate::bounded::read(path, MAX_FLEET_BYTES)
        .map_err(|e| format!("cannot read fleet file {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{}: the fleet file is not UTF-8 text", path.display()))?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Fleet, String> {
    let source = Source::new(path, text);
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| source.location(s.start))
            .unwrap_or_else(|| path.display().to_string());
        format!("{at}: error: {}", e.message().trim_end())
    })?;
    let mut problems: Vec<String> = Vec::new();
    let mut problem = |span: std::ops::Range<usize>, message: String| {
        problems.push(format!("{}: error: {message}", source.location(span.start)));
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let fleet_span = raw.fleet.span();
    let header = raw.fleet.into_inner();
    let name = header.name.get_ref().clone();
    if let Some(refused) = names::refusal(NameKind::Runbook, &name) {
        problem(header.name.span(), format!("fleet name: {refused}"));
    }
    let default_concurrency = match &header.concurrency {
        Some(c) => positive(c, &mut problem),
        None => None,
    };

    let mut apps = Vec::new();
    let mut seen = BTreeSet::new();
    for app in &raw.app {
        let app = app.get_ref();
        let name = app.name.get_ref();
        if let Some(refused) = names::refusal(NameKind::Runbook, name) {
            problem(app.name.span(), format!("application name: {refused}"));
        } else if name.contains('/') {
            problem(app.name.span(), format!("application name `{name}` has a `/`"));
        }
        if !seen.insert(name.clone()) {
            problem(app.name.span(), format!("application `{name}` is listed twice"));
        }
        let runbook = base.join(app.runbook.get_ref());
        if !runbook.is_file() {
            problem(
                app.runbook.span(),
                format!("application `{name}`: no runbook at {}", runbook.display()),
            );
        }
        let mut vars = Vec::new();
        for v in &app.vars {
            let file = base.join(v.get_ref());
            if !file.is_file() {
                problem(
                    v.span(),
                    format!("application `{name}`: no vars file at {}", file.display()),
                );
            }
            vars.push(file);
        }
        apps.push(App {
            name: name.clone(),
            runbook,
            vars,
        });
    }
    if raw.app.is_empty() {
        problem(
            fleet_span.clone(),
            "the fleet lists no application: add [[app]] entries".to_string(),
        );
    }

    let mut waves = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    for (i, wave) in raw.wave.iter().enumerate() {
        let w = wave.get_ref();
        let wave_name = w
            .name
            .as_ref()
            .map_or_else(|| format!("wave {}", i + 1), |n| n.get_ref().clone());
        let mut members = Vec::new();
        for app in w.apps.get_ref() {
            let a = app.get_ref();
            if !seen.contains(a) {
                let known: Vec<&str> = seen.iter().map(String::as_str).collect();
                let hint = crate::runbook::diagnostic::did_you_mean(a, known.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_else(|| format!(" (applications: {})", known.join(", ")));
                problem(
                    app.span(),
                    format!("{wave_name}: no application `{a}` in this fleet{hint}"),
                );
            } else if !placed.insert(a.clone()) {
                problem(
                    app.span(),
                    format!("{wave_name}: application `{a}` is already in an earlier wave"),
                );
            }
            members.push(a.clone());
        }
        if members.is_empty() {
            problem(w.apps.span(), format!("{wave_name} has no application"));
        }
        let concurrency = match &w.concurrency {
            Some(c) => positive(c, &mut problem),
            None => default_concurrency,
        }
        .unwrap_or(members.len().max(1));
        waves.push(Wave {
            name: wave_name,
            apps: members,
            concurrency,
        });
    }
    if raw.wave.is_empty() {
        problem(
            fleet_span.clone(),
            "the fleet has no wave: add [[wave]] apps = [\"...\"]".to_string(),
        );
    }
    for app in &raw.app {
        let name = app.get_ref().name.get_ref();
        if !placed.contains(name)
            && raw
                .wave
                .iter()
                .all(|w| w.get_ref().apps.get_ref().iter().all(|a| a.get_ref() != name))
        {
            problem(
                app.get_ref().name.span(),
                format!("application `{name}` is in no wave: add it to a [[wave]]'s apps"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    Ok(Fleet {
        name,
        description: header.description,
        path: path.to_path_buf(),
        on_rollback: header.on_rollback,
        apps,
        waves,
    })
}

fn positive(c: &Spanned<i64>, problem: &mut impl FnMut(std::ops::Range<usize>, String)) -> Option<usize> {
    match usize::try_from(*c.get_ref()) {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            problem(
                c.span(),
                format!("concurrency is {}: it must be 1 or more", c.get_ref()),
            );
            None
        }
    }
}

impl Fleet {
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn waves_keep_their_order_and_concurrency_defaults_to_the_fleet() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "");
        write(dir.path(), "b.toml", "");
        let text = "[fleet]\nname = \"estate\"\nconcurrency = 1\n\n[[app]]\nname = \"a\"\nrunbook = \"a.toml\"\n\n[[app]]\nname = \"b\"\nrunbook = \"b.toml\"\n\n[[wave]]\napps = [\"b\"]\n\n[[wave]]\nname = \"rest\"\napps = [\"a\"]\nconcurrency = 3\n";
        let fleet = parse(&dir.path().join("fleet.toml"), text).unwrap();
        assert_eq!(fleet.waves[0].name, "wave 1");
        assert_eq!(fleet.waves[0].apps, vec!["b"]);
        assert_eq!(fleet.waves[0].concurrency, 1);
        assert_eq!((fleet.waves[1].name.as_str(), fleet.waves[1].concurrency), ("rest", 3));
        assert_eq!(fleet.app("a").unwrap().runbook, dir.path().join("a.toml"));
        assert_eq!(fleet.on_rollback, OnRollback::Ask);
    }

    #[test]
    fn mistakes_point_at_their_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "");
        let path = dir.path().join("fleet.toml");
        let text = "[fleet]\nname = \"estate\"\n\n[[app]]\nname = \"billing\"\nrunbook = \"a.toml\"\n\n[[app]]\nname = \"search\"\nrunbook = \"missing.toml\"\n\n[[wave]]\napps = [\"biling\", \"search\"]\n";
        let err = parse(&path, text).unwrap_err();
        let p = path.display();
        assert!(
            err.contains(&format!("{p}:10:11: error: application `search`: no runbook at")),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{p}:13:9: error: wave 1: no application `biling` in this fleet (did you mean `billing`?)"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("{p}:5:8: error: application `billing` is in no wave")),
            "{err}"
        );

        let err = parse(&path, "[fleet]\nname = \"x\"\non_rollback = \"panic\"\n").unwrap_err();
        assert!(
            err.starts_with(&format!("{p}:3:15: error: unknown variant `panic`")),
            "{err}"
        );
        assert!(is_fleet("[fleet]\nname = \"x\"\n") && !is_fleet("[runbook]\nname = \"x\"\n"));
    }
}
