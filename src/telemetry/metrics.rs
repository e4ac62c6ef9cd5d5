//! The agent's metric stores. Everything is written as text at scrape time ([`super::render`])
//! from these stores, with names and help from the one table ([`super::table`]):
//!
//! - process-wide values (build, Kafka Connect reachability, request and recovery histograms);
//! - per-connector gauges from the latest poll's snapshot ([`ConnectorView`]s), so a deleted or
//!   deselected connector disappears instead of exporting a stale value, and a poll costs one
//!   pointer swap;
//! - per-connector counters of the connectors in the latest poll (they leave with their
//!   connector, so connector churn does not grow the scrape forever);
//! - per-target probe series.
//!
//! Counts are arrays sized from the label enums (`[u64; Action::COUNT]`...), so a new variant
//! is counted (or a compile error), never silently dropped.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use cdc_sentinel_probe::{ProbeResult, Reason};

use super::table::{ConnectOp, KubeVerb};
use crate::core::{
    Action, ActionStatus, ConnState, HoldReason, Manager, Outcome, Phase, RecordReason,
};

/// What the metrics need to know of one connector after a poll.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    pub name: String,
    pub state: ConnState,
    /// The state's own name when it is none of the known ones (`DEGRADED`).
    pub state_name: Option<String>,
    /// Task counts per state, in the order of [`ConnState::KNOWN`].
    pub tasks: [u32; ConnState::KNOWN.len()],
    pub selected: bool,
    pub target: Option<String>,
    pub phase: Phase,
    /// `reason` of `cdc_sentinel_recovery_info` (phase != watching).
    pub reason: Option<RecordReason>,
    pub managed: bool,
    pub started_at_ms: Option<u64>,
    pub max_wait_secs: f64,
    pub attempts: u32,
    /// A maintenance window applies to the connector now.
    pub maintenance: bool,
    /// How the agent acts on it.
    pub manager: Manager,
    /// Its committed source offset, when one was read (`None`: not read, no position).
    pub offset: Option<OffsetView>,
}

/// A connector's committed source offset, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetView {
    pub position: crate::core::offsets::Position,
    /// When it last advanced (or was first read), Unix milliseconds.
    pub advanced_at_ms: u64,
    pub stalled: bool,
}

/// A histogram with fixed bounds: cumulative counts per bucket, sum, count.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    pub bounds: &'static [f64],
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, v: f64) {
        for (i, le) in self.bounds.iter().enumerate() {
            if v <= *le {
                self.buckets[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
}

/// Upper bounds of `cdc_sentinel_connect_request_duration_seconds`.
pub(crate) const CONNECT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds of `cdc_sentinel_recovery_duration_seconds`.
pub(crate) const RECOVERY_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0, 7200.0, 14400.0,
];
/// Upper bounds of `cdc_sentinel_probe_duration_seconds`.
pub(crate) const PROBE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Process-wide values.
pub(crate) struct Process {
    pub version: String,
    pub revision: String,
    pub dry_run: bool,
    pub connect_up: bool,
    pub connect_last_success_s: f64,
    /// By (HTTP status or "error", operation).
    pub connect_requests: BTreeMap<(String, ConnectOp), Histogram>,
    /// By outcome; `None` for outcomes this agent cannot produce (`dry_run` without --dry-run).
    pub recovery_duration: [Option<Histogram>; Outcome::COUNT],
    pub leader: bool,
    leader_known: bool,
    pub leader_changes: u64,
    pub state_store_up: bool,
    pub unrecorded_holds: u64,
    /// With `--strimzi-cluster` only: the Kubernetes API series.
    pub kubernetes: Option<Kubernetes>,
}

/// The Kubernetes API series (`--strimzi-cluster`).
#[derive(Default)]
pub(crate) struct Kubernetes {
    /// This poll's list of `KafkaConnector`s succeeded.
    pub up: bool,
    /// By (HTTP status or "error", verb).
    pub requests: BTreeMap<(String, KubeVerb), Histogram>,
}

/// Counters of one connector.
#[derive(Default, Clone)]
pub(crate) struct ConnectorCounters {
    pub task_failures: u64,
    pub timeouts: u64,
    pub started: [u64; HoldReason::COUNT],
    pub actions: [[u64; ActionStatus::COUNT]; Action::COUNT],
}

/// The probe series of one target.
#[derive(Clone)]
pub(crate) struct TargetSeries {
    /// Reason of the latest probe; `None` until the first one.
    pub last_reason: Option<Reason>,
    pub last_success_s: Option<f64>,
    pub duration: Histogram,
    /// Per reason, indexed by [`Reason::index`] (the `ok` slot stays 0).
    pub failures: [u64; Reason::COUNT],
    /// The agent cannot see it while connectors on it run (`None`: not judged).
    pub blind: Option<bool>,
}

/// The latest poll's connectors, with their names already escaped for the exposition.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub views: Vec<ConnectorView>,
    pub escaped: Vec<String>,
}

/// Cheap to clone: everything is behind `Arc`s.
#[derive(Clone)]
pub struct Metrics {
    pub(crate) process: Arc<Mutex<Process>>,
    pub(crate) snapshot: Arc<RwLock<Arc<Snapshot>>>,
    pub(crate) counters: Arc<Mutex<BTreeMap<String, ConnectorCounters>>>,
    pub(crate) targets: Arc<Mutex<BTreeMap<String, TargetSeries>>>,
}

/// Takes a lock even if a panicking thread poisoned it: the stores hold plain counts, which
/// stay meaningful, and the scrape must not die with the thread.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    pub fn new(version: &str, revision: &str, dry_run: bool) -> Metrics {
        // Every outcome from the start: the first finished recovery must count in increase().
        let recovery_duration = std::array::from_fn(|i| {
            let o = Outcome::ALL[i];
            (dry_run || o != Outcome::DryRun).then(|| Histogram::new(RECOVERY_BUCKETS))
        });
        Metrics {
            process: Arc::new(Mutex::new(Process {
                version: version.to_string(),
                revision: revision.to_string(),
                dry_run,
                connect_up: false,
                connect_last_success_s: 0.0,
                connect_requests: BTreeMap::new(),
                recovery_duration,
                leader: false,
                leader_known: false,
                leader_changes: 0,
                state_store_up: true,
                unrecorded_holds: 0,
                kubernetes: None,
            })),
            snapshot: Arc::new(RwLock::new(Arc::new(Snapshot::default()))),
            counters: Arc::new(Mutex::new(BTreeMap::new())),
            targets: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Creates a target's probe series; its failure counters start at zero, so the first
    /// failure of each reason counts in `increase()` (a series born at 1 is invisible to it).
    pub fn target_added(&self, target: &str) {
        lock(&self.targets)
            .entry(target.to_string())
            .or_insert_with(TargetSeries::new);
    }

    /// Replaces the per-connector snapshot (after each successful poll).
    pub fn set_connectors(&self, views: Vec<ConnectorView>) {
        {
            let mut c = lock(&self.counters);
            // A connector that left the listing (deleted, or renamed) takes its counters with
            // it, as it does its gauges. A re-created connector starts again from zero, which
            // rate() and increase() read as a counter reset.
            let present: HashSet<&str> = views.iter().map(|v| v.name.as_str()).collect();
            c.retain(|name, _| present.contains(name.as_str()));
            for v in views.iter().filter(|v| v.selected) {
                if !c.contains_key(&v.name) {
                    // Zero series, so rate() and increase() work from the first failure on.
                    c.insert(v.name.clone(), ConnectorCounters::default());
                }
            }
        }
        let escaped = views
            .iter()
            .map(|v| super::render::escaped(&v.name))
            .collect();
        let snap = Arc::new(Snapshot { views, escaped });
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = snap;
    }

    fn count(&self, connector: &str, f: impl FnOnce(&mut ConnectorCounters)) {
        let mut c = lock(&self.counters);
        match c.get_mut(connector) {
            Some(e) => f(e),
            None => f(c.entry(connector.to_string()).or_default()),
        }
    }

    pub fn connect_request(&self, op: ConnectOp, code: &str, secs: f64) {
        lock(&self.process)
            .connect_requests
            .entry((code.to_string(), op))
            .or_insert_with(|| Histogram::new(CONNECT_BUCKETS))
            .observe(secs);
    }

    /// Exports the Kubernetes API series from now on (`--strimzi-cluster`), `up` 0 until the
    /// first list succeeds.
    pub fn kubernetes_enabled(&self) {
        lock(&self.process)
            .kubernetes
            .get_or_insert_with(Default::default);
    }

    /// Whether this poll's list of `KafkaConnector`s succeeded.
    pub fn kubernetes_up(&self, up: bool) {
        lock(&self.process)
            .kubernetes
            .get_or_insert_with(Default::default)
            .up = up;
    }

    /// One Kubernetes API request: `code` is the HTTP status, or `error` (no answer).
    pub fn kubernetes_request(&self, verb: KubeVerb, code: &str, secs: f64) {
        lock(&self.process)
            .kubernetes
            .get_or_insert_with(Default::default)
            .requests
            .entry((code.to_string(), verb))
            .or_insert_with(|| Histogram::new(CONNECT_BUCKETS))
            .observe(secs);
    }

    pub fn connect_poll(&self, ok: bool, now_ms: u64) {
        let mut p = lock(&self.process);
        p.connect_up = ok;
        if ok {
            p.connect_last_success_s = now_ms as f64 / 1000.0;
        }
    }

    /// Whether this agent leads (acts); a change counts in `leader_changes_total`.
    pub fn leader(&self, leads: bool) {
        let mut p = lock(&self.process);
        // The first report is where the agent starts from, not a change.
        if p.leader_known && p.leader != leads {
            p.leader_changes += 1;
        }
        p.leader_known = true;
        p.leader = leads;
    }

    pub fn state_store(&self, up: bool) {
        lock(&self.process).state_store_up = up;
    }

    pub fn unrecorded_holds(&self, n: u64) {
        lock(&self.process).unrecorded_holds = n;
    }

    pub fn task_failed(&self, connector: &str, n: u64) {
        self.count(connector, |c| c.task_failures += n);
    }

    pub fn probe_result(&self, target: &str, r: &ProbeResult, now_ms: u64) {
        let mut targets = lock(&self.targets);
        let t = targets
            .entry(target.to_string())
            .or_insert_with(TargetSeries::new);
        t.last_reason = Some(r.reason);
        t.duration.observe(r.duration.as_secs_f64());
        if r.up() {
            t.last_success_s = Some(now_ms as f64 / 1000.0);
        } else {
            t.failures[r.reason.index()] += 1;
        }
    }

    /// Whether the agent cannot see a target while connectors on it run.
    pub fn probe_blind(&self, target: &str, blind: bool) {
        if let Some(t) = lock(&self.targets).get_mut(target) {
            t.blind = Some(blind);
        }
    }

    /// Drops a target's series once no connector uses it.
    pub fn forget_target(&self, target: &str) {
        lock(&self.targets).remove(target);
    }

    pub fn action(&self, connector: &str, action: Action, status: ActionStatus) {
        self.count(connector, |c| {
            c.actions[action.index()][status.index()] += 1
        });
    }

    pub fn timed_out(&self, connector: &str) {
        self.count(connector, |c| c.timeouts += 1);
    }

    pub fn recovery_started(&self, connector: &str, reason: HoldReason) {
        self.count(connector, |c| c.started[reason.index()] += 1);
    }

    pub fn recovery_finished(&self, outcome: Outcome, secs: f64) {
        lock(&self.process).recovery_duration[outcome.index()]
            .get_or_insert_with(|| Histogram::new(RECOVERY_BUCKETS))
            .observe(secs);
    }

    /// The text exposition of everything.
    pub fn render(&self) -> String {
        super::render::render(self)
    }

    /// The text exposition in chunks of about 64 KiB sent to `tx` as they fill, for a scrape
    /// that streams it (its memory is a few chunks, not the whole text). Blocks while the
    /// channel is full: call it from a blocking thread. Stops early if `tx` is closed.
    pub fn render_chunks(&self, tx: tokio::sync::mpsc::Sender<bytes::Bytes>) {
        super::render::render_chunks(self, tx)
    }
}

impl TargetSeries {
    fn new() -> TargetSeries {
        TargetSeries {
            last_reason: None,
            last_success_s: None,
            duration: Histogram::new(PROBE_BUCKETS),
            failures: [0; Reason::COUNT],
            blind: None,
        }
    }
}
