//! The world `cutover demo` runs against, all inside the process and on loopback: an
//! authoritative DNS primary and secondary for `shop.demo.` that accept TSIG-signed
//! updates, the fake Kubernetes API server with the shop's two Deployments whose pods'
//! health endpoints answer through port-forwards, and a Prometheus-compatible API over a
//! simulated shop whose traffic follows the DNS answer. The world also plays the platform
//! team: when the operator confirms the LoadBalancer Service is applied, it appears, and
//! its external address a few seconds later, as a cloud load balancer's does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::engine::{Recorded, RunEvent};
use cutover_sandbox::dns::{DnsSandboxConfig, SandboxDns, ZoneRecord};
use cutover_sandbox::kube::{FakeKube, deployment, health_server, ready_pod};
use cutover_sandbox::metrics::{PromApi, Scenario, ServiceSim};

/// The bundled runbook the demo rehearses.
pub const RUNBOOK: &str = include_str!("../../runbooks/demo.toml");

pub const ZONE: &str = "shop.demo";
/// The address the records hold before the cutover (the VMs' load balancer).
pub const VM_IP: &str = "203.0.113.10";
/// The address the Kubernetes load balancer gets.
pub const LB_IP: &str = "198.51.100.20";
const NAMESPACE: &str = "shop";
const TSIG_KEY: &str = "cutover-demo";
/// The TTL of the records before it is lowered: an hour, as zones often have.
const OLD_TTL: u32 = 3600;
/// How long clients take to follow a DNS change in the simulation (their caches of the
/// 60 s cutover TTL, compressed like the rest of the rehearsal).
const MOVE_OVER: Duration = Duration::from_secs(6);
/// How long a cloud takes to give the new load balancer its address, here.
const LB_PROVISIONING: Duration = Duration::from_secs(3);
/// Traffic history before the demo starts, so the baseline has data at once.
const HISTORY: Duration = Duration::from_secs(15 * 60);

/// The running sandbox. Dropping it stops everything in it: the servers below are held
/// for that, and only the Kubernetes API is acted on (as the platform team would).
pub struct Demo {
    _dns: Arc<SandboxDns>,
    kube: Arc<FakeKube>,
    _prometheus: PromApi,
    _sim: Arc<ServiceSim>,
    /// The runbook, kubeconfig and TSIG key written for this demo.
    pub dir: PathBuf,
    stop: CancellationToken,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop.cancel();
        // The runbook, kubeconfig and key were for this sandbox only (the journal keeps
        // the resolved runbook).
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A key for this demo's TSIG signatures: not for anything else, so derived from the time
/// and the process, hashed.
fn tsig_secret() -> Vec<u8> {
    use sha2::Digest as _;
    let seed = format!(
        "cutover-demo {} {}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    sha2::Sha256::digest(seed.as_bytes()).to_vec()
}

/// `runbook` with the values of `[vars]` entries replaced. Every name must be there.
pub fn with_vars(runbook: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(runbook.len());
    let mut in_vars = false;
    let mut found = Vec::new();
    for line in runbook.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_vars = trimmed.starts_with("[vars]");
        }
        let replaced = in_vars
            .then(|| {
                vars.iter().find_map(|(name, value)| {
                    trimmed.strip_prefix(name)?.trim_start().strip_prefix('=')?;
                    found.push(*name);
                    Some(format!("{name} = {}", toml_string(value)))
                })
            })
            .flatten();
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    match vars.iter().find(|(name, _)| !found.contains(name)) {
        Some((missing, _)) => Err(format!("the demo runbook has no `{missing}` in [vars]")),
        None => Ok(out),
    }
}

/// Writes a file only its owner can read (a key).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn toml_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl Demo {
    /// Starts the sandbox on loopback and writes the runbook for it into `dir`.
    pub async fn start(scenario: Scenario, dir: &Path) -> anyhow::Result<Demo> {
        use anyhow::Context as _;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let stop = CancellationToken::new();

        let secret = tsig_secret();
        let dns = SandboxDns::start(DnsSandboxConfig {
            zone: format!("{ZONE}."),
            tsig_key_name: format!("{TSIG_KEY}."),
            tsig_secret: secret.clone(),
            records: ["www", "api"]
                .iter()
                .map(|host| ZoneRecord::new(&format!("{host}.{ZONE}."), "A", OLD_TTL, VM_IP))
                .collect(),
            servers: 2,
            transfer_delay: Duration::from_millis(800),
        })
        .await
        .context("cannot start the sandbox's DNS servers on loopback")?;
        let dns = Arc::new(dns);

        let kube = Arc::new(FakeKube::start());
        kube.put(&deployment(NAMESPACE, "web", "web", 3));
        kube.put(&deployment(NAMESPACE, "worker", "worker", 2));
        let health = health_server(stop.clone())
            .await
            .context("cannot start the sandbox's health endpoints")?;
        for (app, port, count) in [("web", 3000, 3), ("worker", 3001, 2)] {
            for n in 1..=count {
                let pod = format!("{app}-7d9c5-{n}");
                kube.put(&ready_pod(NAMESPACE, &pod, app, &[port]));
                kube.pod_port(NAMESPACE, &pod, port, health);
            }
        }

        let sim = Arc::new(ServiceSim::new(scenario, VM_IP, LB_IP, HISTORY));
        let prometheus = PromApi::start(sim.clone())
            .await
            .context("cannot start the sandbox's Prometheus API")?;
        // The shop's clients follow the DNS answer.
        let (watched, follower, until) = (dns.clone(), sim.clone(), stop.clone());
        let mut changes = dns.changes();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = until.cancelled() => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
                if let Some((_, values)) = watched.lookup(&format!("www.{ZONE}."), "A") {
                    follower.dns_changed(&values, MOVE_OVER);
                }
            }
        });

        let key_file = dir.join("tsig.key");
        let kubeconfig = dir.join("kubeconfig");
        write_private(&key_file, &data_encoding::BASE64.encode(&secret))?;
        kube.write_kubeconfig(&kubeconfig, "sandbox", NAMESPACE);
        let addrs = dns.addrs();
        let text = with_vars(
            RUNBOOK,
            &[
                ("zone", ZONE.to_string()),
                ("vm_ip", VM_IP.to_string()),
                ("dns_primary", addrs[0].to_string()),
                ("dns_secondary", addrs[1].to_string()),
                ("tsig_file", key_file.display().to_string()),
                ("kubeconfig", kubeconfig.display().to_string()),
                ("prometheus", prometheus.url()),
            ],
        )
        .map_err(anyhow::Error::msg)?;
        let runbook = dir.join("runbook.toml");
        std::fs::write(&runbook, text).with_context(|| format!("cannot write {}", runbook.display()))?;
        Ok(Demo {
            _dns: dns,
            kube,
            _prometheus: prometheus,
            _sim: sim,
            dir: dir.to_path_buf(),
            stop,
        })
    }

    pub fn runbook_path(&self) -> PathBuf {
        self.dir.join("runbook.toml")
    }

    /// How the world answers the run: the platform team applies the LoadBalancer Service
    /// when the operator confirms the step that asks for it, and the cloud gives it an
    /// address a little later.
    pub fn observer(&self) -> impl Fn(&Recorded) + Send + Sync + 'static {
        let kube = self.kube.clone();
        move |record: &Recorded| {
            if let RunEvent::StepSucceeded { step, .. } = &record.event
                && step == "create-lb"
            {
                apply_load_balancer(&kube);
            }
        }
    }
}

/// Creates the `web-lb` LoadBalancer Service and, after [`LB_PROVISIONING`], its address.
fn apply_load_balancer(kube: &Arc<FakeKube>) {
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-lb", "namespace": NAMESPACE, "labels": {"app": "web"}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"name": "https", "port": 443, "targetPort": 3000, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }))
    .expect("a Service");
    kube.put(&service);
    let kube = kube.clone();
    std::thread::spawn(move || {
        std::thread::sleep(LB_PROVISIONING);
        kube.update::<Service>(NAMESPACE, "web-lb", |s| {
            s.status = serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": LB_IP}]}})).ok();
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sandbox_value_lands_in_the_vars() {
        let vars = [
            ("zone", ZONE.to_string()),
            ("vm_ip", VM_IP.to_string()),
            ("dns_primary", "127.0.0.1:1".to_string()),
            ("dns_secondary", "127.0.0.1:2".to_string()),
            ("tsig_file", "/x/tsig.key".to_string()),
            ("kubeconfig", "/x/kubeconfig".to_string()),
            ("prometheus", "http://127.0.0.1:3".to_string()),
        ];
        let text = with_vars(RUNBOOK, &vars).unwrap();
        assert!(text.contains("dns_primary = \"127.0.0.1:1\""));
        assert!(text.contains("prometheus = \"http://127.0.0.1:3\""));
        // Only [vars] changes: the rest of the file is as shipped.
        assert_eq!(text.lines().count(), RUNBOOK.lines().count());
        assert!(with_vars(RUNBOOK, &[("nope", String::new())]).is_err());
    }
}
