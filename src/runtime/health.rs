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
    /// Actions were sent since the latest successful poll (in flight or done): the poll that
    /// follows them is late by their duration.
    acted_since_poll: Arc<std::sync::atomic::AtomicBool>,
    /// What is in flight (`pause of inv-ora, resume of orders-pg`), for the line a forced
    /// exit writes about what it abandoned.
    acting_on: Arc<Mutex<Option<String>>>,
    poll_interval_ms: u64,
    action_timeout_ms: u64,
    clock: Clock,
    /// Why a shared state store makes the agent unready (Kafka cannot be reached).
    store_problem: Arc<Mutex<Option<String>>>,
}

impl Health {
    pub fn new(poll_interval: Duration, action_timeout: Duration, clock: Clock) -> Health {
        Health {
            last_poll_ok_ms: Arc::new(AtomicU64::new(0)),
            acting_since_ms: Arc::new(AtomicU64::new(0)),
            acted_since_poll: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            acting_on: Arc::new(Mutex::new(None)),
            poll_interval_ms: poll_interval.as_millis().min(u64::MAX as u128) as u64,
            action_timeout_ms: action_timeout.as_millis().min(u64::MAX as u128) as u64,
            clock,
            store_problem: Arc::new(Mutex::new(None)),
        }
    }

    /// A Kafka Connect poll succeeded within the last three poll intervals. While actions are
    /// in flight the next poll waits for them, so their timeout is added: a worker that takes
    /// 10 s to answer a stop (seen on a real one) must not turn the agent, and the pod it is a
    /// sidecar in, unready.
    pub fn ready(&self) -> bool {
        let last = self.last_poll_ok_ms.load(Ordering::Relaxed);
        let mut allowed = self.poll_interval_ms.max(1000).saturating_mul(3);
        if self.acting_since_ms.load(Ordering::Relaxed) > 0
            || self.acted_since_poll.load(Ordering::Relaxed)
        {
            allowed = allowed.saturating_add(self.action_timeout_ms);
        }
        last > 0 && self.clock.now_ms().saturating_sub(last) <= allowed && self.problem().is_none()
    }

    /// Why the agent is not ready, for `/readyz`'s body (`None`: ready).
    pub fn why_not_ready(&self) -> Option<String> {
        if let Some(p) = self.problem() {
            return Some(p);
        }
        (!self.ready())
            .then(|| "no successful Kafka Connect poll in the last 3 poll intervals".into())
    }

    fn problem(&self) -> Option<String> {
        self.store_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A shared state store that cannot be reached makes the agent unready (a standby that
    /// follows its leader is ready; so is the leader).
    pub(crate) fn store_problem(&self, why: Option<String>) {
        *self.store_problem.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }

    pub(crate) fn polled(&self, now: u64) {
        self.last_poll_ok_ms.store(now, Ordering::Relaxed);
        self.acted_since_poll.store(false, Ordering::Relaxed);
    }

    pub(crate) fn acting(&self, since: Option<u64>) {
        // 0 means idle, so a virtual clock at 0 still counts as acting
        self.acting_since_ms
            .store(since.map_or(0, |t| t.max(1)), Ordering::Relaxed);
        if since.is_some() {
            self.acted_since_poll.store(true, Ordering::Relaxed);
        } else {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow action delays the next poll by its duration: the agent stays ready from the
    /// moment the action returns until that poll, not only while the action is in flight.
    #[tokio::test(start_paused = true)]
    async fn ready_right_after_a_slow_action_until_the_next_poll() {
        let clock = Clock::starting_at(1_000_000);
        let h = Health::new(
            Duration::from_secs(1),
            Duration::from_secs(8),
            clock.clone(),
        );
        h.polled(clock.now_ms());
        h.acting_on(clock.now_ms(), &[("inv".into(), vec![Action::Pause])]);
        tokio::time::sleep(Duration::from_millis(4_500)).await;
        assert!(h.ready(), "ready while the pause is in flight");
        h.acting(None);
        assert!(h.ready(), "ready between the slow answer and the next poll");
        h.polled(clock.now_ms());
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        assert!(
            !h.ready(),
            "three poll intervals without a poll and no action: unready"
        );
    }
}
