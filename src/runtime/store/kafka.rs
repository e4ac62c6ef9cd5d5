//! The state on a compacted Kafka topic shared by every agent of a Kafka Connect cluster
//! (`--state-store kafka://...`), over the `cdc-sentinel-kafka` crate, which elects one leader
//! per topic (consumer-group coordinator) and fences deposed ones (one transactional id).
//!
//! One key per connector and kind, so compaction keeps the latest of each and a tombstone ends
//! it: `record/NAME` (`{"v":1,"record":{...}}`) and `handed_back/NAME` (`{"v":1,"at":MS}`), plus
//! `meta` (`{"v":1,...}`), written by the first leader of the topic. Every value carries its
//! format version: a newer one stops the agent, as a newer state file does.
//!
//! Kafka that cannot be reached at start-up is not fatal: the agent starts as a standby (it
//! sends nothing) and keeps trying; a topic of the wrong shape, refused credentials or TLS are
//! (exit 78, the message names the fix), at start-up or whenever the store is first reached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdc_sentinel_kafka::{Error as KafkaError, KafkaStore, Leadership, Options, MAX_BATCH_BYTES};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Authority, Change, Durable, FileStore, Role, Store, StoreError, STATE_VERSION};
use crate::core::{Millis, Record};

const RECORD: &str = "record/";
const HANDED_BACK: &str = "handed_back/";
const META: &str = "meta";
/// What one write may carry; bigger batches are split (see [`KafkaStateStore::apply`]).
const CHUNK_BYTES: usize = MAX_BATCH_BYTES * 3 / 4;

#[derive(Serialize, Deserialize)]
struct RecordValue {
    v: u32,
    record: Record,
}

#[derive(Serialize, Deserialize)]
struct HandedBackValue {
    v: u32,
    at: Millis,
}

#[derive(Serialize, Deserialize)]
struct MetaValue {
    v: u32,
    /// The state file imported when the topic was first used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    imported_from: Option<String>,
    #[serde(default)]
    imported_records: usize,
}

type Shared = Arc<Mutex<Option<Arc<KafkaStore>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The holds in a Kafka topic; see the module docs.
pub struct KafkaStateStore {
    what: String,
    topic: String,
    store: Shared,
    role: watch::Receiver<Role>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The `--state-file` to import once into an empty topic.
    import_from: Option<PathBuf>,
}

/// Errors that no retry can fix: the settings are wrong.
fn is_fatal(e: &KafkaError) -> bool {
    matches!(
        e.kind(),
        "url"
            | "config"
            | "auth_failed"
            | "tls"
            | "authorization"
            | "topic_missing"
            | "topic_shape"
    )
}

fn role_of(l: &Leadership) -> Role {
    match l {
        Leadership::Leader { .. } => Role::Leader,
        Leadership::Standby => Role::Standby,
        Leadership::Disconnected { why } => Role::Unavailable(why.clone()),
    }
}

impl KafkaStateStore {
    /// Opens the store. Settings Kafka refuses are an error now; a Kafka that cannot be reached
    /// is not: the store reports [`Role::Unavailable`] and keeps trying in the background.
    pub async fn open(
        opts: Options,
        import_from: Option<PathBuf>,
    ) -> Result<KafkaStateStore, StoreError> {
        let topic = opts.url.topic.clone();
        let what = format!(
            "state-store topic {topic} on {}",
            opts.url.bootstrap_servers()
        );
        let (tx, rx) = watch::channel(Role::Standby);
        let store: Shared = Arc::new(Mutex::new(None));
        let first = match KafkaStore::open(opts.clone()).await {
            Ok(s) => Some(s),
            Err(e) if is_fatal(&e) => return Err(StoreError::Config(e.to_string())),
            Err(e) => {
                tracing::warn!("{what}: cannot open it yet: {e}; standing by (sending nothing) and trying again in the background");
                tx.send_replace(Role::Unavailable(e.to_string()));
                None
            }
        };
        let task = tokio::spawn(drive(opts, first, store.clone(), tx));
        Ok(KafkaStateStore {
            what,
            topic,
            store,
            role: rx,
            task: Mutex::new(Some(task)),
            import_from,
        })
    }

    fn current(&self) -> Result<Arc<KafkaStore>, StoreError> {
        lock(&self.store)
            .clone()
            .ok_or_else(|| StoreError::Unavailable {
                what: self.what.clone(),
                why: match &*self.role.borrow() {
                    Role::Unavailable(why) | Role::Failed(why) => why.clone(),
                    _ => "not open yet".into(),
                },
            })
    }

    fn err(&self, e: KafkaError) -> StoreError {
        match e.kind() {
            "not_leader" | "stale" | "fenced" => StoreError::NotLeader {
                what: self.what.clone(),
                why: e.to_string(),
            },
            _ if is_fatal(&e) => StoreError::Config(e.to_string()),
            _ => StoreError::Unavailable {
                what: self.what.clone(),
                why: e.to_string(),
            },
        }
    }

    fn corrupt(&self, key: &str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: format!("{} (key {key:?})", self.what),
            detail: detail.to_string(),
        }
    }

    /// The format version of a value, before its body is read.
    fn version(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        #[derive(Deserialize)]
        struct V {
            v: u32,
        }
        let v: V = serde_json::from_slice(value).map_err(|e| self.corrupt(key, e))?;
        if v.v > STATE_VERSION {
            return Err(StoreError::TooNew {
                what: format!("{} (key {key:?})", self.what),
                found: v.v,
            });
        }
        Ok(())
    }

    /// The topic's keys as the agent's state; `has_meta`: the topic was initialised.
    fn decode(&self, map: &BTreeMap<String, Vec<u8>>) -> Result<(Durable, bool), StoreError> {
        let mut d = Durable::empty();
        let mut has_meta = false;
        for (key, value) in map {
            self.version(key, value)?;
            if let Some(name) = key.strip_prefix(RECORD) {
                let r: RecordValue =
                    serde_json::from_slice(value).map_err(|e| self.corrupt(key, e))?;
                d.connectors.insert(name.to_string(), r.record);
            } else if let Some(name) = key.strip_prefix(HANDED_BACK) {
                let h: HandedBackValue =
                    serde_json::from_slice(value).map_err(|e| self.corrupt(key, e))?;
                d.handed_back.insert(name.to_string(), h.at);
            } else if key == META {
                serde_json::from_slice::<MetaValue>(value).map_err(|e| self.corrupt(key, e))?;
                has_meta = true;
            } else {
                return Err(self.corrupt(
                    key,
                    "a key this agent does not write (written by a newer cdc-sentinel? run that version on every agent)",
                ));
            }
        }
        Ok((d, has_meta))
    }

    fn encode(c: &Change) -> (String, Option<Vec<u8>>) {
        match c {
            Change::PutRecord(n, r) => (
                format!("{RECORD}{n}"),
                Some(to_json(&RecordValue {
                    v: STATE_VERSION,
                    record: (**r).clone(),
                })),
            ),
            Change::DeleteRecord(n) => (format!("{RECORD}{n}"), None),
            Change::PutHandedBack(n, t) => (
                format!("{HANDED_BACK}{n}"),
                Some(to_json(&HandedBackValue {
                    v: STATE_VERSION,
                    at: *t,
                })),
            ),
            Change::DeleteHandedBack(n) => (format!("{HANDED_BACK}{n}"), None),
        }
    }

    /// Writes `batch`, split into transactions the broker accepts. Each is written ahead of
    /// the actions that follow it; if one fails, the later ones are not written and the
    /// caller sends nothing (what was written is as if the agent had crashed after it).
    async fn write(
        &self,
        store: &KafkaStore,
        batch: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut chunk = Vec::new();
        let mut size = 0;
        for (k, v) in batch {
            let len = k.len() + v.as_ref().map_or(0, Vec::len);
            if !chunk.is_empty() && size + len > CHUNK_BYTES {
                store
                    .write(std::mem::take(&mut chunk))
                    .await
                    .map_err(|e| self.err(e))?;
                size = 0;
            }
            size += len;
            chunk.push((k, v));
        }
        if !chunk.is_empty() {
            store.write(chunk).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The first leader of an empty topic writes `meta`, importing `--state-file` if there is
    /// one: the file is renamed first (`.imported`), so it is imported once and never again,
    /// even if the topic later loses its records.
    async fn initialise(&self, store: &KafkaStore) -> Result<Durable, StoreError> {
        let mut state = Durable::empty();
        let mut meta = MetaValue {
            v: STATE_VERSION,
            imported_from: None,
            imported_records: 0,
        };
        let mut renamed: Option<(PathBuf, PathBuf)> = None;
        if let Some(path) = self.import_from.as_deref().filter(|p| p.is_file()) {
            let file = FileStore::new(path).read()?;
            if !file.connectors.is_empty() || !file.handed_back.is_empty() {
                let moved = imported_name(path);
                std::fs::rename(path, &moved).map_err(|e| StoreError::Write {
                    what: format!("state file {}", path.display()),
                    fix: format!(
                        "the agent imports it into the {} once and renames it to {} first, so that it is never imported again; make its directory writable, or import nothing by moving it aside yourself (its holds then look like a human's and are never resumed)",
                        self.what,
                        moved.display()
                    ),
                    source: e,
                })?;
                renamed = Some((path.to_path_buf(), moved));
                meta.imported_from = Some(path.display().to_string());
                meta.imported_records = file.connectors.len();
                state = file;
            }
        }
        let mut batch: Vec<_> = Durable::empty()
            .diff(&state)
            .iter()
            .map(Self::encode)
            .collect();
        batch.push((META.to_string(), Some(to_json(&meta))));
        if let Err(e) = self.write(store, batch).await {
            if let Some((from, to)) = renamed {
                let _ = std::fs::rename(to, from);
            }
            return Err(e);
        }
        match renamed {
            Some((from, to)) => tracing::info!(
                "imported the state file {} into the {} ({} hold record(s), {} hand-back(s)), once: it was renamed to {} and is no longer read or written",
                from.display(),
                self.what,
                state.connectors.len(),
                state.handed_back.len(),
                to.display()
            ),
            None => tracing::info!("{}: first use; no state file to import", self.what),
        }
        Ok(state)
    }
}

/// `state.json` -> `state.json.imported`.
fn imported_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(".imported");
    PathBuf::from(s)
}

/// Serialises a value that cannot fail to (plain structs of numbers, strings and enums).
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Opens the store (until it opens, or a setting is refused) and then mirrors its leadership.
async fn drive(opts: Options, first: Option<KafkaStore>, cell: Shared, tx: watch::Sender<Role>) {
    let topic = opts.url.topic.clone();
    let store = match first {
        Some(s) => s,
        None => {
            let mut wait = Duration::from_secs(1);
            let mut last_log = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(wait).await;
                match KafkaStore::open(opts.clone()).await {
                    Ok(s) => {
                        tracing::info!(topic = %topic, "state store: reachable; joining the election");
                        break s;
                    }
                    Err(e) if is_fatal(&e) => {
                        tracing::error!(topic = %topic, "state store: {e}");
                        tx.send_replace(Role::Failed(e.to_string()));
                        return;
                    }
                    Err(e) => {
                        if last_log.elapsed() >= Duration::from_secs(60) {
                            tracing::warn!(topic = %topic, "state store: still cannot open it: {e}; sending nothing");
                            last_log = tokio::time::Instant::now();
                        }
                        tx.send_replace(Role::Unavailable(e.to_string()));
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    };
    let mut rx = store.leadership();
    *lock(&cell) = Some(Arc::new(store));
    loop {
        let role = role_of(&rx.borrow_and_update());
        tx.send_if_modified(|cur| {
            if *cur != role {
                *cur = role;
                true
            } else {
                false
            }
        });
        if rx.changed().await.is_err() {
            break;
        }
    }
}

#[async_trait::async_trait]
impl Store for KafkaStateStore {
    async fn preflight(&self) -> Result<(), StoreError> {
        // Opening checked the topic (and created it); writes need leadership, which comes later.
        Ok(())
    }

    /// Everything in the topic. The leader of a topic no leader has initialised yet writes
    /// `meta` first, importing `--state-file` if it exists.
    async fn load(&self) -> Result<Durable, StoreError> {
        let store = self.current()?;
        let map = store.load().await.map_err(|e| self.err(e))?;
        let (state, initialised) = self.decode(&map)?;
        let empty = state.connectors.is_empty() && state.handed_back.is_empty();
        if !initialised && empty && store.leadership().borrow().is_leader() {
            return self.initialise(&store).await;
        }
        Ok(state)
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let store = self.current()?;
        self.write(&store, changes.iter().map(Self::encode).collect())
            .await
    }

    fn may_act(&self) -> Authority {
        match self.current() {
            Err(e) => Authority::Standby(e.to_string()),
            Ok(s) => match s.may_act() {
                Ok(()) => Authority::Act,
                Err(e) => Authority::Standby(e.to_string()),
            },
        }
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    fn role(&self) -> Option<watch::Receiver<Role>> {
        Some(self.role.clone())
    }

    fn records_lost(&self) -> u64 {
        self.current().map_or(0, |s| s.records_lost_total())
    }

    async fn close(&self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        let Some(mut arc) = lock(&self.store).take() else {
            return;
        };
        // A write in flight holds a clone for at most its own deadline.
        for _ in 0..40 {
            match Arc::try_unwrap(arc) {
                Ok(store) => {
                    store.close().await;
                    tracing::info!(topic = %self.topic, "state store: closed; left the election");
                    return;
                }
                Err(a) => {
                    arc = a;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        // Dropping it stops acting and leaves the group too, only less politely.
        drop(arc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        serde_json::from_value(serde_json::json!({
            "phase": "waiting", "reason": "task_failed", "target": "db:5432",
            "started_at": 1000, "held_at": 1000, "hold_with": "pause"
        }))
        .unwrap()
    }

    /// A store value without a broker: decoding and encoding are pure.
    fn offline() -> KafkaStateStore {
        let (_tx, rx) = watch::channel(Role::Standby);
        KafkaStateStore {
            what: "state-store topic t on k:9092".into(),
            topic: "t".into(),
            store: Arc::new(Mutex::new(None)),
            role: rx,
            task: Mutex::new(None),
            import_from: None,
        }
    }

    #[test]
    fn changes_round_trip_through_keys_and_versioned_values() {
        let s = offline();
        let mut map = BTreeMap::new();
        for c in [
            Change::PutRecord("inv/entory cdc".into(), Box::new(rec())),
            Change::PutHandedBack("orders".into(), 42),
        ] {
            let (k, v) = KafkaStateStore::encode(&c);
            map.insert(k, v.unwrap());
        }
        assert_eq!(
            KafkaStateStore::encode(&Change::DeleteRecord("x".into())),
            ("record/x".to_string(), None)
        );
        let (d, meta) = s.decode(&map).unwrap();
        assert!(!meta);
        assert_eq!(d.connectors["inv/entory cdc"], rec());
        assert_eq!(d.handed_back["orders"], 42);
        assert!(String::from_utf8_lossy(&map["record/inv/entory cdc"]).starts_with("{\"v\":1,"));
    }

    #[test]
    fn a_newer_or_unknown_value_stops_the_agent_naming_the_key() {
        let s = offline();
        let mut map = BTreeMap::new();
        map.insert("record/inv".to_string(), br#"{"v":2,"record":{}}"#.to_vec());
        let e = s.decode(&map).unwrap_err();
        assert!(matches!(e, StoreError::TooNew { found: 2, .. }), "{e}");
        assert!(e.is_fatal() && e.to_string().contains("record/inv"), "{e}");
        let mut map = BTreeMap::new();
        map.insert("record/inv".to_string(), b"{\"v\":1,\"record\":".to_vec());
        assert!(matches!(
            s.decode(&map).unwrap_err(),
            StoreError::Corrupt { .. }
        ));
        let mut map = BTreeMap::new();
        map.insert("offsets/inv".to_string(), br#"{"v":1}"#.to_vec());
        let e = s.decode(&map).unwrap_err().to_string();
        assert!(e.contains("offsets/inv") && e.contains("newer"), "{e}");
    }

    #[test]
    fn fencing_and_outages_are_not_fatal_settings_are() {
        let s = offline();
        let e = s.err(KafkaError::Fenced {
            transactional_id: "x".into(),
        });
        assert!(matches!(e, StoreError::NotLeader { .. }) && !e.is_fatal());
        let e = s.err(KafkaError::Timeout {
            op: "write",
            timeout: Duration::from_secs(1),
        });
        assert!(!e.is_fatal());
        let e = s.err(KafkaError::TopicShape {
            topic: "t".into(),
            found: "3 partitions".into(),
            fix: "recreate it".into(),
        });
        assert!(e.is_fatal() && e.to_string().contains("recreate it"));
        assert!(matches!(s.may_act(), Authority::Standby(_)));
    }
}
