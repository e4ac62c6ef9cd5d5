//! The offsets stage: reads committed source offsets (`GET /connectors/{n}/offsets`, Kafka
//! 3.5+) of the connectors the agent acts on or holds, and feeds each connector's pure
//! [`Tracker`] (core::offsets). It never delays a cycle: reads run in the background, at most
//! [`CONCURRENT_READS`] at once and [`MAX_IN_FLIGHT`] queued, and their results are folded in
//! at the start of the next cycle.
//!
//! When a connector is read: at most once per `--offsets-interval`; and besides, right after
//! each change of its recovery phase (the hold decided, confirmed, the resume sent), and every
//! poll while its resume is verified.
//!
//! From the trackers: the connector's [`OffsetObs`] for the decision core, its
//! [`OffsetView`] for `/metrics`, and one WARN line when a connector expected to progress
//! stalls (one INFO line when it moves again). On a worker older than 3.5 the stage is off,
//! with one log line.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::config::Config;
use crate::core::offsets::{self, Change, Expect, Flavour, OffsetObs, Reading, Tracker};
use crate::core::{Millis, Phase};
use crate::runtime::clock::Clock;
use crate::runtime::connect::{Client, ConnectError};
use crate::runtime::store::Durable;
use crate::telemetry::events::human;
use crate::telemetry::{ConnectorView, OffsetView};

use super::observe::Observation;

/// Offsets reads at once.
pub const CONCURRENT_READS: usize = 4;
/// Reads started and not yet folded in, at most.
pub const MAX_IN_FLIGHT: usize = 128;

/// Whether the worker can show committed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Not known yet (`GET /` not answered).
    Unknown,
    On,
    /// Older than 3.5 (logged once).
    Off,
}

/// What the stage knows of one connector.
#[derive(Debug)]
struct Entry {
    /// `None`: not a connector whose offsets the agent knows; never read, but the core hears why.
    flavour: Option<Flavour>,
    expect: Expect,
    tracker: Tracker,
    /// When the latest read was started (reads are spaced from their start).
    started_at: Option<Millis>,
    /// The recovery phase at the latest read's start (`None`: no record).
    phase_at_read: Option<Phase>,
    /// The stall already reported (its start), so it is logged once.
    stall_logged: Option<Millis>,
}

/// One finished read.
struct Done {
    name: String,
    at: Millis,
    result: Result<Reading, ConnectError>,
}

pub(crate) struct OffsetsStage {
    gate: Gate,
    /// The version check under way (`GET /`, in the background like the reads).
    gate_check: Option<oneshot::Receiver<Result<(), ConnectError>>>,
    entries: HashMap<String, Entry>,
    in_flight: HashSet<String>,
    tx: mpsc::UnboundedSender<Done>,
    rx: mpsc::UnboundedReceiver<Done>,
    permits: Arc<Semaphore>,
    /// Last read error logged, and when (a repeated one is logged every 5 minutes).
    last_error: Option<(String, Millis)>,
    /// Connectors whose "heartbeats without heartbeat.action.query" was logged.
    expect_logged: HashSet<String>,
}

impl OffsetsStage {
    pub(crate) fn new() -> OffsetsStage {
        let (tx, rx) = mpsc::unbounded_channel();
        OffsetsStage {
            gate: Gate::Unknown,
            gate_check: None,
            entries: HashMap::new(),
            in_flight: HashSet::new(),
            tx,
            rx,
            permits: Arc::new(Semaphore::new(CONCURRENT_READS)),
            last_error: None,
            expect_logged: HashSet::new(),
        }
    }

    /// Start of a cycle: folds in the reads that finished and this poll's states, forgets
    /// connectors that are gone, and reports stalls that began or ended.
    pub(crate) fn observe(&mut self, obs: &Observation, state: &Durable) {
        let now = obs.now;
        while let Ok(d) = self.rx.try_recv() {
            self.in_flight.remove(&d.name);
            self.fold(d);
        }
        self.entries
            .retain(|name, _| obs.connectors.contains_key(name));
        for (name, seen) in &obs.connectors {
            if !(seen.selected || state.connectors.contains_key(name)) {
                self.entries.remove(name);
                continue;
            }
            let flavour = seen.flavour;
            if seen.expect == Expect::HeartbeatsWithoutQuery
                && self.expect_logged.insert(name.clone())
            {
                tracing::info!(connector = %name, "{name}: not judged for stalls: heartbeat.interval.ms is set but not heartbeat.action.query, and on a quiet database its heartbeats repeat the same position; set heartbeat.action.query (e.g. SELECT pg_logical_emit_message(false, 'heartbeat', now()::varchar) on PostgreSQL) or expect_progress = true in [connectors.\"{name}\"] of --config");
            }
            let e = self.entries.entry(name.clone()).or_insert_with(|| Entry {
                flavour,
                expect: seen.expect,
                tracker: Tracker::default(),
                started_at: None,
                phase_at_read: None,
                stall_logged: None,
            });
            e.flavour = flavour;
            e.expect = seen.expect;
            e.tracker.running(seen.conn.all_running(), now);
            report_stall(name, e, seen.settings.stall_after);
        }
    }

    fn fold(&mut self, d: Done) {
        let Some(e) = self.entries.get_mut(&d.name) else {
            return;
        };
        match d.result {
            Ok(reading) => {
                let before = e.tracker.position;
                match e.tracker.read(reading, d.at) {
                    Change::Behind | Change::Elsewhere => tracing::warn!(
                        connector = %d.name,
                        "{}: committed offset went from {} to {} (offsets reset or edited, a new snapshot, or another server): taken as the new baseline",
                        d.name,
                        before.map(|p| p.to_string()).unwrap_or_default(),
                        reading.position.map(|p| p.to_string()).unwrap_or_default()
                    ),
                    _ => {}
                }
            }
            // The route itself is missing, whatever `GET /` said (a vendor's version string).
            Err(e @ ConnectError::OffsetsUnsupported { .. }) => {
                if self.gate != Gate::Off {
                    tracing::warn!("{e}: stall detection and recovery judged by progress are off; recoveries are judged by the RUNNING state alone");
                    self.gate = Gate::Off;
                }
            }
            Err(err) => {
                let msg = err.to_string();
                let log = match &self.last_error {
                    Some((prev, at)) => *prev != msg || d.at.saturating_sub(*at) >= 300_000,
                    None => true,
                };
                if log {
                    tracing::warn!(connector = %d.name, kind = err.kind(), "{}: cannot read its committed offsets: {msg}; stall detection for it waits for the next read", d.name);
                    self.last_error = Some((msg, d.at));
                }
            }
        }
    }

    /// End of a cycle: starts the reads that are due. Asks the worker's version first (once,
    /// in the background: a slow `GET /` never delays a cycle).
    pub(crate) fn schedule(
        &mut self,
        client: &Client,
        cfg: &Config,
        state: &Durable,
        clock: &Clock,
        now: Millis,
    ) {
        if self.gate == Gate::Off || self.entries.values().all(|e| e.flavour.is_none()) {
            return;
        }
        if self.gate == Gate::Unknown {
            let answer = match self.gate_check.as_mut().map(|rx| rx.try_recv()) {
                None => {
                    let (tx, rx) = oneshot::channel();
                    let client = client.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(client.offsets_supported().await);
                    });
                    self.gate_check = Some(rx);
                    return;
                }
                Some(Err(oneshot::error::TryRecvError::Empty)) => return,
                Some(Err(oneshot::error::TryRecvError::Closed)) => {
                    self.gate_check = None;
                    return;
                }
                Some(Ok(answer)) => answer,
            };
            self.gate_check = None;
            match answer {
                Ok(()) => self.gate = Gate::On,
                Err(e @ ConnectError::OffsetsUnsupported { .. }) => {
                    tracing::warn!("{e}: stall detection and recovery judged by progress are off; recoveries are judged by the RUNNING state alone");
                    self.gate = Gate::Off;
                    self.entries.clear();
                    return;
                }
                Err(e) => {
                    tracing::debug!("cannot ask the Kafka Connect version yet: {e}");
                    return;
                }
            }
        }
        let interval = ms(cfg.offsets_interval);
        let poll = ms(cfg.poll_interval).max(1_000);
        // Connectors in a recovery first: their reads are the ones a decision waits for.
        let mut due: Vec<(bool, &String)> = Vec::new();
        for (name, e) in &self.entries {
            if e.flavour.is_none() || self.in_flight.contains(name) {
                continue;
            }
            let rec = state.connectors.get(name);
            let phase = rec.map(|r| r.phase);
            let urgent = match (rec, e.started_at) {
                (_, None) => true,
                (Some(r), Some(at)) if r.phase.in_recovery() => {
                    phase != e.phase_at_read
                        || at < r.held_at
                        || (r.phase == Phase::Verifying && now >= at + poll)
                }
                _ => false,
            };
            let routine = e.started_at.is_some_and(|at| now >= at + interval);
            if urgent || routine {
                due.push((!urgent, name));
            }
        }
        due.sort();
        let room = MAX_IN_FLIGHT.saturating_sub(self.in_flight.len());
        let start: Vec<String> = due.into_iter().take(room).map(|(_, n)| n.clone()).collect();
        for name in start {
            let Some(e) = self.entries.get_mut(&name) else {
                continue;
            };
            let Some(flavour) = e.flavour else {
                continue;
            };
            e.started_at = Some(now);
            e.phase_at_read = state.connectors.get(&name).map(|r| r.phase);
            self.in_flight.insert(name.clone());
            let (client, permits, tx, clock) = (
                client.clone(),
                self.permits.clone(),
                self.tx.clone(),
                clock.clone(),
            );
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.ok();
                let result = client
                    .offsets(&name)
                    .await
                    .map(|o| offsets::parse(flavour, o.values()));
                let at = clock.now_ms();
                let _ = tx.send(Done { name, at, result });
            });
        }
    }

    /// What the decision core sees of a connector's offsets (`None`: the stage is off, a
    /// worker older than 3.5, or a connector it does not follow; `read_at` 0: none read yet).
    pub(crate) fn obs(&self, name: &str) -> Option<OffsetObs> {
        if self.gate == Gate::Off {
            return None;
        }
        let e = self.entries.get(name)?;
        let t = &e.tracker;
        Some(OffsetObs {
            position: t.position,
            snapshot: t.snapshot,
            read_at: t.read_at.unwrap_or(0),
            expect: e.expect,
        })
    }

    /// Adds the offset series to this poll's views.
    pub(crate) fn annotate(&self, cfg: &Config, views: &mut [ConnectorView]) {
        for v in views.iter_mut() {
            let Some(e) = self.entries.get(&v.name) else {
                continue;
            };
            let t = &e.tracker;
            if let (Some(position), Some(advanced_at_ms)) = (t.position, t.advanced_at) {
                let stall_after = cfg.settings_for(&v.name).stall_after;
                v.offset = Some(OffsetView {
                    position,
                    advanced_at_ms,
                    stalled: t.stalled(e.expect, stall_after).is_some(),
                });
            }
        }
    }
}

/// One WARN line when a stall begins, one INFO line when it ends.
fn report_stall(name: &str, e: &mut Entry, stall_after: Millis) {
    match (e.tracker.stalled(e.expect, stall_after), e.stall_logged) {
        (Some(s), None) => {
            e.stall_logged = Some(s.since);
            tracing::warn!(
                connector = %name,
                position = %s.position,
                "{name}: stalled: its committed {} has not moved for {} while the connector reads RUNNING ({}). Check what feeds it: the LogMiner session and the archive logs (purged by RMAN DELETE INPUT?), the replication slot and its walsender, the binlog retention; and the worker log",
                s.position,
                human(s.for_ms),
                e.expect.describe()
            );
        }
        (None, Some(since)) => {
            e.stall_logged = None;
            let how = match e.tracker.position {
                Some(p) if e.tracker.running_since.is_some() => format!("moving again, now at {p}"),
                _ => "no longer RUNNING".to_string(),
            };
            let lasted = e.tracker.read_at.map_or(0, |a| a.saturating_sub(since));
            tracing::info!(connector = %name, "{name}: stall over after {}: {how}", human(lasted));
        }
        _ => {}
    }
}

fn ms(d: Duration) -> Millis {
    d.as_millis().min(u64::MAX as u128) as u64
}
