//! `KafkaStore`: the public face. Opens the clients and threads, and offers the async API the
//! agent calls: `load`, `write`, `leadership`, `may_act`, `close`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use tokio::sync::watch;

use crate::error::Error;
use crate::group::{self, GroupCmd};
use crate::leader::LeaderThread;
use crate::options::{Options, MAX_BATCH_BYTES, MAX_VALUE_BYTES, RESERVED_PREFIX};
use crate::shared::{Event, LeaderRecord, Leadership, Shared};
use crate::tail;
use crate::topic;

/// A key/value store on a compacted one-partition Kafka topic, with one leader among all the
/// agents that open it. See the crate docs for the protocol.
pub struct KafkaStore {
    shared: Arc<Shared>,
    group: std::sync::mpsc::SyncSender<GroupCmd>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for KafkaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStore")
            .field("url", &self.shared.opts.url.to_string())
            .field("leadership", &self.shared.leadership())
            .finish()
    }
}

impl KafkaStore {
    /// Connects, checks the topic (creates it when missing and allowed), starts reading it,
    /// and joins the election. Returns as a standby; watch [`KafkaStore::leadership`].
    pub async fn open(opts: Options) -> Result<KafkaStore, Error> {
        opts.validate()?;
        let (events_tx, events_rx) = std::sync::mpsc::sync_channel(64);
        let shared = Shared::new(opts, events_tx);
        let stop = Arc::new(AtomicBool::new(false));
        let s = shared.clone();
        let st = stop.clone();
        // Everything librdkafka does here blocks; every call in it has a deadline.
        let started = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let outcome = topic::ensure(&s)?;
            let tail_thread = tail::start(&s, st.clone())?;
            let (group_tx, group_thread) = match group::start(&s, st.clone()) {
                Ok(g) => g,
                Err(e) => {
                    st.store(true, Ordering::Relaxed);
                    let _ = tail_thread.join();
                    return Err(e);
                }
            };
            let leader = LeaderThread::new(s.clone(), group_tx.clone());
            let leader_thread = std::thread::Builder::new()
                .name("kafka-store-leader".into())
                .spawn(move || leader.run(events_rx))
                .map_err(|e| {
                    Error::Config(format!("cannot start the state store's leader thread: {e}"))
                })?;
            Ok((
                outcome,
                group_tx,
                vec![tail_thread, group_thread, leader_thread],
            ))
        })
        .await
        .map_err(|e| Error::Config(format!("the state store's start-up task failed: {e}")))?;
        let (outcome, group, threads) = started?;
        tracing::info!(
            topic = %shared.opts.url.topic,
            created = outcome == topic::Outcome::Created,
            group = %shared.opts.group_id,
            "state store: opened; standing by for the election"
        );
        Ok(KafkaStore {
            shared,
            group,
            stop,
            threads: Mutex::new(threads),
        })
    }

    /// The compacted view: every key with its latest value, read to the end of the topic
    /// (read_committed). Waits until the tail has read up to the end the broker reports now
    /// (bounded by three call timeouts).
    pub async fn load(&self) -> Result<BTreeMap<String, Vec<u8>>, Error> {
        let op = self.shared.timings.op;
        let deadline = tokio::time::Instant::now() + op * 3;
        let mut tick = self.shared.view_tick.subscribe();
        loop {
            let topic = self.shared.opts.url.topic.clone();
            let Some(tail) = self.shared.tail() else {
                // The tail is reconnecting: wait for it.
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Unreachable {
                        bootstrap: self.shared.bootstrap.clone(),
                        detail: "the state store is reconnecting".into(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let high = tokio::time::timeout(
                op + Duration::from_secs(1),
                tokio::task::spawn_blocking(move || tail.fetch_watermarks(&topic, 0, op)),
            )
            .await
            .map_err(|_| Error::Timeout {
                op: "reading where the state topic ends",
                timeout: op,
            })?
            .map_err(|e| Error::Config(format!("the state store's load task failed: {e}")))?
            .map_err(|e| {
                self.shared
                    .map_err("reading where the state topic ends", &e)
            })?
            .1;
            let lost_before = self.shared.view().records_lost;
            loop {
                {
                    let v = self.shared.view();
                    if v.records_lost != lost_before {
                        break; // the tail started over: ask again where the log ends
                    }
                    // Read up to the end, and the tail reached the end of a fetch there: a fetch
                    // hands over whole batches (and a broker's end offset may trail the last
                    // batch: tansu's does).
                    if v.position >= high && v.eof_position >= high {
                        return Ok(v.map.clone());
                    }
                }
                if self.shared.closed() {
                    return Err(Error::Closed);
                }
                match tokio::time::timeout_at(deadline, tick.changed()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(Error::Closed),
                    Err(_) => {
                        return Err(Error::Timeout {
                            op: "reading the state topic to its end",
                            timeout: op * 3,
                        })
                    }
                }
            }
        }
    }

    /// Writes a batch in one transaction: all of it or none. `None` deletes the key (a
    /// tombstone). Only the leader may write; a deposed leader's write fails with
    /// [`Error::Fenced`] or [`Error::NotLeader`]. On `Ok` the batch is committed and in `load()`.
    pub async fn write(&self, batch: Vec<(String, Option<Vec<u8>>)>) -> Result<(), Error> {
        validate_batch(&batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let state = self.shared.leadership();
        if !state.is_leader() {
            return Err(Error::NotLeader {
                state: state.describe(),
            });
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        match self.shared.events.try_send(Event::Write { batch, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Error::Kafka {
                    op: "write",
                    detail: "too many writes queued (64); try again".into(),
                })
            }
            Err(TrySendError::Disconnected(_)) => return Err(Error::Closed),
        }
        // A claim in progress, then produce + commit, each bounded by the call timeout.
        let limit = self.shared.timings.op * 4 + Duration::from_secs(1);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout {
                op: "write",
                timeout: limit,
            }),
        }
    }

    /// Leadership as it changes: `Standby`, `Leader { epoch, since }`, `Disconnected { why }`.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.shared.subscribe()
    }

    /// `Ok(())` only when this agent leads *and* Kafka confirmed that (a committed claim,
    /// lease or write) within `session_timeout * 3 / 4`, by the monotonic clock. Call it right
    /// before every action, after the action's write-ahead record was written.
    pub fn may_act(&self) -> Result<(), Error> {
        self.shared.may_act(Instant::now())
    }

    /// The last leader record read from the topic (who leads, its epoch, its last lease).
    pub fn leader_record(&self) -> Option<LeaderRecord> {
        self.shared.view().leader.clone()
    }

    /// How many times records this store had read vanished from Kafka (topic recreated, a
    /// broker lost its data). After a change, a leader should write its state again.
    pub fn records_lost_total(&self) -> u64 {
        self.shared.view().records_lost
    }

    /// The effective settings (secrets masked), as `Options::describe`.
    pub fn describe(&self) -> String {
        self.shared.opts.describe()
    }

    /// Stops acting at once, leaves the group (so a standby takes over without waiting for
    /// the session timeout) and stops the clients; bounded by the call timeout plus 2 s.
    pub async fn close(self) {
        self.shutdown();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        let limit = self.shared.timings.op + Duration::from_secs(2);
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        if tokio::time::timeout(limit, joined).await.is_err() {
            tracing::warn!(
                "state store: clients did not stop within {limit:?}; leaving them behind"
            );
        }
    }

    fn shutdown(&self) {
        if self.stop.swap(true, Ordering::Relaxed) {
            return;
        }
        self.shared.close();
        let _ = self.shared.events.try_send(Event::Shutdown);
        let _ = &self.group;
    }
}

impl Drop for KafkaStore {
    fn drop(&mut self) {
        // Not closed: stop acting and let the threads wind down on their own.
        self.shutdown();
    }
}

fn validate_batch(batch: &[(String, Option<Vec<u8>>)]) -> Result<(), Error> {
    let mut total = 0usize;
    for (k, v) in batch {
        if k.is_empty() {
            return Err(Error::InvalidRecord("empty key".into()));
        }
        if k.starts_with(RESERVED_PREFIX) {
            return Err(Error::InvalidRecord(format!(
                "key {k:?} starts with {RESERVED_PREFIX:?}, which the store keeps for itself"
            )));
        }
        let len = v.as_ref().map_or(0, |v| v.len());
        if len > MAX_VALUE_BYTES {
            return Err(Error::InvalidRecord(format!(
                "value of {k:?} is {len} bytes; the limit is {MAX_VALUE_BYTES}"
            )));
        }
        total += k.len() + len;
    }
    if total > MAX_BATCH_BYTES {
        return Err(Error::InvalidRecord(format!(
            "the batch is {total} bytes; the limit is {MAX_BATCH_BYTES} (split it: each write is one transaction)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The agent shares one store between tasks and awaits its futures on a multi-thread
    /// runtime.
    #[test]
    fn the_store_and_its_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        #[allow(dead_code, unreachable_code, clippy::diverging_sub_expression)]
        fn check(s: &KafkaStore) {
            send_sync(s);
            send(s.load());
            send(s.write(Vec::new()));
            send(KafkaStore::open(unimplemented!()));
        }
    }

    #[test]
    fn batches_are_checked_before_they_reach_kafka() {
        assert!(validate_batch(&[("a".into(), Some(vec![1]))]).is_ok());
        let e = validate_batch(&[("__cdc_sentinel.leader".into(), None)]).unwrap_err();
        assert_eq!(e.kind(), "invalid_record");
        assert!(validate_batch(&[(String::new(), None)]).is_err());
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(validate_batch(&[("k".into(), Some(big))])
            .unwrap_err()
            .to_string()
            .contains("limit"));
        let many: Vec<_> = (0..4)
            .map(|i| (format!("k{i}"), Some(vec![0u8; 300 * 1024])))
            .collect();
        assert!(validate_batch(&many)
            .unwrap_err()
            .to_string()
            .contains("split it"));
    }
}
