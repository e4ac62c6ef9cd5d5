//! The Strimzi side of each cycle (`--strimzi-cluster`), as small hooks into the stages:
//!
//! - [`observe`] (next to the Kafka Connect list): one list of the cluster's `KafkaConnector`s,
//!   `cdc_sentinel_kubernetes_up`;
//! - [`annotate`] (stage 1): each connector's resource into its observation; a failed list
//!   makes the observation blind (no decision for any connector: with connector resources
//!   enabled the operator deletes connectors that have none, so any of them may be managed),
//!   said in one line per change of cause; one warning per connector with `autoRestart` on;
//! - [`via`] (stage 4): a hold or resume of a connector held through its resource goes there;
//! - [`mirror`] (after stage 5): the agent's mark on a resource mirrors its record. With no
//!   hold of the agent's on record (a hand-back, an ended recovery), its annotations are
//!   removed; if its `spec.state` hold is still on the resource while a person resumed the
//!   connector through REST, `spec.state` is set back to `running` as they asked. A hold of
//!   the agent's on a resource with neither a record nor a hand-back (a lost state file) is
//!   left as it is, and said once: the agent never resumes what it has no record of.
//!
//! A `KafkaConnector` is re-read right before every write, and a write never overrides a
//! person's decision there (the strimzi crate's guarded patches).

use std::collections::{HashMap, HashSet};

use cdc_sentinel_strimzi::{Outcome, Snapshot, Strimzi, View};

use crate::core::{text, ConnState, Manager, Record};
use crate::runtime::store::{Authority, Durable};
use crate::runtime::strimzi::{resource_obs, ResourceWrite};
use crate::telemetry::Metrics;

use super::act::Via;
use super::observe::Observation;

/// What the supervisor keeps between cycles for the Strimzi side.
pub(crate) struct Glue {
    client: Strimzi,
    /// This cycle's view (taken next to the Kafka Connect list).
    view: Option<View>,
    /// The latest successful list: the `manager` metric keeps it while the view is blind.
    last: Option<Snapshot>,
    /// The cause of the blindness last logged (`None`: it sees).
    blind_logged: Option<String>,
    auto_restart_warned: HashSet<String>,
    reconciliation_paused_logged: HashSet<String>,
    /// Last message logged per connector by the mirror (a stale mark, a failed write).
    mirror_logged: HashMap<String, String>,
}

impl Glue {
    pub fn new(client: Strimzi) -> Glue {
        Glue {
            client,
            view: None,
            last: None,
            blind_logged: None,
            auto_restart_warned: HashSet::new(),
            reconciliation_paused_logged: HashSet::new(),
            mirror_logged: HashMap::new(),
        }
    }

    /// The namespace of the `KafkaConnector`s.
    pub fn namespace(&self) -> &str {
        self.client.namespace()
    }
}

/// For log lines of a connector held through its `KafkaConnector`: the namespace.
pub(crate) fn namespace(glue: Option<&Glue>, manager: Manager) -> Option<&str> {
    glue.filter(|_| manager == Manager::Strimzi)
        .map(Glue::namespace)
}

/// This poll's look at the `KafkaConnector`s (`None`: no `--strimzi-cluster`).
pub(crate) async fn observe(glue: &mut Option<Glue>, metrics: &Metrics) {
    let Some(g) = glue else { return };
    let view = g.client.observe().await;
    metrics.kubernetes_up(view.is_fresh());
    if let View::Fresh(s) = &view {
        g.last = Some(s.clone());
    }
    g.view = Some(view);
}

/// Stage 1: each connector's `KafkaConnector` into its observation, or the observation made
/// blind.
pub(crate) fn annotate(glue: &mut Option<Glue>, obs: &mut Observation) {
    let Some(g) = glue else { return };
    let (snapshot, blind) = match &g.view {
        Some(View::Fresh(s)) => (Some(s), None),
        Some(View::Blind {
            error,
            last_success,
        }) => (g.last.as_ref(), Some((error, *last_success))),
        None => (g.last.as_ref(), None),
    };
    for (name, seen) in obs.connectors.iter_mut() {
        seen.resource = snapshot.and_then(|s| s.get(name)).map(resource_obs);
    }
    match blind {
        Some((error, last_success)) => {
            let cause = error.to_string();
            if g.blind_logged.as_deref() != Some(cause.as_str()) {
                let since = last_success.map_or_else(
                    || "none yet".to_string(),
                    |t| humantime::format_rfc3339_seconds(t).to_string(),
                );
                tracing::error!(
                    kind = error.kind(),
                    "{cause}. No action on any connector of this Kafka Connect cluster until the KafkaConnectors of {} in namespace {} can be listed again (which of them the operator manages, and what people did to them, is unknown; last successful list: {since})",
                    g.client.cluster(),
                    g.client.namespace()
                );
                g.blind_logged = Some(cause.clone());
            }
            obs.blind = Some(cause);
        }
        None => {
            if let (Some(prev), Some(_)) = (g.blind_logged.take(), &g.view) {
                tracing::info!(
                    "KafkaConnectors of {} listed again; acting again (was: {prev})",
                    g.client.cluster()
                );
            }
            if let Some(View::Fresh(s)) = &g.view {
                warn_once(
                    &mut g.auto_restart_warned,
                    &mut g.reconciliation_paused_logged,
                    s,
                    obs,
                );
            }
        }
    }
}

/// One line per connector the agent acts on whose resource has `autoRestart` on, or
/// `pause-reconciliation` (then it is held through REST).
fn warn_once(
    auto: &mut HashSet<String>,
    paused: &mut HashSet<String>,
    s: &Snapshot,
    obs: &Observation,
) {
    for (name, seen) in &obs.connectors {
        let Some(r) = s.get(name).filter(|_| seen.selected) else {
            continue;
        };
        if r.auto_restart {
            if auto.insert(name.clone()) {
                tracing::warn!(connector = %name, "{name}: its KafkaConnector has spec.autoRestart enabled: Strimzi restarts its FAILED connector and tasks at 0, 2, 6, 12, ... minutes (then hourly) without looking at the database, into the agent's hold and resume. Set spec.autoRestart.enabled: false for connectors the agent manages (deploy/kubernetes/README.md, Strimzi)");
            }
        } else {
            auto.remove(name);
        }
        if r.reconciliation_paused {
            if paused.insert(name.clone()) {
                tracing::info!(connector = %name, "{name}: its KafkaConnector has strimzi.io/pause-reconciliation: \"true\": the operator ignores its spec.state, so the agent holds it through REST. Remove the annotation to have it held through the resource");
            }
        } else {
            paused.remove(name);
        }
    }
    auto.retain(|n| s.get(n).is_some());
    paused.retain(|n| s.get(n).is_some());
}

/// Stage 4: where a connector's hold and resume go. Through its resource when the agent's
/// record says it was held that way (the core decides that when it sends a hold), else REST.
pub(crate) fn via(glue: Option<&Glue>, rec: Option<&Record>) -> Via {
    match (glue, rec) {
        (Some(g), Some(r)) if r.manager == Manager::Strimzi => {
            Via::Resource(ResourceWrite::new(g.client.clone(), r))
        }
        _ => Via::Rest,
    }
}

/// After stage 5: the agent's annotations mirror its records. Only on a fresh view, on the
/// agent that may act, never under `--dry-run`.
pub(crate) async fn mirror(
    glue: &mut Option<Glue>,
    obs: &Observation,
    state: &Durable,
    authority: Authority,
    dry_run: bool,
) {
    let Some(g) = glue else { return };
    if dry_run || matches!(authority, Authority::Standby(_)) {
        return;
    }
    let Some(snapshot) = g.view.as_ref().and_then(View::snapshot) else {
        return;
    };
    let mut todo = Vec::new();
    for (name, seen) in &obs.connectors {
        let Some(r) = snapshot.get(name) else {
            continue;
        };
        if r.our_annotations.is_empty() {
            continue;
        }
        let holds = state
            .connectors
            .get(name)
            .is_some_and(|rec| rec.phase.in_recovery() || rec.hold_in_effect());
        if holds {
            continue;
        }
        // Our hold is still what spec.state says.
        let ours = r
            .mark
            .as_ref()
            .is_some_and(|m| r.state == m.state.as_connector_state());
        let handed_back = state.handed_back.contains_key(name);
        todo.push((name.clone(), ours, handed_back, seen.conn.state));
    }
    let client = g.client.clone();
    let mut logged = std::mem::take(&mut g.mirror_logged);
    let mut seen_names = HashSet::new();
    for (name, ours, handed_back, state) in todo {
        seen_names.insert(name.clone());
        let line = if ours && state == ConnState::Running {
            // A person resumed it through REST while spec.state still holds it: the hand-back
            // is theirs, and the operator would pause it again at its next reconciliation.
            match client.release(&name).await {
                Ok(Outcome::Written { .. }) => {
                    tracing::info!(connector = %name, "{name}: resumed by someone else through REST while the agent held it through its KafkaConnector: spec.state set to running and the agent's annotations removed, so the operator keeps it running");
                    logged.remove(&name);
                    continue;
                }
                Ok(other) => format!("{name}: its KafkaConnector was not released: {other:?}"),
                Err(e) => format!("{name}: cannot set its KafkaConnector back to running after a resume through REST: {e}; trying again at the next poll"),
            }
        } else if ours && !handed_back {
            // No record of holding it (a lost state file, or a mark written back by hand): the
            // agent never resumes what it has no record of, and leaves the mark as it is.
            format!("{name}: its KafkaConnector carries cdc-sentinel's hold (spec.state {}) but the agent has no record of holding it, so it will not resume it. To resume it: {}", r_state(snapshot, &name), text::kubectl_state(client.namespace(), &name, "running"))
        } else {
            match client.clear_mark(&name).await {
                Ok(Outcome::Written { .. }) => {
                    tracing::info!(connector = %name, "{name}: the agent does not hold it: its cdc-sentinel.io/ annotations removed from its KafkaConnector");
                    logged.remove(&name);
                    continue;
                }
                Ok(_) => {
                    logged.remove(&name);
                    continue;
                }
                Err(e) => format!("{name}: cannot remove the agent's annotations from its KafkaConnector: {e}; trying again at the next poll"),
            }
        };
        if logged.get(&name) != Some(&line) {
            tracing::warn!(connector = %name, "{line}");
            logged.insert(name, line);
        }
    }
    logged.retain(|n, _| seen_names.contains(n));
    g.mirror_logged = logged;
}

fn r_state(s: &Snapshot, name: &str) -> String {
    s.get(name)
        .map(|r| r.state.as_str().to_string())
        .unwrap_or_default()
}
