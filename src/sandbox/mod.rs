//! Stand-ins for the outside world, used by tests and by `cutover demo`.

pub mod kube;
