//! The fleet: three agents, one beside each worker of one simulated Kafka Connect cluster (the
//! simulator serves the same cluster on three REST ports and records which port each request
//! came to), sharing their holds on a real Kafka-protocol broker (tansu, on a free 127.0.0.1
//! port, stopped by PID). Each agent is a child process of the built binary, so it can be
//! SIGKILLed and SIGSTOPped like a real one.
//!
//! What a user would notice is asserted from the requests Kafka Connect received: every pause
//! and resume is sent once, by the leader of the moment, through its own worker; a human's
//! pause is never touched; a deposed leader sends nothing. Timings (election, failover) are
//! printed, never asserted: the bounds below are only "it happens at all".
//!
//! A missing tansu fails these tests with the fix (`bash scripts/tansu.sh`), never skips them.
//! The scenarios run one at a time (three agents and a broker each, on two cores).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cdc_sentinel_sim::tansu::{free_port, Tansu};
use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};

use crate::support::{eventually, value, Db};

const S: Duration = Duration::from_secs(1);
/// Short sessions keep the scenarios quick; tansu accepts them.
const SESSION: &str = "4s";

/// One scenario at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One agent process beside one worker.
struct Agent {
    name: String,
    child: Option<Child>,
    pid: u32,
    /// The worker it talks to (its id, `127.0.0.1:PORT`, as recorded by the simulator).
    worker: String,
    metrics_port: u16,
    log: PathBuf,
    started: Instant,
}

impl Agent {
    fn spawn(name: &str, connect_url: &str, store: &str, dir: &Path, extra: &[&str]) -> Agent {
        let metrics_port = free_port();
        let log = dir.join(format!("{name}.log"));
        let state = dir.join(format!("{name}-state.json"));
        let mut args: Vec<String> = [
            "run",
            "--connect-url",
            connect_url,
            "--state-store",
            store,
            "--kafka-session-timeout",
            SESSION,
            "--web.listen-address",
            &format!("127.0.0.1:{metrics_port}"),
            "--poll-interval",
            "200ms",
            "--probe-interval",
            "200ms",
            "--probe-timeout",
            "300ms",
            "--verify-window",
            "500ms",
            "--verify-timeout",
            "10s",
            "--connect-timeout",
            "2s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !extra.contains(&"--state-file") {
            args.push("--state-file".into());
            args.push(state.display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CDC_SENTINEL_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .args(&args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the agent binary");
        Agent {
            name: name.to_string(),
            pid: child.id(),
            child: Some(child),
            worker: connect_url.trim_start_matches("http://").to_string(),
            metrics_port,
            log,
            started: Instant::now(),
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let r = c
            .get(format!("http://127.0.0.1:{}{path}", self.metrics_port))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    }

    async fn metrics(&self) -> Option<String> {
        self.get("/metrics").await.map(|(_, t)| t)
    }

    async fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        value(&self.metrics().await?, name, labels)
    }

    async fn leads(&self) -> Option<bool> {
        self.value("cdc_sentinel_leader", &[])
            .await
            .map(|v| v == 1.0)
    }

    async fn phase(&self, connector: &str, phase: &str) -> bool {
        let c = format!("connector=\"{connector}\"");
        let p = format!("phase=\"{phase}\"");
        self.value("cdc_sentinel_recovery_phase", &[&c, &p]).await == Some(1.0)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {} ({})", self.pid, self.name);
    }

    /// SIGKILL, by PID: no shutdown, nothing written, the group is not left.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        self.signal("-TERM");
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if t0.elapsed() > 20 * S {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A stopped process ignores SIGKILL until continued; continue it first.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("CDC_SENTINEL_TEST_LOG").is_some() {
            eprintln!("---- {} ----\n{}", self.name, self.log());
        }
    }
}

/// A broker, a simulated cluster of three workers, and an agent beside each.
struct Fleet {
    tansu: Tansu,
    sim: SimConnect,
    agents: Vec<Agent>,
    store: String,
    dir: tempfile::TempDir,
}

impl Fleet {
    async fn start(workers: usize, opts: SimOptions) -> Fleet {
        let tansu = Tansu::start();
        let sim = SimConnect::start(opts).await.expect("sim starts");
        for _ in 1..workers {
            sim.add_worker().await.expect("another worker");
        }
        Fleet {
            store: tansu.url("cdc-sentinel-state"),
            tansu,
            sim,
            agents: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// One agent beside each worker.
    fn spawn_agents(&mut self) {
        for (i, url) in self.sim.worker_urls().iter().enumerate() {
            let a = Agent::spawn(
                &format!("agent-{}", i + 1),
                url,
                &self.store,
                self.dir.path(),
                &[],
            );
            self.agents.push(a);
        }
    }

    /// Waits until exactly one live agent leads and every other live one reports 0; returns
    /// its index.
    async fn leader(&self, within: Duration) -> usize {
        let t0 = Instant::now();
        loop {
            let mut states = Vec::new();
            for a in self.agents.iter().filter(|a| a.alive()) {
                states.push((a.name.clone(), a.leads().await));
            }
            let leaders: Vec<usize> = self
                .agents
                .iter()
                .enumerate()
                .filter(|(_, a)| a.alive())
                .zip(&states)
                .filter(|(_, (_, l))| *l == Some(true))
                .map(|((i, _), _)| i)
                .collect();
            if leaders.len() == 1 && states.iter().all(|(_, l)| l.is_some()) {
                return leaders[0];
            }
            assert!(
                leaders.len() <= 1,
                "two agents lead at once: {states:?}\n{}",
                self.logs()
            );
            if t0.elapsed() > within {
                panic!(
                    "no single leader within {within:?}: {states:?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Before an outage: every live agent's probes saw the database up (failures of a target
    /// never seen up are a blind spot, never a reason to hold) and the connectors' tasks are
    /// connected (a FailFast task fails only once it had a session).
    async fn seen_up(&self, db: &Db, connectors: &[&str]) {
        let target = format!("target=\"{}\"", db.addr);
        for a in self.agents.iter().filter(|a| a.alive()) {
            self.wait(
                &format!("{} probed {}", a.name, db.addr),
                15 * S,
                async || a.value("cdc_sentinel_probe_success", &[&target]).await == Some(1.0),
            )
            .await;
        }
        for c in connectors {
            self.wait(&format!("{c} connected"), 5 * S, async || {
                self.sim.offsets(c) > 0
            })
            .await;
        }
    }

    fn logs(&self) -> String {
        self.agents
            .iter()
            .map(|a| {
                let log = a.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                format!(
                    "---- {} (tail) ----\n{}",
                    a.name,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Requests that change something (not GET), to `worker`, from index `from` on.
    fn mutations(&self, worker: &str, from: usize) -> Vec<String> {
        self.sim.requests()[from..]
            .iter()
            .filter(|r| r.method != "GET" && r.worker == worker)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// How many `method path` requests each worker received.
    fn sent(&self, method: &str, path: &str) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for r in self.sim.requests() {
            if r.method == method && r.path == path {
                match out.iter_mut().find(|(w, _)| *w == r.worker) {
                    Some(e) => e.1 += 1,
                    None => out.push((r.worker.clone(), 1)),
                }
            }
        }
        out
    }

    async fn wait(&self, what: &str, within: Duration, cond: impl AsyncFn() -> bool) {
        if !eventually(within, || cond()).await {
            panic!("{what}: not within {within:?}\n{}", self.logs());
        }
    }
}

async fn state_is(sim: &SimConnect, name: &str, want: &str) -> bool {
    sim.connector_state(name).as_deref() == Some(want)
}

fn all_tasks(sim: &SimConnect, name: &str, want: &str) -> bool {
    let t = sim.task_states(name);
    !t.is_empty() && t.iter().all(|s| s == want)
}

fn opts() -> SimOptions {
    SimOptions {
        effect_delay: Duration::from_millis(100),
        ..SimOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_one_leader_every_action_sent_once_by_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db = Db::start().await;
    let mut f = Fleet::start(3, opts()).await;
    let sim = f.sim.clone();
    sim.add_connector(
        ConnectorSpec::postgres("inv", Some(db.addr))
            .with_retry(RetryMode::FailFast)
            .with_tasks(2),
    );
    sim.add_connector(ConnectorSpec::postgres("crm", Some(db.addr)));
    sim.add_connector(ConnectorSpec::postgres("hr", Some(db.addr)));
    sim.pause_by_hand("hr");
    f.wait("hr paused by a human", 5 * S, async || {
        state_is(&sim, "hr", "PAUSED").await
    })
    .await;
    // The connectors are spread over the three workers.
    let owners: std::collections::BTreeSet<String> = ["inv", "crm", "hr"]
        .iter()
        .filter_map(|n| sim.owner_of(n))
        .collect();
    assert_eq!(owners.len(), 3, "{owners:?}");

    f.spawn_agents();
    let l = f.leader(60 * S).await;
    println!(
        "election at start: {:.2}s from process start to one leader",
        f.agents[l].started.elapsed().as_secs_f64()
    );
    let leader = f.agents[l].worker.clone();
    for a in &f.agents {
        // Leader and standbys are ready, and all export the per-connector series.
        f.wait(&format!("{} ready", a.name), 10 * S, async || {
            a.get("/readyz").await.map(|r| r.0) == Some(200)
        })
        .await;
        f.wait(&format!("{} exports inv", a.name), 10 * S, async || {
            a.value(
                "cdc_sentinel_connector_state",
                &["connector=\"inv\"", "state=\"RUNNING\""],
            )
            .await
                == Some(1.0)
        })
        .await;
    }

    // The database goes down: inv's tasks FAIL, crm's probes fail; both are held.
    f.seen_up(&db, &["inv", "crm"]).await;
    db.down().await;
    f.wait("inv and crm held", 15 * S, async || {
        sim.target_state("inv").as_deref() == Some("PAUSED")
            && sim.target_state("crm").as_deref() == Some("PAUSED")
    })
    .await;
    // Every agent, standbys included, exports the leader's records.
    for a in &f.agents {
        f.wait(
            &format!("{} sees inv waiting", a.name),
            10 * S,
            async || a.phase("inv", "waiting").await && a.phase("crm", "waiting").await,
        )
        .await;
    }

    db.up().await;
    f.wait("inv and crm recovered", 20 * S, async || {
        state_is(&sim, "inv", "RUNNING").await
            && all_tasks(&sim, "inv", "RUNNING")
            && state_is(&sim, "crm", "RUNNING").await
    })
    .await;
    let a = &f.agents[l];
    f.wait("the recoveries end", 20 * S, async || {
        a.phase("inv", "watching").await && a.phase("crm", "watching").await
    })
    .await;
    tokio::time::sleep(S).await;

    for name in ["inv", "crm"] {
        for op in ["pause", "resume"] {
            assert_eq!(
                f.sent("PUT", &format!("/connectors/{name}/{op}")),
                vec![(leader.clone(), 1)],
                "{op} {name}: once, through the leader's worker\n{}",
                f.logs()
            );
        }
    }
    assert_eq!(
        f.sent("POST", "/connectors/inv/restart"),
        vec![(leader.clone(), 1)],
        "the FAILED tasks are restarted once, by the leader"
    );
    for (i, a) in f.agents.iter().enumerate() {
        if i != l {
            assert_eq!(
                f.mutations(&a.worker, 0),
                Vec::<String>::new(),
                "{} is a standby: it sends nothing",
                a.name
            );
        }
    }
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.method != "GET" && r.path.starts_with("/connectors/hr/")),
        "a human's pause is never touched"
    );
    assert_eq!(sim.connector_state("hr").as_deref(), Some("PAUSED"));
    assert_eq!(
        a.value("cdc_sentinel_unrecorded_holds", &[]).await,
        Some(1.0),
        "hr: paused, no record"
    );
    assert_eq!(
        f.agents[l].log().matches("leading: elected").count(),
        1,
        "one line per change of leadership"
    );
    for (i, a) in f.agents.iter().enumerate() {
        if i != l {
            assert!(!a.log().contains("leading: elected"), "{}", a.log());
            assert_eq!(a.value("cdc_sentinel_leader", &[]).await, Some(0.0));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_leader_mid_wait_a_standby_finishes_the_recovery() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db = Db::start().await;
    let mut f = Fleet::start(3, opts()).await;
    let sim = f.sim.clone();
    sim.add_connector(
        ConnectorSpec::postgres("inv", Some(db.addr))
            .with_retry(RetryMode::FailFast)
            .with_tasks(2),
    );
    f.spawn_agents();
    let l = f.leader(60 * S).await;
    let old = f.agents[l].worker.clone();

    f.seen_up(&db, &["inv"]).await;
    db.down().await;
    f.wait("inv held", 15 * S, async || {
        sim.target_state("inv").as_deref() == Some("PAUSED")
    })
    .await;
    for a in &f.agents {
        f.wait(
            &format!("{} sees inv waiting", a.name),
            10 * S,
            async || a.phase("inv", "waiting").await,
        )
        .await;
    }
    assert_eq!(sim.task_states("inv"), vec!["FAILED", "FAILED"]);
    let started = f.agents[l]
        .value(
            "cdc_sentinel_recovery_started_timestamp_seconds",
            &["connector=\"inv\""],
        )
        .await
        .expect("the recovery's start");

    let t0 = Instant::now();
    f.agents[l].kill();
    let n = f.leader(60 * S).await;
    println!(
        "failover after SIGKILL of the leader: {:.2}s (session timeout {SESSION})",
        t0.elapsed().as_secs_f64()
    );
    let new = f.agents[n].worker.clone();
    assert_ne!(new, old);
    // The new leader carries on the same recovery: the maximum wait counts from its start.
    let a = &f.agents[n];
    f.wait("the new leader took over inv", 10 * S, async || {
        a.phase("inv", "waiting").await
    })
    .await;
    assert_eq!(
        a.value(
            "cdc_sentinel_recovery_started_timestamp_seconds",
            &["connector=\"inv\""],
        )
        .await,
        Some(started)
    );

    db.up().await;
    f.wait(
        "inv resumed and its FAILED tasks restarted",
        20 * S,
        async || state_is(&sim, "inv", "RUNNING").await && all_tasks(&sim, "inv", "RUNNING"),
    )
    .await;
    f.wait("the recovery ends", 20 * S, async || {
        a.phase("inv", "watching").await
    })
    .await;
    assert_eq!(
        f.sent("PUT", "/connectors/inv/pause"),
        vec![(old.clone(), 1)]
    );
    assert_eq!(
        f.sent("PUT", "/connectors/inv/resume"),
        vec![(new.clone(), 1)]
    );
    assert_eq!(
        f.sent("POST", "/connectors/inv/restart"),
        vec![(new.clone(), 1)]
    );
    let third = f
        .agents
        .iter()
        .enumerate()
        .find(|(i, _)| *i != l && *i != n)
        .map(|(_, a)| a.worker.clone())
        .unwrap();
    assert_eq!(f.mutations(&third, 0), Vec::<String>::new());
    assert!(
        a.log()
            .contains("took over 1 hold record(s): inv (waiting)"),
        "{}",
        a.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_past_its_session_is_replaced_and_sends_nothing_when_thawed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db = Db::start().await;
    let mut f = Fleet::start(3, opts()).await;
    let sim = f.sim.clone();
    sim.add_connector(
        ConnectorSpec::postgres("inv", Some(db.addr))
            .with_retry(RetryMode::FailFast)
            .with_tasks(2),
    );
    f.spawn_agents();
    let l = f.leader(60 * S).await;
    f.seen_up(&db, &["inv"]).await;
    db.down().await;
    f.wait("inv held", 15 * S, async || {
        sim.target_state("inv").as_deref() == Some("PAUSED")
    })
    .await;
    for a in &f.agents {
        f.wait(
            &format!("{} sees inv waiting", a.name),
            10 * S,
            async || a.phase("inv", "waiting").await,
        )
        .await;
    }

    // Frozen: it neither heartbeats nor renews its lease; another agent is elected.
    let frozen_at = sim.requests().len();
    let t0 = Instant::now();
    f.agents[l].signal("-STOP");
    let mut n = None;
    while n.is_none() {
        for (i, a) in f.agents.iter().enumerate() {
            if i != l && a.leads().await == Some(true) {
                n = Some(i);
            }
        }
        assert!(t0.elapsed() < 60 * S, "nobody took over\n{}", f.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = n.unwrap();
    println!(
        "failover after SIGSTOP of the leader: {:.2}s (session timeout {SESSION})",
        t0.elapsed().as_secs_f64()
    );

    // The database is back the moment the old leader thaws: both see it; only the new
    // leader may resume.
    db.up().await;
    f.agents[l].signal("-CONT");
    let old = &f.agents[l];
    f.wait("the thawed agent reports leader 0", 15 * S, async || {
        old.leads().await == Some(false)
    })
    .await;
    f.wait("inv recovered by the new leader", 20 * S, async || {
        state_is(&sim, "inv", "RUNNING").await && all_tasks(&sim, "inv", "RUNNING")
    })
    .await;
    tokio::time::sleep(3 * S).await;
    assert_eq!(
        f.mutations(&old.worker, frozen_at),
        Vec::<String>::new(),
        "the thawed agent sent nothing\n{}",
        old.log()
    );
    assert_eq!(
        f.sent("PUT", "/connectors/inv/resume"),
        vec![(f.agents[n].worker.clone(), 1)]
    );
    assert_eq!(old.leads().await, Some(false));
    assert!(
        old.value("cdc_sentinel_leader_changes_total", &[])
            .await
            .unwrap_or(0.0)
            >= 2.0,
        "became leader, then stopped being it"
    );
    assert!(old.log().contains("no longer leading"), "{}", old.log());
    // One leader at the end.
    f.leader(30 * S).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_down_nothing_is_acted_on_and_a_broker_that_lost_its_records_never_resumes_them() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db1 = Db::start().await;
    let mut db2 = Db::start().await;
    let mut f = Fleet::start(3, opts()).await;
    let sim = f.sim.clone();
    sim.add_connector(
        ConnectorSpec::postgres("inv", Some(db1.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(
        ConnectorSpec::postgres("crm", Some(db2.addr)).with_retry(RetryMode::FailFast),
    );
    f.spawn_agents();
    let l = f.leader(60 * S).await;
    f.seen_up(&db1, &["inv"]).await;
    f.seen_up(&db2, &["crm"]).await;
    db1.down().await;
    f.wait("inv held", 15 * S, async || {
        sim.target_state("inv").as_deref() == Some("PAUSED")
    })
    .await;
    let a = &f.agents[l];
    f.wait("inv waiting", 10 * S, async || {
        a.phase("inv", "waiting").await
    })
    .await;

    // The broker goes away: nobody can write ahead, so nobody acts.
    f.tansu.stop();
    let t0 = Instant::now();
    for a in &f.agents {
        f.wait(&format!("{} stops leading", a.name), 30 * S, async || {
            a.value("cdc_sentinel_leader", &[]).await == Some(0.0)
                && a.value("cdc_sentinel_state_store_up", &[]).await == Some(0.0)
        })
        .await;
        f.wait(&format!("{} is not ready", a.name), 10 * S, async || {
            matches!(a.get("/readyz").await, Some((503, ref body)) if body.contains("state store"))
        })
        .await;
    }
    println!(
        "broker killed: every agent stopped acting within {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    let outage_from = sim.requests().len();
    db2.down().await;
    f.wait("crm FAILED", 5 * S, async || {
        all_tasks(&sim, "crm", "FAILED")
    })
    .await;
    tokio::time::sleep(3 * S).await;
    for a in &f.agents {
        assert_eq!(
            f.mutations(&a.worker, outage_from),
            Vec::<String>::new(),
            "{}: nothing is sent without its write-ahead record",
            a.name
        );
    }
    assert!(
        f.agents[l].log().contains("no longer leading"),
        "{}",
        f.agents[l].log()
    );

    // The broker comes back without any record (in-memory storage).
    f.tansu.restart();
    let l2 = f.leader(90 * S).await;
    let a = &f.agents[l2];
    println!(
        "broker restarted empty: a leader again after {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    // crm is held now (once, by the new leader); inv has no record: a human's pause to it.
    f.wait("crm held", 15 * S, async || {
        sim.target_state("crm").as_deref() == Some("PAUSED")
    })
    .await;
    f.wait(
        "one paused connector without a record",
        10 * S,
        async || a.value("cdc_sentinel_unrecorded_holds", &[]).await == Some(1.0),
    )
    .await;
    db1.up().await;
    db2.up().await;
    f.wait("crm recovered", 20 * S, async || {
        state_is(&sim, "crm", "RUNNING").await && all_tasks(&sim, "crm", "RUNNING")
    })
    .await;
    tokio::time::sleep(2 * S).await;
    assert_eq!(
        f.sent("PUT", "/connectors/inv/resume"),
        vec![],
        "a hold whose record is lost is never resumed"
    );
    assert_eq!(sim.connector_state("inv").as_deref(), Some("PAUSED"));
    assert_eq!(
        f.sent("PUT", "/connectors/crm/pause"),
        vec![(a.worker.clone(), 1)]
    );
    assert!(
        a.log()
            .contains("1 connector(s) are PAUSED or STOPPED with no hold record"),
        "{}",
        a.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_imports_the_state_file_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db = Db::start().await;
    let mut f = Fleet::start(1, opts()).await;
    let sim = f.sim.clone();
    sim.add_connector(ConnectorSpec::postgres("inv", Some(db.addr)));
    // An agent with a state file held inv while its database was down, then was upgraded.
    db.down().await;
    sim.pause_by_hand("inv");
    let state = f.dir.path().join("old-state.json");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let started = now_ms - 60_000;
    std::fs::write(
        &state,
        serde_json::json!({
            "version": 1,
            "connectors": {"inv": {
                "phase": "waiting", "reason": "probe_failed", "target": db.addr.to_string(),
                "started_at": started, "held_at": started, "hold_with": "pause",
                "hold_sent_at": started, "hold_pending": false, "resume_pending": false,
                "hold_confirmed": true
            }},
            "handed_back": {}
        })
        .to_string(),
    )
    .unwrap();
    let url = sim.url();
    let store = f.store.clone();
    f.agents.push(Agent::spawn(
        "agent-1",
        &url,
        &store,
        f.dir.path(),
        &["--state-file", state.to_str().unwrap()],
    ));
    f.leader(60 * S).await;
    let a = &f.agents[0];
    f.wait("the imported hold", 10 * S, async || {
        a.phase("inv", "waiting").await
    })
    .await;
    assert!(
        a.log().contains("imported the state file") && a.log().contains("1 hold record(s)"),
        "{}",
        a.log()
    );
    assert!(!state.exists(), "renamed, so it is imported once");
    assert!(PathBuf::from(format!("{}.imported", state.display())).exists());
    assert_eq!(
        a.value(
            "cdc_sentinel_recovery_started_timestamp_seconds",
            &["connector=\"inv\""]
        )
        .await,
        Some(started as f64 / 1000.0)
    );
    // The imported record is the agent's own hold: resumed once the database is back.
    db.up().await;
    f.wait("inv resumed", 20 * S, async || {
        state_is(&sim, "inv", "RUNNING").await
    })
    .await;

    // A restart reads the topic, not the file (gone), and says nothing about importing.
    let code = f.agents[0].terminate();
    assert_eq!(code, Some(0), "SIGTERM: a clean exit");
    f.agents.clear();
    f.agents.push(Agent::spawn(
        "agent-1b",
        &url,
        &store,
        f.dir.path(),
        &["--state-file", state.to_str().unwrap()],
    ));
    f.leader(60 * S).await;
    assert!(
        !f.agents[0].log().contains("imported"),
        "{}",
        f.agents[0].log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_of_the_wrong_shape_exits_78_naming_it_and_the_command() {
    let _one = ONE_AT_A_TIME.lock().await;
    let t = Tansu::start();
    let out = Command::new(cdc_sentinel_sim::tansu::tansu_binary())
        .args([
            "topic",
            "create",
            "three",
            "--partitions",
            "3",
            "--broker",
            &format!("tcp://{}", t.bootstrap()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut a = Agent::spawn(
        "agent",
        "http://127.0.0.1:9",
        &t.url("three"),
        dir.path(),
        &[],
    );
    let t0 = Instant::now();
    let code = loop {
        if let Some(Ok(Some(st))) = a.child.as_mut().map(|c| c.try_wait()) {
            break st.code();
        }
        assert!(t0.elapsed() < 30 * S, "still running:\n{}", a.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    a.child = None;
    let log = a.log();
    assert_eq!(code, Some(78), "{log}");
    assert!(
        log.contains("the state-store topic three has 3 partitions")
            && log.contains("kafka-topics.sh --bootstrap-server"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_fast_after_the_leader_is_stopped_with_sigterm() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut f = Fleet::start(2, opts()).await;
    f.sim.add_connector(ConnectorSpec::postgres("inv", None));
    f.spawn_agents();
    let l = f.leader(60 * S).await;
    let t0 = Instant::now();
    assert_eq!(f.agents[l].terminate(), Some(0));
    let n = f.leader(60 * S).await;
    assert_ne!(n, l);
    println!(
        "failover after SIGTERM of the leader (it leaves the group): {:.2}s",
        t0.elapsed().as_secs_f64()
    );
}

/// A crashed worker's connectors keep their last status under its id until another worker
/// takes them over (`scheduled.rebalance.max.delay.ms`): the agent waits for that before it
/// acts on them, so it neither resumes into a dead worker (whose restarts are lost), nor holds
/// the connector again when the stale status does not turn RUNNING, nor takes it for a human's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_connector_is_waited_for_not_held_again() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut db = Db::start().await;
    let sim = SimConnect::start(SimOptions {
        effect_delay: Duration::from_millis(100),
        scheduled_rebalance_delay: 6 * S,
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let second = sim.add_worker().await.unwrap();
    sim.add_connector(ConnectorSpec::postgres("other", None));
    sim.add_connector(
        ConnectorSpec::postgres("inv", Some(db.addr))
            .with_retry(RetryMode::FailFast)
            .with_tasks(2),
    );
    assert_eq!(
        sim.owner_of("inv").as_deref(),
        Some(second.trim_start_matches("http://"))
    );
    // A sole agent beside the first worker (its verification gives up after 3 s).
    let agent = crate::support::Agent::start(&sim.url(), &[]).await;
    let target = format!("target=\"{}\"", db.addr);
    agent
        .wait_value("cdc_sentinel_probe_success", &[&target], 1.0, 10 * S)
        .await;
    let sim2 = sim.clone();
    assert!(
        eventually(5 * S, || async { sim2.offsets("inv") > 0 }).await,
        "inv's tasks are connected"
    );
    db.down().await;
    agent.wait_phase("inv", "waiting", 10 * S).await;

    // inv's worker dies: inv reads PAUSED, tasks FAILED, under the dead worker's id. Its
    // database comes back meanwhile: the agent waits for the new owner before it resumes.
    sim.kill_worker(&second);
    db.up().await;
    tokio::time::sleep(3 * S).await;
    assert!(sim.is_orphaned("inv"));
    assert_eq!(sim.target_state("inv").as_deref(), Some("PAUSED"));
    // Reassigned (PAUSED, tasks fresh), then resumed once and verified.
    agent.wait_phase("inv", "watching", 20 * S).await;
    assert!(!sim.is_orphaned("inv"));
    assert_eq!(sim.connector_state("inv").as_deref(), Some("RUNNING"));
    assert_eq!(sim.task_states("inv"), vec!["RUNNING", "RUNNING"]);
    let count = |m: &str, p: &str| {
        sim.requests()
            .iter()
            .filter(|r| r.method == m && r.path == p)
            .count()
    };
    assert_eq!(count("PUT", "/connectors/inv/pause"), 1, "not held again");
    assert_eq!(count("PUT", "/connectors/inv/resume"), 1);
    let log = crate::support::logs();
    assert!(log.contains("inv: between workers"), "{log}");
    assert!(!log.contains("inv: handed back"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_started_while_kafka_is_down_stands_by_until_it_answers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut f = Fleet::start(1, opts()).await;
    f.sim.add_connector(ConnectorSpec::postgres("inv", None));
    f.tansu.stop();
    f.spawn_agents();
    let a = &f.agents[0];
    f.wait("the agent answers, not ready", 20 * S, async || {
        matches!(a.get("/readyz").await, Some((503, ref body)) if body.contains("state store"))
    })
    .await;
    assert_eq!(a.value("cdc_sentinel_leader", &[]).await, Some(0.0));
    assert_eq!(a.value("cdc_sentinel_state_store_up", &[]).await, Some(0.0));
    // It watches Connect meanwhile (read-only).
    assert_eq!(
        a.value(
            "cdc_sentinel_connector_state",
            &["connector=\"inv\"", "state=\"RUNNING\""]
        )
        .await,
        Some(1.0)
    );
    f.tansu.restart();
    f.leader(60 * S).await;
    let a = &f.agents[0];
    f.wait("ready", 10 * S, async || {
        a.get("/readyz").await.map(|r| r.0) == Some(200)
    })
    .await;
    assert!(a.log().contains("cannot open it yet"), "{}", a.log());
}
