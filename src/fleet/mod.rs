//! Fleets: the applications of an estate and the waves they move in (`file`), each driven
//! in its own run; in the cockpit, each run is driven in the background (`background`)
//! while the fleet view is on screen.

mod background;
mod file;
pub mod schema;

pub use background::{AppView, Background};
pub use file::{App, Fleet, MAX_FLEET_BYTES, OnRollback, Wave, is_fleet, is_fleet_file, load, parse};
