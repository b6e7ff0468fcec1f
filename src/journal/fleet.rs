//! A fleet's record in the state directory (`fleets/<fleet id>.json`): which run each of
//! its applications has, in which wave, and where the fleet stopped. Each application's run
//! keeps its own journal, lock and summary; this record only ties them together, so
//! `cutover runs` can group them, the export can tell one timeline, and a fleet started
//! again (after a crash too) finds its runs. It is rewritten atomically (write, fsync,
//! rename) whenever it changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::store::Store;
use super::{JournalError, create_private_dir, write_durably};
use crate::engine::Mode;
use crate::names::{self, NameKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// `<fleet>.<environment>`, with `.rehearsal` for a rehearsal.
    pub fleet_id: String,
    pub fleet: String,
    pub environment: String,
    pub mode: Mode,
    /// The fleet file, as given.
    pub source: String,
    /// Wave names in order, each with its applications.
    pub waves: Vec<WaveRecord>,
    /// Application → the run that carries it now.
    #[serde(default)]
    pub runs: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the fleet stopped last time, in words (empty while it goes on).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stopped: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveRecord {
    pub name: String,
    pub apps: Vec<String>,
}

impl FleetRecord {
    /// The id of a fleet's record: one per fleet, environment and mode.
    pub fn id_for(fleet: &str, environment: &str, mode: Mode) -> String {
        match mode {
            Mode::Live => format!("{fleet}.{environment}"),
            Mode::Rehearsal => format!("{fleet}.{environment}.rehearsal"),
        }
    }

    /// The wave an application is in (its index), if any.
    pub fn wave_of(&self, app: &str) -> Option<usize> {
        self.waves.iter().position(|w| w.apps.iter().any(|a| a == app))
    }

    /// The application a run carries in this fleet.
    pub fn app_of(&self, run_id: &str) -> Option<&str> {
        self.runs.iter().find(|(_, r)| *r == run_id).map(|(a, _)| a.as_str())
    }
}

impl Store {
    fn fleet_path(&self, fleet_id: &str) -> Result<std::path::PathBuf, JournalError> {
        match names::refusal(NameKind::RunId, fleet_id) {
            Some(refused) => Err(JournalError::Invalid(refused)),
            None => Ok(self.root().join("fleets").join(format!("{fleet_id}.json"))),
        }
    }

    /// The record of a fleet, if it was ever started here.
    pub fn fleet(&self, fleet_id: &str) -> Option<FleetRecord> {
        let text = std::fs::read_to_string(self.fleet_path(fleet_id).ok()?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Every fleet started here, oldest first.
    pub fn fleets(&self) -> Vec<FleetRecord> {
        let Ok(entries) = std::fs::read_dir(self.root().join("fleets")) else {
            return Vec::new();
        };
        let mut all: Vec<FleetRecord> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
            .collect();
        all.sort_by_key(|f: &FleetRecord| f.created_at);
        all
    }

    /// Takes the fleet's lock (`fleets/<id>.lock`) for as long as the value lives: one
    /// process drives a fleet at a time (each application's run has its own lock too).
    pub fn lock_fleet(&self, fleet_id: &str, holder: &super::Holder) -> Result<super::lock::RunLock, JournalError> {
        let path = self.fleet_path(fleet_id)?.with_extension("lock");
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        create_private_dir(&self.root().join("fleets")).map_err(io)?;
        match super::lock::RunLock::try_acquire(&path, holder).map_err(io)? {
            super::lock::Acquire::Acquired(lock) => Ok(lock),
            super::lock::Acquire::Held(holder) => Err(JournalError::Held {
                run_id: format!("fleet {fleet_id}"),
                holder,
            }),
        }
    }

    /// Writes a fleet's record durably (a crash leaves the old one or the new one).
    pub fn write_fleet(&self, record: &FleetRecord) -> Result<(), JournalError> {
        let path = self.fleet_path(&record.fleet_id)?;
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        create_private_dir(&self.root().join("fleets")).map_err(io)?;
        write_durably(&path, &serde_json::to_vec_pretty(record).unwrap_or_default()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let now = Utc::now();
        let record = FleetRecord {
            fleet_id: FleetRecord::id_for("estate", "staging", Mode::Rehearsal),
            fleet: "estate".into(),
            environment: "staging".into(),
            mode: Mode::Rehearsal,
            source: "fleet.toml".into(),
            waves: vec![WaveRecord {
                name: "pilot".into(),
                apps: vec!["billing".into()],
            }],
            runs: BTreeMap::from([("billing".into(), "billing.staging.1".into())]),
            created_at: now,
            updated_at: now,
            stopped: String::new(),
        };
        store.write_fleet(&record).unwrap();
        assert_eq!(record.fleet_id, "estate.staging.rehearsal");
        assert_eq!(store.fleet("estate.staging.rehearsal"), Some(record.clone()));
        assert_eq!(store.fleets(), vec![record.clone()]);
        assert_eq!(record.app_of("billing.staging.1"), Some("billing"));
        assert_eq!(record.wave_of("billing"), Some(0));
        assert!(store.fleet("../escape").is_none());
    }
}
