//! Stage 6, publish: what the cycle learnt, for `/metrics` (the per-connector snapshot, task
//! failures), for the on-call's log (one line per probe of a database someone waits for), and
//! as a typed [`Diagnostics`] snapshot that the demo and the tests read instead of parsing
//! `/metrics`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::core::{ConnState, Millis, Phase};
use crate::runtime::probes::ProbeBoard;
use crate::runtime::store::Durable;
use crate::telemetry::{events, ConnectorView, Metrics};

use super::observe::{maintenance, Observation};

/// The agent's view after its latest successful poll.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    /// When it was taken (0: no successful poll yet).
    pub at: Millis,
    pub connectors: BTreeMap<String, ConnectorView>,
}

impl Diagnostics {
    /// The recovery phase of a connector (`None`: not listed).
    pub fn phase(&self, connector: &str) -> Option<Phase> {
        self.connectors.get(connector).map(|v| v.phase)
    }
}

/// Shared handle to the latest [`Diagnostics`].
pub type DiagnosticsHandle = Arc<RwLock<Arc<Diagnostics>>>;

/// `cdc_sentinel_task_failures_total`: transitions into FAILED since the previous poll.
pub(crate) fn count_failures(
    obs: &Observation,
    prev_failed: &mut HashMap<String, HashSet<u32>>,
    metrics: &Metrics,
) {
    let mut next = HashMap::with_capacity(obs.connectors.len());
    for (name, s) in &obs.connectors {
        let failed: HashSet<u32> = s.conn.failed_ids().into_iter().collect();
        let new = match prev_failed.get(name) {
            Some(prev) => failed.difference(prev).count(),
            None => failed.len(),
        };
        if new > 0 && s.selected {
            metrics.task_failed(name, new as u64);
        }
        next.insert(name.clone(), failed);
    }
    *prev_failed = next;
}

/// `[N] probing TARGET (elapsed 3m)`: one line per probe of a target someone waits for.
pub(crate) fn log_probes(
    state: &Durable,
    board: &ProbeBoard,
    logged: &mut HashMap<String, u64>,
    now: Millis,
) {
    let mut waiting: BTreeMap<String, (Vec<&str>, u64)> = BTreeMap::new();
    for (name, r) in &state.connectors {
        if matches!(r.phase, Phase::Waiting | Phase::TimedOut) {
            if let Some(t) = &r.target {
                let e = waiting.entry(t.clone()).or_default();
                e.0.push(name);
                e.1 = e.1.max(now.saturating_sub(r.started_at));
            }
        }
    }
    for (target, (names, elapsed)) in waiting {
        let Some(p) = board.get(&target) else {
            continue;
        };
        if logged.get(&target) == Some(&p.count) {
            continue;
        }
        logged.insert(target.clone(), p.count);
        let state = if p.last_reason.is_some_and(|r| r.is_up()) {
            format!("up ({} in a row)", p.consecutive_successes)
        } else {
            format!("down: {} ({})", p.last_reason_str(), p.last_detail)
        };
        tracing::info!(target = %target, "[{}] probing {target} (elapsed {}): {state}; waiting: {}", p.count, events::human(elapsed), names.join(", "));
    }
}

/// The per-connector views of this poll.
pub(crate) fn views(cfg: &Config, obs: &Observation, state: &Durable) -> Vec<ConnectorView> {
    let mut views = Vec::with_capacity(obs.connectors.len());
    for (name, s) in &obs.connectors {
        let mut tasks = [0u32; ConnState::KNOWN.len()];
        for t in &s.conn.tasks {
            if let Some(i) = ConnState::KNOWN.iter().position(|k| *k == t.state) {
                tasks[i] += 1;
            }
        }
        let rec = state.connectors.get(name);
        let target = rec
            .and_then(|r| r.target.clone())
            .or_else(|| s.target.as_ref().ok().map(|t| t.label()));
        let in_window = s.selected && maintenance(cfg, name, target.as_deref(), obs.now).is_some();
        views.push(ConnectorView {
            name: name.clone(),
            state: s.conn.state,
            tasks,
            selected: s.selected,
            target,
            phase: rec.map_or(Phase::Watching, |r| r.phase),
            reason: rec.map(|r| r.reason),
            managed: rec.is_some_and(|r| r.phase.in_recovery()),
            started_at_ms: rec.map(|r| r.started_at),
            max_wait_secs: s.settings.max_wait as f64 / 1000.0,
            attempts: rec.map_or(0, |r| r.attempts),
            maintenance: in_window,
            offset: None,
        });
    }
    views
}

/// Publishes the views to `/metrics` and the diagnostics snapshot.
pub(crate) fn publish(
    views: Vec<ConnectorView>,
    now: Millis,
    metrics: &Metrics,
    diag: &DiagnosticsHandle,
) {
    let snapshot = Diagnostics {
        at: now,
        connectors: views.iter().map(|v| (v.name.clone(), v.clone())).collect(),
    };
    *diag.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    metrics.set_connectors(views);
}
