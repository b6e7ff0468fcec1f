//! Stand-ins for the outside world, used by cutover's tests and by `cutover demo`: an
//! authoritative DNS server that takes TSIG-signed RFC 2136 updates and transfers its zone
//! to secondaries ([`dns`]), a Prometheus-compatible query API over a simulated service
//! ([`metrics`]), and a Kubernetes API server (REST, watch, SPDY and WebSocket
//! port-forward, HTTPS) whose fidelity the real `kubectl` checks ([`kube`]).
//!
//! This crate knows nothing of cutover itself: it is the world cutover talks to, built
//! from the protocols' specifications, so a test that passes against it says something
//! about the product.

pub mod dns;
pub mod kube;
pub mod metrics;
