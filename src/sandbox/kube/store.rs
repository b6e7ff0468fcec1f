//! The object store: JSON objects by resource type, namespace and name, with the bookkeeping the real
//! server does on every write (uid, resourceVersion, generation, creationTimestamp), a short history
//! of changes for watches, and the one "controller" the fake runs (Deployment status).

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::resources::ResourceInfo;

/// How many past changes a watch can resume from.
const HISTORY: usize = 2000;

/// One change, as a watch reports it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub rv: u64,
    pub group: &'static str,
    pub plural: &'static str,
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

type Key = (&'static str, &'static str);

pub(crate) struct State {
    rv: u64,
    objects: BTreeMap<Key, BTreeMap<(String, String), Value>>,
    pub pod_ports: HashMap<(String, String, u16), SocketAddr>,
    /// (verb, resource) pairs that answer 403.
    pub denies: HashSet<(String, String)>,
    pub expired_tokens: HashSet<String>,
    /// While set, every API request answers with this code and message (an etcd hiccup).
    pub failing: Option<(u16, String)>,
    pub requests: Vec<String>,
    pub auto_rollout: bool,
    history: VecDeque<Arc<Change>>,
    changes: broadcast::Sender<Arc<Change>>,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random (version 4 shaped) UID.
pub(crate) fn new_uid() -> String {
    let mut a = RandomState::new().build_hasher();
    a.write_u64(1);
    let mut b = RandomState::new().build_hasher();
    b.write_u64(2);
    let (x, y) = (a.finish(), b.finish());
    let hex = format!("{x:016x}{y:016x}");
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ['8', '9', 'a', 'b'][(y & 3) as usize],
        &hex[17..20],
        &hex[20..32]
    )
}

/// Random lowercase suffix like the ones `generateName` and ReplicaSet names carry.
pub(crate) fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = RandomState::new().build_hasher();
    h.write_u64(3);
    let mut x = h.finish();
    (0..len)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// A stable pod-template-hash for a name, in the alphabet the real controller uses.
pub(crate) fn template_hash(seed: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // FNV-1a: stable across runs, unlike the std hasher.
    let mut x: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        x ^= u64::from(b);
        x = x.wrapping_mul(0x100000001b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

impl State {
    pub fn new() -> State {
        let (changes, _) = broadcast::channel(1024);
        let mut state = State {
            rv: 100,
            objects: BTreeMap::new(),
            pod_ports: HashMap::new(),
            denies: HashSet::new(),
            expired_tokens: HashSet::new(),
            failing: None,
            requests: Vec::new(),
            auto_rollout: true,
            history: VecDeque::new(),
            changes,
        };
        for ns in ["default", "kube-node-lease", "kube-public", "kube-system"] {
            state.ensure_namespace(ns);
        }
        state
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Subscribe to changes, with the history to resume from (taken under the same lock, so nothing is lost).
    pub fn subscribe(&self) -> (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>) {
        (self.history.iter().cloned().collect(), self.changes.subscribe())
    }

    /// The oldest resourceVersion a watch can still resume from.
    pub fn oldest_history_rv(&self) -> u64 {
        self.history.front().map(|c| c.rv - 1).unwrap_or(self.rv)
    }

    fn record(&mut self, info: &'static ResourceInfo, namespace: &str, kind: &'static str, object: Value) {
        let change = Arc::new(Change {
            rv: self.rv,
            group: info.group,
            plural: info.plural,
            namespace: namespace.to_string(),
            kind,
            object,
        });
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        let _ = self.changes.send(change);
    }

    pub fn get(&self, info: &ResourceInfo, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(info.group, info.plural))?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// Objects of one type, ordered by namespace then name; `None` means every namespace.
    pub fn list(&self, info: &ResourceInfo, namespace: Option<&str>) -> Vec<&Value> {
        let Some(objects) = self.objects.get(&(info.group, info.plural)) else {
            return Vec::new();
        };
        objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn ensure_namespace(&mut self, name: &str) {
        let info = super::resources::find("", "v1", "namespaces").expect("namespaces are served");
        if name.is_empty() || self.get(info, "", name).is_some() {
            return;
        }
        let ns = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        self.write(info, "", ns);
    }

    /// Stores `obj` (created or replacing what is there) with the metadata the real server keeps:
    /// uid and creationTimestamp survive a replace, resourceVersion always moves, generation moves
    /// when the spec does. Returns the stored object. Callers decide what `status` holds.
    pub fn write(&mut self, info: &'static ResourceInfo, namespace: &str, mut obj: Value) -> Value {
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        let old = self.get(info, namespace, &name).cloned();
        let rv = self.next_rv();
        if !obj.is_object() {
            obj = json!({});
        }
        obj["apiVersion"] = json!(info.api_version());
        obj["kind"] = json!(info.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        default_fields(info, &mut obj);
        let meta = obj["metadata"].as_object_mut().expect("metadata is an object");
        if info.namespaced {
            meta.insert("namespace".into(), json!(namespace));
        } else {
            meta.remove("namespace");
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        match &old {
            Some(old) => {
                for field in ["uid", "creationTimestamp"] {
                    if let Some(v) = old["metadata"].get(field) {
                        meta.insert(field.into(), v.clone());
                    }
                }
                if info.generation {
                    let before = old["metadata"]["generation"].as_i64().unwrap_or(1);
                    let changed = old.get("spec") != obj.get("spec")
                        || (info.plural == "deployments"
                            && old["metadata"].get("annotations") != obj["metadata"].get("annotations"));
                    let generation = if changed { before + 1 } else { before };
                    obj["metadata"]["generation"] = json!(generation);
                }
            }
            None => {
                meta.entry("uid").or_insert_with(|| json!(new_uid()));
                meta.entry("creationTimestamp").or_insert_with(|| json!(now()));
                if info.generation {
                    meta.entry("generation").or_insert(json!(1));
                }
            }
        }
        if obj["metadata"].get("labels").is_some_and(Value::is_null) {
            obj["metadata"].as_object_mut().expect("object").remove("labels");
        }
        self.objects
            .entry((info.group, info.plural))
            .or_default()
            .insert((namespace.to_string(), name.clone()), obj.clone());
        self.record(
            info,
            namespace,
            if old.is_some() { "MODIFIED" } else { "ADDED" },
            obj.clone(),
        );
        self.reconcile(info, namespace, &name);
        obj
    }

    pub fn remove(&mut self, info: &'static ResourceInfo, namespace: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(&(info.group, info.plural))?
            .remove(&(namespace.to_string(), name.to_string()))?;
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.record(info, namespace, "DELETED", obj.clone());
        if info.plural == "pods" {
            self.pod_ports
                .retain(|(ns, pod, _), _| !(ns == namespace && pod == name));
        }
        Some(obj)
    }

    /// Run the fake controllers for everything they own (after auto rollout is switched on).
    pub fn reconcile_all(&mut self) {
        let info = super::resources::find("apps", "v1", "deployments").expect("deployments are served");
        let keys: Vec<(String, String)> = self.list(info, None).iter().map(|o| ns_name(o)).collect();
        for (ns, name) in keys {
            self.reconcile(info, &ns, &name);
        }
    }

    /// The Deployment "controller": when auto rollout is on and the status has not observed the
    /// current generation, converge it at once (a second write, as the real controller's would be).
    fn reconcile(&mut self, info: &'static ResourceInfo, namespace: &str, name: &str) {
        if !self.auto_rollout || info.plural != "deployments" {
            return;
        }
        let Some(obj) = self.get(info, namespace, name) else {
            return;
        };
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        let observed = obj.pointer("/status/observedGeneration").and_then(Value::as_i64);
        if observed.is_some_and(|o| o >= generation) {
            return;
        }
        let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let status = rolled_out_status(name, generation, replicas);
        let rv = self.next_rv();
        let obj = self
            .objects
            .get_mut(&(info.group, info.plural))
            .and_then(|m| m.get_mut(&(namespace.to_string(), name.to_string())))
            .expect("object exists");
        obj["status"] = status;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let obj = obj.clone();
        self.record(info, namespace, "MODIFIED", obj);
    }
}

/// (namespace, name) of a stored object.
pub(crate) fn ns_name(obj: &Value) -> (String, String) {
    (
        meta_str(obj, "namespace").unwrap_or_default().to_string(),
        meta_str(obj, "name").unwrap_or_default().to_string(),
    )
}

/// Defaults the real server fills in that clients read back.
fn default_fields(info: &ResourceInfo, obj: &mut Value) {
    if matches!(info.plural, "deployments" | "replicasets" | "statefulsets") {
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        if obj["spec"].get("replicas").is_none_or(Value::is_null) {
            obj["spec"]["replicas"] = json!(1);
        }
    }
}

/// A Deployment status as the controller leaves it once a rollout finished. Zero counts are
/// omitted, as the real server omits them.
pub(crate) fn rolled_out_status(name: &str, generation: i64, replicas: i64) -> Value {
    let ts = now();
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "lastUpdateTime": ts,
                "lastTransitionTime": ts,
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": ts,
                "lastTransitionTime": ts,
                "reason": "NewReplicaSetAvailable",
                "message": format!("ReplicaSet \"{name}-{}\" has successfully progressed.", template_hash(name)),
            },
        ],
    });
    if replicas > 0 {
        for field in ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"] {
            status[field] = json!(replicas);
        }
    }
    status
}
