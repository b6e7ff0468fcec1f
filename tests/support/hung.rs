//! Servers that never answer: a TCP listener that accepts connections and reads what it is
//! sent but never writes a byte (a hung API server, a frozen Prometheus, a load balancer
//! blackholing requests), and a UDP socket that swallows every DNS query.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Accepts connections on loopback and never answers. The connections stay open (reads
/// are drained) until the test process ends.
pub struct HungTcp {
    pub addr: SocketAddr,
}

impl HungTcp {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    // Drain what the client sends; answer nothing. Ends when the client hangs up.
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Self { addr }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// A UDP socket on loopback that receives DNS queries and answers none.
pub struct SilentUdp {
    pub addr: SocketAddr,
}

impl SilentUdp {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while socket.recv_from(&mut buf).is_ok() {}
        });
        Self { addr }
    }
}

/// A loopback UDP port with nothing bound to it (a query there is refused by ICMP).
pub fn closed_udp_port() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}
