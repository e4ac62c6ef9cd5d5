//! Readiness (`/readyz`), shared by the supervisor and the HTTP server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock::Clock;
use crate::core::Action;

/// Readiness, shared with the HTTP server.
#[derive(Clone)]
pub struct Health {
    last_poll_ok_ms: Arc<AtomicU64>,
    /// When the actions in flight were sent; 0 when none are.
    acting_since_ms: Arc<AtomicU64>,
    /// What is in flight (`pause of inv-ora, resume of orders-pg`), for the line a forced
    /// exit writes about what it abandoned.
    acting_on: Arc<Mutex<Option<String>>>,
    poll_interval_ms: u64,
    action_timeout_ms: u64,
    clock: Clock,
}

impl Health {
    pub fn new(poll_interval: Duration, action_timeout: Duration, clock: Clock) -> Health {
        Health {
            last_poll_ok_ms: Arc::new(AtomicU64::new(0)),
            acting_since_ms: Arc::new(AtomicU64::new(0)),
            acting_on: Arc::new(Mutex::new(None)),
            poll_interval_ms: poll_interval.as_millis().min(u64::MAX as u128) as u64,
            action_timeout_ms: action_timeout.as_millis().min(u64::MAX as u128) as u64,
            clock,
        }
    }

    /// A Kafka Connect poll succeeded within the last three poll intervals. While actions are
    /// in flight the next poll waits for them, so their timeout is added: a worker that takes
    /// 10 s to answer a stop (seen on a real one) must not turn the agent, and the pod it is a
    /// sidecar in, unready.
    pub fn ready(&self) -> bool {
        let last = self.last_poll_ok_ms.load(Ordering::Relaxed);
        let mut allowed = self.poll_interval_ms.max(1000).saturating_mul(3);
        if self.acting_since_ms.load(Ordering::Relaxed) > 0 {
            allowed = allowed.saturating_add(self.action_timeout_ms);
        }
        last > 0 && self.clock.now_ms().saturating_sub(last) <= allowed
    }

    pub(crate) fn polled(&self, now: u64) {
        self.last_poll_ok_ms.store(now, Ordering::Relaxed);
    }

    pub(crate) fn acting(&self, since: Option<u64>) {
        // 0 means idle, so a virtual clock at 0 still counts as acting
        self.acting_since_ms
            .store(since.map_or(0, |t| t.max(1)), Ordering::Relaxed);
        if since.is_none() {
            *self.acting_on.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// Actions are being sent from `since`: these connectors' (as [`Health::acting`], and
    /// remembered for [`Health::in_flight`]).
    pub(crate) fn acting_on(&self, since: u64, pending: &[(String, Vec<Action>)]) {
        self.acting(Some(since));
        *self.acting_on.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary(pending));
    }

    /// The actions in flight now, if any: `pause of inv-ora, resume of orders-pg`.
    pub fn in_flight(&self) -> Option<String> {
        if self.acting_since_ms.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.acting_on
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .or_else(|| Some("actions".into()))
    }
}

/// `pause of a, resume and restart_failed of b` (the first ten connectors, then a count).
fn summary(pending: &[(String, Vec<Action>)]) -> String {
    const SHOWN: usize = 10;
    let mut parts: Vec<String> = pending
        .iter()
        .take(SHOWN)
        .map(|(name, actions)| {
            let a: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
            format!("{} of {name:?}", a.join(" and "))
        })
        .collect();
    if pending.len() > SHOWN {
        parts.push(format!("and {} more connectors", pending.len() - SHOWN));
    }
    parts.join(", ")
}
