//! SPDY/3 framing (draft 3 and its 3.1 revision, which only adds the session window):
//! frame layout, name/value header blocks, and their zlib compression with the fixed
//! SPDY/3 dictionary.
//!
//! Every frame starts with 8 bytes. A control frame has the top bit set:
//!
//! ```text
//! |1| version (15) | type (16) | flags (8) | length (24) | payload...
//! ```
//!
//! and a data frame has it clear:
//!
//! ```text
//! |0| stream id (31) | flags (8) | length (24) | data...
//! ```
//!
//! Header blocks (in SYN_STREAM, SYN_REPLY and HEADERS) are a count followed by
//! length-prefixed names and values, all 32-bit big-endian, compressed with zlib primed
//! with [`dictionary`]. Each direction of a session keeps one compression context for its
//! whole life, and every block ends on a sync flush so the peer can decode it on its own.

use std::fmt;
use std::sync::OnceLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The protocol version carried in every control frame.
pub const VERSION: u16 = 3;

/// The largest payload a frame's 24-bit length can describe.
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;

/// The most a single header block may inflate to before the session gives up on it.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// FLAG_FIN, on data frames and on SYN_STREAM, SYN_REPLY and HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL, on SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// FLAG_SETTINGS_CLEAR_SETTINGS, on SETTINGS.
pub const FLAG_SETTINGS_CLEAR: u8 = 0x01;

/// Control frame types.
pub mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const SETTINGS: u16 = 4;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
    pub const HEADERS: u16 = 8;
    pub const WINDOW_UPDATE: u16 = 9;
}

/// RST_STREAM status codes.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const UNSUPPORTED_VERSION: u32 = 4;
    pub const CANCEL: u32 = 5;
    pub const INTERNAL_ERROR: u32 = 6;
    pub const FLOW_CONTROL_ERROR: u32 = 7;
    pub const STREAM_IN_USE: u32 = 8;
    pub const STREAM_ALREADY_CLOSED: u32 = 9;
}

/// GOAWAY status codes.
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INTERNAL_ERROR: u32 = 2;
}

/// SETTINGS ids this side understands.
pub mod setting {
    pub const MAX_CONCURRENT_STREAMS: u32 = 4;
    pub const INITIAL_WINDOW_SIZE: u32 = 7;
}

/// A header block: names (lowercase on the wire) with their values, in order. A name that
/// carries several values appears once per value here; on the wire they are joined by NUL.
pub type Headers = Vec<(String, String)>;

/// One SETTINGS entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream_id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        slot: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    /// A control frame of a type this implementation does not know (CREDENTIAL, NOOP, or
    /// anything newer); the spec says to ignore it.
    Unknown {
        kind: u16,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// Why bytes from the peer could not be understood. Any of these ends the session.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A control frame of a version other than 3.
    Version(u16),
    /// A frame whose payload does not fit its type.
    Malformed(&'static str),
    /// A header block that did not inflate.
    Compression(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Version(v) => write!(f, "unsupported SPDY version {v}"),
            FrameError::Malformed(what) => write!(f, "malformed SPDY frame: {what}"),
            FrameError::Compression(e) => write!(f, "SPDY header block did not decompress: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for std::io::Error {
    fn from(e: FrameError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// The header names the dictionary lists first, each preceded by its length as a 32-bit
/// big-endian integer (SPDY/3 section 2.6.10.1).
const DICTIONARY_WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's unprefixed remainder: status codes, reason phrases, dates and common
/// header values, run together.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307",
    "402405406407408409410411412413414415416417",
    "502504505",
    "203 Non-Authoritative Information",
    "204 No Content",
    "301 Moved Permanently",
    "400 Bad Request",
    "401 Unauthorized",
    "403 Forbidden",
    "404 Not Found",
    "500 Internal Server Error",
    "501 Not Implemented",
    "503 Service Unavailable",
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec ",
    "00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
    "chunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,",
    "publicprivatemax-age=gzip,deflate,sdch",
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The zlib dictionary SPDY/3 primes both header compression contexts with.
pub fn dictionary() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let mut dict = Vec::with_capacity(1423);
        for word in DICTIONARY_WORDS {
            dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
            dict.extend_from_slice(word.as_bytes());
        }
        dict.extend_from_slice(DICTIONARY_TAIL.as_bytes());
        dict
    })
}

/// Turns frames into bytes, compressing header blocks with this direction's context.
pub struct Encoder {
    deflate: Compress,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        let mut deflate = Compress::new(Compression::default(), true);
        deflate
            .set_dictionary(dictionary())
            .expect("a fresh deflate stream accepts a dictionary");
        Encoder { deflate }
    }

    /// Appends `frame`, encoded, to `out`.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> std::io::Result<()> {
        match frame {
            Frame::Data { stream_id, fin, data } => {
                if data.len() > MAX_FRAME_PAYLOAD {
                    return Err(too_long());
                }
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                push_flags_len(out, if *fin { FLAG_FIN } else { 0 }, data.len());
                out.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                slot,
                fin,
                unidirectional,
                headers,
            } => {
                let block = self.compress_headers(headers)?;
                let mut flags = if *fin { FLAG_FIN } else { 0 };
                if *unidirectional {
                    flags |= FLAG_UNIDIRECTIONAL;
                }
                let mut payload = Vec::with_capacity(10 + block.len());
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                payload.push((priority & 0x07) << 5);
                payload.push(*slot);
                payload.extend_from_slice(&block);
                push_control(out, kind::SYN_STREAM, flags, &payload)?;
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            }
            | Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                let block = self.compress_headers(headers)?;
                let mut payload = Vec::with_capacity(4 + block.len());
                payload.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                payload.extend_from_slice(&block);
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    kind::SYN_REPLY
                } else {
                    kind::HEADERS
                };
                push_control(out, kind, if *fin { FLAG_FIN } else { 0 }, &payload)?;
            }
            Frame::RstStream { stream_id, status } => {
                push_control(out, kind::RST_STREAM, 0, &words(&[stream_id & 0x7fff_ffff, *status]))?;
            }
            Frame::Settings { clear, entries } => {
                let mut payload = Vec::with_capacity(4 + 8 * entries.len());
                payload.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                for entry in entries {
                    payload.push(entry.flags);
                    payload.extend_from_slice(&entry.id.to_be_bytes()[1..]);
                    payload.extend_from_slice(&entry.value.to_be_bytes());
                }
                push_control(
                    out,
                    kind::SETTINGS,
                    if *clear { FLAG_SETTINGS_CLEAR } else { 0 },
                    &payload,
                )?;
            }
            Frame::Ping { id } => push_control(out, kind::PING, 0, &id.to_be_bytes())?,
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => push_control(
                out,
                kind::GOAWAY,
                0,
                &words(&[last_good_stream_id & 0x7fff_ffff, *status]),
            )?,
            Frame::WindowUpdate { stream_id, delta } => push_control(
                out,
                kind::WINDOW_UPDATE,
                0,
                &words(&[stream_id & 0x7fff_ffff, delta & 0x7fff_ffff]),
            )?,
            Frame::Unknown { kind, flags, payload } => push_control(out, *kind, *flags, payload)?,
        }
        Ok(())
    }

    /// Serialises and compresses one header block, ending on a sync flush.
    pub fn compress_headers(&mut self, headers: &Headers) -> std::io::Result<Vec<u8>> {
        let raw = serialize_headers(headers);
        let mut out = Vec::with_capacity(raw.len() / 2 + 64);
        let start = self.deflate.total_in();
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let consumed = (self.deflate.total_in() - start) as usize;
            self.deflate
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            let consumed = (self.deflate.total_in() - start) as usize;
            // The flush is complete once all input is in and deflate stopped short of
            // filling the space it had.
            if consumed == raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// Turns bytes into frames, inflating header blocks with this direction's context.
pub struct Decoder {
    inflate: Decompress,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            inflate: Decompress::new(true),
        }
    }

    /// Decodes the first frame in `buf`, returning it with the number of bytes it took,
    /// or `None` if `buf` does not yet hold a whole frame.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let flags = buf[4];
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            return Ok(None);
        }
        let payload = &buf[8..8 + len];
        let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let frame = if first & 0x8000_0000 == 0 {
            Frame::Data {
                stream_id: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload.to_vec(),
            }
        } else {
            let version = ((first >> 16) & 0x7fff) as u16;
            if version != VERSION {
                return Err(FrameError::Version(version));
            }
            self.decode_control((first & 0xffff) as u16, flags, payload)?
        };
        Ok(Some((frame, 8 + len)))
    }

    fn decode_control(&mut self, kind: u16, flags: u8, payload: &[u8]) -> Result<Frame, FrameError> {
        let fin = flags & FLAG_FIN != 0;
        Ok(match kind {
            kind::SYN_STREAM => {
                if payload.len() < 10 {
                    return Err(FrameError::Malformed("SYN_STREAM shorter than 10 bytes"));
                }
                Frame::SynStream {
                    stream_id: word(payload, 0) & 0x7fff_ffff,
                    associated_to: word(payload, 4) & 0x7fff_ffff,
                    priority: payload[8] >> 5,
                    slot: payload[9],
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.decompress_headers(&payload[10..])?,
                }
            }
            kind::SYN_REPLY | kind::HEADERS => {
                if payload.len() < 4 {
                    return Err(FrameError::Malformed("SYN_REPLY or HEADERS shorter than 4 bytes"));
                }
                let stream_id = word(payload, 0) & 0x7fff_ffff;
                let headers = self.decompress_headers(&payload[4..])?;
                if kind == kind::SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            kind::RST_STREAM => {
                if payload.len() != 8 {
                    return Err(FrameError::Malformed("RST_STREAM is not 8 bytes"));
                }
                Frame::RstStream {
                    stream_id: word(payload, 0) & 0x7fff_ffff,
                    status: word(payload, 4),
                }
            }
            kind::SETTINGS => {
                if payload.len() < 4 {
                    return Err(FrameError::Malformed("SETTINGS shorter than 4 bytes"));
                }
                let count = word(payload, 0) as usize;
                if payload.len() != 4 + count.saturating_mul(8) {
                    return Err(FrameError::Malformed("SETTINGS length does not match its count"));
                }
                let entries = (0..count)
                    .map(|i| {
                        let at = 4 + 8 * i;
                        Setting {
                            flags: payload[at],
                            id: word(payload, at) & 0x00ff_ffff,
                            value: word(payload, at + 4),
                        }
                    })
                    .collect();
                Frame::Settings {
                    clear: flags & FLAG_SETTINGS_CLEAR != 0,
                    entries,
                }
            }
            kind::PING => {
                if payload.len() != 4 {
                    return Err(FrameError::Malformed("PING is not 4 bytes"));
                }
                Frame::Ping { id: word(payload, 0) }
            }
            kind::GOAWAY => {
                // SPDY/3 added the status word; tolerate a SPDY/2-style 4-byte GOAWAY.
                if payload.len() != 8 && payload.len() != 4 {
                    return Err(FrameError::Malformed("GOAWAY is not 8 bytes"));
                }
                Frame::GoAway {
                    last_good_stream_id: word(payload, 0) & 0x7fff_ffff,
                    status: if payload.len() == 8 {
                        word(payload, 4)
                    } else {
                        goaway::OK
                    },
                }
            }
            kind::WINDOW_UPDATE => {
                if payload.len() != 8 {
                    return Err(FrameError::Malformed("WINDOW_UPDATE is not 8 bytes"));
                }
                Frame::WindowUpdate {
                    stream_id: word(payload, 0) & 0x7fff_ffff,
                    delta: word(payload, 4) & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown {
                kind: other,
                flags,
                payload: payload.to_vec(),
            },
        })
    }

    /// Inflates and parses one header block.
    pub fn decompress_headers(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let mut raw = Vec::with_capacity(block.len() * 4 + 256);
        let start = self.inflate.total_in();
        loop {
            if raw.capacity() - raw.len() < 256 {
                raw.reserve(raw.capacity().max(1024));
            }
            let consumed = (self.inflate.total_in() - start) as usize;
            let produced = raw.len();
            match self
                .inflate
                .decompress_vec(&block[consumed..], &mut raw, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(dictionary())
                        .map_err(|e| FrameError::Compression(format!("the peer's dictionary is not SPDY/3's: {e}")))?;
                    continue;
                }
                Err(e) => return Err(FrameError::Compression(e.to_string())),
            }
            if raw.len() > MAX_HEADER_BLOCK {
                return Err(FrameError::Malformed("header block inflates past 1 MiB"));
            }
            let consumed_now = (self.inflate.total_in() - start) as usize;
            if consumed_now == block.len() && raw.len() < raw.capacity() {
                break;
            }
            if consumed_now == consumed && raw.len() == produced && raw.len() < raw.capacity() {
                return Err(FrameError::Compression("inflate made no progress".into()));
            }
        }
        parse_headers(&raw)
    }
}

/// The uncompressed wire form of a header block. Names are lowercased; repeated names are
/// folded into one entry whose values are NUL-separated.
pub fn serialize_headers(headers: &Headers) -> Vec<u8> {
    let mut folded: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        match folded.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                joined.push('\0');
                joined.push_str(value);
            }
            None => folded.push((name, value.clone())),
        }
    }
    let mut raw = Vec::new();
    raw.extend_from_slice(&(folded.len() as u32).to_be_bytes());
    for (name, value) in &folded {
        raw.extend_from_slice(&(name.len() as u32).to_be_bytes());
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(&(value.len() as u32).to_be_bytes());
        raw.extend_from_slice(value.as_bytes());
    }
    raw
}

/// Parses an uncompressed header block.
pub fn parse_headers(raw: &[u8]) -> Result<Headers, FrameError> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], FrameError> {
        let end = at.checked_add(n).filter(|end| *end <= raw.len());
        let end = end.ok_or(FrameError::Malformed("header block ends early"))?;
        let bytes = &raw[at..end];
        at = end;
        Ok(bytes)
    };
    let count = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
    let mut headers = Headers::new();
    for _ in 0..count {
        let len = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let name = String::from_utf8_lossy(take(len)?).to_ascii_lowercase();
        let len = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let value = String::from_utf8_lossy(take(len)?).into_owned();
        for part in value.split('\0') {
            headers.push((name.clone(), part.to_string()));
        }
    }
    Ok(headers)
}

/// The first value of header `name` (matched without regard to case).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn push_flags_len(out: &mut Vec<u8>, flags: u8, len: usize) {
    let len = len as u32;
    out.push(flags);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
}

fn push_control(out: &mut Vec<u8>, kind: u16, flags: u8, payload: &[u8]) -> std::io::Result<()> {
    if payload.len() > MAX_FRAME_PAYLOAD {
        return Err(too_long());
    }
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    push_flags_len(out, flags, payload.len());
    out.extend_from_slice(payload);
    Ok(())
}

fn too_long() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "SPDY frame payload longer than 2^24-1 bytes",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn round_trip(frames: &[Frame]) {
        let mut enc = Encoder::new();
        let mut dec = Decoder::new();
        let mut wire = Vec::new();
        for frame in frames {
            enc.encode(frame, &mut wire).unwrap();
        }
        let mut at = 0;
        for frame in frames {
            let (got, used) = dec.decode(&wire[at..]).unwrap().expect("a whole frame");
            assert_eq!(&got, frame);
            at += used;
        }
        assert_eq!(at, wire.len());
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        let dict = dictionary();
        // The length kore and others hard-code, its start and end, and its Adler-32 (the
        // id zlib puts in every stream primed with it, which a peer checks).
        assert_eq!(dict.len(), 1423);
        assert_eq!(&dict[..11], b"\0\0\0\x07options");
        assert!(dict.ends_with(b"charset=iso-8859-1,utf-,*,enq=0."));
        let mut z = Compress::new(Compression::default(), true);
        assert_eq!(z.set_dictionary(dict).unwrap(), DICTIONARY_ADLER32);
    }

    /// Adler-32 of the SPDY/3 dictionary, as kubectl's Go zlib computes it (pinned after a
    /// session with kubectl succeeded; Go's zlib refuses a stream naming any other id).
    const DICTIONARY_ADLER32: u32 = 0xe3c6_a7c2;

    #[test]
    fn control_frames_round_trip() {
        round_trip(&[
            Frame::RstStream {
                stream_id: 7,
                status: rst::CANCEL,
            },
            Frame::Settings {
                clear: true,
                entries: vec![
                    Setting {
                        flags: 1,
                        id: setting::INITIAL_WINDOW_SIZE,
                        value: 1 << 20,
                    },
                    Setting {
                        flags: 0,
                        id: setting::MAX_CONCURRENT_STREAMS,
                        value: 100,
                    },
                ],
            },
            Frame::Ping { id: 0x7fff_fffe },
            Frame::GoAway {
                last_good_stream_id: 41,
                status: goaway::PROTOCOL_ERROR,
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 0x7fff_ffff,
            },
            Frame::Unknown {
                kind: 10,
                flags: 0,
                payload: vec![1, 2, 3],
            },
        ]);
    }

    #[test]
    fn data_frames_round_trip() {
        round_trip(&[
            Frame::Data {
                stream_id: 1,
                fin: false,
                data: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            },
            Frame::Data {
                stream_id: 0x7fff_ffff,
                fin: true,
                data: Vec::new(),
            },
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: vec![0xa5; 100_000],
            },
        ]);
    }

    #[test]
    fn header_frames_round_trip_through_one_compression_context() {
        let kubectl_error = h(&[("streamtype", "error"), ("port", "3000"), ("requestid", "0")]);
        let kubectl_data = h(&[("streamtype", "data"), ("port", "3000"), ("requestid", "0")]);
        round_trip(&[
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                slot: 0,
                fin: false,
                unidirectional: false,
                headers: kubectl_error,
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: Headers::new(),
            },
            Frame::SynStream {
                stream_id: 3,
                associated_to: 1,
                priority: 7,
                slot: 2,
                fin: true,
                unidirectional: true,
                headers: kubectl_data,
            },
            Frame::Headers {
                stream_id: 3,
                fin: true,
                headers: h(&[("x-multi", "a"), ("x-multi", "b"), ("other", "")]),
            },
        ]);
    }

    #[test]
    fn header_blocks_use_the_dictionary_and_share_context() {
        let headers = h(&[("content-type", "text/plain"), ("accept-encoding", "gzip,deflate")]);
        let mut enc = Encoder::new();
        let first = enc.compress_headers(&headers).unwrap();
        // zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(first[0] & 0x0f, 8, "deflate method");
        assert_ne!(first[1] & 0x20, 0, "FDICT flag");
        assert_eq!(u32::from_be_bytes(first[2..6].try_into().unwrap()), DICTIONARY_ADLER32);
        // The same block again compresses to a back-reference: much shorter, no zlib header.
        let second = enc.compress_headers(&headers).unwrap();
        assert!(second.len() < first.len() / 2, "{} vs {}", second.len(), first.len());

        let mut dec = Decoder::new();
        assert_eq!(dec.decompress_headers(&first).unwrap(), headers);
        assert_eq!(dec.decompress_headers(&second).unwrap(), headers);
        // A second decoder cannot start mid-stream.
        assert!(Decoder::new().decompress_headers(&second).is_err());
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut wire = Vec::new();
        Encoder::new().encode(&Frame::Ping { id: 1 }, &mut wire).unwrap();
        let mut dec = Decoder::new();
        for cut in 0..wire.len() {
            assert_eq!(dec.decode(&wire[..cut]).unwrap(), None);
        }
        assert_eq!(dec.decode(&wire).unwrap(), Some((Frame::Ping { id: 1 }, 12)));
        assert_eq!(wire, [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut dec = Decoder::new();
        // Version 2.
        assert_eq!(
            dec.decode(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]),
            Err(FrameError::Version(2))
        );
        // A 5-byte PING.
        assert!(matches!(
            dec.decode(&[0x80, 3, 0, 6, 0, 0, 0, 5, 0, 0, 0, 1, 9]),
            Err(FrameError::Malformed(_))
        ));
        // A SYN_STREAM whose header block is not zlib.
        let mut syn = vec![0x80, 3, 0, 1, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        syn.extend_from_slice(&[1, 2, 3, 4]);
        assert!(matches!(dec.decode(&syn), Err(FrameError::Compression(_))));
    }
}
