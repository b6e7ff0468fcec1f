//! Who writes the records: an RFC 2136 primary (one atomic compare-and-swap per zone), a
//! hosted provider's API (read, compare, then write: not atomic), or the operator by hand.

use std::net::SocketAddr;
use std::time::Duration;

use dns_update::{DnsRecord, DnsRecordType, DnsUpdater};

use super::wire::{self, RecordUpdate, Tsig};
use super::{DnsError, resolve_server};
use crate::runbook::{DnsConfig, DnsProvider, TsigKey};

pub enum Writer {
    Rfc2136 { server: SocketAddr, tsig: Option<Tsig> },
    Hosted { name: String, updater: Box<DnsUpdater> },
    Manual,
}

/// The secret of a TSIG key, from the environment or a file (base64, as `tsig-keygen`
/// writes it; a BIND key file's `secret "...";` line is understood too).
pub fn tsig_secret(key: &TsigKey) -> Result<(String, String), DnsError> {
    let (text, source) = match (&key.secret_env, &key.secret_file) {
        (Some(var), _) => (
            std::env::var(var).map_err(|_| DnsError {
                message: format!(
                    "environment variable {var} (the secret of TSIG key `{}`) is not set",
                    key.name
                ),
                advice: Some(format!("export {var} in the shell that runs cutover, then retry")),
                retryable: false,
            })?,
            format!("environment variable {var}"),
        ),
        (None, Some(path)) => (
            std::fs::read_to_string(path).map_err(|e| DnsError {
                message: format!("cannot read the secret of TSIG key `{}` from {path}: {e}", key.name),
                advice: Some("check `tsig_key.secret_file` and the file's permissions".to_string()),
                retryable: false,
            })?,
            format!("file {path}"),
        ),
        (None, None) => return Err(DnsError::usage(format!("TSIG key `{}` has no secret source", key.name))),
    };
    let secret = match text.split_once("secret") {
        // A BIND key file: key "name" { algorithm ...; secret "BASE64"; };
        Some((_, rest)) if text.contains('{') => rest.split('"').nth(1).unwrap_or_default().to_string(),
        _ => text.trim().to_string(),
    };
    Ok((secret, source))
}

fn decode_secret(key: &TsigKey, secret: &str, source: &str) -> Result<Vec<u8>, DnsError> {
    data_encoding::BASE64.decode(secret.as_bytes()).map_err(|_| DnsError {
        message: format!("the secret of TSIG key `{}` ({source}) is not base64", key.name),
        advice: Some("use the secret exactly as tsig-keygen printed it".to_string()),
        retryable: false,
    })
}

fn credential(name: &str, var: &str) -> Result<String, DnsError> {
    std::env::var(var).map_err(|_| DnsError {
        message: format!("environment variable {var} (the DNS provider's {name}) is not set"),
        advice: Some(format!("export {var} in the shell that runs cutover, then retry")),
        retryable: false,
    })
}

impl Writer {
    pub async fn new(config: &DnsConfig, timeout: Duration) -> Result<Self, DnsError> {
        match &config.provider {
            DnsProvider::Rfc2136 { server, tsig } => {
                let server = resolve_server(server).await?;
                let tsig = match tsig {
                    Some(key) => {
                        let (secret, source) = tsig_secret(key)?;
                        Some(Tsig {
                            name: key.name.clone(),
                            algorithm: key.algorithm.clone(),
                            secret: decode_secret(key, &secret, &source)?,
                        })
                    }
                    None => None,
                };
                Ok(Writer::Rfc2136 { server, tsig })
            }
            DnsProvider::Manual => Ok(Writer::Manual),
            DnsProvider::Hosted {
                name,
                settings,
                credentials_env,
            } => {
                let cred = |c: &str| match credentials_env.get(c) {
                    Some(var) => credential(c, var),
                    None => Err(DnsError::usage(format!("provider {name} needs credentials_env.{c}"))),
                };
                let setting = |s: &str| settings.get(s).cloned();
                let t = Some(timeout);
                let bad = |e: dns_update::Error| DnsError {
                    message: format!("cannot set up DNS provider {name}: {e:?}"),
                    advice: Some("check the provider's settings and credentials".to_string()),
                    retryable: false,
                };
                let updater = match name.as_str() {
                    "pdns" => DnsUpdater::new_pdns(cred("api_key")?, setting("api_url"), setting("server_id"), t)
                        .map_err(bad)?,
                    "cloudflare" => DnsUpdater::new_cloudflare(cred("api_token")?, t).map_err(bad)?,
                    "digitalocean" => DnsUpdater::new_digitalocean(cred("api_token")?, t).map_err(bad)?,
                    "hetzner" => DnsUpdater::new_hetzner(cred("api_token")?, t).map_err(bad)?,
                    "desec" => DnsUpdater::new_desec(cred("api_token")?, t).map_err(bad)?,
                    "route53" => DnsUpdater::new_route53(dns_update::providers::route53::Route53Config {
                        access_key_id: cred("access_key_id")?,
                        secret_access_key: cred("secret_access_key")?,
                        session_token: None,
                        region: setting("region"),
                        hosted_zone_id: setting("hosted_zone_id"),
                        private_zone_only: None,
                        endpoint: None,
                    })
                    .map_err(bad)?,
                    other => return Err(DnsError::usage(format!("unknown DNS provider `{other}`"))),
                };
                Ok(Writer::Hosted {
                    name: name.clone(),
                    updater: Box::new(updater),
                })
            }
        }
    }

    /// How changes are made, for the intent and the operator.
    pub fn describe(config: &DnsConfig) -> String {
        match &config.provider {
            DnsProvider::Rfc2136 { server, tsig } => match tsig {
                Some(k) => format!(
                    "RFC 2136 UPDATE to {server} signed with TSIG key {} ({})",
                    k.name, k.algorithm
                ),
                None => format!("RFC 2136 UPDATE to {server} (unsigned)"),
            },
            DnsProvider::Manual => "the operator, by hand in the provider's console".to_string(),
            DnsProvider::Hosted { name, .. } => format!("the {name} API (read, compare, then write: not atomic)"),
        }
    }

    /// Where the truth about the records is read before a change: the primary itself, or
    /// the provider's API.
    pub async fn current(
        &self,
        record: &str,
        rtype: &str,
        zone: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, DnsError> {
        match self {
            Writer::Rfc2136 { server, .. } => {
                let a = wire::query(*server, record, rtype, false, timeout).await?;
                match a.rcode.as_str() {
                    "NOERROR" | "NXDOMAIN" => Ok(a.values),
                    "REFUSED" | "NOTAUTH" => Err(DnsError {
                        message: format!("{server} is not authoritative for {record} ({})", a.rcode),
                        advice: Some("`server` in [dns] must be the zone's primary".to_string()),
                        retryable: false,
                    }),
                    other => Err(DnsError {
                        message: format!("{server} answered {other} for {record}"),
                        advice: Some("look at the server's log; the step can be retried".to_string()),
                        retryable: true,
                    }),
                }
            }
            Writer::Hosted { name, updater } => {
                let found = updater
                    .list_rrset(record, hosted_type(rtype)?, zone)
                    .await
                    .map_err(|e| api_error(name, &e))?;
                let mut values: Vec<String> = found.iter().filter_map(record_text).collect();
                values.sort();
                Ok(values)
            }
            Writer::Manual => Err(DnsError::usage("a manual provider has no API to read".to_string())),
        }
    }

    /// Moves every record set from its `from` values to its `to` values. RFC 2136: one
    /// message, all or nothing. A hosted API: every set is read and compared first, then
    /// written one by one.
    pub async fn swap(&self, zone: &str, updates: &[RecordUpdate], timeout: Duration) -> Result<(), DnsError> {
        match self {
            Writer::Rfc2136 { server, tsig } => {
                wire::compare_and_swap(*server, zone, tsig.as_ref(), updates, timeout).await
            }
            Writer::Hosted { name, updater } => {
                for u in updates {
                    let now = self.current(&u.name, &u.rtype, zone, timeout).await?;
                    if !same(&now, &u.from) {
                        return Err(mismatch(&u.name, &u.from, &now, &format!("the {name} API")));
                    }
                }
                for u in updates {
                    let records =
                        u.to.iter()
                            .map(|v| hosted_record(&u.rtype, v))
                            .collect::<Result<Vec<_>, _>>()?;
                    updater
                        .set_rrset(u.name.as_str(), hosted_type(&u.rtype)?, u.ttl, records, zone)
                        .await
                        .map_err(|e| api_error(name, &e))?;
                }
                Ok(())
            }
            Writer::Manual => Err(DnsError::usage(
                "a manual provider is changed by the operator".to_string(),
            )),
        }
    }
}

/// Whether two value lists are the same set.
pub fn same(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.trim_end_matches('.').to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

pub fn mismatch(record: &str, expected: &[String], found: &[String], source: &str) -> DnsError {
    let show = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.join(", ")
        }
    };
    DnsError {
        message: format!(
            "{record} holds {} at {source}, not the expected {}: nothing was written",
            show(found),
            show(expected)
        ),
        advice: Some(
            "someone or something changed the record; find out who before going on (retry once it holds the expected value again, or roll back)"
                .to_string(),
        ),
        retryable: false,
    }
}

fn hosted_type(rtype: &str) -> Result<DnsRecordType, DnsError> {
    match rtype {
        "A" => Ok(DnsRecordType::A),
        "AAAA" => Ok(DnsRecordType::AAAA),
        "CNAME" => Ok(DnsRecordType::CNAME),
        other => Err(DnsError::usage(format!("record type {other} is not supported"))),
    }
}

fn hosted_record(rtype: &str, value: &str) -> Result<DnsRecord, DnsError> {
    let bad = || DnsError::usage(format!("`{value}` cannot be a {rtype} record"));
    match rtype {
        "A" => value.parse().map(DnsRecord::A).map_err(|_| bad()),
        "AAAA" => value.parse().map(DnsRecord::AAAA).map_err(|_| bad()),
        "CNAME" => Ok(DnsRecord::CNAME(super::fqdn(value))),
        _ => Err(bad()),
    }
}

fn record_text(r: &DnsRecord) -> Option<String> {
    match r {
        DnsRecord::A(a) => Some(a.to_string()),
        DnsRecord::AAAA(a) => Some(a.to_string()),
        DnsRecord::CNAME(c) => Some(super::fqdn(c)),
        _ => None,
    }
}

fn api_error(provider: &str, e: &dns_update::Error) -> DnsError {
    use dns_update::Error as E;
    let (what, retryable) = match e {
        E::Unauthorized => ("the credentials were refused (unauthorized)".to_string(), false),
        E::NotFound => ("the zone or record was not found".to_string(), false),
        E::BadRequest => ("the request was refused as bad".to_string(), false),
        E::Client(m) | E::Response(m) | E::Protocol(m) => (m.clone(), true),
        E::Api(m) => (m.clone(), false),
        other => (format!("{other:?}"), false),
    };
    DnsError {
        message: format!("DNS provider {provider}: {what}"),
        advice: Some(if retryable {
            "check that the provider's API is reachable; the step can be retried".to_string()
        } else {
            "check the provider's settings and the credentials in the environment".to_string()
        }),
        retryable,
    }
}
