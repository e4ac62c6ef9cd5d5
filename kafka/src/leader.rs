//! The leader thread: claims leadership when the group coordinator assigns us the partition,
//! keeps it confirmed with lease transactions, and runs the leader's writes, each in one
//! transaction of the producer whose `transactional.id` fences every older leader.
//!
//! Claim: create the transactional producer, `init_transactions` (from now on every older
//! producer of this id is fenced: its next transaction fails), commit a claim record, wait until
//! the tail has read the log up to that record (so the view holds every record written before
//! this leader), and only then report `Leader`. A standby never creates this producer.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::error::Error;
use crate::group::GroupCmd;
use crate::options::LEADER_KEY;
use crate::shared::{client_config, Ctx, Event, LeaderRecord, ProducerCtx, Shared};
use crate::tail::EPOCH_HEADER;

/// How long a claim may take to read the topic up to its claim record.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

pub(crate) enum TxnError {
    /// The transaction was aborted cleanly: nothing was written, the producer is still good.
    Aborted(Error),
    /// The producer is unusable (fenced, fatal, or its state is unknown): leadership ends.
    Broken(Error),
}

pub(crate) struct TxnProducer {
    shared: Arc<Shared>,
    p: BaseProducer<ProducerCtx>,
}

impl TxnProducer {
    fn new(shared: &Arc<Shared>) -> Result<TxnProducer, Error> {
        let p = BaseProducer::from_config_and_context(
            &client_config(&shared.opts.producer_settings()),
            ProducerCtx {
                ctx: Ctx {
                    shared: shared.clone(),
                    client: "leader",
                },
                deliveries: Default::default(),
            },
        )
        .map_err(|e| Error::Config(shared.redactor.clean(&e.to_string())))?;
        Ok(TxnProducer {
            shared: shared.clone(),
            p,
        })
    }

    /// Fences every older producer of the transactional id (and aborts its open transaction).
    fn init(&self) -> Result<(), Error> {
        self.p
            .init_transactions(self.shared.timings.op)
            .map_err(|e| self.shared.map_err("init_transactions", &e))
    }

    /// One transaction; returns each record's offset and the instant the commit was sent.
    pub(crate) fn transact(
        &self,
        records: &[(&str, Option<&[u8]>)],
        epoch: Option<i64>,
    ) -> Result<(Vec<i64>, Instant), TxnError> {
        let op = self.shared.timings.op;
        let topic = self.shared.opts.url.topic.as_str();
        let map = |what: &'static str, e: &KafkaError| self.shared.map_err(what, e);
        self.p
            .context()
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.p
            .begin_transaction()
            .map_err(|e| TxnError::Broken(map("begin_transaction", &e)))?;
        let epoch_text = epoch.map(|e| e.to_string());
        let mut failed: Option<Error> = None;
        for (i, (key, value)) in records.iter().enumerate() {
            let mut rec = BaseRecord::<str, [u8], usize>::with_opaque_to(topic, i)
                .partition(0)
                .key(*key);
            if let Some(v) = value {
                rec = rec.payload(*v);
            }
            if let Some(e) = &epoch_text {
                rec = rec.headers(OwnedHeaders::new().insert(Header {
                    key: EPOCH_HEADER,
                    value: Some(e.as_str()),
                }));
            }
            if let Err((e, _)) = self.p.send(rec) {
                failed = Some(map("produce", &e));
                break;
            }
        }
        if failed.is_none() {
            if let Err(e) = self.p.flush(op) {
                failed = Some(match e {
                    KafkaError::Flush(rdkafka::error::RDKafkaErrorCode::OperationTimedOut) => {
                        Error::Timeout {
                            op: "produce",
                            timeout: op,
                        }
                    }
                    e => map("produce", &e),
                });
            }
        }
        let mut offsets = vec![-1; records.len()];
        if failed.is_none() {
            let d = std::mem::take(
                &mut *self
                    .p
                    .context()
                    .deliveries
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()),
            );
            for (i, r) in d {
                match r {
                    Ok(o) if i < offsets.len() => offsets[i] = o,
                    Ok(_) => {}
                    Err(e) => failed = Some(map("produce", &e)),
                }
            }
            if failed.is_none() && offsets.iter().any(|o| *o < 0) {
                failed = Some(Error::Kafka {
                    op: "produce",
                    detail: "a record was not acknowledged".into(),
                });
            }
        }
        if let Some(e) = failed {
            return Err(self.abort(e));
        }
        let sent = Instant::now();
        match self.p.commit_transaction(op) {
            Ok(()) => Ok((offsets, sent)),
            Err(KafkaError::Transaction(te)) if te.txn_requires_abort() => {
                Err(self.abort(map("commit_transaction", &KafkaError::Transaction(te))))
            }
            Err(e) => Err(TxnError::Broken(match &e {
                KafkaError::Transaction(te)
                    if te.code() == rdkafka::error::RDKafkaErrorCode::OperationTimedOut
                        || te.is_retriable() =>
                {
                    Error::Timeout {
                        op: "commit_transaction",
                        timeout: op,
                    }
                }
                _ => map("commit_transaction", &e),
            })),
        }
    }

    fn abort(&self, cause: Error) -> TxnError {
        if cause.is_fenced() {
            return TxnError::Broken(cause);
        }
        match self.p.abort_transaction(self.shared.timings.op) {
            Ok(()) => TxnError::Aborted(cause),
            Err(_) => TxnError::Broken(cause),
        }
    }
}

pub(crate) struct LeaderThread {
    shared: Arc<Shared>,
    group: SyncSender<GroupCmd>,
    producer: Option<(u64, TxnProducer)>,
    /// The last assignment generation a claim was attempted for (each is tried once).
    claimed_gen: u64,
    failures: u32,
    rejoin_at: Option<Instant>,
    last_down_log: Option<Instant>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl LeaderThread {
    pub(crate) fn new(shared: Arc<Shared>, group: SyncSender<GroupCmd>) -> LeaderThread {
        LeaderThread {
            shared,
            group,
            producer: None,
            claimed_gen: 0,
            failures: 0,
            rejoin_at: None,
            last_down_log: None,
        }
    }

    pub(crate) fn run(mut self, events: Receiver<Event>) {
        loop {
            let now = Instant::now();
            let mut wait = Duration::from_secs(1);
            if let Some(t) = self.shared.next_lease(now) {
                wait = wait.min(t.saturating_duration_since(now));
            }
            if let Some(t) = self.rejoin_at {
                wait = wait.min(t.saturating_duration_since(now));
            }
            match events.recv_timeout(wait) {
                Ok(Event::Assigned) | Ok(Event::Ended) => {}
                // A caller that gave up (its deadline passed while a claim ran) is not written
                // for: it was told the write failed, so the write must not land later.
                Ok(Event::Write { reply, .. }) if reply.is_closed() => {}
                Ok(Event::Write { batch, reply }) => {
                    let r = self.write(batch);
                    let _ = reply.send(r);
                }
                Ok(Event::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.sync();
            if let Some(gen) = self.shared.assigned() {
                if gen > self.claimed_gen && self.shared.term().is_none() {
                    self.claim(gen);
                }
            }
            self.lease_if_due();
            if self.rejoin_at.is_some_and(|t| Instant::now() >= t) {
                self.rejoin_at = None;
                let _ = self.group.try_send(GroupCmd::Rejoin);
            }
            self.say_down_once_a_minute();
        }
        // Leaving: no more transactions from this producer.
        self.producer = None;
    }

    /// Drops the producer as soon as our term ended elsewhere (revoked, lost, stale).
    fn sync(&mut self) {
        if let Some((gen, _)) = &self.producer {
            if self.shared.term().map(|t| t.gen) != Some(*gen) {
                self.producer = None;
            }
        }
    }

    fn claim(&mut self, gen: u64) {
        self.claimed_gen = self.claimed_gen.max(gen);
        if !self.shared.is_assigned(gen) || self.shared.closed() {
            return;
        }
        self.producer = None;
        let t0 = Instant::now();
        let p = match TxnProducer::new(&self.shared) {
            Ok(p) => p,
            Err(e) => return self.claim_failed(e),
        };
        if let Err(e) = p.init() {
            return self.claim_failed(e);
        }
        let rec = LeaderRecord {
            kind: "claim".into(),
            member: self.shared.opts.member.clone(),
            epoch: -1,
            at_ms: now_ms(),
        };
        let body = serde_json::to_vec(&rec).unwrap_or_default();
        let (epoch, sent) = match p.transact(&[(LEADER_KEY, Some(&body))], None) {
            Ok((offs, sent)) => (offs[0], sent),
            Err(TxnError::Aborted(e) | TxnError::Broken(e)) => return self.claim_failed(e),
        };
        // Everything written before the claim must be in the view before we lead.
        let caught_up = self
            .shared
            .wait_view(Instant::now() + CATCH_UP_LIMIT, |v| v.position > epoch);
        if !caught_up {
            return self.claim_failed(Error::Timeout {
                op: "reading the state topic up to the claim",
                timeout: CATCH_UP_LIMIT,
            });
        }
        let newer = self.shared.view().epoch;
        if newer > epoch {
            return self.claim_failed(Error::Fenced {
                transactional_id: self.shared.opts.transactional_id.clone(),
            });
        }
        if self.shared.begin_term(gen, epoch, sent) {
            self.failures = 0;
            self.rejoin_at = None;
            tracing::info!(
                topic = %self.shared.opts.url.topic,
                epoch,
                keys = self.shared.view().map.len(),
                "state store: leading (claimed in {:.2}s)",
                t0.elapsed().as_secs_f64()
            );
            self.producer = Some((gen, p));
        }
    }

    fn claim_failed(&mut self, e: Error) {
        self.producer = None;
        self.failures += 1;
        let backoff =
            Duration::from_secs(1u64 << self.failures.min(6)).min(Duration::from_secs(60));
        tracing::warn!(topic = %self.shared.opts.url.topic, "state store: claiming leadership failed: {e}; trying a new election in {backoff:?}");
        if !e.is_fenced() {
            self.shared
                .set_down(format!("claiming leadership failed: {e}"));
        }
        self.rejoin_at = Some(Instant::now() + backoff);
    }

    /// Leadership ended because of `e`: drop the producer, and come back only through a fresh
    /// election.
    fn step_down(&mut self, gen: u64, e: &Error) {
        self.producer = None;
        let ended = if e.is_fenced() {
            self.shared.end_term(Some(gen), None)
        } else {
            self.shared.end_term(
                Some(gen),
                Some(format!("cannot confirm leadership with Kafka: {e}")),
            )
        };
        // If the term had ended already (revoked, or stale), that path rejoined the group.
        if ended {
            self.rejoin_at = Some(Instant::now());
        }
    }

    fn lease_if_due(&mut self) {
        let Some((gen, _)) = &self.producer else {
            return;
        };
        let gen = *gen;
        let now = Instant::now();
        if self.shared.next_lease(now).is_none_or(|t| t > now) {
            return;
        }
        let Some(term) = self.shared.term() else {
            return;
        };
        let rec = LeaderRecord {
            kind: "lease".into(),
            member: self.shared.opts.member.clone(),
            epoch: term.epoch,
            at_ms: now_ms(),
        };
        let body = serde_json::to_vec(&rec).unwrap_or_default();
        let r = self
            .producer
            .as_ref()
            .map(|(_, p)| p.transact(&[(LEADER_KEY, Some(&body))], Some(term.epoch)));
        match r {
            Some(Ok((_, sent))) => self.shared.confirm(gen, sent),
            Some(Err(TxnError::Aborted(e))) => {
                tracing::warn!(topic = %self.shared.opts.url.topic, "state store: lease not confirmed: {e}");
            }
            Some(Err(TxnError::Broken(e))) => self.step_down(gen, &e),
            None => {}
        }
    }

    fn write(&mut self, batch: Vec<(String, Option<Vec<u8>>)>) -> Result<(), Error> {
        let not_leader = || Error::NotLeader {
            state: self.shared.leadership().describe(),
        };
        let Some((gen, p)) = &self.producer else {
            return Err(not_leader());
        };
        let gen = *gen;
        let Some(term) = self.shared.term().filter(|t| t.gen == gen) else {
            return Err(not_leader());
        };
        let records: Vec<(&str, Option<&[u8]>)> = batch
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        match p.transact(&records, Some(term.epoch)) {
            Ok((offsets, sent)) => {
                self.shared.confirm(gen, sent);
                {
                    let mut v = self.shared.view();
                    for ((k, val), off) in batch.into_iter().zip(&offsets) {
                        if *off >= v.position {
                            match val {
                                Some(val) => v.map.insert(k, val),
                                None => v.map.remove(&k),
                            };
                        }
                    }
                    let last = offsets.iter().copied().max().unwrap_or(-1);
                    v.written_through = v.written_through.max(last + 1);
                }
                self.shared.view_changed();
                Ok(())
            }
            Err(TxnError::Aborted(e)) => Err(e),
            Err(TxnError::Broken(e)) => {
                self.step_down(gen, &e);
                Err(e)
            }
        }
    }

    fn say_down_once_a_minute(&mut self) {
        let Some(why) = self.shared.is_down() else {
            self.last_down_log = None;
            return;
        };
        if self.shared.closed() {
            return;
        }
        match self.last_down_log {
            None => self.last_down_log = Some(Instant::now()),
            Some(t) if t.elapsed() >= Duration::from_secs(60) => {
                tracing::warn!(topic = %self.shared.opts.url.topic, "state store: still not acting: {why}");
                self.last_down_log = Some(Instant::now());
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::Tansu;
    use super::*;
    use crate::options::Options;
    use crate::url::parse_url;

    /// The broker, not our bookkeeping, refuses a deposed leader: once a newer producer has
    /// initialised the transactional id, the older one's next transaction fails as fenced.
    #[test]
    fn a_newer_leader_fences_the_older_producer_at_the_broker() {
        let t = Tansu::start();
        let opts = Options::new(parse_url(&t.url("fence")).unwrap())
            .with_session_timeout(Duration::from_secs(4));
        let (tx, _rx) = std::sync::mpsc::sync_channel(8);
        let shared = Shared::new(opts, tx);
        crate::topic::ensure(&shared).unwrap();

        let old = TxnProducer::new(&shared).unwrap();
        old.init().unwrap();
        assert!(old
            .transact(&[("orders", Some(b"held".as_slice()))], Some(0))
            .is_ok());

        let new = TxnProducer::new(&shared).unwrap();
        new.init().unwrap();
        match old.transact(&[("orders", Some(b"zombie".as_slice()))], Some(0)) {
            Err(TxnError::Broken(e)) => assert!(e.is_fenced(), "expected fenced, got: {e}"),
            Err(TxnError::Aborted(e)) => panic!("a fenced producer must be dropped, not kept: {e}"),
            Ok(_) => panic!("the deposed leader's transaction committed"),
        }
        let (offsets, _) = match new.transact(&[("orders", Some(b"resumed".as_slice()))], Some(1)) {
            Ok(r) => r,
            Err(TxnError::Aborted(e) | TxnError::Broken(e)) => {
                panic!("the new leader cannot write: {e}")
            }
        };
        assert_eq!(offsets.len(), 1);
    }
}
