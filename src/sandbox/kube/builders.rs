//! Typical objects with the shapes a real cluster reports.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::store::{now, rolled_out_status, template_hash};

fn image(app: &str) -> String {
    format!("registry.example.com/{app}:1.0.0")
}

/// A Deployment of `replicas` pods labelled `app=<app>`, with one container, fully rolled out.
pub fn deployment(namespace: &str, name: &str, app: &str, replicas: i32) -> Deployment {
    let value = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": 1,
            "labels": {"app": app},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {
                    "containers": [{
                        "name": app,
                        "image": image(app),
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": rolled_out_status(name, 1, i64::from(replicas)),
    });
    serde_json::from_value(value).expect("a Deployment")
}

/// A scheduled, Running, Ready pod labelled `app=<app>` (and a pod-template-hash), one container
/// exposing `ports`, no restarts.
pub fn ready_pod(namespace: &str, name: &str, app: &str, ports: &[u16]) -> Pod {
    let ts = now();
    let ports: Vec<_> = ports
        .iter()
        .map(|p| json!({"containerPort": p, "protocol": "TCP"}))
        .collect();
    let hash = template_hash(app);
    // A stable, plausible pod IP from the name.
    let last = name.bytes().fold(7u32, |a, b| (a * 31 + u32::from(b)) % 250) + 2;
    let condition = |ty: &str| json!({"type": ty, "status": "True", "lastProbeTime": null, "lastTransitionTime": ts});
    let value = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": app, "pod-template-hash": hash},
        },
        "spec": {
            "containers": [{
                "name": app,
                "image": image(app),
                "imagePullPolicy": "IfNotPresent",
                "ports": ports,
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "nodeName": "sandbox-node",
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": "Running",
            "conditions": [
                condition("PodReadyToStartContainers"),
                condition("Initialized"),
                condition("Ready"),
                condition("ContainersReady"),
                condition("PodScheduled"),
            ],
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": format!("10.244.0.{last}"),
            "podIPs": [{"ip": format!("10.244.0.{last}")}],
            "startTime": ts,
            "qosClass": "BestEffort",
            "containerStatuses": [{
                "name": app,
                "ready": true,
                "started": true,
                "restartCount": 0,
                "image": image(app),
                "imageID": format!("registry.example.com/{app}@sha256:{}", "0".repeat(64)),
                "containerID": format!("containerd://{}", "a".repeat(64)),
                "state": {"running": {"startedAt": ts}},
                "lastState": {},
            }],
        },
    });
    serde_json::from_value(value).expect("a Pod")
}
