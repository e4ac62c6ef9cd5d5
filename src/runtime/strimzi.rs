//! The Kubernetes side of one agent (`--strimzi-cluster`): the strimzi crate's client, found
//! the standard way and checked at start-up, with every request timed into
//! `cdc_sentinel_kubernetes_request_duration_seconds{code,verb}`; a `KafkaConnector` as the
//! core sees it ([`ResourceObs`]); and a hold or resume of an operator-managed connector,
//! written through its resource ([`ResourceWrite`]) with its result as an [`ActionResult`].
//!
//! The per-cycle glue (the view of a poll, blindness, the mark kept a mirror of the record) is
//! `supervisor/strimzi.rs`.

use std::time::{Duration, UNIX_EPOCH};

use cdc_sentinel_strimzi::{
    ConnectorState, Declined, Error, Hold, HoldState, Operation, Options, Outcome, RequestEvent,
    Resource, Strimzi,
};

use crate::core::{Action, ActionResult, Desired, HoldWith, Record, ResourceObs};
use crate::runtime::connect::Client;
use crate::telemetry::table::KubeVerb;
use crate::telemetry::Metrics;

/// Builds the client (no request), then discovers which `kafka.strimzi.io` version to use. An
/// error waiting cannot fix (no kubeconfig or service account, 401, 403, Strimzi not installed)
/// stops the agent here with the fix; an API that does not answer yet does not: the agent
/// starts and takes no action until the `KafkaConnector`s can be listed.
pub async fn start(opts: &Options, metrics: &Metrics) -> Result<Strimzi, String> {
    metrics.kubernetes_enabled();
    let m = metrics.clone();
    let client = Strimzi::new(opts.clone(), move |e: &RequestEvent| {
        let code = e
            .code
            .map_or_else(|| "error".to_string(), |c| c.to_string());
        m.kubernetes_request(verb(e.operation), &code, e.seconds);
    })
    .await
    .map_err(|e| format!("--strimzi-cluster {}: {e}", opts.cluster))?;
    match client.discover().await {
        Ok(v) => tracing::info!(
            "Strimzi: KafkaConnectors labelled strimzi.io/cluster={} in namespace {} through {} ({}); a connector that has one is held through its spec.state",
            client.cluster(),
            client.namespace(),
            client.server(),
            v.group_version()
        ),
        Err(e) if e.needs_fix() => return Err(format!("--strimzi-cluster {}: {e}", opts.cluster)),
        Err(e) => tracing::warn!(
            "Strimzi: {e}; the agent starts, and takes no action on any connector until the KafkaConnectors of {} in namespace {} can be listed",
            client.cluster(),
            client.namespace()
        ),
    }
    Ok(client)
}

fn verb(op: Operation) -> KubeVerb {
    match op {
        Operation::Discover => KubeVerb::Discover,
        Operation::List => KubeVerb::List,
        Operation::Get => KubeVerb::Get,
        Operation::Patch => KubeVerb::Patch,
    }
}

/// What the core needs of a `KafkaConnector`.
pub fn resource_obs(r: &Resource) -> ResourceObs {
    ResourceObs {
        desired: match r.state {
            ConnectorState::Running => Desired::Running,
            ConnectorState::Paused => Desired::Paused,
            ConnectorState::Stopped => Desired::Stopped,
            ConnectorState::Unknown(_) => Desired::Other,
        },
        mark: r.mark.as_ref().map(|m| match m.state {
            HoldState::Paused => HoldWith::Pause,
            HoldState::Stopped => HoldWith::Stop,
        }),
        reconciliation_paused: r.reconciliation_paused,
    }
}

/// A hold or resume of one operator-managed connector, through its `KafkaConnector`.
#[derive(Clone)]
pub struct ResourceWrite {
    client: Strimzi,
    /// What the mark says: since when, why, the database (the state comes from the action).
    since: u64,
    reason: String,
    target: String,
}

impl ResourceWrite {
    /// For a connector with this record (the agent's hold: since its start, its reason and
    /// target).
    pub fn new(client: Strimzi, rec: &Record) -> ResourceWrite {
        ResourceWrite {
            client,
            since: rec.started_at,
            reason: rec.reason.as_str().to_string(),
            target: rec.target.clone().unwrap_or_default(),
        }
    }

    /// Pause/Stop: `spec.state` `paused`/`stopped` and the agent's mark, in one guarded patch;
    /// Resume: `running` and the mark removed. Once written, the same request also goes
    /// through REST so its effect does not wait for the operator's reconciliation (both are
    /// idempotent; the operator keeps the state either way). `None` for an action that goes
    /// through REST only (the restart of FAILED tasks: the operator does not undo restarts).
    pub async fn send(&self, rest: &Client, name: &str, action: Action) -> Option<ActionResult> {
        let (written, echo) = match action {
            Action::Pause | Action::Stop => {
                let hold = Hold {
                    state: if action == Action::Pause {
                        HoldState::Paused
                    } else {
                        HoldState::Stopped
                    },
                    since: UNIX_EPOCH + Duration::from_millis(self.since),
                    reason: self.reason.clone(),
                    target: self.target.clone(),
                };
                (self.client.hold(name, &hold).await, action)
            }
            Action::Resume => (self.client.release(name).await, action),
            Action::RestartFailed | Action::RestartTasks => return None,
        };
        let result = write_result(written);
        if result == ActionResult::Ok {
            let r = match echo {
                Action::Pause => rest.pause(name).await,
                Action::Stop => rest.stop(name).await,
                _ => rest.resume(name).await,
            };
            if let Err(e) = r {
                tracing::debug!(connector = %name, "{name}: the same {} through REST failed ({e}); the operator applies spec.state at its next reconciliation", echo.as_str());
            }
        }
        Some(result)
    }
}

/// A write's outcome as the core takes it. A person's decision found on the resource is
/// `Declined` (a hand-back, never retried); the operator ignoring the resource (pause
/// reconciliation) or deleting it is a refusal retried at the next decision (which then holds
/// through REST, or finds the connector gone); no answer or a 5xx may have been applied.
pub fn write_result(r: Result<Outcome, Error>) -> ActionResult {
    match r {
        Ok(Outcome::Written { .. } | Outcome::AlreadyDone) => ActionResult::Ok,
        Ok(Outcome::Declined(d @ (Declined::ReconciliationPaused | Declined::Deleting))) => {
            ActionResult::Rejected(format!("KafkaConnector: {d}"))
        }
        Ok(Outcome::Declined(d)) => ActionResult::Declined(format!("KafkaConnector: {d}")),
        Err(e @ (Error::Unreachable { .. } | Error::Server { .. })) => {
            ActionResult::Unknown(e.to_string())
        }
        Err(e) => ActionResult::Rejected(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_decision_is_declined_the_operator_ignoring_it_is_retried() {
        use cdc_sentinel_strimzi::Verb;
        assert_eq!(write_result(Ok(Outcome::AlreadyDone)), ActionResult::Ok);
        assert!(matches!(
            write_result(Ok(Outcome::Declined(Declined::HumanHold(ConnectorState::Paused)))),
            ActionResult::Declined(m) if m.contains("human's hold")
        ));
        assert!(matches!(
            write_result(Ok(Outcome::Declined(Declined::NotHeld))),
            ActionResult::Declined(_)
        ));
        assert!(matches!(
            write_result(Ok(Outcome::Declined(Declined::ReconciliationPaused))),
            ActionResult::Rejected(_)
        ));
        let forbidden = Error::Forbidden {
            verb: Verb::Patch,
            resource: "kafkaconnectors.kafka.strimzi.io".into(),
            namespace: "kafka".into(),
            user: None,
        };
        assert!(matches!(
            write_result(Err(forbidden)),
            ActionResult::Rejected(m) if m.contains("cannot patch")
        ));
        let down = Error::Unreachable {
            server: "https://10.0.0.1:443".into(),
            detail: "no answer within 10s".into(),
        };
        assert!(matches!(write_result(Err(down)), ActionResult::Unknown(_)));
    }
}
