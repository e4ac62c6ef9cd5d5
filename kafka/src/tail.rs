//! The tail: one assign-only consumer (never a member of the election group) that reads the
//! whole topic, read_committed, into the compacted view, for leaders and standbys alike.
//!
//! It notices when records were lost (the log now ends before our position, or the record at
//! our position is not the one we read: the topic was recreated, a broker lost its data) and
//! when the topic disappeared, and says so instead of carrying on. When every broker is down it
//! drops its consumer and builds a new one once a broker answers: a fresh client learns the
//! topic anew (a broker that lost the topic gives it a new id; librdkafka 2.12 crashed on
//! tansu's fetch answers for the old id, see README.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::error::Error;
use crate::options::{LEADER_KEY, RESERVED_PREFIX};
use crate::shared::{client_config, Ctx, LeaderRecord, Shared};
use crate::topic;

/// Header carrying the writer's epoch on every record the store writes.
pub(crate) const EPOCH_HEADER: &str = "cdc-sentinel-epoch";

pub(crate) type TailConsumer = BaseConsumer<Ctx>;

/// Starts the tail thread with a consumer that can already read the topic.
pub(crate) fn start(shared: &Arc<Shared>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, Error> {
    let consumer = new_consumer(shared)?;
    assign(shared, &consumer, Offset::Beginning)?;
    shared.set_tail(Some(consumer.clone()));
    let s = shared.clone();
    std::thread::Builder::new()
        .name("kafka-store-tail".into())
        .spawn(move || {
            Tail {
                shared: s,
                stop,
                verify: None,
            }
            .run(Some(consumer))
        })
        .map_err(|e| Error::Config(format!("cannot start the state store's tail thread: {e}")))
}

fn new_consumer(shared: &Arc<Shared>) -> Result<Arc<TailConsumer>, Error> {
    let c: TailConsumer = BaseConsumer::from_config_and_context(
        &client_config(&shared.opts.tail_settings()),
        Ctx {
            shared: shared.clone(),
            client: "tail",
        },
    )
    .map_err(|e| Error::Config(shared.redactor.clean(&e.to_string())))?;
    Ok(Arc::new(c))
}

fn assign(shared: &Shared, consumer: &TailConsumer, at: Offset) -> Result<(), Error> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&shared.opts.url.topic, 0, at)
        .and_then(|_| consumer.assign(&tpl))
        .map_err(|e| shared.map_err("assign", &e))
}

/// A cheap fingerprint of a record, to recognise it again after a reconnection.
fn fingerprint(m: &BorrowedMessage<'_>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in m
        .key()
        .unwrap_or_default()
        .iter()
        .chain([0xffu8].iter())
        .chain(m.payload().unwrap_or_default())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct Tail {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    /// After a rebuild: the record we expect at this offset (the last one we had read).
    verify: Option<(i64, u64)>,
}

impl Tail {
    fn run(mut self, mut consumer: Option<Arc<TailConsumer>>) {
        let topic = self.shared.opts.url.topic.clone();
        let mut last_try = Instant::now();
        let mut last_warn: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let Some(c) = consumer.clone() else {
                if last_try.elapsed() >= Duration::from_secs(1) {
                    last_try = Instant::now();
                    consumer = self.rebuild();
                    self.shared.set_tail(consumer.clone());
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            };
            let drop_consumer = match c.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    self.on_message(&c, &m);
                    false
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    self.on_eof(&c);
                    false
                }
                Some(Err(e)) => match e.rdkafka_error_code() {
                    Some(RDKafkaErrorCode::AllBrokersDown) => {
                        if self.shared.term().is_none() {
                            self.shared.set_down(format!(
                                "cannot reach any Kafka broker of {}",
                                self.shared.bootstrap
                            ));
                        }
                        true
                    }
                    Some(
                        RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
                    ) => {
                        self.records_lost("the topic now ends before the records this agent had read (it was deleted and recreated, or the broker lost its data)");
                        true
                    }
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic,
                    ) => true,
                    _ => {
                        if last_warn.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                            tracing::warn!(topic = %topic, "state store: reading the topic: {}", self.shared.redactor.clean(&e.to_string()));
                            last_warn = Some(Instant::now());
                        }
                        false
                    }
                },
                None => false,
            };
            if drop_consumer {
                // Build a new client once Kafka answers again (see the module docs).
                self.shared.set_tail(None);
                drop(c);
                consumer = None;
                last_try = Instant::now();
            } else if self.shared.is_down().is_some()
                && last_try.elapsed() >= Duration::from_secs(5)
            {
                // Connected but reported down (a standby after an error): check and clear.
                last_try = Instant::now();
                if c.fetch_watermarks(&topic, 0, self.shared.timings.op)
                    .is_ok()
                    && self.shared.term().is_none()
                {
                    self.shared.clear_down();
                }
            }
        }
        self.shared.set_tail(None);
    }

    /// A new consumer, positioned where we were, once a broker answers and the topic exists.
    fn rebuild(&mut self) -> Option<Arc<TailConsumer>> {
        let topic = self.shared.opts.url.topic.clone();
        let c = new_consumer(&self.shared).ok()?;
        let high = match c.fetch_watermarks(&topic, 0, self.shared.timings.op) {
            Ok((_, high)) => high,
            Err(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition
                            | RDKafkaErrorCode::UnknownTopic
                            | RDKafkaErrorCode::UnknownPartition
                    )
                ) =>
            {
                if self.shared.term().is_none() {
                    self.shared.set_down(format!(
                        "the state topic {topic} is missing (deleted, or the broker lost its data)"
                    ));
                }
                match topic::ensure(&self.shared) {
                    Ok(topic::Outcome::Created) => {
                        self.records_lost("the topic was missing and has been created again, empty")
                    }
                    Ok(topic::Outcome::Existed) => {}
                    Err(e) => self.shared.set_down(e.to_string()),
                }
                return None; // next round reads it with a fresh client
            }
            Err(e) => {
                if self.shared.term().is_none() {
                    self.shared.set_down(
                        self.shared
                            .map_err("reading where the state topic ends", &e)
                            .to_string(),
                    );
                }
                return None;
            }
        };
        let (position, last) = {
            let v = self.shared.view();
            (v.position, v.last)
        };
        let at = if high < position {
            self.records_lost(&format!(
                "the topic ends at offset {high} but this agent had read up to {position}"
            ));
            Offset::Beginning
        } else if let Some((off, fp)) = last {
            // Re-read the last record we had, to check it is still the same one.
            self.verify = Some((off, fp));
            Offset::Offset(off)
        } else {
            Offset::Offset(position)
        };
        if let Err(e) = assign(&self.shared, &c, at) {
            tracing::warn!("state store: re-reading the topic: {e}");
            return None;
        }
        if self.shared.term().is_none() {
            self.shared.clear_down();
        }
        Some(c)
    }

    fn on_message(&mut self, c: &TailConsumer, m: &BorrowedMessage<'_>) {
        if let Some((off, fp)) = self.verify.take() {
            if m.offset() == off && fingerprint(m) == fp {
                return; // the same log: carry on after it
            }
            self.records_lost(&format!(
                "the record at offset {off} is not the one this agent had read (the topic was recreated, or the broker lost its data)"
            ));
            if let Err(e) = assign(&self.shared, c, Offset::Beginning) {
                tracing::warn!("state store: re-reading the topic: {e}");
            }
            return;
        }
        apply(&self.shared, m);
    }

    fn on_eof(&mut self, c: &TailConsumer) {
        if let Some(pos) = position(c, &self.shared.opts.url.topic) {
            if let Some((off, _)) = self.verify {
                if pos <= off {
                    // The record we wanted to re-read is gone: the log is shorter now.
                    self.verify = None;
                    self.records_lost(&format!("the topic now ends at offset {pos}, before the records this agent had read"));
                    let _ = assign(&self.shared, c, Offset::Beginning);
                    return;
                }
            }
            let mut v = self.shared.view();
            if pos > v.position {
                v.position = pos;
            }
            v.eof_position = pos;
        }
        self.shared.view_changed();
        if self.shared.term().is_none() {
            self.shared.clear_down();
        }
    }

    /// The records this agent had read are gone from Kafka: say so loudly and start over from
    /// what the topic holds now.
    fn records_lost(&mut self, why: &str) {
        self.verify = None;
        {
            let mut v = self.shared.view();
            v.records_lost += 1;
            tracing::error!(
                topic = %self.shared.opts.url.topic,
                keys_held = v.map.len(),
                "state store: records lost: {why}. The view is reset to what the topic holds now; the leader must write its state again"
            );
            v.map.clear();
            v.position = 0;
            v.eof_position = 0;
            v.written_through = 0;
            v.epoch = -1;
            v.leader = None;
            v.last = None;
        }
        self.shared.view_changed();
    }
}

fn position(consumer: &TailConsumer, topic: &str) -> Option<i64> {
    let tpl = consumer.position().ok()?;
    match tpl.find_partition(topic, 0)?.offset() {
        Offset::Offset(n) => Some(n),
        _ => None,
    }
}

fn epoch_header(m: &BorrowedMessage<'_>) -> Option<i64> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == EPOCH_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
}

fn apply(shared: &Shared, m: &BorrowedMessage<'_>) {
    let offset = m.offset();
    {
        let mut v = shared.view();
        if offset < v.position {
            // Already read (a refetch after a reassignment): the view only moves forward.
            return;
        }
        v.position = offset + 1;
        v.last = Some((offset, fingerprint(m)));
        tracing::trace!(offset, key = ?m.key().map(String::from_utf8_lossy), "state store: read");
        let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
            tracing::warn!(offset, "state store: ignoring a record without a UTF-8 key");
            drop(v);
            shared.view_changed();
            return;
        };
        if key == LEADER_KEY {
            match m.payload().map(serde_json::from_slice::<LeaderRecord>) {
                Some(Ok(mut rec)) => {
                    if rec.kind == "claim" {
                        rec.epoch = offset;
                        v.epoch = offset;
                    }
                    v.leader = Some(rec);
                }
                _ => tracing::warn!(offset, "state store: unreadable leader record"),
            }
        } else if key.starts_with(RESERVED_PREFIX) {
            // A key of a newer version of the store: not ours to interpret.
        } else if offset < v.written_through {
            // The leader applied its own write already.
        } else if matches!(epoch_header(m), Some(e) if e < v.epoch) {
            // Written by a deposed leader after the new one claimed: a broker that fences
            // transactions never lets this through; ignore it where one does.
            v.stale_ignored += 1;
            tracing::warn!(
                offset,
                key,
                "state store: ignoring a record of a deposed leader"
            );
        } else {
            match m.payload() {
                Some(p) => {
                    v.map.insert(key.to_string(), p.to_vec());
                }
                None => {
                    v.map.remove(key);
                }
            }
        }
    }
    shared.view_changed();
}
