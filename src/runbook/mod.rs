//! The runbook file format: a TOML description of the cutover, loaded for one
//! environment, with `${var}` substitution and diagnostics that point at line:col.

mod controls;
pub mod describe;
pub mod diagnostic;
pub mod dns;
mod include;
pub use crate::duration;
mod interpolate;
pub mod k8s;
mod load;
pub mod metrics;
pub mod model;
pub mod notify;
mod reader;
pub mod schema;
pub mod secrets;
pub mod state;
pub mod steps;
pub mod targets;
pub mod template;
mod tree;
mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity, Source, SourceFile};
pub use include::{MAX_FILES, MAX_INCLUDE_DEPTH, Provenance, StepOrigin, environments_of};
pub use load::{
    DEFAULT_HOLD, LoadError, Loaded, MAX_RUNBOOK_BYTES, digest, environment_names, load_file, load_file_with, load_str,
    read_file,
};
pub use model::*;
pub use template::Template;
