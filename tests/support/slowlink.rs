//! A TCP relay on loopback in front of a real server, whose answers it can hold back: every
//! chunk the server sends is passed on only after the delay the test sets (none at first).
//! Requests reach the server at once, so what the server does happens when it would; only
//! the client waits longer for the answer, as over a slow or congested link. It works for
//! any protocol on TCP (HTTP, TLS, WebSocket).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct SlowLink {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
}

impl SlowLink {
    pub fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, None));
                let delay = delay.clone();
                std::thread::spawn(move || pipe(s2, c2, Some(&delay)));
            }
        });
        Self { addr, delay_ms }
    }

    /// How long each chunk from the server is held from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Option<&AtomicU64>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(d) = delay {
            std::thread::sleep(Duration::from_millis(d.load(Ordering::SeqCst)));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
