//! Legacy (unaggregated) discovery: `/version`, `/api`, `/apis`, and one APIResourceList per group version.
//! kubectl asks for aggregated discovery first; an `application/json` answer makes it fall back to these.
//! Also the sliver of `/openapi/v3` kubectl reads before it sends an object.

use serde_json::{Map, Value, json};

use super::resources::{GROUPS, RESOURCES, group_version_served, verbs};

pub(crate) fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:00:12Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub(crate) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

pub(crate) fn api_group_list() -> Value {
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": GROUPS.iter().map(|(g, v)| group_entry(g, v)).collect::<Vec<_>>(),
    })
}

/// `/apis/{group}`: the APIGroup.
pub(crate) fn api_group(group: &str) -> Option<Value> {
    let (g, v) = GROUPS.iter().find(|(g, _)| *g == group)?;
    let mut entry = group_entry(g, v);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// The APIResourceList of one group version (`group` is empty for the core group).
pub(crate) fn resource_list(group: &str, version: &str) -> Value {
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for s in r.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", r.plural, s.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if let Some((g, v)) = s.group_version {
                sub["group"] = json!(g);
                sub["version"] = json!(v);
            }
            resources.push(sub);
        }
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

/// Every group version served, the core group's as `("", "v1")`.
fn group_versions() -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once(("", "v1")).chain(GROUPS.iter().copied())
}

/// `api/v1` or `apis/{group}/{version}`: a group version's path under `/openapi/v3`.
fn openapi_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: where each group version's document is, with a hash of it as the real server
/// gives (clients cache by it).
pub(crate) fn openapi_v3_paths() -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let path = openapi_path(group, version);
        let document = openapi_document(group, version).to_string();
        // FNV-1a: stable across runs, unlike the std hasher.
        let hash = document.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash:016X}")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}` (`gv` is the part after `v3`).
pub(crate) fn openapi_v3_document(gv: &[&str]) -> Option<Value> {
    let (group, version) = match gv {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    group_version_served(group, version).then(|| openapi_document(group, version))
}

/// Only what kubectl looks for before `create`, `replace` or `apply`: each resource's PATCH
/// operation, tagged with its group-version-kind, taking the `fieldValidation` parameter. Finding
/// it, kubectl leaves validation to the server (and sends `fieldValidation=Strict`, which the fake
/// does not enforce) instead of fetching schemas to check the object itself; without it kubectl
/// refuses to send anything unless told `--validate=false`. No schemas: `kubectl explain` and
/// client-side apply's strategic merge have nothing to read here.
fn openapi_document(group: &str, version: &str) -> Value {
    let prefix = format!("/{}", openapi_path(group, version));
    let mut paths = Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group && r.version == version) {
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let patch = json!({
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
        });
        paths.insert(path, json!({"patch": patch}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": self::version()["gitVersion"]},
        "paths": paths,
    })
}
