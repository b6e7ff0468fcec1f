//! The journal's own append-only log of every event, beside sled's store.
//!
//! sled keeps the events indexed for reading, but its recovery silently cuts its log at
//! the first damaged byte and rewrites its files while it opens, before anything can check
//! them. This log is the journal's high-water mark and its second copy: every batch is
//! written here (one frame, fdatasync'd) once sled has it durably, and opening a journal
//! only ever reads it (or appends to it). So sled ending before the log is a truncation,
//! whatever any side file says; an event whose bytes differ between the two is damage; and
//! the events of a damaged journal are all still here.
//!
//! File: the line `cutover event log v1\n`, then one frame per appended batch:
//! ```text
//! "CVB1" | payload length u32 | crc32 of the rest u32 | first seq u64 | count u32 | payload
//! payload = count × (length u32 | value)      (big-endian integers)
//! ```
//! where each value is the event exactly as sled stores it (its CRC32, then its JSON).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub(super) const FILE_MAGIC: &[u8] = b"cutover event log v1\n";
const FRAME_MAGIC: &[u8; 4] = b"CVB1";
const HEADER_LEN: usize = 24;
/// A batch larger than this is not a batch this program wrote.
const MAX_FRAME: usize = 256 * 1024 * 1024;

pub const FILE_NAME: &str = "events.log";

/// One appended batch as read back.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Where its frame starts in the file.
    pub offset: u64,
    pub first_seq: u64,
    /// The events as sled stores them: CRC32 then JSON.
    pub values: Vec<Vec<u8>>,
}

impl Batch {
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.values.len() as u64 - 1
    }
}

/// How the log ends after its last whole frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Exactly at a frame boundary.
    Clean,
    /// A frame cut short (or bytes never written) at the end: a write the crash
    /// interrupted. Nothing valid follows it.
    Torn { at: u64 },
    /// Bytes that are no frame, with more after them: damage.
    Damaged { at: u64, why: String },
}

/// What reading the log from an offset found.
#[derive(Debug)]
pub struct Reading {
    pub batches: Vec<Batch>,
    pub end: End,
    pub len: u64,
    /// Where the bytes read end: past `len` when the file grew while it was read (a
    /// follower reads a log that another process appends to).
    pub read_to: u64,
}

pub fn path_in(journal_dir: &Path) -> PathBuf {
    journal_dir.join(FILE_NAME)
}

/// The log of one journal, open for appending.
pub struct EventLog {
    file: File,
    path: PathBuf,
    /// The file's length: where the next frame goes.
    len: u64,
}

fn private_options() -> std::fs::OpenOptions {
    let mut o = std::fs::OpenOptions::new();
    o.read(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

pub fn frame(first_seq: u64, values: &[Vec<u8>]) -> Vec<u8> {
    let payload_len: usize = values.iter().map(|v| 4 + v.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.extend_from_slice(FRAME_MAGIC);
    out.extend_from_slice(&(payload_len as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&first_seq.to_be_bytes());
    out.extend_from_slice(&(values.len() as u32).to_be_bytes());
    for v in values {
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    let crc = crc32fast::hash(&out[12..]);
    out[8..12].copy_from_slice(&crc.to_be_bytes());
    out
}

impl EventLog {
    /// Creates the log of a new journal, durably (its directory entry included).
    pub fn create(journal_dir: &Path) -> io::Result<Self> {
        let path = path_in(journal_dir);
        let mut file = private_options().create_new(true).open(&path)?;
        file.write_all(FILE_MAGIC)?;
        file.sync_all()?;
        super::sync_dir(journal_dir)?;
        Ok(Self {
            file,
            path,
            len: FILE_MAGIC.len() as u64,
        })
    }

    /// Opens the log for appending after `len` bytes (what was read and checked); anything
    /// after it (a torn write) is cut off first.
    pub fn open_at(journal_dir: &Path, len: u64) -> io::Result<Self> {
        let path = path_in(journal_dir);
        let file = private_options().open(&path)?;
        if file.metadata()?.len() != len {
            file.set_len(len)?;
            file.sync_all()?;
        }
        Ok(Self { file, path, len })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next frame goes (the end of the last one).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends one batch and makes it durable before returning.
    pub fn append(&mut self, first_seq: u64, values: &[Vec<u8>]) -> io::Result<()> {
        let bytes = frame(first_seq, values);
        self.file.seek(SeekFrom::Start(self.len))?;
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave no half frame behind for the next append to follow.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Writes a whole log at once (a journal from before event logs gets its log): to a
/// temporary file, fsync'd, then renamed into place, so a crash leaves either no log or
/// all of it. `batches` are (first sequence number, values).
pub fn write_whole(journal_dir: &Path, batches: &[(u64, Vec<Vec<u8>>)]) -> io::Result<EventLog> {
    let path = path_in(journal_dir);
    let tmp = path.with_extension("log.tmp");
    let mut file = private_options().create(true).truncate(true).open(&tmp)?;
    let mut writer = io::BufWriter::new(&mut file);
    writer.write_all(FILE_MAGIC)?;
    for (first, values) in batches {
        writer.write_all(&frame(*first, values))?;
    }
    writer.flush()?;
    drop(writer);
    file.sync_all()?;
    let len = file.metadata()?.len();
    std::fs::rename(&tmp, &path)?;
    super::sync_dir(journal_dir)?;
    Ok(EventLog { file, path, len })
}

/// The log's events one at a time from its start, without holding the file in memory
/// (the check of a long journal's older events).
pub struct Values {
    reader: io::BufReader<File>,
    pending: std::collections::VecDeque<(u64, Vec<u8>)>,
    at: u64,
}

impl Values {
    pub fn open(journal_dir: &Path) -> io::Result<Self> {
        let mut reader = io::BufReader::with_capacity(256 * 1024, File::open(path_in(journal_dir))?);
        let mut magic = vec![0; FILE_MAGIC.len()];
        reader.read_exact(&mut magic)?;
        if magic != FILE_MAGIC {
            return Err(io::Error::other("it does not start as an event log"));
        }
        Ok(Self {
            reader,
            pending: Default::default(),
            at: FILE_MAGIC.len() as u64,
        })
    }

    /// The next event (its sequence number and bytes), `None` at the end of the log.
    pub fn next_value(&mut self) -> Result<Option<(u64, Vec<u8>)>, String> {
        while self.pending.is_empty() {
            let mut header = [0u8; HEADER_LEN];
            match self.reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e.to_string()),
            }
            let payload_len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if &header[..4] != FRAME_MAGIC || payload_len > MAX_FRAME {
                return Err(format!("bytes that are not a frame at byte {}", self.at));
            }
            let mut bytes = header.to_vec();
            bytes.resize(HEADER_LEN + payload_len, 0);
            self.reader
                .read_exact(&mut bytes[HEADER_LEN..])
                .map_err(|_| format!("a frame is cut short at byte {}", self.at))?;
            let (first, values, size) = parse_frame(&bytes).map_err(|e| format!("{e}, at byte {}", self.at))?;
            self.at += size as u64;
            self.pending.extend((first..).zip(values));
        }
        Ok(self.pending.pop_front())
    }
}

/// Reads every frame from `offset` (0: the start of the file) to the end.
pub fn read_from(journal_dir: &Path, offset: u64) -> io::Result<Reading> {
    let mut file = File::open(path_in(journal_dir))?;
    let len = file.metadata()?.len();
    let start = offset.max(FILE_MAGIC.len() as u64);
    if offset == 0 {
        let mut magic = vec![0; FILE_MAGIC.len()];
        if file.read_exact(&mut magic).is_err() || magic != FILE_MAGIC {
            return Ok(Reading {
                batches: Vec::new(),
                end: End::Damaged {
                    at: 0,
                    why: "it does not start as an event log".to_string(),
                },
                len,
                read_to: 0,
            });
        }
    }
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((len.saturating_sub(start)) as usize);
    file.read_to_end(&mut bytes)?;
    Ok(parse(&bytes, start, len))
}

pub(super) fn parse(bytes: &[u8], base: u64, len: u64) -> Reading {
    let read_to = base + bytes.len() as u64;
    let mut batches = Vec::new();
    let mut at = 0usize;
    let end = loop {
        if at == bytes.len() {
            break End::Clean;
        }
        match parse_frame(&bytes[at..]) {
            Ok((first_seq, values, size)) => {
                batches.push(Batch {
                    offset: base + at as u64,
                    first_seq,
                    values,
                });
                at += size;
            }
            Err(why) => {
                let offset = base + at as u64;
                let rest = &bytes[at..];
                // A crash can leave the last frame cut short, or the file longer than what
                // reached the disk (zeros). Anything else, or anything valid after it, is damage.
                let declared_end = (rest.len() >= 8 && &rest[..4] == FRAME_MAGIC)
                    .then(|| HEADER_LEN + u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize);
                let torn = rest.len() < HEADER_LEN
                    || rest.iter().all(|b| *b == 0)
                    || declared_end.is_some_and(|e| e >= rest.len());
                break if torn {
                    End::Torn { at: offset }
                } else {
                    End::Damaged { at: offset, why }
                };
            }
        }
    };
    Reading {
        batches,
        end,
        len,
        read_to,
    }
}

/// One frame at the start of `bytes`: its first sequence number, values and size.
fn parse_frame(bytes: &[u8]) -> Result<(u64, Vec<Vec<u8>>, usize), String> {
    if bytes.len() < HEADER_LEN {
        return Err("a frame header is cut short".to_string());
    }
    if &bytes[..4] != FRAME_MAGIC {
        return Err("bytes that are not a frame".to_string());
    }
    let be32 = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let payload_len = be32(4) as usize;
    if payload_len > MAX_FRAME {
        return Err(format!("a frame claims {payload_len} bytes"));
    }
    let size = HEADER_LEN + payload_len;
    if bytes.len() < size {
        return Err("a frame is cut short".to_string());
    }
    if crc32fast::hash(&bytes[12..size]) != be32(8) {
        return Err("a frame's checksum does not match (the bytes on disk changed)".to_string());
    }
    let first_seq = u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let count = be32(20) as usize;
    let mut values = Vec::with_capacity(count.min(payload_len / 4));
    let mut at = HEADER_LEN;
    for _ in 0..count {
        if at + 4 > size {
            return Err("a frame's events overrun it".to_string());
        }
        let n = be32(at) as usize;
        at += 4;
        if at + n > size {
            return Err("a frame's events overrun it".to_string());
        }
        values.push(bytes[at..at + n].to_vec());
        at += n;
    }
    if at != size || count == 0 {
        return Err("a frame's length and its events disagree".to_string());
    }
    Ok((first_seq, values, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("event {i}").into_bytes()).collect()
    }

    fn log_with(batches: &[(u64, usize)]) -> (tempfile::TempDir, EventLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::create(dir.path()).unwrap();
        for (first, n) in batches {
            log.append(*first, &values(*n)).unwrap();
        }
        (dir, log)
    }

    #[test]
    fn batches_read_back_as_written_from_the_start_or_from_an_offset() {
        let (dir, _log) = log_with(&[(1, 1), (2, 3), (5, 2)]);
        let all = read_from(dir.path(), 0).unwrap();
        assert_eq!(all.end, End::Clean);
        let seqs: Vec<(u64, u64)> = all.batches.iter().map(|b| (b.first_seq, b.last_seq())).collect();
        assert_eq!(seqs, [(1, 1), (2, 4), (5, 6)]);
        assert_eq!(all.batches[1].values, values(3));
        let tail = read_from(dir.path(), all.batches[2].offset).unwrap();
        assert_eq!(tail.batches.len(), 1);
        assert_eq!(tail.batches[0].first_seq, 5);
    }

    #[test]
    fn a_frame_cut_short_at_the_end_is_torn_and_one_in_the_middle_is_damage() {
        let (dir, log) = log_with(&[(1, 1), (2, 3), (5, 2)]);
        let path = log.path().to_path_buf();
        let full = std::fs::read(&path).unwrap();
        let read = read_from(dir.path(), 0).unwrap();
        let last = read.batches[2].clone();
        assert_eq!(read.len, full.len() as u64);

        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let cut = read_from(dir.path(), 0).unwrap();
        assert_eq!(cut.end, End::Torn { at: last.offset });
        assert_eq!(cut.batches.len(), 2);

        let mut zeros = full.clone();
        zeros.extend_from_slice(&[0; 100]);
        std::fs::write(&path, &zeros).unwrap();
        assert_eq!(read_from(dir.path(), 0).unwrap().end, End::Torn { at: read.len });

        let mut flipped = full.clone();
        let middle = read.batches[1].offset as usize + HEADER_LEN + 5;
        flipped[middle] ^= 0x20;
        std::fs::write(&path, &flipped).unwrap();
        let damaged = read_from(dir.path(), 0).unwrap();
        assert!(
            matches!(&damaged.end, End::Damaged { at, .. } if *at == read.batches[1].offset),
            "{:?}",
            damaged.end
        );
    }

    #[test]
    fn an_append_goes_after_what_was_kept_when_a_torn_tail_is_cut() {
        let (dir, log) = log_with(&[(1, 2)]);
        let good = log.len();
        drop(log);
        let path = path_in(dir.path());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&frame(3, &values(2))[..10]);
        std::fs::write(&path, &bytes).unwrap();
        let mut log = EventLog::open_at(dir.path(), good).unwrap();
        log.append(3, &values(1)).unwrap();
        let read = read_from(dir.path(), 0).unwrap();
        assert_eq!(read.end, End::Clean);
        assert_eq!(read.batches.last().unwrap().first_seq, 3);
    }
}
