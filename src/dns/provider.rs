//! Who writes the records: an RFC 2136 primary (one atomic compare-and-swap per zone), a
//! hosted provider's API (read, compare, then write: not atomic), or the operator by hand.

use std::net::SocketAddr;
use std::time::Duration;

use dns_update::{DnsRecord, DnsRecordType, DnsUpdater};

use super::keyfile;
use super::wire::{self, RecordUpdate, Tsig};
use super::{DnsError, resolve_server};
use crate::runbook::{DnsConfig, DnsProvider, TsigKey};

pub enum Writer {
    Rfc2136 {
        server: SocketAddr,
        tsig: Option<Tsig>,
    },
    Hosted {
        name: String,
        updater: Box<DnsUpdater>,
        /// `the pdns API at 127.0.0.1:8081`: what messages and waiting reports call it.
        api: String,
        /// How long one call may take in all, the provider's own retries included.
        timeout: Duration,
    },
    Manual,
}

/// The secret of a TSIG key, from the environment or a file: the base64 secret on its own,
/// or a BIND key file (as `tsig-keygen` writes it, several keys allowed), from which the key
/// with the runbook's `tsig_key.name` is taken. Returns the secret and where it came from.
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
            // A key file is a few hundred bytes; 64 KiB is room for many keys and comments.
            crate::bounded::read(std::path::Path::new(path), 64 * crate::bounded::KIB)
                .map_err(|e| e.to_string())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "it is not text (not UTF-8)".to_string()))
                .map_err(|e| DnsError {
                    message: format!("cannot read the secret of TSIG key `{}` from {path}: {e}", key.name),
                    advice: Some("check `tsig_key.secret_file`: a BIND key file, as tsig-keygen writes it".to_string()),
                    retryable: false,
                })?,
            format!("file {path}"),
        ),
        (None, None) => return Err(DnsError::usage(format!("TSIG key `{}` has no secret source", key.name))),
    };
    if !keyfile::looks_like_key_file(&text) && !text.contains('{') {
        return Ok((text.trim().to_string(), source));
    }
    let bad = |message: String, advice: String| DnsError {
        message,
        advice: Some(advice),
        retryable: false,
    };
    let keys = keyfile::parse(&text).map_err(|e| {
        bad(
            format!("the TSIG key file ({source}) cannot be read as a BIND key file: {e}"),
            "write it as tsig-keygen does: key \"NAME\" { algorithm hmac-sha256; secret \"BASE64\"; };".to_string(),
        )
    })?;
    let Some(found) = keys.iter().find(|k| keyfile::same_name(&k.name, &key.name)) else {
        let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        return Err(bad(
            format!(
                "TSIG key `{}` is not in {source}: it holds {}",
                key.name,
                if names.is_empty() {
                    "no key".to_string()
                } else {
                    format!("key(s) {}", names.join(", "))
                }
            ),
            "set `tsig_key.name` in [dns] to the key the server grants updates to, or point `secret_file` at the file that holds it"
                .to_string(),
        ));
    };
    if let Some(algorithm) = &found.algorithm
        && algorithm != &key.algorithm.to_ascii_lowercase()
    {
        return Err(bad(
            format!(
                "TSIG key `{}` in {source} is {algorithm}, but `tsig_key.algorithm` says {}",
                found.name, key.algorithm
            ),
            format!(
                "set `tsig_key.algorithm = \"{algorithm}\"` in [dns]: the server checks the algorithm with the key"
            ),
        ));
    }
    match &found.secret {
        Some(secret) => Ok((secret.clone(), source)),
        None => Err(bad(
            format!("TSIG key `{}` in {source} has no `secret`", found.name),
            "add its `secret \"BASE64\";` line as tsig-keygen printed it".to_string(),
        )),
    }
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
                let server = resolve_server(server, timeout).await?;
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
                // The provider's client gets a second more per request than a call may take
                // in all: the call's limit (`outside::call`) decides, and says so.
                let t = Some(timeout + Duration::from_secs(1));
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
                        endpoint: setting("endpoint"),
                    })
                    .map_err(bad)?,
                    other => return Err(DnsError::usage(format!("unknown DNS provider `{other}`"))),
                };
                Ok(Writer::Hosted {
                    name: name.clone(),
                    updater: Box::new(updater),
                    api: format!("the {name} API at {}", api_address(name, settings)),
                    timeout,
                })
            }
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
            Writer::Hosted {
                name,
                updater,
                api,
                timeout,
            } => {
                let asked = updater.list_rrset(record, hosted_type(rtype)?, zone);
                let found = crate::outside::call(api, *timeout, asked)
                    .await
                    .map_err(|e| api_silent(&e))?
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
            Writer::Hosted {
                name,
                updater,
                api,
                timeout: limit,
            } => {
                for u in updates {
                    let now = self.current(&u.name, &u.rtype, zone, timeout).await?;
                    if !same(&now, &u.from) {
                        let set = format!("{} {}", u.name, u.rtype);
                        return Err(mismatch(&set, &u.from, &now, &format!("the {name} API")));
                    }
                }
                // Sets that go away first: an API refuses a CNAME beside the name's other
                // records, and addresses beside a CNAME, as DNS itself does.
                let mut order: Vec<&RecordUpdate> = updates.iter().filter(|u| u.to.is_empty()).collect();
                order.extend(updates.iter().filter(|u| !u.to.is_empty()));
                let mut done: Vec<String> = Vec::new();
                for u in order {
                    let records =
                        u.to.iter()
                            .map(|v| hosted_record(&u.rtype, v))
                            .collect::<Result<Vec<_>, _>>()?;
                    let asked = updater.set_rrset(u.name.as_str(), hosted_type(&u.rtype)?, u.ttl, records, zone);
                    let result = crate::outside::call(api, *limit, asked)
                        .await
                        .map_err(|e| api_silent(&e))
                        .and_then(|r| r.map_err(|e| api_error(name, &e)));
                    if let Err(mut e) = result {
                        if !done.is_empty() {
                            // Not atomic: say exactly how far it got.
                            let left: Vec<String> = updates
                                .iter()
                                .map(|x| format!("{} {}", x.name, x.rtype))
                                .filter(|x| !done.contains(x))
                                .collect();
                            e.message = format!(
                                "{} (writing {} {}); the records are partly moved: {} written, {} not",
                                e.message,
                                u.name,
                                u.rtype,
                                done.join(", "),
                                left.join(", ")
                            );
                            e.advice = Some(
                                "the provider's API changes one record set per call: run the step again to complete the change (it reads first and writes only what is left), or roll back"
                                    .to_string(),
                            );
                        }
                        return Err(e);
                    }
                    done.push(format!("{} {}", u.name, u.rtype));
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

/// Where a hosted provider's API is: `host:port` from the runbook's `api_url` (pdns) or
/// `endpoint` (route53), else the provider's public API.
fn api_address(name: &str, settings: &std::collections::BTreeMap<String, String>) -> String {
    let url = settings
        .get("api_url")
        .or_else(|| settings.get("endpoint"))
        .cloned()
        .unwrap_or_else(|| {
            match name {
                "pdns" => "http://localhost:8081",
                "cloudflare" => "https://api.cloudflare.com",
                "digitalocean" => "https://api.digitalocean.com",
                "hetzner" => "https://api.hetzner.cloud",
                "desec" => "https://desec.io",
                "route53" => "https://route53.amazonaws.com",
                _ => "",
            }
            .to_string()
        });
    crate::words::host_port(&url)
}

/// A provider's API that did not answer in time (dns-update's own retries and their
/// pauses count within the time).
fn api_silent(e: &crate::outside::NoAnswer) -> DnsError {
    DnsError {
        message: e.to_string(),
        advice: Some(
            "check that the provider's API is up and reachable from here (proxy, firewall, the address in the settings); `query_timeout` in [dns] is the time one call may take, the provider's own retries included. The step can be retried"
                .to_string(),
        ),
        retryable: true,
    }
}

fn api_error(provider: &str, e: &dns_update::Error) -> DnsError {
    use dns_update::Error as E;
    let (what, retryable) = match e {
        E::Unauthorized => ("the credentials were refused (unauthorized)".to_string(), false),
        E::NotFound => ("the zone or record was not found".to_string(), false),
        E::BadRequest => ("the request was refused as bad".to_string(), false),
        E::Client(m) | E::Response(m) | E::Protocol(m) => (m.clone(), true),
        // dns-update reports a request that never got an answer (refused, reset) this way.
        E::Api(m) if m.contains("error sending request") => (format!("the API did not answer: {m}"), true),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Two secrets as `tsig-keygen` prints them (base64 of 32 bytes).
    const FIRST: &str = "l14KRMHjSXZlROyRVQE51ovYLNZreq/Swiovo7RhLLA=";
    const SECOND: &str = "3kF9c2Vjb25kLWtleS1zZWNyZXQtZm9yLXRlc3RzIQ==";

    fn from_file(name: &str, algorithm: &str, text: &str) -> Result<(String, String), DnsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.conf");
        std::fs::write(&path, text).unwrap();
        tsig_secret(&TsigKey {
            name: name.to_string(),
            algorithm: algorithm.to_string(),
            secret_env: None,
            secret_file: Some(path.display().to_string()),
        })
    }

    #[test]
    fn a_key_named_after_the_word_secret_is_read() {
        let text = format!("key \"ddns-secret\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{FIRST}\";\n}};\n");
        assert_eq!(from_file("ddns-secret", "hmac-sha256", &text).unwrap().0, FIRST);
    }

    #[test]
    fn the_key_the_runbook_names_is_picked_from_several() {
        let text = format!(
            "// generated by tsig-keygen\nkey \"first\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{FIRST}\";\n}};\n\
             # the one cutover uses\n/* a block\n   comment with key \"fake\" {{ secret \"AAAA\"; }}; in it */\n\
             key cutover-key {{ algorithm hmac-sha256; secret \"{SECOND}\"; }};\n"
        );
        assert_eq!(from_file("cutover-key", "hmac-sha256", &text).unwrap().0, SECOND);
        assert_eq!(from_file("first", "hmac-sha256", &text).unwrap().0, FIRST);
        // DNS names: case and a trailing dot do not matter.
        assert_eq!(from_file("Cutover-Key.", "hmac-sha256", &text).unwrap().0, SECOND);
    }

    #[test]
    fn a_missing_key_lists_the_names_found_and_never_a_secret() {
        let text = format!(
            "key \"first\" {{ algorithm hmac-sha256; secret \"{FIRST}\"; }};\nkey \"second\" {{ algorithm hmac-sha256; secret \"{SECOND}\"; }};\n"
        );
        let e = from_file("cutover", "hmac-sha256", &text).unwrap_err();
        let all = format!("{} {}", e.message, e.advice.clone().unwrap_or_default());
        assert!(all.contains("`cutover`") && all.contains("first, second"), "{all}");
        assert!(!all.contains(FIRST) && !all.contains(SECOND), "{all}");
        // A key of another algorithm than the runbook says would fail at the server.
        let e = from_file("first", "hmac-sha512", &text).unwrap_err();
        assert!(
            e.message.contains("hmac-sha256") && e.message.contains("hmac-sha512"),
            "{}",
            e.message
        );
        // Broken syntax is reported by line, without quoting the file.
        let e = from_file(
            "first",
            "hmac-sha256",
            &format!("key \"first\" {{ secret \"{FIRST}\";\n"),
        )
        .unwrap_err();
        assert!(!e.message.contains(FIRST), "{}", e.message);
    }

    #[test]
    fn a_key_file_that_is_not_a_key_file_is_refused_without_reading_it_all() {
        // `secret_file = "/dev/zero"` by mistake must not fill the memory.
        let e = tsig_secret(&TsigKey {
            name: "cutover".to_string(),
            algorithm: "hmac-sha256".to_string(),
            secret_env: None,
            secret_file: Some("/dev/zero".to_string()),
        })
        .unwrap_err();
        assert!(
            e.message.contains("/dev/zero") && e.message.contains("64 KiB"),
            "{}",
            e.message
        );
        let e = from_file("cutover", "hmac-sha256", &"x".repeat(70 * 1024)).unwrap_err();
        assert!(e.message.contains("over the limit of 64 KiB"), "{}", e.message);
    }

    #[test]
    fn a_file_with_the_secret_alone_still_works() {
        assert_eq!(from_file("any", "hmac-sha256", &format!("{FIRST}\n")).unwrap().0, FIRST);
    }
}
