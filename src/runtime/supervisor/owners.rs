//! Between owners: a held connector whose status reads UNASSIGNED, or names a worker that does
//! not answer, is between two workers. A crashed worker's connectors and tasks keep their last
//! status and the dead worker's id until Kafka Connect reassigns them, up to
//! `scheduled.rebalance.max.delay.ms` (5 minutes by default); a stopped worker's read
//! UNASSIGNED as long. Such a status says nothing true about the connector: a PAUSED there
//! after the agent's resume is not a human's pause, a RUNNING is not running. The decision
//! sees the connector as not listed this poll (nothing is sent, the maximum wait keeps
//! running, and nothing is handed back), for at most [`OWNER_WAIT`] (then one line says so and
//! its status is trusted again: a worker this agent cannot reach may well be alive).
//!
//! A worker's id is its advertised REST address (`rest.advertised.host.name:port`), which the
//! other workers reach it by: it "answers" when a TCP connection to it opens.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::core::{ConnState, Millis};
use crate::runtime::store::Durable;

use super::observe::Observation;

/// How long a connector may stay between owners before its status is trusted again: twice
/// Kafka Connect's default `scheduled.rebalance.max.delay.ms`.
pub(crate) const OWNER_WAIT: Millis = 10 * 60_000;

/// How long a worker has to accept a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(crate) struct Owners {
    /// Connectors between owners: why, and since when.
    since: HashMap<String, (String, Millis)>,
    /// Connectors whose wait ran out (logged once; trusted until they are between owners anew).
    expired: HashSet<String>,
}

impl Owners {
    /// The held connectors that are between owners in this observation.
    pub(crate) async fn between(
        &mut self,
        obs: &Observation,
        state: &Durable,
        now: Millis,
    ) -> HashSet<String> {
        let held: Vec<(&String, &super::observe::Seen)> = obs
            .connectors
            .iter()
            .filter(|(n, _)| state.connectors.contains_key(*n))
            .collect();
        let ids: HashSet<&str> = held
            .iter()
            .filter(|(_, s)| s.conn.state != ConnState::Unassigned)
            .flat_map(|(_, s)| s.workers.iter().map(String::as_str))
            .collect();
        let dead = dead_workers(ids).await;
        let mut out = HashSet::new();
        let mut seen = HashSet::new();
        for (name, s) in held {
            let why = if s.conn.state == ConnState::Unassigned {
                Some("it reads UNASSIGNED".to_string())
            } else {
                s.workers
                    .iter()
                    .find(|w| dead.contains(w.as_str()))
                    .map(|w| format!("its status names worker {w}, which does not answer"))
            };
            let Some(why) = why else { continue };
            seen.insert(name.clone());
            if self.expired.contains(name) {
                continue;
            }
            let (_, first) = self.since.entry(name.clone()).or_insert_with(|| {
                tracing::info!(connector = %name, "{name}: between workers ({why}): waiting for Kafka Connect to reassign it; its status is not acted on meanwhile");
                (why.clone(), now)
            });
            if now.saturating_sub(*first) >= OWNER_WAIT {
                tracing::warn!(connector = %name, "{name}: still between workers after {} ({why}); trusting its status again. If that worker runs, let this agent reach its advertised REST address", crate::telemetry::events::human(OWNER_WAIT));
                self.since.remove(name);
                self.expired.insert(name.clone());
                continue;
            }
            out.insert(name.clone());
        }
        self.since.retain(|n, _| seen.contains(n));
        self.expired.retain(|n| seen.contains(n));
        out
    }
}

/// The worker ids among `ids` that do not accept a TCP connection within a second.
async fn dead_workers(ids: HashSet<&str>) -> HashSet<String> {
    let mut set = tokio::task::JoinSet::new();
    for id in ids.into_iter().take(64) {
        let id = id.to_string();
        set.spawn(async move {
            let answers = matches!(
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(id.as_str()))
                    .await,
                Ok(Ok(_))
            );
            (id, answers)
        });
    }
    let mut dead = HashSet::new();
    while let Some(r) = set.join_next().await {
        if let Ok((id, false)) = r {
            dead.insert(id);
        }
    }
    dead
}
