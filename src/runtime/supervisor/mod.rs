//! The supervisor owns all per-connector state and runs the cycle, one named stage after the
//! other, each a function with its inputs and outputs visible:
//!
//! 1. [`observe`]: one `GET /connectors?expand=status&expand=info` becomes an observation, with
//!    each connector's target, selection, settings computed once;
//! 2. [`decide`]: the pure core's `step` for every listed or held connector;
//! 3. persist: the decisions' changes, as one batch, before anything is sent (write-ahead),
//!    then their events are reported (so no "pause requested" is ever logged for a pause whose
//!    record could not be written);
//! 4. [`act`]: the actions, after checking this agent may act;
//! 5. fold: the results into the records (durable with the next cycle's batch, or at shutdown);
//! 6. [`publish`]: metrics, probe log lines, the [`Diagnostics`] snapshot.
//!
//! Wake-ups come from the poll interval and from the core's `wake_at`, never from sleeps
//! scattered around.

mod act;
mod decide;
mod leadership;
mod observe;
mod offsets;
mod owners;
mod publish;
mod selection;
mod strimzi;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::classify::redact;
use crate::core::{Event, Millis};
use crate::runtime::clock::Clock;
use crate::runtime::connect::types::{kafka_version, ExpandedMap};
use crate::runtime::connect::{Client, ConnectError, WorkerHealth};
use crate::runtime::health::Health;
use crate::runtime::probes::ProbeBoard;
use crate::runtime::store::{Durable, Store, StoreError};
use crate::telemetry::events::{self, Ctx};
use crate::telemetry::Metrics;

pub use publish::{Diagnostics, DiagnosticsHandle};

/// At most this many connectors' actions are in flight at once.
pub const MAX_CONCURRENT_ACTIONS: usize = 16;

/// Fatal errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--hold-with stop needs Kafka Connect 3.5 or newer (KIP-875), but the worker at {url} runs {version}; use --hold-with pause")]
    StopUnsupported { url: String, version: String },
}

pub struct Agent {
    cfg: Arc<Config>,
    client: Client,
    metrics: Metrics,
    store: Arc<dyn Store>,
    /// Leader or standby among the agents that share the store (a sole agent leads).
    lead: leadership::Lead,
    /// The state as the agent knows it: what the store holds plus results folded in since.
    state: Durable,
    /// What the store holds (the next batch is the difference).
    written: Durable,
    board: ProbeBoard,
    clock: Clock,
    health: Health,
    shutdown: CancellationToken,
    diag: DiagnosticsHandle,
    /// FAILED items (connector = u32::MAX) seen in the previous poll, per connector.
    prev_failed: HashMap<String, HashSet<u32>>,
    /// Connectors whose missing target was already logged.
    unknown_logged: HashSet<String>,
    /// Last Connect error logged, to log a changed error at once and a repeated one rarely.
    last_connect_error: Option<(String, u64)>,
    /// Probe count last logged per target during a recovery.
    probe_logged: HashMap<String, u64>,
    version_checked: bool,
    /// Committed offsets: reads, trackers, stalls.
    offsets: offsets::OffsetsStage,
    /// Connectors whose unknown state was logged, and that state.
    unknown_states_logged: HashMap<String, String>,
    /// Targets reported as blind spots, and why.
    blind_reported: HashMap<String, String>,
    /// Connectors in the previous listing (a listing that shrinks sharply is a starting worker).
    last_listed: usize,
    /// Held connectors missing from the listing whose "keeping the hold" line was logged.
    missing_logged: HashSet<String>,
    selection: selection::Warned,
    /// Held connectors between two workers (a crashed or stopped worker's).
    owners: owners::Owners,
    /// `--strimzi-cluster`: the KafkaConnectors side (see `strimzi.rs`).
    strimzi: Option<strimzi::Glue>,
}

impl Agent {
    /// Loads the durable state (a corrupt file stops the agent here, with the reason).
    pub async fn new(
        cfg: Arc<Config>,
        client: Client,
        metrics: Metrics,
        store: Box<dyn Store>,
        clock: Clock,
        shutdown: CancellationToken,
    ) -> Result<Agent, AgentError> {
        let store: Arc<dyn Store> = Arc::from(store);
        let lead = leadership::Lead::new(store.as_ref());
        // A shared store is read once elected (a standby reads it each cycle, for its metrics).
        let state = if lead.shared() {
            Durable::empty()
        } else {
            store.load().await?
        };
        if !state.connectors.is_empty() {
            let held: Vec<String> = state
                .connectors
                .iter()
                .map(|(n, r)| format!("{n} ({}, since {})", r.phase, fmt_time(r.started_at)))
                .collect();
            tracing::info!(
                "continuing from the {}: {}",
                store.describe(),
                held.join(", ")
            );
        }
        let health = Health::new(
            cfg.poll_interval,
            cfg.connect.action_timeout.max(cfg.connect.timeout),
            clock.clone(),
        );
        Ok(Agent {
            version_checked: !cfg.uses_stop(),
            cfg,
            client,
            metrics,
            store,
            lead,
            written: state.clone(),
            state,
            board: ProbeBoard::default(),
            clock,
            health,
            shutdown,
            diag: Arc::new(RwLock::new(Arc::new(Diagnostics::default()))),
            prev_failed: HashMap::new(),
            unknown_logged: HashSet::new(),
            last_connect_error: None,
            probe_logged: HashMap::new(),
            offsets: offsets::OffsetsStage::new(),
            last_listed: 0,
            blind_reported: HashMap::new(),
            unknown_states_logged: HashMap::new(),
            missing_logged: HashSet::new(),
            selection: Default::default(),
            owners: owners::Owners::default(),
            strimzi: None,
        })
    }

    /// Holds the connectors that have a Strimzi `KafkaConnector` through it (`--strimzi-cluster`).
    pub fn with_strimzi(mut self, client: cdc_sentinel_strimzi::Strimzi) -> Agent {
        self.strimzi = Some(strimzi::Glue::new(client));
        self
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The handle to the latest [`Diagnostics`].
    pub fn diagnostics(&self) -> DiagnosticsHandle {
        self.diag.clone()
    }

    /// Runs until `shutdown`; the step in flight finishes and the state is written.
    pub async fn run(mut self) -> Result<(), AgentError> {
        loop {
            let wake = self.cycle().await?;
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(wake) => {}
                // Elected or deposed: act on it now, not at the next poll.
                _ = self.lead.changed() => self.sync_role().await?,
            }
        }
        // On the way out the whole state is written, changed or not, so the file is there and
        // current for whoever starts next (a standby has nothing of its own to write).
        if !self.cfg.dry_run && self.lead.leading() {
            let changes = self.written.diff(&self.state);
            match self.store.apply(&changes).await {
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => tracing::warn!("stopping: the last results were not written ({e}); the next leader re-checks those connectors against Kafka Connect"),
                Ok(()) => {}
            }
        }
        self.store.close().await;
        events::stopped(self.cfg.dry_run);
        Ok(())
    }

    /// One cycle. Returns how long to sleep before the next one.
    pub async fn cycle(&mut self) -> Result<Duration, AgentError> {
        let poll = self.cfg.poll_interval;
        self.sync_role().await?;
        // The KafkaConnectors (with --strimzi-cluster) are listed next to Kafka Connect.
        let (list, ()) = tokio::join!(
            self.client.list(),
            strimzi::observe(&mut self.strimzi, &self.metrics)
        );
        let list = match list {
            Ok(l) => l,
            Err(e) => {
                self.connect_failed(&e, self.clock.now_ms());
                return Ok(poll);
            }
        };
        if let Some((prev, _)) = self.last_connect_error.take() {
            tracing::info!("Kafka Connect reachable again (was: {prev})");
        }
        let now = self.clock.now_ms();
        self.metrics.connect_poll(true, now);
        self.health.polled(now);
        if !self.version_checked {
            self.check_version().await?;
        }
        let wake_at = self.process(list, now).await?;
        Ok(match wake_at {
            Some(w) => {
                Duration::from_millis(w.saturating_sub(self.clock.now_ms()).max(50)).min(poll)
            }
            None => poll,
        })
    }

    /// Stages 1 to 6 for one listing of Kafka Connect, polled at `now`. Returns when the core
    /// wants to be woken up next.
    pub async fn process(
        &mut self,
        list: ExpandedMap,
        now: Millis,
    ) -> Result<Option<Millis>, AgentError> {
        // 1. observe
        let mut obs = observe::observe(&self.cfg, list, now);
        strimzi::annotate(&mut self.strimzi, &mut obs);
        self.selection.check(&self.cfg, &obs);
        self.offsets.observe(&obs, &self.state);
        self.ensure_probes(&obs);
        if !self.lead.leading() {
            // A standby: publish what it sees, decide and send nothing.
            self.standby_publish(&obs, now).await?;
            return Ok(None);
        }
        self.log_unknown_targets(&obs);
        let gone = self.confirm_gone(&obs).await;
        let between = self.owners.between(&obs, &self.state, now).await;
        // 2. decide
        let decisions = decide::decide(
            &self.cfg,
            &obs,
            &self.state,
            &self.board,
            &gone,
            &between,
            &self.offsets,
        );
        // 3. persist (write-ahead), then report; nothing is acted on unless it is durable
        let durable = self.persist(decisions.next.clone()).await?;
        let pending: Vec<act::Pending> = if durable {
            self.state = decisions.next;
            self.report(&decisions.decided);
            decisions
                .decided
                .iter()
                .filter(|d| !d.decision.actions.is_empty())
                .map(|d| act::Pending {
                    name: d.name.clone(),
                    actions: d.decision.actions.clone(),
                    via: strimzi::via(self.strimzi.as_ref(), self.state.connectors.get(&d.name)),
                })
                .collect()
        } else {
            Vec::new()
        };
        // 4. act, 5. fold
        if !pending.is_empty() {
            let summary: Vec<(String, Vec<_>)> = pending
                .iter()
                .map(|p| (p.name.clone(), p.actions.clone()))
                .collect();
            self.health.acting_on(self.clock.now_ms(), &summary);
            let acted = act::act(
                &self.client,
                self.store.clone(),
                pending,
                self.cfg.dry_run,
                self.cfg.max_concurrent_actions,
            )
            .await;
            self.health.acting(None);
            let clock = self.clock.clone();
            act::fold(
                acted,
                &decisions.decided,
                &mut self.state,
                &self.metrics,
                self.client.base_url(),
                self.strimzi.as_ref().map(strimzi::Glue::namespace),
                || clock.now_ms(),
            );
        }
        // The agent's marks on KafkaConnectors follow its records (hand-backs, ended holds).
        strimzi::mirror(
            &mut self.strimzi,
            &obs,
            &self.state,
            self.store.may_act(),
            self.cfg.dry_run,
        )
        .await;
        (self.offsets).schedule(&self.client, &self.cfg, &self.state, &self.clock, now);
        // 6. publish
        publish::count_failures(&obs, &mut self.prev_failed, &self.metrics);
        publish::unknown_states(&obs, &mut self.unknown_states_logged);
        publish::unrecorded_holds(&obs, &self.state, &self.metrics);
        self.lead.report_unrecorded(&obs, &self.state);
        self.metrics.leader(self.lead.leading());
        publish::blind_spots(
            &obs,
            &self.state,
            &self.board,
            &mut self.blind_reported,
            &self.metrics,
        );
        publish::log_probes(
            &self.state,
            &self.board,
            &mut self.probe_logged,
            self.clock.now_ms(),
        );
        let mut views = publish::views(&self.cfg, &obs, &self.state);
        self.offsets.annotate(&self.cfg, &mut views);
        publish::publish(views, now, &self.metrics, &self.diag);
        Ok(decisions.wake_at)
    }

    /// Of the connectors the agent keeps a record of but this listing lacks, those confirmed
    /// deleted: the worker says it has completed startup (`GET /health`, 3.9+; before 3.9, the
    /// listing must not look like a starting worker's: empty, or most connectors gone at once)
    /// and answers 404 for the connector's own status. Anything less is blindness, not a
    /// deletion: the records stay, nothing is sent, and one line says so.
    async fn confirm_gone(&mut self, obs: &observe::Observation) -> HashSet<String> {
        if obs.blind.is_some() {
            return HashSet::new();
        }
        let listed = obs.connectors.len();
        let previous = std::mem::replace(&mut self.last_listed, listed);
        let missing: BTreeSet<&String> = self
            .state
            .connectors
            .keys()
            .chain(self.state.handed_back.keys())
            .filter(|n| !obs.connectors.contains_key(*n))
            .collect();
        let mut gone = HashSet::new();
        if missing.is_empty() {
            self.missing_logged.clear();
            return gone;
        }
        let shrunk = listed == 0 || (previous >= 4 && listed * 2 < previous);
        let health = self.client.health().await;
        let trusted = match &health {
            Ok(WorkerHealth::Healthy) => Ok(()),
            Ok(WorkerHealth::Unsupported) if !shrunk => Ok(()),
            Ok(WorkerHealth::Unsupported) => Err(format!(
                "the listing has {listed} connectors (it had {previous}): a worker starting up"
            )),
            Ok(WorkerHealth::NotReady(why)) => Err(format!("GET /health: {why}")),
            Err(e) => Err(format!("GET /health failed: {e}")),
        };
        let mut checked = Vec::new();
        if trusted.is_ok() {
            // One status read per missing connector, a few at a time.
            let mut set = tokio::task::JoinSet::new();
            let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_ACTIONS));
            for name in missing.iter().take(256) {
                let client = self.client.clone();
                let name = (*name).clone();
                let permits = permits.clone();
                set.spawn(async move {
                    let _p = permits.acquire_owned().await.ok();
                    let r = client.status(&name).await;
                    (name, r)
                });
            }
            while let Some(Ok((name, r))) = set.join_next().await {
                match r {
                    Err(ConnectError::NotFound { .. }) => {
                        gone.insert(name);
                    }
                    other => checked.push((name, other.err().map(|e| e.to_string()))),
                }
            }
        }
        for name in &missing {
            if gone.contains(*name) || !self.state.connectors.contains_key(*name) {
                continue;
            }
            if self.missing_logged.insert((*name).clone()) {
                let why = match &trusted {
                    Err(w) => w.clone(),
                    Ok(()) => match checked.iter().find(|(n, _)| n == *name) {
                        Some((_, Some(e))) => format!("its status could not be read: {e}"),
                        _ => "its status still answers".into(),
                    },
                };
                tracing::warn!(connector = %name, "{name}: missing from Kafka Connect's listing while the agent holds it ({why}); keeping the hold: a listing alone is not a deletion");
            }
        }
        self.missing_logged
            .retain(|n| missing.contains(n) && !gone.contains(n));
        gone
    }

    /// One probe loop per distinct target of the connectors it acts on (and those it holds).
    fn ensure_probes(&self, obs: &observe::Observation) {
        let mut wanted = HashMap::new();
        for (name, s) in &obs.connectors {
            if let Ok(t) = &s.target {
                if s.selected || self.state.connectors.contains_key(name) {
                    wanted.insert(t.label(), t.clone());
                }
            }
        }
        self.board.ensure(
            &wanted,
            &self.cfg.probe,
            &self.metrics,
            &self.clock,
            &self.shutdown,
        );
    }

    fn log_unknown_targets(&mut self, obs: &observe::Observation) {
        for (name, s) in &obs.connectors {
            if let (Err(why), true) = (&s.target, s.selected) {
                if self.unknown_logged.insert(name.clone()) {
                    tracing::warn!(connector = %name, "{name}: no database target: {why}. The agent will not act on it; give --db or a [connectors.\"{name}\"] db = \"tcp://HOST:PORT\" entry in --config");
                }
            }
        }
    }

    /// Makes `next` durable: one batch with what changed since the last write (nothing to
    /// write, nothing written). `--dry-run` writes nothing. `Ok(false)`: a shared store did not
    /// take the batch (this agent was deposed, or Kafka is unreachable): nothing may be sent.
    async fn persist(&mut self, next: Durable) -> Result<bool, AgentError> {
        let changes = self.written.diff(&next);
        if changes.is_empty() || self.cfg.dry_run {
            return Ok(true);
        }
        if let Err(e) = self.store.apply(&changes).await {
            self.metrics.state_store(false);
            if !e.is_fatal() {
                self.lead.write_failed(&e);
                return Ok(false);
            }
            tracing::error!("{e}");
            return Err(AgentError::Store(e));
        }
        self.metrics.state_store(true);
        self.written = next;
        Ok(true)
    }

    /// The events of this cycle's decisions (after they are durable).
    fn report(&self, decided: &[decide::Decided]) {
        for d in decided {
            let ctx = Ctx {
                connector: &d.name,
                target: d.target.as_deref(),
                hold_with: d.hold_with,
                max_wait_ms: d.settings.max_wait,
                verify_window_ms: d.settings.verify_window,
                connect_url: self.client.base_url(),
                resource_ns: strimzi::namespace(self.strimzi.as_ref(), d.manager),
            };
            for ev in &d.decision.events {
                events::emit(&self.metrics, &ctx, ev);
                if let (Event::HoldStarted { .. }, Some(t)) = (ev, &d.target) {
                    self.board.kick(t);
                }
            }
        }
    }

    fn connect_failed(&mut self, e: &ConnectError, now: u64) {
        self.metrics.connect_poll(false, now);
        let msg = e.to_string();
        let log = match &self.last_connect_error {
            Some((prev, at)) => *prev != msg || now.saturating_sub(*at) >= 300_000,
            None => true,
        };
        if log {
            tracing::warn!(
                kind = e.kind(),
                "Kafka Connect poll failed: {msg}; taking no action until it answers again"
            );
            self.last_connect_error = Some((msg, now));
        }
    }

    async fn check_version(&mut self) -> Result<(), AgentError> {
        match self.client.root().await {
            Ok(root) => {
                match kafka_version(&root.version) {
                    Some(v) if v >= (3, 5) => {}
                    _ => {
                        return Err(AgentError::StopUnsupported {
                            url: redact(self.client.base_url()),
                            version: root.version,
                        });
                    }
                }
                self.version_checked = true;
            }
            Err(e) => tracing::warn!("cannot read the Kafka Connect version yet (GET /): {e}"),
        }
        Ok(())
    }
}

fn fmt_time(ms: Millis) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
