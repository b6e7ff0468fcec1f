//! Cluster access for the `k8s.*` steps: kubeconfig loading with the runbook's context
//! and namespace, and errors turned into messages that say what, where and what to do.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::runbook::K8sConfig;

/// What went wrong with the cluster, in words for the operator: the verb, the object, the
/// cluster, and what to do. The effects turn it into a step's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeError {
    pub message: String,
    pub advice: Option<String>,
}

impl std::fmt::Display for KubeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KubeError {}

/// A connected cluster: the client and what to call it in messages.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// The kubeconfig context (or `in-cluster`).
    pub context: String,
    /// The API server's address.
    pub server: String,
    pub namespace: String,
    /// How long one request may take in all (`request_timeout` in [k8s]).
    pub timeout: Duration,
}

impl Cluster {
    /// Loads the kubeconfig the runbook names (or `KUBECONFIG`, `~/.kube/config`, then the
    /// in-cluster service account) with the runbook's context. Nothing is asked of the
    /// API server yet.
    pub async fn connect(cfg: &K8sConfig) -> Result<Cluster, KubeError> {
        let options = KubeConfigOptions {
            context: cfg.context.clone(),
            ..KubeConfigOptions::default()
        };
        let where_from = cfg
            .kubeconfig
            .clone()
            .unwrap_or_else(|| match std::env::var("KUBECONFIG") {
                Ok(k) => format!("KUBECONFIG={k}"),
                Err(_) => "~/.kube/config".to_string(),
            });
        let bad = |e: String| KubeError {
            message: format!("cannot load the kubeconfig ({where_from}): {e}"),
            advice: Some(match &cfg.context {
                Some(c) => format!(
                    "check that the kubeconfig exists and has a context named `{c}` (`kubectl config get-contexts`)"
                ),
                None => "check the kubeconfig, or name it with `kubeconfig` in [k8s]".to_string(),
            }),
        };
        let (mut config, context) = match &cfg.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| bad(kubeconfig_problem(&e)))?;
                let context = cfg.context.clone().or_else(|| kc.current_context.clone());
                let config = Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| bad(kubeconfig_problem(&e)))?;
                (config, context.unwrap_or_default())
            }
            None => match Kubeconfig::read() {
                Ok(kc) => {
                    let context = cfg.context.clone().or_else(|| kc.current_context.clone());
                    let config = Config::from_kubeconfig(&options)
                        .await
                        .map_err(|e| bad(kubeconfig_problem(&e)))?;
                    (config, context.unwrap_or_default())
                }
                Err(_) if cfg.context.is_none() => {
                    let config = Config::infer().await.map_err(|e| bad(kubeconfig_problem(&e)))?;
                    (config, "in-cluster".to_string())
                }
                Err(e) => return Err(bad(kubeconfig_problem(&e))),
            },
        };
        // kube's own retry of 429/503/504 backs off for minutes inside one request, out of
        // sight and past the step's timeout; the waiting steps retry themselves, visibly.
        config.default_retry = false;
        config.connect_timeout = Some(Duration::from_secs(5));
        // A backstop: every request is bounded as a whole by `bounded`, which says so.
        config.read_timeout = Some(cfg.request_timeout + Duration::from_secs(1));
        config.write_timeout = Some(cfg.request_timeout + Duration::from_secs(1));
        let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
        let client = Client::try_from(config).map_err(|e| bad(kubeconfig_problem(&e)))?;
        Ok(Cluster {
            client,
            context,
            server,
            namespace: cfg.namespace.clone(),
            timeout: cfg.request_timeout,
        })
    }

    /// One request to the API server, ended after `request_timeout` whatever the client
    /// does (and reported while it waits, see `outside`). No answer in time is a
    /// `kube::Error::Service` holding an `outside::NoAnswer`: transient, like a server that
    /// is unreachable.
    pub async fn bounded<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        let server = format!("API server {}", self.server);
        crate::outside::call(&server, self.timeout, request)
            .await
            .unwrap_or_else(|e| Err(kube::Error::Service(Box::new(e))))
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// `context prod-eu (https://10.0.0.1:6443), namespace shop`
    pub fn describe(&self) -> String {
        format!(
            "context {} ({}), namespace {}",
            self.context, self.server, self.namespace
        )
    }

    /// Turns a client error into a message naming the verb, the object and the cluster,
    /// with what the operator can do about it.
    pub fn error(&self, e: kube::Error, verb: &str, resource: &str, name: Option<&str>) -> KubeError {
        let object = match name {
            Some(n) => format!("{resource} {n}"),
            None => resource.to_string(),
        };
        let (message, advice) = match &e {
            kube::Error::Api(s) if s.code == 401 => (
                format!(
                    "the API server at {} refused the credentials of context {} (401 Unauthorized)",
                    self.server, self.context
                ),
                "the token or certificate has probably expired: log in again (refresh the kubeconfig), then retry"
                    .to_string(),
            ),
            kube::Error::Api(s) if s.code == 403 => (
                format!("not allowed to {verb} {object} in namespace {}: {}", self.namespace, s.message),
                format!(
                    "ask for an RBAC rule that allows verb `{verb}` on resource `{resource}` in namespace `{}` for the user of context {}",
                    self.namespace, self.context
                ),
            ),
            kube::Error::Api(s) if s.code == 404 => (
                format!("{object} not found in namespace {} ({})", self.namespace, self.context),
                "check the name in the runbook, and that the context and namespace are the right ones".to_string(),
            ),
            kube::Error::Api(s) => (
                format!("the API server answered {} to {verb} {object}: {}", s.code, s.message),
                "the step can be retried".to_string(),
            ),
            // An exec plugin's output can hold a token: say which context, not what it printed.
            kube::Error::Auth(_) => (
                format!(
                    "the credentials of context {} could not be obtained (the credential plugin or token file failed)",
                    self.context
                ),
                "log in again (e.g. `aws sso login`, `gcloud auth login`, `kubelogin`), check that the plugin named in the kubeconfig is installed, then retry".to_string(),
            ),
            kube::Error::Service(inner) if inner.downcast_ref::<crate::outside::NoAnswer>().is_some() => (
                format!(
                    "the API server at {} (context {}) did not answer within {}",
                    self.server,
                    self.context,
                    crate::runbook::duration::format(self.timeout)
                ),
                format!(
                    "nothing answers at {}: check the network path to the cluster (VPN, firewall, a proxy) and that the context points at the right cluster; `request_timeout` in [k8s] is the time one request may take. The step can be retried",
                    crate::words::host_port(&self.server)
                ),
            ),
            other if tls_problem(other) => (
                format!(
                    "the TLS connection to the API server at {} (context {}) failed: {}",
                    self.server,
                    self.context,
                    crate::error::root_cause(other)
                ),
                "check the cluster's certificate-authority-data in the kubeconfig and that the server address is the name on the certificate; this will not pass by retrying".to_string(),
            ),
            other => (
                format!(
                    "the API server at {} (context {}) did not answer: {}",
                    self.server,
                    self.context,
                    crate::error::root_cause(other)
                ),
                "check the network path to the cluster (VPN, firewall) and that the context points at the right cluster; the step can be retried".to_string(),
            ),
        };
        KubeError {
            message,
            advice: Some(advice),
        }
    }

    pub async fn deployment(&self, name: &str) -> Result<Deployment, KubeError> {
        self.bounded(self.api::<Deployment>().get(name))
            .await
            .map_err(|e| self.error(e, "get", "deployments", Some(name)))
    }

    /// The pods a Deployment selects (by its `matchLabels`).
    pub async fn pods_of(&self, deployment: &Deployment) -> Result<Vec<Pod>, KubeError> {
        let selector = match_labels(deployment);
        self.bounded(self.api::<Pod>().list(&ListParams::default().labels(&selector)))
            .await
            .map(|l| l.items)
            .map_err(|e| self.error(e, "list", "pods", None))
    }
}

/// Whether asking again later may help: the API server unreachable or timing out, overloaded
/// (429) or failing (5xx). Refusals (401, 403, 404, 409, 422), credential plugins and TLS
/// trust problems are not: they need a person.
pub fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => !tls_problem(e),
        _ => false,
    }
}

/// A TLS failure (an unknown CA, a certificate for another name): rustls reports these deep
/// inside the connector's error chain, where they would read as "did not answer".
fn tls_problem(e: &kube::Error) -> bool {
    if matches!(e, kube::Error::RustlsTls(_)) {
        return true;
    }
    // rustls's words for a certificate it refused, or an alert naming one; not a handshake
    // cut short ("tls handshake eof"), which is a server restarting.
    let cause = crate::error::root_cause(e).to_ascii_lowercase();
    [
        "invalid peer certificate",
        "unknownca",
        "badcertificate",
        "certificateunknown",
        "certificateexpired",
        "certificaterevoked",
        "certificaterequired",
        "unsupportedcertificate",
    ]
    .iter()
    .any(|w| cause.contains(w))
}

/// What went wrong loading a kubeconfig, without the parser's text: YAML errors quote the
/// lines around the problem, and those can hold a token or a client key.
fn kubeconfig_problem(e: &dyn std::error::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    // Keep only the leading clause ("failed to parse kubeconfig", "context not found: x").
    let clause: String = first.chars().take(120).collect();
    if text.lines().count() > 1 || clause.contains("token") || clause.contains("key") {
        "it is not valid (the parser's message is not shown: it can quote credentials)".to_string()
    } else {
        clause
    }
}

/// `app=web,tier=frontend` from a Deployment's selector.
pub fn match_labels(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// Whether a pod is Running and its Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    let status = p.status.as_ref();
    status.and_then(|s| s.phase.as_deref()) == Some("Running")
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
