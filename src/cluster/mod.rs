//! A run's state in the cluster (`[state] backend = "kubernetes"`), the way Terraform's
//! `kubernetes` backend keeps its state and client-go's leader election its leader:
//!
//! - **The lock is a Lease** (`coordination.k8s.io/v1`) named after the run. Its holder is
//!   `operator@host pid N`; the process that drives renews it every third of its duration.
//!   Another process may take it only once it has gone unrenewed for its whole duration
//!   (`cutover takeover`), and only with a precondition on the resourceVersion it read, so
//!   two takers never both win.
//! - **The journal is replicated** into Secrets (or ConfigMaps): the event log's bytes
//!   after its first line, cut into chunks of at most [`remote::CHUNK_BYTES`] (far under
//!   the API server's 1 MiB object limit), plus a head object that says how many bytes,
//!   events and chunks count, and their SHA-256. The head is the commit point: every write
//!   of it carries the resourceVersion last read, so a writer that lost the run can never
//!   overwrite what the new holder wrote.
//! - **The keeper** ([`keeper::Keeper`]) does both in the background: replication never
//!   blocks a side effect, and a run whose cluster is the thing that broke keeps driving
//!   locally (see [`keeper::Verdict`] for what it may still start).

pub mod keeper;
pub mod lease;
pub mod remote;

use sha2::Digest;

use crate::k8s::{Cluster, KubeError};
use crate::runbook::StateConfig;

/// The label every object this backend writes carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "cutover");
/// The label that ties an object to its run (a hash: run ids can be longer than a label).
pub const RUN_LABEL: &str = "cutover.dev/run";
/// The annotation that holds the run id itself.
pub const RUN_ID_ANNOTATION: &str = "cutover.dev/run-id";

/// The names of a run's objects in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// The Lease; also the prefix of the journal's objects.
    pub lease: String,
    pub head: String,
    /// The value of [`RUN_LABEL`].
    pub label: String,
}

impl Names {
    pub fn of(run_id: &str) -> Names {
        let hash = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(run_id.as_bytes()));
        let mut base: String = run_id
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
            .collect();
        base.truncate(200);
        let base = base.trim_matches('-');
        let lease = format!("cutover-{base}-{}", &hash[..8]);
        Names {
            head: format!("{lease}-head"),
            lease,
            label: hash[..16].to_string(),
        }
    }

    pub fn chunk(&self, index: u32) -> String {
        format!("{}-{index:05}", self.lease)
    }
}

/// Who holds a run, as a Lease says it: `alice@ops-1 pid 4242`.
pub fn identity(operator: &str, host: &str, pid: u32) -> String {
    format!("{operator}@{host} pid {pid}")
}

/// The host and pid in an identity written by [`identity`].
pub fn host_and_pid(identity: &str) -> Option<(&str, u32)> {
    let (who, pid) = identity.rsplit_once(" pid ")?;
    let host = who.rsplit_once('@')?.1;
    Some((host, pid.parse().ok()?))
}

/// Connects to the cluster `[state]` names (nothing is asked of it yet).
pub async fn connect(cfg: &StateConfig) -> Result<Cluster, KubeError> {
    Cluster::connect(&cfg.cluster()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_object_names_and_differ_for_ids_that_lowercase_alike() {
        let a = Names::of("shop.prod.20261204T1720Z");
        let b = Names::of("shop.prod.20261204t1720z");
        assert_ne!(a.lease, b.lease);
        for n in [&a.lease, &a.head, &a.chunk(7)] {
            assert!(n.len() <= 253, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n} is not a DNS-1123 name"
            );
        }
        assert_eq!(a.chunk(7), format!("{}-00007", a.lease));
        assert_eq!(a.label.len(), 16);
        let long = Names::of(&"x".repeat(400));
        assert!(long.head.len() <= 253);
    }

    #[test]
    fn identity_round_trips() {
        let id = identity("alice", "ops-1", 4242);
        assert_eq!(id, "alice@ops-1 pid 4242");
        assert_eq!(host_and_pid(&id), Some(("ops-1", 4242)));
        assert_eq!(host_and_pid("someone else"), None);
    }
}
