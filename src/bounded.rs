//! Reading a file the operator names (a runbook, a root-cause analysis, a TSIG key file)
//! with a bound on its size, and saying where text that should be UTF-8 is not.

use std::io::Read as _;
use std::path::Path;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// `size` is the file's size when it has one (not a pipe or a device).
    #[error("{}", too_large_words(*.size, *.limit))]
    TooLarge { size: Option<u64>, limit: u64 },
}

fn too_large_words(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!("it is {size} bytes, over the limit of {}", limit_words(limit)),
        None => format!("it holds more than the limit of {}", limit_words(limit)),
    }
}

/// A limit as people say it: `1 MiB (1048576 bytes)`, `256 KiB (262144 bytes)`.
pub fn limit_words(limit: u64) -> String {
    let short = if limit % MIB == 0 {
        format!("{} MiB", limit / MIB)
    } else if limit % KIB == 0 {
        format!("{} KiB", limit / KIB)
    } else {
        format!("{limit} bytes")
    };
    format!("{short} ({limit} bytes)")
}

/// The whole file, or `TooLarge` without reading more than `limit` + 1 bytes of it.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let size = meta.is_file().then_some(meta.len());
    if size.is_some_and(|s| s > limit) {
        return Err(ReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(size.unwrap_or(0).min(limit) as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        // It grew while being read, or it is not a regular file.
        return Err(ReadError::TooLarge { size, limit });
    }
    Ok(bytes)
}

/// Where the first byte that is not UTF-8 is: its offset, 1-based line and column (in
/// characters), and the byte itself.
pub fn first_bad_byte(bytes: &[u8], error: &std::str::Utf8Error) -> (usize, usize, usize, u8) {
    let at = error.valid_up_to();
    // Everything before `at` is valid UTF-8.
    let before = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (at, line, col, bytes.get(at).copied().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 11]).unwrap();
        assert_eq!(read(&path, 11).unwrap().len(), 11);
        let err = read(&path, 10).unwrap_err();
        assert_eq!(err.to_string(), "it is 11 bytes, over the limit of 10 bytes (10 bytes)");
        assert_eq!(limit_words(MIB), "1 MiB (1048576 bytes)");
        assert_eq!(limit_words(256 * KIB), "256 KiB (262144 bytes)");
    }

    #[test]
    fn a_device_is_read_no_further_than_the_limit() {
        let err = read(Path::new("/dev/zero"), 4 * KIB).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { size: None, .. }), "{err}");
    }

    #[test]
    fn the_first_bad_byte_is_found_by_line_and_column() {
        let bytes = "a = 1\nné = \"x".bytes().chain([0xff, b'"']).collect::<Vec<u8>>();
        let err = std::str::from_utf8(&bytes).unwrap_err();
        assert_eq!(first_bad_byte(&bytes, &err), (14, 2, 8, 0xff));
    }
}
