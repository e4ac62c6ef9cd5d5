//! An embedded, simulated Kafka Connect 3.9 worker (distributed-mode semantics) running
//! Debezium-like source tasks, served over real HTTP/1.1 on 127.0.0.1.
//!
//! Used by `cdc-sentinel demo`, by the agent's integration tests, and as the `cdc-sentinel-sim`
//! binary by the shell-driven suites. It follows
//! `docs/kafka-connect-rest.md` and what a real 3.9 worker was seen doing
//! (`docs/real-kafka-connect.md`), and is deliberately never kinder than the real thing:
//!
//! - pause/resume answer 202 and take effect `effect_delay` later; stop answers 204 and the
//!   tasks linger as UNASSIGNED before `"tasks":[]`;
//! - a FAILED task stays FAILED through pause and resume; a FAILED connector refuses PAUSED and
//!   STARTED (only STOPPED is accepted);
//! - a restart with `includeTasks`/`onlyFailed` answers 202 with the plan, the status keeps its
//!   old value for a while, then shows RESTARTING, then the current target state;
//! - a restart while the database is down reads RUNNING while nothing flows;
//! - with [`RetryMode::Unlimited`] (Debezium's default) a database outage never shows in
//!   `/status`; with [`RetryMode::FailFast`] the task goes FAILED within one tick;
//! - a FailFast task whose database connection broke while it was paused goes FAILED on
//!   resume (Debezium raises the error on the first poll after resume).
//!
//! Tasks "touch" their database every `tick` ([`DbCheck`]). Most classes hold one long-lived
//! TCP connection per distinct database address: the database is down when that connection is
//! reset or closed and a new connect attempt fails, so such a test database is a `TcpListener`
//! that the test binds and later drops (it need not accept; connections it accepted must be
//! closed too). Oracle tasks log on through the listener as the JDBC driver does: a TNS CONNECT
//! for the connector's service, up only on ACCEPT, so a listener whose instance is down (REFUSE
//! ORA-12514) is down for them, and their trace says so. Their test database is a
//! [`standin::StandinDb`] (which can also lose its instance while its listener stays up).
//!
//! Layout: `model` holds the worker state and its rules (no I/O), `http` answers REST
//! requests, `db` checks database reachability, `trace` writes Debezium-like stack traces,
//! [`k8s`] is a fake Kubernetes API server serving Strimzi's `KafkaConnector`s, with a fake
//! Cluster Operator that drives this worker's connectors to their `spec.state`.

mod db;
mod http;
pub mod k8s;
mod model;
pub mod standin;
pub mod tansu;
pub mod tns;
pub mod trace;
mod workers;

pub use db::Reach;

use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use model::Model;

/// How the simulated worker is configured.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Kafka Connect version reported by `GET /` and used to gate routes: `PUT /stop` and
    /// `GET /offsets` need 3.5+, `PATCH`/`DELETE /offsets` 3.6+, `GET /health` 3.9+.
    pub version: String,
    /// Basic-auth user and password; `None` disables authentication.
    pub auth: Option<(String, String)>,
    /// Delay before an accepted pause/resume/stop/restart becomes visible in the status.
    pub effect_delay: Duration,
    /// How often tasks touch their database (and offsets advance).
    pub tick: Duration,
    /// How long the tasks of a stopped connector stay listed (UNASSIGNED) before `"tasks":[]`.
    pub stopped_tasks_linger: Duration,
    /// How long a task waits between two attempts to (re)connect to its database: the scaled
    /// down `retriable.restart.connector.wait.ms` (10 s on a real Debezium). Default 500 ms.
    pub retry_wait: Duration,
    /// The worker's `offset.flush.interval.ms` (60 s on a real worker): processed positions
    /// become committed offsets (what `GET /offsets` shows) this often. Zero (the default):
    /// at every tick.
    pub offset_flush: Duration,
    /// Where to listen; `None` means 127.0.0.1 on a free port.
    pub addr: Option<SocketAddr>,
    /// How long the connectors of a worker that died ([`SimConnect::kill_worker`]) keep their
    /// last status under its id, running nothing, before another worker takes them over:
    /// `scheduled.rebalance.max.delay.ms` (5 minutes on a real cluster, the default here too).
    pub scheduled_rebalance_delay: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            version: "3.9.0".to_string(),
            auth: None,
            effect_delay: Duration::from_millis(150),
            tick: Duration::from_millis(50),
            stopped_tasks_linger: Duration::from_millis(300),
            retry_wait: Duration::from_millis(500),
            offset_flush: Duration::ZERO,
            addr: None,
            scheduled_rebalance_delay: Duration::from_secs(300),
        }
    }
}

/// What a Debezium task does when its database goes away (`errors.max.retries`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryMode {
    /// `errors.max.retries=0`: a running, connected task goes FAILED less than one tick after
    /// its database becomes unreachable.
    FailFast,
    /// Debezium's default (`-1`): the task stays RUNNING through the outage, nothing flows, and
    /// it reconnects by itself (every `retry_wait`) once the database is back.
    #[default]
    Unlimited,
}

/// Whether changes arrive for a connector's tasks to process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flow {
    /// Its tables change all the time: the position moves on every tick while data flows.
    #[default]
    Busy,
    /// Its tables are quiet: the position moves only with heartbeats that move it
    /// (`heartbeat.interval.ms` > 0, plus `heartbeat.action.query` but for Oracle).
    Idle,
    /// Stuck: RUNNING and connected, but nothing moves (LogMiner stuck after an archive-log
    /// purge, a frozen walsender).
    Stalled,
}

/// How a connector's tasks find out whether their database is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DbCheck {
    /// A TCP session: the process that listens is the database (PostgreSQL, MySQL, ...).
    #[default]
    Tcp,
    /// A TNS CONNECT for the connector's service or SID (`database.url`, else
    /// `database.dbname`), as the Oracle JDBC driver's logon begins: up only on ACCEPT; a
    /// REFUSE (ORA-12514 while the instance is down behind a running listener) is down.
    Tns,
}

/// A connector to create in the simulated worker.
#[derive(Clone, Debug)]
pub struct ConnectorSpec {
    /// Connector name.
    pub name: String,
    /// `connector.class`, e.g. `io.debezium.connector.postgresql.PostgresConnector`. Oracle
    /// and Postgres classes get their own failure traces and offset shapes.
    pub class: String,
    /// Connector config returned by `/config` and `expand=info`. It may hold secrets such as
    /// `database.password`. `name`, `connector.class` and `tasks.max` are added when missing;
    /// so are `database.hostname`/`database.port` from [`ConnectorSpec::db`] (unless a
    /// hostname or `database.url` is present) and `errors.max.retries=0` for FailFast.
    pub config: BTreeMap<String, String>,
    /// Number of tasks.
    pub tasks: u32,
    /// Failure behaviour when the database goes away.
    pub retry: RetryMode,
    /// Database the tasks connect to; `None` means always reachable.
    pub db: Option<SocketAddr>,
    /// How the tasks reach `db`: [`DbCheck::Tns`] for [`ConnectorSpec::oracle`], else TCP.
    pub db_check: DbCheck,
}

impl ConnectorSpec {
    /// A one-task Debezium Postgres connector on `db` with default retries.
    pub fn postgres(name: &str, db: Option<SocketAddr>) -> Self {
        let mut config = BTreeMap::new();
        config.insert("topic.prefix".to_string(), name.to_string());
        config.insert("plugin.name".to_string(), "pgoutput".to_string());
        config.insert("database.user".to_string(), "debezium".to_string());
        config.insert("database.password".to_string(), "dbz-secret".to_string());
        ConnectorSpec {
            name: name.to_string(),
            class: "io.debezium.connector.postgresql.PostgresConnector".to_string(),
            config,
            tasks: 1,
            retry: RetryMode::Unlimited,
            db,
            db_check: DbCheck::Tcp,
        }
    }

    /// A one-task Debezium Oracle (LogMiner) connector on `db` with default retries; its tasks
    /// log on to the service `ORCLCDB` through the listener ([`DbCheck::Tns`]).
    pub fn oracle(name: &str, db: Option<SocketAddr>) -> Self {
        let mut spec = ConnectorSpec::postgres(name, db);
        spec.class = "io.debezium.connector.oracle.OracleConnector".to_string();
        spec.db_check = DbCheck::Tns;
        spec.config.remove("plugin.name");
        spec.config
            .insert("database.dbname".to_string(), "ORCLCDB".to_string());
        spec
    }

    /// A one-task Debezium MySQL connector on `db` with default retries.
    pub fn mysql(name: &str, db: Option<SocketAddr>) -> Self {
        let mut spec = ConnectorSpec::postgres(name, db);
        spec.class = "io.debezium.connector.mysql.MySqlConnector".to_string();
        spec.config.remove("plugin.name");
        spec.config
            .insert("database.server.id".to_string(), "184054".to_string());
        spec
    }

    /// Same spec with one more configuration key (e.g. `heartbeat.interval.ms`).
    pub fn with_config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Same spec with another retry mode.
    pub fn with_retry(mut self, retry: RetryMode) -> Self {
        self.retry = retry;
        self
    }

    /// Same spec with another way of reaching the database.
    pub fn with_db_check(mut self, check: DbCheck) -> Self {
        self.db_check = check;
        self
    }

    /// Same spec with another number of tasks.
    pub fn with_tasks(mut self, tasks: u32) -> Self {
        self.tasks = tasks;
        self
    }
}

/// A request class that a [`Fault`] can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /connectors` (with or without `expand`).
    List,
    /// `GET /connectors/{n}/status` and `GET /connectors/{n}/tasks/{id}/status`.
    Status,
    /// `PUT /connectors/{n}/pause`.
    Pause,
    /// `PUT /connectors/{n}/resume`.
    Resume,
    /// `PUT /connectors/{n}/stop`.
    Stop,
    /// `POST /connectors/{n}/restart` (any parameters).
    Restart,
    /// `POST /connectors/{n}/tasks/{id}/restart`.
    TaskRestart,
    /// `GET /connectors/{n}`, `/config`, `/tasks`.
    Info,
    /// `/connectors/{n}/offsets`, any method.
    Offsets,
    /// `GET /health`.
    Health,
    /// `GET /`.
    Root,
    /// Every request.
    Any,
}

/// A misbehaviour injected into the next requests of a [`Route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and body (JSON if it starts with `{`, else text/plain). The
    /// request has no effect.
    Status(u16, String),
    /// 401 text/plain `User cannot access the resource.`; no effect.
    Unauthorized,
    /// Wait this long, then handle the request normally.
    Slow(Duration),
    /// 200 with a non-JSON (HTML) body although the content type says JSON; no effect.
    Garbage,
    /// Handle the request (its effect happens), then send 200 with valid headers and a body
    /// cut in the middle of the JSON before closing the connection.
    Truncated,
    /// Close the connection without answering; no effect.
    Close,
}

/// One request the simulated worker received (recorded before auth and faults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method, e.g. `PUT`.
    pub method: String,
    /// Path as sent (still percent-encoded), e.g. `/connectors/inventory/pause`.
    pub path: String,
    /// Raw query string, if any, e.g. `expand=status&expand=info`.
    pub query: Option<String>,
    /// The id (`127.0.0.1:PORT`) of the worker whose port it came to (see
    /// [`SimConnect::add_worker`]).
    pub worker: String,
}

impl Recorded {
    /// True when this request has this method and path.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// Shared state behind every clone of a [`SimConnect`] and every background task.
pub(crate) struct Shared {
    pub(crate) model: Mutex<Model>,
    pub(crate) opts: SimOptions,
    pub(crate) version: (u32, u32, u32),
    addr: SocketAddr,
    listener: Mutex<Option<TcpListener>>,
    listener_changed: Notify,
    conn_token: Mutex<CancellationToken>,
    shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
    /// The other workers' ports (the first worker is `addr`).
    ports: Mutex<Vec<Arc<workers::Port>>>,
    /// Requests being handled now and the most seen at once, per route (see
    /// [`SimConnect::max_in_flight`]).
    pub(crate) in_flight: Mutex<std::collections::HashMap<Route, (usize, usize)>>,
}

impl Shared {
    /// Counts a request of `route` as in flight until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>, route: Option<Route>) -> InFlight {
        if let Some(r) = route {
            let mut m = lock(&self.in_flight);
            let e = m.entry(r).or_default();
            e.0 += 1;
            e.1 = e.1.max(e.0);
        }
        InFlight {
            shared: self.clone(),
            route,
        }
    }
}

/// A request in flight; dropping it (the answer is sent, or the connection dropped) ends it.
pub(crate) struct InFlight {
    shared: Arc<Shared>,
    route: Option<Route>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(r) = self.route {
            if let Some(e) = lock(&self.shared.in_flight).get_mut(&r) {
                e.0 = e.0.saturating_sub(1);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn model(&self) -> MutexGuard<'_, Model> {
        let mut m = lock(&self.model);
        m.settle(Instant::now());
        m
    }
}

struct Inner {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stop_everything();
    }
}

/// A running simulated Kafka Connect worker. Cheap to clone; the last clone dropped (or
/// [`SimConnect::shutdown`]) stops it.
#[derive(Clone)]
pub struct SimConnect {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConnect")
            .field("url", &self.url())
            .finish()
    }
}

/// Parses `3.9.0`, `4.0.0-SNAPSHOT`, `3.5` into (major, minor, patch); unparsable parts are 0.
fn parse_version(v: &str) -> (u32, u32, u32) {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let mut it = core.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl SimConnect {
    /// Starts the worker: binds its listener (127.0.0.1:0 unless `opts.addr`) and spawns the
    /// accept loop and the ticker on the current tokio runtime.
    pub async fn start(opts: SimOptions) -> io::Result<SimConnect> {
        let want = opts
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = bind(want)?;
        let addr = listener.local_addr()?;
        let version = parse_version(&opts.version);
        let mut model = Model::new(
            model::Timing {
                effect_delay: opts.effect_delay,
                stopped_tasks_linger: opts.stopped_tasks_linger,
                retry_wait: opts.retry_wait,
                offset_flush: opts.offset_flush,
            },
            format!("{}:{}", addr.ip(), addr.port()),
        );
        model.reassign_after = opts.scheduled_rebalance_delay;
        let shared = Arc::new(Shared {
            model: Mutex::new(model),
            version,
            addr,
            listener: Mutex::new(Some(listener)),
            listener_changed: Notify::new(),
            conn_token: Mutex::new(CancellationToken::new()),
            shutdown: CancellationToken::new(),
            runtime: tokio::runtime::Handle::current(),
            ports: Mutex::new(Vec::new()),
            opts,
            in_flight: Mutex::new(Default::default()),
        });
        let accept = tokio::spawn(accept_loop(shared.clone()));
        let ticker = tokio::spawn(tick_loop(shared.clone()));
        Ok(SimConnect {
            inner: Arc::new(Inner {
                shared,
                tasks: Mutex::new(vec![accept, ticker]),
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared().addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// The `worker_id` shown in statuses, e.g. `127.0.0.1:8083`.
    pub fn worker_id(&self) -> String {
        self.shared().model().worker_id.clone()
    }

    /// Creates (or replaces) a connector: target STARTED, connector and tasks RUNNING, offsets
    /// at 0 (`GET /offsets` lists nothing until the first commit).
    pub fn add_connector(&self, spec: ConnectorSpec) {
        self.shared().model().add_connector(spec, Instant::now());
    }

    /// Deletes a connector at once (status, config and offsets).
    pub fn delete_connector(&self, name: &str) {
        self.shared().model().delete_connector(name);
    }

    /// Names of all connectors, sorted.
    pub fn connector_names(&self) -> Vec<String> {
        self.shared().model().connectors.keys().cloned().collect()
    }

    /// Connector state as `/status` shows it, e.g. `"PAUSED"`.
    pub fn connector_state(&self, name: &str) -> Option<String> {
        let m = self.shared().model();
        m.connectors.get(name).map(|c| c.state.as_str().to_string())
    }

    /// Task states sorted by task id, as `/status` shows them (empty once stopped).
    pub fn task_states(&self, name: &str) -> Vec<String> {
        let m = self.shared().model();
        m.connectors
            .get(name)
            .map(|c| {
                c.tasks
                    .iter()
                    .map(|t| t.state.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The stack trace of a FAILED task, if any.
    pub fn task_trace(&self, name: &str, task: u32) -> Option<String> {
        let m = self.shared().model();
        m.connectors
            .get(name)
            .and_then(|c| c.tasks.iter().find(|t| t.id == task))
            .and_then(|t| t.trace.clone())
    }

    /// Target state: `STARTED`, `PAUSED` or `STOPPED` (changes as soon as the request is
    /// accepted, before the effect shows in the status).
    pub fn target_state(&self, name: &str) -> Option<String> {
        let m = self.shared().model();
        m.connectors
            .get(name)
            .map(|c| c.target.as_str().to_string())
    }

    /// Makes a task FAILED now with this trace (a fatal error: it stays FAILED until restarted).
    pub fn fail_task(&self, name: &str, task: u32, trace: &str) {
        self.shared().model().fail_task(name, task, trace);
    }

    /// Makes the connector object FAILED now with this trace; its tasks are unaffected.
    pub fn fail_connector(&self, name: &str, trace: &str) {
        self.shared().model().fail_connector(name, trace);
    }

    /// Opens a rebalance window of `d`: leader-forwarded requests (stop, restart, task restart,
    /// delete, offset changes) get 409 with the real messages (alternating "no known leader" and
    /// "stale configuration"), herder GETs (`/connectors/{n}`, `/config`, `/tasks`, `/offsets`)
    /// get 500 `Request cannot be completed because a rebalance is expected`. Pause, resume,
    /// status and the list keep working.
    pub fn rebalance_for(&self, d: Duration) {
        self.shared().model().rebalance_until = Some(Instant::now() + d);
    }

    /// The next `times` requests matching `route` get `fault` (faults are used in the order
    /// they were injected).
    pub fn inject(&self, route: Route, fault: Fault, times: usize) {
        if times > 0 {
            self.shared().model().faults.push((route, fault, times));
        }
    }

    /// Removes every pending injected fault.
    pub fn clear_faults(&self) {
        self.shared().model().faults.clear();
    }

    /// `false`: the worker is gone from the network: the listener is closed (connections are
    /// refused) and open connections are dropped. Connectors keep running inside.
    /// `true`: listen again on the same port. A bind failure is logged; see
    /// [`SimConnect::try_set_reachable`].
    pub fn set_reachable(&self, up: bool) {
        if let Err(e) = self.try_set_reachable(up) {
            tracing::warn!(error = %e, "sim: cannot listen again");
        }
    }

    /// Like [`SimConnect::set_reachable`], returning the bind error.
    pub fn try_set_reachable(&self, up: bool) -> io::Result<()> {
        let s = self.shared();
        let mut l = lock(&s.listener);
        if up {
            if l.is_none() && !s.shutdown.is_cancelled() {
                let _rt = s.runtime.enter();
                *l = Some(bind(s.addr)?);
            }
        } else {
            *l = None;
            let old = std::mem::take(&mut *lock(&s.conn_token));
            old.cancel();
        }
        s.listener_changed.notify_one();
        Ok(())
    }

    /// Simulates a restart of the worker process: every connector and task starts afresh in
    /// its target state (FAILED tasks come back RUNNING or PAUSED, as on a real worker restart);
    /// pending restart requests are lost.
    pub fn restart_worker(&self) {
        self.shared().model().restart_worker(Instant::now());
    }

    /// Simulates a restart of the worker process that takes `d`: meanwhile its REST server
    /// answers but knows no connector (`GET /connectors` is `{}`, `/health` is 503 starting,
    /// a connector's status and actions are 404) and no task runs; then every connector and
    /// task starts afresh in its target state, as [`SimConnect::restart_worker`] does.
    pub fn restart_worker_for(&self, d: Duration) {
        self.shared().model().starting_until = Some(Instant::now() + d);
    }

    /// A human pauses the connector through another worker (or the REST API with faults on
    /// this one's routes not applying): the target state is written as a pause would.
    pub fn pause_by_hand(&self, name: &str) {
        let now = Instant::now();
        self.shared()
            .model()
            .set_target(name, model::Target::Paused, now);
    }

    /// What Strimzi's Cluster Operator does to this connector at one reconciliation of its
    /// `KafkaConnector` (`AbstractConnectOperator.updateState`, Strimzi 1.1+): it compares the
    /// connector's *status* with `desired` (`running`, `paused`, `stopped`) and sends what the
    /// REST API offers: RUNNING -> pause/stop, PAUSED -> resume/stop, STOPPED -> resume/pause,
    /// FAILED -> stop only (a pause of a FAILED connector is refused, and a FAILED connector is
    /// not resumed: that is `autoRestart`'s business), UNASSIGNED/RESTARTING left alone. The
    /// effects are the REST calls' (asynchronous, `effect_delay`), but the calls are not
    /// recorded in [`SimConnect::requests`], which stays the agent's. Returns the connector's
    /// state as `/status` shows it now (empty for an unknown connector).
    pub fn operator_reconcile(&self, name: &str, desired: &str) -> String {
        use model::{State, Target};
        let now = Instant::now();
        let mut m = self.shared().model();
        let Some(state) = m.connectors.get(name).map(|c| c.state) else {
            return String::new();
        };
        let target = match (desired, state) {
            ("running", State::Paused | State::Stopped) => Some(Target::Started),
            ("paused", State::Running | State::Stopped) => Some(Target::Paused),
            ("stopped", State::Running | State::Paused | State::Failed) => Some(Target::Stopped),
            _ => None,
        };
        if let Some(t) = target {
            m.set_target(name, t, now);
        }
        state.as_str().to_string()
    }

    /// The operator's restart of a connector (`POST /connectors/{n}/restart` with these
    /// parameters), as carried out for a `strimzi.io/restart` annotation or `autoRestart`.
    pub fn operator_restart(&self, name: &str, include_tasks: bool, only_failed: bool) {
        let now = Instant::now();
        let mut m = self.shared().model();
        let Some(plan) = m.restart_plan(name, include_tasks, only_failed) else {
            return;
        };
        if include_tasks || only_failed {
            m.request_restart(name, &plan, now);
        } else {
            m.request_plain_restart(name, &plan, now);
        }
    }

    /// The operator's restart of one task (`strimzi.io/restart-task`).
    pub fn operator_restart_task(&self, name: &str, task: u32) {
        let now = Instant::now();
        let mut m = self.shared().model();
        if !m
            .connectors
            .get(name)
            .is_some_and(|c| c.configured_tasks().contains(&task))
        {
            return;
        }
        let plan = model::RestartPlan {
            connector: false,
            tasks: vec![task],
        };
        m.request_plain_restart(name, &plan, now);
    }

    /// Requests received so far (the last 100,000), oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared().model().requests.iter().cloned().collect()
    }

    /// The most requests of `route` the worker was handling at the same moment (from the
    /// request's arrival to its answer, a [`Fault::Slow`] delay included) since it started or
    /// since [`SimConnect::clear_requests`].
    pub fn max_in_flight(&self, route: Route) -> usize {
        lock(&self.shared().in_flight)
            .get(&route)
            .map_or(0, |e| e.1)
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared().model().requests.clear();
        for e in lock(&self.shared().in_flight).values_mut() {
            e.1 = e.0;
        }
    }

    /// Sets whether changes arrive for a connector ([`Flow`]): `Stalled` keeps it RUNNING and
    /// connected while its position stands still. False for an unknown connector.
    pub fn set_flow(&self, name: &str, flow: Flow) -> bool {
        self.shared().model().set_flow(name, flow)
    }

    /// The connector's committed offset counter (what `GET /offsets` shows): its processed
    /// position moves +1 per tick while the connector and at least one task are RUNNING and
    /// connected to a reachable database and changes arrive ([`Flow`]); it is committed every
    /// `offset_flush`. Never goes back (except through `DELETE /offsets`). 0 for an unknown
    /// connector.
    pub fn offsets(&self, name: &str) -> u64 {
        let m = self.shared().model();
        m.connectors.get(name).map(|c| c.offset).unwrap_or(0)
    }

    /// Stops the worker: closes the listener and all connections, stops the ticker.
    pub async fn shutdown(&self) {
        self.shared().stop_everything();
        let handles: Vec<_> = std::mem::take(&mut *lock(&self.inner.tasks));
        for h in handles {
            let _ = h.await;
        }
    }
}

impl Shared {
    fn stop_everything(&self) {
        self.shutdown.cancel();
        *lock(&self.listener) = None;
        lock(&self.conn_token).cancel();
        self.listener_changed.notify_one();
        for p in lock(&self.ports).iter() {
            p.close();
        }
    }
}

async fn accept_loop(shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = shared.listener_changed.notified() => continue,
            r = poll_fn(|cx| match &*lock(&shared.listener) {
                Some(l) => l.poll_accept(cx),
                None => Poll::Pending,
            }) => r,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "sim: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // Clone the connection token under the listener lock so a concurrent
        // `set_reachable(false)` either refuses this connection or cancels it.
        let token = {
            let l = lock(&shared.listener);
            if l.is_none() {
                continue;
            }
            lock(&shared.conn_token).clone()
        };
        let _ = stream.set_nodelay(true);
        let conn_shared = shared.clone();
        let worker: Arc<str> = Arc::from(lock(&shared.model).worker_id.as_str());
        tokio::spawn(async move {
            let svc = service_fn(move |req| http::handle(conn_shared.clone(), worker.clone(), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = token.cancelled() => {}
            }
        });
    }
}

async fn tick_loop(shared: Arc<Shared>) {
    let tick = shared.opts.tick.max(Duration::from_millis(1));
    let connect_timeout = tick.clamp(Duration::from_millis(100), Duration::from_secs(2));
    let mut probe = db::DbProbe::default();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let keys = lock(&shared.model).db_keys();
        let reach = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            reach = probe.check(&keys, connect_timeout) => reach,
        };
        lock(&shared.model).tick(Instant::now(), &reach);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state_becomes(sim: &SimConnect, name: &str, want: &str) -> bool {
        for _ in 0..200 {
            if sim.connector_state(name).as_deref() == Some(want) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn the_operator_drives_a_connector_to_its_spec_state_as_strimzi_does() {
        let sim = SimConnect::start(SimOptions {
            effect_delay: Duration::from_millis(20),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        sim.add_connector(ConnectorSpec::postgres("inv", None));
        assert!(state_becomes(&sim, "inv", "RUNNING").await);
        // A pause through REST is undone at the next reconciliation (strimzi#3277).
        sim.pause_by_hand("inv");
        assert!(state_becomes(&sim, "inv", "PAUSED").await);
        assert_eq!(sim.operator_reconcile("inv", "running"), "PAUSED");
        assert!(state_becomes(&sim, "inv", "RUNNING").await);
        assert_eq!(sim.operator_reconcile("inv", "paused"), "RUNNING");
        assert!(state_becomes(&sim, "inv", "PAUSED").await);
        assert_eq!(sim.operator_reconcile("inv", "stopped"), "PAUSED");
        assert!(state_becomes(&sim, "inv", "STOPPED").await);
        assert_eq!(sim.operator_reconcile("inv", "running"), "STOPPED");
        assert!(state_becomes(&sim, "inv", "RUNNING").await);
        // A FAILED connector: a pause is refused (Strimzi 1.1+), a stop is sent; no resume.
        sim.fail_connector("inv", "boom");
        assert_eq!(sim.operator_reconcile("inv", "paused"), "FAILED");
        assert_eq!(sim.operator_reconcile("inv", "running"), "FAILED");
        assert_eq!(sim.target_state("inv").as_deref(), Some("STARTED"));
        assert_eq!(sim.operator_reconcile("inv", "stopped"), "FAILED");
        assert!(state_becomes(&sim, "inv", "STOPPED").await);
        assert!(
            sim.requests().is_empty(),
            "the operator's calls are not the agent's"
        );
        assert_eq!(sim.operator_reconcile("nope", "paused"), "");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("3.9.0"), (3, 9, 0));
        assert_eq!(parse_version("4.0.0-SNAPSHOT"), (4, 0, 0));
        assert_eq!(parse_version("3.5"), (3, 5, 0));
    }
}
