//! Oracle's nightly backup as it really goes: the **listener stays up while the instance is
//! down**. A TCP connect to the port succeeds all night; only a TNS CONNECT for the service
//! tells the truth (REFUSE ORA-12514 until the instance registers again). The runbook entry:
//! the connector is held while the service is unknown, whatever a TCP probe says, and resumed
//! (FAILED tasks restarted, verified) once the listener ACCEPTs the service again.
//!
//! The database is the simulator's stand-in ([`StandinDb::instance_down`]); the simulated
//! Debezium Oracle tasks log on through its listener as the JDBC driver does, so they fail with
//! ORA-12514 too. Intervals are tiny real ones (`support::FAST`: probe every 100 ms).

use std::time::Duration;

use cdc_sentinel::probe::target::parse_url;
use cdc_sentinel::probe::{probe, Reason};
use cdc_sentinel_sim::standin::StandinDb;
use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};

use crate::support::{eventually, logs, Agent};

const S: Duration = Duration::from_secs(1);

async fn sim() -> SimConnect {
    SimConnect::start(SimOptions::default())
        .await
        .expect("sim starts")
}

async fn standin() -> StandinDb {
    StandinDb::start().await.expect("stand-in database binds")
}

fn count(sim: &SimConnect, method: &str, path: &str) -> usize {
    sim.requests().iter().filter(|r| r.is(method, path)).count()
}

fn failed_task_restarts(sim: &SimConnect, name: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.is("POST", &format!("/connectors/{name}/restart"))
                && r.query.as_deref() == Some("includeTasks=true&onlyFailed=true")
        })
        .count()
}

async fn state_is(sim: &SimConnect, name: &str, want: &str, within: Duration) -> bool {
    eventually(within, || async {
        sim.connector_state(name).as_deref() == Some(want)
    })
    .await
}

async fn all_tasks(sim: &SimConnect, name: &str, want: &str, within: Duration) -> bool {
    eventually(within, || async {
        let t = sim.task_states(name);
        !t.is_empty() && t.iter().all(|s| s == want)
    })
    .await
}

async fn flowing(sim: &SimConnect, name: &str, within: Duration) -> bool {
    let before = sim.offsets(name);
    eventually(within, || async { sim.offsets(name) > before }).await
}

/// What each probe makes of the stand-in while its instance is down behind a running listener.
#[tokio::test]
async fn stand_in_with_the_instance_down_fails_every_protocol_probe_but_tcp() {
    let db = standin().await;
    let port = db.addr.port();
    let reason = |url: String| async move {
        probe(&parse_url(&url).unwrap(), Duration::from_millis(500))
            .await
            .reason
    };
    db.instance_down();
    assert_eq!(
        reason(format!("oracle://127.0.0.1:{port}/ORCLCDB")).await,
        Reason::ServiceUnknown
    );
    assert_eq!(
        reason(format!("oracle://127.0.0.1:{port}?sid=ORCLCDB")).await,
        Reason::ServiceUnknown
    );
    assert_eq!(
        reason(format!("postgres://127.0.0.1:{port}")).await,
        Reason::StartingUp
    );
    assert_eq!(
        reason(format!("mysql://127.0.0.1:{port}")).await,
        Reason::Timeout,
        "no greeting"
    );
    assert_eq!(
        reason(format!("tcp://127.0.0.1:{port}")).await,
        Reason::Ok,
        "the port still accepts"
    );
    db.instance_up();
    for url in [
        format!("oracle://127.0.0.1:{port}/ORCLCDB"),
        format!("postgres://127.0.0.1:{port}"),
        format!("mysql://127.0.0.1:{port}"),
    ] {
        assert_eq!(reason(url.clone()).await, Reason::Ok, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_up_service_down_keeps_the_connector_held_until_the_service_is_back() {
    let db = standin().await;
    let sim = sim().await;
    // Two Debezium Oracle connectors on one database (database.hostname/port/dbname): one that
    // fails fast (errors.max.retries=0), one that hides the outage behind RUNNING.
    sim.add_connector(
        ConnectorSpec::oracle("backup-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(ConnectorSpec::oracle("backup-hidden", Some(db.addr)));
    let agent = Agent::start(&sim.url(), &[]).await;

    // No --db: the agent derives oracle://127.0.0.1:PORT/ORCLCDB from the connector's config.
    let target = format!("target=\"127.0.0.1:{}/ORCLCDB\"", db.addr.port());
    for c in ["connector=\"backup-ora\"", "connector=\"backup-hidden\""] {
        agent
            .wait_value(
                "cdc_sentinel_connector_target_info",
                &[c, &target],
                1.0,
                5 * S,
            )
            .await;
    }
    agent
        .wait_value("cdc_sentinel_probe_success", &[&target], 1.0, 5 * S)
        .await;
    assert!(flowing(&sim, "backup-ora", 5 * S).await, "changes flow");
    assert!(flowing(&sim, "backup-hidden", 5 * S).await, "changes flow");

    // 01:58: the backup shuts the instance down; the listener stays up.
    db.instance_down();

    // The fail-fast task's logon gets ORA-12514: FAILED, and the agent holds the connector.
    assert!(state_is(&sim, "backup-ora", "PAUSED", 5 * S).await, "held");
    assert_eq!(sim.task_states("backup-ora"), vec!["FAILED"]);
    let trace = sim
        .task_trace("backup-ora", 0)
        .expect("a FAILED task has a trace");
    assert!(
        trace.contains("java.sql.SQLRecoverableException: Listener refused the connection with the following error:\nORA-12514, TNS:listener does not currently know of service requested in connect descriptor"),
        "{trace}"
    );
    // The other one reads RUNNING; the probe sees the unknown service and it is held too.
    assert!(
        state_is(&sim, "backup-hidden", "PAUSED", 5 * S).await,
        "held"
    );
    for (c, reason) in [
        ("backup-ora", "task_failed"),
        ("backup-hidden", "probe_failed"),
    ] {
        agent.wait_phase(c, "waiting", 5 * S).await;
        let (c, r) = (format!("connector=\"{c}\""), format!("reason=\"{reason}\""));
        assert_eq!(
            agent.value("cdc_sentinel_recovery_info", &[&c, &r]).await,
            Some(1.0)
        );
    }

    // The probes say why: the listener does not know the service.
    let unknown = [target.as_str(), "reason=\"service_unknown\""];
    agent
        .wait_value("cdc_sentinel_probe_last_reason", &unknown, 1.0, 5 * S)
        .await;
    assert_eq!(
        agent.value("cdc_sentinel_probe_success", &[&target]).await,
        Some(0.0)
    );
    let failures = || async {
        agent
            .value("cdc_sentinel_probe_failures_total", &unknown)
            .await
            .unwrap_or(0.0)
    };
    let before = failures().await;

    // Meanwhile the port accepts TCP: the PowerShell loop's port test would say "back".
    assert!(tokio::net::TcpStream::connect(db.addr).await.is_ok());
    let tcp = probe(
        &parse_url(&format!("tcp://{}", db.addr)).unwrap(),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(tcp.reason, Reason::Ok, "a TCP probe reads up: {tcp:?}");

    // Ten probe intervals with the service down: nothing is resumed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = failures().await;
    assert!(
        after >= before + 3.0,
        "service_unknown failures keep counting: {before} -> {after}"
    );
    for c in ["backup-ora", "backup-hidden"] {
        assert_eq!(count(&sim, "PUT", &format!("/connectors/{c}/resume")), 0);
        assert_eq!(sim.connector_state(c).as_deref(), Some("PAUSED"));
        assert_eq!(
            agent
                .value(
                    "cdc_sentinel_recovery_phase",
                    &[&format!("connector=\"{c}\""), "phase=\"waiting\""]
                )
                .await,
            Some(1.0)
        );
    }
    assert_eq!(sim.task_states("backup-ora"), vec!["FAILED"]);
    assert!(
        logs().contains(
            "down: service_unknown (listener up, service ORCLCDB not registered (ORA-12514)"
        ),
        "the probe line tells the on-call why"
    );

    // 02:25: the instance is open and registered again: the listener ACCEPTs the service.
    db.instance_up();
    for c in ["backup-ora", "backup-hidden"] {
        assert!(
            all_tasks(&sim, c, "RUNNING", 5 * S).await,
            "{c}: {:?}",
            sim.task_states(c)
        );
        assert!(state_is(&sim, c, "RUNNING", 5 * S).await);
        agent.wait_phase(c, "watching", 5 * S).await;
        assert_eq!(count(&sim, "PUT", &format!("/connectors/{c}/pause")), 1);
        assert_eq!(count(&sim, "PUT", &format!("/connectors/{c}/resume")), 1);
        assert!(flowing(&sim, c, 5 * S).await, "{c}: changes flow again");
    }
    assert_eq!(
        failed_task_restarts(&sim, "backup-ora"),
        1,
        "its FAILED task restarted"
    );
    assert_eq!(failed_task_restarts(&sim, "backup-hidden"), 0);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_duration_seconds_count",
                &["outcome=\"recovered\""]
            )
            .await,
        Some(2.0)
    );
}

/// The same night with `--db tcp://`: the port answers, so the agent resumes while the service
/// is still down. The fail-fast connector is "recovered" into a task that reads RUNNING while it
/// retries its logon and nothing flows; the hidden outage is never seen at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_target_reads_up_and_resumes_into_a_connector_that_cannot_log_on() {
    let db = standin().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("tcp-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(ConnectorSpec::oracle("tcp-hidden", Some(db.addr)));
    let db_flag = format!("tcp://{}", db.addr);
    let agent = Agent::start(&sim.url(), &["--db", &db_flag]).await;
    let target = format!("target=\"{}\"", db.addr);
    agent
        .wait_value("cdc_sentinel_probe_success", &[&target], 1.0, 5 * S)
        .await;
    assert!(flowing(&sim, "tcp-ora", 5 * S).await);
    assert!(flowing(&sim, "tcp-hidden", 5 * S).await);

    db.instance_down();
    // FAILED with ORA-12514: held on the task failure, then resumed on the TCP probe's word.
    assert!(
        eventually(5 * S, || async {
            count(&sim, "PUT", "/connectors/tcp-ora/resume") >= 1
        })
        .await,
        "resumed although the service is down"
    );
    assert_eq!(count(&sim, "PUT", "/connectors/tcp-ora/pause"), 1);
    // (the restart follows the resume's answer: on a loaded machine a moment later)
    assert!(
        eventually(5 * S, || async {
            failed_task_restarts(&sim, "tcp-ora") >= 1
        })
        .await,
        "its FAILED task was never restarted"
    );
    assert_eq!(failed_task_restarts(&sim, "tcp-ora"), 1);
    agent.wait_phase("tcp-ora", "watching", 5 * S).await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""],
            1.0,
            5 * S,
        )
        .await;
    // ... while nothing flows: the restarted task keeps failing its logon behind RUNNING.
    assert_eq!(sim.task_states("tcp-ora"), vec!["RUNNING"]);
    let (ora, hidden) = (sim.offsets("tcp-ora"), sim.offsets("tcp-hidden"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.offsets("tcp-ora"), ora, "nothing flows");
    assert_eq!(sim.offsets("tcp-hidden"), hidden, "nothing flows");
    assert_eq!(
        agent.value("cdc_sentinel_probe_success", &[&target]).await,
        Some(1.0),
        "the TCP probe reads up all along"
    );
    assert_eq!(count(&sim, "PUT", "/connectors/tcp-hidden/pause"), 0);

    db.instance_up();
    assert!(flowing(&sim, "tcp-ora", 5 * S).await);
    assert!(flowing(&sim, "tcp-hidden", 5 * S).await);
}
