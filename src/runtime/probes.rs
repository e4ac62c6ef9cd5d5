//! Runs one probe loop per distinct target, however many connectors share it, and keeps each
//! target's history (`ProbeObs`) for the decision core. Results are also reported to metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use cdc_sentinel_probe::Reason;

use crate::config::ProbeConfig;
use crate::core::ProbeObs;
use crate::runtime::clock::Clock;
use crate::telemetry::metrics::Metrics;
use cdc_sentinel_probe::target::Target;

/// The shared probe history of every target, keyed by target label.
#[derive(Clone, Default)]
pub struct ProbeBoard {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

struct Entry {
    obs: ProbeObs,
    cancel: CancellationToken,
    kick: Arc<tokio::sync::Notify>,
}

impl ProbeBoard {
    /// The board; a probe loop that panicked while holding it leaves the histories as they
    /// were (each update is one call), so a poisoned lock is taken over, never a crash.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The history of a target (None until it has a probe loop).
    pub fn get(&self, label: &str) -> Option<ProbeObs> {
        self.lock().get(label).map(|e| e.obs.clone())
    }

    /// Records one result of the probe loop.
    fn record(&self, label: &str, reason: Reason, detail: &str, now: u64) {
        let mut g = self.lock();
        let e = g.entry(label.to_string()).or_insert_with(|| Entry {
            obs: ProbeObs::default(),
            cancel: CancellationToken::new(),
            kick: Arc::new(tokio::sync::Notify::new()),
        });
        e.obs.record(reason, detail, now);
    }

    /// Probes a target now instead of at its next interval (a recovery just started).
    pub fn kick(&self, label: &str) {
        if let Some(e) = self.lock().get(label) {
            e.kick.notify_one();
        }
    }

    /// Makes sure exactly the given targets have a probe loop: starts missing ones, stops
    /// loops of targets no connector uses any more.
    pub fn ensure(
        &self,
        wanted: &HashMap<String, Target>,
        cfg: &ProbeConfig,
        metrics: &Metrics,
        clock: &Clock,
        shutdown: &CancellationToken,
    ) {
        let mut g = self.lock();
        g.retain(|label, e| {
            let keep = wanted.contains_key(label);
            if !keep {
                e.cancel.cancel();
                metrics.forget_target(label);
            }
            keep
        });
        for (label, target) in wanted {
            if g.contains_key(label) {
                continue;
            }
            let cancel = shutdown.child_token();
            let kick = Arc::new(tokio::sync::Notify::new());
            g.insert(
                label.clone(),
                Entry {
                    obs: ProbeObs::default(),
                    cancel: cancel.clone(),
                    kick: kick.clone(),
                },
            );
            metrics.target_added(label);
            tokio::spawn(probe_loop(
                self.clone(),
                label.clone(),
                target.clone(),
                cfg.clone(),
                metrics.clone(),
                clock.clone(),
                cancel,
                kick,
            ));
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn probe_loop(
    board: ProbeBoard,
    label: String,
    target: Target,
    cfg: ProbeConfig,
    metrics: Metrics,
    clock: Clock,
    cancel: CancellationToken,
    kick: Arc<tokio::sync::Notify>,
) {
    loop {
        let r = tokio::select! {
            _ = cancel.cancelled() => return,
            r = cdc_sentinel_probe::probe(&target, cfg.timeout) => r,
        };
        let now = clock.now_ms();
        board.record(&label, r.reason, &r.detail, now);
        metrics.probe_result(&label, &r, now);
        if !r.up() {
            tracing::debug!(target = %label, reason = r.reason.as_str(), detail = %r.detail, "probe failed");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = kick.notified() => {}
        }
    }
}
