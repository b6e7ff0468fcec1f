//! The fake Kubernetes API server against real clients: the `kubectl` binary and a kube-rs `Client`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cutover_sandbox::kube::{FakeKube, deployment, ready_pod};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

const KUBECTL: &str = "/usr/bin/kubectl";

/// A fake with two deployments and one ready pod each, in namespace `shop`.
fn shop() -> FakeKube {
    let fake = FakeKube::start();
    fake.put(&deployment("shop", "web", "web", 3));
    fake.put(&deployment("shop", "api", "api", 2));
    fake.put(&ready_pod("shop", "web-1", "web", &[3000]));
    fake.put(&ready_pod("shop", "api-1", "api", &[8080]));
    fake
}

struct Kubectl {
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn new(fake: &FakeKube) -> Kubectl {
        let home = tempfile::tempdir().expect("temp dir");
        let kubeconfig = home.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig, "sandbox", "shop");
        Kubectl { home, kubeconfig }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(KUBECTL);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        // A private HOME keeps kubectl's discovery cache out of the user's.
        cmd.env("HOME", self.home.path()).env_remove("KUBECONFIG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\nstdout: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_slice(&self.run(args).stdout).expect("kubectl printed JSON")
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[test]
fn kubectl_lists_gets_and_filters_what_put_created() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);

    let list = kubectl.json(&["get", "deployments", "-o", "json"]);
    assert_eq!(names(&list), ["api", "web"]);
    let web = &list["items"][1];
    assert_eq!(web["kind"], "Deployment");
    assert_eq!(web["apiVersion"], "apps/v1");
    assert_eq!(web["metadata"]["namespace"], "shop");
    assert_eq!(web["metadata"]["generation"], 1);
    assert!(web["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36), "{web}");
    assert!(
        web["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| rv.parse::<u64>().is_ok())
    );
    assert_eq!(web["spec"]["replicas"], 3);
    assert_eq!(web["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(web["status"]["readyReplicas"], 3);
    assert_eq!(web["status"]["observedGeneration"], 1);

    let table = String::from_utf8(kubectl.run(&["get", "deploy", "web"]).stdout).unwrap();
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{table}");
    assert_eq!(lines[1][..4], ["web", "3/3", "3", "3"], "{table}");

    let pods = kubectl.json(&["get", "pods", "-l", "app=web", "-o", "json"]);
    assert_eq!(names(&pods), ["web-1"]);
    assert_eq!(pods["items"][0]["status"]["phase"], "Running");

    let pods_table = String::from_utf8(kubectl.run(&["get", "pods"]).stdout).unwrap();
    assert!(
        pods_table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..4] == ["web-1", "1/1", "Running", "0"]),
        "{pods_table}"
    );

    let missing = kubectl.command(&["get", "deploy", "nope"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains(r#"deployments.apps "nope" not found"#),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /apis/apps/v1/namespaces/shop/deployments")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.contains("labelSelector=app%3Dweb")),
        "{requests:?}"
    );
}

#[test]
fn kubectl_scale_goes_through_the_scale_subresource() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);

    let out = kubectl.run(&["scale", "deployment", "web", "--replicas=0"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/web scaled"
    );
    let web: Deployment = fake.get("shop", "web").unwrap();
    assert_eq!(web.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(web.metadata.generation, Some(2));
    let status = web.status.unwrap();
    assert_eq!(status.observed_generation, Some(2), "auto rollout converges the status");
    assert_eq!(status.ready_replicas.unwrap_or(0), 0);
    let available = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(available.status, "True");
    assert!(
        fake.requests()
            .contains(&"PATCH /apis/apps/v1/namespaces/shop/deployments/web/scale".to_string()),
        "{:?}",
        fake.requests()
    );

    // Without the fake controller the rollout never finishes: status stays where it was.
    fake.set_auto_rollout(false);
    kubectl.run(&["scale", "deployment", "web", "--replicas=4"]);
    let web: Deployment = fake.get("shop", "web").unwrap();
    assert_eq!(web.spec.unwrap().replicas, Some(4));
    assert_eq!(web.metadata.generation, Some(3));
    assert_eq!(web.status.unwrap().observed_generation, Some(2));
    fake.set_auto_rollout(true);
    let web: Deployment = fake.get("shop", "web").unwrap();
    assert_eq!(web.status.unwrap().ready_replicas, Some(4));

    // What an operator without the right sees, and with expired credentials.
    fake.deny("patch", "deployments/scale");
    let denied = kubectl
        .command(&["scale", "deployment", "web", "--replicas=1"])
        .output()
        .unwrap();
    assert!(!denied.status.success());
    assert_eq!(
        String::from_utf8_lossy(&denied.stderr).trim(),
        r#"Error from server (Forbidden): deployments.apps "web" is forbidden: User "test" cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop""#
    );
    fake.expire_token("test-token");
    let expired = kubectl.command(&["get", "deployments"]).output().unwrap();
    assert!(!expired.status.success());
    let stderr = String::from_utf8_lossy(&expired.stderr);
    assert!(
        stderr.contains("error: You must be logged in to the server (Unauthorized)"),
        "{stderr}"
    );
}

#[test]
fn kubectl_rollout_status_watches_until_done() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);
    fake.set_auto_rollout(false);
    fake.update::<Deployment>("shop", "web", |d| d.spec.as_mut().unwrap().replicas = Some(5));
    let child = kubectl
        .command(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once kubectl watches, let the controller finish the rollout.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !fake.requests().iter().any(|r| r.contains("watch=true")) {
        assert!(
            Instant::now() < deadline,
            "kubectl never watched: {:?}",
            fake.requests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    fake.set_auto_rollout(true);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(r#"deployment "web" successfully rolled out"#),
        "{stdout}"
    );
}

async fn client(fake: &FakeKube, token: &str) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kubeconfig = Kubeconfig::from_yaml(&fake.kubeconfig("sandbox", "shop", token)).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn kube_rs_client_reads_writes_and_gets_real_errors() {
    let fake = shop();
    let client = client(&fake, "test-token").await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());

    let list = deploys.list(&ListParams::default()).await.unwrap();
    let listed: Vec<_> = list.items.iter().map(|d| d.metadata.name.clone().unwrap()).collect();
    assert_eq!(listed, ["api", "web"]);
    assert!(list.metadata.resource_version.is_some());
    let web = deploys.get("web").await.unwrap();
    assert_eq!(web.spec.unwrap().replicas, Some(3));
    let web_pods = pods.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(web_pods.items.len(), 1);
    assert_eq!(web_pods.items[0].metadata.name.as_deref(), Some("web-1"));
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=api-1"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let not_api = pods
        .list(&ListParams::default().labels("app notin (api),pod-template-hash"))
        .await
        .unwrap();
    assert_eq!(not_api.items.len(), 1);

    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(1));
    let stored: Deployment = fake.get("shop", "web").unwrap();
    assert_eq!(stored.spec.unwrap().replicas, Some(1));
    assert_eq!(stored.status.unwrap().available_replicas, Some(1));

    // A patch of the object itself, and a 409 for a stale resourceVersion.
    let patched = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["tier"], "front");
    let stale = json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}});
    let conflict = api_error(
        deploys
            .patch("web", &PatchParams::default(), &Patch::Merge(stale))
            .await,
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));

    fake.deny("patch", "deployments/scale");
    let forbidden = api_error(
        deploys
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 0}})),
            )
            .await,
    );
    assert_eq!(forbidden.code, 403);
    assert_eq!(forbidden.reason, "Forbidden");
    assert_eq!(
        forbidden.message,
        r#"deployments.apps "web" is forbidden: User "test" cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop""#
    );
    fake.deny("list", "pods");
    let forbidden = api_error(pods.list(&ListParams::default()).await);
    assert_eq!(
        forbidden.message,
        r#"pods is forbidden: User "test" cannot list resource "pods" in API group "" in the namespace "shop""#
    );

    let missing = api_error(deploys.get("nope").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, r#"deployments.apps "nope" not found"#);

    fake.expire_token("test-token");
    let expired = api_error(deploys.get("web").await);
    assert_eq!(
        (expired.code, expired.reason.as_str(), expired.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
}

#[tokio::test]
async fn kube_rs_watch_sees_changes_made_while_it_runs() {
    use futures_util::StreamExt;
    let fake = shop();
    let deploys: Api<Deployment> = Api::default_namespaced(client(&fake, "test-token").await);
    let rv = deploys
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = deploys
        .watch(&WatchParams::default().fields("metadata.name=web").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    fake.update::<Deployment>("shop", "api", |d| d.spec.as_mut().unwrap().replicas = Some(9));
    fake.update::<Deployment>("shop", "web", |d| {
        d.metadata.labels.as_mut().unwrap().insert("x".into(), "y".into());
    });
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event {
        WatchEvent::Modified(d) => {
            assert_eq!(d.metadata.name.as_deref(), Some("web"));
            assert_eq!(d.metadata.labels.unwrap()["x"], "y");
        }
        other => panic!("expected web's change, got {other:?}"),
    }
}

/// A tiny HTTP/1.1 server on loopback standing in for a container: answers every request with
/// `<name>: <method> <path>`.
fn http_server(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut parts = request_line.split_whitespace();
                let body = format!("{name}: {} {}", parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes());
            });
        }
    });
    addr
}

/// Reads one HTTP response (headers plus Content-Length bytes of body); returns (status line, body).
fn parse_response(buf: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse().unwrap())
    })?;
    (body.len() >= length).then(|| (head.lines().next().unwrap().to_string(), body[..length].to_string()))
}

async fn get_through<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = async {
        loop {
            if let Some(r) = parse_response(&buf) {
                return r;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "the tunnel closed before a full response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("a response through the tunnel")
}

#[tokio::test]
async fn kube_rs_port_forward_reaches_the_pod_target() {
    let fake = shop();
    fake.put(&ready_pod("shop", "web-2", "web", &[3000, 9090]));
    fake.pod_port("shop", "web-2", 3000, http_server("web"));
    fake.pod_port("shop", "web-2", 9090, http_server("metrics"));
    let pods: Api<Pod> = Api::default_namespaced(client(&fake, "test-token").await);

    let mut forwarder = pods.portforward("web-2", &[3000, 9090]).await.unwrap();
    let mut web = forwarder.take_stream(3000).unwrap();
    let mut metrics = forwarder.take_stream(9090).unwrap();
    assert_eq!(
        get_through(&mut web, "/healthz").await,
        ("HTTP/1.1 200 OK".into(), "web: GET /healthz".into())
    );
    assert_eq!(
        get_through(&mut metrics, "/metrics").await,
        ("HTTP/1.1 200 OK".into(), "metrics: GET /metrics".into())
    );
    drop((web, metrics));
    forwarder.abort();
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/shop/pods/web-2/portforward?"))
    );

    // A port nothing listens on: the error channel says so.
    let mut forwarder = pods.portforward("web-2", &[4000]).await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), forwarder.take_error(4000).unwrap())
        .await
        .unwrap();
    let error = error.expect("an error message");
    assert!(
        error.starts_with("error forwarding port 4000 to pod web-2, uid "),
        "{error}"
    );
    assert!(error.contains("connection refused"), "{error}");

    // A pod that is not running cannot be forwarded to.
    let mut pending = ready_pod("shop", "web-3", "web", &[3000]);
    pending.status.as_mut().unwrap().phase = Some("Pending".into());
    fake.put(&pending);
    let refused = api_error(pods.portforward("web-3", &[3000]).await.map(|_| ()));
    assert_eq!(refused.code, 400);
    assert_eq!(
        refused.message,
        "unable to forward port because pod is not running. Current status=Pending"
    );
    let missing = api_error(pods.portforward("web-9", &[3000]).await.map(|_| ()));
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, r#"pods "web-9" not found"#)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_line(child: &mut std::process::Child, needle: &str, wait: Duration) -> Result<(), String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drain the pipe until the child exits, long after the caller stops listening: kubectl
    // keeps writing to stdout ("Handling connection for ..." on every local connection), and
    // a Go program writing to a stdout whose read end is closed dies of SIGPIPE.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return Ok(()),
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    Err(format!("no {needle:?} line; saw {seen:?}"))
}

/// kubectl 1.31+ tunnels SPDY through a WebSocket first (what the fake serves).
#[test]
fn kubectl_port_forward_reaches_the_pod_target_through_the_websocket_tunnel() {
    kubectl_port_forward(true);
}

/// An API server without the tunnel, or a kubectl told not to use it: plain SPDY.
#[test]
fn kubectl_port_forward_reaches_the_pod_target_over_spdy() {
    kubectl_port_forward(false);
}

fn kubectl_port_forward(websocket: bool) {
    let fake = shop();
    fake.pod_port("shop", "web-1", 3000, http_server("web"));
    let kubectl = Kubectl::new(&fake);
    let local = free_port();
    let mut child = kubectl
        .command(&["port-forward", "pod/web-1", &format!("{local}:3000")])
        .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", websocket.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = wait_for_line(&mut child, "Forwarding from", Duration::from_secs(15));
    let result = ready.and_then(|()| {
        let mut conn = TcpStream::connect(("127.0.0.1", local)).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(r) = parse_response(&buf) {
                return Ok(r);
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return Err(format!("no full response: {:?}", String::from_utf8_lossy(&buf))),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let response = result.unwrap_or_else(|e| panic!("{e}; kubectl stderr: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(response, ("HTTP/1.1 200 OK".into(), "web: GET /healthz".into()));
    let method = if websocket { "GET " } else { "POST " };
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.starts_with(method) && r.contains("/api/v1/namespaces/shop/pods/web-1/portforward")),
        "kubectl used {method}: {:?}",
        fake.requests()
    );
}

impl Kubectl {
    /// Runs kubectl expecting it to fail; returns what it printed on stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run kubectl");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Writes `manifest` to a file of that name in kubectl's home; returns its path.
    fn file(&self, name: &str, manifest: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, manifest).expect("write the manifest");
        path.to_string_lossy().into_owned()
    }
}

fn resource_version(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_else(|| panic!("no numeric resourceVersion in {obj}"))
}

/// What journal writes and run locks rely on, through kubectl: `kubectl create -f` of `manifest`
/// (a file named `file`) succeeds once and then answers AlreadyExists; `kubectl replace -f` of the
/// object as `kubectl get` shows it, changed by `edit`, succeeds and moves resourceVersion; the
/// same file again, now stale, answers Conflict. `resource` is the type as the server names it in
/// messages (`leases.coordination.k8s.io`). Returns the object as created, then as replaced.
fn kubectl_create_and_replace(
    kubectl: &Kubectl,
    file: &str,
    manifest: &str,
    resource: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> (Value, Value) {
    let path = kubectl.file(file, manifest);
    let created = kubectl.run(&["create", "-f", &path]);
    assert!(
        String::from_utf8_lossy(&created.stdout).ends_with(&format!("/{name} created\n")),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    let again = kubectl.fails(&["create", "-f", &path]);
    assert!(
        again.starts_with("Error from server (AlreadyExists): error when creating")
            && again.contains(&format!("{resource} \"{name}\" already exists")),
        "{again}"
    );

    let stored = kubectl.json(&["get", resource, name, "-o", "json"]);
    let mut changed = stored.clone();
    edit(&mut changed);
    let replacement = kubectl.file(&format!("replace-{file}.json"), &changed.to_string());
    kubectl.run(&["replace", "-f", &replacement]);
    let replaced = kubectl.json(&["get", resource, name, "-o", "json"]);
    assert!(
        resource_version(&replaced) > resource_version(&stored),
        "replace moved resourceVersion: {stored} → {replaced}"
    );

    // The file still carries the resourceVersion the replace made stale.
    let stale = kubectl.fails(&["replace", "-f", &replacement]);
    assert!(
        stale.starts_with("Error from server (Conflict): error when replacing")
            && stale.contains(&format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            )),
        "{stale}"
    );
    assert_eq!(
        kubectl.json(&["get", resource, name, "-o", "json"]),
        replaced,
        "a refused replace changes nothing"
    );
    (stored, replaced)
}

#[test]
fn kubectl_writes_configmaps_with_optimistic_locking_and_the_size_limit() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "journal-0001", "labels": {"run": "r1"}},
        "data": {"chunk.json": "{\"seq\":1}"},
        "binaryData": {"chunk.bin": "AAEC/w=="},
    });
    let (created, replaced) = kubectl_create_and_replace(
        &kubectl,
        "cm.json",
        &manifest.to_string(),
        "configmaps",
        "journal-0001",
        |cm| cm["data"]["chunk.json"] = json!("{\"seq\":2}"),
    );
    assert_eq!(created["data"], manifest["data"]);
    assert_eq!(created["binaryData"], manifest["binaryData"]);
    assert_eq!(created["metadata"]["labels"]["run"], "r1");
    assert_eq!(replaced["data"]["chunk.json"], "{\"seq\":2}");
    assert_eq!(replaced["metadata"]["uid"], created["metadata"]["uid"]);

    // 1 MiB of values, counted over data and binaryData together, and one byte more.
    let at_limit = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "at-limit"},
        "data": {"a": "x".repeat((1 << 20) - 3)},
        "binaryData": {"b": "AAEC"},
    });
    kubectl.run(&["create", "-f", &kubectl.file("limit.json", &at_limit.to_string())]);
    let mut over = at_limit.clone();
    over["metadata"]["name"] = json!("over-limit");
    over["binaryData"]["b"] = json!("AAECAw==");
    let refused = kubectl.fails(&["create", "-f", &kubectl.file("over.json", &over.to_string())]);
    assert_eq!(
        refused.trim(),
        r#"The ConfigMap "over-limit" is invalid: []: Too long: may not be more than 1048576 bytes"#
    );

    let clash = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "clash"},
        "data": {"k": "text"},
        "binaryData": {"k": "AAEC"},
    });
    let refused = kubectl.fails(&["create", "-f", &kubectl.file("clash.json", &clash.to_string())]);
    assert_eq!(
        refused.trim(),
        r#"The ConfigMap "clash" is invalid: data[k]: Invalid value: "k": duplicate of key present in binaryData"#
    );
    let names = names(&kubectl.json(&["get", "configmaps", "-o", "json"])).join(",");
    assert_eq!(names, "at-limit,journal-0001");
}

#[test]
fn kubectl_writes_secrets_with_string_data_folded_into_base64_data() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: journal-key\nstringData:\n  token: s3cret\n  raw: from-string-data\ndata:\n  raw: aWdub3JlZA==\n  bytes: AAEC\n";
    let (created, replaced) =
        kubectl_create_and_replace(&kubectl, "secret.yaml", manifest, "secrets", "journal-key", |s| {
            s["data"]["token"] = json!("bmV3")
        });
    // stringData wins over the same key in data, is stored base64-encoded, and is never returned.
    assert_eq!(
        created["data"],
        json!({"bytes": "AAEC", "raw": "ZnJvbS1zdHJpbmctZGF0YQ==", "token": "czNjcmV0"})
    );
    assert!(created.get("stringData").is_none(), "{created}");
    assert_eq!(created["type"], "Opaque");
    assert_eq!(replaced["data"]["token"], "bmV3");

    let bad = kubectl.file(
        "bad.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\ndata:\n  password: admin\n",
    );
    let refused = kubectl.fails(&["create", "-f", &bad]);
    assert_eq!(
        refused.trim(),
        format!(
            r#"Error from server (BadRequest): error when creating "{bad}": Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4"#
        )
    );

    let over = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "too-big"},
        "stringData": {"a": "x".repeat(1 << 20), "b": "y"},
    });
    let refused = kubectl.fails(&["create", "-f", &kubectl.file("over.json", &over.to_string())]);
    assert_eq!(
        refused.trim(),
        r#"The Secret "too-big" is invalid: data: Too long: may not be more than 1048576 bytes"#
    );
}

#[test]
fn kubectl_writes_leases_and_keeps_their_spec() {
    let fake = shop();
    let kubectl = Kubectl::new(&fake);
    let spec = json!({
        "holderIdentity": "host-a/4242",
        "leaseDurationSeconds": 15,
        "acquireTime": "2025-06-01T10:00:00.000000Z",
        "renewTime": "2025-06-01T10:00:05.123456Z",
        "leaseTransitions": 3,
    });
    let manifest = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "cutover-run"},
        "spec": spec,
    });
    let (created, replaced) = kubectl_create_and_replace(
        &kubectl,
        "lease.json",
        &manifest.to_string(),
        "leases.coordination.k8s.io",
        "cutover-run",
        |l| {
            l["spec"]["holderIdentity"] = json!("host-b/7");
            l["spec"]["renewTime"] = json!("2025-06-01T12:00:07.000001+02:00");
            l["spec"]["leaseTransitions"] = json!(4);
        },
    );
    assert_eq!(created["spec"], spec);
    assert_eq!(replaced["spec"]["holderIdentity"], "host-b/7");
    assert_eq!(
        replaced["spec"]["renewTime"], "2025-06-01T10:00:07.000001Z",
        "MicroTime comes back in UTC"
    );

    let mut zero = manifest.clone();
    zero["metadata"]["name"] = json!("zero");
    zero["spec"]["leaseDurationSeconds"] = json!(0);
    let refused = kubectl.fails(&["create", "-f", &kubectl.file("zero.json", &zero.to_string())]);
    assert_eq!(
        refused.trim(),
        r#"The Lease "zero" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"#
    );
    let mut seconds = manifest.clone();
    seconds["metadata"]["name"] = json!("seconds");
    seconds["spec"]["renewTime"] = json!("2025-06-01T10:00:05Z");
    let path = kubectl.file("seconds.json", &seconds.to_string());
    let refused = kubectl.fails(&["create", "-f", &path]);
    assert!(
        refused.contains(r#"Lease in version "v1" cannot be handled as a Lease: parsing time "2025-06-01T10:00:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000""#),
        "{refused}"
    );
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    }
}

fn micro(rfc3339: &str) -> MicroTime {
    MicroTime(rfc3339.parse().expect("an RFC 3339 time"))
}

fn run_lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: named(name),
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(micro("2025-06-01T10:00:00Z")),
            renew_time: Some(micro("2025-06-01T10:00:05.5Z")),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    }
}

fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("a numeric resourceVersion")
}

fn stale_write(status: &kube::core::Status, resource: &str, name: &str) {
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"), "{status:?}");
    assert_eq!(
        status.message,
        format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        )
    );
}

#[tokio::test]
async fn kube_rs_leases_are_written_and_deleted_under_resource_version_preconditions() {
    let fake = shop();
    let leases: Api<Lease> = Api::default_namespaced(client(&fake, "test-token").await);
    let pp = PostParams::default();

    let lease = run_lease("cutover-run", "host-a/1");
    let created = leases.create(&pp, &lease).await.unwrap();
    assert_eq!(
        created.spec, lease.spec,
        "the spec is stored as sent, MicroTimes included"
    );
    let taken = api_error(leases.create(&pp, &run_lease("cutover-run", "host-b/2")).await);
    assert_eq!((taken.code, taken.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(
        taken.message,
        r#"leases.coordination.k8s.io "cutover-run" already exists"#
    );

    // A renewal from the holder's copy succeeds once; after it the copy is stale.
    let mut renewal = created.clone();
    renewal.spec.as_mut().unwrap().renew_time = Some(micro("2025-06-01T10:00:10Z"));
    let renewed = leases.replace("cutover-run", &pp, &renewal).await.unwrap();
    assert!(rv_of(&renewed.metadata) > rv_of(&created.metadata));
    assert_eq!(renewed.spec, renewal.spec);
    let stale = api_error(leases.replace("cutover-run", &pp, &renewal).await);
    stale_write(&stale, "leases.coordination.k8s.io", "cutover-run");

    // Unlike most types, a Lease is never overwritten blind.
    let mut blind = renewed.clone();
    blind.metadata.resource_version = None;
    let refused = api_error(leases.replace("cutover-run", &pp, &blind).await);
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        r#"leases.coordination.k8s.io "cutover-run" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"#
    );
    // ...but a PUT of a name not taken creates one.
    let put = leases
        .replace("other-run", &pp, &run_lease("other-run", "host-c/3"))
        .await
        .unwrap();
    assert_eq!(put.spec.unwrap().holder_identity.as_deref(), Some("host-c/3"));

    let mut endless = run_lease("endless", "host-a/1");
    endless.spec.as_mut().unwrap().lease_duration_seconds = Some(0);
    let invalid = api_error(leases.create(&pp, &endless).await);
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        invalid.message,
        r#"Lease.coordination.k8s.io "endless" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"#
    );

    // Releasing the lock: a delete under a stale resourceVersion fails, under the current one it works.
    let delete_at = |rv: &ObjectMeta| DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: rv.resource_version.clone(),
            uid: rv.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    let refused = api_error(
        leases
            .delete("cutover-run", &delete_at(&created.metadata))
            .await
            .map(|_| ()),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        refused.message,
        format!(
            r#"Operation cannot be fulfilled on Lease.coordination.k8s.io "cutover-run": the ResourceVersion in the precondition ({}) does not match the ResourceVersion in record ({}). The object might have been modified"#,
            rv_of(&created.metadata),
            rv_of(&renewed.metadata)
        )
    );
    assert!(fake.get::<Lease>("shop", "cutover-run").is_some());
    leases
        .delete("cutover-run", &delete_at(&renewed.metadata))
        .await
        .unwrap();
    assert!(fake.get::<Lease>("shop", "cutover-run").is_none());
}

#[tokio::test]
async fn kube_rs_configmaps_and_secrets_conflict_and_refuse_more_than_a_mebibyte() {
    let fake = shop();
    let client = client(&fake, "test-token").await;
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client);
    let pp = PostParams::default();

    let chunk = ConfigMap {
        metadata: named("journal-0001"),
        data: Some([("events".to_string(), "one".to_string())].into()),
        binary_data: Some([("crc".to_string(), ByteString(vec![0, 1, 2, 255]))].into()),
        ..ConfigMap::default()
    };
    let created = configmaps.create(&pp, &chunk).await.unwrap();
    assert_eq!((&created.data, &created.binary_data), (&chunk.data, &chunk.binary_data));
    let mut next = created.clone();
    next.data = Some([("events".to_string(), "one two".to_string())].into());
    configmaps.replace("journal-0001", &pp, &next).await.unwrap();
    stale_write(
        &api_error(configmaps.replace("journal-0001", &pp, &next).await),
        "configmaps",
        "journal-0001",
    );
    // A ConfigMap without a resourceVersion is overwritten, whatever is stored; a missing one is not created.
    let mut blind = next.clone();
    blind.metadata.resource_version = None;
    blind.data = Some([("events".to_string(), "blind".to_string())].into());
    let overwritten = configmaps.replace("journal-0001", &pp, &blind).await.unwrap();
    assert_eq!(overwritten.data, blind.data);
    let mut elsewhere = blind.clone();
    elsewhere.metadata.name = Some("journal-0002".into());
    let missing = api_error(configmaps.replace("journal-0002", &pp, &elsewhere).await);
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, r#"configmaps "journal-0002" not found"#)
    );

    let big = ConfigMap {
        metadata: named("journal-big"),
        data: Some([("events".to_string(), "x".repeat((1 << 20) + 1))].into()),
        ..ConfigMap::default()
    };
    let too_big = api_error(configmaps.create(&pp, &big).await);
    assert_eq!((too_big.code, too_big.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        too_big.message,
        r#"ConfigMap "journal-big" is invalid: []: Too long: may not be more than 1048576 bytes"#
    );
    let cause = &too_big.details.expect("details").causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueTooLong", "[]")
    );

    let key = Secret {
        metadata: named("journal-key"),
        string_data: Some([("token".to_string(), "s3cret".to_string())].into()),
        ..Secret::default()
    };
    let created = secrets.create(&pp, &key).await.unwrap();
    assert_eq!(
        created.data,
        Some([("token".to_string(), ByteString(b"s3cret".to_vec()))].into())
    );
    assert_eq!(created.string_data, None);
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    let mut rotated = created.clone();
    rotated.data = Some([("token".to_string(), ByteString(b"n3w".to_vec()))].into());
    secrets.replace("journal-key", &pp, &rotated).await.unwrap();
    stale_write(
        &api_error(secrets.replace("journal-key", &pp, &rotated).await),
        "secrets",
        "journal-key",
    );
    let big = Secret {
        metadata: named("big-key"),
        data: Some([("a".to_string(), ByteString(vec![7; (1 << 20) + 1]))].into()),
        ..Secret::default()
    };
    let too_big = api_error(secrets.create(&pp, &big).await);
    assert_eq!(
        (too_big.code, too_big.message.as_str()),
        (
            422,
            r#"Secret "big-key" is invalid: data: Too long: may not be more than 1048576 bytes"#
        )
    );
}

#[tokio::test]
async fn kube_rs_requests_hang_while_partitioned_and_fail_while_failing_on_the_same_port() {
    let fake = shop();
    let mut lease = run_lease("cutover-run", "host-a/1");
    lease.metadata.namespace = Some("shop".into());
    fake.put(&lease);
    let leases: Api<Lease> = Api::default_namespaced(client(&fake, "test-token").await);
    leases.get("cutover-run").await.unwrap();

    fake.hang_requests(true);
    let pending = tokio::spawn({
        let leases = leases.clone();
        async move { leases.get("cutover-run").await }
    });
    let path = "GET /apis/coordination.k8s.io/v1/namespaces/shop/leases/cutover-run";
    let arrived = |fake: &FakeKube| fake.requests().iter().filter(|r| r.as_str() == path).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived(&fake) < 2 {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "a request got through the partition");
    fake.hang_requests(false);
    let lease = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the held request is answered once the partition heals")
        .unwrap()
        .unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("host-a/1"));

    fake.fail_requests(Some((500, "etcdserver: leader changed")));
    let failed = api_error(leases.get("cutover-run").await);
    assert_eq!(
        (failed.code, failed.message.as_str()),
        (500, "etcdserver: leader changed")
    );
    fake.fail_requests(None);
    leases.get("cutover-run").await.unwrap();
}
