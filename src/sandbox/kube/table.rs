//! `meta.k8s.io/v1` Table answers, what `kubectl get` (without `-o`) asks for with `Accept: ...;as=Table`.

use serde_json::{Value, json};

use super::resources::ResourceInfo;

fn column(name: &str, ty: &str, description: &str) -> Value {
    let mut c = json!({"name": name, "type": ty, "format": "", "description": description, "priority": 0});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

/// Like the API server's `duration.HumanDuration`.
pub(crate) fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn age(obj: &Value) -> String {
    let Some(ts) = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str) else {
        return "<unknown>".into();
    };
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()),
        Err(_) => "<unknown>".into(),
    }
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn or_none(s: String) -> String {
    if s.is_empty() { "<none>".into() } else { s }
}

fn columns_and_cells(info: &ResourceInfo, objects: &[&Value]) -> (Vec<Value>, Vec<Vec<Value>>) {
    let name_col = column("Name", "string", "Name must be unique within a namespace.");
    let age_col = column(
        "Age",
        "string",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let name = |o: &Value| json!(text(o, "/metadata/name"));
    match info.plural {
        "pods" => (
            vec![
                name_col,
                column(
                    "Ready",
                    "string",
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                column(
                    "Status",
                    "string",
                    "The aggregate status of the containers in this pod.",
                ),
                column(
                    "Restarts",
                    "string",
                    "The number of times the containers in this pod have been restarted.",
                ),
                age_col,
            ],
            objects
                .iter()
                .map(|o| {
                    let statuses = o.pointer("/status/containerStatuses").and_then(Value::as_array);
                    let total = o
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    let ready = statuses.map_or(0, |s| s.iter().filter(|c| c["ready"] == json!(true)).count());
                    let restarts: i64 =
                        statuses.map_or(0, |s| s.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum());
                    let waiting = statuses.and_then(|s| {
                        s.iter().find_map(|c| {
                            c.pointer("/state/waiting/reason")
                                .or_else(|| c.pointer("/state/terminated/reason"))
                                .and_then(Value::as_str)
                        })
                    });
                    let phase = waiting.unwrap_or_else(|| text(o, "/status/phase"));
                    let status = if o.pointer("/metadata/deletionTimestamp").is_some() {
                        "Terminating"
                    } else {
                        phase
                    };
                    vec![
                        name(o),
                        json!(format!("{ready}/{total}")),
                        json!(status),
                        json!(restarts.to_string()),
                        json!(age(o)),
                    ]
                })
                .collect(),
        ),
        "deployments" | "replicasets" | "statefulsets" => (
            vec![
                name_col,
                column("Ready", "string", "Number of the pod with ready state"),
                column(
                    "Up-to-date",
                    "integer",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                ),
                column(
                    "Available",
                    "integer",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age_col,
            ],
            objects
                .iter()
                .map(|o| {
                    let ready = format!("{}/{}", int(o, "/status/readyReplicas"), int(o, "/spec/replicas"));
                    vec![
                        name(o),
                        json!(ready),
                        json!(int(o, "/status/updatedReplicas")),
                        json!(int(o, "/status/availableReplicas")),
                        json!(age(o)),
                    ]
                })
                .collect(),
        ),
        "services" => (
            vec![
                name_col,
                column("Type", "string", "The type of service."),
                column("Cluster-IP", "string", "The IP address of the service."),
                column("External-IP", "string", "The external IP addresses of the service."),
                column("Port(s)", "string", "The ports the service listens on."),
                age_col,
            ],
            objects
                .iter()
                .map(|o| {
                    let ingress = o.pointer("/status/loadBalancer/ingress").and_then(Value::as_array);
                    let external: Vec<&str> = ingress
                        .map(|i| {
                            i.iter()
                                .filter_map(|x| x["ip"].as_str().or_else(|| x["hostname"].as_str()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let ty = text(o, "/spec/type");
                    let external = if !external.is_empty() {
                        external.join(",")
                    } else if ty == "LoadBalancer" {
                        "<pending>".into()
                    } else {
                        "<none>".into()
                    };
                    let ports: Vec<String> = o
                        .pointer("/spec/ports")
                        .and_then(Value::as_array)
                        .map(|ps| {
                            ps.iter()
                                .map(|p| {
                                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                                    match p["nodePort"].as_i64() {
                                        Some(np) => format!("{}:{np}/{proto}", p["port"]),
                                        None => format!("{}/{proto}", p["port"]),
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    vec![
                        name(o),
                        json!(if ty.is_empty() { "ClusterIP" } else { ty }),
                        json!(or_none(text(o, "/spec/clusterIP").to_string())),
                        json!(external),
                        json!(or_none(ports.join(","))),
                        json!(age(o)),
                    ]
                })
                .collect(),
        ),
        "ingresses" => (
            vec![
                name_col,
                column("Class", "string", "The name of the IngressClass resource."),
                column("Hosts", "string", "Hosts that incoming requests are matched against."),
                column(
                    "Address",
                    "string",
                    "Address is a list containing ingress points for the load-balancer",
                ),
                column("Ports", "string", "Ports of TLS configurations that open"),
                age_col,
            ],
            objects
                .iter()
                .map(|o| {
                    let hosts: Vec<&str> = o
                        .pointer("/spec/rules")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(|x| x["host"].as_str()).collect())
                        .unwrap_or_default();
                    let address: Vec<&str> = o
                        .pointer("/status/loadBalancer/ingress")
                        .and_then(Value::as_array)
                        .map(|i| {
                            i.iter()
                                .filter_map(|x| x["ip"].as_str().or_else(|| x["hostname"].as_str()))
                                .collect()
                        })
                        .unwrap_or_default();
                    let tls = o
                        .pointer("/spec/tls")
                        .and_then(Value::as_array)
                        .is_some_and(|t| !t.is_empty());
                    vec![
                        name(o),
                        json!(or_none(text(o, "/spec/ingressClassName").to_string())),
                        json!(if hosts.is_empty() {
                            "*".to_string()
                        } else {
                            hosts.join(",")
                        }),
                        json!(address.join(",")),
                        json!(if tls { "80, 443" } else { "80" }),
                        json!(age(o)),
                    ]
                })
                .collect(),
        ),
        "namespaces" => (
            vec![
                name_col,
                column("Status", "string", "The status of the namespace"),
                age_col,
            ],
            objects
                .iter()
                .map(|o| vec![name(o), json!(text(o, "/status/phase")), json!(age(o))])
                .collect(),
        ),
        "persistentvolumeclaims" => (
            vec![
                name_col,
                column("Status", "string", "The phase of the claim."),
                column("Volume", "string", "The volume bound to the claim."),
                column("Capacity", "string", "The capacity of the volume."),
                column("Access Modes", "string", "The access modes of the volume."),
                column("StorageClass", "string", "The storage class of the claim."),
                age_col,
            ],
            objects
                .iter()
                .map(|o| {
                    let modes: Vec<&str> = o
                        .pointer("/status/accessModes")
                        .and_then(Value::as_array)
                        .map(|m| {
                            m.iter()
                                .filter_map(Value::as_str)
                                .map(|m| match m {
                                    "ReadWriteOnce" => "RWO",
                                    "ReadOnlyMany" => "ROX",
                                    "ReadWriteMany" => "RWX",
                                    "ReadWriteOncePod" => "RWOP",
                                    other => other,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    vec![
                        name(o),
                        json!(text(o, "/status/phase")),
                        json!(text(o, "/spec/volumeName")),
                        json!(text(o, "/status/capacity/storage")),
                        json!(modes.join(",")),
                        json!(or_none(text(o, "/spec/storageClassName").to_string())),
                        json!(age(o)),
                    ]
                })
                .collect(),
        ),
        _ => (
            vec![name_col, age_col],
            objects.iter().map(|o| vec![name(o), json!(age(o))]).collect(),
        ),
    }
}

/// A Table of `objects`; `include_object` is the `includeObject` parameter (`None`, `Metadata` or `Object`).
pub(crate) fn table(info: &ResourceInfo, objects: &[&Value], resource_version: &str, include_object: &str) -> Value {
    let (columns, cells) = columns_and_cells(info, objects);
    let rows: Vec<Value> = objects
        .iter()
        .zip(cells)
        .map(|(o, cells)| {
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = (*o).clone(),
                _ => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o["metadata"],
                    })
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
