//! The same SPDY session tunnelled in a WebSocket (KEP-4006): kubectl 1.31+ first asks for
//! `GET .../portforward` upgraded to a WebSocket with subprotocol
//! `SPDY/3.1+portforward.k8s.io`, and then speaks SPDY inside binary messages, the byte
//! stream being the concatenation of their payloads.

use std::io;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{PodInfo, Target, serve_with};

/// The WebSocket subprotocol kubectl offers for the tunnel.
pub const TUNNEL_SUBPROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// Serves a port-forward SPDY session carried by an accepted WebSocket (the caller
/// negotiated [`TUNNEL_SUBPROTOCOL`]), until either side closes.
pub async fn serve_websocket_tunnel(ws: WebSocket, target: Target, pod: PodInfo) -> io::Result<()> {
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (session_io, pump_io) = tokio::io::duplex(256 * 1024);
    let (mut from_session, mut to_session) = tokio::io::split(pump_io);

    // WebSocket → session: binary payloads are SPDY bytes; a close (or failure) is EOF.
    let inbound = tokio::spawn(async move {
        while let Some(msg) = ws_rx.next().await {
            match msg {
                Ok(Message::Binary(bytes)) => {
                    if to_session.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                // Text is not part of the tunnel; pings are answered by the WebSocket layer.
                Ok(_) => {}
            }
        }
        let _ = to_session.shutdown().await;
    });

    // Session → WebSocket: each read becomes one binary message; the session's end, a close.
    let outbound = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_session.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws_tx
                        .send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = ws_tx.send(Message::Close(None)).await;
        let _ = ws_tx.close().await;
    };

    let session = async move {
        let result = serve_with(session_io, target, pod).await;
        // `session_io` is dropped here, which ends `outbound`.
        result
    };
    let (result, ()) = tokio::join!(session, outbound);
    inbound.abort();
    result
}
