//! `pods/{name}/portforward`: the WebSocket channel protocol (`v4.channel.k8s.io`, what kube-rs speaks)
//! and SPDY (what kubectl speaks, served by [`super::spdy`]).
//!
//! Channel protocol: for the i-th requested port, channel `2i` carries data and `2i+1` errors. Every
//! binary message starts with its channel byte; the first message the server sends on each channel is
//! the port number, 2 bytes little-endian. The "pod" side of each port is a TCP connection to the
//! target registered with [`super::FakeKube::pod_port`], opened as soon as the session starts (as the
//! kubelet does); a failure to connect is reported on the port's error channel.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::resources;
use super::routes::{Query, Shared};
use super::spdy;
use super::status::ApiError;

/// The WebSocket subprotocols served, best first (the kubelet serves these for port forwarding).
const CHANNEL_PROTOCOLS: [&str; 2] = ["v4.channel.k8s.io", "channel.k8s.io"];

fn header_text(req: &Request, name: header::HeaderName) -> String {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    namespace: String,
    pod: String,
    query: Query,
    mut req: Request,
) -> Result<Response, ApiError> {
    let info = resources::find("", "v1", "pods").expect("pods are served");
    let uid = {
        let state = shared.lock();
        let obj = state
            .get(info, &namespace, &pod)
            .ok_or_else(|| ApiError::not_found(info, &pod))?;
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending");
        if phase != "Running" {
            return Err(ApiError::bad_request(format!(
                "unable to forward port because pod is not running. Current status={phase}"
            )));
        }
        obj.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };

    let upgrade = header_text(&req, header::UPGRADE).to_ascii_lowercase();
    // SPDY sessions (kubectl) name their ports per stream; the pod's ports are looked up then.
    // The kubelet names the pod in its errors; the CRI streaming server leaves the uid empty.
    let pod_info = spdy::PodInfo {
        name: pod.clone(),
        uid: String::new(),
    };
    let lookup_shared = shared.clone();
    let (lookup_ns, lookup_pod) = (namespace.clone(), pod.clone());
    let target: spdy::Target = Arc::new(move |port| {
        lookup_shared
            .lock()
            .pod_ports
            .get(&(lookup_ns.clone(), lookup_pod.clone(), port))
            .copied()
    });
    if upgrade.starts_with("spdy/") {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    if let Err(e) = spdy::serve_with(TokioIo::new(upgraded), target, pod_info).await {
                        tracing::debug!("fake kube: SPDY port-forward session ended: {e}");
                    }
                }
                Err(e) => tracing::debug!("fake kube: SPDY upgrade failed: {e}"),
            }
        });
        let mut res = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = res.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        h.insert(
            "X-Stream-Protocol-Version",
            HeaderValue::from_static("portforward.k8s.io"),
        );
        return Ok(res);
    }
    if upgrade != "websocket" {
        return Err(ApiError::bad_request("Upgrade request required"));
    }
    let offered = header_text(&req, header::SEC_WEBSOCKET_PROTOCOL);
    let offers = |p: &str| offered.split(',').map(str::trim).any(|o| o == p);
    if !CHANNEL_PROTOCOLS.iter().any(|p| offers(p)) {
        // kubectl 1.31+ tunnels SPDY through a WebSocket, as API servers of that age accept.
        if offers(spdy::TUNNEL_SUBPROTOCOL) {
            let (mut parts, _body) = req.into_parts();
            let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
                .await
                .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {}", e.body_text())))?;
            return Ok(ws
                .protocols([spdy::TUNNEL_SUBPROTOCOL])
                .on_upgrade(move |socket| async move {
                    if let Err(e) = spdy::serve_websocket_tunnel(socket, target, pod_info).await {
                        tracing::debug!("fake kube: tunnelled SPDY port-forward session ended: {e}");
                    }
                }));
        }
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: none of the offered WebSocket subprotocols ({offered}) is supported; port forwarding speaks {}, {} over WebSocket, or SPDY/3.1",
            CHANNEL_PROTOCOLS.join(", "),
            spdy::TUNNEL_SUBPROTOCOL
        )));
    }
    let mut ports = Vec::new();
    for value in query.all("ports").chain(query.all("port")) {
        for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match p.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid port: {p:?}: must be between 1 and 65535"
                    )));
                }
            }
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("query parameter \"port\" is required"));
    }
    let targets: Vec<Option<SocketAddr>> = {
        let state = shared.lock();
        ports
            .iter()
            .map(|p| state.pod_ports.get(&(namespace.clone(), pod.clone(), *p)).copied())
            .collect()
    };
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| ApiError::bad_request(format!("unable to upgrade connection: {}", e.body_text())))?;
    let ws = ws.protocols(CHANNEL_PROTOCOLS);
    Ok(ws.on_upgrade(move |socket| bridge(socket, ports, targets, pod, uid)))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

async fn bridge(socket: WebSocket, ports: Vec<u16>, targets: Vec<Option<SocketAddr>>, pod: String, uid: String) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    for (i, port) in ports.iter().enumerate() {
        let ch = (2 * i) as u8;
        for channel in [ch, ch + 1] {
            if sink.send(frame(channel, &port.to_le_bytes())).await.is_err() {
                return;
            }
        }
    }
    let mut to_pod = Vec::new();
    for (i, (port, target)) in ports.iter().zip(targets).enumerate() {
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        to_pod.push(tx);
        tokio::spawn(forward_port(
            i,
            *port,
            target,
            rx,
            out_tx.clone(),
            pod.clone(),
            uid.clone(),
        ));
    }
    drop(out_tx);
    // Once every port's connection has ended, close the session: that is the client's end of stream.
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Binary(data) if data.len() > 1 => {
                let ch = data[0] as usize;
                if ch % 2 == 0
                    && let Some(tx) = to_pod.get(ch / 2)
                {
                    let _ = tx.send(data.slice(1..)).await;
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    drop(to_pod);
    let _ = writer.await;
}

async fn forward_port(
    index: usize,
    port: u16,
    target: Option<SocketAddr>,
    mut from_client: mpsc::Receiver<Bytes>,
    out: mpsc::Sender<Message>,
    pod: String,
    uid: String,
) {
    let data_ch = (2 * index) as u8;
    let error_ch = data_ch + 1;
    let fail = |why: String| {
        frame(
            error_ch,
            format!("error forwarding port {port} to pod {pod}, uid {uid}: {why}").as_bytes(),
        )
    };
    let Some(addr) = target else {
        let why = format!(
            "failed to connect to localhost:{port} inside the pod: dial tcp4 127.0.0.1:{port}: connect: connection refused (nothing listens on port {port} in this fake pod; map it with FakeKube::pod_port)"
        );
        let _ = out.send(fail(why)).await;
        return;
    };
    let tcp = match TcpStream::connect(addr).await {
        Ok(tcp) => tcp,
        Err(e) => {
            let why = format!("failed to connect to localhost:{port} inside the pod (fake target {addr}): {e}");
            let _ = out.send(fail(why)).await;
            return;
        }
    };
    let (mut read, mut write) = tcp.into_split();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            data = from_client.recv() => match data {
                Some(d) => {
                    if write.write_all(&d).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            n = read.read(&mut buf) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if out.send(frame(data_ch, &buf[..n])).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}
