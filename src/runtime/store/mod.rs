//! The agent's only durable state, behind a small interface: which connectors it holds, since
//! when, why and in which phase ([`Record`]s), plus recent human hand-backs, each keyed by
//! connector.
//!
//! A backend loads everything once and then applies batches of per-key [`Change`]s, each batch
//! atomically: the supervisor writes one batch per cycle, before the actions of that cycle go
//! out (write-ahead). [`Store::may_act`] is the ownership check before every action: a sole
//! agent always may; an agent that shares its store with others (a Kafka topic) only while it
//! is the confirmed leader.
//!
//! Backends: [`FileStore`] (a JSON file written atomically) and [`MemStore`] (tests, and
//! `--dry-run`, which reads the real state but never writes it).

mod file;
mod mem;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::{Millis, Record};

pub use file::{parse as parse_state, FileStore};
pub use mem::MemStore;

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

impl Durable {
    pub fn empty() -> Durable {
        Durable {
            version: STATE_VERSION,
            ..Durable::default()
        }
    }

    /// Applies one change to this in-memory copy.
    pub fn apply(&mut self, c: &Change) {
        match c {
            Change::PutRecord(n, r) => {
                self.connectors.insert(n.clone(), (**r).clone());
            }
            Change::DeleteRecord(n) => {
                self.connectors.remove(n);
            }
            Change::PutHandedBack(n, t) => {
                self.handed_back.insert(n.clone(), *t);
            }
            Change::DeleteHandedBack(n) => {
                self.handed_back.remove(n);
            }
        }
    }

    /// The changes that turn `self` into `next`.
    pub fn diff(&self, next: &Durable) -> Vec<Change> {
        let mut out = Vec::new();
        for (n, r) in &next.connectors {
            if self.connectors.get(n) != Some(r) {
                out.push(Change::PutRecord(n.clone(), Box::new(r.clone())));
            }
        }
        for n in self.connectors.keys() {
            if !next.connectors.contains_key(n) {
                out.push(Change::DeleteRecord(n.clone()));
            }
        }
        for (n, t) in &next.handed_back {
            if self.handed_back.get(n) != Some(t) {
                out.push(Change::PutHandedBack(n.clone(), *t));
            }
        }
        for n in self.handed_back.keys() {
            if !next.handed_back.contains_key(n) {
                out.push(Change::DeleteHandedBack(n.clone()));
            }
        }
        out
    }
}

/// One per-key change. (A record is boxed: it is far larger than the other changes.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutRecord(String, Box<Record>),
    DeleteRecord(String),
    PutHandedBack(String, Millis),
    DeleteHandedBack(String),
}

/// Why the state could not be read or written. `what` names the store ("state file PATH").
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {what}: {source}. Fix its permissions; the agent will not start without the record of the connectors it holds")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} is corrupt ({detail}). It records which connectors the agent paused; inspect it, and only if you have resumed those connectors yourself, move it aside to start fresh")]
    Corrupt { what: String, detail: String },
    #[error("{what} has format version {found}, newer than this agent understands ({STATE_VERSION}); run a newer cdc-sentinel")]
    TooNew { what: String, found: u32 },
    #[error("{what} is a directory: --state-file names the file the agent writes (e.g. /var/lib/cdc-sentinel/state.json), not its directory")]
    NotAFile { what: String },
    #[error("cannot write {what}: {source} ({fix})")]
    Write {
        what: String,
        source: std::io::Error,
        fix: String,
    },
}

/// Whether this agent may send actions now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authority {
    /// Act (the only agent on its store, or the confirmed leader).
    Act,
    /// Do not act; why (a standby, leadership not confirmed recently, the store unreachable).
    Standby(String),
}

/// Where the durable state lives.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Proves the store can be written (at start-up and in `check-config`), so a state
    /// directory that cannot be written is found now, not at the first outage.
    async fn preflight(&self) -> Result<(), StoreError>;
    /// Everything, as last written.
    async fn load(&self) -> Result<Durable, StoreError>;
    /// Applies a batch atomically: all of it is durable, or none of it.
    async fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;
    /// The ownership check before every action.
    fn may_act(&self) -> Authority {
        Authority::Act
    }
    /// The store, for log lines (`state file /var/lib/cdc-sentinel/state.json`).
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests;
