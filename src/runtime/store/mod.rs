//! The agent's only durable state: which connectors it holds, since when, why and in which
//! phase, plus recent human hand-backs. Behind a small trait; the file implementation writes
//! atomically (temp file in the same directory, fsync, rename, fsync of the directory), so a
//! crash leaves either the old or the new state, never a torn one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::core::{Millis, Record};

/// Everything that survives a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// Format version, for later migrations.
    pub version: u32,
    /// Connectors in a recovery or needing attention, by name.
    #[serde(default)]
    pub connectors: BTreeMap<String, Record>,
    /// Connectors a human took back from the agent, and when.
    #[serde(default)]
    pub handed_back: BTreeMap<String, Millis>,
}

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read state file {path}: {source}. Fix its permissions; the agent will not start without the record of the connectors it holds")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt ({detail}). It records which connectors the agent paused; inspect it, and only if you have resumed those connectors yourself, move it aside to start fresh")]
    Corrupt { path: PathBuf, detail: String },
    #[error("state file {path} has format version {found}, newer than this agent understands ({STATE_VERSION}); run a newer cdc-sentinel")]
    TooNew { path: PathBuf, found: u32 },
    #[error("cannot write state file {path}: {source} (check the directory exists and is writable: --state-file)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the durable state lives.
pub trait Store: Send + Sync {
    fn load(&self) -> Result<Durable, StoreError>;
    fn save(&self, state: &Durable) -> Result<(), StoreError>;
}

/// A JSON file, written atomically.
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }
}

impl Store for FileStore {
    fn load(&self) -> Result<Durable, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Durable {
                    version: STATE_VERSION,
                    ..Durable::default()
                })
            }
            Err(e) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source: e,
                })
            }
        };
        let state: Durable = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        if state.version > STATE_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: state.version,
            });
        }
        Ok(state)
    }

    fn save(&self, state: &Durable) -> Result<(), StoreError> {
        let werr = |e| StoreError::Write {
            path: self.path.clone(),
            source: e,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let json = serde_json::to_vec_pretty(state).expect("state serializes");
        let res = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, &self.path)?;
            #[cfg(unix)]
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res.map_err(werr)
    }
}

/// In memory (tests, `--dry-run`).
#[derive(Default, Clone)]
pub struct MemStore {
    pub inner: Arc<Mutex<Durable>>,
}

impl Store for MemStore {
    fn load(&self) -> Result<Durable, StoreError> {
        Ok(self.inner.lock().expect("mem store lock").clone())
    }
    fn save(&self, state: &Durable) -> Result<(), StoreError> {
        *self.inner.lock().expect("mem store lock") = state.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{HoldWith, Phase};

    fn rec() -> Record {
        serde_json::from_value(serde_json::json!({
            "phase": "waiting", "reason": "task_failed", "target": "db:1521",
            "started_at": 1000, "held_at": 1000, "hold_with": "pause"
        }))
        .unwrap()
    }

    #[test]
    fn round_trips_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path().join("state.json"));
        assert_eq!(s.load().unwrap().connectors.len(), 0);
        let mut st = Durable {
            version: STATE_VERSION,
            ..Default::default()
        };
        st.connectors.insert("inv".into(), rec());
        s.save(&st).unwrap();
        let back = s.load().unwrap();
        assert_eq!(back, st);
        assert_eq!(back.connectors["inv"].phase, Phase::Waiting);
        assert_eq!(back.connectors["inv"].hold_with, HoldWith::Pause);
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_or_newer_files_are_errors_not_resets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, b"{\"version\":1,\"connectors\":{\"inv\":").unwrap();
        let e = FileStore::new(&p).load().unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains("state.json"), "{e}");
        std::fs::write(&p, b"{\"version\":99}").unwrap();
        assert!(FileStore::new(&p)
            .load()
            .unwrap_err()
            .to_string()
            .contains("newer"));
    }

    #[test]
    fn unwritable_directory_is_a_clear_error() {
        let e = FileStore::new("/nonexistent-dir/x/state.json")
            .save(&Durable::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--state-file"), "{e}");
    }
}
