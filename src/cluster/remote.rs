//! The journal's copy in the cluster: chunks of the event log's bytes and the head that
//! commits them.
//!
//! Objects (Secrets or ConfigMaps, as `[state] object` says), each labelled with the run:
//! - `<lease>-head`: `run.json` (the run's identity) and `head.json` (how many bytes,
//!   events and chunks are committed, their SHA-256, and who wrote them last);
//! - `<lease>-00000`, `-00001`, …: `events`, the log's bytes in order. Only the last chunk
//!   grows (it is replaced, with its resourceVersion, until it is full).
//!
//! The head is written after the chunk, with the resourceVersion last read: bytes in a
//! chunk past what the head commits do not count (a write the head never confirmed).

use chrono::{DateTime, Utc};
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{MANAGED_BY, Names, RUN_ID_ANNOTATION, RUN_LABEL};
use crate::journal::RunIdentity;
use crate::k8s::{Cluster, KubeError};
use crate::runbook::StateObject;

/// The most bytes of the log one chunk holds: half the API server's object limit (1 MiB,
/// counted on the decoded data), leaving room for the base64 request and the metadata.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// The chunk size a new copy is written with: [`CHUNK_BYTES`], or in a debug build
/// `CUTOVER_CHUNK_BYTES` (the tests cross chunk boundaries with small runs).
fn new_chunk_bytes() -> u64 {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var("CUTOVER_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return n.clamp(64, CHUNK_BYTES as u64);
    }
    CHUNK_BYTES as u64
}

/// What the head commits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Bytes of the log after its first line.
    pub log_len: u64,
    /// The last event in them.
    pub last_seq: u64,
    pub chunks: u32,
    /// SHA-256 of the committed bytes, hex.
    pub sha256: String,
    /// Who wrote the head last (a Lease identity).
    pub writer: String,
    pub updated: Option<DateTime<Utc>>,
    /// The run's state when the head was written (`active`, `completed`, …).
    #[serde(default)]
    pub status: String,
    /// How many bytes each chunk holds before the next begins (0: [`CHUNK_BYTES`]).
    #[serde(default)]
    pub chunk_bytes: u64,
}

impl Head {
    pub fn chunk_bytes(&self) -> u64 {
        if self.chunk_bytes == 0 {
            CHUNK_BYTES as u64
        } else {
            self.chunk_bytes
        }
    }
}

/// The last chunk, as this writer last wrote or read it.
#[derive(Debug, Clone)]
struct Tail {
    index: u32,
    /// Empty: not created yet.
    resource_version: String,
    /// Its committed bytes.
    bytes: Vec<u8>,
}

/// A writer of one run's copy.
pub struct Remote {
    cluster: Cluster,
    api: Api<DynamicObject>,
    kind: StateObject,
    names: Names,
    run_id: String,
    writer: String,
    head: Head,
    head_rv: String,
    hasher: Sha256,
    tail: Tail,
}

/// Why the copy could not be written.
#[derive(Debug, Clone)]
pub enum WriteError {
    /// Someone else wrote the head or a chunk: this writer must stop.
    Superseded(String),
    /// The cluster's copy is not a prefix of this machine's journal.
    Diverged(String),
    Cluster(KubeError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Superseded(m) | WriteError::Diverged(m) => f.write_str(m),
            WriteError::Cluster(e) => f.write_str(&e.message),
        }
    }
}

fn resource(kind: StateObject) -> ApiResource {
    match kind {
        StateObject::Secret => ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        StateObject::ConfigMap => ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
    }
}

fn api(cluster: &Cluster, kind: StateObject) -> Api<DynamicObject> {
    Api::namespaced_with(cluster.client.clone(), &cluster.namespace, &resource(kind))
}

/// The resource, as RBAC rules and `kubectl` name it.
fn kind_word(kind: StateObject) -> &'static str {
    match kind {
        StateObject::Secret => "secrets",
        StateObject::ConfigMap => "configmaps",
    }
}

/// The object holding `files` (all stored as bytes: a Secret's `data`, a ConfigMap's
/// `binaryData`).
fn object(
    kind: StateObject,
    names: &Names,
    run_id: &str,
    name: &str,
    rv: &str,
    files: &[(&str, &[u8])],
) -> DynamicObject {
    let encoded: serde_json::Map<String, Value> = files
        .iter()
        .map(|(k, v)| (k.to_string(), json!(data_encoding::BASE64.encode(v))))
        .collect();
    let data = match kind {
        StateObject::Secret => json!({"type": "Opaque", "data": encoded}),
        StateObject::ConfigMap => json!({"binaryData": encoded}),
    };
    let mut obj = DynamicObject::new(name, &resource(kind)).data(data);
    obj.metadata = ObjectMeta {
        name: Some(name.to_string()),
        resource_version: (!rv.is_empty()).then(|| rv.to_string()),
        labels: Some(
            [(MANAGED_BY.0, MANAGED_BY.1), (RUN_LABEL, names.label.as_str())]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        annotations: Some(
            [(RUN_ID_ANNOTATION.to_string(), run_id.to_string())]
                .into_iter()
                .collect(),
        ),
        ..ObjectMeta::default()
    };
    obj
}

/// A file of an object as bytes.
fn file(obj: &DynamicObject, key: &str) -> Option<Vec<u8>> {
    let map = obj.data.get("data").or_else(|| obj.data.get("binaryData"))?;
    let text = map.get(key)?.as_str()?;
    data_encoding::BASE64.decode(text.as_bytes()).ok()
}

fn rv_of(obj: &DynamicObject) -> String {
    obj.metadata.resource_version.clone().unwrap_or_default()
}

fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// The copy as pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub identity: RunIdentity,
    pub head: Head,
    /// The committed bytes (checked against the head's length and SHA-256).
    pub bytes: Vec<u8>,
}

/// Reads the head of `run_id`'s copy (None: the cluster has no copy).
pub async fn read_head(
    cluster: &Cluster,
    kind: StateObject,
    run_id: &str,
) -> Result<Option<(RunIdentity, Head, String)>, KubeError> {
    let names = Names::of(run_id);
    let api = api(cluster, kind);
    let Some(obj) = cluster
        .bounded(api.get_opt(&names.head))
        .await
        .map_err(|e| cluster.error(e, "get", kind_word(kind), Some(&names.head)))?
    else {
        return Ok(None);
    };
    let bad = |what: &str| KubeError {
        message: format!(
            "{} {} in {} does not hold a readable {what}",
            kind_word(kind),
            names.head,
            cluster.describe()
        ),
        advice: Some("it was not written by cutover, or was edited: compare with `kubectl get -o yaml`".to_string()),
    };
    let identity: RunIdentity = file(&obj, "run.json")
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("run.json"))?;
    let head: Head = file(&obj, "head.json")
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("head.json"))?;
    Ok(Some((identity, head, rv_of(&obj))))
}

/// Pulls the whole committed copy of `run_id` and checks it against its head.
pub async fn pull(cluster: &Cluster, kind: StateObject, run_id: &str) -> Result<Option<Pulled>, KubeError> {
    let Some((identity, head, _)) = read_head(cluster, kind, run_id).await? else {
        return Ok(None);
    };
    let names = Names::of(run_id);
    let api = api(cluster, kind);
    let mut bytes = Vec::with_capacity(head.log_len as usize);
    for i in 0..head.chunks {
        let name = names.chunk(i);
        let obj = cluster
            .bounded(api.get(&name))
            .await
            .map_err(|e| cluster.error(e, "get", kind_word(kind), Some(&name)))?;
        let part = file(&obj, "events").ok_or_else(|| KubeError {
            message: format!("{} {name} has no readable `events`", kind_word(kind)),
            advice: None,
        })?;
        bytes.extend_from_slice(&part);
    }
    if (bytes.len() as u64) < head.log_len {
        return Err(KubeError {
            message: format!(
                "the cluster's copy of run {run_id} is short: its head commits {} bytes, its {} chunks hold {}",
                head.log_len,
                head.chunks,
                bytes.len()
            ),
            advice: None,
        });
    }
    bytes.truncate(head.log_len as usize);
    let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(&bytes));
    if sha != head.sha256 {
        return Err(KubeError {
            message: format!(
                "the cluster's copy of run {run_id} does not match its head's SHA-256 ({sha} against {})",
                head.sha256
            ),
            advice: Some("the copy was changed after it was written: do not take it over from it".to_string()),
        });
    }
    Ok(Some(Pulled { identity, head, bytes }))
}

impl Remote {
    /// Attaches `writer` to the copy of a run: creates it (head, no chunks) when the cluster
    /// has none, or picks it up where it is committed, after checking that it is a prefix
    /// of `local` (this machine's journal) — else the run went on elsewhere. Then writes
    /// the head with `writer` in it, so a writer that held the run before is fenced off.
    pub async fn attach(
        cluster: &Cluster,
        kind: StateObject,
        identity: &RunIdentity,
        writer: &str,
        local_prefix: impl Fn(u64) -> std::io::Result<Vec<u8>>,
    ) -> Result<Remote, WriteError> {
        let names = Names::of(&identity.run_id);
        let mut remote = Remote {
            cluster: cluster.clone(),
            api: api(cluster, kind),
            kind,
            names,
            run_id: identity.run_id.clone(),
            writer: writer.to_string(),
            head: Head::default(),
            head_rv: String::new(),
            hasher: Sha256::new(),
            tail: Tail {
                index: 0,
                resource_version: String::new(),
                bytes: Vec::new(),
            },
        };
        let run_json = serde_json::to_vec_pretty(identity).unwrap_or_default();
        match read_head(cluster, kind, &identity.run_id)
            .await
            .map_err(WriteError::Cluster)?
        {
            None => {
                remote.head.writer = writer.to_string();
                remote.head.chunk_bytes = new_chunk_bytes();
                remote.head.updated = Some(Utc::now());
                remote.head.sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(b""));
                let obj = remote.head_object(&run_json);
                let created = cluster.bounded(remote.api.create(&PostParams::default(), &obj)).await;
                match created {
                    Ok(o) => remote.head_rv = rv_of(&o),
                    Err(e) if conflict(&e) => {
                        return Err(WriteError::Superseded(format!(
                            "someone else created the cluster's copy of run {} at the same moment",
                            identity.run_id
                        )));
                    }
                    Err(e) => return Err(WriteError::Cluster(remote.err(e, "create", &remote.names.head.clone()))),
                }
            }
            Some((_, head, rv)) => {
                let local = local_prefix(head.log_len).map_err(|e| {
                    WriteError::Diverged(format!(
                        "cannot read this machine's journal of run {}: {e}",
                        identity.run_id
                    ))
                })?;
                let sha = data_encoding::HEXLOWER.encode(&Sha256::digest(&local));
                if (local.len() as u64) < head.log_len || sha != head.sha256 {
                    return Err(WriteError::Diverged(format!(
                        "the cluster's copy of run {} (event #{}, written by {}) is not what this machine's journal \
                         holds: the run went on elsewhere. Take it over from the cluster with `cutover takeover {}`",
                        identity.run_id, head.last_seq, head.writer, identity.run_id
                    )));
                }
                remote.hasher.update(&local);
                // The last chunk: its committed bytes are taken from this journal (checked
                // against the head just now), its resourceVersion from the cluster.
                if head.chunks > 0 {
                    let index = head.chunks - 1;
                    let start = u64::from(index) * head.chunk_bytes();
                    let Some(committed) = head.log_len.checked_sub(start) else {
                        return Err(WriteError::Diverged(format!(
                            "the cluster's copy of run {} is inconsistent: its head counts {} chunks but only {} bytes",
                            identity.run_id, head.chunks, head.log_len
                        )));
                    };
                    let name = remote.names.chunk(index);
                    let obj = cluster
                        .bounded(remote.api.get(&name))
                        .await
                        .map_err(|e| WriteError::Cluster(remote.err(e, "get", &name)))?;
                    remote.tail = Tail {
                        index,
                        resource_version: rv_of(&obj),
                        bytes: local[start as usize..(start + committed) as usize].to_vec(),
                    };
                }
                remote.head = head;
                remote.head_rv = rv;
                remote.head.writer = writer.to_string();
                remote.write_head(&run_json).await?;
            }
        }
        Ok(remote)
    }

    fn err(&self, e: kube::Error, verb: &str, name: &str) -> KubeError {
        self.cluster.error(e, verb, kind_word(self.kind), Some(name))
    }

    fn head_object(&self, run_json: &[u8]) -> DynamicObject {
        let head = serde_json::to_vec_pretty(&self.head).unwrap_or_default();
        object(
            self.kind,
            &self.names,
            &self.run_id,
            &self.names.head,
            &self.head_rv,
            &[("run.json", run_json), ("head.json", &head)],
        )
    }

    async fn write_head(&mut self, run_json: &[u8]) -> Result<(), WriteError> {
        self.head.updated = Some(Utc::now());
        let obj = self.head_object(run_json);
        let name = self.names.head.clone();
        match self
            .cluster
            .bounded(self.api.replace(&name, &PostParams::default(), &obj))
            .await
        {
            Ok(o) => {
                self.head_rv = rv_of(&o);
                Ok(())
            }
            Err(e) if conflict(&e) => Err(WriteError::Superseded(format!(
                "someone else wrote the cluster's copy of run {} ({} {name} changed): this process no longer holds the run",
                self.run_id,
                kind_word(self.kind)
            ))),
            Err(e) => Err(WriteError::Cluster(self.err(e, "update", &name))),
        }
    }

    /// What the cluster has committed.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Appends `bytes` (whole frames, ending with event `last_seq`) to the copy: into the
    /// last chunk while it has room, then new ones; then commits them in the head. After an
    /// error this writer's idea of the copy may be wrong: attach again before the next append
    /// (the head says what counts).
    pub async fn append(
        &mut self,
        bytes: &[u8],
        last_seq: u64,
        status: &str,
        run_json: &[u8],
    ) -> Result<(), WriteError> {
        let mut rest = bytes;
        let size = self.head.chunk_bytes() as usize;
        while !rest.is_empty() {
            if self.tail.bytes.len() >= size {
                self.tail = Tail {
                    index: self.tail.index + 1,
                    resource_version: String::new(),
                    bytes: Vec::new(),
                };
            }
            let room = size - self.tail.bytes.len();
            let (piece, after) = rest.split_at(room.min(rest.len()));
            let mut content = self.tail.bytes.clone();
            content.extend_from_slice(piece);
            self.write_chunk(&content).await?;
            self.tail.bytes = content;
            rest = after;
        }
        self.hasher.update(bytes);
        self.head.log_len += bytes.len() as u64;
        self.head.last_seq = last_seq;
        self.head.chunks = self.tail.index + 1;
        self.head.sha256 = data_encoding::HEXLOWER.encode(&self.hasher.clone().finalize());
        self.head.writer = self.writer.clone();
        self.head.status = status.to_string();
        self.write_head(run_json).await
    }

    async fn write_chunk(&mut self, content: &[u8]) -> Result<(), WriteError> {
        let name = self.names.chunk(self.tail.index);
        let pp = PostParams::default();
        let obj = |rv: &str| object(self.kind, &self.names, &self.run_id, &name, rv, &[("events", content)]);
        let written = if self.tail.resource_version.is_empty() {
            match self.cluster.bounded(self.api.create(&pp, &obj(""))).await {
                // A chunk past the head (a write the head never committed) is overwritten,
                // with the resourceVersion it has now, but only while the head is still as
                // this writer last wrote it: else someone else committed it.
                Err(e) if conflict(&e) => {
                    let head = self
                        .cluster
                        .bounded(self.api.get(&self.names.head))
                        .await
                        .map_err(|e| WriteError::Cluster(self.err(e, "get", &self.names.head)))?;
                    if rv_of(&head) != self.head_rv {
                        return Err(WriteError::Superseded(format!(
                            "someone else wrote the cluster's copy of run {} ({} {} changed): this process no \
                             longer holds the run",
                            self.run_id,
                            kind_word(self.kind),
                            self.names.head
                        )));
                    }
                    let found = self
                        .cluster
                        .bounded(self.api.get(&name))
                        .await
                        .map_err(|e| WriteError::Cluster(self.err(e, "get", &name)))?;
                    self.cluster
                        .bounded(self.api.replace(&name, &pp, &obj(&rv_of(&found))))
                        .await
                }
                other => other,
            }
        } else {
            self.cluster
                .bounded(self.api.replace(&name, &pp, &obj(&self.tail.resource_version)))
                .await
        };
        match written {
            Ok(o) => {
                self.tail.resource_version = rv_of(&o);
                Ok(())
            }
            Err(e) if conflict(&e) => Err(WriteError::Superseded(format!(
                "someone else wrote {} {name} of run {}: this process no longer holds the run",
                kind_word(self.kind),
                self.run_id
            ))),
            Err(e) => Err(WriteError::Cluster(self.err(e, "update", &name))),
        }
    }
}
