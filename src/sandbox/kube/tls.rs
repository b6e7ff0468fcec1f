//! TLS for the fake API server. `kubectl` (client-go) never sends bearer tokens over plain HTTP, so the
//! server speaks both on one port: a connection whose first byte opens a TLS handshake gets TLS, any
//! other is served as plain HTTP. Kubeconfigs point at `https://127.0.0.1:PORT` and carry the CA below.
//!
//! The certificates are throwaway test fixtures (a CA, and a server certificate for `127.0.0.1` and
//! `localhost` signed by it, both valid from 2000 until 2126), generated once with openssl. They protect nothing.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The CA that signed the server certificate (what kubeconfigs trust).
pub(crate) const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBcTCCARegAwIBAgIBATAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRjdXRvdmVy\n\
IGZha2Uga3ViZSBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFow\n\
HzEdMBsGA1UEAwwUY3V0b3ZlciBmYWtlIGt1YmUgQ0EwWTATBgcqhkjOPQIBBggq\n\
hkjOPQMBBwNCAATut7VUis4nKTSpZskdJqBB2ZnYks3KTzoMYEvT3VSaRcmYyC3g\n\
0R1T+8zIo9SflT9RrwoVpaTYP9aM+6JuBDmbo0IwQDAPBgNVHRMBAf8EBTADAQH/\n\
MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUaaav5/enM5pxFTQOmKdzFNWp1sow\n\
CgYIKoZIzj0EAwIDSAAwRQIgZY28hgjiy8/9OxKilCCo4lUUdO2MCPSPlYlyGfs6\n\
ZQ0CIQCKFSdNjwhTxoqU7JaGpd4Z05jyMym9JDDBvuLl//PySg==\n\
-----END CERTIFICATE-----\n";

const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBtjCCAV2gAwIBAgIBAjAKBggqhkjOPQQDAjAfMR0wGwYDVQQDDBRjdXRvdmVy\n\
IGZha2Uga3ViZSBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFow\n\
FDESMBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n\
hYbzKW/wxuO/cHfMHwc1hoT57snUeCSPOyacUDIGpOSyJebVdSIa2B0ZQyLT+fuT\n\
Awyd613iwa6PZmPKt0sorqOBkjCBjzAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQE\n\
AwIHgDATBgNVHSUEDDAKBggrBgEFBQcDATAaBgNVHREEEzARhwR/AAABgglsb2Nh\n\
bGhvc3QwHwYDVR0jBBgwFoAUaaav5/enM5pxFTQOmKdzFNWp1sowHQYDVR0OBBYE\n\
FH/kIvnjKc4SDwfb7bigX+ImnR6bMAoGCCqGSM49BAMCA0cAMEQCICzsHiETkW6i\n\
M7yy/gtbIjKh3toTknBWvIsshLxftTsIAiB2TOY+OthT3JvtPp0oaLPpgRKefD3A\n\
q6SKQ5Z6D3IcEQ==\n\
-----END CERTIFICATE-----\n";

const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMXMqEF5mxUyyCJvh\n\
H5KkBkZgrP48UZgGCPIpVUeqIIqhRANCAASFhvMpb/DG479wd8wfBzWGhPnuydR4\n\
JI87JpxQMgak5LIl5tV1IhrYHRlDItP5+5MDDJ3rXeLBro9mY8q3Syiu\n\
-----END PRIVATE KEY-----\n";

fn acceptor() -> TlsAcceptor {
    let certs = vec![
        CertificateDer::from_pem_slice(CERT_PEM.as_bytes()).expect("server certificate"),
        CertificateDer::from_pem_slice(CA_PEM.as_bytes()).expect("CA certificate"),
    ];
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate and key match");
    TlsAcceptor::from(Arc::new(config))
}

/// One accepted connection, TLS or plain.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A listener for `axum::serve` that hands over connections once their protocol is known (TLS
/// handshakes run concurrently, so a slow client holds up nobody).
pub(crate) struct DualListener {
    ready: mpsc::Receiver<(Conn, SocketAddr)>,
    addr: SocketAddr,
}

impl DualListener {
    pub fn new(listener: TcpListener) -> io::Result<DualListener> {
        let addr = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = acceptor();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let mut first = [0u8; 1];
                    let peeked = tokio::time::timeout(Duration::from_secs(30), stream.peek(&mut first)).await;
                    let conn = match peeked {
                        Ok(Ok(1)) if first[0] == 0x16 => match acceptor.accept(stream).await {
                            Ok(tls) => Conn::Tls(Box::new(tls)),
                            Err(e) => {
                                tracing::debug!("fake kube: TLS handshake with {peer} failed: {e}");
                                return;
                            }
                        },
                        Ok(Ok(n)) if n > 0 => Conn::Plain(stream),
                        _ => return,
                    };
                    let _ = tx.send((conn, peer)).await;
                });
            }
        });
        Ok(DualListener { ready, addr })
    }
}

impl axum::serve::Listener for DualListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}
