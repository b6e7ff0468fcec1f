//! What the records of a `dns.*` step hold or get: one value, a set of values (round
//! robin, a load balancer's several addresses), values per record type (dual stack), or
//! any of these per record name (`api` → one load balancer, `app` → another).
//!
//! ```toml
//! from = "192.0.2.10"                                   # one value, every record
//! from = ["192.0.2.10", "192.0.2.11"]                   # a set, order-free
//! to   = { A = "${lb_ip}", AAAA = "${lb_ip6}" }         # per type
//! to   = "${lb_hostname}"                                # a name: the flip makes a CNAME
//! to   = { "api.shop.example." = "${lb1}", "app.shop.example." = ["${lb2}"] }
//! ```
//!
//! Without a type, a value's form tells it: an IPv4 address is an A record, an IPv6
//! address an AAAA record, a host name a CNAME.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::diagnostic::{Diagnostic, Span, did_you_mean};
use super::reader::Reader;
use super::template::Template;
use super::tree::{Node, Value};

/// The record types a runbook can move.
pub const RECORD_TYPES: &[&str] = &["A", "AAAA", "CNAME"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Repr", into = "Repr")]
pub struct Targets {
    pub sets: Vec<TargetSet>,
}

/// Values for one record (or every record), of one type (or of the type their form says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSet {
    /// The record, fully qualified; `None`: every record of `[dns]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `A`, `AAAA` or `CNAME`; `None`: each value's form tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtype: Option<String>,
    pub values: Vec<Template>,
}

/// As the journal holds it: one value or one set for every record as the runbook wrote it
/// (journals from before record sets hold one value), anything else set by set.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    One(Template),
    List(Vec<Template>),
    Sets(Vec<TargetSet>),
}

impl From<Repr> for Targets {
    fn from(r: Repr) -> Self {
        match r {
            Repr::One(t) => Targets::one(t),
            Repr::List(values) => Targets {
                sets: vec![TargetSet {
                    name: None,
                    rtype: None,
                    values,
                }],
            },
            Repr::Sets(sets) => Targets { sets },
        }
    }
}

impl From<Targets> for Repr {
    fn from(t: Targets) -> Self {
        match t.sets.as_slice() {
            [only] if only.name.is_none() && only.rtype.is_none() => match only.values.as_slice() {
                [one] => Repr::One(one.clone()),
                values => Repr::List(values.to_vec()),
            },
            _ => Repr::Sets(t.sets),
        }
    }
}

impl Targets {
    pub fn one(value: Template) -> Self {
        Targets {
            sets: vec![TargetSet {
                name: None,
                rtype: None,
                values: vec![value],
            }],
        }
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.sets.iter().flat_map(|s| s.values.iter())
    }

    pub fn map_templates(&self, f: &dyn Fn(&Template) -> Template) -> Targets {
        Targets {
            sets: self
                .sets
                .iter()
                .map(|s| TargetSet {
                    name: s.name.clone(),
                    rtype: s.rtype.clone(),
                    values: s.values.iter().map(f).collect(),
                })
                .collect(),
        }
    }

    /// The record names given their own values.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.sets.iter().filter_map(|s| s.name.as_deref()).collect();
        out.dedup();
        out
    }

    /// As the runbook would write it, for plans and dialogs.
    pub fn source(&self) -> String {
        let set = |s: &TargetSet| {
            let values: Vec<String> = s.values.iter().map(|t| t.to_source()).collect();
            let inner = if values.len() == 1 {
                format!("\"{}\"", values[0])
            } else {
                format!(
                    "[{}]",
                    values.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ")
                )
            };
            match &s.rtype {
                Some(t) => format!("{t} = {inner}"),
                None => inner,
            }
        };
        let by_name = |sets: &[&TargetSet]| {
            if sets.len() == 1 && sets[0].rtype.is_none() {
                set(sets[0])
            } else {
                format!("{{ {} }}", sets.iter().map(|s| set(s)).collect::<Vec<_>>().join(", "))
            }
        };
        let mut names: Vec<Option<&str>> = Vec::new();
        for s in &self.sets {
            if !names.contains(&s.name.as_deref()) {
                names.push(s.name.as_deref());
            }
        }
        let parts: Vec<String> = names
            .iter()
            .map(|n| {
                let sets: Vec<&TargetSet> = self.sets.iter().filter(|s| s.name.as_deref() == *n).collect();
                match n {
                    Some(name) => format!("\"{name}\" = {}", by_name(&sets)),
                    None => by_name(&sets),
                }
            })
            .collect();
        if names.iter().any(Option::is_some) {
            format!("{{ {} }}", parts.join(", "))
        } else {
            parts.join(", ")
        }
    }
}

/// The record type a value's form says: IPv4 → A, IPv6 → AAAA, a host name → CNAME.
pub fn type_of(value: &str) -> Option<&'static str> {
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => Some("A"),
        Ok(IpAddr::V6(_)) => Some("AAAA"),
        Err(_) if is_host_name(value) => Some("CNAME"),
        Err(_) => None,
    }
}

/// A DNS host name: dot-separated labels of letters, digits and hyphens (and `_`, which
/// some load balancer names carry), at most 253 characters, not all digits.
pub fn is_host_name(value: &str) -> bool {
    let name = value.strip_suffix('.').unwrap_or(value);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        && !name.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !looks_like_a_mistyped_address(name)
}

/// `198.51.100.7O`: four labels, the first three numbers. No load balancer is named so; an
/// address with a typo is.
fn looks_like_a_mistyped_address(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() == 4 && labels[..3].iter().all(|l| l.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `value` can be a record of type `rtype`.
pub fn fits(rtype: &str, value: &str) -> bool {
    type_of(value) == Some(rtype)
}

/// The values a rendered template holds: a variable may hold several, separated by
/// commas or spaces (`${lb_addresses}` = "203.0.113.7, 203.0.113.8").
pub fn split_values(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads `key` of a `dns.*` step: a string, a list of strings, a table per type, or a
/// table per record name of any of those.
pub fn read(r: &Reader<'_>, key: &'static str) -> Option<(Targets, Span)> {
    let node = r.node(key)?;
    let mut sets = Vec::new();
    let ok = match &node.value {
        Value::Table(t) => {
            // Record names hold dots; record types do not.
            let typed = t.entries.iter().all(|(k, _)| !k.name.contains('.'));
            if typed {
                per_type(r, key, None, node, &mut sets)
            } else {
                let mut ok = true;
                for (k, v) in &t.entries {
                    if RECORD_TYPES.contains(&k.name.to_ascii_uppercase().as_str()) {
                        r.sink().push(
                            Diagnostic::error(
                                "bad-value",
                                format!("`{key}` mixes record types and record names"),
                                Some(k.span.clone()),
                            )
                            .with_help(format!(
                                "per name, then per type: {key} = {{ \"api.example.com.\" = {{ A = \"192.0.2.1\" }} }}"
                            )),
                        );
                        ok = false;
                        continue;
                    }
                    let name = super::dns::fqdn(&k.name);
                    ok &= match &v.value {
                        Value::Table(_) => per_type(r, key, Some(&name), v, &mut sets),
                        _ => values(r, key, Some(&name), None, v, &mut sets),
                    };
                }
                ok
            }
        }
        _ => values(r, key, None, None, node, &mut sets),
    };
    if ok && sets.is_empty() {
        r.sink().push(
            Diagnostic::error("bad-value", format!("`{key}` holds no value"), Some(node.span.clone()))
                .with_help("give at least one value; a record set cannot be moved to nothing"),
        );
        return None;
    }
    ok.then(|| (Targets { sets }, node.span.clone()))
}

fn per_type(r: &Reader<'_>, key: &str, name: Option<&str>, node: &Node, sets: &mut Vec<TargetSet>) -> bool {
    let Value::Table(t) = &node.value else { return false };
    let mut ok = true;
    for (k, v) in &t.entries {
        let upper = k.name.to_ascii_uppercase();
        if !RECORD_TYPES.contains(&upper.as_str()) {
            let d = Diagnostic::error(
                "bad-value",
                format!("`{}` in `{key}` is not a record type that can move", k.name),
                Some(k.span.clone()),
            );
            r.sink().push(match did_you_mean(&upper, RECORD_TYPES.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`? Types: A, AAAA, CNAME")),
                None => d.with_help("the types that move are A, AAAA and CNAME"),
            });
            ok = false;
            continue;
        }
        ok &= values(r, key, name, Some(&upper), v, sets);
    }
    ok
}

fn values(
    r: &Reader<'_>,
    key: &str,
    name: Option<&str>,
    rtype: Option<&str>,
    node: &Node,
    sets: &mut Vec<TargetSet>,
) -> bool {
    let wrong = |n: &Node| {
        r.sink().push(
            Diagnostic::error(
                "wrong-type",
                format!(
                    "`{key}` in {} must be a value or a list of values, found {}",
                    r.what,
                    n.value.type_name()
                ),
                Some(n.span.clone()),
            )
            .with_help(format!(
                "write it like: {key} = \"192.0.2.10\", or {key} = [\"192.0.2.10\", \"192.0.2.11\"]"
            )),
        );
    };
    let items: Vec<&Node> = match &node.value {
        Value::Str(_) => vec![node],
        Value::Array(items) => items.iter().collect(),
        _ => {
            wrong(node);
            return false;
        }
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Value::Str(text) = &item.value else {
            wrong(item);
            ok = false;
            continue;
        };
        match Template::parse(text) {
            Ok(t) => {
                if let Some(lit) = t.as_literal() {
                    for v in split_values(&lit) {
                        if let Some(problem) = literal_problem(rtype, &v) {
                            r.sink().push(
                                Diagnostic::error("bad-value", format!("`{v}` in `{key}` {problem}"), Some(item.span.clone()))
                                    .with_help("an A record holds an IPv4 address, an AAAA record an IPv6 address, a CNAME a host name"),
                            );
                            ok = false;
                        }
                    }
                }
                out.push(t);
            }
            // Interpolation already reported malformed references.
            Err(_) => ok = false,
        }
    }
    let says_nothing = out
        .iter()
        .all(|t| t.as_literal().is_some_and(|v| split_values(&v).is_empty()));
    if (out.is_empty() || says_nothing) && ok {
        r.sink().push(
            Diagnostic::error("bad-value", format!("`{key}` holds no value"), Some(node.span.clone()))
                .with_help("give at least one value; a record set cannot be moved to nothing"),
        );
        return false;
    }
    sets.push(TargetSet {
        name: name.map(str::to_string),
        rtype: rtype.map(str::to_string),
        values: out,
    });
    ok
}

/// Why a literal value cannot be what it is written as, if it cannot.
fn literal_problem(rtype: Option<&str>, value: &str) -> Option<String> {
    match (rtype, type_of(value)) {
        (_, None) => Some("is neither an IP address nor a host name".to_string()),
        (Some(want), Some(is)) if want != is => Some(format!("cannot be a {want} record (it reads as {is})")),
        _ => None,
    }
}

/// Values per record name and type, rendered: what a step compares or writes.
pub type Shapes = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Sorts rendered values into record sets per name and type, for the `records` of
/// `[dns]`. `rendered` holds each set's rendered values in order.
pub fn shape(records: &[String], targets: &Targets, rendered: &[Vec<String>]) -> Result<Shapes, String> {
    let mut out: Shapes = BTreeMap::new();
    let per_name = targets.sets.iter().any(|s| s.name.is_some());
    for name in records {
        if per_name && !targets.sets.iter().any(|s| s.name.as_deref() == Some(name)) {
            return Err(format!("{name} has no value of its own here"));
        }
        out.insert(name.clone(), BTreeMap::new());
    }
    for (set, values) in targets.sets.iter().zip(rendered) {
        let names: Vec<String> = match &set.name {
            Some(n) if !records.contains(n) => {
                return Err(format!("{n} is not one of the records in [dns]"));
            }
            Some(n) => vec![n.clone()],
            None => records.to_vec(),
        };
        for v in values {
            let rtype = match (&set.rtype, type_of(v)) {
                (_, None) => return Err(format!("`{v}` is neither an IP address nor a host name")),
                (Some(want), Some(is)) if want != is => {
                    return Err(format!("`{v}` cannot be a {want} record (it reads as {is})"));
                }
                (_, Some(is)) => is,
            };
            let value = normalise(rtype, v);
            for n in &names {
                let set = out.entry(n.clone()).or_default().entry(rtype.to_string()).or_default();
                if !set.contains(&value) {
                    set.push(value.clone());
                }
            }
        }
    }
    for (name, types) in &out {
        if types.is_empty() {
            return Err(format!("{name} gets no value: a record cannot move to nothing"));
        }
        if let Some(c) = types.get("CNAME") {
            if c.len() > 1 {
                return Err(format!(
                    "{name} would get {} CNAMEs ({}): a name has one at most",
                    c.len(),
                    c.join(", ")
                ));
            }
            if types.len() > 1 {
                return Err(format!(
                    "{name} would hold a CNAME beside {} records: a CNAME stands alone",
                    types
                        .keys()
                        .filter(|t| *t != "CNAME")
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        }
    }
    Ok(out)
}

/// The record types looked at for one name: `configured` (from `[dns] type`) in their
/// order, then any other type that `sides` hold.
pub fn types_for(configured: &[String], sides: &[&BTreeMap<String, Vec<String>>]) -> Vec<String> {
    let mut out: Vec<String> = configured.to_vec();
    for t in RECORD_TYPES {
        if sides.iter().any(|m| m.contains_key(*t)) && !out.iter().any(|o| o == t) {
            out.push((*t).to_string());
        }
    }
    out
}

/// One record set a flip compares and writes: what it must hold now (nothing: it must not
/// exist) and what it gets (nothing: it is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetChange {
    pub name: String,
    pub rtype: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// Every record set a flip from `from` to `to` touches, name by name: the configured types
/// and those either side has. A set neither side has is left alone.
pub fn set_changes(records: &[String], configured: &[String], from: &Shapes, to: &Shapes) -> Vec<SetChange> {
    let empty = BTreeMap::new();
    let mut out = Vec::new();
    for name in records {
        let (f, t) = (from.get(name).unwrap_or(&empty), to.get(name).unwrap_or(&empty));
        // A CNAME stands alone: where one comes or goes, the name's address sets are part
        // of the change, as prerequisites when neither side has them (they must not exist,
        // or a server would skip the CNAME and the addresses would be gone).
        let cname = f.contains_key("CNAME") || t.contains_key("CNAME");
        let mut types = types_for(configured, &[f, t]);
        if cname {
            for extra in ["A", "AAAA"] {
                if !types.iter().any(|x| x == extra) {
                    types.insert(0, extra.to_string());
                }
            }
            types.sort_by_key(|x| RECORD_TYPES.iter().position(|r| r == x));
        }
        for rtype in types {
            let (fv, tv) = (
                f.get(&rtype).cloned().unwrap_or_default(),
                t.get(&rtype).cloned().unwrap_or_default(),
            );
            if fv.is_empty() && tv.is_empty() && !(cname && (rtype == "A" || rtype == "AAAA")) {
                continue;
            }
            out.push(SetChange {
                name: name.clone(),
                rtype,
                from: fv,
                to: tv,
            });
        }
    }
    out
}

/// The values of `targets` when every one is written out (no variable left), sorted into
/// record sets; `None` while a variable is still to be filled in or the values do not fit.
pub fn literal_shape(records: &[String], targets: &Targets) -> Option<Shapes> {
    shape(records, targets, &literal_values(targets)?).ok()
}

/// Each set's values when every one is written out; `None` while a variable is left.
pub fn literal_values(targets: &Targets) -> Option<Vec<Vec<String>>> {
    targets
        .sets
        .iter()
        .map(|s| {
            s.values
                .iter()
                .map(|t| t.as_literal().map(|v| split_values(&v)))
                .collect::<Option<Vec<Vec<String>>>>()
                .map(|v| v.concat())
        })
        .collect()
}

/// One spelling for a value: addresses as the standard library prints them, names
/// lower case with a trailing dot.
pub fn normalise(rtype: &str, value: &str) -> String {
    match rtype {
        "A" | "AAAA" => value
            .parse::<IpAddr>()
            .map_or_else(|_| value.to_string(), |ip| ip.to_string()),
        _ => super::dns::fqdn(value),
    }
}

/// The shapes of a record set's values, for the runbook's JSON Schema: one value, a list, a
/// table by record type (`{ A = "…", AAAA = "…" }`), or a table by record name (each a value,
/// a list or a table by type).
pub(crate) fn schema(description: &str, example: serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let values = json!({"anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
    ]});
    // Record types are read in any case: `a` is `A`.
    let any_case: Vec<String> = RECORD_TYPES
        .iter()
        .map(|t| {
            t.chars()
                .map(|c| format!("[{}{}]", c, c.to_ascii_lowercase()))
                .collect::<String>()
        })
        .collect();
    let by_type = json!({
        "type": "object",
        "propertyNames": {"pattern": format!("^(?:{})$", any_case.join("|"))},
        "additionalProperties": values,
    });
    json!({
        "description": format!(
            "{description}. One value, a list, a table by record type ({}) or a table by record name",
            RECORD_TYPES.join(", ")
        ),
        "anyOf": [
            values["anyOf"][0],
            values["anyOf"][1],
            {"type": "object", "additionalProperties": {"anyOf": [values["anyOf"][0], values["anyOf"][1], by_type]}},
        ],
        "examples": [example],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Template {
        Template::parse(s).unwrap()
    }

    fn records() -> Vec<String> {
        vec!["api.shop.example.".to_string(), "app.shop.example.".to_string()]
    }

    #[test]
    fn a_value_form_tells_its_type() {
        assert_eq!(type_of("192.0.2.10"), Some("A"));
        assert_eq!(type_of("2001:db8::7"), Some("AAAA"));
        assert_eq!(type_of("my-elb-123.us-east-1.elb.amazonaws.com"), Some("CNAME"));
        assert_eq!(type_of("k8s-shop-web-1a2b.elb.amazonaws.com."), Some("CNAME"));
        assert_eq!(type_of("not a name"), None);
        assert_eq!(type_of("198.51.100.7O"), None, "an address with a typo is no host name");
        assert_eq!(type_of("192.0.2"), None);
        assert_eq!(type_of(""), None);
    }

    #[test]
    fn sets_are_sorted_by_name_and_type_and_mixed_stacks_split() {
        let targets = Targets {
            sets: vec![TargetSet {
                name: None,
                rtype: None,
                values: vec![t("192.0.2.11"), t("192.0.2.10"), t("2001:DB8::10")],
            }],
        };
        let rendered = vec![vec!["192.0.2.11".into(), "192.0.2.10".into(), "2001:DB8::10".into()]];
        let s = shape(&records(), &targets, &rendered).unwrap();
        assert_eq!(s["api.shop.example."]["A"], vec!["192.0.2.11", "192.0.2.10"]);
        assert_eq!(s["app.shop.example."]["AAAA"], vec!["2001:db8::10"]);
    }

    #[test]
    fn per_name_targets_must_cover_every_record_and_only_those() {
        let targets = Targets {
            sets: vec![TargetSet {
                name: Some("api.shop.example.".into()),
                rtype: None,
                values: vec![t("${lb1}")],
            }],
        };
        let e = shape(&records(), &targets, &[vec!["203.0.113.1".into()]]).unwrap_err();
        assert!(e.contains("app.shop.example."), "{e}");
        let targets = Targets {
            sets: vec![
                TargetSet {
                    name: Some("api.shop.example.".into()),
                    rtype: None,
                    values: vec![t("${lb1}")],
                },
                TargetSet {
                    name: Some("app.shop.example.".into()),
                    rtype: None,
                    values: vec![t("${lb2}")],
                },
            ],
        };
        let s = shape(
            &records(),
            &targets,
            &[vec!["203.0.113.1".into()], vec!["lb2.elb.example.net".into()]],
        )
        .unwrap();
        assert_eq!(s["api.shop.example."]["A"], vec!["203.0.113.1"]);
        assert_eq!(s["app.shop.example."]["CNAME"], vec!["lb2.elb.example.net."]);
    }

    #[test]
    fn a_cname_stands_alone_and_a_type_must_fit() {
        let both = Targets {
            sets: vec![TargetSet {
                name: None,
                rtype: None,
                values: vec![t("lb.example.net"), t("192.0.2.1")],
            }],
        };
        let e = shape(&records(), &both, &[vec!["lb.example.net".into(), "192.0.2.1".into()]]).unwrap_err();
        assert!(e.contains("stands alone"), "{e}");
        let typed = Targets {
            sets: vec![TargetSet {
                name: None,
                rtype: Some("AAAA".into()),
                values: vec![t("${x}")],
            }],
        };
        let e = shape(&records(), &typed, &[vec!["192.0.2.1".into()]]).unwrap_err();
        assert!(e.contains("cannot be a AAAA"), "{e}");
    }

    #[test]
    fn a_cname_change_takes_the_address_sets_with_it_and_nothing_moves_to_nothing() {
        let records = vec!["api.shop.example.".to_string()];
        let from = shape(&records, &Targets::one(t("192.0.2.10")), &[vec!["192.0.2.10".into()]]).unwrap();
        let to = shape(
            &records,
            &Targets::one(t("${lb}")),
            &[vec!["lb.elb.example.net".into()]],
        )
        .unwrap();
        let changes = set_changes(&records, &["A".to_string()], &from, &to);
        let sets: Vec<(&str, usize, usize)> = changes
            .iter()
            .map(|c| (c.rtype.as_str(), c.from.len(), c.to.len()))
            .collect();
        // The AAAA set must not exist: a server would skip a CNAME beside it.
        assert_eq!(sets, vec![("A", 1, 0), ("AAAA", 0, 0), ("CNAME", 0, 1)]);
        let e = shape(&records, &Targets::one(t("${lb}")), &[Vec::new()]).unwrap_err();
        assert!(e.contains("gets no value"), "{e}");
    }

    #[test]
    fn a_journal_from_before_record_sets_reads_as_one_value_and_every_shape_reads_back() {
        let old: Targets = serde_json::from_str("\"${vm_ip}\"").unwrap();
        assert_eq!(old, Targets::one(t("${vm_ip}")));
        assert_eq!(serde_json::to_string(&old).unwrap(), "\"${vm_ip}\"");
        let list = Targets {
            sets: vec![TargetSet {
                name: None,
                rtype: None,
                values: vec![t("192.0.2.10"), t("192.0.2.11")],
            }],
        };
        let typed = Targets {
            sets: vec![TargetSet {
                name: Some("api.example.com.".into()),
                rtype: Some("AAAA".into()),
                values: vec![t("${lb_ip6}")],
            }],
        };
        for shape in [old, list, typed] {
            let json = serde_json::to_string(&shape).unwrap();
            assert_eq!(serde_json::from_str::<Targets>(&json).unwrap(), shape, "{json}");
        }
    }

    #[test]
    fn the_source_reads_as_the_runbook_wrote_it() {
        let targets = Targets {
            sets: vec![
                TargetSet {
                    name: None,
                    rtype: Some("A".into()),
                    values: vec![t("${lb_ip}")],
                },
                TargetSet {
                    name: None,
                    rtype: Some("AAAA".into()),
                    values: vec![t("2001:db8::7"), t("2001:db8::8")],
                },
            ],
        };
        assert_eq!(
            targets.source(),
            "{ A = \"${lb_ip}\", AAAA = [\"2001:db8::7\", \"2001:db8::8\"] }"
        );
        assert_eq!(Targets::one(t("192.0.2.10")).source(), "\"192.0.2.10\"");
    }
}
