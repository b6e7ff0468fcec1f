//! Stand-ins for the outside world, used by tests and by `cutover demo`.

pub mod demo;
pub mod dns;
pub mod kube;
pub mod metrics;
