//! Stage 6, publish: what the cycle learnt, for `/metrics` (the per-connector snapshot, task
//! failures), for the on-call's log (one line per probe of a database someone waits for), and
//! as a typed [`Diagnostics`] snapshot that the demo and the tests read instead of parsing
//! `/metrics`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::core::{ConnState, Manager, Millis, Phase};
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
            state_name: s.conn.state_name.clone(),
            tasks,
            selected: s.selected,
            target,
            phase: rec.map_or(Phase::Watching, |r| r.phase),
            reason: rec.map(|r| r.reason),
            managed: rec.is_some_and(|r| r.hold_in_effect()),
            started_at_ms: rec.map(|r| r.started_at),
            max_wait_secs: s.settings.max_wait as f64 / 1000.0,
            attempts: rec.map_or(0, |r| r.attempts),
            maintenance: in_window,
            // How the agent holds it: as its hold was made while it holds it, else how it
            // would hold it now (through its KafkaConnector while the operator reconciles it).
            manager: match rec {
                Some(r) if r.phase.in_recovery() || r.hold_in_effect() => r.manager,
                _ if s.resource.as_ref().is_some_and(|r| r.manages()) => Manager::Strimzi,
                _ => Manager::Rest,
            },
            offset: None,
        });
    }
    views
}

/// Blind spots: targets whose probes fail in a way that says the agent cannot see them (a
/// name it cannot resolve, a peer that is not the database, never answered since start) while
/// connectors on them read RUNNING. The core starts no hold on such failures; this makes them
/// loud instead: `cdc_sentinel_probe_blind{target}` and one line when one appears or clears.
pub(crate) fn blind_spots(
    obs: &Observation,
    state: &Durable,
    board: &ProbeBoard,
    reported: &mut HashMap<String, String>,
    metrics: &Metrics,
) {
    let mut running: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, s) in &obs.connectors {
        if !s.selected || s.conn.state != ConnState::Running || state.connectors.contains_key(name)
        {
            continue;
        }
        if let Ok(t) = &s.target {
            running.entry(t.label()).or_default().push(name);
        }
    }
    let mut now_blind = HashMap::new();
    for (target, names) in &running {
        let Some(p) = board.get(target) else { continue };
        match p.blind_spot() {
            Some(why) => {
                now_blind.insert(target.clone(), why.to_string());
                metrics.probe_blind(target, true);
                if reported.get(target).map(String::as_str) != Some(why) {
                    tracing::warn!(target = %target, reason = why, "database {target}: the agent cannot see it ({why}: {}) while {} read{} RUNNING; it will not hold them on these probe failures. Check name resolution and network policy from the agent's host: cdc-sentinel probe {}", p.last_detail, names.join(", "), if names.len() == 1 { "s" } else { "" }, target);
                }
            }
            None => metrics.probe_blind(target, false),
        }
    }
    for (target, why) in reported.iter() {
        if !now_blind.contains_key(target) && running.contains_key(target) {
            tracing::info!(target = %target, "database {target}: the agent sees it again (was: {why})");
        }
    }
    *reported = now_blind;
}

/// Selected connectors PAUSED or STOPPED with no record of the agent's: a human's holds, or
/// holds whose records were lost. The agent never resumes them.
pub(crate) fn unrecorded_holds(obs: &Observation, state: &Durable, metrics: &Metrics) {
    let n = obs
        .connectors
        .iter()
        .filter(|(name, s)| {
            s.selected
                && matches!(s.conn.state, ConnState::Paused | ConnState::Stopped)
                && !state.connectors.contains_key(*name)
        })
        .count();
    metrics.unrecorded_holds(n as u64);
}

/// One line the first time a connector reports a state this agent does not know.
pub(crate) fn unknown_states(obs: &Observation, logged: &mut HashMap<String, String>) {
    for (name, s) in &obs.connectors {
        if let Some(st) = &s.conn.state_name {
            if logged.get(name) != Some(st) {
                tracing::warn!(connector = %name, state = %st, "{name}: Kafka Connect reports state {st}, which this agent does not know; it is watched and exported as {st}, never acted upon");
                logged.insert(name.clone(), st.clone());
            }
        }
    }
    logged.retain(|n, _| {
        obs.connectors
            .get(n)
            .is_some_and(|s| s.conn.state_name.is_some())
    });
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
