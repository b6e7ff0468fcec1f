//! The `[dns]` section, and what the `dns.*` step kinds (in `steps/`) share.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::diagnostic::{Diagnostic, Span, did_you_mean};
use super::model::{DnsConfig, DnsProvider, Runbook, TsigKey};
use super::reader::Reader;
use super::schema::{self as s, Table};
use super::targets::{RECORD_TYPES, Targets};
use super::tree::{Node, Value};
use serde_json::json;

pub const DEFAULT_CUTOVER_TTL: u32 = 60;
pub const DEFAULT_TTL_LEAD_TIME: Duration = Duration::from_secs(24 * 3600);
/// How long one DNS query may take in all (its retransmissions included).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// With a hosted provider, `query_timeout` also bounds each call to its API (over HTTPS, the
/// provider's own retries included): a longer default.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(600);

/// How long every authoritative server has to serve a change a step waits for (the TTL
/// step's and the revert's default, also for journals written before they had one).
pub(crate) fn default_wait() -> Duration {
    DEFAULT_VERIFY_TIMEOUT
}
pub const DEFAULT_RESOLVER_WAIT: Duration = Duration::from_secs(120);

/// Hosted providers reached through the `dns-update` crate, with the settings and
/// credentials each needs.
pub const HOSTED: &[(&str, &[&str], &[&str])] = &[
    ("pdns", &["api_url", "server_id"], &["api_key"]),
    ("cloudflare", &["email"], &["api_token"]),
    ("digitalocean", &[], &["api_token"]),
    ("hetzner", &[], &["api_token"]),
    ("desec", &[], &["api_token"]),
    (
        "route53",
        &["region", "hosted_zone_id", "endpoint"],
        &["access_key_id", "secret_access_key"],
    ),
];

pub const PROVIDERS: &[&str] = &[
    "rfc2136",
    "manual",
    "pdns",
    "cloudflare",
    "digitalocean",
    "hetzner",
    "desec",
    "route53",
];

pub const TSIG_ALGORITHMS: &[&str] = &["hmac-sha256", "hmac-sha384", "hmac-sha512"];

/// Reads `[dns]`.
pub fn section(r: &Reader<'_>) -> Option<DnsConfig> {
    let (provider_name, provider_span) = r
        .string("provider")
        .unwrap_or_else(|| ("rfc2136".to_string(), r.span.clone()));
    let zone = r.required_string("zone", "\"example.com\"");
    let zone = zone.map(|(z, span)| (fqdn(&z), span));
    let provider = match provider_name.as_str() {
        "rfc2136" => rfc2136(r),
        "manual" => Some(DnsProvider::Manual),
        name => match HOSTED.iter().find(|(n, _, _)| *n == name) {
            Some((name, settings, credentials)) => hosted(r, name, settings, credentials),
            None => {
                let d = Diagnostic::error(
                    "unknown-provider",
                    format!("unknown DNS provider `{name}`"),
                    Some(provider_span.clone()),
                );
                r.sink().push(match did_you_mean(name, PROVIDERS.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`? Providers: {}", PROVIDERS.join(", "))),
                    None => d.with_help(format!("providers: {}", PROVIDERS.join(", "))),
                });
                None
            }
        },
    };

    let records = r.string_list("records");
    if records.is_empty() && r.table.get("records").is_none() {
        r.missing("records", "[\"api.example.com\", \"app.example.com\"]");
    }
    let mut names = Vec::new();
    for (name, span) in &records {
        let name = fqdn(name);
        if let Some((zone, _)) = &zone
            && !in_zone(&name, zone)
        {
            r.sink().push(
                Diagnostic::error(
                    "record-outside-zone",
                    format!("record `{name}` is not in zone `{zone}`"),
                    Some(span.clone()),
                )
                .with_help("list records of the zone only, or set `zone` to the zone that holds them"),
            );
        }
        if names.contains(&name) {
            r.sink().push(
                Diagnostic::error(
                    "duplicate-record",
                    format!("record `{name}` is listed twice"),
                    Some(span.clone()),
                )
                .with_help("list each record once"),
            );
        }
        names.push(name);
    }
    let record_types = record_types(r);
    let cutover_ttl = r
        .duration("cutover_ttl")
        .map_or(DEFAULT_CUTOVER_TTL, |d| d.as_secs().min(u64::from(u32::MAX)) as u32);
    let ttl_lead_time = r.duration("ttl_lead_time").unwrap_or(DEFAULT_TTL_LEAD_TIME);
    let nameservers = r.string_list("nameservers");
    for (ns, span) in &nameservers {
        let addr = ns.split_once('=').map_or(ns.as_str(), |(_, a)| a);
        if parse_server(addr, 53).is_none() {
            r.sink().push(
                Diagnostic::error(
                    "bad-address",
                    format!("nameserver `{ns}` is not an address"),
                    Some(span.clone()),
                )
                .with_help("write `IP`, `IP:port` or `name=IP:port`, e.g. \"ns1.example.com=192.0.2.53:53\""),
            );
        }
    }
    let resolvers = r.string_list("resolvers");
    for (res, span) in &resolvers {
        if parse_server(res, 53).is_none() {
            r.sink().push(
                Diagnostic::error(
                    "bad-address",
                    format!("resolver `{res}` is not an address"),
                    Some(span.clone()),
                )
                .with_help("write an IP address, e.g. \"1.1.1.1\" or \"[2606:4700::1111]:53\""),
            );
        }
    }
    let default_port = match &provider {
        Some(DnsProvider::Rfc2136 { server, .. }) => parse_server(server, 53).map_or(53, |a| a.port()),
        _ => 53,
    };
    let nameserver_port = r.int("nameserver_port", 1, 65535).map_or(default_port, |p| p as u16);
    if nameservers.is_empty()
        && matches!(provider, Some(DnsProvider::Manual | DnsProvider::Hosted { .. }))
        && r.table.get("nameservers").is_none()
    {
        // Discovery asks the system's resolver: say so, it matters for split-horizon setups.
        r.sink().push(
            Diagnostic::warning(
                "nameservers-discovered",
                "the authoritative nameservers will be found through this machine's resolver",
                Some(r.span.clone()),
            )
            .with_help(
                "list them to be sure which servers are verified: nameservers = [\"ns1.example.com=192.0.2.53\"]",
            ),
        );
    }
    let query_timeout = r.duration("query_timeout").unwrap_or(match provider {
        Some(DnsProvider::Hosted { .. }) => DEFAULT_API_TIMEOUT,
        _ => DEFAULT_QUERY_TIMEOUT,
    });
    let config = DnsConfig {
        provider: provider?,
        zone: zone?.0,
        records: names,
        record_types,
        cutover_ttl,
        ttl_lead_time,
        nameservers: nameservers.into_iter().map(|(n, _)| n).collect(),
        nameserver_port,
        resolvers: resolvers.into_iter().map(|(n, _)| n).collect(),
        query_timeout,
        poll_interval: r.duration("poll_interval").unwrap_or(DEFAULT_POLL_INTERVAL),
    };
    Some(config)
}

fn rfc2136(r: &Reader<'_>) -> Option<DnsProvider> {
    let server = r.required_string("server", "\"ns1.example.com:53\"");
    if let Some((s, span)) = &server
        && !looks_like_server(s)
    {
        r.sink().push(
            Diagnostic::error(
                "bad-address",
                format!("`server` is `{s}`, not host:port"),
                Some(span.clone()),
            )
            .with_help("write the primary's address, e.g. server = \"192.0.2.53:53\""),
        );
    }
    let tsig = r.table("tsig_key", "`tsig_key` in [dns]").and_then(|t| {
        let name = t.required_string("name", "\"cutover-key\"");
        let algorithm = match t.string("algorithm") {
            None => "hmac-sha256".to_string(),
            Some((a, span)) => {
                let lower = a.to_ascii_lowercase();
                if !TSIG_ALGORITHMS.contains(&lower.as_str()) {
                    t.sink().push(
                        Diagnostic::error(
                            "bad-value",
                            format!("TSIG algorithm `{a}` is not supported"),
                            Some(span),
                        )
                        .with_help(format!("use one of {}", TSIG_ALGORITHMS.join(", "))),
                    );
                }
                lower
            }
        };
        let secret_env = t.string("secret_env").map(|(s, _)| s);
        let secret_file = t.string("secret_file").map(|(s, _)| s);
        if secret_env.is_none() && secret_file.is_none() {
            t.missing(
                "secret_env",
                "\"CUTOVER_TSIG_SECRET\" (or secret_file = \"/path/to/key\")",
            );
        }
        t.finish();
        Some(TsigKey {
            name: name?.0,
            algorithm,
            secret_env,
            secret_file,
        })
    });
    Some(DnsProvider::Rfc2136 {
        server: server?.0,
        tsig,
    })
}

fn hosted(r: &Reader<'_>, name: &str, settings: &[&str], credentials: &[&str]) -> Option<DnsProvider> {
    let literal = |key: &'static str| -> BTreeMap<String, String> {
        r.template_map(key)
            .into_iter()
            .filter_map(|(k, v)| v.as_literal().map(|v| (k, v)))
            .collect()
    };
    let values = literal("settings");
    for k in values.keys() {
        if !settings.contains(&k.as_str()) {
            r.sink().push(
                Diagnostic::error(
                    "unknown-field",
                    format!("`settings.{k}` is not a setting of provider `{name}`"),
                    r.node("settings").map(|n| n.span.clone()),
                )
                .with_help(if settings.is_empty() {
                    format!("provider {name} takes no settings")
                } else {
                    format!("settings of {name}: {}", settings.join(", "))
                }),
            );
        }
    }
    let creds = literal("credentials_env");
    let span = r
        .node("credentials_env")
        .map_or_else(|| r.span.clone(), |n| n.span.clone());
    for (k, v) in &creds {
        if !credentials.contains(&k.as_str()) {
            r.sink().push(
                Diagnostic::error(
                    "unknown-field",
                    format!("`credentials_env.{k}` is not a credential of provider `{name}`"),
                    Some(span.clone()),
                )
                .with_help(format!("credentials of {name}: {}", credentials.join(", "))),
            );
        }
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            r.sink().push(
                Diagnostic::error(
                    "bad-env-name",
                    format!("`credentials_env.{k}` must name an environment variable, not hold a value"),
                    Some(span.clone()),
                )
                .with_help(format!(
                    "write the variable's name: credentials_env = {{ {k} = \"DNS_API_TOKEN\" }}"
                ))
                .masking_the_value(),
            );
        }
    }
    let missing: Vec<&str> = credentials
        .iter()
        .copied()
        .filter(|c| !creds.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        r.sink().push(
            Diagnostic::error(
                "missing-field",
                format!("provider `{name}` needs credentials: {}", missing.join(", ")),
                Some(span),
            )
            .with_help(format!(
                "name the environment variables that hold them: credentials_env = {{ {} }}",
                missing
                    .iter()
                    .map(|c| format!("{c} = \"{}\"", c.to_ascii_uppercase()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    Some(DnsProvider::Hosted {
        name: name.to_string(),
        settings: values,
        credentials_env: creds,
    })
}

/// What every `dns.*` step's description starts from: the records and the servers asked.
pub(crate) struct Described<'a> {
    pub config: &'a DnsConfig,
    /// `www.shop.example. A+AAAA`
    pub records: String,
    /// `nameservers …`, or every authoritative server of the zone.
    pub servers: String,
}

/// Describes a `dns.*` step: `body` says what it does; a step that `writes` also says how.
pub(crate) fn describe(
    runbook: &Runbook,
    lines: &mut Vec<String>,
    writes: bool,
    body: impl FnOnce(&Described<'_>, &mut Vec<String>),
) {
    let Some(d) = runbook.dns.as_ref() else {
        lines.push("needs the [dns] section".to_string());
        return;
    };
    let described = Described {
        config: d,
        records: format!("{} {}", d.records.join(", "), d.record_types.join("+")),
        servers: if d.nameservers.is_empty() {
            format!("all authoritative nameservers of {} (from its NS records)", d.zone)
        } else {
            format!("nameservers {}", d.nameservers.join(", "))
        },
    };
    body(&described, lines);
    if writes {
        lines.push(format!("via {}", d.via()));
    }
}

impl DnsConfig {
    /// How records are changed, said plainly: "RFC 2136 UPDATE to 192.0.2.53:53 signed with TSIG key cutover".
    pub fn via(&self) -> String {
        match &self.provider {
            DnsProvider::Rfc2136 { server, tsig } => match tsig {
                Some(k) => format!(
                    "RFC 2136 UPDATE to {server} signed with TSIG key {} ({})",
                    k.name, k.algorithm
                ),
                None => format!("RFC 2136 UPDATE to {server} (unsigned)"),
            },
            DnsProvider::Manual => "the operator, by hand in the provider's console".to_string(),
            DnsProvider::Hosted { name, .. } => {
                format!("the {name} API (read, compare, then one call per record set: not atomic)")
            }
        }
    }

    /// Whether every record set moves in one change, said plainly.
    pub fn atomicity(&self) -> String {
        match &self.provider {
            DnsProvider::Rfc2136 { .. } => {
                "atomic: one UPDATE message; the server applies all of it or none of it".to_string()
            }
            DnsProvider::Hosted { name, .. } => format!(
                "NOT atomic: the {name} API is read and compared first, then each record set is written by its own call; \
                 a failure between calls leaves some moved (the step says which; running it again completes it)"
            ),
            DnsProvider::Manual => "by hand: the operator makes the change shown".to_string(),
        }
    }
}

pub(crate) fn required_targets(r: &Reader<'_>, key: &'static str, example: &str) -> Option<Targets> {
    if r.table.get(key).is_none() {
        r.node(key);
        r.missing(key, example);
        return None;
    }
    super::targets::read(r, key).map(|(t, _)| t)
}

/// `type` in `[dns]`: one record type, or several that move together (`["A", "AAAA"]`).
fn record_types(r: &Reader<'_>) -> Vec<String> {
    let Some(node) = r.node("type") else {
        return vec!["A".to_string()];
    };
    let items: Vec<&Node> = match &node.value {
        Value::Array(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Str(t) = &item.value else {
            r.sink().push(
                Diagnostic::error(
                    "wrong-type",
                    "`type` in [dns] must be a record type or a list of them",
                    Some(item.span.clone()),
                )
                .with_help("type = \"A\", or type = [\"A\", \"AAAA\"] for dual stack"),
            );
            continue;
        };
        let upper = t.to_ascii_uppercase();
        if !RECORD_TYPES.contains(&upper.as_str()) {
            r.sink().push(
                Diagnostic::error("bad-value", format!("record `type` is `{t}`"), Some(item.span.clone()))
                    .with_help("the records that move are A, AAAA or CNAME records"),
            );
        } else if out.contains(&upper) {
            r.sink().push(
                Diagnostic::error(
                    "bad-value",
                    format!("record type `{upper}` is listed twice"),
                    Some(item.span.clone()),
                )
                .with_help("list each type once"),
            );
        } else {
            out.push(upper);
        }
    }
    if out.contains(&"CNAME".to_string()) && out.len() > 1 {
        r.sink().push(
            Diagnostic::error(
                "bad-value",
                "a CNAME cannot move together with addresses",
                Some(node.span.clone()),
            )
            .with_help("type = [\"A\", \"AAAA\"] moves addresses; a flip to a host name makes the CNAME by itself"),
        );
    }
    if out.is_empty() {
        out.push("A".to_string());
    }
    out
}

/// `name` with a trailing dot, lower case.
pub fn fqdn(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}")) || zone == "."
}

/// `IP`, `IP:port` or `[v6]:port` as a socket address (`default_port` when none is given).
pub fn parse_server(text: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, default_port))
}

/// `host:port`, `host` or an address: resolved at run time.
fn looks_like_server(text: &str) -> bool {
    if parse_server(text, 53).is_some() {
        return true;
    }
    let (host, port) = text.rsplit_once(':').unwrap_or((text, "53"));
    !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && port.parse::<u16>().is_ok()
}

/// Where the spans of `[dns]` are, for diagnostics about steps that need it.
pub fn missing_section(step_span: Span) -> Diagnostic {
    Diagnostic::error(
        "dns-section-missing",
        "this DNS step needs a [dns] section: which provider, zone and records",
        Some(step_span),
    )
    .with_help(
        "add:\n[dns]\nprovider = \"rfc2136\"\nserver = \"ns1.example.com:53\"\nzone = \"example.com\"\nrecords = [\"api.example.com\"]\ntsig_key = { name = \"cutover\", secret_env = \"CUTOVER_TSIG_SECRET\" }",
    )
}

/// `[dns]` in the runbook's JSON Schema: the fields every provider shares, then each
/// provider's own.
pub(crate) fn schema() -> Table {
    use crate::duration::format as dur;
    let mut providers = vec![
        (
            "rfc2136",
            Table::new("RFC 2136 dynamic updates to the primary nameserver")
                .required(
                    "server",
                    s::string(
                        "The primary's address that takes the UPDATE: host:port or IP",
                        "192.0.2.53:53",
                    ),
                )
                .field(
                    "tsig_key",
                    s::table(
                        Table::new("The TSIG key that signs the updates (its secret stays out of the runbook)")
                            .required(
                                "name",
                                s::string("The key's name, as the server knows it", "cutover-key"),
                            )
                            .field(
                                "algorithm",
                                s::words(
                                    TSIG_ALGORITHMS,
                                    "The key's algorithm. Default: hmac-sha256",
                                    "hmac-sha256",
                                ),
                            )
                            .field(
                                "secret_env",
                                s::env_name(
                                    "The environment variable that holds the base64 secret",
                                    "CUTOVER_TSIG_SECRET",
                                ),
                            )
                            .field(
                                "secret_file",
                                s::string("A file that holds the base64 secret", "/etc/cutover/tsig.key"),
                            )
                            .rule(json!({"anyOf": [{"required": ["secret_env"]}, {"required": ["secret_file"]}]})),
                    ),
                ),
        ),
        (
            "manual",
            Table::new("The operator changes the records by hand; cutover verifies"),
        ),
    ];
    for (name, settings, credentials) in HOSTED {
        let mut setting_props = serde_json::Map::new();
        for k in *settings {
            setting_props.insert(k.to_string(), json!({"type": "string"}));
        }
        let mut credential_props = serde_json::Map::new();
        let mut example = serde_json::Map::new();
        for k in *credentials {
            credential_props.insert(k.to_string(), json!({"type": "string", "pattern": "^[A-Za-z0-9_]+$"}));
            example.insert(k.to_string(), json!(k.to_ascii_uppercase()));
        }
        let settings_example: serde_json::Map<String, serde_json::Value> = settings
            .iter()
            .map(|k| (k.to_string(), json!(format!("my-{k}"))))
            .collect();
        providers.push((
            name,
            Table::new(format!("The {name} API"))
                .field(
                    "settings",
                    json!({
                        "type": "object",
                        "description": if settings.is_empty() {
                            format!("Provider {name} takes no settings")
                        } else {
                            format!("Settings of provider {name}: {}", settings.join(", "))
                        },
                        "properties": setting_props,
                        "additionalProperties": false,
                        "examples": [settings_example],
                    }),
                )
                .required(
                    "credentials_env",
                    json!({
                        "type": "object",
                        "description": format!(
                            "The environment variables that hold provider {name}'s credentials: {}",
                            credentials.join(", ")
                        ),
                        "properties": credential_props,
                        "required": credentials,
                        "additionalProperties": false,
                        "examples": [example],
                    }),
                ),
        ));
    }
    Table::new("Which DNS provider changes the records, the zone, and the records that move")
        .field(
            "provider",
            s::words(PROVIDERS, "How records are changed. Default: rfc2136", "rfc2136"),
        )
        .required("zone", s::string("The zone that holds the records", "example.com"))
        .required(
            "records",
            s::strings("The records that move, each in the zone", &["api.example.com", "www.example.com"]),
        )
        .field(
            "type",
            s::any_of(
                "The record type that moves, or several that move together (dual stack). Default: A",
                vec![
                    json!({"type": "string", "pattern": RECORD_TYPE_PATTERN}),
                    json!({"type": "array", "items": {"type": "string", "pattern": RECORD_TYPE_PATTERN}}),
                ],
                json!("A"),
            ),
        )
        .field(
            "cutover_ttl",
            s::duration(
                &format!("The TTL the records carry around the flip. Default: {DEFAULT_CUTOVER_TTL}s"),
                "60s",
            ),
        )
        .field(
            "ttl_lead_time",
            s::duration(
                &format!(
                    "How long before the flip the TTL must have been lowered. Default: {}",
                    dur(DEFAULT_TTL_LEAD_TIME)
                ),
                "24h",
            ),
        )
        .field(
            "nameservers",
            s::strings(
                "The authoritative nameservers to verify: `IP`, `IP:port` or `name=IP:port`. Default: found through the zone's NS records",
                &["ns1.example.com=192.0.2.53:53"],
            ),
        )
        .field(
            "resolvers",
            s::strings("Resolvers polled after a change (reported, not required)", &["1.1.1.1"]),
        )
        .field(
            "nameserver_port",
            s::int(1, 65535, "The port of nameservers listed without one. Default: the server's port, or 53", 53),
        )
        .field(
            "query_timeout",
            s::duration(
                &format!(
                    "How long one DNS query may take (with a hosted provider: one API call). Default: {} ({} with a hosted provider)",
                    dur(DEFAULT_QUERY_TIMEOUT),
                    dur(DEFAULT_API_TIMEOUT)
                ),
                "3s",
            ),
        )
        .field(
            "poll_interval",
            s::duration(
                &format!("The pause between polls while waiting for the servers. Default: {}", dur(DEFAULT_POLL_INTERVAL)),
                "2s",
            ),
        )
        .variants("provider", Some("rfc2136"), providers)
}

/// `A`, `AAAA` or `CNAME`, in any case.
const RECORD_TYPE_PATTERN: &str = "^(?:[Aa]|[Aa][Aa][Aa][Aa]|[Cc][Nn][Aa][Mm][Ee])$";
