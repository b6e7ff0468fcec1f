//! The run's Lease: read, acquired, renewed and released, every write with the
//! resourceVersion last read as its precondition.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::PostParams;
use serde_json::json;

use super::{MANAGED_BY, Names, RUN_ID_ANNOTATION, RUN_LABEL};
use crate::k8s::{Cluster, KubeError};

/// A Lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Empty when released.
    pub holder: String,
    pub acquired: Option<DateTime<Utc>>,
    pub renewed: Option<DateTime<Utc>>,
    pub duration: Duration,
    pub transitions: i32,
    pub resource_version: String,
}

impl Record {
    /// When it runs out if nobody renews it (never held or released: already).
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        if self.holder.is_empty() {
            return None;
        }
        let renewed = self.renewed.or(self.acquired)?;
        Some(renewed + chrono::Duration::from_std(self.duration).unwrap_or_default())
    }

    /// Whether another process may take it at `now`.
    pub fn free_at(&self, now: DateTime<Utc>) -> bool {
        self.expires().is_none_or(|e| e <= now)
    }

    /// "alice@ops-1 pid 4242, renewed 3s ago (expires in 27s)"
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        if self.holder.is_empty() {
            return "nobody (released)".to_string();
        }
        let ago = |t: DateTime<Utc>| crate::duration::took((now - t).to_std().unwrap_or_default());
        let renewed = match self.renewed.or(self.acquired) {
            Some(t) => format!("renewed {} ago", ago(t)),
            None => "never renewed".to_string(),
        };
        let expiry = match self.expires() {
            Some(e) if e > now => format!(
                "expires in {}",
                crate::duration::took((e - now).to_std().unwrap_or_default())
            ),
            Some(e) => format!("expired {} ago", ago(e)),
            None => String::new(),
        };
        format!("{}, {renewed} ({expiry})", self.holder)
    }
}

fn micro(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn record_of(lease: &Lease) -> Record {
    let spec = serde_json::to_value(&lease.spec).unwrap_or_default();
    let time = |key: &str| {
        spec.get(key)
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    Record {
        holder: spec
            .get("holderIdentity")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
        acquired: time("acquireTime"),
        renewed: time("renewTime"),
        duration: Duration::from_secs(spec.get("leaseDurationSeconds").and_then(|v| v.as_u64()).unwrap_or(0)),
        transitions: spec.get("leaseTransitions").and_then(|v| v.as_i64()).unwrap_or(0) as i32,
        resource_version: lease.metadata.resource_version.clone().unwrap_or_default(),
    }
}

/// The Lease object for `record`, named for `run_id`.
fn lease_of(names: &Names, run_id: &str, r: &Record) -> Lease {
    let holder = (!r.holder.is_empty()).then_some(r.holder.as_str());
    let rv = (!r.resource_version.is_empty()).then_some(r.resource_version.as_str());
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": names.lease,
            "resourceVersion": rv,
            "labels": {MANAGED_BY.0: MANAGED_BY.1, RUN_LABEL: names.label},
            "annotations": {RUN_ID_ANNOTATION: run_id},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": r.duration.as_secs().max(1),
            "acquireTime": r.acquired.map(micro),
            "renewTime": r.renewed.map(micro),
            "leaseTransitions": r.transitions,
        }
    }))
    .expect("a Lease built from known fields")
}

/// Why a Lease was not had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Someone else holds it and renews it.
    Held(Record),
    /// The cluster did not answer, or refused the request.
    Cluster(KubeError),
}

impl Refused {
    pub fn words(&self, run_id: &str, now: DateTime<Utc>) -> String {
        match self {
            Refused::Held(r) => format!("run {run_id} is held in the cluster by {}", r.describe(now)),
            Refused::Cluster(e) => e.message.clone(),
        }
    }
}

/// The run's Lease in one cluster.
#[derive(Clone)]
pub struct RunLease {
    pub cluster: Cluster,
    pub names: Names,
    pub run_id: String,
    pub duration: Duration,
}

impl RunLease {
    pub fn new(cluster: Cluster, run_id: &str, duration: Duration) -> RunLease {
        RunLease {
            cluster,
            names: Names::of(run_id),
            run_id: run_id.to_string(),
            duration,
        }
    }

    fn err(&self, e: kube::Error, verb: &str) -> KubeError {
        self.cluster.error(e, verb, "leases", Some(&self.names.lease))
    }

    pub async fn read(&self) -> Result<Option<Record>, KubeError> {
        let api = self.cluster.api::<Lease>();
        self.cluster
            .bounded(api.get_opt(&self.names.lease))
            .await
            .map(|l| l.as_ref().map(record_of))
            .map_err(|e| self.err(e, "get"))
    }

    async fn write(&self, r: &Record) -> Result<Record, kube::Error> {
        let api = self.cluster.api::<Lease>();
        let lease = lease_of(&self.names, &self.run_id, r);
        let pp = PostParams::default();
        let written = if r.resource_version.is_empty() {
            self.cluster.bounded(api.create(&pp, &lease)).await?
        } else {
            self.cluster
                .bounded(api.replace(&self.names.lease, &pp, &lease))
                .await?
        };
        Ok(record_of(&written))
    }

    /// Takes the Lease for `identity` when nobody holds it, it ran out, or `dead` says
    /// its holder is gone (a process of this host that no longer runs). Two takers never
    /// both win: the write carries the resourceVersion read.
    pub async fn acquire(
        &self,
        identity: &str,
        now: DateTime<Utc>,
        dead: impl Fn(&Record) -> bool,
    ) -> Result<Record, Refused> {
        let current = self.read().await.map_err(Refused::Cluster)?;
        self.take(current, identity, now, dead).await
    }

    /// Like [`acquire`](Self::acquire), from a record read before (a takeover reads the
    /// Lease, pulls the journal, then takes the Lease as it was when read).
    pub async fn take(
        &self,
        current: Option<Record>,
        identity: &str,
        now: DateTime<Utc>,
        dead: impl Fn(&Record) -> bool,
    ) -> Result<Record, Refused> {
        let new = match current {
            None => Record {
                holder: identity.to_string(),
                acquired: Some(now),
                renewed: Some(now),
                duration: self.duration,
                transitions: 0,
                resource_version: String::new(),
            },
            Some(r) if r.holder == identity || r.free_at(now) || dead(&r) => Record {
                holder: identity.to_string(),
                acquired: Some(now),
                renewed: Some(now),
                duration: self.duration,
                transitions: r.transitions + i32::from(r.holder != identity && !r.holder.is_empty()),
                resource_version: r.resource_version,
            },
            Some(r) => return Err(Refused::Held(r)),
        };
        let r_is_new = new.resource_version.is_empty();
        match self.write(&new).await {
            Ok(r) => Ok(r),
            // Someone wrote it between the read and the write: they have it.
            Err(kube::Error::Api(s)) if s.code == 409 => match self.read().await {
                Ok(Some(r)) => Err(Refused::Held(r)),
                Ok(None) => Err(Refused::Cluster(KubeError {
                    message: format!("lease {} changed while it was being taken; try again", self.names.lease),
                    advice: None,
                })),
                Err(e) => Err(Refused::Cluster(e)),
            },
            // Creating in a namespace that does not exist.
            Err(kube::Error::Api(s)) if s.code == 404 => Err(Refused::Cluster(KubeError {
                message: format!(
                    "namespace {} does not exist in {} ({s})",
                    self.cluster.namespace,
                    self.cluster.describe(),
                    s = s.message
                ),
                advice: Some(format!(
                    "create it (kubectl create namespace {}) or name another one in [state]",
                    self.cluster.namespace
                )),
            })),
            Err(e) => Err(Refused::Cluster(
                self.err(e, if r_is_new { "create" } else { "update" }),
            )),
        }
    }

    /// Renews `held`. Someone else's name on it means the run was taken over.
    pub async fn renew(&self, held: &Record, now: DateTime<Utc>) -> Result<Record, Renewal> {
        let mut next = held.clone();
        next.renewed = Some(now);
        next.duration = self.duration;
        match self.write(&next).await {
            Ok(r) => Ok(r),
            Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => match self.read().await {
                Ok(Some(r)) if r.holder == held.holder => {
                    // Changed by us (a write whose answer was lost): renew on top of it.
                    let mut again = r.clone();
                    again.renewed = Some(now);
                    self.write(&again)
                        .await
                        .map_err(|e| Renewal::Failed(self.err(e, "update")))
                }
                Ok(Some(r)) => Err(Renewal::Lost(r)),
                Ok(None) => Err(Renewal::Lost(Record {
                    holder: String::new(),
                    ..held.clone()
                })),
                Err(e) => Err(Renewal::Failed(e)),
            },
            Err(e) => Err(Renewal::Failed(self.err(e, "update"))),
        }
    }

    /// Gives the Lease up (a clean stop): the next operator need not wait for it to run out.
    pub async fn release(&self, held: &Record) -> Result<(), KubeError> {
        let next = Record {
            holder: String::new(),
            acquired: None,
            renewed: None,
            ..held.clone()
        };
        match self.write(&next).await {
            Ok(_) => Ok(()),
            // Changed since: given up only if it is still ours (a renewal whose answer was lost).
            Err(kube::Error::Api(s)) if s.code == 409 => match self.read().await? {
                Some(r) if r.holder == held.holder => self
                    .write(&Record {
                        holder: String::new(),
                        acquired: None,
                        renewed: None,
                        ..r
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| self.err(e, "update")),
                _ => Ok(()),
            },
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.err(e, "update")),
        }
    }
}

/// Why a renewal did not happen.
#[derive(Debug, Clone)]
pub enum Renewal {
    /// Someone else holds the Lease now (or it was deleted).
    Lost(Record),
    /// The cluster did not answer or refused: the holder keeps the run locally.
    Failed(KubeError),
}
