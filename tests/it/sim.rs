//! The simulated Kafka Connect worker behaves like the real one (docs/kafka-connect-rest.md,
//! docs/real-kafka-connect.md): asynchronous 202s, FAILED that pause cannot fix, restart plans,
//! stop/resume, rebalance windows, plain-text 401, `expand` handling, database outages with
//! and without Debezium retries, and committed offsets that move only while data flows.
//! Real HTTP against the sim; test databases are real TCP listeners on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cdc_sentinel_sim::{ConnectorSpec, DbCheck, Fault, RetryMode, Route, SimConnect, SimOptions};
use serde_json::Value;
use tokio::net::TcpListener;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn sim_with(opts: SimOptions) -> SimConnect {
    SimConnect::start(opts).await.expect("sim starts")
}

async fn sim() -> SimConnect {
    sim_with(SimOptions::default()).await
}

/// Polls `f` every 10 ms until it holds, or panics after `secs` seconds.
async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends a request; returns status, content type and body text.
async fn call(method: &str, url: &str) -> (u16, String, String) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = client().request(m, url).send().await.expect("request");
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

async fn json(method: &str, url: &str) -> (u16, Value) {
    let (s, _, body) = call(method, url).await;
    (
        s,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}")),
    )
}

/// Asserts a Connect error body `{"error_code":code,"message":message}`.
async fn assert_error(method: &str, url: &str, code: u16, message: &str) {
    let (s, ctype, body) = call(method, url).await;
    assert_eq!(s, code, "{method} {url}: {body}");
    assert!(
        ctype.starts_with("application/json"),
        "{method} {url}: {ctype}"
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error_code"], code, "{body}");
    assert_eq!(v["message"], message, "{method} {url}");
}

async fn db() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

fn st(sim: &SimConnect, name: &str) -> Option<String> {
    sim.connector_state(name)
}

fn tasks(sim: &SimConnect, name: &str) -> Vec<String> {
    sim.task_states(name)
}

#[tokio::test]
async fn root_health_and_names() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("b", None));
    sim.add_connector(ConnectorSpec::postgres("a", None));
    let (s, root) = json("GET", &sim.url()).await;
    assert_eq!(s, 200);
    assert_eq!(root["version"], "3.9.0");
    assert!(root["commit"].is_string() && root["kafka_cluster_id"].is_string());
    let (s, h) = json("GET", &format!("{}/health", sim.url())).await;
    assert_eq!((s, h["status"].as_str()), (200, Some("healthy")));
    let (s, names) = json("GET", &format!("{}/connectors", sim.url())).await;
    assert_eq!(s, 200);
    assert_eq!(names, serde_json::json!(["a", "b"]));
    sim.shutdown().await;
}

#[tokio::test]
async fn expand_must_be_repeated_and_info_carries_the_secret_config() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(2));
    let base = format!("{}/connectors", sim.url());
    let (s, v) = json("GET", &format!("{base}?expand=status&expand=info")).await;
    assert_eq!(s, 200);
    let e = &v["inv"];
    assert_eq!(e["status"]["connector"]["state"], "RUNNING");
    assert_eq!(e["status"]["type"], "source");
    assert_eq!(e["info"]["config"]["database.password"], "dbz-secret");
    assert_eq!(
        e["info"]["config"]["connector.class"],
        "io.debezium.connector.postgresql.PostgresConnector"
    );
    assert_eq!(
        e["info"]["tasks"],
        serde_json::json!([{"connector": "inv", "task": 0}, {"connector": "inv", "task": 1}])
    );
    let (_, v) = json("GET", &format!("{base}?expand=status")).await;
    assert!(v["inv"]["status"].is_object() && v["inv"].get("info").is_none());
    // One comma-joined value is one unknown value: every connector maps to {}.
    let (s, v) = json("GET", &format!("{base}?expand=status,info")).await;
    assert_eq!(s, 200);
    assert_eq!(v, serde_json::json!({"inv": {}}));
    sim.shutdown().await;
}

#[tokio::test]
async fn status_shape_omits_empty_traces_and_sorts_tasks() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(3));
    sim.fail_task(
        "inv",
        1,
        "java.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)",
    );
    let (s, v) = json("GET", &format!("{}/connectors/inv/status", sim.url())).await;
    assert_eq!(s, 200);
    let worker = sim.worker_id();
    assert_eq!(worker, format!("127.0.0.1:{}", sim.addr().port()));
    assert_eq!(v["name"], "inv");
    assert_eq!(v["type"], "source");
    assert_eq!(
        v["connector"],
        serde_json::json!({"state": "RUNNING", "worker_id": worker})
    );
    let ids: Vec<u64> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![0, 1, 2]);
    assert!(v["tasks"][0].get("trace").is_none());
    assert_eq!(v["tasks"][1]["state"], "FAILED");
    assert!(v["tasks"][1]["trace"]
        .as_str()
        .unwrap()
        .starts_with("java.lang.IllegalStateException"));
    let (s, t) = json(
        "GET",
        &format!("{}/connectors/inv/tasks/1/status", sim.url()),
    )
    .await;
    assert_eq!((s, t["state"].as_str()), (200, Some("FAILED")));
    assert_error(
        "GET",
        &format!("{}/connectors/inv/tasks/7/status", sim.url()),
        404,
        "No status found for task inv-7",
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_carry_the_real_codes_and_messages() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    let c = format!("{}/connectors", sim.url());
    assert_error(
        "GET",
        &format!("{c}/nope/status"),
        404,
        "No status found for connector nope",
    )
    .await;
    for p in ["", "/config", "/tasks", "/offsets"] {
        assert_error(
            "GET",
            &format!("{c}/nope{p}"),
            404,
            "Connector nope not found",
        )
        .await;
    }
    assert_error(
        "PUT",
        &format!("{c}/nope/pause"),
        404,
        "Unknown connector nope",
    )
    .await;
    assert_error(
        "PUT",
        &format!("{c}/nope/resume"),
        404,
        "Unknown connector nope",
    )
    .await;
    assert_error(
        "PUT",
        &format!("{c}/nope/stop"),
        404,
        "Unknown connector nope",
    )
    .await;
    assert_error(
        "POST",
        &format!("{c}/nope/restart"),
        404,
        "Unknown connector: nope",
    )
    .await;
    assert_error(
        "POST",
        &format!("{c}/nope/restart?includeTasks=true&onlyFailed=true"),
        404,
        "Unknown connector: nope",
    )
    .await;
    assert_error(
        "POST",
        &format!("{c}/nope/tasks/0/restart"),
        404,
        "Unknown connector: nope",
    )
    .await;
    assert_error(
        "POST",
        &format!("{c}/inv/tasks/5/restart"),
        404,
        "Unknown task: inv-5",
    )
    .await;
    assert_error(
        "GET",
        &format!("{}/no/such/route", sim.url()),
        404,
        "HTTP 404 Not Found",
    )
    .await;
    assert_error(
        "GET",
        &format!("{c}/inv/pause"),
        405,
        "HTTP 405 Method Not Allowed",
    )
    .await;
    assert_error(
        "POST",
        &format!("{c}/inv/status"),
        405,
        "HTTP 405 Method Not Allowed",
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn pause_and_resume_answer_202_and_take_effect_later() {
    let sim = sim_with(SimOptions {
        effect_delay: Duration::from_millis(800),
        ..SimOptions::default()
    })
    .await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(2));
    let url = format!("{}/connectors/inv", sim.url());
    let (s, _, body) = call("PUT", &format!("{url}/pause")).await;
    assert_eq!((s, body.as_str()), (202, ""));
    // Accepted and written, not applied yet.
    assert_eq!(sim.target_state("inv").as_deref(), Some("PAUSED"));
    let (_, v) = json("GET", &format!("{url}/status")).await;
    assert_eq!(v["connector"]["state"], "RUNNING");
    eventually("paused", 5, || st(&sim, "inv").as_deref() == Some("PAUSED")).await;
    assert_eq!(tasks(&sim, "inv"), vec!["PAUSED", "PAUSED"]);
    // Idempotent.
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    assert_eq!(st(&sim, "inv").as_deref(), Some("PAUSED"));
    let (s, _, body) = call("PUT", &format!("{url}/resume")).await;
    assert_eq!((s, body.as_str()), (202, ""));
    assert_eq!(st(&sim, "inv").as_deref(), Some("PAUSED"));
    eventually("running again", 5, || {
        st(&sim, "inv").as_deref() == Some("RUNNING")
    })
    .await;
    assert_eq!(tasks(&sim, "inv"), vec!["RUNNING", "RUNNING"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_stays_failed_through_pause_and_resume() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    sim.fail_task(
        "inv",
        0,
        "org.apache.kafka.connect.errors.ConnectException: boom",
    );
    let url = format!("{}/connectors/inv", sim.url());
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("paused", 5, || st(&sim, "inv").as_deref() == Some("PAUSED")).await;
    assert_eq!(tasks(&sim, "inv"), vec!["FAILED"]);
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("running", 5, || {
        st(&sim, "inv").as_deref() == Some("RUNNING")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(tasks(&sim, "inv"), vec!["FAILED"]);
    let (_, v) = json("GET", &format!("{url}/status")).await;
    assert!(v["tasks"][0]["trace"].as_str().unwrap().contains("boom"));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_connector_refuses_pause_and_resume_but_accepts_stop() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    sim.fail_connector("inv", "java.lang.RuntimeException: connector broke");
    let url = format!("{}/connectors/inv", sim.url());
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("task paused", 5, || tasks(&sim, "inv") == ["PAUSED"]).await;
    assert_eq!(st(&sim, "inv").as_deref(), Some("FAILED"));
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("task running", 5, || tasks(&sim, "inv") == ["RUNNING"]).await;
    assert_eq!(st(&sim, "inv").as_deref(), Some("FAILED"));
    assert_eq!(call("PUT", &format!("{url}/stop")).await.0, 204);
    eventually("stopped", 5, || {
        st(&sim, "inv").as_deref() == Some("STOPPED")
    })
    .await;
    eventually("no tasks", 5, || tasks(&sim, "inv").is_empty()).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn restart_plan_is_202_then_restarting_then_the_target_state() {
    let sim = sim_with(SimOptions {
        effect_delay: Duration::from_millis(900),
        ..SimOptions::default()
    })
    .await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(2));
    sim.fail_task(
        "inv",
        1,
        "org.apache.kafka.connect.errors.ConnectException: boom",
    );
    let url = format!("{}/connectors/inv", sim.url());
    let (s, plan) = json(
        "POST",
        &format!("{url}/restart?includeTasks=true&onlyFailed=true"),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(plan["connector"]["state"], "RUNNING");
    assert_eq!(plan["tasks"][0]["state"], "RUNNING");
    assert_eq!(plan["tasks"][1]["state"], "RESTARTING");
    assert!(plan["tasks"][1].get("trace").is_none());
    // Asynchronous: the status has not moved yet.
    assert_eq!(tasks(&sim, "inv"), vec!["RUNNING", "FAILED"]);
    eventually("restarting", 5, || tasks(&sim, "inv")[1] == "RESTARTING").await;
    eventually("running", 5, || tasks(&sim, "inv")[1] == "RUNNING").await;
    assert_eq!(sim.task_trace("inv", 1), None);

    // While paused, restarted items come up PAUSED; resume makes them RUNNING.
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("paused", 5, || tasks(&sim, "inv") == ["PAUSED", "PAUSED"]).await;
    sim.fail_task("inv", 0, "boom");
    let (s, plan) = json(
        "POST",
        &format!("{url}/restart?includeTasks=true&onlyFailed=true"),
    )
    .await;
    assert_eq!(s, 202);
    assert_eq!(plan["tasks"][0]["state"], "RESTARTING");
    assert_eq!(plan["tasks"][1]["state"], "PAUSED");
    eventually("restarted paused", 5, || {
        tasks(&sim, "inv") == ["PAUSED", "PAUSED"]
    })
    .await;
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("resumed", 5, || {
        tasks(&sim, "inv") == ["RUNNING", "RUNNING"]
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_restart_is_204_and_leaves_failed_tasks_failed() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    sim.fail_connector("inv", "java.lang.RuntimeException: connector broke");
    sim.fail_task("inv", 0, "boom");
    let url = format!("{}/connectors/inv", sim.url());
    let (s, _, body) = call("POST", &format!("{url}/restart")).await;
    assert_eq!((s, body.as_str()), (204, ""));
    eventually("connector running", 5, || {
        st(&sim, "inv").as_deref() == Some("RUNNING")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tasks(&sim, "inv"), vec!["FAILED"]);
    let (s, _, _) = call("POST", &format!("{url}/tasks/0/restart")).await;
    assert_eq!(s, 204);
    eventually("task running", 5, || tasks(&sim, "inv") == ["RUNNING"]).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_is_204_tasks_linger_then_vanish_and_resume_starts_fresh_tasks() {
    let sim = sim_with(SimOptions {
        stopped_tasks_linger: Duration::from_millis(600),
        ..SimOptions::default()
    })
    .await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(2));
    eventually("committed", 5, || sim.offsets("inv") > 2).await;
    let url = format!("{}/connectors/inv", sim.url());
    let (s, _, body) = call("PUT", &format!("{url}/stop")).await;
    assert_eq!((s, body.as_str()), (204, ""));
    assert_eq!(sim.target_state("inv").as_deref(), Some("STOPPED"));
    eventually("stopped", 5, || {
        st(&sim, "inv").as_deref() == Some("STOPPED")
    })
    .await;
    assert_eq!(
        tasks(&sim, "inv"),
        vec!["UNASSIGNED", "UNASSIGNED"],
        "tasks linger"
    );
    eventually("tasks gone", 5, || tasks(&sim, "inv").is_empty()).await;
    let (_, v) = json("GET", &format!("{url}/status")).await;
    assert_eq!(v["tasks"], serde_json::json!([]));
    let (_, info) = json("GET", &url).await;
    assert_eq!(info["tasks"], serde_json::json!([]));
    // Offsets are readable in any state and do not move while stopped.
    let committed = sim.offsets("inv");
    let (s, off) = json("GET", &format!("{url}/offsets")).await;
    assert_eq!(s, 200);
    assert!(off["offsets"][0]["offset"]["lsn"].is_u64());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.offsets("inv"), committed);

    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("fresh tasks", 5, || {
        tasks(&sim, "inv") == ["RUNNING", "RUNNING"]
    })
    .await;
    assert_eq!(st(&sim, "inv").as_deref(), Some("RUNNING"));
    eventually("flows again", 5, || sim.offsets("inv") > committed).await;

    // Pause from STOPPED: PAUSED with zero tasks; resume creates them.
    assert_eq!(call("PUT", &format!("{url}/stop")).await.0, 204);
    eventually("tasks gone again", 5, || {
        st(&sim, "inv").as_deref() == Some("STOPPED") && tasks(&sim, "inv").is_empty()
    })
    .await;
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("paused", 5, || st(&sim, "inv").as_deref() == Some("PAUSED")).await;
    assert!(tasks(&sim, "inv").is_empty());
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("running with tasks", 5, || {
        tasks(&sim, "inv") == ["RUNNING", "RUNNING"]
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn older_workers_do_not_know_stop_offsets_or_health() {
    let old = sim_with(SimOptions {
        version: "3.4.0".into(),
        ..SimOptions::default()
    })
    .await;
    old.add_connector(ConnectorSpec::postgres("inv", None));
    let c = format!("{}/connectors/inv", old.url());
    assert_error("PUT", &format!("{c}/stop"), 404, "HTTP 404 Not Found").await;
    assert_error("GET", &format!("{c}/offsets"), 404, "HTTP 404 Not Found").await;
    assert_error(
        "GET",
        &format!("{}/health", old.url()),
        404,
        "HTTP 404 Not Found",
    )
    .await;
    assert_eq!(old.target_state("inv").as_deref(), Some("STARTED"));
    old.shutdown().await;

    let v38 = sim_with(SimOptions {
        version: "3.8.0".into(),
        ..SimOptions::default()
    })
    .await;
    v38.add_connector(ConnectorSpec::postgres("inv", None));
    assert_error(
        "GET",
        &format!("{}/health", v38.url()),
        404,
        "HTTP 404 Not Found",
    )
    .await;
    assert_eq!(
        call("PUT", &format!("{}/connectors/inv/stop", v38.url()))
            .await
            .0,
        204
    );
    v38.shutdown().await;
}

#[tokio::test]
async fn a_rebalance_refuses_forwarded_requests_but_not_pause() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    sim.rebalance_for(Duration::from_secs(30));
    let c = format!("{}/connectors/inv", sim.url());
    let no_leader = "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway.";
    let stale = "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)";
    let mut seen = Vec::new();
    for (m, u) in [
        ("PUT", format!("{c}/stop")),
        ("POST", format!("{c}/restart")),
        (
            "POST",
            format!("{c}/restart?includeTasks=true&onlyFailed=true"),
        ),
        ("POST", format!("{c}/tasks/0/restart")),
    ] {
        let (s, v) = json(m, &u).await;
        assert_eq!((s, v["error_code"].as_u64()), (409, Some(409)), "{m} {u}");
        seen.push(v["message"].as_str().unwrap().to_string());
    }
    assert!(
        seen.iter().all(|m| m == no_leader || m == stale),
        "{seen:?}"
    );
    assert!(seen.iter().any(|m| m == no_leader) && seen.iter().any(|m| m == stale));
    for p in ["", "/config", "/tasks", "/offsets"] {
        assert_error(
            "GET",
            &format!("{c}{p}"),
            500,
            "Request cannot be completed because a rebalance is expected",
        )
        .await;
    }
    assert_eq!(call("GET", &format!("{c}/status")).await.0, 200);
    let (s, v) = json(
        "GET",
        &format!("{}/connectors?expand=status&expand=info", sim.url()),
    )
    .await;
    assert_eq!(s, 200);
    assert!(v["inv"]["status"].is_object());
    assert_eq!(call("PUT", &format!("{c}/pause")).await.0, 202);
    eventually("paused during rebalance", 5, || {
        st(&sim, "inv").as_deref() == Some("PAUSED")
    })
    .await;
    assert_eq!(
        sim.target_state("inv").as_deref(),
        Some("PAUSED"),
        "stop was refused"
    );
    // The rebalance completes.
    sim.rebalance_for(Duration::ZERO);
    assert_eq!(call("PUT", &format!("{c}/stop")).await.0, 204);
    assert_eq!(call("GET", &c).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_auth_failures_are_plain_text_401() {
    let sim = sim_with(SimOptions {
        auth: Some(("connect".into(), "s3cret".into())),
        ..SimOptions::default()
    })
    .await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    let url = format!("{}/connectors", sim.url());
    for req in [
        client().get(&url),
        client().get(&url).basic_auth("connect", Some("wrong")),
        client().get(&url).bearer_auth("s3cret"),
        client().put(format!("{url}/inv/pause")),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert!(r.headers().get("www-authenticate").is_none());
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(r.text().await.unwrap(), "User cannot access the resource.");
    }
    assert_eq!(sim.target_state("inv").as_deref(), Some("STARTED"));
    let r = client()
        .get(&url)
        .basic_auth("connect", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn failfast_tasks_fail_on_outage_while_unlimited_ones_hide_it() {
    let sim = sim().await;
    let (listener, addr) = db().await;
    sim.add_connector(
        ConnectorSpec::postgres("pg-fast", Some(addr)).with_retry(RetryMode::FailFast),
    );
    // The database is a bare TCP listener, which no TNS logon gets through: a TCP session.
    sim.add_connector(
        ConnectorSpec::oracle("ora-fast", Some(addr))
            .with_retry(RetryMode::FailFast)
            .with_db_check(DbCheck::Tcp),
    );
    sim.add_connector(ConnectorSpec::postgres("pg-slow", Some(addr)));
    eventually("all flowing", 5, || {
        ["pg-fast", "ora-fast", "pg-slow"]
            .iter()
            .all(|n| sim.offsets(n) > 1)
    })
    .await;
    let (_, cfg) = json("GET", &format!("{}/connectors/pg-fast/config", sim.url())).await;
    assert_eq!(cfg["errors.max.retries"], "0");
    assert_eq!(cfg["database.port"], addr.port().to_string());

    drop(listener);
    let t0 = Instant::now();
    eventually("fail-fast tasks FAILED", 3, || {
        tasks(&sim, "pg-fast") == ["FAILED"] && tasks(&sim, "ora-fast") == ["FAILED"]
    })
    .await;
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(
        st(&sim, "pg-fast").as_deref(),
        Some("RUNNING"),
        "the connector object stays up"
    );
    let (_, v) = json("GET", &format!("{}/connectors/pg-fast/status", sim.url())).await;
    let trace = v["tasks"][0]["trace"].as_str().unwrap();
    assert!(trace.starts_with("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat "));
    assert!(trace.contains(&format!(
        "\nCaused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:{} refused.",
        addr.port()
    )));
    let ora = sim.task_trace("ora-fast", 0).unwrap();
    assert!(ora.contains("\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection"));

    // Default retries: RUNNING through the outage, but nothing is committed.
    let frozen = sim.offsets("pg-slow");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(tasks(&sim, "pg-slow"), vec!["RUNNING"]);
    assert_eq!(st(&sim, "pg-slow").as_deref(), Some("RUNNING"));
    assert_eq!(sim.offsets("pg-slow"), frozen);

    // A restart while the database is still down reads RUNNING while nothing flows.
    let (s, _) = json(
        "POST",
        &format!(
            "{}/connectors/pg-fast/restart?includeTasks=true&onlyFailed=true",
            sim.url()
        ),
    )
    .await;
    assert_eq!(s, 202);
    eventually("restarted", 5, || tasks(&sim, "pg-fast") == ["RUNNING"]).await;
    let fast_frozen = sim.offsets("pg-fast");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(tasks(&sim, "pg-fast"), vec!["RUNNING"]);
    assert_eq!(sim.offsets("pg-fast"), fast_frozen);

    // The database comes back on the same port.
    let _back = TcpListener::bind(addr).await.unwrap();
    eventually("default-retries task flows again", 5, || {
        sim.offsets("pg-slow") > frozen
    })
    .await;
    eventually("restarted task flows", 5, || {
        sim.offsets("pg-fast") > fast_frozen
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        tasks(&sim, "ora-fast"),
        vec!["FAILED"],
        "never recovers by itself"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failfast_task_that_lost_its_database_while_paused_fails_on_resume() {
    let sim = sim().await;
    let (listener, addr) = db().await;
    sim.add_connector(ConnectorSpec::postgres("inv", Some(addr)).with_retry(RetryMode::FailFast));
    eventually("flowing", 5, || sim.offsets("inv") > 0).await;
    let url = format!("{}/connectors/inv", sim.url());
    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("paused", 5, || tasks(&sim, "inv") == ["PAUSED"]).await;
    drop(listener);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tasks(&sim, "inv"), vec!["PAUSED"]);
    let _back = TcpListener::bind(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("failed on first poll", 5, || {
        tasks(&sim, "inv") == ["FAILED"]
    })
    .await;
    assert_eq!(st(&sim, "inv").as_deref(), Some("RUNNING"));
    sim.shutdown().await;
}

#[tokio::test]
async fn offsets_advance_only_while_data_flows() {
    let sim = sim().await;
    let (_down, dead) = db().await;
    drop(_down);
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    sim.add_connector(ConnectorSpec::postgres("never", Some(dead)));
    eventually("committing", 5, || sim.offsets("inv") > 2).await;
    let url = format!("{}/connectors/inv", sim.url());
    let (s, v) = json("GET", &format!("{url}/offsets")).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["offsets"][0]["partition"],
        serde_json::json!({"server": "inv"})
    );
    assert!(v["offsets"][0]["offset"]["lsn"].as_u64().unwrap() > 0);
    // A connector that never reached its database has committed nothing.
    assert_eq!(tasks(&sim, "never"), vec!["RUNNING"]);
    let (_, v) = json("GET", &format!("{}/connectors/never/offsets", sim.url())).await;
    assert_eq!(v, serde_json::json!({"offsets": []}));
    assert_eq!(sim.offsets("never"), 0);

    assert_eq!(call("PUT", &format!("{url}/pause")).await.0, 202);
    eventually("paused", 5, || st(&sim, "inv").as_deref() == Some("PAUSED")).await;
    let paused_at = sim.offsets("inv");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.offsets("inv"), paused_at);
    assert_eq!(call("PUT", &format!("{url}/resume")).await.0, 202);
    eventually("advancing", 5, || sim.offsets("inv") > paused_at).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults_hit_the_matching_requests_only() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    let c = format!("{}/connectors", sim.url());

    sim.inject(
        Route::Pause,
        Fault::Status(
            500,
            r#"{"error_code":500,"message":"Error writing target state to Kafka"}"#.into(),
        ),
        1,
    );
    assert_error(
        "PUT",
        &format!("{c}/inv/pause"),
        500,
        "Error writing target state to Kafka",
    )
    .await;
    assert_eq!(
        sim.target_state("inv").as_deref(),
        Some("STARTED"),
        "a failed write has no effect"
    );
    assert_eq!(call("PUT", &format!("{c}/inv/pause")).await.0, 202);

    sim.inject(Route::List, Fault::Unauthorized, 1);
    let (s, ctype, body) = call("GET", &c).await;
    assert_eq!(
        (s, body.as_str()),
        (401, "User cannot access the resource.")
    );
    assert!(ctype.starts_with("text/plain"));

    sim.inject(Route::Status, Fault::Garbage, 1);
    let (s, _, body) = call("GET", &format!("{c}/inv/status")).await;
    assert_eq!(s, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err());

    sim.inject(Route::Status, Fault::Truncated, 1);
    let r = client()
        .get(format!("{c}/inv/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.is_err(), "the body is cut short");

    sim.inject(Route::Root, Fault::Close, 1);
    assert!(client().get(sim.url()).send().await.is_err());

    sim.inject(Route::List, Fault::Slow(Duration::from_millis(400)), 1);
    let t0 = Instant::now();
    assert_eq!(call("GET", &c).await.0, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));

    // Spent faults are gone.
    assert_eq!(call("GET", &format!("{c}/inv/status")).await.0, 200);
    assert_eq!(call("GET", &c).await.0, 200);

    let reqs = sim.requests();
    assert_eq!(
        reqs.iter()
            .filter(|r| r.is("PUT", "/connectors/inv/pause"))
            .count(),
        2
    );
    assert_eq!(
        reqs.iter().filter(|r| r.is("GET", "/connectors")).count(),
        3
    );
    sim.clear_requests();
    json("GET", &format!("{c}?expand=status&expand=info")).await;
    let reqs = sim.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].query.as_deref(), Some("expand=status&expand=info"));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_worker_refuses_connections_then_listens_again() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None));
    let http = client();
    let url = format!("{}/connectors", sim.url());
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 200);
    sim.set_reachable(false);
    // Even the pooled keep-alive connection is gone.
    let e = http.get(&url).send().await.unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e}");
    assert!(
        tokio::net::TcpStream::connect(sim.addr()).await.is_err(),
        "connection refused"
    );
    sim.set_reachable(true);
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_worker_restart_brings_failed_tasks_back_in_the_target_state() {
    let sim = sim().await;
    sim.add_connector(ConnectorSpec::postgres("inv", None).with_tasks(2));
    sim.fail_task("inv", 0, "boom");
    sim.restart_worker();
    assert_eq!(tasks(&sim, "inv"), vec!["RUNNING", "RUNNING"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_thousand_connectors_with_four_tasks_list_in_one_request() {
    let sim = sim().await;
    for i in 0..1000 {
        sim.add_connector(ConnectorSpec::postgres(&format!("c{i:04}"), None).with_tasks(4));
    }
    let t0 = Instant::now();
    let (s, v) = json(
        "GET",
        &format!("{}/connectors?expand=status&expand=info", sim.url()),
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(s, 200);
    let m = v.as_object().unwrap();
    assert_eq!(m.len(), 1000);
    assert!(m
        .values()
        .all(|e| e["status"]["tasks"].as_array().unwrap().len() == 4));
    eprintln!("1000x4 expand=status&expand=info: {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    sim.shutdown().await;
}
