//! Leader and standby: the agents of one Kafka Connect cluster share a state store (a Kafka
//! topic) that elects one of them. The leader runs every stage; a standby observes and
//! publishes (Connect's view and the records it reads from the store), and decides, writes and
//! sends nothing. A sole agent (a state file) always leads.
//!
//! - Becoming leader: load every record, then carry on exactly as after a restart (the core
//!   re-checks each connector against Connect; the max wait counts from the record's start).
//! - Losing it (another agent elected, Kafka unreachable, a write fenced): stop at once; the
//!   in-memory state is dropped (the next leader owns it).
//! - Still leading when the store lost its records (a broker that lost its data): write the
//!   whole state again.
//!
//! One log line per change of leadership; the store says once a minute while Kafka cannot be
//! reached.

use tokio::sync::watch;

use crate::runtime::store::{Durable, Role, Store, StoreError};
use crate::telemetry::Metrics;

use super::observe::Observation;

/// This agent's standing among the agents of its store.
pub(crate) struct Lead {
    rx: Option<watch::Receiver<Role>>,
    leading: bool,
    /// `records_lost()` when this agent took over (or last rewrote its state).
    lost_seen: u64,
    /// Log the paused connectors without a record on the next observation (after a takeover).
    count_unrecorded: bool,
    /// When a failed write-ahead was last logged (at most once a minute).
    write_failure_logged: Option<tokio::time::Instant>,
}

/// What [`Lead::sync`] found.
pub(crate) enum Change {
    None,
    /// Elected: the caller loads every record and carries on as after a restart.
    TookOver,
    /// No longer leading: the caller drops its state and stops acting.
    SteppedDown(String),
}

impl Lead {
    pub(crate) fn new(store: &dyn Store) -> Lead {
        let rx = store.role();
        Lead {
            leading: rx.is_none(),
            rx,
            lost_seen: 0,
            count_unrecorded: false,
            write_failure_logged: None,
        }
    }

    /// True for a sole agent, and for the elected leader once it loaded the records.
    pub(crate) fn leading(&self) -> bool {
        self.leading
    }

    /// The store is shared (there are standbys and elections).
    pub(crate) fn shared(&self) -> bool {
        self.rx.is_some()
    }

    /// Resolves when the role changes (never for a sole agent).
    pub(crate) async fn changed(&mut self) {
        match self.rx.as_mut() {
            Some(rx) => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Compares the store's role with what this agent does; fatal if the store cannot be used.
    pub(crate) fn sync(
        &mut self,
        store: &dyn Store,
        metrics: &Metrics,
        health: &crate::runtime::health::Health,
    ) -> Result<Change, StoreError> {
        let Some(rx) = self.rx.as_mut() else {
            return Ok(Change::None);
        };
        let role = rx.borrow_and_update().clone();
        metrics.state_store(!matches!(role, Role::Unavailable(_)));
        health.store_problem(match &role {
            Role::Unavailable(why) => Some(format!(
                "the state store ({}) cannot be reached: {why}",
                store.describe()
            )),
            _ => None,
        });
        Ok(match role {
            Role::Failed(msg) => return Err(StoreError::Config(msg)),
            Role::Leader if !self.leading => Change::TookOver,
            Role::Leader => Change::None,
            Role::Standby if self.leading => {
                Change::SteppedDown("another agent was elected".into())
            }
            Role::Unavailable(why) if self.leading => Change::SteppedDown(why),
            _ => Change::None,
        })
    }

    /// Took over with `state` loaded from the store.
    pub(crate) fn took_over(&mut self, store: &dyn Store, state: &Durable, metrics: &Metrics) {
        self.leading = true;
        self.lost_seen = store.records_lost();
        self.count_unrecorded = true;
        metrics.leader(true);
        let held: Vec<String> = state
            .connectors
            .iter()
            .take(20)
            .map(|(n, r)| format!("{n} ({})", r.phase))
            .collect();
        tracing::info!(
            "leading: elected by the {}; took over {} hold record(s){}{}; re-checking each against Kafka Connect before acting",
            store.describe(),
            state.connectors.len(),
            if held.is_empty() { String::new() } else { format!(": {}", held.join(", ")) },
            if state.connectors.len() > held.len() { ", ..." } else { "" }
        );
    }

    /// The election could not be completed: the records did not load.
    pub(crate) fn takeover_failed(&self, e: &StoreError) {
        tracing::warn!(
            "elected, but the hold records could not be read ({e}); not acting until they are"
        );
    }

    pub(crate) fn stepped_down(&mut self, why: &str, metrics: &Metrics) {
        self.leading = false;
        metrics.leader(false);
        tracing::warn!("no longer leading ({why}): stopped acting; standing by");
    }

    /// Still leading, but the store lost records this agent had written: true if the caller
    /// must write its whole state again.
    pub(crate) fn records_lost(&mut self, store: &dyn Store) -> bool {
        let lost = store.records_lost();
        if self.leading && lost > self.lost_seen {
            self.lost_seen = lost;
            tracing::error!(
                "the {} lost the hold records (its topic was recreated, or a broker lost its data); this agent leads and writes its whole state again",
                store.describe()
            );
            return true;
        }
        false
    }

    /// A write-ahead failed without stopping the agent: nothing is sent this cycle.
    pub(crate) fn write_failed(&mut self, e: &StoreError) {
        let now = tokio::time::Instant::now();
        if self
            .write_failure_logged
            .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(60))
        {
            self.write_failure_logged = Some(now);
            tracing::warn!("could not write ahead ({e}); sending nothing until a write succeeds");
        }
    }

    /// After a takeover, once: how many paused or stopped connectors have no record (a
    /// human's holds, or holds whose records were lost), which the agent never resumes.
    pub(crate) fn report_unrecorded(&mut self, obs: &Observation, state: &Durable) {
        if !std::mem::take(&mut self.count_unrecorded) {
            return;
        }
        let names: Vec<&str> = obs
            .connectors
            .iter()
            .filter(|(name, s)| {
                s.selected
                    && matches!(
                        s.conn.state,
                        crate::core::ConnState::Paused | crate::core::ConnState::Stopped
                    )
                    && !state.connectors.contains_key(*name)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if !names.is_empty() {
            tracing::warn!(
                "{} connector(s) are PAUSED or STOPPED with no hold record: a human's holds, or holds whose records were lost; this agent never resumes them (resume them by hand once their database is back): {}{}",
                names.len(),
                names.iter().take(20).copied().collect::<Vec<_>>().join(", "),
                if names.len() > 20 { ", ..." } else { "" }
            );
        }
    }
}

impl super::Agent {
    /// Follows the store's election: takes over (loads every record), or stops acting at once.
    /// Called before every cycle and whenever the role changes.
    pub(super) async fn sync_role(&mut self) -> Result<(), super::AgentError> {
        match self
            .lead
            .sync(self.store.as_ref(), &self.metrics, &self.health)?
        {
            Change::None => {
                if self.lead.records_lost(self.store.as_ref()) {
                    // The next batch is the whole state.
                    self.written = Durable::empty();
                }
            }
            Change::TookOver => match self.store.load().await {
                Ok(state) => {
                    self.lead
                        .took_over(self.store.as_ref(), &state, &self.metrics);
                    // As after a restart: what the records say, re-checked against Connect.
                    self.written = state.clone();
                    self.state = state;
                    self.missing_logged.clear();
                }
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => self.lead.takeover_failed(&e),
            },
            Change::SteppedDown(why) => {
                self.lead.stepped_down(&why, &self.metrics);
                // The next leader owns the records; results not yet written are its to find
                // out (it re-checks every held connector against Connect).
                self.state = Durable::empty();
                self.written = Durable::empty();
            }
        }
        Ok(())
    }

    /// A standby's cycle after observing: the records as the leader wrote them, the
    /// per-connector series from Connect and those records, and nothing else (no decision, no
    /// write, no action, no probe lines: those are the leader's).
    pub(super) async fn standby_publish(
        &mut self,
        obs: &Observation,
        now: crate::core::Millis,
    ) -> Result<(), super::AgentError> {
        let readable = matches!(
            self.store.role().map(|r| r.borrow().clone()),
            Some(Role::Standby | Role::Leader)
        );
        if readable {
            let limit = self
                .cfg
                .poll_interval
                .max(std::time::Duration::from_secs(2));
            match tokio::time::timeout(limit, self.store.load()).await {
                Ok(Ok(state)) => {
                    self.metrics.state_store(true);
                    self.state = state;
                }
                Ok(Err(e)) if e.is_fatal() => return Err(e.into()),
                Ok(Err(e)) => {
                    self.metrics.state_store(false);
                    tracing::debug!("standby: the records could not be read: {e}");
                }
                Err(_) => {
                    self.metrics.state_store(false);
                    tracing::debug!("standby: reading the records took longer than {limit:?}");
                }
            }
        }
        super::publish::count_failures(obs, &mut self.prev_failed, &self.metrics);
        super::publish::unknown_states(obs, &mut self.unknown_states_logged);
        super::publish::unrecorded_holds(obs, &self.state, &self.metrics);
        self.metrics.leader(false);
        let views = super::publish::views(&self.cfg, obs, &self.state);
        super::publish::publish(views, now, &self.metrics, &self.diag);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use clap::Parser;
    use tokio::sync::watch;

    use crate::config::{Cli, Command};
    use crate::runtime::clock::Clock;
    use crate::runtime::connect::types::ExpandedMap;
    use crate::runtime::connect::Client;
    use crate::runtime::store::{Change, Durable, MemStore, Role, Store, StoreError};
    use crate::runtime::supervisor::Agent;
    use crate::telemetry::Metrics;

    /// A shared store in memory whose records can vanish, as a Kafka topic's can, and which
    /// can refuse writes (a leader deposed since its last check).
    #[derive(Clone, Default)]
    struct Shared {
        mem: MemStore,
        role: Arc<watch::Sender<Role>>,
        lost: Arc<AtomicU64>,
        refuse: Arc<std::sync::atomic::AtomicBool>,
    }

    #[async_trait::async_trait]
    impl Store for Shared {
        async fn preflight(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn load(&self) -> Result<Durable, StoreError> {
            self.mem.load().await
        }
        async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
            if self.refuse.load(Ordering::SeqCst) {
                return Err(StoreError::NotLeader {
                    what: self.describe(),
                    why: "fenced: another agent took over".into(),
                });
            }
            self.mem.apply(changes).await
        }
        fn describe(&self) -> String {
            "shared test store".into()
        }
        fn role(&self) -> Option<watch::Receiver<Role>> {
            Some(self.role.subscribe())
        }
        fn records_lost(&self) -> u64 {
            self.lost.load(Ordering::SeqCst)
        }
    }

    fn record() -> crate::core::Record {
        serde_json::from_value(serde_json::json!({
            "phase": "waiting", "reason": "task_failed", "target": "127.0.0.1:9",
            "started_at": 1_000, "held_at": 1_000, "hold_with": "pause",
            "hold_sent_at": 1_000, "hold_pending": false, "resume_pending": false,
            "hold_confirmed": true
        }))
        .unwrap()
    }

    fn listing() -> ExpandedMap {
        serde_json::from_value(serde_json::json!({"inv": {"status": {
            "name": "inv", "type": "source",
            "connector": {"state": "PAUSED"},
            "tasks": [{"id": 0, "state": "PAUSED"}]
        }}}))
        .unwrap()
    }

    async fn agent(store: Shared) -> Agent {
        agent_on(store, "http://127.0.0.1:9").await
    }

    async fn agent_on(store: Shared, connect_url: &str) -> Agent {
        let cli = Cli::try_parse_from([
            "cdc-sentinel",
            "run",
            "--connect-url",
            connect_url,
            "--db",
            "tcp://127.0.0.1:9",
            "--probe-interval",
            "1h",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            unreachable!()
        };
        let cfg = Arc::new(args.validate().unwrap());
        let metrics = Metrics::new("t", "t", false);
        let client = Client::new(&cfg.connect, metrics.clone()).unwrap();
        Agent::new(
            cfg,
            client,
            metrics,
            Box::new(store),
            Clock::system(),
            tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_standby_holds_nothing_a_new_leader_loads_every_record() {
        let mut held = Durable::empty();
        held.connectors.insert("inv".into(), record());
        let store = Shared {
            mem: MemStore::with(held),
            ..Shared::default()
        };
        let mut a = agent(store.clone()).await;
        a.sync_role().await.unwrap();
        assert!(!a.lead.leading());
        store.role.send_replace(Role::Leader);
        a.sync_role().await.unwrap();
        assert!(a.lead.leading());
        assert!(
            a.state.connectors.contains_key("inv"),
            "took over the record"
        );
        store
            .role
            .send_replace(Role::Unavailable("Kafka is gone".into()));
        a.sync_role().await.unwrap();
        assert!(!a.lead.leading(), "stops at once");
        assert!(
            a.state.connectors.is_empty(),
            "the next leader owns the state"
        );
        store
            .role
            .send_replace(Role::Failed("topic of the wrong shape".into()));
        let e = a.sync_role().await.unwrap_err().to_string();
        assert!(e.contains("wrong shape"), "{e}");
    }

    #[tokio::test]
    async fn a_leader_writes_its_whole_state_again_when_the_store_lost_its_records() {
        let mut held = Durable::empty();
        held.connectors.insert("inv".into(), record());
        let store = Shared {
            mem: MemStore::with(held),
            role: Arc::new(watch::channel(Role::Leader).0),
            ..Shared::default()
        };
        let mut a = agent(store.clone()).await;
        a.sync_role().await.unwrap();
        a.process(listing(), 2_000).await.unwrap();
        assert!(store
            .mem
            .load()
            .await
            .unwrap()
            .connectors
            .contains_key("inv"));

        // The topic lost everything (recreated, a broker that lost its data); still leading.
        *store.mem.inner.lock().unwrap() = Durable::empty();
        store.lost.store(1, Ordering::SeqCst);
        a.sync_role().await.unwrap();
        a.process(listing(), 3_000).await.unwrap();
        assert!(
            store
                .mem
                .load()
                .await
                .unwrap()
                .connectors
                .contains_key("inv"),
            "the hold record is written again"
        );
    }

    #[tokio::test]
    async fn a_write_ahead_the_store_refuses_is_followed_by_no_action_and_no_exit() {
        let sim = cdc_sentinel_sim::SimConnect::start(Default::default())
            .await
            .unwrap();
        sim.add_connector(cdc_sentinel_sim::ConnectorSpec::postgres("inv", None));
        sim.fail_task(
            "inv",
            0,
            "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: java.net.ConnectException: Connection refused",
        );
        let store = Shared {
            role: Arc::new(watch::channel(Role::Leader).0),
            ..Shared::default()
        };
        let mut a = agent_on(store.clone(), &sim.url()).await;
        a.sync_role().await.unwrap();
        store.refuse.store(true, Ordering::SeqCst);
        let list = a.client.list().await.unwrap();
        a.process(list, 2_000)
            .await
            .expect("not fatal: the agent carries on");
        let sent = sim.requests().iter().filter(|r| r.method != "GET").count();
        assert_eq!(
            sent, 0,
            "the pause was not written ahead, so it is not sent"
        );
        assert!(a.state.connectors.is_empty(), "nothing decided is kept");

        store.refuse.store(false, Ordering::SeqCst);
        let list = a.client.list().await.unwrap();
        a.process(list, 3_000).await.unwrap();
        assert_eq!(
            sim.target_state("inv").as_deref(),
            Some("PAUSED"),
            "written, then sent"
        );
    }
}
