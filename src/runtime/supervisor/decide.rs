//! Stage 2, decide: the pure core's `step` for every connector that is listed or held. Nothing
//! here touches the network or the store, and nothing is logged yet: the events are reported
//! only once the decisions are durable (stage 3).

use std::collections::{BTreeSet, HashSet};

use crate::config::Config;
use crate::core::{self, Decision, HoldWith, Input, Manager, Millis, Settings};
use crate::runtime::probes::ProbeBoard;
use crate::runtime::store::Durable;

use super::observe::{maintenance, Observation};

/// One connector's decision, with what reporting it needs.
pub(crate) struct Decided {
    pub name: String,
    pub decision: Decision,
    /// The target label the decision was taken for.
    pub target: Option<String>,
    pub settings: Settings,
    /// How the connector is (or would be) held.
    pub hold_with: HoldWith,
    /// Through REST or its `KafkaConnector`.
    pub manager: Manager,
}

/// The outcome of the decide stage.
pub(crate) struct Decisions {
    pub decided: Vec<Decided>,
    /// The durable state as the decisions leave it.
    pub next: Durable,
    /// Wake up no later than this.
    pub wake_at: Option<Millis>,
}

/// `gone`: connectors missing from the listing that the supervisor confirmed deleted.
/// `between`: held connectors between two workers (see `owners`), decided as if not listed.
pub(crate) fn decide(
    cfg: &Config,
    obs: &Observation,
    state: &Durable,
    board: &ProbeBoard,
    gone: &HashSet<String>,
    between: &HashSet<String>,
    offsets: &super::offsets::OffsetsStage,
) -> Decisions {
    let now = obs.now;
    if obs.blind.is_some() {
        // Blind means still: no decision for any connector; records kept as they are.
        return Decisions {
            decided: Vec::new(),
            next: state.clone(),
            wake_at: None,
        };
    }
    let names: BTreeSet<&String> = obs
        .connectors
        .keys()
        .chain(state.connectors.keys())
        .collect();
    let mut next = state.clone();
    let mut decided = Vec::new();
    let mut wake_at: Option<Millis> = None;
    for name in names {
        let seen = obs.connectors.get(name);
        let prev = state.connectors.get(name);
        let selected = seen.map_or_else(|| cfg.selector.selects(name), |s| s.selected);
        if !selected && prev.is_none() {
            continue;
        }
        let settings = match seen {
            Some(s) => s.settings.clone(),
            None => cfg.settings_for(name),
        };
        // A held connector keeps the target it was held for.
        let target = prev
            .and_then(|r| r.target.clone())
            .or_else(|| seen.and_then(|s| s.target.as_ref().ok()).map(|t| t.label()));
        let probe = target.as_deref().and_then(|t| board.get(t));
        let input = Input {
            now,
            conn: seen.filter(|_| !between.contains(name)).map(|s| &s.conn),
            gone: gone.contains(name),
            target: target.as_deref(),
            probe: probe.as_ref(),
            settings: &settings,
            handed_back_at: state.handed_back.get(name).copied(),
            maintenance: maintenance(cfg, name, target.as_deref(), now),
            resource: seen.and_then(|s| s.resource.as_ref()),
            offsets: offsets.obs(name),
        };
        let decision = core::step(name, prev, &input);
        if let Some(h) = decision.handed_back {
            match h {
                Some(t) => next.handed_back.insert(name.clone(), t),
                None => next.handed_back.remove(name),
            };
        }
        if decision.record.as_ref() != prev {
            match &decision.record {
                Some(r) => next.connectors.insert(name.clone(), r.clone()),
                None => next.connectors.remove(name),
            };
        }
        if let Some(w) = decision.wake_at {
            wake_at = Some(wake_at.map_or(w, |x| x.min(w)));
        }
        // As the decision leaves it (a hold routed through a KafkaConnector may be a stop).
        let held = decision.record.as_ref().or(prev);
        let hold_with = held.map_or(settings.hold_with, |r| r.hold_with);
        let manager = held.map_or(Manager::Rest, |r| r.manager);
        decided.push(Decided {
            name: name.clone(),
            decision,
            target,
            settings,
            hold_with,
            manager,
        });
    }
    // Forget hand-backs of connectors confirmed deleted (not of those a restarting worker
    // does not list yet).
    next.handed_back.retain(|n, _| !gone.contains(n));
    Decisions {
        decided,
        next,
        wake_at,
    }
}
