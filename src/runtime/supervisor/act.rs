//! Stages 4 and 5, act and fold: send the actions the decisions ask for (each connector's in
//! order, stopping at the first that fails; connectors in parallel, at most
//! `max_concurrent_actions` at once), checking right before every call that this agent may act
//! (a leader whose leadership Kafka no longer confirms sends nothing more), then fold every
//! result back into the records through the core's `apply_result`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::core::{self, Action, ActionResult, Millis};
use crate::runtime::connect::{Client, ConnectError};
use crate::runtime::store::{Authority, Durable, Store};
use crate::runtime::strimzi::ResourceWrite;
use crate::telemetry::events::{self, Ctx};
use crate::telemetry::Metrics;

use super::decide::Decided;

/// One connector's actions, and where its hold and resume go.
pub(crate) struct Pending {
    pub name: String,
    pub actions: Vec<Action>,
    pub via: Via,
}

/// Where a connector's hold (pause/stop) and resume go; the restart of FAILED tasks always goes
/// through REST.
#[derive(Clone)]
pub(crate) enum Via {
    Rest,
    /// Its Strimzi `KafkaConnector` (`spec.state` and the agent's mark).
    Resource(ResourceWrite),
}

/// The results of one connector's actions, in the order they were sent.
pub(crate) struct Acted {
    pub name: String,
    pub results: Vec<(Action, ActionResult)>,
}

/// Sends every pending action. `dry_run`: nothing is sent, every action is `DryRun`.
pub(crate) async fn act(
    client: &Client,
    store: Arc<dyn Store>,
    pending: Vec<Pending>,
    dry_run: bool,
    limit: usize,
) -> Vec<Acted> {
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for Pending { name, actions, via } in pending {
        let client = client.clone();
        let permits = permits.clone();
        let store = store.clone();
        set.spawn(async move {
            // The semaphore is never closed, so acquiring only fails if it were.
            let _permit = permits.acquire_owned().await.ok();
            let mut results = Vec::new();
            for a in actions {
                // Right before each call: a leader frozen or cut off since its write-ahead is
                // stale by now and sends nothing (ARCHITECTURE.md, "the residual window").
                if !dry_run {
                    if let Authority::Standby(why) = store.may_act() {
                        tracing::debug!(connector = %name, "not sending {a:?}: {why}");
                        break;
                    }
                }
                let r = if dry_run {
                    ActionResult::DryRun
                } else {
                    send(&client, &via, &name, a).await
                };
                let stop = !matches!(r, ActionResult::Ok | ActionResult::DryRun);
                results.push((a, r));
                if stop {
                    break;
                }
            }
            Acted { name, results }
        });
    }
    while let Some(joined) = set.join_next().await {
        if let Ok(a) = joined {
            out.push(a);
        }
    }
    out
}

async fn send(client: &Client, via: &Via, name: &str, a: Action) -> ActionResult {
    if let Via::Resource(w) = via {
        if let Some(r) = w.send(client, name, a).await {
            return r;
        }
    }
    let r = match a {
        Action::Pause => client.pause(name).await,
        Action::Stop => client.stop(name).await,
        Action::Resume => client.resume(name).await,
        Action::RestartFailed => client.restart_failed(name).await,
        Action::RestartTasks => client.restart_tasks(name).await,
    };
    match r {
        Ok(()) => ActionResult::Ok,
        Err(ConnectError::NotFound { message })
            if message.contains(name) || message.contains("Unknown connector") =>
        {
            ActionResult::NotFound
        }
        Err(e) => match e {
            // Refused for certain: the worker said no, or the request never left.
            ConnectError::Refused { .. }
            | ConnectError::Unauthorized
            | ConnectError::Forbidden { .. }
            | ConnectError::NotFound { .. } => ActionResult::Rejected(e.to_string()),
            ConnectError::Status { status, .. } if (400..500).contains(&status) => {
                ActionResult::Rejected(e.to_string())
            }
            // No answer, a 5xx ("Request timed out" may still be applied), a cut connection.
            _ => ActionResult::Unknown(e.to_string()),
        },
    }
}

/// Folds the results into `state` (in memory; the next cycle's write makes them durable) and
/// reports their events.
pub(crate) fn fold(
    acted: Vec<Acted>,
    decided: &[Decided],
    state: &mut Durable,
    metrics: &Metrics,
    connect_url: &str,
    strimzi_ns: Option<&str>,
    now: impl Fn() -> Millis,
) {
    let by_name: HashMap<&str, &Decided> = decided.iter().map(|d| (d.name.as_str(), d)).collect();
    for a in acted {
        let Some(d) = by_name.get(a.name.as_str()) else {
            continue;
        };
        for (action, result) in a.results {
            let Some(rec) = state.connectors.get_mut(&a.name) else {
                continue;
            };
            let evs = core::apply_result(&a.name, rec, action, &result, now(), &d.settings);
            let ctx = Ctx {
                connector: &a.name,
                target: rec.target.as_deref(),
                hold_with: rec.hold_with,
                max_wait_ms: d.settings.max_wait,
                verify_window_ms: d.settings.verify_window,
                connect_url,
                resource_ns: strimzi_ns.filter(|_| rec.manager == core::Manager::Strimzi),
            };
            for ev in &evs {
                events::emit(metrics, &ctx, ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};

    use super::*;
    use crate::config::ConnectSettings;
    use crate::runtime::store::{Change, StoreError};

    /// A shared store whose leadership ends after `grants` checks (a leader deposed, or frozen
    /// past its lease, between two calls of one connector).
    struct Deposed {
        grants: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Store for Deposed {
        async fn preflight(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn load(&self) -> Result<Durable, StoreError> {
            Ok(Durable::empty())
        }
        async fn apply(&self, _: &[Change]) -> Result<(), StoreError> {
            Ok(())
        }
        fn may_act(&self) -> Authority {
            match self
                .grants
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            {
                Ok(_) => Authority::Act,
                Err(_) => Authority::Standby("another agent leads".into()),
            }
        }
        fn describe(&self) -> String {
            "test store".into()
        }
    }

    #[tokio::test]
    async fn leadership_is_checked_before_every_rest_call_not_once_per_connector() {
        let sim = SimConnect::start(SimOptions::default()).await.unwrap();
        sim.add_connector(ConnectorSpec::postgres("inv", None));
        sim.pause_by_hand("inv");
        let client = Client::new(
            &ConnectSettings {
                url: sim.url(),
                user: None,
                password: None,
                timeout: Duration::from_secs(2),
                action_timeout: Duration::from_secs(2),
                ca_pem: None,
                identity_pem: None,
                max_response_bytes: 64 << 20,
            },
            Metrics::new("t", "t", false),
        )
        .unwrap();
        let store = Arc::new(Deposed {
            grants: AtomicUsize::new(1),
        });
        let acted = act(
            &client,
            store,
            vec![Pending {
                name: "inv".into(),
                actions: vec![Action::Resume, Action::RestartFailed],
                via: Via::Rest,
            }],
            false,
            4,
        )
        .await;
        let sent: Vec<String> = sim
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            sent,
            ["PUT /connectors/inv/resume"],
            "the second call is not sent"
        );
        assert_eq!(acted.len(), 1);
        assert_eq!(acted[0].results.len(), 1, "only the resume has a result");
    }
}
