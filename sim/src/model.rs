//! The simulated worker's state and the rules that move it: connectors, tasks, target
//! states, delayed effects, database-driven task failures and committed offsets.
//!
//! No I/O and no clock reads: callers pass `now` and the database reachability, so every
//! rule can be followed by reading this file. `http` and the ticker call it under one mutex.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::db::{self, DbKey, Reach};
use super::trace;
use super::{ConnectorSpec, Fault, Flow, Recorded, RetryMode, Route};

/// How many requests are remembered.
const MAX_RECORDED: usize = 100_000;

/// Connector or task state as written to the status topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Unassigned,
    Running,
    Paused,
    Failed,
    Restarting,
    Stopped,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
            State::Stopped => "STOPPED",
        }
    }
}

/// Target state as stored in the config topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Started,
    Paused,
    Stopped,
}

impl Target {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Target::Started => "STARTED",
            Target::Paused => "PAUSED",
            Target::Stopped => "STOPPED",
        }
    }

    /// The state an item (re)started under this target comes up in.
    fn up_state(self) -> State {
        match self {
            Target::Started => State::Running,
            Target::Paused => State::Paused,
            Target::Stopped => State::Stopped,
        }
    }
}

/// Delays that shape the asynchronous behaviour.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub effect_delay: Duration,
    pub stopped_tasks_linger: Duration,
    pub retry_wait: Duration,
    /// `offset.flush.interval.ms`: how often processed positions become committed offsets
    /// (zero: at every tick).
    pub offset_flush: Duration,
}

/// One task of a connector.
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: u32,
    pub state: State,
    pub trace: Option<String>,
    /// Holds a working database session (data can flow).
    connected: bool,
    /// When a task without a session next tries to open one.
    next_attempt: Instant,
    /// The session broke while the task was paused; Debezium raises it on the first poll
    /// after resume.
    pending_error: bool,
}

impl Task {
    fn new(id: u32, state: State, now: Instant) -> Task {
        Task {
            id,
            state,
            trace: None,
            connected: false,
            next_attempt: now,
            pending_error: false,
        }
    }

    /// A fresh start of the task instance under `target`.
    fn restart(&mut self, target: Target, now: Instant) {
        *self = Task::new(self.id, target.up_state(), now);
    }
}

/// One connector, its tasks and its committed offsets.
#[derive(Clone, Debug)]
pub(crate) struct Connector {
    uid: u64,
    pub spec: ConnectorSpec,
    pub target: Target,
    pub state: State,
    pub trace: Option<String>,
    /// Sorted by id.
    pub tasks: Vec<Task>,
    /// Changes whenever the task set is replaced, so stale effects are ignored.
    tasks_gen: u64,
    /// The tasks are leftovers of a stop (their configs are gone, the records linger).
    tasks_stopped: bool,
    /// Committed offset counter (what `GET /offsets` shows).
    pub offset: u64,
    /// Processed position counter: committed at the next offset flush, lost (replayed from
    /// `offset`) when the tasks restart before that.
    pub processed: u64,
    /// Whether changes arrive ([`Flow`]).
    pub flow: Flow,
    /// The database the tasks use (`None`: always reachable).
    db: Option<DbKey>,
    /// What the last failed attempt to reach it got (shapes the failure trace).
    last_down: Reach,
}

impl Connector {
    pub(crate) fn kind(&self) -> &'static str {
        if self.spec.class.is_empty() {
            "unknown"
        } else if self.spec.class.contains("Sink") {
            "sink"
        } else {
            "source"
        }
    }

    fn fresh_tasks(&mut self, now: Instant) {
        // New task instances start from the committed offsets.
        self.processed = self.offset;
        let state = self.target.up_state();
        self.tasks = (0..self.spec.tasks)
            .map(|id| Task::new(id, state, now))
            .collect();
        self.tasks_gen += 1;
        self.tasks_stopped = false;
    }

    fn failure_trace(&self) -> String {
        trace::producer_failure(&self.spec.class, self.spec.db, self.last_down)
    }

    /// Task ids that have task configs (what `/tasks` and `info` list).
    pub(crate) fn configured_tasks(&self) -> Vec<u32> {
        if self.target == Target::Stopped || self.tasks_stopped {
            Vec::new()
        } else {
            self.tasks.iter().map(|t| t.id).collect()
        }
    }

    /// Debezium's heartbeats commit a moving position while no change arrives: `heartbeat.
    /// interval.ms` > 0 and, but for Oracle (whose SCN moves by itself), `heartbeat.action.
    /// query` (on a quiet PostgreSQL the heartbeat repeats the same LSN, as seen on 3.6.3).
    fn heartbeats_move(&self) -> bool {
        let cfg = self.config();
        let beats = cfg
            .get("heartbeat.interval.ms")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|ms| ms > 0);
        let query = cfg
            .get("heartbeat.action.query")
            .is_some_and(|q| !q.trim().is_empty());
        beats && (query || self.spec.class.to_ascii_lowercase().contains("oracle"))
    }

    /// The config as the REST API returns it.
    pub(crate) fn config(&self) -> &BTreeMap<String, String> {
        &self.spec.config
    }
}

#[derive(Clone, Debug)]
enum Effect {
    /// The worker's config listener applies the current target state.
    ApplyTarget,
    /// The leader deletes the status records of a stopped connector's tasks.
    RemoveStoppedTasks { tasks_gen: u64 },
    /// A restart request is being processed: selected items show RESTARTING.
    MarkRestarting {
        connector: bool,
        tasks: Vec<u32>,
        tasks_gen: u64,
    },
    /// The selected items start again in the current target state.
    Restart {
        connector: bool,
        tasks: Vec<u32>,
        tasks_gen: u64,
    },
}

#[derive(Clone, Debug)]
struct Pending {
    uid: u64,
    name: String,
    effect: Effect,
}

/// Which items a restart request selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RestartPlan {
    pub connector: bool,
    pub tasks: Vec<u32>,
}

/// The whole worker.
#[derive(Debug)]
pub(crate) struct Model {
    pub connectors: BTreeMap<String, Connector>,
    pending: BTreeMap<(Instant, u64), Pending>,
    next_uid: u64,
    next_seq: u64,
    timing: Timing,
    pub worker_id: String,
    pub rebalance_until: Option<Instant>,
    /// The worker process is restarting until then: REST answers, but it knows no connector.
    pub starting_until: Option<Instant>,
    rebalance_hits: u64,
    pub faults: Vec<(Route, Fault, usize)>,
    pub requests: VecDeque<Recorded>,
    /// When offsets were last flushed.
    last_flush: Option<Instant>,
}

impl Model {
    pub(crate) fn new(timing: Timing, worker_id: String) -> Model {
        Model {
            connectors: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_uid: 1,
            next_seq: 0,
            timing,
            worker_id,
            rebalance_until: None,
            starting_until: None,
            rebalance_hits: 0,
            faults: Vec::new(),
            requests: VecDeque::new(),
            last_flush: None,
        }
    }

    fn schedule(&mut self, at: Instant, name: &str, effect: Effect) {
        let uid = match self.connectors.get(name) {
            Some(c) => c.uid,
            None => return,
        };
        self.next_seq += 1;
        self.pending.insert(
            (at, self.next_seq),
            Pending {
                uid,
                name: name.to_string(),
                effect,
            },
        );
    }

    /// Applies every delayed effect due at `now`.
    pub(crate) fn settle(&mut self, now: Instant) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let at = entry.key().0;
            let p = entry.remove();
            self.apply(at, p);
        }
    }

    fn apply(&mut self, at: Instant, p: Pending) {
        let timing = self.timing;
        let Some(c) = self.connectors.get_mut(&p.name) else {
            return;
        };
        if c.uid != p.uid {
            return;
        }
        match p.effect {
            Effect::ApplyTarget => {
                if let Some(gen) = apply_target(c, at, timing.retry_wait) {
                    let when = at + timing.stopped_tasks_linger;
                    self.schedule(when, &p.name, Effect::RemoveStoppedTasks { tasks_gen: gen });
                }
            }
            Effect::RemoveStoppedTasks { tasks_gen } => {
                if c.tasks_stopped && c.tasks_gen == tasks_gen {
                    c.tasks.clear();
                    c.tasks_stopped = false;
                    c.tasks_gen += 1;
                }
            }
            Effect::MarkRestarting {
                connector,
                tasks,
                tasks_gen,
            } => {
                if connector {
                    c.state = State::Restarting;
                    c.trace = None;
                }
                if c.tasks_gen == tasks_gen && !c.tasks_stopped {
                    for t in c.tasks.iter_mut().filter(|t| tasks.contains(&t.id)) {
                        t.state = State::Restarting;
                        t.trace = None;
                        t.connected = false;
                    }
                }
            }
            Effect::Restart {
                connector,
                tasks,
                tasks_gen,
            } => {
                if c.tasks_gen == tasks_gen && !c.tasks_stopped && c.target != Target::Stopped {
                    for t in c.tasks.iter_mut().filter(|t| tasks.contains(&t.id)) {
                        t.restart(c.target, at);
                    }
                    if !tasks.is_empty() {
                        c.processed = c.offset;
                    }
                }
                if connector {
                    c.state = c.target.up_state();
                    c.trace = None;
                    if c.target == Target::Started && c.tasks.is_empty() && !c.tasks_stopped {
                        c.fresh_tasks(at);
                    }
                }
            }
        }
    }

    /// Creates or replaces a connector, RUNNING with its tasks RUNNING.
    pub(crate) fn add_connector(&mut self, mut spec: ConnectorSpec, now: Instant) {
        enrich_config(&mut spec);
        let db = db::key_for(&spec);
        let uid = self.next_uid;
        self.next_uid += 1;
        let mut c = Connector {
            uid,
            spec,
            target: Target::Started,
            state: State::Running,
            trace: None,
            tasks: Vec::new(),
            tasks_gen: 0,
            tasks_stopped: false,
            offset: 0,
            processed: 0,
            flow: Flow::Busy,
            db,
            last_down: Reach::Unreachable,
        };
        c.fresh_tasks(now);
        self.connectors.insert(c.spec.name.clone(), c);
    }

    pub(crate) fn delete_connector(&mut self, name: &str) -> bool {
        self.connectors.remove(name).is_some()
    }

    pub(crate) fn fail_task(&mut self, name: &str, task: u32, trace: &str) {
        if let Some(t) = self
            .connectors
            .get_mut(name)
            .and_then(|c| c.tasks.iter_mut().find(|t| t.id == task))
        {
            t.state = State::Failed;
            t.trace = Some(trace.to_string());
            t.connected = false;
            t.pending_error = false;
        }
    }

    pub(crate) fn fail_connector(&mut self, name: &str, trace: &str) {
        if let Some(c) = self.connectors.get_mut(name) {
            c.state = State::Failed;
            c.trace = Some(trace.to_string());
        }
    }

    pub(crate) fn restart_worker(&mut self, now: Instant) {
        self.pending
            .retain(|_, p| matches!(p.effect, Effect::RemoveStoppedTasks { .. }));
        for c in self.connectors.values_mut() {
            c.state = c.target.up_state();
            c.trace = None;
            if c.target == Target::Stopped {
                if !c.tasks_stopped {
                    c.tasks.clear();
                    c.tasks_gen += 1;
                }
            } else if c.tasks_stopped || (c.tasks.is_empty() && c.target == Target::Started) {
                c.fresh_tasks(now);
            } else {
                for t in c.tasks.iter_mut() {
                    t.restart(c.target, now);
                }
                c.processed = c.offset;
            }
        }
    }

    /// Records a PUT pause/resume: writes the target state; if it changed, the status follows
    /// after `effect_delay`. Returns false for an unknown connector.
    pub(crate) fn set_target(&mut self, name: &str, target: Target, now: Instant) -> bool {
        let Some(c) = self.connectors.get_mut(name) else {
            return false;
        };
        if c.target != target {
            c.target = target;
            let at = now + self.timing.effect_delay;
            self.schedule(at, name, Effect::ApplyTarget);
        }
        true
    }

    /// Which items a restart request selects [RQ]; `None` for an unknown connector.
    pub(crate) fn restart_plan(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Option<RestartPlan> {
        let c = self.connectors.get(name)?;
        Some(RestartPlan {
            connector: !only_failed || c.state == State::Failed,
            tasks: if include_tasks {
                c.tasks
                    .iter()
                    .filter(|t| !only_failed || t.state == State::Failed)
                    .map(|t| t.id)
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Queues a restart: RESTARTING shows after a third of `effect_delay` (until then the
    /// status is unchanged), the items come up in the target state after `effect_delay`.
    pub(crate) fn request_restart(&mut self, name: &str, plan: &RestartPlan, now: Instant) {
        let Some(c) = self.connectors.get(name) else {
            return;
        };
        if !plan.connector && plan.tasks.is_empty() {
            return;
        }
        let tasks_gen = c.tasks_gen;
        let d = self.timing.effect_delay;
        self.schedule(
            now + d / 3,
            name,
            Effect::MarkRestarting {
                connector: plan.connector,
                tasks: plan.tasks.clone(),
                tasks_gen,
            },
        );
        self.schedule(
            now + d,
            name,
            Effect::Restart {
                connector: plan.connector,
                tasks: plan.tasks.clone(),
                tasks_gen,
            },
        );
    }

    /// A plain connector restart or a task restart: no RESTARTING, the item is simply started
    /// again after `effect_delay`.
    pub(crate) fn request_plain_restart(&mut self, name: &str, plan: &RestartPlan, now: Instant) {
        let Some(c) = self.connectors.get(name) else {
            return;
        };
        let effect = Effect::Restart {
            connector: plan.connector,
            tasks: plan.tasks.clone(),
            tasks_gen: c.tasks_gen,
        };
        let at = now + self.timing.effect_delay;
        self.schedule(at, name, effect);
    }

    /// True while the worker is starting. When the window has passed, the worker finishes
    /// starting once: every connector and task starts afresh in its target state.
    pub(crate) fn starting(&mut self, now: Instant) -> bool {
        match self.starting_until {
            Some(u) if now < u => true,
            Some(_) => {
                self.starting_until = None;
                self.restart_worker(now);
                false
            }
            None => false,
        }
    }

    /// True while a rebalance window is open.
    pub(crate) fn rebalancing(&self, now: Instant) -> bool {
        self.rebalance_until.is_some_and(|u| now < u)
    }

    /// The 409 message for a forwarded request during a rebalance (the two real ones, in turn).
    pub(crate) fn rebalance_conflict_message(&mut self) -> &'static str {
        self.rebalance_hits += 1;
        if self.rebalance_hits % 2 == 1 {
            "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
        } else {
            "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)"
        }
    }

    /// Takes one use of the first injected fault matching `route`.
    pub(crate) fn take_fault(&mut self, routes: &[Route]) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|(r, _, n)| *n > 0 && (*r == Route::Any || routes.contains(r)))?;
        let fault = self.faults[i].1.clone();
        self.faults[i].2 -= 1;
        if self.faults[i].2 == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    pub(crate) fn record(&mut self, r: Recorded) {
        if self.requests.len() >= MAX_RECORDED {
            self.requests.pop_front();
        }
        self.requests.push_back(r);
    }

    /// Distinct databases the tasks use.
    pub(crate) fn db_keys(&self) -> Vec<DbKey> {
        let set: HashSet<&DbKey> = self
            .connectors
            .values()
            .filter_map(|c| c.db.as_ref())
            .collect();
        set.into_iter().cloned().collect()
    }

    /// One tick: due effects, then every task touches its database, then the processed
    /// position of flowing connectors advances (busy, or quiet with moving heartbeats), and
    /// every `offset_flush` the positions of RUNNING or PAUSED tasks are committed (a paused
    /// task keeps committing). `db_reach` lacks a database that was not checked this tick;
    /// such connectors are left alone.
    pub(crate) fn tick(&mut self, now: Instant, db_reach: &HashMap<DbKey, Reach>) {
        if self.starting(now) {
            // No task runs while the worker starts.
            return;
        }
        self.settle(now);
        let retry_wait = self.timing.retry_wait;
        let flush = match self.last_flush {
            Some(at) => now.saturating_duration_since(at) >= self.timing.offset_flush,
            None => true,
        };
        if flush {
            self.last_flush = Some(now);
        }
        for c in self.connectors.values_mut() {
            let up = match &c.db {
                None => true,
                Some(k) => match db_reach.get(k) {
                    Some(r) => {
                        if !r.is_up() {
                            c.last_down = *r;
                        }
                        r.is_up()
                    }
                    None => continue,
                },
            };
            let mut flowing = false;
            let mut trace: Option<String> = None;
            for i in 0..c.tasks.len() {
                let t = &c.tasks[i];
                match t.state {
                    State::Running => {
                        if t.connected && !up {
                            match c.spec.retry {
                                RetryMode::FailFast => {
                                    let tr = trace.get_or_insert_with(|| c.failure_trace()).clone();
                                    let t = &mut c.tasks[i];
                                    t.state = State::Failed;
                                    t.trace = Some(tr);
                                    t.connected = false;
                                }
                                RetryMode::Unlimited => {
                                    let t = &mut c.tasks[i];
                                    t.connected = false;
                                    t.next_attempt = now + retry_wait;
                                }
                            }
                        } else if !t.connected && now >= t.next_attempt {
                            let t = &mut c.tasks[i];
                            if up {
                                t.connected = true;
                            } else {
                                // Start-time failures are retried whatever errors.max.retries says.
                                t.next_attempt = now + retry_wait;
                            }
                        }
                        let t = &c.tasks[i];
                        flowing |= t.state == State::Running && t.connected && up;
                    }
                    State::Paused if t.connected && !up => c.tasks[i].pending_error = true,
                    _ => {}
                }
            }
            let moves = match c.flow {
                Flow::Busy => true,
                Flow::Idle => c.heartbeats_move(),
                Flow::Stalled => false,
            };
            if flowing && c.state == State::Running && moves {
                c.processed += 1;
            }
            let committing = c
                .tasks
                .iter()
                .any(|t| matches!(t.state, State::Running | State::Paused));
            if flush && committing {
                c.offset = c.offset.max(c.processed);
            }
        }
    }

    /// Sets how changes arrive for a connector; false for an unknown connector.
    pub(crate) fn set_flow(&mut self, name: &str, flow: Flow) -> bool {
        match self.connectors.get_mut(name) {
            Some(c) => {
                c.flow = flow;
                true
            }
            None => false,
        }
    }

    // ---- JSON views (shapes from the Connect REST entities) ----

    /// ConnectorStateInfo; `restarting` marks the items of a restart plan.
    pub(crate) fn status_json(&self, c: &Connector, restarting: Option<&RestartPlan>) -> Value {
        let conn_restarting = restarting.is_some_and(|p| p.connector);
        let connector = if conn_restarting {
            state_json(State::Restarting, None, &self.worker_id, None)
        } else {
            state_json(c.state, c.trace.as_deref(), &self.worker_id, None)
        };
        let tasks: Vec<Value> = c
            .tasks
            .iter()
            .map(|t| {
                if restarting.is_some_and(|p| p.tasks.contains(&t.id)) {
                    state_json(State::Restarting, None, &self.worker_id, Some(t.id))
                } else {
                    state_json(t.state, t.trace.as_deref(), &self.worker_id, Some(t.id))
                }
            })
            .collect();
        json!({
            "name": c.spec.name,
            "connector": connector,
            "tasks": tasks,
            "type": c.kind(),
        })
    }

    /// One task's state object, as `/tasks/{id}/status` returns it.
    pub(crate) fn task_status_json(&self, t: &Task) -> Value {
        state_json(t.state, t.trace.as_deref(), &self.worker_id, Some(t.id))
    }

    /// ConnectorInfo.
    pub(crate) fn info_json(&self, c: &Connector) -> Value {
        let tasks: Vec<Value> = c
            .configured_tasks()
            .into_iter()
            .map(|id| json!({"connector": c.spec.name, "task": id}))
            .collect();
        json!({
            "name": c.spec.name,
            "config": c.config(),
            "tasks": tasks,
            "type": c.kind(),
        })
    }

    /// TaskInfo list.
    pub(crate) fn tasks_json(&self, c: &Connector) -> Value {
        let task_class = format!("{}Task", c.spec.class);
        let list: Vec<Value> = c
            .configured_tasks()
            .into_iter()
            .map(|id| {
                let mut config: Map<String, Value> = c
                    .config()
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                config.insert("task.class".into(), Value::String(task_class.clone()));
                json!({"id": {"connector": c.spec.name, "task": id}, "config": config})
            })
            .collect();
        Value::Array(list)
    }

    /// ConnectorOffsets: the committed offsets, Debezium-shaped; empty before the first commit.
    pub(crate) fn offsets_json(&self, c: &Connector) -> Value {
        if c.offset == 0 {
            return json!({"offsets": []});
        }
        let server = c
            .config()
            .get("topic.prefix")
            .cloned()
            .unwrap_or_else(|| c.spec.name.clone());
        let class = c.spec.class.to_ascii_lowercase();
        let n = c.offset;
        // Shapes as Debezium 3.x commits them (kafka-connect-rest.md sections 9 and 10; the
        // PostgreSQL one as a real 3.9 worker with Debezium 3.6.3 returned it).
        let offset = if class.contains("oracle") {
            // `scn` (where mining restarts) trails the last commit by an open transaction.
            let commit = 2_400_000 + n * 7;
            json!({
                "scn": (commit - 3).to_string(),
                "commit_scn": format!("{commit}:1:0a001b00{n:08x}"),
                "snapshot_scn": "2399990",
                "txId": format!("0a001b00{n:08x}"),
            })
        } else if class.contains("postgres") {
            let lsn = 24_000_000 + n * 56;
            json!({
                "lsn_proc": lsn,
                "messageType": "INSERT",
                "lsn_commit": lsn - 24,
                "lsn": lsn,
                "txId": 750 + n,
                "ts_usec": 1_700_000_000_000_000u64 + n * 50_000,
            })
        } else if class.contains("mysql") || class.contains("mariadb") {
            // A new binlog file every 1,000 commits.
            json!({
                "transaction_id": null,
                "ts_sec": 1_700_000_000u64 + n,
                "file": format!("mysql-bin.{:06}", 3 + n / 1000),
                "pos": 154 + (n % 1000) * 300,
                "gtids": format!("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-{n}"),
                "row": 1,
                "server_id": 223344,
                "event": 2,
            })
        } else {
            json!({"position": n})
        };
        json!({"offsets": [{"partition": {"server": server}, "offset": offset}]})
    }

    /// DELETE /offsets: forgets the committed offsets of a stopped connector.
    pub(crate) fn reset_offsets(&mut self, name: &str) {
        if let Some(c) = self.connectors.get_mut(name) {
            c.offset = 0;
            c.processed = 0;
        }
    }

    /// PATCH/DELETE /offsets precondition: STOPPED (target and state) with zero tasks.
    pub(crate) fn offsets_modifiable(&self, c: &Connector) -> bool {
        c.target == Target::Stopped && c.state == State::Stopped && c.tasks.is_empty()
    }
}

fn state_json(state: State, trace: Option<&str>, worker: &str, id: Option<u32>) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    m.insert("state".into(), json!(state.as_str()));
    m.insert("worker_id".into(), json!(worker));
    if let Some(tr) = trace.filter(|t| !t.is_empty()) {
        m.insert("trace".into(), json!(tr));
    }
    Value::Object(m)
}

/// Makes the target state visible on the connector and its tasks (a worker's config listener
/// calling `Worker.setTargetState`). Returns the task generation to delete after the linger
/// when this was a stop.
fn apply_target(c: &mut Connector, now: Instant, retry_wait: Duration) -> Option<u64> {
    match c.target {
        Target::Started | Target::Paused => {
            let target = c.target;
            // A FAILED connector refuses PAUSED and STARTED.
            if c.state != State::Failed && c.state != State::Restarting {
                c.state = target.up_state();
                c.trace = None;
            }
            if target == Target::Paused && c.tasks_stopped {
                // Pause from STOPPED: PAUSED with zero tasks.
                c.tasks.clear();
                c.tasks_stopped = false;
                c.tasks_gen += 1;
            }
            if target == Target::Started
                && (c.tasks_stopped || c.tasks.is_empty())
                && c.state == State::Running
            {
                // Resume from STOPPED (or from PAUSED with zero tasks): fresh tasks that reload
                // the committed offsets.
                c.fresh_tasks(now);
                return None;
            }
            let failure = c.failure_trace();
            let retry = c.spec.retry;
            for t in c.tasks.iter_mut() {
                match (target, t.state) {
                    (Target::Paused, State::Running) => t.state = State::Paused,
                    (Target::Started, State::Paused) => {
                        t.state = State::Running;
                        if t.pending_error {
                            t.pending_error = false;
                            t.connected = false;
                            match retry {
                                RetryMode::FailFast => {
                                    t.state = State::Failed;
                                    t.trace = Some(failure.clone());
                                }
                                // Retriable: Debezium restarts its coordinator later.
                                RetryMode::Unlimited => t.next_attempt = now + retry_wait,
                            }
                        }
                    }
                    // FAILED tasks ignore target changes; RESTARTING ones start in the
                    // target state when their restart completes.
                    _ => {}
                }
            }
            None
        }
        Target::Stopped => {
            // Stopping calls task.stop(), which commits.
            if c.tasks.iter().any(|t| t.state != State::Failed) {
                c.offset = c.offset.max(c.processed);
            }
            c.state = State::Stopped;
            c.trace = None;
            if c.tasks_stopped || c.tasks.is_empty() {
                return None;
            }
            for t in c.tasks.iter_mut() {
                t.connected = false;
                t.pending_error = false;
                if t.state != State::Failed {
                    t.state = State::Unassigned;
                }
            }
            c.tasks_stopped = true;
            c.tasks_gen += 1;
            Some(c.tasks_gen)
        }
    }
}

/// Adds the keys a real worker's stored config would have.
fn enrich_config(spec: &mut ConnectorSpec) {
    let cfg = &mut spec.config;
    cfg.insert("name".into(), spec.name.clone());
    cfg.entry("connector.class".into())
        .or_insert_with(|| spec.class.clone());
    cfg.entry("tasks.max".into())
        .or_insert_with(|| spec.tasks.to_string());
    if spec.retry == RetryMode::FailFast {
        cfg.entry("errors.max.retries".into())
            .or_insert_with(|| "0".into());
    }
    if let Some(db) = spec.db {
        if !cfg.contains_key("database.hostname") && !cfg.contains_key("database.url") {
            cfg.insert("database.hostname".into(), db.ip().to_string());
            cfg.insert("database.port".into(), db.port().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn timing() -> Timing {
        Timing {
            effect_delay: Duration::from_millis(100),
            stopped_tasks_linger: Duration::from_millis(300),
            retry_wait: Duration::from_millis(500),
            offset_flush: Duration::ZERO,
        }
    }

    fn model_with(retry: RetryMode, db: SocketAddr) -> (Model, Instant) {
        let now = Instant::now();
        let mut m = Model::new(timing(), "127.0.0.1:8083".into());
        m.add_connector(
            ConnectorSpec::postgres("pg", Some(db)).with_retry(retry),
            now,
        );
        (m, now)
    }

    fn up(db: SocketAddr, v: bool) -> HashMap<DbKey, Reach> {
        let key = DbKey {
            addr: db,
            oracle: None,
        };
        HashMap::from([(key, if v { Reach::Up } else { Reach::Unreachable })])
    }

    #[test]
    fn failfast_fails_only_after_being_connected() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let (mut m, t0) = model_with(RetryMode::FailFast, db);
        // Started while the database is down: RUNNING, nothing flows, no failure.
        m.tick(t0, &up(db, false));
        assert_eq!(m.connectors["pg"].tasks[0].state, State::Running);
        assert_eq!(m.connectors["pg"].offset, 0);
        // Database back, but the next attempt is only after retry_wait.
        m.tick(t0 + Duration::from_millis(100), &up(db, true));
        assert_eq!(m.connectors["pg"].offset, 0);
        m.tick(t0 + Duration::from_millis(600), &up(db, true));
        assert_eq!(m.connectors["pg"].offset, 1);
        m.tick(t0 + Duration::from_millis(650), &up(db, false));
        let t = &m.connectors["pg"].tasks[0];
        assert_eq!(t.state, State::Failed);
        assert!(t.trace.as_deref().unwrap().contains("PSQLException"));
    }

    #[test]
    fn paused_failfast_task_that_lost_its_session_fails_on_resume() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let (mut m, t0) = model_with(RetryMode::FailFast, db);
        m.tick(t0, &up(db, true));
        m.set_target("pg", Target::Paused, t0);
        m.settle(t0 + Duration::from_millis(100));
        assert_eq!(m.connectors["pg"].tasks[0].state, State::Paused);
        m.tick(t0 + Duration::from_millis(150), &up(db, false));
        m.tick(t0 + Duration::from_millis(200), &up(db, true));
        assert_eq!(m.connectors["pg"].tasks[0].state, State::Paused);
        m.set_target("pg", Target::Started, t0 + Duration::from_millis(200));
        m.settle(t0 + Duration::from_millis(300));
        assert_eq!(m.connectors["pg"].tasks[0].state, State::Failed);
    }

    #[test]
    fn paused_unlimited_task_that_lost_its_session_reconnects_after_resume() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let (mut m, t0) = model_with(RetryMode::Unlimited, db);
        let ms = |n| t0 + Duration::from_millis(n);
        m.tick(t0, &up(db, true));
        m.set_target("pg", Target::Paused, t0);
        m.tick(ms(100), &up(db, false));
        m.tick(ms(150), &up(db, true));
        m.set_target("pg", Target::Started, ms(150));
        m.tick(ms(250), &up(db, true));
        assert_eq!(m.connectors["pg"].tasks[0].state, State::Running);
        let before = m.connectors["pg"].offset;
        m.tick(ms(700), &up(db, true));
        assert_eq!(
            m.connectors["pg"].offset, before,
            "waits retry_wait after the error"
        );
        m.tick(ms(800), &up(db, true));
        assert_eq!(m.connectors["pg"].offset, before + 1);
    }

    #[test]
    fn offsets_are_committed_every_flush_and_lost_progress_is_replayed() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let mut t = timing();
        t.offset_flush = Duration::from_millis(1000);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut m = Model::new(t, "w".into());
        m.add_connector(ConnectorSpec::postgres("pg", Some(db)), t0);
        m.tick(ms(0), &up(db, true)); // connects, processes 1, flushes
        for n in 1..=9 {
            m.tick(ms(n * 100), &up(db, true));
        }
        let c = &m.connectors["pg"];
        assert_eq!(
            (c.processed, c.offset),
            (10, 1),
            "processed, not yet committed"
        );
        m.tick(ms(1000), &up(db, true));
        assert_eq!(m.connectors["pg"].offset, 11, "committed at the flush");
        m.tick(ms(1100), &up(db, true));
        // A restart before the next flush replays from the committed offset.
        m.request_plain_restart(
            "pg",
            &RestartPlan {
                connector: false,
                tasks: vec![0],
            },
            ms(1100),
        );
        m.settle(ms(1200));
        assert_eq!(m.connectors["pg"].processed, 11);
        // A paused task keeps committing what it processed; stop commits at once.
        m.tick(ms(1300), &up(db, true));
        m.tick(ms(1400), &up(db, true));
        m.set_target("pg", Target::Paused, ms(1400));
        m.settle(ms(1500));
        let before = m.connectors["pg"].processed;
        m.tick(ms(2000), &up(db, true));
        assert_eq!(m.connectors["pg"].offset, before, "flushed while paused");
        assert_eq!(m.connectors["pg"].processed, before, "nothing processed");
    }

    #[test]
    fn stalled_and_quiet_connectors_stand_still_unless_heartbeats_move_them() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut m = Model::new(timing(), "w".into());
        m.add_connector(ConnectorSpec::postgres("busy", Some(db)), t0);
        m.add_connector(ConnectorSpec::postgres("stuck", Some(db)), t0);
        m.add_connector(
            ConnectorSpec::postgres("quiet-pg", Some(db))
                .with_config("heartbeat.interval.ms", "1000"),
            t0,
        );
        m.add_connector(
            ConnectorSpec::postgres("quiet-pg-query", Some(db))
                .with_config("heartbeat.interval.ms", "1000")
                .with_config("heartbeat.action.query", "SELECT 1"),
            t0,
        );
        m.add_connector(
            ConnectorSpec::oracle("quiet-ora", Some(db))
                .with_db_check(crate::DbCheck::Tcp)
                .with_config("heartbeat.interval.ms", "1000"),
            t0,
        );
        assert!(m.set_flow("stuck", Flow::Stalled));
        for n in ["quiet-pg", "quiet-pg-query", "quiet-ora"] {
            assert!(m.set_flow(n, Flow::Idle));
        }
        assert!(!m.set_flow("nope", Flow::Idle));
        for n in 0..5 {
            m.tick(ms(n * 100), &up(db, true));
        }
        let off = |m: &Model, n: &str| m.connectors[n].offset;
        assert_eq!(off(&m, "busy"), 5);
        assert_eq!(off(&m, "stuck"), 0);
        assert_eq!(m.connectors["stuck"].tasks[0].state, State::Running);
        assert_eq!(off(&m, "quiet-pg"), 0, "a heartbeat repeats the same LSN");
        assert_eq!(off(&m, "quiet-pg-query"), 5);
        assert_eq!(off(&m, "quiet-ora"), 5, "the SCN moves by itself");
        m.set_flow("stuck", Flow::Busy);
        m.tick(ms(500), &up(db, true));
        assert_eq!(off(&m, "stuck"), 1);
    }

    #[test]
    fn restart_selection_follows_restart_request_rules() {
        let db: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let (mut m, _) = model_with(RetryMode::FailFast, db);
        m.connectors.get_mut("pg").unwrap().spec.tasks = 2;
        let now = Instant::now();
        m.connectors.get_mut("pg").unwrap().fresh_tasks(now);
        m.fail_task("pg", 1, "boom");
        let p = |m: &Model, i, o| m.restart_plan("pg", i, o).unwrap();
        assert_eq!(
            p(&m, false, false),
            RestartPlan {
                connector: true,
                tasks: vec![]
            }
        );
        assert_eq!(
            p(&m, true, true),
            RestartPlan {
                connector: false,
                tasks: vec![1]
            }
        );
        assert_eq!(
            p(&m, true, false),
            RestartPlan {
                connector: true,
                tasks: vec![0, 1]
            }
        );
        assert_eq!(
            p(&m, false, true),
            RestartPlan {
                connector: false,
                tasks: vec![]
            }
        );
    }
}
