//! The supervisor owns all per-connector state and runs the cycle: poll Kafka Connect once,
//! let the core decide for every connector, persist, execute the actions, fold the results
//! back, persist again, publish metrics. Wake-ups come from the poll interval and from the
//! core's `wake_at`, never from sleeps scattered around.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::classify::redact;
use crate::core::{
    self, Action, ActionResult, ConnState, ConnectorObs, HoldWith, Input, Phase, TaskObs,
};
use crate::runtime::clock::Clock;
use crate::runtime::connect::types::{kafka_version, ExpandedMap};
use crate::runtime::connect::{Client, ConnectError};
use crate::runtime::probes::ProbeBoard;
use crate::runtime::store::{Durable, Store, StoreError};
use crate::telemetry::events::{self, Ctx};
use crate::telemetry::metrics::{ConnectorView, Metrics};
use cdc_sentinel_probe::target::{Target, TargetError};

/// Readiness, shared with the HTTP server.
#[derive(Clone)]
pub struct Health {
    last_poll_ok_ms: Arc<AtomicU64>,
    /// When the actions in flight were sent; 0 when none are.
    acting_since_ms: Arc<AtomicU64>,
    poll_interval_ms: u64,
    action_timeout_ms: u64,
    clock: Clock,
}

impl Health {
    pub fn new(poll_interval: Duration, action_timeout: Duration, clock: Clock) -> Health {
        Health {
            last_poll_ok_ms: Arc::new(AtomicU64::new(0)),
            acting_since_ms: Arc::new(AtomicU64::new(0)),
            poll_interval_ms: poll_interval.as_millis() as u64,
            action_timeout_ms: action_timeout.as_millis() as u64,
            clock,
        }
    }

    /// A Kafka Connect poll succeeded within the last three poll intervals. While actions are
    /// in flight the next poll waits for them, so their timeout is added: a worker that takes
    /// 10 s to answer a stop (seen on a real one) must not turn the agent, and the pod it is a
    /// sidecar in, unready.
    pub fn ready(&self) -> bool {
        let last = self.last_poll_ok_ms.load(Ordering::Relaxed);
        let mut allowed = 3 * self.poll_interval_ms.max(1000);
        if self.acting_since_ms.load(Ordering::Relaxed) > 0 {
            allowed += self.action_timeout_ms;
        }
        last > 0 && self.clock.now_ms().saturating_sub(last) <= allowed
    }

    fn polled(&self, now: u64) {
        self.last_poll_ok_ms.store(now, Ordering::Relaxed);
    }

    fn acting(&self, since: Option<u64>) {
        // 0 means idle, so a virtual clock at 0 still counts as acting
        self.acting_since_ms
            .store(since.map_or(0, |t| t.max(1)), Ordering::Relaxed);
    }
}

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
    store: Box<dyn Store>,
    state: Durable,
    board: ProbeBoard,
    clock: Clock,
    health: Health,
    shutdown: CancellationToken,
    /// FAILED items (connector = u32::MAX) seen in the previous poll, per connector.
    prev_failed: HashMap<String, HashSet<u32>>,
    /// Connectors whose missing target was already logged.
    unknown_logged: HashSet<String>,
    /// Last Connect error logged, to log a changed error at once and a repeated one rarely.
    last_connect_error: Option<(String, u64)>,
    /// Probe count last logged per target during a recovery.
    probe_logged: HashMap<String, u64>,
    version_checked: bool,
}

impl Agent {
    /// Loads the durable state (a corrupt file stops the agent here, with the reason).
    pub fn new(
        cfg: Arc<Config>,
        client: Client,
        metrics: Metrics,
        store: Box<dyn Store>,
        clock: Clock,
        shutdown: CancellationToken,
    ) -> Result<Agent, AgentError> {
        let state = store.load()?;
        if !state.connectors.is_empty() {
            let held: Vec<String> = state
                .connectors
                .iter()
                .map(|(n, r)| {
                    format!(
                        "{n} ({}, since {})",
                        r.phase.as_str(),
                        fmt_time(r.started_at)
                    )
                })
                .collect();
            tracing::info!("continuing from the state file: {}", held.join(", "));
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
            state,
            board: ProbeBoard::default(),
            clock,
            health,
            shutdown,
            prev_failed: HashMap::new(),
            unknown_logged: HashSet::new(),
            last_connect_error: None,
            probe_logged: HashMap::new(),
        })
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Runs until `shutdown`; the step in flight finishes and the state is written.
    pub async fn run(mut self) -> Result<(), AgentError> {
        loop {
            let wake = self.cycle().await?;
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(wake) => {}
            }
        }
        if !self.cfg.dry_run {
            self.store.save(&self.state)?;
        }
        tracing::info!("stopped; state written");
        Ok(())
    }

    /// One poll-decide-act cycle. Returns how long to sleep before the next one.
    pub async fn cycle(&mut self) -> Result<Duration, AgentError> {
        let poll = self.cfg.poll_interval;
        let now = self.clock.now_ms();
        let list = match self.client.list().await {
            Ok(l) => l,
            Err(e) => {
                self.connect_failed(&e, now);
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
        let sleep = match wake_at {
            Some(w) => {
                Duration::from_millis(w.saturating_sub(self.clock.now_ms()).max(50)).min(poll)
            }
            None => poll,
        };
        Ok(sleep)
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

    /// Everything after a successful poll: decide for every connector, act, publish metrics.
    pub async fn process(
        &mut self,
        list: ExpandedMap,
        now: u64,
    ) -> Result<Option<u64>, AgentError> {
        let cfg = self.cfg.clone();
        // Observations and targets.
        let mut obs: BTreeMap<String, (ConnectorObs, Result<Target, TargetError>)> =
            BTreeMap::new();
        for (name, ex) in list {
            let Some(st) = ex.status else { continue };
            let conn = ConnectorObs {
                state: ConnState::parse(&st.connector.state),
                trace: st.connector.trace,
                tasks: st
                    .tasks
                    .into_iter()
                    .map(|t| TaskObs {
                        id: t.id,
                        state: ConnState::parse(&t.state),
                        trace: t.trace,
                    })
                    .collect(),
            };
            let config = ex.info.map(|i| i.config).unwrap_or_default();
            let target = cfg.target_for(&name, &config);
            obs.insert(name, (conn, target));
        }

        // One probe loop per distinct target of the connectors we act on (and those we hold).
        let mut wanted: HashMap<String, Target> = HashMap::new();
        for (name, (_, target)) in &obs {
            if let Ok(t) = target {
                if cfg.selector.selects(name) || self.state.connectors.contains_key(name) {
                    wanted.insert(t.label(), t.clone());
                }
            }
        }
        self.board.ensure(
            &wanted,
            &cfg.probe,
            &self.metrics,
            &self.clock,
            &self.shutdown,
        );

        // Decide.
        let names: BTreeSet<String> = obs
            .keys()
            .cloned()
            .chain(self.state.connectors.keys().cloned())
            .collect();
        let mut pending: Vec<(String, Vec<Action>)> = Vec::new();
        let mut wake_at: Option<u64> = None;
        let mut changed = false;
        for name in &names {
            let selected = cfg.selector.selects(name);
            let prev = self.state.connectors.get(name).cloned();
            if !selected && prev.is_none() {
                continue;
            }
            let (conn, target) = match obs.get(name) {
                Some((c, t)) => (Some(c), t.as_ref().ok().map(|t| t.label())),
                None => (None, prev.as_ref().and_then(|r| r.target.clone())),
            };
            if let (Some((_, Err(why))), true) = (obs.get(name), selected) {
                if self.unknown_logged.insert(name.clone()) {
                    tracing::warn!(connector = %name, "{name}: no database target: {why}. The agent will not act on it; give --db or a [connectors.\"{name}\"] db = \"tcp://HOST:PORT\" entry in --config");
                }
            }
            let settings = cfg.settings_for(name);
            // A held connector keeps the target it was held for.
            let target = prev.as_ref().and_then(|r| r.target.clone()).or(target);
            let probe = target.as_deref().and_then(|t| self.board.get(t));
            let maintenance =
                crate::core::windows::active_until(&cfg.maintenance, name, target.as_deref(), now)
                    .map(|ends_at| core::Maintenance { ends_at });
            let input = Input {
                now,
                conn,
                target: target.as_deref(),
                probe: probe.as_ref(),
                settings: &settings,
                handed_back_at: self.state.handed_back.get(name).copied(),
                maintenance,
            };
            let d = core::step(name, prev.as_ref(), &input);
            let ctx = self.ctx(
                name,
                target.as_deref(),
                prev.as_ref()
                    .map(|r| r.hold_with)
                    .unwrap_or(settings.hold_with),
            );
            for ev in &d.events {
                events::emit(&self.metrics, &ctx, ev);
                if matches!(ev, core::Event::HoldStarted { .. }) {
                    if let Some(t) = &target {
                        self.board.kick(t);
                    }
                }
            }
            if let Some(h) = d.handed_back {
                changed = true;
                match h {
                    Some(t) => self.state.handed_back.insert(name.clone(), t),
                    None => self.state.handed_back.remove(name),
                };
            }
            if d.record != prev {
                changed = true;
                match d.record {
                    Some(r) => self.state.connectors.insert(name.clone(), r),
                    None => self.state.connectors.remove(name),
                };
            }
            if let Some(w) = d.wake_at {
                wake_at = Some(wake_at.map_or(w, |x: u64| x.min(w)));
            }
            if !d.actions.is_empty() {
                pending.push((name.clone(), d.actions));
            }
        }
        // Forget hand-backs of connectors that no longer exist.
        let before = self.state.handed_back.len();
        self.state.handed_back.retain(|n, _| obs.contains_key(n));
        changed |= before != self.state.handed_back.len();

        // Write-ahead: the hold is on disk before the request goes out.
        if changed || !pending.is_empty() {
            self.persist()?;
        }
        if !pending.is_empty() {
            self.health.acting(Some(self.clock.now_ms()));
            let r = self.execute(pending).await;
            self.health.acting(None);
            r?;
        }

        self.count_failures(&obs);
        self.log_probes();
        self.publish(&obs);
        Ok(wake_at)
    }

    async fn execute(&mut self, pending: Vec<(String, Vec<Action>)>) -> Result<(), AgentError> {
        let dry = self.cfg.dry_run;
        let mut set = tokio::task::JoinSet::new();
        for (name, actions) in pending {
            let client = self.client.clone();
            set.spawn(async move {
                let mut results = Vec::new();
                for a in actions {
                    let r = if dry {
                        ActionResult::DryRun
                    } else {
                        send(&client, &name, a).await
                    };
                    let stop = !matches!(r, ActionResult::Ok | ActionResult::DryRun);
                    results.push((a, r));
                    if stop {
                        break;
                    }
                }
                (name, results)
            });
        }
        while let Some(joined) = set.join_next().await {
            let Ok((name, results)) = joined else {
                continue;
            };
            let settings = self.cfg.settings_for(&name);
            for (action, result) in results {
                let now = self.clock.now_ms();
                let Some(rec) = self.state.connectors.get_mut(&name) else {
                    continue;
                };
                let evs = core::apply_result(&name, rec, action, &result, now, &settings);
                let ctx = Ctx {
                    connector: &name,
                    target: rec.target.as_deref(),
                    hold_with: rec.hold_with,
                    max_wait_ms: settings.max_wait,
                    verify_window_ms: settings.verify_window,
                    connect_url: self.client.base_url(),
                };
                for ev in &evs {
                    events::emit(&self.metrics, &ctx, ev);
                }
            }
        }
        self.persist()
    }

    fn ctx<'a>(&'a self, name: &'a str, target: Option<&'a str>, hold_with: HoldWith) -> Ctx<'a> {
        let s = self.cfg.settings_for(name);
        Ctx {
            connector: name,
            target,
            hold_with,
            max_wait_ms: s.max_wait,
            verify_window_ms: s.verify_window,
            connect_url: self.client.base_url(),
        }
    }

    fn persist(&self) -> Result<(), AgentError> {
        if self.cfg.dry_run {
            return Ok(());
        }
        self.store.save(&self.state).map_err(|e| {
            tracing::error!("{e}");
            AgentError::Store(e)
        })
    }

    /// `cdc_sentinel_task_failures_total`: transitions into FAILED since the previous poll.
    fn count_failures(
        &mut self,
        obs: &BTreeMap<String, (ConnectorObs, Result<Target, TargetError>)>,
    ) {
        let mut next = HashMap::with_capacity(obs.len());
        for (name, (c, _)) in obs {
            let mut failed: HashSet<u32> = c
                .tasks
                .iter()
                .filter(|t| t.state == ConnState::Failed)
                .map(|t| t.id)
                .collect();
            if c.state == ConnState::Failed {
                failed.insert(u32::MAX);
            }
            let new = match self.prev_failed.get(name) {
                Some(prev) => failed.difference(prev).count(),
                None => failed.len(),
            };
            if new > 0 && self.cfg.selector.selects(name) {
                self.metrics.task_failed(name, new as u64);
            }
            next.insert(name.clone(), failed);
        }
        self.prev_failed = next;
    }

    /// `[N] probing TARGET (elapsed 3m)`: one line per probe of a target someone waits for.
    fn log_probes(&mut self) {
        let now = self.clock.now_ms();
        let mut waiting: BTreeMap<String, (Vec<&str>, u64)> = BTreeMap::new();
        for (name, r) in &self.state.connectors {
            if matches!(r.phase, Phase::Waiting | Phase::TimedOut) {
                if let Some(t) = &r.target {
                    let e = waiting.entry(t.clone()).or_default();
                    e.0.push(name);
                    e.1 = e.1.max(now.saturating_sub(r.started_at));
                }
            }
        }
        for (target, (names, elapsed)) in waiting {
            let Some(p) = self.board.get(&target) else {
                continue;
            };
            if self.probe_logged.get(&target) == Some(&p.count) {
                continue;
            }
            self.probe_logged.insert(target.clone(), p.count);
            let state = if p.last_reason == Some(cdc_sentinel_probe::Reason::Ok) {
                format!("up ({} in a row)", p.consecutive_successes)
            } else {
                format!("down: {} ({})", p.last_reason_str(), p.last_detail)
            };
            tracing::info!(target = %target, "[{}] probing {target} (elapsed {}): {state}; waiting: {}", p.count, events::human(elapsed), names.join(", "));
        }
    }

    fn publish(&self, obs: &BTreeMap<String, (ConnectorObs, Result<Target, TargetError>)>) {
        let now = self.clock.now_ms();
        let mut views = Vec::with_capacity(obs.len());
        for (name, (c, target)) in obs {
            let mut tasks = [0u32; 6];
            for t in &c.tasks {
                if let Some(i) = ConnState::KNOWN.iter().position(|s| *s == t.state) {
                    tasks[i] += 1;
                }
            }
            let rec = self.state.connectors.get(name);
            let selected = self.cfg.selector.selects(name);
            let target = rec
                .and_then(|r| r.target.clone())
                .or_else(|| target.as_ref().ok().map(|t| t.label()));
            let maintenance = selected
                && crate::core::windows::active_until(
                    &self.cfg.maintenance,
                    name,
                    target.as_deref(),
                    now,
                )
                .is_some();
            views.push(ConnectorView {
                name: name.clone(),
                state: c.state,
                tasks,
                selected,
                target,
                phase: rec.map(|r| r.phase).unwrap_or(Phase::Watching),
                reason: rec.map(|r| r.reason),
                managed: rec.is_some_and(|r| r.phase.in_recovery()),
                started_at_ms: rec.map(|r| r.started_at),
                max_wait_secs: self.cfg.settings_for(name).max_wait as f64 / 1000.0,
                attempts: rec.map(|r| r.attempts).unwrap_or(0),
                maintenance,
            });
        }
        self.metrics.set_connectors(views);
    }
}

async fn send(client: &Client, name: &str, a: Action) -> ActionResult {
    let r = match a {
        Action::Pause => client.pause(name).await,
        Action::Stop => client.stop(name).await,
        Action::Resume => client.resume(name).await,
        Action::RestartFailed => client.restart_failed(name).await,
    };
    match r {
        Ok(()) => ActionResult::Ok,
        Err(ConnectError::NotFound { message })
            if message.contains(name) || message.contains("Unknown connector") =>
        {
            ActionResult::NotFound
        }
        Err(e) => ActionResult::Failed(e.to_string()),
    }
}

fn fmt_time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
