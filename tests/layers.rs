//! The layers `src/lib.rs` lists hold: a module uses only modules listed before it, so the
//! engine never reaches for a client, a client never for the driver, and so on. Read from
//! the source, so a new `use` that points the wrong way fails here with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules in the order `src/lib.rs` declares them.
fn layers(src: &Path) -> BTreeMap<String, usize> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .enumerate()
        .map(|(rank, name)| (name.to_string(), rank))
        .collect()
}

/// `crate::name` paths in code (comments and the unit tests at the end of a file left out).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            found.push((n + 1, name));
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_listed_before_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank = layers(&src);
    assert!(
        ["runbook", "engine", "effects", "runner", "tui"]
            .iter()
            .all(|m| rank.contains_key(*m)),
        "src/lib.rs no longer lists the layers: {rank:?}"
    );
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(&own) = rank.get(&top) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, used) in crate_paths(&text) {
            if rank.get(&used).is_some_and(|&r| r > own) {
                upward.push(format!(
                    "src/{}:{line}: `{top}` uses `{used}`, a layer above it",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses that point up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_check_sees_a_use_that_points_up() {
    // The scanner itself: a path in code is seen, one in a comment or a unit test is not.
    let text = "use crate::engine::Failure;\n// crate::tui in a comment\nfn f() { crate::runner::go(); }\n\
                #[cfg(test)]\nmod tests { use crate::tui; }\n";
    let found: Vec<String> = crate_paths(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["engine", "runner"]);
}
