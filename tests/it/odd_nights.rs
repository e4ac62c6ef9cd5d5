//! The odd moments of a real night (issue 11): a worker restarting mid-outage, 409 storms, a
//! human's pause during one, the agent's own blind spots, a state directory that vanishes,
//! resumes that never land, a connector name that is hostile to a shell. Each was a wrong
//! action before; each test reads like the runbook entry it protects.

use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, Fault, RetryMode, Route, SimConnect, SimOptions};

use crate::support::{eventually, logs, Agent, Db};

const S: Duration = Duration::from_secs(1);

async fn sim() -> SimConnect {
    SimConnect::start(SimOptions::default())
        .await
        .expect("sim starts")
}

fn sent(sim: &SimConnect, method: &str, path: &str) -> usize {
    sim.requests().iter().filter(|r| r.is(method, path)).count()
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

fn conflict() -> Fault {
    Fault::Status(
        409,
        r#"{"error_code":409,"message":"Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."}"#.into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_restart_mid_outage_does_not_make_the_agent_forget_its_hold() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "restart-mid-outage";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    db.down().await;
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await, "held");
    agent.wait_phase(name, "waiting", 5 * S).await;

    // The worker restarts: for 2 s (20 polls) it lists nothing and /health says starting.
    sim.restart_worker_for(2 * S);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = logs();
    assert!(
        !log.contains(&format!("{name}: deleted while held")),
        "an empty listing is blindness, not a deletion:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "{name}: missing from Kafka Connect's listing while the agent holds it (GET /health:"
        )),
        "one line says why the hold is kept:\n{log}"
    );
    // It is back, PAUSED as the agent left it: still the agent's hold.
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await);
    agent.wait_phase(name, "waiting", 5 * S).await;

    db.up().await;
    assert!(state_is(&sim, name, "RUNNING", 10 * S).await, "resumed");
    assert!(all_tasks(&sim, name, "RUNNING", 10 * S).await);
    agent.wait_phase(name, "watching", 10 * S).await;
    assert!(logs().contains(&format!("{name}: recovered after")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_deleted_while_held_is_dropped_once_the_worker_confirms_it() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "deleted-while-held";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    db.down().await;
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await);
    sim.delete_connector(name);
    assert!(
        eventually(5 * S, || async {
            logs().contains(&format!("{name}: deleted while held"))
        })
        .await,
        "a healthy worker's 404 for its status confirms the deletion"
    );
    assert!(sent(&sim, "GET", &format!("/connectors/{name}/status")) >= 3);
    assert!(agent.view(name).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_humans_pause_during_a_409_storm_is_never_resumed_by_the_agent() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "storm-human";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    // Every pause of the agent's meets a rebalance.
    sim.inject(Route::Pause, conflict(), 100_000);
    db.down().await;
    assert!(
        eventually(5 * S, || async {
            sent(&sim, "PUT", &format!("/connectors/{name}/pause")) >= 3
        })
        .await
    );
    // The on-call pauses it by hand (through another worker).
    sim.pause_by_hand(name);
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await);
    agent.wait_phase(name, "watching", 5 * S).await;
    assert!(logs().contains(&format!("{name}: someone else changed it to PAUSED")));
    sim.clear_faults();
    // The database comes back: the human's pause stays the human's.
    db.up().await;
    tokio::time::sleep(2 * S).await;
    assert_eq!(sent(&sim, "PUT", &format!("/connectors/{name}/resume")), 0);
    assert_eq!(sim.connector_state(name).as_deref(), Some("PAUSED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_storm_is_retried_at_the_poll_interval_and_the_hold_lands_a_poll_later() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "storm-short";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    // A rebalance refuses four requests (capped backoff made that 15 s before).
    sim.inject(Route::Pause, conflict(), 4);
    let t = tokio::time::Instant::now();
    db.down().await;
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await);
    let took = t.elapsed();
    assert_eq!(sent(&sim, "PUT", &format!("/connectors/{name}/pause")), 5);
    assert!(took < 3 * S, "held {took:?} after the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_storm_that_outlasts_the_max_wait_gives_up_and_says_so() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "storm-long";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "2s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    sim.inject(Route::Pause, conflict(), 100_000);
    db.down().await;
    agent.wait_phase(name, "timed_out", 6 * S).await;
    let line = logs()
        .lines()
        .find(|l| l.contains(&format!("{name}: manual intervention required")))
        .expect("the timeout line")
        .to_string();
    assert!(
        line.contains("could not hold it:")
            && line.contains("pause attempts failed, last:")
            && line.contains("409")
            && line.contains("the connector is RUNNING, not held"),
        "{line}"
    );
    assert!(!line.contains("stays PAUSED"), "{line}");
    agent
        .wait_value(
            "cdc_sentinel_managed",
            &[&format!("connector=\"{name}\"")],
            0.0,
            S,
        )
        .await;
    // After giving up nothing is sent, even once the conflicts end.
    let pauses = sent(&sim, "PUT", &format!("/connectors/{name}/pause"));
    sim.clear_faults();
    tokio::time::sleep(S).await;
    assert_eq!(
        sent(&sim, "PUT", &format!("/connectors/{name}/pause")),
        pauses,
        "no hold after giving up"
    );
    assert_eq!(sim.connector_state(name).as_deref(), Some("RUNNING"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_the_agent_cannot_resolve_never_holds_a_running_connector() {
    let sim = sim().await;
    let name = "split-dns";
    // Debezium's default retries: the connector reads RUNNING (Connect reaches the database).
    sim.add_connector(ConnectorSpec::oracle(name, None).with_retry(RetryMode::Unlimited));
    let agent = Agent::start(
        &sim.url(),
        &[
            "--connector",
            name,
            "--db",
            "tcp://no-such-host.invalid:1521",
        ],
    )
    .await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    agent
        .wait_value(
            "cdc_sentinel_probe_blind",
            &["target=\"no-such-host.invalid:1521\""],
            1.0,
            5 * S,
        )
        .await;
    tokio::time::sleep(S).await; // ten probe intervals of dns failures
    assert_eq!(sent(&sim, "PUT", &format!("/connectors/{name}/pause")), 0);
    assert_eq!(sim.connector_state(name).as_deref(), Some("RUNNING"));
    let log = logs();
    assert!(
        log.contains("database no-such-host.invalid:1521: the agent cannot see it (dns")
            && log.contains(&format!("while {name} reads RUNNING")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_directory_that_vanishes_stops_the_agent_before_it_logs_or_sends_a_pause() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "vanished-state-dir";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let mut agent = Agent::start_with_state(&sim.url(), &[], state_dir.join("state.json")).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    std::fs::remove_dir_all(&state_dir).unwrap();
    db.down().await;
    let task = agent.running.take().unwrap().task;
    let ended = tokio::time::timeout(5 * S, task).await;
    let Ok(Ok(Err(e))) = ended else {
        panic!("the agent stops on the failed write-ahead: {ended:?}")
    };
    assert!(e.to_string().contains("state.json"), "{e}");
    let log = logs();
    assert!(
        !log.contains(&format!("{name}: holding it while")),
        "no 'pause requested' before the write-ahead succeeded:\n{log}"
    );
    assert_eq!(sent(&sim, "PUT", &format!("/connectors/{name}/pause")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_answered_404_for_ever_ends_in_needs_attention() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "resume-404";
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent.wait_state(name, "RUNNING", 5 * S).await;
    db.down().await;
    assert!(state_is(&sim, name, "PAUSED", 5 * S).await);
    // A proxy in front of the worker answers 404 to every resume.
    sim.inject(
        Route::Resume,
        Fault::Status(
            404,
            format!(r#"{{"error_code":404,"message":"Unknown connector {name}"}}"#),
        ),
        100_000,
    );
    db.up().await;
    agent.wait_phase(name, "needs_attention", 10 * S).await;
    assert_eq!(
        agent.view(name).and_then(|v| v.reason).map(|r| r.as_str()),
        Some("resume_failed")
    );
    let resumes = sent(&sim, "PUT", &format!("/connectors/{name}/resume"));
    assert!(resumes < 20, "backed off: {resumes} resumes");
    tokio::time::sleep(S).await;
    assert_eq!(
        sent(&sim, "PUT", &format!("/connectors/{name}/resume")),
        resumes,
        "ended"
    );
    assert!(logs().contains(&format!("{name}: needs attention (resume_failed)")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remedy_printed_for_a_hostile_name_does_exactly_what_it_says() {
    let mut db = Db::start().await;
    let sim = sim().await;
    let name = "orders v2/eu'; touch /tmp/cdc-sentinel-pwned-it; echo '";
    let _ = std::fs::remove_file("/tmp/cdc-sentinel-pwned-it");
    sim.add_connector(ConnectorSpec::oracle(name, Some(db.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &["--max-wait", "1s"]).await;
    // The connector running and its database seen up by the agent before the outage (a
    // database never seen up is the agent's blind spot, and a task that never logged on does
    // not fail the way a running one does).
    agent.wait_state(name, "RUNNING", 10 * S).await;
    agent
        .wait_value("cdc_sentinel_probe_success", &[], 1.0, 10 * S)
        .await;
    db.down().await;
    // (generous: on a loaded 2-core CI machine the hold, its confirmation and the 1 s wait
    // took more than 6 s once; it returns as soon as the line is there)
    assert!(
        eventually(30 * S, || async {
            logs().contains("orders v2/eu'; touch /tmp/cdc-sentinel-pwned-it; echo ': manual intervention required")
        })
        .await,
        "no timeout line for the hostile name; the agent's lines for it:\n{}",
        logs().lines().filter(|l| l.contains("pwned-it")).collect::<Vec<_>>().join("\n")
    );
    let line = logs()
        .lines()
        .find(|l| l.contains("pwned-it; echo ': manual intervention required"))
        .unwrap()
        .to_string();
    let remedy = &line[line.find("When the database is back: ").unwrap() + 27..];
    // (the text log appends the line's fields after the message)
    let remedy = &remedy[..remedy.find(" connector=").unwrap_or(remedy.len())];
    // Paste it into a shell whose curl prints its arguments, one per line.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("curl() {{ printf '%s\\n' \"$@\"; }}; {remedy}"))
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let base = sim.url();
    let encoded = "orders%20v2%2Feu%27%3B%20touch%20%2Ftmp%2Fcdc-sentinel-pwned-it%3B%20echo%20%27";
    assert_eq!(
        printed,
        format!(
            "-X\nPUT\n{base}/connectors/{encoded}/resume\n-X\nPOST\n{base}/connectors/{encoded}/restart?includeTasks=true&onlyFailed=true\n"
        )
    );
    assert!(!std::path::Path::new("/tmp/cdc-sentinel-pwned-it").exists());
}
