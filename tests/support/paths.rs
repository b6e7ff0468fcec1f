//! What a directory holds, to check that a command wrote nothing where it must not.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every file and folder under `root` (relative to it), following no symbolic links.
pub fn listing(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            out.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    out
}

/// What appeared under `root` between two listings, outside `allowed` (relative to `root`).
pub fn new_outside(before: &BTreeSet<PathBuf>, after: &BTreeSet<PathBuf>, allowed: &Path) -> Vec<PathBuf> {
    after
        .difference(before)
        .filter(|p| !p.starts_with(allowed))
        .cloned()
        .collect()
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
