//! The real `kubectl port-forward` through `cutover_sandbox::kube::spdy`.
//!
//! A small API server here answers what kubectl asks before forwarding (discovery, the pod,
//! which must be Running) and upgrades `.../portforward` to SPDY/3.1, handing the connection
//! to `spdy::serve`. A tiny HTTP server stands in for the pod's port 3000. The tests then
//! talk HTTP to kubectl's local port and check what comes back from the stand-in.
//!
//! Needs `kubectl` on PATH (or in `KUBECTL`); these tests fail without it.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use cutover_sandbox::kube::spdy::{self, PodInfo, TUNNEL_SUBPROTOCOL};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;

const TOKEN: &str = "spdy-test-token";
const POD: &str = "web-1";
const POD_PORT: u16 = 3000;
const BIG: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// The pod stand-in: HTTP/1.1, one request per connection.

/// The byte at offset `i` of the `/big` body (not periodic in any small power of two).
fn big_byte(i: usize) -> u8 {
    (i % 251) as u8
}

async fn start_pod_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else { return };
            tokio::spawn(serve_pod_connection(conn));
        }
    });
    addr
}

async fn serve_pod_connection(conn: TcpStream) {
    let mut conn = BufReader::new(conn);
    let mut request_line = String::new();
    if conn.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, body): (&str, Vec<u8>) = match path.as_str() {
        "/health/readiness" => ("200 OK", b"ready".to_vec()),
        "/big" => ("200 OK", (0..BIG).map(big_byte).collect()),
        p => match p.strip_prefix("/echo/") {
            Some(echo) => ("200 OK", echo.as_bytes().to_vec()),
            None => ("404 Not Found", b"not found".to_vec()),
        },
    };
    let mut conn = conn.into_inner();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(&body).await;
    let _ = conn.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The API server.

#[derive(Clone)]
struct Api {
    pod_addr: SocketAddr,
    /// Accept kubectl's WebSocket tunnel (otherwise refuse it, so kubectl falls back).
    tunnel: bool,
    /// Every request: method, path and the headers that matter here.
    log: Arc<Mutex<Vec<String>>>,
}

impl Api {
    fn target(&self) -> spdy::Target {
        let pod_addr = self.pod_addr;
        Arc::new(move |port| (port == POD_PORT).then_some(pod_addr))
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

async fn start_api(pod_addr: SocketAddr, tunnel: bool) -> (SocketAddr, Api) {
    let api = Api {
        pod_addr,
        tunnel,
        log: Arc::default(),
    };
    let app = Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/v1", get(core_resources))
        .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
        .route("/api/v1/namespaces/{ns}/pods/{name}/portforward", any(port_forward))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(api.clone(), record))
        .with_state(api.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, api)
}

async fn record(State(api): State<Api>, req: Request, next: axum::middleware::Next) -> Response {
    let (line, authorized) = {
        let h = |name: &str| {
            req.headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut line = format!("{} {}", req.method(), req.uri());
        for name in [
            "connection",
            "upgrade",
            "x-stream-protocol-version",
            "sec-websocket-protocol",
            "authorization",
        ] {
            let value = h(name);
            if !value.is_empty() {
                line.push_str(&format!(" | {name}: {value}"));
            }
        }
        let authorization = h("authorization");
        // client-go reads a kubeconfig's credentials only for TLS servers, so over plain
        // http kubectl sends none; a wrong one would still be refused.
        (
            line,
            authorization.is_empty() || authorization == format!("Bearer {TOKEN}"),
        )
    };
    api.log.lock().unwrap().push(line);
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    next.run(req).await
}

fn json(value: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// `/usr/bin/kubectl` may be a dispatcher that picks a kubectl matching the server's version.
async fn version() -> Response {
    json(serde_json::json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.4", "platform": "linux/amd64",
    }))
}

async fn api_versions() -> Response {
    json(serde_json::json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }))
}

async fn api_groups() -> Response {
    json(serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
}

async fn core_resources() -> Response {
    json(serde_json::json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "v1",
        "resources": [
            {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
             "verbs": ["get", "list"], "shortNames": ["po"]},
            {"name": "pods/portforward", "singularName": "", "namespaced": true,
             "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
        ],
    }))
}

fn status_not_found(what: &str) -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("{what} not found"), "reason": "NotFound", "code": 404,
    });
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found(req: Request) -> Response {
    status_not_found(&req.uri().to_string())
}

async fn get_pod(Path((ns, name)): Path<(String, String)>) -> Response {
    if name != POD {
        return status_not_found(&format!("pods \"{name}\""));
    }
    json(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": "0b6c5f0e-1d1c-4c1e-9a57-6a1f3d0c2b11"},
        "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": POD_PORT}]}]},
        "status": {"phase": "Running"},
    }))
}

async fn port_forward(State(api): State<Api>, Path((_ns, name)): Path<(String, String)>, req: Request) -> Response {
    let pod = PodInfo {
        name: name.clone(),
        uid: String::new(),
    };
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();

    if upgrade == "websocket" {
        if !api.tunnel {
            // What an API server without the tunnel answers; kubectl then falls back.
            return (StatusCode::BAD_REQUEST, "websocket port-forward is not supported here").into_response();
        }
        let (mut parts, _body) = req.into_parts();
        let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(ws) => ws,
            Err(e) => return e.into_response(),
        };
        let target = api.target();
        return ws.protocols([TUNNEL_SUBPROTOCOL]).on_upgrade(move |socket| async move {
            if let Err(e) = spdy::serve_websocket_tunnel(socket, target, pod).await {
                eprintln!("tunnelled spdy session failed: {e}");
            }
        });
    }

    let protocol_ok = req.headers().get_all("x-stream-protocol-version").iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|p| p.trim() == "portforward.k8s.io")
    });
    if !upgrade.starts_with("spdy/3.1") || !protocol_ok {
        return (
            StatusCode::BAD_REQUEST,
            "expected an SPDY/3.1 portforward.k8s.io upgrade",
        )
            .into_response();
    }
    let mut req = req;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let target = api.target();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                if let Err(e) = spdy::serve_with(hyper_util::rt::TokioIo::new(upgraded), target, pod).await {
                    eprintln!("spdy session failed: {e}");
                }
            }
            Err(e) => eprintln!("upgrade failed: {e}"),
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert(header::CONNECTION, "Upgrade".parse().unwrap());
    headers.insert(header::UPGRADE, "SPDY/3.1".parse().unwrap());
    headers.insert("x-stream-protocol-version", "portforward.k8s.io".parse().unwrap());
    (StatusCode::SWITCHING_PROTOCOLS, headers).into_response()
}

// ---------------------------------------------------------------------------------------
// kubectl.

struct Kubectl {
    child: Child,
    stdout: watch::Receiver<String>,
    stderr: watch::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    async fn port_forward(api: SocketAddr, local: u16, remote: u16, websockets: bool) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{api}\n\
                 users:\n- name: sre\n  user:\n    token: {TOKEN}\ncontexts:\n- name: fake\n  context:\n    \
                 cluster: fake\n    user: sre\n    namespace: default\ncurrent-context: fake\n"
            ),
        )
        .unwrap();
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let mut child = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(["port-forward", &format!("pod/{POD}"), &format!("{local}:{remote}")])
            .env(
                "KUBECTL_PORT_FORWARD_WEBSOCKETS",
                if websockets { "true" } else { "false" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl must be installed (or named by $KUBECTL)");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Kubectl {
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    /// Waits for `Forwarding from 127.0.0.1:{local}` on kubectl's stdout.
    async fn wait_forwarding(&mut self, local: u16) {
        let needle = format!("Forwarding from 127.0.0.1:{local}");
        if !wait_text(&mut self.stdout, &needle, 30).await {
            panic!(
                "kubectl never said {needle:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout.borrow().as_str(),
                self.stderr.borrow().as_str()
            );
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.borrow().as_str(),
            self.stderr.borrow().as_str()
        )
    }

    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Waits up to `secs` for `needle` to show up in a collected pipe.
async fn wait_text(rx: &mut watch::Receiver<String>, needle: &str, secs: u64) -> bool {
    let wait = async { rx.wait_for(|text| text.contains(needle)).await.is_ok() };
    tokio::time::timeout(Duration::from_secs(secs), wait)
        .await
        .unwrap_or(false)
}

/// Gathers a pipe's text as it arrives.
fn collect(pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> watch::Receiver<String> {
    let (tx, rx) = watch::channel(String::new());
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tx.send_modify(|all| {
                all.push_str(&line);
                all.push('\n');
            });
        }
    });
    rx
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`, returning the status code and body.
async fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP head in {} bytes", response.len())))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let body = response[split + 4..].to_vec();
    let length: Option<usize> = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok());
    if let Some(length) = length
        && length != body.len()
    {
        return Err(std::io::Error::other(format!(
            "body is {} bytes, not {length}",
            body.len()
        )));
    }
    Ok((status, body))
}

async fn within<T>(what: &str, secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {secs}s"))
}

/// The single, concurrent and large requests, through one kubectl session.
async fn exercise_forward(local: u16, kubectl: &Kubectl) {
    let (status, body) = within("one request", 30, http_get(local, "/health/readiness"))
        .await
        .unwrap_or_else(|e| panic!("GET through kubectl: {e}\n{}", kubectl.output()));
    assert_eq!(
        (status, body.as_slice()),
        (200, b"ready".as_slice()),
        "{}",
        kubectl.output()
    );

    let requests = (0..20).map(|i| async move { (i, http_get(local, &format!("/echo/request-{i}")).await) });
    let results = within("20 concurrent requests", 60, futures_util::future::join_all(requests)).await;
    for (i, result) in results {
        let (status, body) = result.unwrap_or_else(|e| panic!("request {i}: {e}\n{}", kubectl.output()));
        assert_eq!(status, 200, "request {i}");
        assert_eq!(String::from_utf8_lossy(&body), format!("request-{i}"), "request {i}");
    }

    let (status, body) = within("1 MiB response", 60, http_get(local, "/big"))
        .await
        .unwrap_or_else(|e| panic!("GET /big: {e}\n{}", kubectl.output()));
    assert_eq!(status, 200);
    assert_eq!(body.len(), BIG);
    if let Some(at) = (0..BIG).find(|&i| body[i] != big_byte(i)) {
        panic!("1 MiB body differs from offset {at}");
    }

    // And the session is still good afterwards.
    let (status, body) = within("request after the large one", 30, http_get(local, "/health/readiness"))
        .await
        .unwrap();
    assert_eq!((status, body.as_slice()), (200, b"ready".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_port_forward_over_spdy() {
    let pod = start_pod_server().await;
    let (api_addr, api) = start_api(pod, false).await;
    let local = free_port();
    let mut kubectl = Kubectl::port_forward(api_addr, local, POD_PORT, true).await;
    kubectl.wait_forwarding(local).await;

    exercise_forward(local, &kubectl).await;

    // kubectl tried the WebSocket tunnel first, was refused, and fell back to SPDY/3.1.
    let log = api.log();
    let ws = log.iter().position(|l| {
        l.starts_with("GET /api/v1/namespaces/default/pods/web-1/portforward") && l.contains("upgrade: websocket")
    });
    let spdy = log.iter().position(|l| {
        l.starts_with("POST /api/v1/namespaces/default/pods/web-1/portforward")
            && l.contains("upgrade: SPDY/3.1")
            && l.contains("x-stream-protocol-version: portforward.k8s.io")
    });
    assert!(
        matches!((ws, spdy), (Some(w), Some(s)) if w < s),
        "expected a refused WebSocket attempt, then the SPDY upgrade:\n{}",
        log.join("\n")
    );
    eprintln!("API requests:\n{}", log.join("\n"));

    kubectl.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_port_forward_through_websocket_tunnel() {
    let pod = start_pod_server().await;
    let (api_addr, api) = start_api(pod, true).await;
    let local = free_port();
    let mut kubectl = Kubectl::port_forward(api_addr, local, POD_PORT, true).await;
    kubectl.wait_forwarding(local).await;

    exercise_forward(local, &kubectl).await;

    let log = api.log();
    assert!(
        log.iter().any(
            |l| l.starts_with("GET /api/v1/namespaces/default/pods/web-1/portforward")
                && l.contains(&format!("sec-websocket-protocol: {TUNNEL_SUBPROTOCOL}"))
        ),
        "{}",
        log.join("\n")
    );
    assert!(
        !log.iter().any(|l| l.starts_with("POST ")),
        "kubectl should not have fallen back:\n{}",
        log.join("\n")
    );
    kubectl.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_reports_a_port_with_nothing_behind_it() {
    let pod = start_pod_server().await;
    let (api_addr, _api) = start_api(pod, false).await;
    let local = free_port();
    let mut kubectl = Kubectl::port_forward(api_addr, local, 3999, false).await;
    kubectl.wait_forwarding(local).await;

    // The local connection is accepted, then closed without a response.
    let got = within("request to a dead port", 30, http_get(local, "/health/readiness")).await;
    assert!(got.is_err(), "expected no HTTP response, got {got:?}");

    // kubectl prints the kubelet-style error from the error stream, then gives up.
    let needle =
        format!("error forwarding port 3999 to pod {POD}, uid : dial tcp4 127.0.0.1:3999: connect: connection refused");
    let seen = wait_text(&mut kubectl.stderr, &needle, 30).await;
    assert!(seen, "kubectl did not report {needle:?}\n{}", kubectl.output());
    let exit = within("kubectl exiting", 30, kubectl.child.wait()).await.unwrap();
    assert!(
        !exit.success(),
        "kubectl should exit with an error\n{}",
        kubectl.output()
    );
    // (Its last words may still be on their way through the pipe.)
    let lost = wait_text(&mut kubectl.stderr, "lost connection to pod", 10).await;
    assert!(lost, "{}", kubectl.output());
    eprintln!(
        "kubectl, forwarding to a port with nothing behind it:\n{}",
        kubectl.output()
    );
}
