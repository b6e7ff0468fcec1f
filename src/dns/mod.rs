//! DNS: reading records from each authoritative nameserver, and changing them through a
//! provider (RFC 2136 with TSIG, a hosted provider's API, or the operator by hand).

pub mod keyfile;
pub mod provider;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::runbook::dns::{fqdn, parse_server};
use crate::runbook::{DnsConfig, DnsProvider};

/// A DNS problem, said so that the operator knows what failed, where, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsError {
    pub message: String,
    pub advice: Option<String>,
    /// Trying again later may work (no answer, SERVFAIL); a refusal or a bad key will not.
    pub retryable: bool,
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl DnsError {
    pub fn usage(message: String) -> Self {
        Self {
            message,
            advice: Some("fix the runbook".to_string()),
            retryable: false,
        }
    }

    /// Something between here and `server` failed before it answered (refused, unreachable).
    pub fn unreachable(server: SocketAddr, what: &str) -> Self {
        Self {
            message: format!("DNS server {server} did not answer ({what})"),
            advice: Some(silent_advice(&server.to_string(), server.port())),
            retryable: true,
        }
    }

    /// Nothing came back from `server` within `timeout`, the whole time one query may take.
    pub fn no_answer(server: SocketAddr, timeout: Duration) -> Self {
        Self {
            message: format!(
                "DNS server {server} did not answer within {}",
                crate::runbook::duration::format(timeout)
            ),
            advice: Some(silent_advice(&server.to_string(), server.port())),
            retryable: true,
        }
    }

    pub fn from_net(server: SocketAddr, timeout: Duration, e: &hickory_net::NetError) -> Self {
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("hmac") || lower.contains("tsig") || lower.contains("signature") {
            return Self::tsig_failed(server);
        }
        if lower.contains("timed out") || lower.contains("timeout") {
            return Self::no_answer(server, timeout);
        }
        if lower.contains("connection refused") || lower.contains("io error") {
            return Self::unreachable(server, &text);
        }
        Self {
            message: format!("DNS exchange with {server} failed: {text}"),
            advice: Some("check the server's log; the step can be retried".to_string()),
            retryable: true,
        }
    }

    fn tsig_failed(server: SocketAddr) -> Self {
        Self {
            message: format!("TSIG authentication failed at {server}: the server did not accept the key"),
            advice: Some(
                "check the key name, algorithm and secret against the server's configuration (the secret comes from `tsig_key.secret_env` or `secret_file`), and that this machine's clock is right"
                    .to_string(),
            ),
            retryable: false,
        }
    }

    pub fn from_update_rcode(
        server: SocketAddr,
        zone: &str,
        code: hickory_net::proto::op::ResponseCode,
        key: Option<&str>,
    ) -> Self {
        use hickory_net::proto::op::ResponseCode as R;
        let (message, advice, retryable) = match code {
            R::NotAuth if key.is_some() => return Self::tsig_failed(server),
            R::NotAuth => (
                format!("{server} answered NOTAUTH: it is not authoritative for zone {zone}, or wants a signed update"),
                "send updates to the zone's primary and configure `tsig_key` in [dns]".to_string(),
                false,
            ),
            R::Refused => (
                format!(
                    "{server} REFUSED the update to zone {zone}{}",
                    key.map(|k| format!(" signed with key `{k}`")).unwrap_or_else(|| " (unsigned)".to_string())
                ),
                "the server's update policy does not allow it: grant the key updates for these records (BIND `update-policy`, Knot `acl`)".to_string(),
                false,
            ),
            R::NotZone => (
                format!("{server} says a record is not in zone {zone} (NOTZONE)"),
                "check `zone` and `records` in [dns]".to_string(),
                false,
            ),
            R::ServFail => (
                format!("{server} failed to apply the update to zone {zone} (SERVFAIL)"),
                "look at the server's log (a full disk or a missing journal directory is common); the step can be retried".to_string(),
                true,
            ),
            R::NXRRSet | R::YXRRSet | R::NXDomain | R::YXDomain => (
                format!("the records of zone {zone} changed meanwhile: {server} refused the compare-and-swap ({})", wire::rcode_text(code)),
                "someone else changed them; nothing was written. Look at what they hold now (the step detail shows it) before deciding".to_string(),
                false,
            ),
            other => (
                format!("{server} refused the update to zone {zone}: {}", wire::rcode_text(other)),
                "look at the server's log".to_string(),
                false,
            ),
        };
        Self {
            message,
            advice: Some(advice),
            retryable,
        }
    }
}

/// What to do about servers that answer nothing (`servers`: one address, or several).
pub fn silent_advice(servers: &str, port: u16) -> String {
    format!(
        "nothing answers DNS at {servers}: is the server up, is the address right, is a firewall dropping UDP or TCP port {port} on the way? Then retry the step"
    )
}

/// An authoritative nameserver: its name (from NS, or as listed) and where it is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    pub name: String,
    pub addr: SocketAddr,
}

/// Resolves `host:port` (or `host`, port 53) once, through this machine's resolver, taking
/// at most `timeout`.
pub async fn resolve_server(text: &str, timeout: Duration) -> Result<SocketAddr, DnsError> {
    if let Some(addr) = parse_server(text, 53) {
        return Ok(addr);
    }
    let with_port = if text.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        text.to_string()
    } else {
        format!("{text}:53")
    };
    let resolver = format!("this machine's resolver (looking up `{text}`)");
    let found = crate::outside::call(&resolver, timeout, tokio::net::lookup_host(&with_port))
        .await
        .map_err(|e| DnsError {
            message: e.to_string(),
            advice: Some(format!(
                "check /etc/resolv.conf and that its nameservers answer, or write the server's IP address in the runbook; `query_timeout` in [dns] is {}",
                crate::runbook::duration::format(timeout)
            )),
            retryable: true,
        })?;
    match found {
        Ok(mut addrs) => addrs.next().ok_or_else(|| DnsError {
            message: format!("`{text}` has no address"),
            advice: Some("write the server's IP address in the runbook".to_string()),
            retryable: true,
        }),
        Err(e) => Err(DnsError {
            message: format!("cannot resolve `{text}`: {e}"),
            advice: Some("write the server's IP address in the runbook".to_string()),
            retryable: true,
        }),
    }
}

/// The first nameserver in /etc/resolv.conf: how this machine resolves names.
pub fn system_resolver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| parse_server(rest.trim(), 53))
}

/// Every authoritative nameserver of the zone: as listed in the runbook, or found from the
/// zone's NS records (asked of the primary for RFC 2136, else of this machine's resolver).
pub async fn authoritative(config: &DnsConfig) -> Result<Vec<Nameserver>, DnsError> {
    if !config.nameservers.is_empty() {
        return config
            .nameservers
            .iter()
            .map(|entry| {
                let (name, addr) = entry.split_once('=').unwrap_or((entry, entry));
                parse_server(addr, 53)
                    .map(|addr| Nameserver {
                        name: name.to_string(),
                        addr,
                    })
                    .ok_or_else(|| DnsError::usage(format!("nameserver `{entry}` is not an address")))
            })
            .collect();
    }
    let (ask, recursion) = match &config.provider {
        DnsProvider::Rfc2136 { server, .. } => (resolve_server(server, config.query_timeout).await?, false),
        _ => match system_resolver() {
            Some(r) => (r, true),
            None => {
                return Err(DnsError::usage(
                    "no nameservers are listed and this machine has no resolver to find them: list them in [dns] nameservers".to_string(),
                ));
            }
        },
    };
    let ns = wire::query(ask, &config.zone, "NS", recursion, config.query_timeout).await?;
    if ns.values.is_empty() {
        return Err(DnsError {
            message: format!(
                "{ask} holds no NS records for zone {} ({}): cannot tell which servers are authoritative",
                config.zone, ns.rcode
            ),
            advice: Some(
                "check `zone` in [dns], or list the servers: nameservers = [\"ns1.example.com=192.0.2.53\"]"
                    .to_string(),
            ),
            retryable: ns.rcode == "SERVFAIL",
        });
    }
    let mut out = Vec::new();
    for host in &ns.values {
        let ips = wire::addresses(ask, host, recursion, config.query_timeout).await;
        if ips.is_empty() {
            return Err(DnsError {
                message: format!("nameserver {host} of zone {} has no address at {ask}", config.zone),
                advice: Some(format!(
                    "list the servers with their addresses: nameservers = [\"{host}=IP\"]"
                )),
                retryable: false,
            });
        }
        for ip in ips {
            out.push(Nameserver {
                name: host.clone(),
                addr: SocketAddr::new(ip, config.nameserver_port),
            });
        }
    }
    Ok(out)
}

/// Polls with a fixed interval, cancellable.
pub async fn pause(interval: Duration, cancel: &tokio_util::sync::CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(interval) => true,
        () = cancel.cancelled() => false,
    }
}
