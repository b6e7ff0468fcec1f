//! Fleets: the applications of an estate and the waves they move in (`file`), driven each
//! in its own run.

mod file;

pub use file::{App, Fleet, MAX_FLEET_BYTES, OnRollback, Wave, is_fleet, is_fleet_file, load, parse};
