//! An authoritative DNS server inside the process, for `cutover demo` and tests: one zone, served
//! on loopback by a primary and any number of secondaries, over UDP and TCP.
//!
//! It behaves where the product depends on it the way BIND does: authoritative answers (AA, no
//! recursion), NXDOMAIN versus NODATA with the SOA in the authority section, RFC 2136 UPDATEs
//! that must be TSIG-signed (HMAC-SHA256) with the configured key, prerequisites checked before
//! anything changes, every update of a message applied together or not at all, the SOA serial
//! bumped on every change, and TSIG-signed responses to signed requests (BADKEY / BADSIG /
//! BADTIME as NOTAUTH). Secondaries take the primary's zone `transfer_delay` after each change,
//! standing in for NOTIFY + IXFR, so a verify step sees a secondary lag and then agree.
//!
//! Everything runs as tokio tasks of the runtime that called [`SandboxDns::start`]; dropping the
//! [`SandboxDns`] stops them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordData, RecordType, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The TTL of the records the server makes itself (SOA, and NS + glue when none are given).
const MADE_TTL: u32 = 60;
/// A TCP client that sends nothing for this long is dropped, like BIND's `tcp-idle-timeout`.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// The UDP payload a client without EDNS can take.
const CLASSIC_UDP: usize = 512;
/// How many times `start` looks for a port free for both UDP and TCP.
const BIND_TRIES: usize = 20;

/// One record of the zone as it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    /// The owner, a name in the zone (a trailing dot is added when missing).
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `NS` or `TXT`.
    pub rtype: String,
    pub ttl: u32,
    /// An address, a name (CNAME, NS), or the text (TXT).
    pub value: String,
}

impl ZoneRecord {
    pub fn new(name: &str, rtype: &str, ttl: u32, value: &str) -> Self {
        Self {
            name: name.to_string(),
            rtype: rtype.to_string(),
            ttl,
            value: value.to_string(),
        }
    }
}

/// What to serve, and how.
#[derive(Debug, Clone)]
pub struct DnsSandboxConfig {
    /// The zone's apex, e.g. `shop.demo.`.
    pub zone: String,
    /// The TSIG key updates must be signed with, e.g. `cutover-demo.`.
    pub tsig_key_name: String,
    /// The raw HMAC-SHA256 key bytes (what `nsupdate -y` takes base64-encoded).
    pub tsig_secret: Vec<u8>,
    /// The zone's records. The server makes the SOA; when no NS records are given at the apex,
    /// it makes `ns1.ZONE`, `ns2.ZONE`, ... (one per server) with address 127.0.0.1.
    pub records: Vec<ZoneRecord>,
    /// How many authoritative servers: the primary, then secondaries. At least one.
    pub servers: usize,
    /// How long after a change the secondaries serve it (NOTIFY + IXFR lag).
    pub transfer_delay: Duration,
}

/// The running servers. Dropping it stops them.
pub struct SandboxDns {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
}

/// What the server tasks share. Zones are replaced whole (copy on write), so a query never sees
/// half an update.
struct Shared {
    key: TSigner,
    /// What each server serves now: `[0]` is the primary, where updates land.
    zones: Vec<Mutex<Arc<Zone>>>,
    serial: watch::Sender<u32>,
    log: Mutex<Vec<String>>,
    transfer_delay: Duration,
    cancel: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the demo's DNS down with it: the data is replaced whole.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message)
}

impl SandboxDns {
    /// Binds 127.0.0.1:<free port> for UDP and TCP (the same port) per server and spawns the
    /// server tasks on the current tokio runtime.
    pub async fn start(config: DnsSandboxConfig) -> std::io::Result<SandboxDns> {
        if config.servers == 0 {
            return Err(invalid("the DNS sandbox needs at least one server".to_string()));
        }
        let zone = Zone::from_config(&config)?;
        let key_name = Name::from_ascii(fqdn(&config.tsig_key_name))
            .map_err(|e| invalid(format!("TSIG key name `{}`: {e}", config.tsig_key_name)))?;
        let key = TSigner::new(config.tsig_secret.clone(), TsigAlgorithm::HmacSha256, key_name, 300)
            .map_err(|e| invalid(format!("TSIG key `{}` cannot sign: {e}", config.tsig_key_name)))?;
        let zone = Arc::new(zone);
        let (serial, _) = watch::channel(zone.serial());
        let shared = Arc::new(Shared {
            key,
            zones: (0..config.servers).map(|_| Mutex::new(zone.clone())).collect(),
            serial,
            log: Mutex::new(Vec::new()),
            transfer_delay: config.transfer_delay,
            cancel: CancellationToken::new(),
        });
        let mut addrs = Vec::new();
        for index in 0..config.servers {
            let (udp, tcp) = match bind_pair().await {
                Ok(pair) => pair,
                Err(e) => {
                    shared.cancel.cancel();
                    return Err(e);
                }
            };
            addrs.push(udp.local_addr()?);
            tokio::spawn(serve_udp(shared.clone(), index, udp));
            tokio::spawn(serve_tcp(shared.clone(), index, tcp));
        }
        Ok(SandboxDns { shared, addrs })
    }

    /// Where the servers listen, UDP and TCP: the primary first, then the secondaries.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// What the primary serves now for `name` and `rtype`: the TTL and the values, sorted
    /// (addresses as text, names with a trailing dot). `None` when there is no such record set.
    pub fn lookup(&self, name: &str, rtype: &str) -> Option<(u32, Vec<String>)> {
        self.lookup_at(0, name, rtype)
    }

    /// The same as [`lookup`](Self::lookup), at server `index` (0 is the primary).
    pub fn lookup_at(&self, index: usize, name: &str, rtype: &str) -> Option<(u32, Vec<String>)> {
        let rtype = RecordType::from_str(&rtype.to_ascii_uppercase()).ok()?;
        let name = Name::from_ascii(fqdn(name)).ok()?;
        let zone = lock(self.shared.zones.get(index)?).clone();
        let set = zone.get(&name, rtype)?;
        let mut values: Vec<String> = set.data.iter().map(value_text).collect();
        values.sort();
        Some((set.ttl, values))
    }

    /// The primary's SOA serial, bumped on every update that changed the zone.
    pub fn changes(&self) -> watch::Receiver<u32> {
        self.shared.serial.subscribe()
    }

    /// Every update received, accepted or refused, one line each, oldest first.
    pub fn updates(&self) -> Vec<String> {
        lock(&self.shared.log).clone()
    }
}

impl Drop for SandboxDns {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
async fn bind_pair() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..BIND_TRIES {
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = udp.local_addr()?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "no loopback port was free for both UDP and TCP in {BIND_TRIES} tries (last: {})",
            last.map_or_else(String::new, |e| e.to_string())
        ),
    ))
}

async fn serve_udp(shared: Arc<Shared>, index: usize, socket: UdpSocket) {
    let mut buf = vec![0u8; 65535];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = shared.cancel.cancelled() => return,
        };
        let Ok((len, peer)) = received else {
            continue;
        };
        if let Some(reply) = handle(&shared, index, &buf[..len], peer, Some(CLASSIC_UDP)) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(shared: Arc<Shared>, index: usize, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shared.cancel.cancelled() => return,
        };
        if let Ok((stream, peer)) = accepted {
            tokio::spawn(serve_connection(shared.clone(), index, stream, peer));
        }
    }
}

/// One TCP connection: messages framed by a two-byte length, answered in order.
async fn serve_connection(shared: Arc<Shared>, index: usize, mut stream: TcpStream, peer: SocketAddr) {
    loop {
        let read = async {
            let len = stream.read_u16().await?;
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let request = tokio::select! {
            r = tokio::time::timeout(TCP_IDLE, read) => match r {
                Ok(Ok(buf)) => buf,
                _ => return,
            },
            () = shared.cancel.cancelled() => return,
        };
        let Some(reply) = handle(&shared, index, &request, peer, None) else {
            continue;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How a response is to be signed.
enum Signing {
    /// The request was not signed: neither is the response.
    None,
    /// Signed with the key, covering the request's MAC (RFC 8945 §5.3), with this TSIG error.
    Signed {
        request_mac: Vec<u8>,
        time: u64,
        error: Option<TsigError>,
    },
    /// An unsigned TSIG record carrying the error (BADKEY, BADSIG: the server cannot sign).
    Unsigned {
        key_name: Name,
        algorithm: TsigAlgorithm,
        error: TsigError,
    },
}

/// Answers one DNS message received on server `index`. `None`: nothing to send back.
fn handle(shared: &Arc<Shared>, index: usize, bytes: &[u8], peer: SocketAddr, udp: Option<usize>) -> Option<Vec<u8>> {
    let request = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(_) => return form_error(bytes),
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        response.edns = Some(edns);
    }
    let is_update = request.metadata.op_code == OpCode::Update;

    let signing = match authenticate(&shared.key, &request, bytes) {
        Ok(s) => s,
        Err(rejected) => {
            let (signing, why) = *rejected;
            if is_update {
                shared.record(format!("refused update from {peer}: NOTAUTH ({why})"));
            }
            response.metadata.response_code = ResponseCode::NotAuth;
            return encode(response, signing, &shared.key, request_limit(&request, udp));
        }
    };
    let signed = !matches!(signing, Signing::None);
    match request.metadata.op_code {
        OpCode::Query => {
            let zone = lock(&shared.zones[index]).clone();
            answer(&zone, &request, &mut response);
        }
        OpCode::Update => {
            response.metadata.response_code = shared.update(index, &request, peer, signed);
        }
        _ => response.metadata.response_code = ResponseCode::NotImp,
    }
    encode(response, signing, &shared.key, request_limit(&request, udp))
}

/// The largest UDP response the client takes; `None` over TCP.
fn request_limit(request: &Message, udp: Option<usize>) -> Option<usize> {
    udp.map(|classic| {
        request
            .edns
            .as_ref()
            .map_or(classic, |e| usize::from(e.max_payload()).max(classic))
    })
}

/// FORMERR for a message that does not parse, when at least its header does.
fn form_error(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 12 || bytes[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([bytes[0], bytes[1]]);
    let op_code = OpCode::from_u8((bytes[2] >> 3) & 0x0f);
    Message::error_msg(id, op_code, ResponseCode::FormErr).to_vec().ok()
}

/// Checks the request's TSIG, if it has one (RFC 8945 §5.2): the key, then the MAC, then the
/// time. The error carries how the NOTAUTH response is to be signed, and why, for the log.
fn authenticate(key: &TSigner, request: &Message, bytes: &[u8]) -> Result<Signing, Box<(Signing, String)>> {
    let Some(record) = request.signature() else {
        return Ok(Signing::None);
    };
    let tsig = &record.data;
    if record.name != *key.signer_name() || tsig.algorithm != *key.algorithm() {
        return Err(Box::new((
            Signing::Unsigned {
                key_name: record.name.clone(),
                algorithm: tsig.algorithm.clone(),
                error: TsigError::BadKey,
            },
            format!("BADKEY: unknown key {} ({})", record.name, tsig.algorithm),
        )));
    }
    if key.verify_message_byte(bytes, None, true).is_err() {
        return Err(Box::new((
            Signing::Unsigned {
                key_name: record.name.clone(),
                algorithm: tsig.algorithm.clone(),
                error: TsigError::BadSig,
            },
            format!("BADSIG: the MAC does not verify with key {}", record.name),
        )));
    }
    let now = now_secs();
    if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
        return Err(Box::new((
            Signing::Signed {
                request_mac: tsig.mac.clone(),
                time: tsig.time,
                error: Some(TsigError::BadTime),
            },
            format!(
                "BADTIME: signed at {}, {}s from this server's clock (fudge {}s)",
                tsig.time,
                now.abs_diff(tsig.time),
                tsig.fudge
            ),
        )));
    }
    Ok(Signing::Signed {
        request_mac: tsig.mac.clone(),
        time: now,
        error: None,
    })
}

/// Serializes the response, signed as `signing` says, truncated (TC) when it does not fit `limit`.
fn encode(mut response: Message, signing: Signing, key: &TSigner, limit: Option<usize>) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if limit.is_some_and(|l| bytes.len() > l) {
        response.answers.clear();
        response.authorities.clear();
        response.additionals.clear();
        response.metadata.truncation = true;
        return encode(response, signing, key, None);
    }
    let tsig = match signing {
        Signing::None => return Some(bytes),
        Signing::Signed {
            request_mac,
            time,
            error,
        } => {
            // BADTIME carries the server's clock in Other Data (48 bits), so the client can see the skew.
            let other = if error == Some(TsigError::BadTime) {
                now_secs().to_be_bytes()[2..].to_vec()
            } else {
                Vec::new()
            };
            let stub = TSIG::new(
                key.algorithm().clone(),
                time,
                key.fudge(),
                Vec::new(),
                response.metadata.id,
                error,
                other,
            );
            let tbs = key.encode_response_tbs(&request_mac, &bytes, &stub).ok()?;
            let mac = key.sign(&tbs).ok()?;
            tsig_record(key.signer_name().clone(), stub.set_mac(mac))
        }
        Signing::Unsigned {
            key_name,
            algorithm,
            error,
        } => tsig_record(
            key_name,
            TSIG::new(
                algorithm,
                now_secs(),
                300,
                Vec::new(),
                response.metadata.id,
                Some(error),
                Vec::new(),
            ),
        ),
    };
    response.signature = Some(Box::new(tsig));
    response.to_vec().ok()
}

fn tsig_record(name: Name, tsig: TSIG) -> Record<TSIG> {
    let mut record = Record::from_rdata(name, 0, tsig);
    record.dns_class = DNSClass::ANY;
    record
}

/// A query: the answer from the zone, following CNAMEs inside it, like an authoritative BIND
/// with `minimal-responses yes`.
fn answer(zone: &Zone, request: &Message, response: &mut Message) {
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return;
    };
    let qtype = query.query_type();
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) || !zone.contains(query.name()) {
        response.metadata.response_code = ResponseCode::Refused;
        return;
    }
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        // Zone transfers are simulated inside the process; nobody else gets one, as with
        // BIND's `allow-transfer { none; }`.
        response.metadata.response_code = ResponseCode::Refused;
        return;
    }
    response.metadata.authoritative = true;
    let mut name = query.name().clone();
    for _ in 0..8 {
        if !zone.contains(&name) {
            // A CNAME out of the zone: the client follows it elsewhere.
            return;
        }
        if qtype == RecordType::ANY {
            let sets = zone.sets_at(&name);
            if !sets.is_empty() {
                for set in sets {
                    response.answers.extend(set.records());
                }
                return;
            }
        } else if let Some(set) = zone.get(&name, qtype) {
            response.answers.extend(set.records());
            return;
        } else if let Some(cname) = zone.get(&name, RecordType::CNAME) {
            response.answers.extend(cname.records());
            match cname.data.first() {
                Some(RData::CNAME(target)) => {
                    name = target.0.clone();
                    continue;
                }
                _ => return,
            }
        }
        // Nothing of that type here: NODATA when the name exists (or has names below it),
        // else NXDOMAIN; both with the SOA for negative caching (RFC 2308).
        if !zone.node_exists(&name) {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        response.authorities.push(zone.negative_soa());
        return;
    }
}

impl Shared {
    fn record(&self, line: String) {
        tracing::debug!(target: "cutover::sandbox::dns", "{line}");
        lock(&self.log).push(line);
    }

    /// An RFC 2136 UPDATE received by server `index`: the response code.
    fn update(self: &Arc<Self>, index: usize, request: &Message, peer: SocketAddr, signed: bool) -> ResponseCode {
        let refuse = |code: ResponseCode, why: String| {
            self.record(format!("refused update from {peer}: {} ({why})", rcode_name(code)));
            code
        };
        if index != 0 {
            // BIND's default on a secondary: no `allow-update-forwarding`.
            return refuse(
                ResponseCode::Refused,
                "this is a secondary; send updates to the primary".to_string(),
            );
        }
        if !signed {
            return refuse(
                ResponseCode::Refused,
                "unsigned; updates must be TSIG-signed".to_string(),
            );
        }
        let mut primary = lock(&self.zones[0]);
        let [zone_query] = request.queries.as_slice() else {
            return refuse(
                ResponseCode::FormErr,
                format!("the zone section holds {} entries, not 1", request.queries.len()),
            );
        };
        if zone_query.query_type() != RecordType::SOA || zone_query.query_class() != DNSClass::IN {
            return refuse(
                ResponseCode::FormErr,
                format!(
                    "the zone section asks {} {}, not IN SOA",
                    zone_query.query_class(),
                    zone_query.query_type()
                ),
            );
        }
        if *zone_query.name() != primary.origin {
            return refuse(
                ResponseCode::NotAuth,
                format!("not authoritative for {}", zone_query.name()),
            );
        }
        let before = primary.serial();
        match primary.apply(&request.answers, &request.authorities) {
            Err((code, why)) => refuse(code, why),
            Ok((zone, summary)) => {
                let after = zone.serial();
                if after == before {
                    self.record(format!(
                        "accepted update from {peer}, nothing changed (serial {before}): {summary}"
                    ));
                } else {
                    self.record(format!(
                        "accepted update from {peer}, serial {before} -> {after}: {summary}"
                    ));
                    let zone = Arc::new(zone);
                    *primary = zone.clone();
                    drop(primary);
                    self.serial.send_replace(after);
                    self.transfer(zone);
                }
                ResponseCode::NoError
            }
        }
    }

    /// The secondaries take `zone` after the transfer delay (in order: every change waits as long).
    fn transfer(self: &Arc<Self>, zone: Arc<Zone>) {
        for index in 1..self.zones.len() {
            if self.transfer_delay.is_zero() {
                self.install(index, zone.clone());
                continue;
            }
            let shared = self.clone();
            let zone = zone.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(shared.transfer_delay) => shared.install(index, zone),
                    () = shared.cancel.cancelled() => {}
                }
            });
        }
    }

    fn install(&self, index: usize, zone: Arc<Zone>) {
        let mut current = lock(&self.zones[index]);
        if serial_newer(zone.serial(), current.serial()) {
            *current = zone;
        }
    }
}

/// RFC 1982 serial arithmetic: `a` is newer than `b`.
fn serial_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// `NXRRSET`, as dig prints it.
fn rcode_name(code: ResponseCode) -> String {
    format!("{code:?}").to_ascii_uppercase()
}

/// A name as written in a zone: lower case, ending in a dot.
fn fqdn(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    if name.ends_with('.') { name } else { name + "." }
}

/// Types that are never data: questions and meta types (RFC 6895 §3.1: 128–255), and OPT.
fn is_meta(t: RecordType) -> bool {
    (128..=255).contains(&u16::from(t)) || t == RecordType::OPT
}

/// One record set: its owner (as first written), TTL and values.
#[derive(Debug, Clone, PartialEq)]
struct RrSet {
    owner: Name,
    rtype: RecordType,
    ttl: u32,
    data: Vec<RData>,
}

impl RrSet {
    fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.data
            .iter()
            .map(|d| Record::from_rdata(self.owner.clone(), self.ttl, d.clone()))
    }

    fn same_values(&self, other: &[RData]) -> bool {
        self.data.iter().all(|d| other.contains(d)) && other.iter().all(|d| self.data.contains(d))
    }
}

/// The zone's data. Keys are the owner in lower case and the type's number.
#[derive(Debug, Clone, PartialEq)]
struct Zone {
    origin: Name,
    sets: BTreeMap<(String, u16), RrSet>,
}

fn key(name: &Name, rtype: RecordType) -> (String, u16) {
    (name.to_lowercase().to_ascii(), u16::from(rtype))
}

/// A value in the form dig's `+short` prints it (a TXT record's strings joined, an SOA as
/// its primary and serial).
fn value_text(data: &RData) -> String {
    match data {
        RData::CNAME(target) => target.0.to_ascii(),
        RData::NS(server) => server.0.to_ascii(),
        RData::TXT(text) => text.txt_data.iter().map(|s| String::from_utf8_lossy(s)).collect(),
        RData::SOA(soa) => format!("{} {}", soa.mname.to_ascii(), soa.serial),
        other => other.to_string(),
    }
}

/// The record data for a configured record, or what is wrong with it.
fn parse_rdata(rtype: &str, value: &str) -> Result<RData, String> {
    let value = value.trim();
    let wrong = |e: &dyn std::fmt::Display| format!("`{value}` is no {rtype} record's value: {e}");
    let name = || Name::from_ascii(fqdn(value)).map_err(|e| wrong(&e));
    Ok(match rtype {
        "A" => RData::A(A(value.parse().map_err(|e| wrong(&e))?)),
        "AAAA" => RData::AAAA(AAAA(value.parse().map_err(|e| wrong(&e))?)),
        "CNAME" => RData::CNAME(CNAME(name()?)),
        "NS" => RData::NS(NS(name()?)),
        // A character string holds at most 255 bytes: longer text (a DKIM key) is split, as
        // zone files do.
        "TXT" => RData::TXT(TXT::from_bytes(value.as_bytes().chunks(255).collect())),
        other => {
            return Err(format!(
                "the sandbox serves A, AAAA, CNAME, NS and TXT records, not {other}"
            ));
        }
    })
}

impl Zone {
    fn from_config(config: &DnsSandboxConfig) -> std::io::Result<Zone> {
        let origin = Name::from_ascii(fqdn(&config.zone))
            .map_err(|e| invalid(format!("zone `{}` is not a DNS name: {e}", config.zone)))?;
        let mut zone = Zone {
            origin: origin.clone(),
            sets: BTreeMap::new(),
        };
        for r in &config.records {
            let rtype = r.rtype.to_ascii_uppercase();
            let where_ = format!("record `{} {} {}`", r.name, r.rtype, r.value);
            let owner = Name::from_ascii(fqdn(&r.name))
                .map_err(|e| invalid(format!("{where_}: `{}` is not a DNS name: {e}", r.name)))?;
            if !zone.contains(&owner) {
                return Err(invalid(format!("{where_}: {owner} is not in zone {origin}")));
            }
            let data = parse_rdata(&rtype, &r.value).map_err(|e| invalid(format!("{where_}: {e}")))?;
            let rtype = data.record_type();
            let clash = if rtype == RecordType::CNAME {
                zone.sets_at(&owner).iter().any(|s| s.rtype != RecordType::CNAME)
            } else {
                zone.get(&owner, RecordType::CNAME).is_some()
            };
            if clash || (rtype == RecordType::CNAME && owner == origin) {
                return Err(invalid(format!(
                    "{where_}: a CNAME cannot share its name with other records (or sit at the apex)"
                )));
            }
            // A set has one TTL: the first record's, as BIND keeps when loading a zone file.
            let set = zone.sets.entry(key(&owner, rtype)).or_insert_with(|| RrSet {
                owner,
                rtype,
                ttl: r.ttl,
                data: Vec::new(),
            });
            if rtype == RecordType::CNAME && !set.data.is_empty() {
                return Err(invalid(format!("{where_}: a name holds one CNAME only")));
            }
            if !set.data.contains(&data) {
                set.data.push(data);
            }
        }
        if zone.get(&origin, RecordType::NS).is_none() {
            for i in 1..=config.servers {
                let host = Name::from_ascii(format!("ns{i}.{}", origin.to_ascii()))
                    .map_err(|e| invalid(format!("nameserver name under {origin}: {e}")))?;
                zone.add(&origin, MADE_TTL, RData::NS(NS(host.clone())));
                if zone.sets_at(&host).is_empty() {
                    zone.add(&host, MADE_TTL, RData::A(A::new(127, 0, 0, 1)));
                }
            }
        }
        let mname = match zone.get(&origin, RecordType::NS).and_then(|s| s.data.first()) {
            Some(RData::NS(ns)) => ns.0.clone(),
            _ => origin.clone(),
        };
        let rname = Name::from_ascii(format!("hostmaster.{}", origin.to_ascii()))
            .map_err(|e| invalid(format!("hostmaster name under {origin}: {e}")))?;
        let soa = SOA::new(mname, rname, 1, 60, 60, 3600, MADE_TTL);
        zone.sets.insert(
            key(&origin, RecordType::SOA),
            RrSet {
                owner: origin.clone(),
                rtype: RecordType::SOA,
                ttl: MADE_TTL,
                data: vec![RData::SOA(soa)],
            },
        );
        Ok(zone)
    }

    fn contains(&self, name: &Name) -> bool {
        name.is_fqdn() && self.origin.zone_of(name)
    }

    fn get(&self, name: &Name, rtype: RecordType) -> Option<&RrSet> {
        self.sets.get(&key(name, rtype))
    }

    fn sets_at(&self, name: &Name) -> Vec<&RrSet> {
        let owner = name.to_lowercase().to_ascii();
        self.sets
            .range((owner.clone(), 0)..=(owner, u16::MAX))
            .map(|(_, s)| s)
            .collect()
    }

    /// RFC 2136 "name is in use": it owns at least one record.
    fn in_use(&self, name: &Name) -> bool {
        !self.sets_at(name).is_empty()
    }

    /// The name exists in the DNS tree: it owns records, or names below it do (an empty
    /// non-terminal answers NODATA, not NXDOMAIN).
    fn node_exists(&self, name: &Name) -> bool {
        if self.in_use(name) {
            return true;
        }
        let suffix = format!(".{}", name.to_lowercase().to_ascii());
        self.sets.keys().any(|(owner, _)| owner.ends_with(&suffix))
    }

    fn soa(&self) -> &SOA {
        match self.get(&self.origin, RecordType::SOA).and_then(|s| s.data.first()) {
            Some(RData::SOA(soa)) => soa,
            _ => unreachable!("the zone always holds its SOA"),
        }
    }

    fn serial(&self) -> u32 {
        self.soa().serial
    }

    /// The SOA for a negative answer, its TTL the smaller of its own and its MINIMUM (RFC 2308 §3).
    fn negative_soa(&self) -> Record {
        let set = &self.sets[&key(&self.origin, RecordType::SOA)];
        let soa = self.soa();
        Record::from_rdata(self.origin.clone(), set.ttl.min(soa.minimum), RData::SOA(soa.clone()))
    }

    /// Adds one record; the set takes the new TTL (BIND adjusts the whole set to it).
    fn add(&mut self, name: &Name, ttl: u32, data: RData) {
        let rtype = data.record_type();
        let set = self.sets.entry(key(name, rtype)).or_insert_with(|| RrSet {
            owner: name.clone(),
            rtype,
            ttl,
            data: Vec::new(),
        });
        set.ttl = ttl;
        if !set.data.contains(&data) {
            set.data.push(data);
        }
    }

    /// Applies an UPDATE's prerequisite and update sections (RFC 2136 §3.2, §3.4) to a copy of
    /// the zone. Either every update applies, or none does and the error says why.
    fn apply(&self, prerequisites: &[Record], updates: &[Record]) -> Result<(Zone, String), (ResponseCode, String)> {
        self.check_prerequisites(prerequisites)?;
        self.prescan(updates)?;
        let mut zone = self.clone();
        let mut serial_set = false;
        let mut summary = Vec::new();
        for rr in updates {
            let name = &rr.name;
            let rtype = rr.record_type();
            let apex = *name == self.origin;
            match rr.dns_class {
                DNSClass::IN => {
                    summary.push(format!("add {name} {} {rtype} {}", rr.ttl, value_text(&rr.data)));
                    if let RData::SOA(soa) = &rr.data {
                        // RFC 2136 §3.4.2.2: only at the apex, and only a newer serial.
                        if apex && serial_newer(soa.serial, zone.serial()) {
                            let set = zone.sets.get_mut(&key(name, RecordType::SOA)).expect("the SOA");
                            set.data = vec![rr.data.clone()];
                            set.ttl = rr.ttl;
                            serial_set = true;
                        }
                        continue;
                    }
                    let has_cname = zone.get(name, RecordType::CNAME).is_some();
                    if rtype == RecordType::CNAME {
                        // A CNAME replaces a CNAME, and is ignored beside other data (§3.4.2.2).
                        if zone.sets_at(name).iter().any(|s| s.rtype != RecordType::CNAME) {
                            continue;
                        }
                        zone.sets.remove(&key(name, RecordType::CNAME));
                    } else if has_cname {
                        continue;
                    }
                    zone.add(name, rr.ttl, rr.data.clone());
                }
                DNSClass::ANY if rtype == RecordType::ANY => {
                    summary.push(format!("delete {name}"));
                    let keep = |t: RecordType| apex && matches!(t, RecordType::SOA | RecordType::NS);
                    let owner = name.to_lowercase().to_ascii();
                    zone.sets.retain(|(o, _), s| *o != owner || keep(s.rtype));
                }
                DNSClass::ANY => {
                    summary.push(format!("delete {name} {rtype}"));
                    if !(apex && matches!(rtype, RecordType::SOA | RecordType::NS)) {
                        zone.sets.remove(&key(name, rtype));
                    }
                }
                _ => {
                    // Class NONE: delete one record.
                    summary.push(format!("delete {name} {rtype} {}", value_text(&rr.data)));
                    if rtype == RecordType::SOA {
                        continue;
                    }
                    let k = key(name, rtype);
                    if let Some(set) = zone.sets.get_mut(&k) {
                        if apex && rtype == RecordType::NS && set.data.len() == 1 {
                            continue;
                        }
                        set.data.retain(|d| *d != rr.data);
                        if set.data.is_empty() {
                            zone.sets.remove(&k);
                        }
                    }
                }
            }
        }
        if zone != *self && !serial_set {
            let next = match self.serial().wrapping_add(1) {
                0 => 1,
                n => n,
            };
            let set = zone.sets.get_mut(&key(&self.origin, RecordType::SOA)).expect("the SOA");
            if let Some(RData::SOA(soa)) = set.data.first_mut() {
                soa.serial = next;
            }
        }
        Ok((zone, summary.join("; ")))
    }

    /// RFC 2136 §3.2: every prerequisite must hold, else nothing changes.
    fn check_prerequisites(&self, prerequisites: &[Record]) -> Result<(), (ResponseCode, String)> {
        let form = |why: String| (ResponseCode::FormErr, why);
        // Value-dependent prerequisites, gathered per set, then compared as whole sets.
        let mut wanted: BTreeMap<(String, u16), (Name, RecordType, Vec<RData>)> = BTreeMap::new();
        for rr in prerequisites {
            let name = &rr.name;
            let rtype = rr.record_type();
            let empty = rr.data.is_update();
            if rr.ttl != 0 {
                return Err(form(format!("prerequisite {name} {rtype} has TTL {}, not 0", rr.ttl)));
            }
            if !self.contains(name) {
                return Err((
                    ResponseCode::NotZone,
                    format!("prerequisite {name} is not in zone {}", self.origin),
                ));
            }
            match rr.dns_class {
                DNSClass::ANY if !empty => {
                    return Err(form(format!("prerequisite {name} {rtype} (class ANY) has data")));
                }
                DNSClass::ANY if rtype == RecordType::ANY => {
                    if !self.in_use(name) {
                        return Err((ResponseCode::NXDomain, format!("{name} is not in use")));
                    }
                }
                DNSClass::ANY => {
                    if self.get(name, rtype).is_none() {
                        return Err((ResponseCode::NXRRSet, format!("{name} has no {rtype} records")));
                    }
                }
                DNSClass::NONE if !empty => {
                    return Err(form(format!("prerequisite {name} {rtype} (class NONE) has data")));
                }
                DNSClass::NONE if rtype == RecordType::ANY => {
                    if self.in_use(name) {
                        return Err((ResponseCode::YXDomain, format!("{name} is in use")));
                    }
                }
                DNSClass::NONE => {
                    if self.get(name, rtype).is_some() {
                        return Err((ResponseCode::YXRRSet, format!("{name} has {rtype} records")));
                    }
                }
                DNSClass::IN if !empty && !is_meta(rtype) => {
                    let entry = wanted
                        .entry(key(name, rtype))
                        .or_insert_with(|| (name.clone(), rtype, Vec::new()));
                    if !entry.2.contains(&rr.data) {
                        entry.2.push(rr.data.clone());
                    }
                }
                class => return Err(form(format!("prerequisite {name} {rtype} has class {class}"))),
            }
        }
        for (k, (name, rtype, values)) in &wanted {
            let holds = self.sets.get(k).is_some_and(|set| set.same_values(values));
            if !holds {
                let now = self
                    .sets
                    .get(k)
                    .map(|s| s.data.iter().map(value_text).collect::<Vec<_>>().join(" "))
                    .unwrap_or_else(|| "nothing".to_string());
                let want = values.iter().map(value_text).collect::<Vec<_>>().join(" ");
                return Err((
                    ResponseCode::NXRRSet,
                    format!("{name} {rtype} is not exactly {want} (it holds {now})"),
                ));
            }
        }
        Ok(())
    }

    /// RFC 2136 §3.4.1: every update record must be well-formed and in the zone.
    fn prescan(&self, updates: &[Record]) -> Result<(), (ResponseCode, String)> {
        for rr in updates {
            let name = &rr.name;
            let rtype = rr.record_type();
            if !self.contains(name) {
                return Err((
                    ResponseCode::NotZone,
                    format!("update {name} is not in zone {}", self.origin),
                ));
            }
            let ok = match rr.dns_class {
                DNSClass::IN => !is_meta(rtype) && !rr.data.is_update(),
                DNSClass::ANY => rr.ttl == 0 && rr.data.is_update() && (!is_meta(rtype) || rtype == RecordType::ANY),
                DNSClass::NONE => rr.ttl == 0 && !is_meta(rtype) && !rr.data.is_update(),
                _ => false,
            };
            if !ok {
                return Err((
                    ResponseCode::FormErr,
                    format!("update {name} {} {rtype} (TTL {}) is malformed", rr.dns_class, rr.ttl),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone::from_config(&DnsSandboxConfig {
            zone: "shop.demo".to_string(),
            tsig_key_name: "k".to_string(),
            tsig_secret: vec![1; 32],
            records: vec![
                ZoneRecord::new("app.shop.demo.", "A", 300, "192.0.2.10"),
                ZoneRecord::new("a.b.shop.demo", "TXT", 300, "hello"),
            ],
            servers: 2,
            transfer_delay: Duration::ZERO,
        })
        .unwrap()
    }

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn a(ip: &str) -> RData {
        parse_rdata("A", ip).unwrap()
    }

    fn with_class(mut r: Record, class: DNSClass) -> Record {
        r.dns_class = class;
        r
    }

    #[test]
    fn a_long_text_record_is_split_into_strings_a_message_can_carry() {
        use hickory_proto::serialize::binary::BinEncodable;
        let long = "k".repeat(300);
        let data = parse_rdata("TXT", &long).unwrap();
        let RData::TXT(text) = &data else { panic!("{data:?}") };
        assert_eq!(text.txt_data.iter().map(|s| s.len()).collect::<Vec<_>>(), [255, 45]);
        assert_eq!(value_text(&data), long);
        let record = Record::from_rdata(n("dkim.shop.demo."), 300, data);
        assert!(
            record.to_bytes().is_ok(),
            "a record that cannot be encoded cannot be served"
        );
    }

    #[test]
    fn made_records_and_tree() {
        let z = zone();
        assert_eq!(z.serial(), 1);
        assert_eq!(z.get(&n("shop.demo."), RecordType::NS).unwrap().data.len(), 2);
        assert!(z.get(&n("ns2.shop.demo."), RecordType::A).is_some());
        assert!(z.node_exists(&n("b.shop.demo.")), "empty non-terminal");
        assert!(!z.node_exists(&n("c.shop.demo.")));
    }

    #[test]
    fn compare_and_swap_applies_only_when_the_old_value_holds() {
        let z = zone();
        let app = n("app.shop.demo.");
        let delete = with_class(Record::update0(app.clone(), 0, RecordType::A), DNSClass::ANY);
        let add = Record::from_rdata(app.clone(), 60, a("198.51.100.7"));
        let good = [Record::from_rdata(app.clone(), 0, a("192.0.2.10"))];
        let (after, _) = z.apply(&good, &[delete.clone(), add.clone()]).unwrap();
        let set = after.get(&app, RecordType::A).unwrap();
        assert_eq!((set.ttl, set.data.clone()), (60, vec![a("198.51.100.7")]));
        assert_eq!(after.serial(), 2);
        let stale = [Record::from_rdata(app.clone(), 0, a("203.0.113.1"))];
        assert_eq!(z.apply(&stale, &[delete, add]).unwrap_err().0, ResponseCode::NXRRSet);
    }

    #[test]
    fn readding_a_value_with_a_new_ttl_changes_the_ttl() {
        let z = zone();
        let app = n("app.shop.demo.");
        let (after, _) = z
            .apply(&[], &[Record::from_rdata(app.clone(), 5, a("192.0.2.10"))])
            .unwrap();
        assert_eq!(after.get(&app, RecordType::A).unwrap().ttl, 5);
        let (same, _) = after
            .apply(&[], &[Record::from_rdata(app.clone(), 5, a("192.0.2.10"))])
            .unwrap();
        assert_eq!(same.serial(), after.serial(), "no change, no new serial");
    }

    #[test]
    fn prerequisites_on_names_and_sets() {
        let z = zone();
        let pre = |name: &str, t: RecordType, class: DNSClass| with_class(Record::update0(n(name), 0, t), class);
        let code = |p: Record| z.apply(&[p], &[]).err().map(|e| e.0);
        assert_eq!(code(pre("app.shop.demo.", RecordType::ANY, DNSClass::ANY)), None);
        assert_eq!(
            code(pre("x.shop.demo.", RecordType::ANY, DNSClass::ANY)),
            Some(ResponseCode::NXDomain)
        );
        assert_eq!(
            code(pre("app.shop.demo.", RecordType::AAAA, DNSClass::ANY)),
            Some(ResponseCode::NXRRSet)
        );
        assert_eq!(
            code(pre("app.shop.demo.", RecordType::ANY, DNSClass::NONE)),
            Some(ResponseCode::YXDomain)
        );
        assert_eq!(
            code(pre("app.shop.demo.", RecordType::A, DNSClass::NONE)),
            Some(ResponseCode::YXRRSet)
        );
        assert_eq!(
            code(pre("app.other.", RecordType::A, DNSClass::NONE)),
            Some(ResponseCode::NotZone)
        );
    }

    #[test]
    fn the_apex_keeps_its_soa_and_ns() {
        let z = zone();
        let apex = n("shop.demo.");
        let wipe = with_class(Record::update0(apex.clone(), 0, RecordType::ANY), DNSClass::ANY);
        let (after, _) = z.apply(&[], &[wipe]).unwrap();
        assert!(after.get(&apex, RecordType::SOA).is_some());
        assert!(after.get(&apex, RecordType::NS).is_some());
    }
}
