//! The `k8s.*` steps: rollout readiness (and no external traffic yet), smoke checks through
//! a port-forward, waiting for the load balancer's address, scaling with the previous
//! counts recorded, and the post-cutover checklist. Every object's result is reported as
//! it is measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ListParams, Patch, PatchParams};
use tokio_util::sync::CancellationToken;

use super::http::{HttpProbe, probe};
use super::stopped;
use crate::dns::pause;
use crate::engine::{
    DnsOp, Failure, Intent, KubeIntent, KubeOp, ObjectCheck, Outcome, Progress, RunState, ScaleChange, StepStatus,
    Verdict,
};
use crate::k8s::{Cluster, KubeError, match_labels, pod_ready};

/// The cluster client's error, as a step's failure.
impl From<KubeError> for Failure {
    fn from(e: KubeError) -> Self {
        Failure {
            message: e.message,
            advice: e.advice,
            ..Failure::default()
        }
    }
}
use crate::outside::Reporter;
use crate::runbook::duration::format as dur;
use crate::runbook::k8s::deployments as k8s_deployments;
use crate::runbook::steps::K8sStep;
use crate::runbook::{
    K8sConfig, K8sExposeStep, K8sRolloutStep, K8sScaleStep, K8sSmokeStep, K8sValidateStep, SmokeCheck, Step,
};

pub struct K8sJob {
    pub cluster: Cluster,
    pub config: K8sConfig,
    pub op: K8sOp,
    pub deployments: Vec<String>,
    /// For scale: what each Deployment goes from and to.
    pub scale: Vec<ScaleChange>,
    /// When the run's DNS flip succeeded, if it did: validation counts restarts from then.
    pub flipped_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Read, but change nothing: say what would be sent.
    pub dry_run: bool,
}

/// The step a job performs, with its fields.
pub enum K8sOp {
    Rollout(K8sRolloutStep),
    Smoke(K8sSmokeStep),
    Expose(K8sExposeStep),
    Scale(K8sScaleStep),
    Validate(K8sValidateStep),
}

impl K8sOp {
    fn of(step: K8sStep<'_>) -> Self {
        match step {
            K8sStep::Rollout(s) => K8sOp::Rollout(s.clone()),
            K8sStep::Smoke(s) => K8sOp::Smoke(s.clone()),
            K8sStep::Expose(s) => K8sOp::Expose(s.clone()),
            K8sStep::Scale(s) => K8sOp::Scale(s.clone()),
            K8sStep::Validate(s) => K8sOp::Validate(s.clone()),
        }
    }

    /// As the journal names it.
    fn name(&self) -> KubeOp {
        match self {
            K8sOp::Rollout(_) => KubeOp::Rollout,
            K8sOp::Smoke(_) => KubeOp::Smoke,
            K8sOp::Expose(_) => KubeOp::Expose,
            K8sOp::Scale(_) => KubeOp::Scale,
            K8sOp::Validate(_) => KubeOp::Validate,
        }
    }
}

/// Reports each object's result once per change, so the journal holds the story, not
/// every poll.
struct Seen<'a> {
    reporter: &'a Reporter,
    last: BTreeMap<(String, String), (String, Verdict)>,
}

impl<'a> Seen<'a> {
    fn new(reporter: &'a Reporter) -> Self {
        Self {
            reporter,
            last: BTreeMap::new(),
        }
    }

    fn see(&mut self, object: &str, check: &str, value: String, verdict: Verdict, note: String) {
        let key = (object.to_string(), check.to_string());
        if self.last.get(&key) == Some(&(value.clone(), verdict)) {
            return;
        }
        self.last.insert(key, (value.clone(), verdict));
        self.reporter.report(Progress::ObjectChecked {
            check: ObjectCheck {
                object: object.to_string(),
                check: check.to_string(),
                value,
                verdict,
                note,
            },
        });
    }
}

/// How long a waiting step keeps asking an API server that stopped answering before it
/// gives up (never past the step's own timeout).
const API_PATIENCE: Duration = Duration::from_secs(60);

/// Reads (and idempotent writes) inside a step that waits. Once the API server has answered
/// the step, a transient failure (`k8s::transient`: unreachable, 429, 5xx) is shown as a check
/// of the API server and asked again every poll for up to `API_PATIENCE`: an API server
/// restarting or an etcd leader election must not end a rollout wait or a rollback. Before the
/// first answer, or for any other error, the step fails at once: a first request that fails
/// is a wrong context or a dead VPN, and waiting would only hide it.
struct Patience {
    answered: bool,
    deadline: Instant,
    poll: Duration,
}

impl Patience {
    fn new(timeout: Duration, poll: Duration) -> Self {
        Self {
            answered: false,
            deadline: Instant::now() + timeout,
            poll,
        }
    }

    async fn ask<T, Fut>(
        &mut self,
        c: &Cluster,
        (verb, resource, name): (&str, &str, Option<&str>),
        seen: &mut Seen<'_>,
        cancel: &CancellationToken,
        request: impl Fn() -> Fut,
    ) -> Result<T, Failure>
    where
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let server = format!("API server {}", c.server);
        let mut failing_since: Option<Instant> = None;
        loop {
            // A rollback asked for: nothing more is sent, and no answer is waited for. (Each
            // request is bounded by the connect and request timeouts; kube's own retry is off.)
            let answer = tokio::select! {
                () = cancel.cancelled() => return Err(stopped()),
                a = c.bounded(request()) => a,
            };
            match answer {
                Ok(v) => {
                    if failing_since.is_some() {
                        seen.see(
                            &server,
                            "answer",
                            "answering again".to_string(),
                            Verdict::Within,
                            String::new(),
                        );
                    }
                    self.answered = true;
                    return Ok(v);
                }
                Err(e) if self.answered && crate::k8s::transient(&e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let failure = c.error(e, verb, resource, name);
                    if since.elapsed() >= API_PATIENCE || Instant::now() + self.poll >= self.deadline {
                        return Err(Failure {
                            message: format!(
                                "{} (asked again for {})",
                                failure.message,
                                dur(Duration::from_secs(since.elapsed().as_secs()))
                            ),
                            ..failure.into()
                        });
                    }
                    seen.see(
                        &server,
                        "answer",
                        failure.message,
                        Verdict::Inconclusive,
                        format!("asking again every {} for up to {}", dur(self.poll), dur(API_PATIENCE)),
                    );
                    if !pause(self.poll, cancel).await {
                        return Err(stopped());
                    }
                }
                Err(e) => return Err(c.error(e, verb, resource, name).into()),
            }
        }
    }
}

/// Connects, resolves the Deployments, and for a scale reads the current counts so the
/// intent holds the exact change.
pub async fn prepare(k8s_step: K8sStep<'_>, step: &Step, run: &RunState) -> Result<(Intent, K8sJob), Failure> {
    let Some(config) = run.runbook.k8s.clone() else {
        return Err(Failure::new("this runbook has no [k8s] section")
            .advise("add [k8s] with context, namespace and deployments"));
    };
    let cluster = Cluster::connect(&config).await?;
    let own: &[String] = match k8s_step {
        K8sStep::Rollout(r) => &r.deployments,
        K8sStep::Scale(s) => &s.deployments,
        K8sStep::Validate(v) => &v.deployments,
        K8sStep::Smoke(_) | K8sStep::Expose(_) => &[],
    };
    let deployments = k8s_deployments(own, &config).to_vec();
    let mut objects: Vec<String> = Vec::new();
    let mut scale = Vec::new();
    match k8s_step {
        K8sStep::Rollout(_) | K8sStep::Validate(_) => {
            objects.extend(deployments.iter().map(|d| format!("Deployment {d}")));
        }
        K8sStep::Smoke(s) => {
            objects.extend(
                s.checks
                    .iter()
                    .map(|c| format!("Deployment {} :{}{}", c.deployment, c.port, c.path)),
            );
        }
        K8sStep::Expose(e) => objects.extend(
            e.service
                .iter()
                .map(|s| format!("Service {s}"))
                .chain(e.ingress.iter().map(|i| format!("Ingress {i}"))),
        ),
        K8sStep::Scale(s) => {
            // A rerun after a crash keeps the counts the first try found: by now the
            // Deployments may already hold the new count.
            let earlier: Vec<ScaleChange> = match run.step(&step.id).and_then(|s| s.intent.as_ref()) {
                Some(Intent::Kube(k)) => k.scale.clone(),
                _ => Vec::new(),
            };
            for d in &deployments {
                let from = match earlier.iter().find(|c| &c.deployment == d) {
                    Some(c) => c.from,
                    None => current_replicas(&cluster.deployment(d).await?),
                };
                let to = match s.replicas {
                    Some(n) => n,
                    None => restore_count(run, &step.id, d).ok_or_else(|| {
                        Failure::new(format!(
                            "no earlier k8s.scale step recorded a count for Deployment {d} to restore"
                        ))
                        .advise("give `replicas` a number in this step")
                    })?,
                };
                scale.push(ScaleChange {
                    deployment: d.clone(),
                    from,
                    to,
                });
            }
            objects.extend(deployments.iter().map(|d| format!("Deployment {d}")));
        }
    }
    let op = K8sOp::of(k8s_step);
    let intent = Intent::Kube(KubeIntent {
        op: op.name(),
        context: format!("{} ({})", cluster.context, cluster.server),
        namespace: cluster.namespace.clone(),
        objects,
        scale: scale.clone(),
    });
    Ok((
        intent,
        K8sJob {
            cluster,
            config,
            op,
            deployments,
            scale,
            flipped_at: run
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Succeeded)
                .filter(|s| matches!(&s.intent, Some(Intent::Dns(d)) if d.op == DnsOp::Flip))
                .filter_map(|s| s.finished_at)
                .max(),
            dry_run: run.dry_run,
        },
    ))
}

fn current_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The count an earlier scale step of this run found for `deployment` (before it scaled).
fn restore_count(run: &RunState, this: &str, deployment: &str) -> Option<i32> {
    run.steps.iter().rev().find_map(|s| match &s.intent {
        Some(Intent::Kube(k)) if s.id != this && k.op == KubeOp::Scale && s.status == StepStatus::Succeeded => {
            k.scale.iter().find(|c| c.deployment == deployment).map(|c| c.from)
        }
        _ => None,
    })
}

pub async fn execute(job: K8sJob, reporter: &Reporter, cancel: &CancellationToken) -> Result<Outcome, Failure> {
    let mut seen = Seen::new(reporter);
    match &job.op {
        K8sOp::Rollout(r) => rollout(&job, r.timeout, r.exposed, &mut seen, cancel).await,
        K8sOp::Smoke(s) => smoke(&job, &s.checks, &mut seen, cancel).await,
        K8sOp::Expose(e) => expose(&job, e, &mut seen, cancel).await,
        K8sOp::Scale(s) => scale(&job, s.timeout, &mut seen, cancel).await,
        K8sOp::Validate(v) => validate(&job, v, &mut seen).await,
    }
}

/// What a Deployment still waits for, or `None` when it is rolled out.
fn rollout_gap(d: &Deployment) -> (String, Option<String>) {
    let want = current_replicas(d);
    let generation = d.metadata.generation.unwrap_or(0);
    let st = d.status.clone().unwrap_or_default();
    let ready = st.ready_replicas.unwrap_or(0);
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    let value = format!("{ready}/{want} ready");
    let gap = if st.observed_generation.unwrap_or(0) < generation {
        Some(format!(
            "the controller has not seen generation {generation} yet (observed {})",
            st.observed_generation.unwrap_or(0)
        ))
    } else if updated < want {
        Some(format!("{updated}/{want} replicas updated"))
    } else if total > updated {
        Some(format!("{} old replicas still terminating", total - updated))
    } else if available < want {
        Some(format!("{available}/{want} available"))
    } else if ready < want {
        Some(format!("{ready}/{want} Ready"))
    } else if want == 0 {
        Some("it is scaled to 0 replicas: nothing runs".to_string())
    } else {
        None
    };
    (value, gap)
}

async fn rollout(
    job: &K8sJob,
    timeout: Duration,
    exposed_ok: bool,
    seen: &mut Seen<'_>,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let c = &job.cluster;
    let started = Instant::now();
    let mut patience = Patience::new(timeout, job.config.poll_interval);
    let api = c.api::<Deployment>();
    let mut fetched;
    loop {
        fetched = Vec::new();
        let mut waiting = Vec::new();
        for name in &job.deployments {
            let d = patience
                .ask(c, ("get", "deployments", Some(name)), seen, cancel, || api.get(name))
                .await?;
            let (value, gap) = rollout_gap(&d);
            let object = format!("Deployment {name}");
            // The controller has given up: waiting longer changes nothing.
            if let Some(stuck) = d
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Progressing" && c.status == "False"))
            {
                let why = stuck.message.clone().unwrap_or_default();
                seen.see(&object, "rollout", value, Verdict::Breach, why.clone());
                return Err(Failure::new(format!(
                        "Deployment {name} is not progressing ({}): {why}",
                        stuck.reason.clone().unwrap_or_default()
                    )).advise("look at the new pods' events (image pull, scheduling, crash loop); fix the cause and retry the step"
                            .to_string(),));
            }
            match &gap {
                None => seen.see(&object, "rollout", value, Verdict::Within, String::new()),
                Some(g) => {
                    seen.see(
                        &object,
                        "rollout",
                        value,
                        Verdict::Inconclusive,
                        format!("waiting: {g}"),
                    );
                    waiting.push(format!("{name}: {g}"));
                }
            }
            fetched.push(d);
        }
        if waiting.is_empty() {
            break;
        }
        if started.elapsed() >= timeout {
            return Err(Failure::new(format!("not rolled out after {}: {}", dur(timeout), waiting.join("; "))).advise("look at the pods (`kubectl describe pod`, events) for why they are not Ready; retry the step when they are"
                        .to_string(),));
        }
        if !pause(job.config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
    // No external traffic yet: nothing public may route to these pods before the flip.
    let routes = exposure(c, &fetched).await?;
    for (object, target) in &routes {
        let verdict = if exposed_ok { Verdict::Within } else { Verdict::Breach };
        seen.see(
            object,
            "exposure",
            format!("routes to {target}"),
            verdict,
            String::new(),
        );
    }
    if !routes.is_empty() && !exposed_ok {
        let list: Vec<String> = routes.iter().map(|(o, t)| format!("{o} routes to {t}")).collect();
        return Err(Failure::new(format!("external traffic can already reach the new pods: {}", list.join("; "))).advise("the new pods must not take traffic before the cutover: remove it, or set `exposed = true` on this step if the exposure step already ran"
                    .to_string(),));
    }
    Ok(Outcome {
        summary: format!(
            "{} Deployment(s) rolled out and Ready{}",
            fetched.len(),
            if routes.is_empty() {
                "; no external traffic yet"
            } else {
                ""
            }
        ),
        details: fetched
            .iter()
            .map(|d| format!("{}: {}", d.metadata.name.clone().unwrap_or_default(), rollout_gap(d).0))
            .collect(),
        ..Outcome::default()
    })
}

/// LoadBalancer Services and Ingresses that reach the pods of `deployments`, as
/// (`Service web-lb`, `Deployment web`).
async fn exposure(c: &Cluster, deployments: &[Deployment]) -> Result<Vec<(String, String)>, Failure> {
    let services = c
        .bounded(c.api::<Service>().list(&ListParams::default()))
        .await
        .map_err(|e| c.error(e, "list", "services", None))?
        .items;
    let ingresses = c
        .bounded(c.api::<Ingress>().list(&ListParams::default()))
        .await
        .map_err(|e| c.error(e, "list", "ingresses", None))?
        .items;
    let template_labels = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    };
    let selects = |svc: &Service, d: &Deployment| {
        let labels = template_labels(d);
        svc.spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    let mut out = Vec::new();
    for d in deployments {
        let dname = format!("Deployment {}", d.metadata.name.clone().unwrap_or_default());
        for svc in &services {
            let sname = svc.metadata.name.clone().unwrap_or_default();
            // Ways in from outside the cluster: a load balancer, a port on every node, or
            // addresses routed straight to the Service.
            let spec = svc.spec.as_ref();
            let kind = spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
            let external_ips = spec
                .and_then(|s| s.external_ips.as_ref())
                .is_some_and(|v| !v.is_empty());
            if (kind == "LoadBalancer" || kind == "NodePort" || external_ips) && selects(svc, d) {
                let how = if external_ips && kind == "ClusterIP" {
                    "externalIPs".to_string()
                } else {
                    kind.to_string()
                };
                out.push((format!("Service {sname} ({how})"), dname.clone()));
            }
            // An Ingress reaches the pods through any Service that selects them.
            if selects(svc, d) {
                for ing in &ingresses {
                    if ingress_backends(ing).contains(&sname) {
                        out.push((
                            format!("Ingress {}", ing.metadata.name.clone().unwrap_or_default()),
                            dname.clone(),
                        ));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn ingress_backends(ing: &Ingress) -> Vec<String> {
    let Some(spec) = &ing.spec else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(s) = spec.default_backend.as_ref().and_then(|b| b.service.as_ref()) {
        out.push(s.name.clone());
    }
    for rule in spec.rules.iter().flatten() {
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            if let Some(s) = &path.backend.service {
                out.push(s.name.clone());
            }
        }
    }
    out
}

async fn smoke(
    job: &K8sJob,
    checks: &[SmokeCheck],
    seen: &mut Seen<'_>,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let c = &job.cluster;
    let mut failures = Vec::new();
    let mut details = Vec::new();
    let mut probes = 0;
    for check in checks {
        let what = format!("GET :{}{}", check.port, check.path);
        let d = c.deployment(&check.deployment).await?;
        let want = current_replicas(&d);
        let pods = c.pods_of(&d).await?;
        let ready: Vec<&Pod> = pods.iter().filter(|p| pod_ready(p)).collect();
        if ready.len() < want.max(1) as usize {
            let note = format!(
                "{}/{want} pods of Deployment {} are Ready ({} pod(s) in all)",
                ready.len(),
                check.deployment,
                pods.len()
            );
            seen.see(
                &format!("Deployment {}", check.deployment),
                &what,
                format!("{}/{want} Ready", ready.len()),
                Verdict::Breach,
                note.clone(),
            );
            failures.push(note);
        }
        // Every Ready pod: one pod that cannot reach its database fails the check.
        for pod in ready {
            probes += 1;
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let object = format!("Pod {pod_name}");
            let tunnel = Tunnel::open(c, &pod_name, check.port).await?;
            let p = HttpProbe {
                method: "GET".to_string(),
                url: format!("http://127.0.0.1:{}{}", tunnel.port, check.path),
                shown_as: None,
                expect_status: Some(check.expect_status),
                json_body: None,
                max_latency: check.max_latency,
                body_contains: check.body_contains.clone(),
                resolve: None,
                timeout: check.timeout,
                headers: Vec::new(),
                retries: 0,
                retry_interval: Duration::from_secs(1),
                repeatable: true,
            };
            let result = probe(&p, cancel).await;
            let tunnel_error = tunnel.close().await;
            match result {
                Ok(o) => {
                    seen.see(&object, &what, o.summary.clone(), Verdict::Within, String::new());
                    details.push(format!("{pod_name} {what}: {}", o.summary));
                }
                Err(f) => {
                    let answered = matches!(&f.evidence, crate::engine::Evidence::Http { attempts }
                        if attempts.last().is_some_and(|a| a.status.is_some()));
                    // Without an HTTP answer the local end of the tunnel means nothing to the
                    // operator: name the pod's port and the last cause.
                    let mut message = if answered {
                        f.message.clone()
                    } else {
                        format!(
                            "no HTTP answer through the port-forward to {pod_name}:{}: {}",
                            check.port,
                            f.message.rsplit(": ").next().unwrap_or(&f.message)
                        )
                    };
                    if let Some(t) = tunnel_error {
                        message.push_str(&format!(" (port-forward: {t})"));
                    }
                    seen.see(&object, &what, message.clone(), Verdict::Breach, String::new());
                    failures.push(format!("{pod_name} {what}: {message}"));
                }
            }
            if cancel.is_cancelled() {
                return Err(stopped());
            }
        }
    }
    if failures.is_empty() {
        Ok(Outcome {
            summary: format!("{probes} check(s) passed through a port-forward, on every Ready pod"),
            details,
            ..Outcome::default()
        })
    } else {
        Err(Failure::new(failures.join("; ")).advise("a readiness endpoint that fails names a dependency that is not there (database, queue): fix it before exposing the service; retry the step after"
                    .to_string(),))
    }
}

/// A local port whose connections are forwarded to a pod's port through the API server
/// (one port-forward session per connection), like `kubectl port-forward`. The first
/// session is opened before the port is handed out, so a check's latency is the pod's,
/// not the tunnel's setup.
struct Tunnel {
    port: u16,
    stop: CancellationToken,
    tasks: tokio_util::task::TaskTracker,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Tunnel {
    async fn open(c: &Cluster, pod: &str, port: u16) -> Result<Tunnel, Failure> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Failure::new(format!("cannot open a local port for the port-forward: {e}")))?;
        let local = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let api = c.api::<Pod>();
        let first = c
            .bounded(api.portforward(pod, &[port]))
            .await
            .map_err(|e| c.error(e, "create", "pods/portforward", Some(pod)))?;
        let pod = pod.to_string();
        let stop = CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        let last_error = Arc::new(std::sync::Mutex::new(None::<String>));
        let (stopping, spawner, errors) = (stop.clone(), tasks.clone(), last_error.clone());
        let cluster = c.clone();
        tasks.spawn(async move {
            let mut ready = Some(first);
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    () = stopping.cancelled() => break,
                };
                let Ok((conn, _)) = accepted else { break };
                let session = match ready.take() {
                    Some(s) => Ok(s),
                    None => cluster.bounded(api.portforward(&pod, &[port])).await,
                };
                let forwarded = match session {
                    Ok(f) => f,
                    Err(e) => {
                        let f = cluster.error(e, "create", "pods/portforward", Some(&pod));
                        *errors.lock().unwrap() = Some(f.message);
                        continue;
                    }
                };
                let errors = errors.clone();
                let stopping = stopping.clone();
                spawner.spawn(async move {
                    tokio::select! {
                        () = bridge(conn, forwarded, port, &errors) => {}
                        () = stopping.cancelled() => {}
                    }
                });
            }
        });
        tasks.close();
        Ok(Tunnel {
            port: local,
            stop,
            tasks,
            last_error,
        })
    }

    /// Stops accepting and ends the open connections (the check is done); returns the
    /// last tunnel error, if there was one.
    async fn close(self) -> Option<String> {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_millis(500), self.tasks.wait()).await;
        self.last_error.lock().unwrap().clone()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // A smoke check stopped half-way (a rollback) must not leave the listener behind.
        self.stop.cancel();
    }
}

async fn bridge(
    mut conn: tokio::net::TcpStream,
    mut forwarded: kube::api::Portforwarder,
    port: u16,
    errors: &std::sync::Mutex<Option<String>>,
) {
    let Some(mut upstream) = forwarded.take_stream(port) else {
        *errors.lock().unwrap() = Some(format!("no stream for port {port}"));
        return;
    };
    if let Err(e) = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await {
        *errors.lock().unwrap() = Some(format!("the tunnel dropped: {e}"));
    }
    drop(upstream);
    // Closing after the pod side went away makes kube report a send on a closed socket:
    // the cause was already seen above, so this adds nothing.
    let _ = forwarded.join().await;
}

async fn expose(
    job: &K8sJob,
    e: &crate::runbook::K8sExposeStep,
    seen: &mut Seen<'_>,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let c = &job.cluster;
    let started = Instant::now();
    let mut patience = Patience::new(e.timeout, job.config.poll_interval);
    let (services, ingresses) = (c.api::<Service>(), c.api::<Ingress>());
    loop {
        let (object, address) = match (&e.service, &e.ingress) {
            (Some(name), _) => {
                let svc = patience
                    .ask(c, ("get", "services", Some(name)), seen, cancel, || services.get(name))
                    .await?;
                let kind = svc.spec.as_ref().and_then(|s| s.type_.clone()).unwrap_or_default();
                if kind != "LoadBalancer" {
                    return Err(Failure::new(format!(
                        "Service {name} is of type {kind}, not LoadBalancer: it gets no external address"
                    ))
                    .advise(
                        "name the LoadBalancer Service (or the Ingress) that the DNS record will point at".to_string(),
                    ));
                }
                let lb = svc.status.and_then(|s| s.load_balancer).and_then(|l| l.ingress);
                (
                    format!("Service {name}"),
                    lb.map(|i| i.into_iter().filter_map(|i| i.ip.or(i.hostname)).collect::<Vec<_>>()),
                )
            }
            (None, Some(name)) => {
                let ing = patience
                    .ask(c, ("get", "ingresses", Some(name)), seen, cancel, || {
                        ingresses.get(name)
                    })
                    .await?;
                let lb = ing.status.and_then(|s| s.load_balancer).and_then(|l| l.ingress);
                (
                    format!("Ingress {name}"),
                    lb.map(|i| i.into_iter().filter_map(|i| i.ip.or(i.hostname)).collect::<Vec<_>>()),
                )
            }
            (None, None) => unreachable!("validated: a service or an ingress"),
        };
        match address.filter(|a| !a.is_empty()) {
            Some(addresses) => {
                let addr = addresses.join(", ");
                // An IP makes A (or AAAA) records when the flip points at it; a host name
                // (AWS gives one) makes a CNAME.
                let kind = if addresses.iter().all(|a| a.parse::<std::net::IpAddr>().is_ok()) {
                    if addresses.len() == 1 {
                        "an IP address: a flip to it writes an address record"
                    } else {
                        "IP addresses: a flip to them writes a record set"
                    }
                } else {
                    "a host name: a flip to it replaces the address records with a CNAME"
                };
                seen.see(
                    &object,
                    "external address",
                    addr.clone(),
                    Verdict::Within,
                    kind.to_string(),
                );
                let mut outputs = BTreeMap::new();
                outputs.insert(e.output.clone(), addr.clone());
                return Ok(Outcome {
                    summary: format!(
                        "{object} has external address {addr} ({kind}), stored as ${{{}}}",
                        e.output
                    ),
                    outputs,
                    ..Outcome::default()
                });
            }
            None => seen.see(
                &object,
                "external address",
                "none yet".to_string(),
                Verdict::Inconclusive,
                "waiting for the cloud load balancer".to_string(),
            ),
        }
        if started.elapsed() >= e.timeout {
            return Err(Failure::new(format!("{object} has no external address after {}", dur(e.timeout))).advise("look at the Service's events (`kubectl describe`): quota, subnet or annotation problems keep the cloud from creating the load balancer"
                        .to_string(),));
        }
        if !pause(job.config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
}

/// What a dry run would send: one merge PATCH of the scale subresource per Deployment
/// (the counts were read from the cluster when the step was prepared).
fn would_scale(job: &K8sJob) -> Outcome {
    let mut details = vec![format!(
        "dry run: nothing was sent. A real run sends, to {}:",
        job.cluster.describe()
    )];
    for change in &job.scale {
        details.push(format!(
            "  PATCH deployments/{}/scale (merge) {{\"spec\":{{\"replicas\":{}}}}}  (now {})",
            change.deployment, change.to, change.from
        ));
    }
    Outcome {
        summary: format!(
            "dry run: would scale {}",
            job.scale
                .iter()
                .map(|s| format!("{} {} → {}", s.deployment, s.from, s.to))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        details,
        ..Outcome::default()
    }
}

async fn scale(
    job: &K8sJob,
    timeout: Duration,
    seen: &mut Seen<'_>,
    cancel: &CancellationToken,
) -> Result<Outcome, Failure> {
    let c = &job.cluster;
    let api = c.api::<Deployment>();
    if job.dry_run {
        return Ok(would_scale(job));
    }
    let started = Instant::now();
    // Preparing the step read the current counts, so the server has answered already; the
    // patch sets an absolute count, so sending it again is safe.
    let mut patience = Patience {
        answered: true,
        ..Patience::new(timeout, job.config.poll_interval)
    };
    let params = PatchParams::default();
    let mut already = Vec::new();
    for change in &job.scale {
        // Read first: a count already set (by the try a crash cut short) is not sent again.
        let now = patience
            .ask(
                c,
                ("get", "deployments", Some(&change.deployment)),
                seen,
                cancel,
                || api.get(&change.deployment),
            )
            .await?;
        if current_replicas(&now) == change.to {
            already.push(change.deployment.clone());
            continue;
        }
        let patch = serde_json::json!({ "spec": { "replicas": change.to } });
        let merge = Patch::Merge(&patch);
        let target = ("patch", "deployments/scale", Some(change.deployment.as_str()));
        patience
            .ask(c, target, seen, cancel, || {
                api.patch_scale(&change.deployment, &params, &merge)
            })
            .await?;
    }
    loop {
        let mut waiting = Vec::new();
        for change in &job.scale {
            let d = patience
                .ask(
                    c,
                    ("get", "deployments", Some(&change.deployment)),
                    seen,
                    cancel,
                    || api.get(&change.deployment),
                )
                .await?;
            let st = d.status.clone().unwrap_or_default();
            let (total, ready) = (st.replicas.unwrap_or(0), st.ready_replicas.unwrap_or(0));
            let done = if change.to == 0 {
                total == 0
            } else {
                ready >= change.to && total == change.to
            };
            let object = format!("Deployment {}", change.deployment);
            let value = format!(
                "{total} replicas, {ready} ready (was {}, now {})",
                change.from, change.to
            );
            if done {
                seen.see(&object, "scale", value, Verdict::Within, String::new());
            } else {
                seen.see(
                    &object,
                    "scale",
                    value,
                    Verdict::Inconclusive,
                    "waiting for the controller".to_string(),
                );
                waiting.push(format!(
                    "{}: {total} replicas, {ready} ready, want {}",
                    change.deployment, change.to
                ));
            }
        }
        if waiting.is_empty() {
            break;
        }
        if started.elapsed() >= timeout {
            return Err(Failure::new(format!(
                "the new counts were set, but after {} {}",
                dur(timeout),
                waiting.join("; ")
            ))
            .advise(
                "look at the Deployments' events and pods; retrying the step sets the same counts again".to_string(),
            ));
        }
        if !pause(job.config.poll_interval, cancel).await {
            return Err(stopped());
        }
    }
    Ok(Outcome {
        summary: job
            .scale
            .iter()
            .map(|s| format!("{} {} → {}", s.deployment, s.from, s.to))
            .collect::<Vec<_>>()
            .join(", "),
        details: [
            "the previous counts are in the journal; a later `k8s.scale` with replicas = \"restore\" puts them back"
                .to_string(),
        ]
        .into_iter()
        .chain((!already.is_empty()).then(|| {
            format!(
                "{} already had the new count (set before an interruption, or by hand): not sent again",
                already.join(", ")
            )
        }))
        .collect(),
        ..Outcome::default()
    })
}

async fn validate(job: &K8sJob, v: &crate::runbook::K8sValidateStep, seen: &mut Seen<'_>) -> Result<Outcome, Failure> {
    let c = &job.cluster;
    // "No restarts in the first N minutes": counted from the flip when the run has one,
    // else over the last N minutes.
    let window_secs = v.restart_window.as_secs() as i64;
    let since = job
        .flipped_at
        .map_or_else(|| chrono::Utc::now().timestamp() - window_secs, |t| t.timestamp());
    let since_words = match job.flipped_at {
        Some(t) => format!("since the flip at {}", t.format("%H:%M:%S UTC")),
        None => format!("within the last {}", dur(v.restart_window)),
    };
    let mut problems = Vec::new();
    let mut pods_seen = 0;
    for name in &job.deployments {
        let d = c.deployment(name).await?;
        let pods = c.pods_of(&d).await?;
        if pods.is_empty() {
            seen.see(
                &format!("Deployment {name}"),
                "pods",
                "0 pods".to_string(),
                Verdict::Breach,
                String::new(),
            );
            problems.push(format!("Deployment {name} has no pods (selector {})", match_labels(&d)));
        }
        for pod in &pods {
            pods_seen += 1;
            let pname = pod.metadata.name.clone().unwrap_or_default();
            let object = format!("Pod {pname}");
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            if pod_ready(pod) {
                seen.see(
                    &object,
                    "ready",
                    format!("{phase}, Ready"),
                    Verdict::Within,
                    String::new(),
                );
            } else {
                seen.see(
                    &object,
                    "ready",
                    format!("{phase}, not Ready"),
                    Verdict::Breach,
                    String::new(),
                );
                problems.push(format!("pod {pname} is {phase} and not Ready"));
            }
            for cs in pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone())
                .unwrap_or_default()
            {
                let container = format!("{pname}/{}", cs.name);
                let last = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref());
                let now_terminated = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
                let after = |t: &k8s_openapi::api::core::v1::ContainerStateTerminated| {
                    t.finished_at.as_ref().is_none_or(|f| f.0.as_second() >= since)
                };
                let oom = [now_terminated, last]
                    .into_iter()
                    .flatten()
                    .find(|t| t.reason.as_deref() == Some("OOMKilled") && after(t));
                let waiting = cs
                    .state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.clone());
                if let Some(t) = oom {
                    let when = t.finished_at.as_ref().map(|f| f.0.to_string()).unwrap_or_default();
                    seen.see(
                        &format!("Container {container}"),
                        "terminations",
                        "OOMKilled".to_string(),
                        Verdict::Breach,
                        when,
                    );
                    problems.push(format!("container {} of pod {pname} was OOMKilled", cs.name));
                } else if waiting.as_deref() == Some("CrashLoopBackOff") {
                    seen.see(
                        &format!("Container {container}"),
                        "state",
                        "CrashLoopBackOff".to_string(),
                        Verdict::Breach,
                        String::new(),
                    );
                    problems.push(format!("container {} of pod {pname} is in CrashLoopBackOff", cs.name));
                }
                // The last termination tells when it last restarted; without one the time is
                // unknown and a restart counts.
                let recent = last.is_none_or(after);
                let value = format!("{} restart(s)", cs.restart_count);
                if cs.restart_count > 0 && recent {
                    seen.see(
                        &format!("Container {container}"),
                        "restarts",
                        value,
                        Verdict::Breach,
                        since_words.clone(),
                    );
                    problems.push(format!(
                        "container {} of pod {pname} restarted ({} times in all) {since_words}",
                        cs.name, cs.restart_count
                    ));
                } else {
                    seen.see(
                        &format!("Container {container}"),
                        "restarts",
                        value,
                        Verdict::Within,
                        String::new(),
                    );
                }
            }
            if let Some(a) = &v.require_annotation {
                let has = pod.metadata.annotations.as_ref().is_some_and(|m| m.contains_key(a));
                let verdict = if has { Verdict::Within } else { Verdict::Breach };
                seen.see(
                    &object,
                    &format!("annotation {a}"),
                    if has { "present" } else { "missing" }.to_string(),
                    verdict,
                    String::new(),
                );
                if !has {
                    problems.push(format!(
                        "pod {pname} has no annotation {a} (the sidecar was not injected)"
                    ));
                }
            }
        }
    }
    let pvcs = c
        .bounded(c.api::<PersistentVolumeClaim>().list(&ListParams::default()))
        .await
        .map_err(|e| c.error(e, "list", "persistentvolumeclaims", None))?
        .items;
    for pvc in &pvcs {
        let name = pvc.metadata.name.clone().unwrap_or_default();
        let phase = pvc
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".to_string());
        let verdict = if phase == "Bound" {
            Verdict::Within
        } else {
            Verdict::Breach
        };
        seen.see(
            &format!("PersistentVolumeClaim {name}"),
            "phase",
            phase.clone(),
            verdict,
            String::new(),
        );
        if phase != "Bound" {
            problems.push(format!("PersistentVolumeClaim {name} is {phase}, not Bound"));
        }
    }
    let quotas = c
        .bounded(c.api::<ResourceQuota>().list(&ListParams::default()))
        .await
        .map_err(|e| c.error(e, "list", "resourcequotas", None))?
        .items;
    for q in &quotas {
        let name = q.metadata.name.clone().unwrap_or_default();
        let status = q.status.clone().unwrap_or_default();
        let hard = status.hard.unwrap_or_default();
        let used = status.used.unwrap_or_default();
        for (resource, limit) in &hard {
            let Some(u) = used.get(resource) else { continue };
            let (Some(uq), Some(lq)) = (quantity(&u.0), quantity(&limit.0)) else {
                continue;
            };
            let value = format!("{} of {}", u.0, limit.0);
            let object = format!("ResourceQuota {name}");
            if uq > lq {
                seen.see(
                    &object,
                    resource,
                    value.clone(),
                    Verdict::Breach,
                    "exceeded".to_string(),
                );
                problems.push(format!("ResourceQuota {name}: {resource} uses {value}"));
            } else {
                let note = if lq > 0.0 && uq / lq >= 0.9 {
                    "90% or more used".to_string()
                } else {
                    String::new()
                };
                seen.see(&object, resource, value, Verdict::Within, note);
            }
        }
    }
    if problems.is_empty() {
        Ok(Outcome {
            summary: format!(
                "{pods_seen} pod(s) Running and Ready, no restarts in the last {}; {} PVC(s) Bound; quotas within limits",
                dur(v.restart_window),
                pvcs.len()
            ),
            ..Outcome::default()
        })
    } else {
        Err(Failure::new(problems.join("; ")).advise("look at the pods named (`kubectl describe pod`, logs of the previous container); decide whether to roll back"))
    }
}

/// A Kubernetes quantity (`500m`, `2Gi`, `10`) as a number, for comparing used with hard.
pub fn quantity(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::quantity;

    #[test]
    fn quantities_compare_across_suffixes() {
        assert_eq!(quantity("500m"), Some(0.5));
        assert_eq!(quantity("2Gi"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert!(quantity("1Gi").unwrap() > quantity("1G").unwrap());
        assert_eq!(quantity("10"), Some(10.0));
        assert_eq!(quantity("3x"), None);
    }
}
