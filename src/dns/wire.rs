//! DNS on the wire: a query to one server (no cache, recursion as asked), and an RFC 2136
//! UPDATE that moves several records of a zone together, compare-and-swap, TSIG-signed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use hickory_net::proto::op::{DnsRequest, Message, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_net::proto::rr::rdata::{A, AAAA, CNAME, NS, TXT};
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsHandle;

use super::DnsError;

/// What one server answered for one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ...
    pub rcode: String,
    /// The values, sorted (addresses as text, names with a trailing dot).
    pub values: Vec<String>,
    /// The smallest TTL of the answer records.
    pub ttl: Option<u32>,
    /// The AA bit: the server answered from its own zone data.
    pub authoritative: bool,
}

/// One record set in an update: the values it must hold now (none: it must not exist),
/// and what it gets (none: it is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordUpdate {
    pub name: String,
    pub rtype: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub ttl: u32,
}

pub fn record_type(rtype: &str) -> Result<RecordType, DnsError> {
    match rtype {
        "A" => Ok(RecordType::A),
        "AAAA" => Ok(RecordType::AAAA),
        "CNAME" => Ok(RecordType::CNAME),
        "NS" => Ok(RecordType::NS),
        "SOA" => Ok(RecordType::SOA),
        other => Err(DnsError::usage(format!("record type {other} is not supported"))),
    }
}

fn name(text: &str) -> Result<Name, DnsError> {
    Name::from_ascii(text).map_err(|e| DnsError::usage(format!("`{text}` is not a DNS name: {e}")))
}

/// The record data for `value` of type `rtype`, or why it cannot be one.
pub fn rdata(rtype: &str, value: &str) -> Result<RData, DnsError> {
    let bad = |what: &str| DnsError::usage(format!("`{value}` is not {what}, so it cannot be a {rtype} record"));
    match rtype {
        "A" => match value.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => Ok(RData::A(A(v4))),
            _ => Err(bad("an IPv4 address")),
        },
        "AAAA" => match value.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => Ok(RData::AAAA(AAAA(v6))),
            _ => Err(bad("an IPv6 address")),
        },
        "CNAME" => Ok(RData::CNAME(CNAME(name(&super::fqdn(value))?))),
        "NS" => Ok(RData::NS(NS(name(&super::fqdn(value))?))),
        "TXT" => {
            // Character strings hold at most 255 bytes; longer text is split, as zone files do.
            let chunks: Vec<&[u8]> = value.as_bytes().chunks(255).collect();
            Ok(RData::TXT(TXT::from_bytes(if chunks.is_empty() {
                vec![b""]
            } else {
                chunks
            })))
        }
        other => Err(DnsError::usage(format!(
            "record type {other} is not supported (A, AAAA, CNAME, NS, TXT)"
        ))),
    }
}

/// A record's value as text: an address, a name with its trailing dot, TXT's text.
pub(crate) fn value_text(data: &RData) -> Option<String> {
    Some(match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => c.0.to_ascii(),
        RData::NS(n) => n.0.to_ascii(),
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        RData::SOA(s) => format!("{} {}", s.mname.to_ascii(), s.serial),
        _ => return None,
    })
}

fn exchange(
    server: SocketAddr,
    timeout: Duration,
    signer: Option<TSigner>,
) -> hickory_net::xfer::DnsExchange<TokioRuntimeProvider> {
    UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(timeout))
        .with_max_retries(1)
        .with_signer(signer)
        .exchange()
}

async fn send(
    server: SocketAddr,
    message: Message,
    timeout: Duration,
    signer: Option<TSigner>,
) -> Result<Message, DnsError> {
    let exchange = exchange(server, timeout, signer);
    // `timeout` is what one query may take in all, its retransmissions included: the
    // stream's own timer covers them, and this bounds the exchange as a whole.
    let mut asked = exchange.send(DnsRequest::from(message));
    let reply = async {
        match asked.next().await {
            Some(Ok(response)) => Ok(response.into_message()),
            Some(Err(e)) => Err(DnsError::from_net(server, timeout, &e)),
            None => Err(DnsError::no_answer(server, timeout)),
        }
    };
    crate::outside::call(&format!("DNS server {server}"), timeout, reply)
        .await
        .unwrap_or_else(|_| Err(DnsError::no_answer(server, timeout)))
}

/// Asks `server` for `name`/`rtype` directly. `recursion` is off for authoritative
/// servers (they must answer from their own data) and on for resolvers.
pub async fn query(
    server: SocketAddr,
    record: &str,
    rtype: &str,
    recursion: bool,
    timeout: Duration,
) -> Result<Answer, DnsError> {
    let wanted = record_type(rtype)?;
    let mut message = Message::query();
    message.add_query(Query::query(name(record)?, wanted));
    message.metadata.recursion_desired = recursion;
    let owner = name(record)?;
    let response = send(server, message, timeout, None).await?;
    let rcode = response.metadata.response_code;
    let mut values = Vec::new();
    let mut ttl: Option<u32> = None;
    for r in &response.answers {
        // Only the name asked about: asked for the A records of a name that is a CNAME, a
        // server adds the target's own records (another owner) after the CNAME.
        if r.record_type() == wanted
            && r.name == owner
            && let Some(v) = value_text(&r.data)
        {
            values.push(v);
            ttl = Some(ttl.map_or(r.ttl, |t| t.min(r.ttl)));
        }
    }
    values.sort();
    values.dedup();
    Ok(Answer {
        rcode: rcode_text(rcode),
        values,
        ttl,
        authoritative: response.metadata.authoritative,
    })
}

/// The addresses (A and AAAA) `server` holds for `host`, for nameservers found by NS.
pub async fn addresses(server: SocketAddr, host: &str, recursion: bool, timeout: Duration) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for rtype in ["A", "AAAA"] {
        if let Ok(a) = query(server, host, rtype, recursion, timeout).await {
            out.extend(a.values.iter().filter_map(|v| v.parse::<IpAddr>().ok()));
        }
    }
    out
}

pub fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::NXDomain => "NXDOMAIN".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        ResponseCode::YXDomain => "YXDOMAIN".to_string(),
        ResponseCode::YXRRSet => "YXRRSET".to_string(),
        ResponseCode::NXRRSet => "NXRRSET".to_string(),
        ResponseCode::NotAuth => "NOTAUTH".to_string(),
        ResponseCode::NotZone => "NOTZONE".to_string(),
        other => format!("{other:?}").to_ascii_uppercase(),
    }
}

/// A TSIG key ready to sign.
#[derive(Clone)]
pub struct Tsig {
    pub name: String,
    pub algorithm: String,
    pub secret: Vec<u8>,
}

impl Tsig {
    fn signer(&self) -> Result<TSigner, DnsError> {
        use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm;
        let algorithm = match self.algorithm.as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => return Err(DnsError::usage(format!("TSIG algorithm {other} is not supported"))),
        };
        TSigner::new(self.secret.clone(), algorithm, name(&self.name)?, 300)
            .map_err(|e| DnsError::usage(format!("TSIG key `{}` cannot sign: {e}", self.name)))
    }
}

/// The names of `updates`, each once, in the order they first appear: the order an UPDATE
/// changes them in.
pub fn names_in_order(updates: &[RecordUpdate]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for u in updates {
        if !names.contains(&u.name.as_str()) {
            names.push(&u.name);
        }
    }
    names
}

/// Sends one UPDATE to the zone's primary that, for every record set, requires exactly
/// the values `from` (RFC 2136 2.4.2, value-dependent; no values: the set must not exist,
/// 2.4.3), deletes the set, and adds `to` with `ttl` (no values: the set stays deleted).
/// The server applies all of it or none of it.
pub async fn compare_and_swap(
    server: SocketAddr,
    zone: &str,
    tsig: Option<&Tsig>,
    updates: &[RecordUpdate],
    timeout: Duration,
) -> Result<(), DnsError> {
    let origin = name(zone)?;
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut zone_query = Query::new();
    zone_query
        .set_name(origin)
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    message.add_zone(zone_query);
    for u in updates {
        let owner = name(&u.name)?;
        let rtype = record_type(&u.rtype)?;
        if u.from.is_empty() {
            // Prerequisite "RRset does not exist": class NONE, TTL 0, no data.
            let mut absent = Record::update0(owner.clone(), 0, rtype);
            absent.dns_class = DNSClass::NONE;
            message.add_pre_requisite(absent);
        }
        for v in &u.from {
            // Prerequisite: class IN, TTL 0, the exact data; together they must be the whole set.
            message.add_pre_requisite(Record::from_rdata(owner.clone(), 0, rdata(&u.rtype, v)?));
        }
    }
    // Name by name: every delete of the name's sets (class ANY, TTL 0, no data), then every
    // add. A server ignores a CNAME added beside other data of its name, or data beside a
    // CNAME, so the old sets must be gone first.
    for n in names_in_order(updates) {
        let owner = name(n)?;
        let of_name = || updates.iter().filter(move |u| u.name == n);
        for u in of_name() {
            let mut delete = Record::update0(owner.clone(), 0, record_type(&u.rtype)?);
            delete.dns_class = DNSClass::ANY;
            message.add_update(delete);
        }
        for u in of_name() {
            for v in &u.to {
                message.add_update(Record::from_rdata(owner.clone(), u.ttl, rdata(&u.rtype, v)?));
            }
        }
    }
    let signer = tsig.map(Tsig::signer).transpose()?;
    let response = send(server, message, timeout, signer).await?;
    match response.metadata.response_code {
        ResponseCode::NoError => Ok(()),
        code => Err(DnsError::from_update_rcode(
            server,
            zone,
            code,
            tsig.map(|t| t.name.as_str()),
        )),
    }
}
