//! Scenario tests: the agent against the simulated Kafka Connect worker (which follows
//! kafka-connect-rest.md: 202 and asynchronous effects, FAILED tasks staying FAILED across
//! pause/resume, 409 windows, plain-text 401) and real TCP databases, each read like a runbook
//! entry. Intervals are tiny real ones, so a night lasts seconds.

use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, Fault, RetryMode, Route, SimConnect, SimOptions};

use crate::support::{eventually, human, logs, Agent, Db};

const S: Duration = Duration::from_secs(1);

async fn sim() -> SimConnect {
    SimConnect::start(SimOptions::default())
        .await
        .expect("sim starts")
}

fn count(sim: &SimConnect, method: &str, suffix: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .count()
}

fn restarts(sim: &SimConnect, name: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == format!("/connectors/{name}/restart")
                && r.query.as_deref() == Some("includeTasks=true&onlyFailed=true")
        })
        .count()
}

/// The `[N] probing TARGET (elapsed ...)` lines for a target, with their probe numbers.
fn probe_lines(log: &str, target: &str) -> Vec<(u64, String)> {
    let needle = format!("] probing {target} (elapsed ");
    log.lines()
        .filter_map(|l| {
            let at = l.find(&needle)?;
            let open = l[..at].rfind('[')?;
            let n = l[open + 1..at].parse().ok()?;
            Some((n, l[open..].to_string()))
        })
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_backup_failed_task_is_held_then_resumed_and_restarted() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("nightly-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("nightly-ora", "RUNNING", 5 * S).await;
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"nightly-ora\""])
            .await,
        Some(0.0)
    );

    // 01:58: the backup takes the database down; the task goes FAILED.
    db.down().await;
    assert!(state_is(&sim, "nightly-ora", "PAUSED", 5 * S).await, "held");
    assert_eq!(
        sim.task_states("nightly-ora"),
        vec!["FAILED"],
        "pausing does not revive a FAILED task"
    );
    agent.wait_phase("nightly-ora", "waiting", 5 * S).await;
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"nightly-ora\""])
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_info",
                &["connector=\"nightly-ora\"", "reason=\"task_failed\""]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_task_failures_total",
                &["connector=\"nightly-ora\""]
            )
            .await,
        Some(1.0)
    );

    // Nothing is resumed while the database is down.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(count(&sim, "PUT", "/nightly-ora/resume"), 0);
    assert_eq!(
        sim.connector_state("nightly-ora").as_deref(),
        Some("PAUSED")
    );

    // Back: resumed, the FAILED task restarted, everything RUNNING and verified.
    db.up().await;
    assert!(
        all_tasks(&sim, "nightly-ora", "RUNNING", 5 * S).await,
        "FAILED task revived: {:?}",
        sim.task_states("nightly-ora")
    );
    assert_eq!(
        sim.connector_state("nightly-ora").as_deref(),
        Some("RUNNING")
    );
    agent.wait_phase("nightly-ora", "watching", 5 * S).await;
    assert_eq!(count(&sim, "PUT", "/nightly-ora/pause"), 1, "one pause");
    assert_eq!(count(&sim, "PUT", "/nightly-ora/resume"), 1, "one resume");
    assert_eq!(
        restarts(&sim, "nightly-ora"),
        1,
        "restart?includeTasks=true&onlyFailed=true once"
    );
    let m = agent.metrics().await;
    assert_eq!(
        crate::support::value(
            &m,
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        crate::support::value(
            &m,
            "cdc_sentinel_actions_total",
            &[
                "connector=\"nightly-ora\"",
                "action=\"pause\"",
                "result=\"ok\""
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        crate::support::value(
            &m,
            "cdc_sentinel_actions_total",
            &[
                "connector=\"nightly-ora\"",
                "action=\"restart\"",
                "result=\"ok\""
            ]
        ),
        Some(1.0)
    );

    // The decision log reads like the runbook, and never shows the connector's password.
    let log = logs();
    for line in [
        "nightly-ora: failure detected",
        "pause requested",
        "hold confirmed",
        "back (2 successful probes in a row)",
        "resume requested and restart of its FAILED tasks",
        "nightly-ora: recovered after",
    ] {
        assert!(log.contains(line), "missing log line {line:?}");
    }
    // While it waits, one line per probe: `[N] probing TARGET (elapsed ...): RESULT; waiting: WHO`.
    let target = format!("{}/ORCLCDB", db.addr);
    let probing = probe_lines(&log, &target);
    assert!(
        probing.iter().any(|(_, l)| l
            .contains("): down: refused (connection refused); waiting: nightly-ora")),
        "no probing line while down for {target}: {probing:?}"
    );
    assert!(
        !log.contains("dbz-secret") && !m.contains("dbz-secret"),
        "password leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_hidden_behind_running_is_held_after_failed_probes() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::postgres("hidden-pg", Some(db.addr)).with_retry(RetryMode::Unlimited),
    );
    let agent = Agent::start(&sim.url(), &["--down-after", "3"]).await;
    agent
        .wait_value(
            "cdc_sentinel_probe_success",
            &["target=\"127.0.0.1:"],
            1.0,
            5 * S,
        )
        .await;

    db.down().await;
    // Debezium retries inside a task that still reads RUNNING; only the probe sees the outage.
    assert!(state_is(&sim, "hidden-pg", "PAUSED", 5 * S).await);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_info",
                &["connector=\"hidden-pg\"", "reason=\"probe_failed\""]
            )
            .await,
        Some(1.0)
    );
    let fails = agent
        .value("cdc_sentinel_probe_failures_total", &["reason=\"refused\""])
        .await
        .unwrap();
    assert!(
        fails >= 3.0,
        "held only after --down-after failures, saw {fails}"
    );

    db.up().await;
    assert!(state_is(&sim, "hidden-pg", "RUNNING", 5 * S).await);
    agent.wait_phase("hidden-pg", "watching", 5 * S).await;
    assert_eq!(
        restarts(&sim, "hidden-pg"),
        0,
        "nothing FAILED, nothing restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_longer_than_max_wait_stays_held_and_says_what_to_do() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("long-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--max-wait", "1500ms"]).await;
    agent.wait_state("long-ora", "RUNNING", 5 * S).await;
    db.down().await;
    agent.wait_phase("long-ora", "timed_out", 6 * S).await;
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_timeouts_total",
                &["connector=\"long-ora\""]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"long-ora\""])
            .await,
        Some(1.0)
    );
    assert_eq!(sim.connector_state("long-ora").as_deref(), Some("PAUSED"));
    let log = logs();
    let line = log
        .lines()
        .find(|l| l.contains("long-ora: manual intervention required"))
        .expect("timeout line");
    assert!(
        line.contains("refused")
            && line.contains("/connectors/long-ora/resume")
            && line.contains("onlyFailed=true"),
        "{line}"
    );
    // what the on-call needs at 02:00: which database, for how long, the last probe's error
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(&format!(
            "long-ora: manual intervention required: database {}/ORCLCDB still down after ",
            db.addr
        )) && line.contains("(max wait 1.5s); last probe: refused (connection refused)."),
        "{line}"
    );

    // --after-timeout hold: the database returns, the connector still waits for a human.
    db.up().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sim.connector_state("long-ora").as_deref(), Some("PAUSED"));
    assert_eq!(count(&sim, "PUT", "/long-ora/resume"), 0);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_timeouts_total",
                &["connector=\"long-ora\""]
            )
            .await,
        Some(1.0),
        "once per incident"
    );

    // The on-call resumes it and restarts the failed task: the agent hands it back.
    assert_eq!(
        human("PUT", format!("{}/connectors/long-ora/resume", sim.url())).await,
        202
    );
    assert_eq!(
        human(
            "POST",
            format!(
                "{}/connectors/long-ora/restart?includeTasks=true&onlyFailed=true",
                sim.url()
            )
        )
        .await,
        202
    );
    agent
        .wait_value(
            "cdc_sentinel_managed",
            &["connector=\"long-ora\""],
            0.0,
            5 * S,
        )
        .await;
    agent.wait_phase("long-ora", "watching", 5 * S).await;
    assert!(all_tasks(&sim, "long-ora", "RUNNING", 5 * S).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_timeout_resume_brings_it_back_when_the_database_returns() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("late-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(
        &sim.url(),
        &["--max-wait", "800ms", "--after-timeout", "resume"],
    )
    .await;
    agent.wait_state("late-ora", "RUNNING", 5 * S).await;
    db.down().await;
    agent.wait_phase("late-ora", "timed_out", 6 * S).await;
    db.up().await;
    assert!(all_tasks(&sim, "late-ora", "RUNNING", 5 * S).await);
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"timed_out_recovered\""],
            1.0,
            5 * S,
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_pause_is_never_undone() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("human-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("human-ora", "RUNNING", 5 * S).await;
    assert_eq!(
        human("PUT", format!("{}/connectors/human-ora/pause", sim.url())).await,
        202
    );
    assert!(state_is(&sim, "human-ora", "PAUSED", 5 * S).await);
    db.down().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    db.up().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        sim.connector_state("human-ora").as_deref(),
        Some("PAUSED"),
        "still the human's"
    );
    assert_eq!(count(&sim, "PUT", "/human-ora/resume"), 0);
    assert_eq!(
        count(&sim, "PUT", "/human-ora/pause"),
        1,
        "only the human's pause"
    );
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"human-ora\""])
            .await,
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_resume_during_recovery_ends_it() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::postgres("takeback-pg", Some(db.addr)).with_retry(RetryMode::Unlimited),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent
        .wait_value(
            "cdc_sentinel_probe_success",
            &["target=\"127.0.0.1:"],
            1.0,
            5 * S,
        )
        .await;
    db.down().await;
    agent.wait_phase("takeback-pg", "waiting", 5 * S).await;
    // The on-call wants it running anyway.
    assert_eq!(
        human(
            "PUT",
            format!("{}/connectors/takeback-pg/resume", sim.url())
        )
        .await,
        202
    );
    agent
        .wait_value(
            "cdc_sentinel_managed",
            &["connector=\"takeback-pg\""],
            0.0,
            5 * S,
        )
        .await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"handed_back\""],
            1.0,
            5 * S,
        )
        .await;
    // The database is still down; the agent does not grab it back.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        sim.connector_state("takeback-pg").as_deref(),
        Some("RUNNING")
    );
    assert_eq!(count(&sim, "PUT", "/takeback-pg/pause"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_failure_needs_attention_and_gets_no_action() {
    let db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("scn-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("scn-ora", "RUNNING", 5 * S).await;
    sim.fail_task(
        "scn-ora",
        0,
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\nCaused by: io.debezium.DebeziumException: Online REDO LOG files or archive log files do not contain the offset scn 9876543. Please perform a new snapshot.",
    );
    agent.wait_phase("scn-ora", "needs_attention", 5 * S).await;
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_info",
                &["connector=\"scn-ora\"", "reason=\"offset_unavailable\""]
            )
            .await,
        Some(1.0)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        count(&sim, "PUT", "/scn-ora/pause")
            + count(&sim, "PUT", "/scn-ora/resume")
            + restarts(&sim, "scn-ora"),
        0,
        "no automatic action"
    );
    let log = logs();
    assert_eq!(
        log.matches("scn-ora: needs attention (offset_unavailable)")
            .count(),
        1,
        "logged once"
    );
    assert!(log.contains("a new snapshot is required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_while_holding_and_resuming_are_retried() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("storm-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("storm-ora", "RUNNING", 5 * S).await;
    let conflict = r#"{"error_code":409,"message":"Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."}"#;
    sim.inject(Route::Pause, Fault::Status(409, conflict.into()), 3);
    sim.inject(
        Route::Restart,
        Fault::Status(
            500,
            r#"{"error_code":500,"message":"Request timed out"}"#.into(),
        ),
        2,
    );
    db.down().await;
    assert!(
        state_is(&sim, "storm-ora", "PAUSED", 15 * S).await,
        "held after the 409s"
    );
    assert_eq!(count(&sim, "PUT", "/storm-ora/pause"), 4);
    db.up().await;
    assert!(
        all_tasks(&sim, "storm-ora", "RUNNING", 15 * S).await,
        "{:?}",
        sim.task_states("storm-ora")
    );
    assert_eq!(restarts(&sim, "storm-ora"), 3);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_actions_total",
                &[
                    "connector=\"storm-ora\"",
                    "action=\"pause\"",
                    "result=\"error\""
                ]
            )
            .await,
        Some(3.0)
    );
    assert!(logs().contains("storm-ora: pause failed: Kafka Connect answered 409"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_links_every_endpoint_and_unknown_paths_are_404() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::oracle("landing-ora", None));
    let agent = Agent::start(&sim.url(), &["--db", "tcp://127.0.0.1:1"]).await;
    agent
        .wait_value("cdc_sentinel_connect_up", &[], 1.0, 5 * S)
        .await;

    // What someone who opens http://host:10150/ in a browser gets.
    let r = reqwest::get(format!("{}/", agent.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        r.headers()
    );
    let page = r.text().await.unwrap();
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(links, ["/metrics", "/healthz", "/readyz"], "{page}");
    for link in links {
        assert_eq!(agent.get(link).await, 200, "{link} linked from /");
    }
    assert!(
        reqwest::get(format!("{}/metrics", agent.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("cdc_sentinel_connector_state{connector=\"landing-ora\""),
        "/metrics answers with the agent's series"
    );

    // A mistyped path is a 404 that says where to go, not the landing page or metrics.
    for path in ["/metric", "/metrics/", "/health", "/favicon.ico"] {
        let r = reqwest::get(format!("{}{path}", agent.base)).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("/metrics"), "{path}: {body}");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/metrics", agent.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405, "read-only endpoints");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_means_still_when_connect_is_unreachable_or_answers_garbage() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("blind-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &[]).await;
    agent
        .wait_value("cdc_sentinel_connect_up", &[], 1.0, 5 * S)
        .await;
    assert_eq!(agent.get("/readyz").await, 200);

    sim.set_reachable(false);
    db.down().await;
    agent
        .wait_value("cdc_sentinel_connect_up", &[], 0.0, 5 * S)
        .await;
    assert!(eventually(5 * S, || async { agent.get("/readyz").await == 503 }).await);
    assert_eq!(agent.get("/healthz").await, 200, "alive all the same");
    sim.set_reachable(true);
    sim.inject(Route::List, Fault::Garbage, 5);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.value("cdc_sentinel_connect_up", &[]).await, Some(0.0));
    assert!(logs().contains("not the expected JSON"));
    // Answers again: now it acts.
    assert!(state_is(&sim, "blind-ora", "PAUSED", 5 * S).await);
    db.up().await;
    assert!(all_tasks(&sim, "blind-ora", "RUNNING", 5 * S).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_text_401_is_reported_with_the_credential_hint() {
    let sim = SimConnect::start(SimOptions {
        auth: Some(("admin".into(), "right-pw".into())),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let db = Db::start().await;
    sim.add_connector(ConnectorSpec::oracle("auth-ora", Some(db.addr)));
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "wrong-pw\n").unwrap();
    let agent = Agent::start(
        &sim.url(),
        &[
            "--connect-user",
            "admin",
            "--connect-password-file",
            pw.to_str().unwrap(),
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(agent.value("cdc_sentinel_connect_up", &[]).await, Some(0.0));
    assert!(logs().contains("401 Unauthorized: check --connect-user"));
    assert!(!logs().contains("wrong-pw") && !agent.metrics().await.contains("wrong-pw"));

    std::fs::write(&pw, "right-pw\n").unwrap();
    let ok = Agent::start(
        &sim.url(),
        &[
            "--connect-user",
            "admin",
            "--connect-password-file",
            pw.to_str().unwrap(),
        ],
    )
    .await;
    ok.wait_value("cdc_sentinel_connect_up", &[], 1.0, 5 * S)
        .await;
    ok.wait_value(
        "cdc_sentinel_connector_state",
        &["connector=\"auth-ora\"", "state=\"RUNNING\""],
        1.0,
        5 * S,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_wait_finishes_the_recovery_after_restart() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("crash-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut first = Agent::start_with_state(&sim.url(), &[], state.clone()).await;
    first
        .wait_value(
            "cdc_sentinel_connector_state",
            &["connector=\"crash-ora\"", "state=\"RUNNING\""],
            1.0,
            5 * S,
        )
        .await;
    db.down().await;
    first.wait_phase("crash-ora", "waiting", 5 * S).await;
    first.kill().await;
    let on_disk = std::fs::read_to_string(&state).unwrap();
    assert!(
        on_disk.contains("crash-ora") && on_disk.contains("waiting"),
        "{on_disk}"
    );

    // A new process: it knows the pause is its own, and does not pause again.
    let mut second = Agent::start_with_state(&sim.url(), &[], state.clone()).await;
    second
        .wait_value(
            "cdc_sentinel_managed",
            &["connector=\"crash-ora\""],
            1.0,
            5 * S,
        )
        .await;
    second.wait_phase("crash-ora", "waiting", 5 * S).await;
    db.up().await;
    assert!(all_tasks(&sim, "crash-ora", "RUNNING", 5 * S).await);
    second.wait_phase("crash-ora", "watching", 5 * S).await;
    assert_eq!(count(&sim, "PUT", "/crash-ora/pause"), 1, "no action twice");
    assert_eq!(count(&sim, "PUT", "/crash-ora/resume"), 1);
    second.stop().await;
    assert!(
        !std::fs::read_to_string(&state)
            .unwrap()
            .contains("crash-ora"),
        "state cleared after recovery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_stops_the_agent_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"version\":1,\"connectors\":{").unwrap();
    use clap::Parser;
    let cli = cdc_sentinel::config::Cli::try_parse_from([
        "cdc-sentinel",
        "run",
        "--state-file",
        state.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
    ])
    .unwrap();
    let Some(cdc_sentinel::config::Command::Run(args)) = cli.command else {
        unreachable!()
    };
    let err = cdc_sentinel::runtime::app::start(
        args.validate().unwrap(),
        cdc_sentinel::runtime::clock::Clock::system(),
    )
    .await
    .err()
    .expect("refuses to start");
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt") && msg.contains("state.json"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"version\":1,\"connectors\":{",
        "never silently reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_counts_what_it_would_do_and_sends_nothing() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("dry-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--dry-run"]).await;
    agent
        .wait_value("cdc_sentinel_dry_run", &[], 1.0, 5 * S)
        .await;
    agent.wait_state("dry-ora", "RUNNING", 5 * S).await;
    db.down().await;
    agent
        .wait_value(
            "cdc_sentinel_actions_total",
            &[
                "connector=\"dry-ora\"",
                "action=\"pause\"",
                "result=\"dry_run\"",
            ],
            1.0,
            5 * S,
        )
        .await;
    db.up().await;
    agent
        .wait_value(
            "cdc_sentinel_actions_total",
            &[
                "connector=\"dry-ora\"",
                "action=\"resume\"",
                "result=\"dry_run\"",
            ],
            1.0,
            5 * S,
        )
        .await;
    assert_eq!(
        sim.requests().iter().filter(|r| r.method != "GET").count(),
        0,
        "nothing sent"
    );
    assert!(!agent.state_file.exists(), "no state written");
    assert!(logs().contains("dry-ora: dry run: would pause"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connectors_on_one_database_share_one_probe_and_one_list_call_per_poll() {
    let mut db = Db::start().await;
    let sim = sim().await;
    for i in 0..20 {
        sim.add_connector(
            ConnectorSpec::oracle(&format!("fleet-{i:02}"), Some(db.addr)).with_retry(
                if i % 2 == 0 {
                    RetryMode::FailFast
                } else {
                    RetryMode::Unlimited
                },
            ),
        );
    }
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("fleet-19", "RUNNING", 5 * S).await;
    let m = agent.metrics().await;
    let targets: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("cdc_sentinel_probe_success{"))
        .collect();
    assert_eq!(
        targets.len(),
        1,
        "one probe per distinct target: {targets:?}"
    );
    // Only list calls: one GET per poll, never one request per connector, apart from the
    // committed offsets (`GET /` once for the version, each connector's at most every
    // --offsets-interval, 30 s: once so far).
    let reqs = sim.requests();
    let offsets_reads = |r: &&cdc_sentinel_sim::Recorded| {
        r.method == "GET"
            && r.path.starts_with("/connectors/fleet-")
            && r.path.ends_with("/offsets")
    };
    assert!(reqs
        .iter()
        .filter(|r| !offsets_reads(r))
        .all(|r| (r.path == "/connectors"
            && r.query.as_deref() == Some("expand=status&expand=info"))
            || (r.path == "/" && r.method == "GET")));
    for i in 0..20 {
        let p = format!("/connectors/fleet-{i:02}/offsets");
        assert!(reqs.iter().filter(|r| r.path == p).count() <= 1, "{p}");
    }

    db.down().await;
    assert!(
        eventually(8 * S, || async {
            (0..20)
                .all(|i| sim.connector_state(&format!("fleet-{i:02}")).as_deref() == Some("PAUSED"))
        })
        .await,
        "all held"
    );
    db.up().await;
    assert!(
        eventually(8 * S, || async {
            (0..20).all(|i| {
                let n = format!("fleet-{i:02}");
                sim.connector_state(&n).as_deref() == Some("RUNNING")
                    && sim.task_states(&n).iter().all(|t| t == "RUNNING")
            })
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_databases_one_down_only_its_connectors_are_held() {
    let mut a = Db::start().await;
    let b = Db::start().await;
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::oracle("two-a", Some(a.addr)).with_retry(RetryMode::FailFast));
    sim.add_connector(ConnectorSpec::oracle("two-b", Some(b.addr)).with_retry(RetryMode::FailFast));
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("two-b", "RUNNING", 5 * S).await;
    a.down().await;
    assert!(state_is(&sim, "two-a", "PAUSED", 5 * S).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(sim.connector_state("two-b").as_deref(), Some("RUNNING"));
    assert_eq!(
        agent
            .value("cdc_sentinel_managed", &["connector=\"two-b\""])
            .await,
        Some(0.0)
    );
    let tb = format!("target=\"{}/ORCLCDB\"", b.addr);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_connector_target_info",
                &["connector=\"two-b\"", &tb]
            )
            .await,
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_with_stop_stops_and_resumes_with_fresh_tasks() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("stop-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--hold-with", "stop"]).await;
    agent.wait_state("stop-ora", "RUNNING", 5 * S).await;
    db.down().await;
    assert!(state_is(&sim, "stop-ora", "STOPPED", 5 * S).await);
    assert!(
        eventually(5 * S, || async { sim.task_states("stop-ora").is_empty() }).await,
        "tasks: []"
    );
    db.up().await;
    assert!(all_tasks(&sim, "stop-ora", "RUNNING", 5 * S).await);
    assert_eq!(count(&sim, "PUT", "/stop-ora/stop"), 1);
    assert_eq!(
        restarts(&sim, "stop-ora"),
        0,
        "resume from STOPPED creates fresh tasks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_with_stop_is_refused_on_a_worker_older_than_3_5() {
    let sim = SimConnect::start(SimOptions {
        version: "3.4.1".into(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let mut agent = Agent::start(&sim.url(), &["--hold-with", "stop"]).await;
    let running = agent.running.take().unwrap();
    let r = tokio::time::timeout(5 * S, running.task)
        .await
        .expect("agent stops")
        .unwrap();
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("3.5") && msg.contains("3.4.1") && msg.contains("--hold-with pause"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_outside_the_selection_are_watched_but_never_touched() {
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("sel-keep", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(
        ConnectorSpec::oracle("sel-skip", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--exclude", "sel-skip"]).await;
    agent
        .wait_value(
            "cdc_sentinel_connector_selected",
            &["connector=\"sel-skip\""],
            0.0,
            5 * S,
        )
        .await;
    db.down().await;
    assert!(state_is(&sim, "sel-keep", "PAUSED", 5 * S).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.connector_state("sel-skip").as_deref(), Some("RUNNING"));
    assert_eq!(count(&sim, "PUT", "/sel-skip/pause"), 0);
    // Its failure is visible for the "failed, unmanaged" alert.
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_connector_tasks",
                &["connector=\"sel-skip\"", "state=\"FAILED\""]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value("cdc_sentinel_recovery_active", &["connector=\"sel-skip\""])
            .await,
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_without_a_target_is_reported_not_guessed() {
    let sim = sim().await;
    let mut spec = ConnectorSpec::postgres("notarget", None);
    spec.class = "org.apache.kafka.connect.file.FileStreamSourceConnector".into();
    sim.add_connector(spec);
    let agent = Agent::start(&sim.url(), &[]).await;
    agent
        .wait_value(
            "cdc_sentinel_connector_target_unknown",
            &["connector=\"notarget\""],
            1.0,
            5 * S,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        logs().matches("notarget: no database target").count(),
        1,
        "one clear line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_connector_disappears_from_metrics() {
    // A connector that failed and was held, then deleted by its owner: every series with its
    // name goes, counters included, so dashboards show no ghost and connector churn does not
    // grow the scrape. Its neighbour keeps its own.
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("gone-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(ConnectorSpec::oracle("kept-ora", Some(db.addr)));
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("gone-ora", "RUNNING", 5 * S).await;
    db.down().await;
    assert!(state_is(&sim, "gone-ora", "PAUSED", 5 * S).await);
    assert!(
        eventually(5 * S, || async {
            let m = agent.metrics().await;
            m.contains("cdc_sentinel_task_failures_total{connector=\"gone-ora\"} 1")
                && m.contains(
                    "cdc_sentinel_actions_total{connector=\"gone-ora\",action=\"pause\",result=\"ok\"} 1",
                )
        })
        .await,
        "the failure and the hold are counted first"
    );
    sim.delete_connector("gone-ora");
    assert!(
        eventually(5 * S, || async {
            !agent.metrics().await.contains("connector=\"gone-ora\"")
        })
        .await,
        "series left for a deleted connector:\n{}",
        agent
            .metrics()
            .await
            .lines()
            .filter(|l| l.contains("gone-ora"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let m = agent.metrics().await;
    assert!(m.contains("cdc_sentinel_actions_total{connector=\"kept-ora\""));
    assert!(m.contains("cdc_sentinel_connector_state{connector=\"kept-ora\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_still_starting_answers_html_and_the_agent_waits() {
    // Seen on a real 3.9 worker: for a few seconds after start-up, Jetty answers the listing
    // with a 404 HTML page. No action on that, and one readable log line, not the page.
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("boot-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let page = "<html>\n<head>\n<title>Error 404 Not Found</title>\n</head>\n<body><h2>HTTP ERROR 404 Not Found</h2>\n<table>\n<tr><th>URI:</th><td>/connectors</td></tr>\n</table>\n</body>\n</html>\n";
    let agent = Agent::start(&sim.url(), &[]).await;
    agent.wait_state("boot-ora", "RUNNING", 5 * S).await;
    // The worker restarts (Jetty answers before Connect does) just as the database goes away.
    sim.inject(Route::List, Fault::Status(404, page.into()), 8);
    db.down().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.value("cdc_sentinel_connect_up", &[]).await, Some(0.0));
    assert_eq!(
        count(&sim, "PUT", "/boot-ora/pause"),
        0,
        "no action while blind"
    );
    let log = logs();
    let line = log
        .lines()
        .find(|l| l.contains("Kafka Connect poll failed") && l.contains("HTML page"))
        .expect("one readable line");
    assert!(
        line.contains("Error 404 Not Found") && !log.contains("<h2>"),
        "{line}"
    );
    // The worker is up: now it acts.
    assert!(state_is(&sim, "boot-ora", "PAUSED", 5 * S).await);
    db.up().await;
    assert!(all_tasks(&sim, "boot-ora", "RUNNING", 5 * S).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_stop_right_after_our_pause_is_never_overridden() {
    // Seen against a real worker: the on-call stops the connector before the agent's next
    // poll has seen its own pause. The agent must not turn the STOPPED back into PAUSED.
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("race-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    // A slow pause answer leaves time for the human in between.
    let agent = Agent::start(&sim.url(), &["--poll-interval", "300ms"]).await;
    agent.wait_state("race-ora", "RUNNING", 5 * S).await;
    db.down().await;
    assert!(
        eventually(5 * S, || async {
            count(&sim, "PUT", "/race-ora/pause") == 1
        })
        .await
    );
    assert_eq!(
        human("PUT", format!("{}/connectors/race-ora/stop", sim.url())).await,
        204
    );
    assert!(state_is(&sim, "race-ora", "STOPPED", 5 * S).await);
    agent
        .wait_value(
            "cdc_sentinel_managed",
            &["connector=\"race-ora\""],
            0.0,
            5 * S,
        )
        .await;
    db.up().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sim.connector_state("race-ora").as_deref(),
        Some("STOPPED"),
        "still the human's"
    );
    assert_eq!(count(&sim, "PUT", "/race-ora/pause"), 1);
    assert_eq!(count(&sim, "PUT", "/race-ora/resume"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_holds_a_healthy_connector_and_resumes_only_after_it() {
    let db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("maint-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(
        ConnectorSpec::oracle("maint-other", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fmt = |t: i64| {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(t as u64))
            .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("windows.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[maintenance]]\nstart = \"{}\"\nend = \"{}\"\nconnectors = [\"maint-ora\"]\n",
            fmt(now + 1),
            fmt(now + 4)
        ),
    )
    .unwrap();
    let agent = Agent::start(&sim.url(), &["--config", cfg.to_str().unwrap()]).await;
    agent.wait_state("maint-ora", "RUNNING", 5 * S).await;

    // The window starts: held although the database is up; the other connector is untouched.
    agent
        .wait_value(
            "cdc_sentinel_maintenance_active",
            &["connector=\"maint-ora\""],
            1.0,
            5 * S,
        )
        .await;
    assert!(state_is(&sim, "maint-ora", "PAUSED", 5 * S).await);
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_info",
                &["connector=\"maint-ora\"", "reason=\"maintenance\""]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_maintenance_active",
                &["connector=\"maint-other\""]
            )
            .await,
        Some(0.0)
    );
    assert_eq!(
        sim.connector_state("maint-other").as_deref(),
        Some("RUNNING")
    );

    // The database answers all along, yet nothing is resumed before the window ends.
    let ends = std::time::UNIX_EPOCH + Duration::from_secs((now + 4) as u64);
    while std::time::SystemTime::now() + Duration::from_millis(300) < ends {
        assert_eq!(
            count(&sim, "PUT", "/maint-ora/resume"),
            0,
            "resumed inside the window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        state_is(&sim, "maint-ora", "RUNNING", 5 * S).await,
        "resumed after the window"
    );
    agent
        .wait_value(
            "cdc_sentinel_maintenance_active",
            &["connector=\"maint-ora\""],
            0.0,
            5 * S,
        )
        .await;
    agent.wait_phase("maint-ora", "watching", 5 * S).await;
    assert_eq!(count(&sim, "PUT", "/maint-other/pause"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_action_is_given_longer_than_a_status_read() {
    // Seen on a real worker: PUT /stop answered after 10.6 s (the leader writes the task list
    // and the target state, then reads the config topic to the end). Actions have their own,
    // longer timeout, so a slow success is counted as a success, not retried as an error.
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("slow-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(
        &sim.url(),
        &[
            "--connect-timeout",
            "300ms",
            "--connect-action-timeout",
            "5s",
        ],
    )
    .await;
    agent.wait_state("slow-ora", "RUNNING", 5 * S).await;
    sim.inject(Route::Pause, Fault::Slow(Duration::from_millis(900)), 1);
    db.down().await;
    assert!(state_is(&sim, "slow-ora", "PAUSED", 5 * S).await);
    agent
        .wait_value(
            "cdc_sentinel_actions_total",
            &[
                "connector=\"slow-ora\"",
                "action=\"pause\"",
                "result=\"ok\"",
            ],
            1.0,
            5 * S,
        )
        .await;
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_actions_total",
                &[
                    "connector=\"slow-ora\"",
                    "action=\"pause\"",
                    "result=\"error\""
                ]
            )
            .await,
        Some(0.0)
    );
    assert_eq!(count(&sim, "PUT", "/slow-ora/pause"), 1, "not sent twice");
}

/// A TCP "database" on a fixed port for the flapping scenario: up (accepting) while it serves,
/// down (connections refused) otherwise, and able to come up for exactly one probe.
struct FlapDb {
    addr: std::net::SocketAddr,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl FlapDb {
    async fn start() -> FlapDb {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut db = FlapDb {
            addr: l.local_addr().unwrap(),
            serving: None,
        };
        db.serve(l);
        db
    }

    /// Binds the port again (std sets SO_REUSEADDR; retried while the old socket goes).
    async fn bind(&self) -> std::net::TcpListener {
        for _ in 0..100 {
            if let Ok(l) = std::net::TcpListener::bind(self.addr) {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("cannot reopen {}", self.addr)
    }

    fn serve(&mut self, l: std::net::TcpListener) {
        l.set_nonblocking(true).unwrap();
        let l = tokio::net::TcpListener::from_std(l).unwrap();
        self.serving = Some(tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                drop(s);
            }
        }));
    }

    async fn up(&mut self) {
        if self.serving.is_none() {
            let l = self.bind().await;
            self.serve(l);
        }
    }

    async fn down(&mut self) {
        if let Some(t) = self.serving.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Opens the port, accepts the agent's next probe and closes the port at once: the probes
    /// are a probe interval apart, so exactly one of them finds it up.
    async fn up_for_one_probe(&mut self) {
        assert!(self.serving.is_none(), "down before a one-probe flap");
        let l = self.bind().await;
        let accepted = tokio::task::spawn_blocking(move || {
            l.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                match l.accept() {
                    Ok(_) => return true, // listener and stream dropped here: down again
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            false
        })
        .await
        .unwrap();
        assert!(accepted, "the agent probed the database within 30s");
    }
}

impl Drop for FlapDb {
    fn drop(&mut self) {
        if let Some(t) = self.serving.take() {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_database_is_not_resumed_until_it_stays_up() {
    // The PowerShell loop resumed after one successful port test; a database that answers one
    // probe and goes away again (a restart loop, a listener up before the instance) must not
    // be resumed: --up-after 2 means two good probes in a row.
    let mut db = FlapDb::start().await;
    let sim = sim().await;
    for n in ["flap-a", "flap-b"] {
        sim.add_connector(ConnectorSpec::postgres(n, None).with_retry(RetryMode::Unlimited));
    }
    let db_url = format!("tcp://{}", db.addr);
    let agent = Agent::start(
        &sim.url(),
        &[
            "--db",
            &db_url,
            "--probe-interval",
            "300ms",
            "--down-after",
            "3",
            "--up-after",
            "2",
        ],
    )
    .await;
    let target = db.addr.to_string();
    let tl = format!("target=\"{target}\"");
    agent
        .wait_value("cdc_sentinel_probe_success", &[&tl], 1.0, 10 * S)
        .await;

    db.down().await;
    for n in ["flap-a", "flap-b"] {
        agent.wait_phase(n, "waiting", 10 * S).await;
        assert_eq!(
            sim.connector_state(n).as_deref(),
            Some("PAUSED"),
            "{n} held"
        );
    }
    let resumes = |n: &str| {
        let c = format!("connector=\"{n}\"");
        let m = agent.metrics();
        async move {
            crate::support::value(
                &m.await,
                "cdc_sentinel_actions_total",
                &[&c, "action=\"resume\"", "result=\"ok\""],
            )
        }
    };
    let probes = || async {
        let m = agent.metrics().await;
        let total = crate::support::value(&m, "cdc_sentinel_probe_duration_seconds_count", &[&tl]);
        let refused = crate::support::value(
            &m,
            "cdc_sentinel_probe_failures_total",
            &[&tl, "reason=\"refused\""],
        );
        (total.unwrap_or(0.0), refused.unwrap_or(0.0))
    };

    for flap in 1..=4 {
        let (total0, refused0) = probes().await;
        db.up_for_one_probe().await;
        // the agent saw it up once, then down again
        let seen = eventually(10 * S, || async {
            let (t, r) = probes().await;
            t >= total0 + 2.0 && r >= refused0 + 1.0
        })
        .await;
        assert!(
            seen,
            "flap {flap}: the agent probed again after the good probe"
        );
        let (total1, refused1) = probes().await;
        assert_eq!(
            (total1 - total0) - (refused1 - refused0),
            1.0,
            "flap {flap}: exactly one good probe while it was up"
        );
        for n in ["flap-a", "flap-b"] {
            assert_eq!(resumes(n).await, Some(0.0), "flap {flap}: {n} not resumed");
            assert_eq!(
                sim.connector_state(n).as_deref(),
                Some("PAUSED"),
                "flap {flap}: {n}"
            );
        }
    }
    for n in ["flap-a", "flap-b"] {
        assert_eq!(count(&sim, "PUT", &format!("/{n}/resume")), 0);
        agent.wait_phase(n, "waiting", S).await;
    }
    // while it waits, one probing line per probe names the target and both connectors
    let probing = probe_lines(&logs(), &target);
    assert!(
        probing
            .iter()
            .any(|(_, l)| l
                .contains("): down: refused (connection refused); waiting: flap-a, flap-b")),
        "probing lines for {target}: {probing:?}"
    );

    // Now it stays up: two good probes in a row, and each connector is resumed once.
    db.up().await;
    for n in ["flap-a", "flap-b"] {
        let c = format!("connector=\"{n}\"");
        agent
            .wait_value(
                "cdc_sentinel_actions_total",
                &[&c, "action=\"resume\"", "result=\"ok\""],
                1.0,
                10 * S,
            )
            .await;
        agent.wait_phase(n, "watching", 10 * S).await;
        assert_eq!(sim.connector_state(n).as_deref(), Some("RUNNING"));
        assert_eq!(
            count(&sim, "PUT", &format!("/{n}/pause")),
            1,
            "{n}: held once"
        );
        assert_eq!(
            count(&sim, "PUT", &format!("/{n}/resume")),
            1,
            "{n}: resumed once"
        );
        assert!(
            logs().contains(&format!(
                "{n}: database {target} back (2 successful probes in a row)"
            )),
            "{n}: back after two good probes in a row"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_action_does_not_make_the_agent_unready() {
    // The next poll waits for the actions in flight. A worker answering a pause in 4 s (a real
    // one took 10.6 s for a stop) is no reason for /readyz to fail: in a sidecar that would take
    // the Kafka Connect pod out of its Service. The allowance is the action timeout, no more.
    let mut db = Db::start().await;
    let sim = sim().await;
    sim.add_connector(
        ConnectorSpec::oracle("lazy-ora", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--connect-action-timeout", "8s"]).await;
    agent.wait_state("lazy-ora", "RUNNING", 5 * S).await;
    sim.inject(Route::Pause, Fault::Slow(Duration::from_millis(4_500)), 1);
    db.down().await;
    let t = std::time::Instant::now();
    assert!(
        eventually(5 * S, || async {
            count(&sim, "PUT", "/lazy-ora/pause") == 1
        })
        .await,
        "the pause was sent"
    );
    // three poll intervals (at least 3 s) pass while the pause is answered
    let mut seen = Vec::new();
    while count_ok(&agent, "lazy-ora").await == 0 && t.elapsed() < 10 * S {
        seen.push(agent.get("/readyz").await.as_u16());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        t.elapsed() >= Duration::from_millis(3_500),
        "the slow answer must outlast 3 poll intervals for this test to mean anything"
    );
    assert!(
        seen.iter().all(|c| *c == 200),
        "/readyz while a pause was in flight: {seen:?}"
    );
    assert!(state_is(&sim, "lazy-ora", "PAUSED", 5 * S).await);
}

async fn count_ok(agent: &Agent, connector: &str) -> u64 {
    let c = format!("connector=\"{connector}\"");
    agent
        .value(
            "cdc_sentinel_actions_total",
            &[&c, "action=\"pause\"", "result=\"ok\""],
        )
        .await
        .unwrap_or(0.0) as u64
}
