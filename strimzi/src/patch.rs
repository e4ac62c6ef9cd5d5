//! The pure half of every write: given the resource as just read, decide whether to write at
//! all (a human's decision always stands) and build the JSON merge patch. No I/O.
//!
//! Every patch carries `metadata.resourceVersion`: the API server applies it only to the
//! object it was decided on, and answers 409 otherwise (the caller re-reads and decides again).

use serde_json::{json, Map, Value};

use crate::model::{
    clean_value, strip_userinfo, ConnectorState, Hold, Resource, MARK_REASON, MARK_SINCE,
    MARK_STATE, MARK_TARGET, RESTART, RESTART_TASK,
};

/// Why nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declined {
    /// `hold`: `spec.state` is paused/stopped (or unknown) without our mark: a human's hold.
    HumanHold(ConnectorState),
    /// `hold`/`release`: our mark is there but `spec.state` is not what we set: a human changed
    /// it (to `running`: a hand-back; to another hold state: theirs now). Call `clear_mark`.
    HandedBack(ConnectorState),
    /// `release`/`clear_mark`: our mark is not on the resource (never was, or a human removed
    /// it): nothing of ours to undo.
    NotHeld,
    /// `hold`: `strimzi.io/pause-reconciliation: "true"`: the operator would not apply
    /// `spec.state`; hold this connector through REST instead.
    ReconciliationPaused,
    /// The resource is being deleted.
    Deleting,
}

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Declined::HumanHold(s) => write!(f, "spec.state is {s} without our mark: a human's hold, left alone"),
            Declined::HandedBack(s) => write!(f, "spec.state was changed to {s} while we held it: handed back"),
            Declined::NotHeld => f.write_str("our mark is not on the resource: nothing of ours to undo"),
            Declined::ReconciliationPaused => f.write_str(
                "strimzi.io/pause-reconciliation is \"true\": the operator ignores spec.state; hold it through REST",
            ),
            Declined::Deleting => f.write_str("the resource is being deleted"),
        }
    }
}

/// What a write call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The patch was applied; the resource's new `resourceVersion`.
    Written { resource_version: String },
    /// The resource already was as asked: nothing sent.
    AlreadyDone,
    /// Nothing sent, and nothing should be: see [`Declined`].
    Declined(Declined),
}

/// A restart request through the resource, for when the agent cannot reach the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// `strimzi.io/restart: "includeTasks,onlyFailed"`: restart the FAILED connector and FAILED
    /// tasks. Strimzi 0.48 and later; earlier releases read the value as a boolean, ignore it
    /// and leave the annotation in place.
    FailedConnectorAndTasks,
    /// `strimzi.io/restart: "true"`: restart the connector object only (not its tasks).
    /// Strimzi 0.22 and later.
    Connector,
    /// `strimzi.io/restart-task: "<id>"`: restart one task. Strimzi 0.22 and later; one task per
    /// request, the next only once the operator removed the annotation.
    Task(u32),
}

impl Restart {
    pub(crate) fn annotation(self) -> (&'static str, String) {
        match self {
            Restart::FailedConnectorAndTasks => (RESTART, "includeTasks,onlyFailed".into()),
            Restart::Connector => (RESTART, "true".into()),
            Restart::Task(id) => (RESTART_TASK, id.to_string()),
        }
    }
}

/// What to do after reading the resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Write(Value),
    Skip(Outcome),
}

/// `hold`: set `spec.state` and our mark, unless a human holds it or took it back.
pub(crate) fn hold(r: &Resource, h: &Hold) -> Step {
    if r.deleting {
        return Step::Skip(Outcome::Declined(Declined::Deleting));
    }
    if r.reconciliation_paused {
        return Step::Skip(Outcome::Declined(Declined::ReconciliationPaused));
    }
    match &r.mark {
        None if r.state != ConnectorState::Running => {
            return Step::Skip(Outcome::Declined(Declined::HumanHold(r.state.clone())))
        }
        None => {}
        Some(m) if r.state != m.state.as_connector_state() => {
            return Step::Skip(Outcome::Declined(Declined::HandedBack(r.state.clone())))
        }
        // Ours, already in the asked state: keep the original mark (its `since`).
        Some(m) if m.state == h.state => return Step::Skip(Outcome::AlreadyDone),
        // Ours, switching paused <-> stopped (a FAILED connector cannot stay paused).
        Some(_) => {}
    }
    let since = r.mark.as_ref().and_then(|m| m.since).unwrap_or(h.since);
    let mut ann = Map::new();
    ann.insert(MARK_STATE.into(), json!(h.state.as_str()));
    ann.insert(
        MARK_SINCE.into(),
        json!(humantime::format_rfc3339_seconds(since).to_string()),
    );
    ann.insert(MARK_REASON.into(), json!(clean_value(&h.reason)));
    ann.insert(
        MARK_TARGET.into(),
        json!(clean_value(&strip_userinfo(&h.target))),
    );
    Step::Write(json!({
        "metadata": {"resourceVersion": r.resource_version, "annotations": ann},
        "spec": {"state": h.state.as_str()},
    }))
}

/// `release`: back to `running` and our mark removed, only while our mark is there and
/// `spec.state` is still what we set.
pub(crate) fn release(r: &Resource) -> Step {
    let Some(m) = &r.mark else {
        return Step::Skip(Outcome::Declined(Declined::NotHeld));
    };
    if r.state != m.state.as_connector_state() {
        return Step::Skip(Outcome::Declined(Declined::HandedBack(r.state.clone())));
    }
    Step::Write(json!({
        "metadata": {"resourceVersion": r.resource_version, "annotations": removals(r)},
        "spec": {"state": "running"},
    }))
}

/// `clear_mark`: remove every `cdc-sentinel.io/` annotation, touching nothing else; no write
/// at all when there is none.
pub(crate) fn clear_mark(r: &Resource) -> Step {
    if r.our_annotations.is_empty() {
        return Step::Skip(Outcome::Declined(Declined::NotHeld));
    }
    Step::Write(json!({
        "metadata": {"resourceVersion": r.resource_version, "annotations": removals(r)},
    }))
}

/// `request_restart`: add the Strimzi restart annotation unless the same request is pending.
pub(crate) fn restart(r: &Resource, what: Restart) -> Step {
    if r.deleting {
        return Step::Skip(Outcome::Declined(Declined::Deleting));
    }
    let (key, value) = what.annotation();
    let pending = if key == RESTART {
        &r.restart_pending
    } else {
        &r.restart_task_pending
    };
    if pending.as_deref() == Some(value.as_str()) {
        return Step::Skip(Outcome::AlreadyDone);
    }
    Step::Write(json!({
        "metadata": {"resourceVersion": r.resource_version, "annotations": {key: value}},
    }))
}

fn removals(r: &Resource) -> Map<String, Value> {
    r.our_annotations
        .iter()
        .map(|k| (k.clone(), Value::Null))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HoldState;
    use std::time::{Duration, UNIX_EPOCH};

    fn res(state: &str, annotations: Value) -> Resource {
        Resource::from_json(&json!({
            "metadata": {"name": "inv", "resourceVersion": "7", "annotations": annotations},
            "spec": {"state": state}
        }))
        .unwrap()
    }

    fn hold_at(state: HoldState, secs: u64) -> Hold {
        Hold {
            state,
            since: UNIX_EPOCH + Duration::from_secs(secs),
            reason: "task_failed".into(),
            target: "postgres://app:pw@db:5432/inv".into(),
        }
    }

    const OURS_PAUSED: &str = r#"{"cdc-sentinel.io/held-state":"paused","cdc-sentinel.io/held-since":"2026-11-20T02:00:05Z","cdc-sentinel.io/held-reason":"task_failed","cdc-sentinel.io/held-target":"db:5432"}"#;

    #[test]
    fn hold_writes_state_and_mark_with_the_resource_version() {
        let Step::Write(p) = hold(
            &res("running", json!({})),
            &hold_at(HoldState::Paused, 1_795_000_000),
        ) else {
            panic!()
        };
        assert_eq!(
            p,
            json!({
                "metadata": {"resourceVersion": "7", "annotations": {
                    "cdc-sentinel.io/held-state": "paused",
                    "cdc-sentinel.io/held-since": "2026-11-18T11:06:40Z",
                    "cdc-sentinel.io/held-reason": "task_failed",
                    "cdc-sentinel.io/held-target": "postgres://db:5432/inv"
                }},
                "spec": {"state": "paused"}
            })
        );
    }

    #[test]
    fn hold_never_overrides_a_human() {
        for s in ["paused", "stopped"] {
            assert_eq!(
                hold(&res(s, json!({})), &hold_at(HoldState::Paused, 0)),
                Step::Skip(Outcome::Declined(Declined::HumanHold(
                    res(s, json!({})).state
                )))
            );
        }
        // Our mark, but a human set it running: hand-back, not a new hold.
        let ours: Value = serde_json::from_str(OURS_PAUSED).unwrap();
        assert_eq!(
            hold(
                &res("running", ours.clone()),
                &hold_at(HoldState::Paused, 0)
            ),
            Step::Skip(Outcome::Declined(Declined::HandedBack(
                ConnectorState::Running
            )))
        );
        let mut paused = res("running", json!({}));
        paused.reconciliation_paused = true;
        assert_eq!(
            hold(&paused, &hold_at(HoldState::Paused, 0)),
            Step::Skip(Outcome::Declined(Declined::ReconciliationPaused))
        );
    }

    #[test]
    fn hold_is_idempotent_and_can_switch_to_stopped_keeping_since() {
        let ours: Value = serde_json::from_str(OURS_PAUSED).unwrap();
        assert_eq!(
            hold(&res("paused", ours.clone()), &hold_at(HoldState::Paused, 0)),
            Step::Skip(Outcome::AlreadyDone)
        );
        let Step::Write(p) = hold(&res("paused", ours), &hold_at(HoldState::Stopped, 0)) else {
            panic!()
        };
        assert_eq!(p["spec"]["state"], "stopped");
        assert_eq!(
            p["metadata"]["annotations"]["cdc-sentinel.io/held-state"],
            "stopped"
        );
        assert_eq!(
            p["metadata"]["annotations"]["cdc-sentinel.io/held-since"],
            "2026-11-20T02:00:05Z"
        );
    }

    #[test]
    fn release_only_undoes_our_own_hold() {
        let ours: Value = serde_json::from_str(OURS_PAUSED).unwrap();
        let Step::Write(p) = release(&res("paused", ours.clone())) else {
            panic!()
        };
        assert_eq!(
            p,
            json!({
                "metadata": {"resourceVersion": "7", "annotations": {
                    "cdc-sentinel.io/held-state": null, "cdc-sentinel.io/held-since": null,
                    "cdc-sentinel.io/held-reason": null, "cdc-sentinel.io/held-target": null
                }},
                "spec": {"state": "running"}
            })
        );
        assert_eq!(
            release(&res("paused", json!({}))),
            Step::Skip(Outcome::Declined(Declined::NotHeld))
        );
        assert_eq!(
            release(&res("stopped", ours)),
            Step::Skip(Outcome::Declined(Declined::HandedBack(
                ConnectorState::Stopped
            )))
        );
    }

    #[test]
    fn clear_mark_touches_only_our_annotations() {
        let Step::Write(p) = clear_mark(&res(
            "running",
            json!({"cdc-sentinel.io/held-reason": "x", "team": "a"}),
        )) else {
            panic!()
        };
        assert_eq!(
            p,
            json!({"metadata": {"resourceVersion": "7", "annotations": {"cdc-sentinel.io/held-reason": null}}})
        );
        assert_eq!(
            clear_mark(&res("paused", json!({"team": "a"}))),
            Step::Skip(Outcome::Declined(Declined::NotHeld))
        );
    }

    #[test]
    fn restart_annotations_per_strimzi_release() {
        let Step::Write(p) = restart(&res("running", json!({})), Restart::FailedConnectorAndTasks)
        else {
            panic!()
        };
        assert_eq!(
            p["metadata"]["annotations"]["strimzi.io/restart"],
            "includeTasks,onlyFailed"
        );
        let Step::Write(p) = restart(&res("running", json!({})), Restart::Task(2)) else {
            panic!()
        };
        assert_eq!(p["metadata"]["annotations"]["strimzi.io/restart-task"], "2");
        assert_eq!(
            restart(
                &res("running", json!({"strimzi.io/restart": "true"})),
                Restart::Connector
            ),
            Step::Skip(Outcome::AlreadyDone)
        );
    }
}
