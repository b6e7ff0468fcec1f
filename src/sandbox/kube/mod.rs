//! A fake Kubernetes API server, faithful where `cutover` and `kubectl` use it: discovery, the REST
//! verbs on the common resource types (JSON shapes, `Status` errors, selectors, patches, the scale
//! subresource, tables, watches), bearer-token authentication, RBAC denials, and pod port-forwarding
//! (WebSocket channel protocol; SPDY via [`spdy`]).
//!
//! Tokens name users by dropping a `-token` suffix: `test-token` is user `test`. Requests without a
//! token are `system:anonymous`, which may only read `/version` and the health endpoints.

mod admit;
mod builders;
mod discovery;
mod patch;
mod portforward;
mod resources;
mod routes;
mod select;
pub mod spdy;
mod status;
mod store;
mod table;
mod tls;
mod watch;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use builders::{deployment, ready_pod};

use resources::ResourceInfo;
use routes::Shared;
use store::State;

/// The fake API server. It runs on its own thread with its own tokio runtime; dropping it stops it.
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn info_of<K: kube::Resource<DynamicType = ()>>() -> &'static ResourceInfo {
    let (group, version, plural) = (K::group(&()), K::version(&()), K::plural(&()));
    resources::find(&group, &version, &plural).unwrap_or_else(|| {
        panic!(
            "the fake Kubernetes API server does not serve {} ({plural} in {:?}/{version}); add it to src/sandbox/kube/resources.rs",
            K::kind(&()),
            group
        )
    })
}

fn decode_or_panic(info: &ResourceInfo, value: &mut Value) {
    if let Err(e) = admit::decode(info, value) {
        panic!(
            "the fake Kubernetes API server cannot decode this {}: {}",
            info.kind, e.message
        );
    }
}

/// The namespace key an object is stored under: "" for cluster-scoped types.
fn scoped(info: &ResourceInfo, namespace: &str) -> String {
    if info.namespaced {
        namespace.to_string()
    } else {
        String::new()
    }
}

impl FakeKube {
    /// Starts on 127.0.0.1:<free port> in its own thread with its own tokio runtime.
    pub fn start() -> FakeKube {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake Kubernetes API server");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new()),
            address: addr.to_string(),
            hung: tokio::sync::watch::channel(false).0,
        });
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = routes::router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("fake-kube".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("tokio runtime for the fake Kubernetes API server");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let listener = tls::DualListener::new(listener).expect("listener address");
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(e) = result {
                                tracing::error!("fake Kubernetes API server stopped: {e}");
                            }
                        }
                        _ = stop => {}
                    }
                });
                // Dropping the runtime here drops open connections (watches, port-forwards) too.
                runtime.shutdown_background();
            })
            .expect("spawn the fake Kubernetes API server thread");
        FakeKube {
            shared,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`. The same port also speaks TLS: see [`https_url`](Self::https_url).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT`, what kubeconfigs point at: `kubectl` sends bearer tokens only over TLS.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Kubeconfig YAML: one cluster (server = [`https_url`](Self::https_url), the same port as
    /// [`url`](Self::url), with its CA in `certificate-authority-data`), one user with bearer `token`,
    /// one context `context` with `namespace`, selected. Cluster and user are named after the context.
    pub fn kubeconfig(&self, context: &str, namespace: &str, token: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("a string");
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {c}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: {c}\n  user:\n    token: {token}\ncontexts:\n- name: {c}\n  context:\n    cluster: {c}\n    user: {c}\n    namespace: {ns}\ncurrent-context: {c}\npreferences: {{}}\n",
            c = q(context),
            url = q(&self.https_url()),
            ca = data_encoding::BASE64.encode(tls::CA_PEM.as_bytes()),
            token = q(token),
            ns = q(namespace),
        )
    }

    /// Writes `kubeconfig(context, namespace, "test-token")` to `path`.
    pub fn write_kubeconfig(&self, path: &Path, context: &str, namespace: &str) {
        std::fs::write(path, self.kubeconfig(context, namespace, "test-token"))
            .unwrap_or_else(|e| panic!("write kubeconfig {}: {e}", path.display()));
    }

    /// Creates or replaces an object. Fills metadata.uid, resourceVersion, creationTimestamp and
    /// generation like the real server (a uid or creationTimestamp the object carries is kept when it is
    /// new; a replace keeps the stored ones). The namespace is created if missing. What `status` the
    /// object carries is stored as given; with auto rollout on, a Deployment whose status has not
    /// observed its generation is converged. Decoded as the server decodes a write (a Secret's
    /// `stringData` lands in `data`), but not validated. Panics if it does not decode.
    pub fn put<K>(&self, obj: &K)
    where
        K: kube::Resource<DynamicType = ()> + Serialize,
    {
        let info = info_of::<K>();
        let mut value = serde_json::to_value(obj).expect("serialize the object");
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let namespace = scoped(info, &namespace);
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
        }
        decode_or_panic(info, &mut value);
        let mut state = self.shared.lock();
        state.ensure_namespace(&namespace);
        state.write(info, &namespace, value);
    }

    pub fn get<K>(&self, namespace: &str, name: &str) -> Option<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let info = info_of::<K>();
        let state = self.shared.lock();
        let value = state.get(info, &scoped(info, namespace), name)?.clone();
        Some(serde_json::from_value(value).expect("stored object deserializes"))
    }

    /// Objects of a type in `namespace` ("" for all namespaces), ordered by namespace and name.
    pub fn list<K>(&self, namespace: &str) -> Vec<K>
    where
        K: kube::Resource<DynamicType = ()> + DeserializeOwned,
    {
        let info = info_of::<K>();
        let state = self.shared.lock();
        let ns = (!namespace.is_empty() && info.namespaced).then_some(namespace);
        state
            .list(info, ns)
            .into_iter()
            .map(|v| serde_json::from_value(v.clone()).expect("stored object"))
            .collect()
    }

    /// Changes an object in place (status included); bumps resourceVersion (and generation when the
    /// spec changes). Decoded like [`put`](Self::put)'s. Panics if the object does not exist.
    pub fn update<K>(&self, namespace: &str, name: &str, f: impl FnOnce(&mut K))
    where
        K: kube::Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let info = info_of::<K>();
        let ns = scoped(info, namespace);
        let mut state = self.shared.lock();
        let value = state.get(info, &ns, name).cloned().unwrap_or_else(|| {
            panic!(
                "FakeKube::update: {} \"{name}\" not found in namespace {namespace:?}",
                info.qualified()
            )
        });
        let mut obj: K = serde_json::from_value(value).expect("stored object deserializes");
        f(&mut obj);
        let mut value = serde_json::to_value(&obj).expect("serialize the object");
        value["metadata"]["name"] = Value::String(name.to_string());
        decode_or_panic(info, &mut value);
        state.write(info, &ns, value);
    }

    pub fn delete<K>(&self, namespace: &str, name: &str)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let info = info_of::<K>();
        self.shared.lock().remove(info, &scoped(info, namespace), name);
    }

    /// Port-forward to `pod`'s `port` reaches `target` (a real server on loopback standing in for the container).
    pub fn pod_port(&self, namespace: &str, pod: &str, port: u16, target: SocketAddr) {
        self.shared
            .lock()
            .pod_ports
            .insert((namespace.to_string(), pod.to_string(), port), target);
    }

    /// RBAC: requests with this verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, or `*`) on this resource (`pods`, `deployments/scale`, ...) answer 403.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.shared
            .lock()
            .denies
            .insert((verb.to_string(), resource.to_string()));
    }

    /// Requests bearing this token answer 401 Unauthorized (expired credentials).
    pub fn expire_token(&self, token: &str) {
        self.shared.lock().expired_tokens.insert(token.to_string());
    }

    /// From now on every request under `/api` and `/apis` answers with this code and message,
    /// as the real server does while etcd elects a leader (500 `etcdserver: leader changed`) or
    /// while it is overloaded (429, 503); `None` ends it.
    pub fn fail_requests(&self, failure: Option<(u16, &str)>) {
        self.shared.lock().failing = failure.map(|(code, message)| (code, message.to_string()));
    }

    /// While on, every request to the server (discovery and `/version` too) waits, unanswered, until
    /// it is switched off, as behind a network partition; then each is answered as usual. Requests
    /// are recorded in [`requests`](Self::requests) as they arrive. Streams already answered (watches,
    /// port-forwards) keep flowing.
    pub fn hang_requests(&self, on: bool) {
        self.shared.hung.send_replace(on);
    }

    /// Every request so far as "VERB /path?query" (the query as sent).
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// When on (the default), a Deployment whose spec changed has its status converged at once by the
    /// fake controller; when off, status is left to the test.
    pub fn set_auto_rollout(&self, on: bool) {
        let mut state = self.shared.lock();
        state.auto_rollout = on;
        if on {
            state.reconcile_all();
        }
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A pod's health endpoints: `/health/readiness` and `/health` answer 200.
pub async fn health_server(stop: tokio_util::sync::CancellationToken) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/health/readiness", axum::routing::get(|| async { "ready" }))
        .route("/health", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    Ok(addr)
}
