//! State shared by the store's threads: who leads (and since when it was last confirmed), the
//! compacted view read from the topic, and the client contexts that route librdkafka's logs,
//! errors, rebalances and delivery reports into it. Every transition of leadership happens
//! here, under one lock, and is published on a `watch` channel.

use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::Message;
use tokio::sync::watch;

use crate::error::{Error, Mapper, Redactor};
use crate::lease::Freshness;
use crate::options::{Options, Timings};

/// What this store is, as far as leadership goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// Connected, following the leader's records; not allowed to write or act.
    Standby,
    /// Elected by the group coordinator and holding the transactional id: allowed to write,
    /// and to act while [`crate::KafkaStore::may_act`] says so. `epoch` is the offset of this
    /// leader's claim record, higher for every new leader of the topic.
    Leader { epoch: i64, since: SystemTime },
    /// Kafka cannot be reached or refused us: not acting; leads again only through a new
    /// election. `why` names the problem (never a secret).
    Disconnected { why: String },
}

impl Leadership {
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Leadership::Standby => "a standby".into(),
            Leadership::Leader { epoch, .. } => format!("the leader (epoch {epoch})"),
            Leadership::Disconnected { why } => format!("disconnected: {why}"),
        }
    }
}

/// The last leader record (claim or lease) read from the topic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaderRecord {
    /// `claim` when a leader took over, `lease` when it confirmed it still leads.
    pub kind: String,
    /// `Options::member` of the leader.
    pub member: String,
    /// The leader's epoch (the offset of its claim record).
    pub epoch: i64,
    /// Wall-clock time of the record, milliseconds since the Unix epoch (informational).
    pub at_ms: u64,
}

/// Messages to the leader thread.
pub(crate) enum Event {
    /// The group coordinator assigned us the partition: claim (a wake-up; the generation is
    /// read from the shared state).
    Assigned,
    /// Leadership ended outside the leader thread (revoked, lost, stale): drop the producer.
    Ended,
    Write {
        batch: Vec<(String, Option<Vec<u8>>)>,
        reply: tokio::sync::oneshot::Sender<Result<(), Error>>,
    },
    Shutdown,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Term {
    pub gen: u64,
    pub epoch: i64,
    pub since: SystemTime,
}

struct St {
    assigned: Option<u64>,
    next_gen: u64,
    term: Option<Term>,
    freshness: Freshness,
    down: Option<String>,
    closed: bool,
}

/// The compacted view of the topic, kept by the tail thread (and written through by the leader).
pub(crate) struct View {
    pub map: BTreeMap<String, Vec<u8>>,
    /// Next offset the tail will read.
    pub position: i64,
    /// The leader applied its own records below this offset already; the tail skips them.
    pub written_through: i64,
    /// Epoch of the newest claim read; data records of older epochs are ignored.
    pub epoch: i64,
    pub leader: Option<LeaderRecord>,
    pub records_lost: u64,
    /// Where the tail stood the last time it reached the end of the log.
    pub eof_position: i64,
    /// Offset and fingerprint of the last record read.
    pub last: Option<(i64, u64)>,
    /// Records ignored because an older leader wrote them after a newer leader's claim.
    pub stale_ignored: u64,
}

pub(crate) struct Shared {
    pub opts: Options,
    pub bootstrap: String,
    pub timings: Timings,
    pub redactor: Redactor,
    st: Mutex<St>,
    leadership: watch::Sender<Leadership>,
    pub view: Mutex<View>,
    pub view_cv: Condvar,
    pub view_tick: watch::Sender<u64>,
    last_client_error: Mutex<Option<(RDKafkaErrorCode, String)>>,
    tail: Mutex<Option<Arc<crate::tail::TailConsumer>>>,
    log_limit: Mutex<LogLimits>,
    pub events: SyncSender<Event>,
}

/// Per (client, facility): when a librdkafka line was last let through, and how many since not.
type LogLimits = std::collections::HashMap<(&'static str, String), (Instant, u64)>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not take the store down with a poisoned lock: the data
    // under these locks stays consistent at every await-free step.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(opts: Options, events: SyncSender<Event>) -> Arc<Shared> {
        let timings = opts.timings();
        let redactor = Redactor::new(opts.security.secrets());
        Arc::new(Shared {
            st: Mutex::new(St {
                assigned: None,
                next_gen: 1,
                term: None,
                freshness: Freshness::new(timings.fresh_for),
                down: None,
                closed: false,
            }),
            leadership: watch::channel(Leadership::Standby).0,
            view: Mutex::new(View {
                map: BTreeMap::new(),
                position: 0,
                written_through: 0,
                epoch: -1,
                leader: None,
                records_lost: 0,
                eof_position: 0,
                last: None,
                stale_ignored: 0,
            }),
            view_cv: Condvar::new(),
            view_tick: watch::channel(0).0,
            last_client_error: Mutex::new(None),
            tail: Mutex::new(None),
            log_limit: Mutex::new(Default::default()),
            events,
            bootstrap: opts.url.bootstrap_servers(),
            opts,
            timings,
            redactor,
        })
    }

    pub(crate) fn mapper(&self) -> Mapper<'_> {
        Mapper {
            bootstrap: &self.bootstrap,
            topic: &self.opts.url.topic,
            group_id: &self.opts.group_id,
            transactional_id: &self.opts.transactional_id,
            redactor: &self.redactor,
        }
    }

    /// Maps a librdkafka error, using the last error the clients reported as context.
    pub(crate) fn map_err(&self, op: &'static str, e: &KafkaError) -> Error {
        let last = lock(&self.last_client_error).clone();
        self.mapper().map(op, e, last)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.leadership.subscribe()
    }

    pub(crate) fn leadership(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    fn publish(&self, st: &St) {
        let now = match (&st.term, &st.down) {
            (Some(t), _) => Leadership::Leader {
                epoch: t.epoch,
                since: t.since,
            },
            (None, Some(why)) => Leadership::Disconnected { why: why.clone() },
            (None, None) => Leadership::Standby,
        };
        self.leadership.send_if_modified(|cur| {
            if *cur != now {
                *cur = now;
                true
            } else {
                false
            }
        });
    }

    // ---- group membership -----------------------------------------------------------------

    /// The coordinator gave us the partition: a new assignment generation.
    pub(crate) fn on_assigned(&self) {
        let mut st = lock(&self.st);
        let gen = st.next_gen;
        st.next_gen += 1;
        st.assigned = Some(gen);
    }

    /// The partition was revoked or lost: stop leading *now*, before the rebalance goes on (the
    /// next owner is only chosen after this callback returns, or after our session expired).
    pub(crate) fn on_revoked(&self, lost: bool) {
        let mut st = lock(&self.st);
        st.assigned = None;
        if let Some(t) = st.term.take() {
            st.freshness.clear();
            tracing::warn!(
                topic = %self.opts.url.topic,
                epoch = t.epoch,
                "state store: leadership {} by the group coordinator; standing by",
                if lost { "lost (session expired)" } else { "revoked" }
            );
        }
        self.publish(&st);
        drop(st);
        let _ = self.events.try_send(Event::Ended);
    }

    /// The current assignment generation, if the coordinator gave us the partition.
    pub(crate) fn assigned(&self) -> Option<u64> {
        lock(&self.st).assigned
    }

    pub(crate) fn is_assigned(&self, gen: u64) -> bool {
        lock(&self.st).assigned == Some(gen)
    }

    // ---- terms ------------------------------------------------------------------------------

    /// Our claim (sent at `sent_at`) committed and the tail read everything up to it: lead,
    /// unless the assignment changed meanwhile.
    pub(crate) fn begin_term(&self, gen: u64, epoch: i64, sent_at: Instant) -> bool {
        let mut st = lock(&self.st);
        if st.assigned != Some(gen) || st.closed {
            return false;
        }
        st.term = Some(Term {
            gen,
            epoch,
            since: SystemTime::now(),
        });
        st.freshness.clear();
        st.freshness.confirm(sent_at);
        st.down = None;
        self.publish(&st);
        true
    }

    pub(crate) fn term(&self) -> Option<Term> {
        lock(&self.st).term
    }

    /// A transaction of term `gen`, sent at `sent_at`, committed.
    pub(crate) fn confirm(&self, gen: u64, sent_at: Instant) {
        let mut st = lock(&self.st);
        if st.term.map(|t| t.gen) == Some(gen) {
            st.freshness.confirm(sent_at);
        }
    }

    /// When the current term's next lease is due (None when not leading).
    pub(crate) fn next_lease(&self, now: Instant) -> Option<Instant> {
        let st = lock(&self.st);
        st.term
            .map(|_| st.freshness.next_lease(now, self.timings.lease_interval))
    }

    /// Ends term `gen` (if it is the current one): Standby, or Disconnected with `why`. True
    /// if this call ended it (false: it had ended already, e.g. revoked or stale).
    pub(crate) fn end_term(&self, gen: Option<u64>, why: Option<String>) -> bool {
        let mut st = lock(&self.st);
        let mut ended = false;
        if gen.is_none() || st.term.map(|t| t.gen) == gen {
            if let Some(t) = st.term.take() {
                tracing::warn!(
                    topic = %self.opts.url.topic,
                    epoch = t.epoch,
                    "state store: stepped down as leader: {}",
                    why.as_deref().unwrap_or("fenced by a newer leader")
                );
                ended = true;
            }
            st.freshness.clear();
        }
        if why.is_some() && !st.closed {
            st.down = why;
        }
        self.publish(&st);
        ended
    }

    /// The leader's last confirmation is too old: step down (called by the group thread, which
    /// runs even while the leader thread waits on Kafka). True if it stepped down.
    pub(crate) fn stale_check(&self, now: Instant) -> bool {
        let mut st = lock(&self.st);
        let Some(t) = st.term else { return false };
        if let Err(age) = st.freshness.check(now) {
            let age = age.unwrap_or_default();
            st.term = None;
            st.freshness.clear();
            let why = format!(
                "leadership not confirmed by Kafka for {:.1}s (limit {:.1}s)",
                age.as_secs_f64(),
                self.timings.fresh_for.as_secs_f64()
            );
            tracing::warn!(topic = %self.opts.url.topic, epoch = t.epoch, "state store: stepped down as leader: {why}");
            st.down = Some(why);
            self.publish(&st);
            drop(st);
            let _ = self.events.try_send(Event::Ended);
            return true;
        }
        false
    }

    /// `Ok` when this agent leads and Kafka confirmed it within the freshness limit.
    pub(crate) fn may_act(&self, now: Instant) -> Result<(), Error> {
        let st = lock(&self.st);
        if st.term.is_none() {
            drop(st);
            return Err(Error::NotLeader {
                state: self.leadership().describe(),
            });
        }
        st.freshness.check(now).map_err(|age| Error::Stale {
            age: age.unwrap_or_default(),
            limit: st.freshness.fresh_for(),
        })
    }

    pub(crate) fn set_down(&self, why: String) {
        let mut st = lock(&self.st);
        if st.closed {
            return;
        }
        if st.down.as_deref() != Some(why.as_str()) {
            tracing::warn!(topic = %self.opts.url.topic, "state store: {why}");
        }
        st.down = Some(why);
        self.publish(&st);
    }

    pub(crate) fn clear_down(&self) {
        let mut st = lock(&self.st);
        if st.closed {
            return;
        }
        if st.down.take().is_some() {
            tracing::info!(topic = %self.opts.url.topic, "state store: Kafka reachable again");
            self.publish(&st);
        }
    }

    pub(crate) fn is_down(&self) -> Option<String> {
        lock(&self.st).down.clone()
    }

    pub(crate) fn close(&self) {
        let mut st = lock(&self.st);
        st.closed = true;
        st.term = None;
        st.assigned = None;
        st.freshness.clear();
        st.down = Some("closed".into());
        self.publish(&st);
    }

    pub(crate) fn closed(&self) -> bool {
        lock(&self.st).closed
    }

    /// The tail's current consumer (None while it rebuilds one), for `load`'s watermarks.
    pub(crate) fn set_tail(&self, c: Option<Arc<crate::tail::TailConsumer>>) {
        *lock(&self.tail) = c;
    }

    pub(crate) fn tail(&self) -> Option<Arc<crate::tail::TailConsumer>> {
        lock(&self.tail).clone()
    }

    // ---- view -------------------------------------------------------------------------------

    pub(crate) fn view(&self) -> MutexGuard<'_, View> {
        lock(&self.view)
    }

    pub(crate) fn view_changed(&self) {
        self.view_cv.notify_all();
        self.view_tick.send_modify(|t| *t += 1);
    }

    /// Waits (blocking) until `pred` holds for the view, or the deadline passes.
    pub(crate) fn wait_view(&self, deadline: Instant, pred: impl Fn(&View) -> bool) -> bool {
        let mut v = self.view();
        loop {
            if pred(&v) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || self.closed() {
                return false;
            }
            v = self
                .view_cv
                .wait_timeout(v, (deadline - now).min(Duration::from_millis(200)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    // ---- client callbacks -------------------------------------------------------------------

    fn on_client_error(&self, client: &'static str, err: &KafkaError, reason: &str) {
        let code = err.rdkafka_error_code();
        if code == Some(RDKafkaErrorCode::PartitionEOF) {
            return; // the tail handles reaching the end; it is not an error
        }
        let reason = self.redactor.clean(reason);
        if let Some(code) = code {
            *lock(&self.last_client_error) = Some((code, reason.clone()));
        }
        if code == Some(RDKafkaErrorCode::AllBrokersDown) && self.term().is_none() {
            // A standby only reports it; a leader is judged by its lease, not by this event.
            self.set_down(format!(
                "cannot reach any Kafka broker of {}",
                self.bootstrap
            ));
            return;
        }
        // librdkafka logs the same failure itself (rate-limited in `Ctx::log`).
        tracing::debug!(target: "librdkafka", client, topic = %self.opts.url.topic, "state store: Kafka client error: {reason}");
    }

    /// At most one librdkafka line per client and facility every 30 s (a broker that is down
    /// makes every client log each reconnection attempt); says how many were left out.
    fn log_allowed(&self, client: &'static str, fac: &str) -> Option<u64> {
        let mut m = lock(&self.log_limit);
        let now = Instant::now();
        match m.get_mut(&(client, fac.to_string())) {
            Some((last, suppressed)) if now.duration_since(*last) < Duration::from_secs(30) => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                let n = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                if m.len() > 256 {
                    m.clear();
                }
                m.insert((client, fac.to_string()), (now, 0));
                Some(0)
            }
        }
    }
}

// ---- librdkafka contexts ------------------------------------------------------------------------

/// Routes a client's logs and errors through the redactor into `tracing`.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub client: &'static str,
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let client = self.client;
        let Some(suppressed) = self.shared.log_allowed(client, fac) else {
            return;
        };
        let mut msg = self.shared.redactor.clean(log_message);
        if suppressed > 0 {
            msg.push_str(&format!(
                " ({suppressed} similar lines in the last 30 s left out)"
            ));
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", client, "{fac}: {msg}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", client, "{fac}: {msg}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", client, "{fac}: {msg}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", client, "{fac}: {msg}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.on_client_error(self.client, &error, reason);
    }
}

impl ConsumerContext for Ctx {}

/// The election member's context: rebalances decide leadership.
pub(crate) struct GroupCtx(pub Ctx);

impl ClientContext for GroupCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.log(level, fac, log_message)
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason)
    }
}

impl ConsumerContext for GroupCtx {
    fn pre_rebalance(&self, base_consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                if tpl.elements().iter().any(|e| e.partition() == 0) {
                    let lost = base_consumer.assignment_lost();
                    self.0.shared.on_revoked(lost);
                }
            }
            Rebalance::Error(e) => {
                tracing::warn!(topic = %self.0.shared.opts.url.topic, "state store: rebalance error: {}", self.0.shared.redactor.clean(&e.to_string()));
            }
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, base_consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if tpl.elements().iter().any(|e| e.partition() == 0) {
                // The member only elects; the tail reads. Don't fetch the topic twice.
                if let Err(e) = base_consumer.pause(tpl) {
                    tracing::debug!("state store: pausing the election member's partition: {e}");
                }
                self.0.shared.on_assigned();
                tracing::info!(topic = %self.0.shared.opts.url.topic, "state store: elected by the group coordinator; claiming leadership");
                // Only a wake-up: the leader thread also finds the assignment on its next turn.
                let _ = self.0.shared.events.try_send(Event::Assigned);
            }
        }
    }
}

/// The leader's producer context: delivery reports carry each record's offset.
pub(crate) struct ProducerCtx {
    pub ctx: Ctx,
    pub deliveries: Mutex<Vec<(usize, Result<i64, KafkaError>)>>,
}

impl ClientContext for ProducerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.ctx.log(level, fac, log_message)
    }
    fn error(&self, error: KafkaError, reason: &str) {
        self.ctx.error(error, reason)
    }
}

impl ProducerContext for ProducerCtx {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, index: usize) {
        let r = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        lock(&self.deliveries).push((index, r));
    }
}

/// Builds a librdkafka config from settings; the log level never goes below Info (librdkafka's
/// debug output is verbose, and debug contexts are never enabled by us).
pub(crate) fn client_config(settings: &[(&'static str, String)]) -> rdkafka::ClientConfig {
    let mut cfg = rdkafka::ClientConfig::new();
    for (k, v) in settings {
        cfg.set(*k, v);
    }
    let level = if tracing::enabled!(target: "librdkafka", tracing::Level::INFO) {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    };
    cfg.set_log_level(level);
    cfg
}
