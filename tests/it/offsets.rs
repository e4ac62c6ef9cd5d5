//! Committed offsets end to end against the simulated worker: the Connect client's
//! `GET /connectors/{n}/offsets` with its version gate and typed errors, the position of each
//! Debezium flavour, the simulator's flush interval and stalled mode, the agent's stall
//! detection on /metrics, and the `cdc-sentinel offsets` one-shot.

use std::time::Duration;

use cdc_sentinel::config::ConnectSettings;
use cdc_sentinel::core::offsets::{self, Flavour, Position};
use cdc_sentinel::runtime::connect::{Client, ConnectError};
use cdc_sentinel::telemetry::Metrics;
use cdc_sentinel_sim::{ConnectorSpec, Fault, Flow, Route, SimConnect, SimOptions};

use crate::support::eventually;

const S: Duration = Duration::from_secs(1);

fn client(url: &str) -> Client {
    let s = ConnectSettings {
        url: url.to_string(),
        user: None,
        password: None,
        timeout: Duration::from_secs(5),
        action_timeout: Duration::from_secs(5),
        ca_pem: None,
        identity_pem: None,
        max_response_bytes: 64 << 20,
    };
    Client::new(&s, Metrics::new("t", "t", false)).unwrap()
}

async fn sim(version: &str) -> SimConnect {
    SimConnect::start(SimOptions {
        version: version.into(),
        ..SimOptions::default()
    })
    .await
    .expect("sim starts")
}

async fn position(c: &Client, name: &str, flavour: Flavour) -> Option<Position> {
    let o = c.offsets(name).await.expect("offsets");
    offsets::parse(flavour, o.values()).position
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flavour_has_a_position_that_advances_while_data_flows() {
    let sim = sim("3.9.0").await;
    sim.add_connector(ConnectorSpec::oracle("ora", None));
    sim.add_connector(ConnectorSpec::postgres("pg", None));
    sim.add_connector(ConnectorSpec::mysql("my", None));
    let c = client(&sim.url());
    c.offsets_supported().await.expect("3.9 has offsets");
    for (name, flavour) in [
        ("ora", Flavour::Oracle),
        ("pg", Flavour::Postgres),
        ("my", Flavour::MySql),
    ] {
        assert!(
            eventually(5 * S, || async { sim.offsets(name) > 2 }).await,
            "{name} commits"
        );
        let first = position(&c, name, flavour).await.expect(name);
        assert!(
            eventually(5 * S, || async {
                position(&c, name, flavour)
                    .await
                    .is_some_and(|p| p.relative_to(&first) == offsets::Moved::Ahead)
            })
            .await,
            "{name} advances from {first}"
        );
        // The shape is the flavour's own: another flavour's parser finds nothing in it.
        let other = if flavour == Flavour::Postgres {
            Flavour::MySql
        } else {
            Flavour::Postgres
        };
        assert_eq!(position(&c, name, other).await, None, "{name}");
    }
    // A stalled connector reads RUNNING while its committed offset stands still.
    assert!(sim.set_flow("pg", Flow::Stalled));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stuck = position(&c, "pg", Flavour::Postgres).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(position(&c, "pg", Flavour::Postgres).await, stuck);
    assert_eq!(sim.task_states("pg"), ["RUNNING"]);
    sim.set_flow("pg", Flow::Busy);
    assert!(
        eventually(5 * S, || async {
            position(&c, "pg", Flavour::Postgres).await != stuck
        })
        .await
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_gates_on_kafka_3_5_and_keeps_its_errors_typed() {
    let old = sim("3.4.1").await;
    old.add_connector(ConnectorSpec::postgres("pg", None));
    let c = client(&old.url());
    let e = c.offsets_supported().await.unwrap_err();
    assert!(
        matches!(&e, ConnectError::OffsetsUnsupported { version, .. } if version == "3.4.1"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Kafka 3.5"), "{e}");
    // Whatever the version string says, a worker without the route is recognised.
    let e = c.offsets("pg").await.unwrap_err();
    assert_eq!(e.kind(), "unsupported", "{e:?}");
    old.shutdown().await;

    let sim = sim("3.9.0").await;
    sim.add_connector(ConnectorSpec::postgres("pg", None));
    let c = client(&sim.url());
    // A connector that is gone: 404 naming it, not "unsupported".
    match c.offsets("gone").await {
        Err(ConnectError::NotFound { message }) => {
            assert_eq!(message, "Connector gone not found")
        }
        other => panic!("{other:?}"),
    }
    // A rebalance: the herder GET answers 500.
    sim.rebalance_for(Duration::from_millis(500));
    match c.offsets("pg").await {
        Err(ConnectError::Status {
            status: 500,
            message,
            ..
        }) => assert!(message.contains("rebalance"), "{message}"),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A body larger than any offsets answer is not read whole.
    let huge = format!("{{\"offsets\":[],\"pad\":\"{}\"}}", "x".repeat(2 << 20));
    sim.inject(Route::Offsets, Fault::Status(200, huge), 1);
    let e = c.offsets("pg").await.unwrap_err();
    assert!(
        matches!(e, ConnectError::TooLarge { ref limit, .. } if limit == "1MiB"),
        "{e:?}"
    );
    sim.inject(Route::Offsets, Fault::Garbage, 1);
    assert_eq!(c.offsets("pg").await.unwrap_err().kind(), "bad_json");
    // Names are encoded into the path.
    sim.add_connector(ConnectorSpec::postgres("inv oracle/1", None));
    assert!(c.offsets("inv oracle/1").await.is_ok());
    sim.shutdown().await;
}

fn offsets_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cdc-sentinel"))
        .arg("offsets")
        .args(args)
        .env_remove("CDC_SENTINEL_CONNECT_URL")
        .env_remove("CDC_SENTINEL_OFFSETS_WAIT")
        .output()
        .unwrap()
}

async fn offsets_cli_async(args: Vec<String>) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = offsets_cli(&a);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offsets_subcommand_shows_positions_and_exits_1_for_one_that_does_not_move() {
    let sim = sim("3.9.0").await;
    let beats = |spec: ConnectorSpec| {
        spec.with_config("heartbeat.interval.ms", "10000")
            .with_config("heartbeat.action.query", "SELECT 1")
    };
    sim.add_connector(beats(ConnectorSpec::postgres("pg-flowing", None)));
    sim.add_connector(beats(ConnectorSpec::postgres("pg-stuck", None)));
    sim.add_connector(ConnectorSpec::oracle("ora-quiet", None));
    sim.add_connector(ConnectorSpec {
        class: "io.confluent.connect.jdbc.JdbcSourceConnector".into(),
        ..ConnectorSpec::postgres("jdbc", None)
    });
    assert!(
        eventually(5 * S, || async {
            sim.offsets("pg-stuck") > 1 && sim.offsets("ora-quiet") > 1
        })
        .await
    );
    sim.set_flow("pg-stuck", Flow::Stalled);
    sim.set_flow("ora-quiet", Flow::Idle);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let url = sim.url();
    let (code, out, err) = offsets_cli_async(vec![
        "--connect-url".into(),
        url.clone(),
        "--wait".into(),
        "600ms".into(),
    ])
    .await;
    print!("{out}{err}");
    assert_eq!(code, Some(1), "{out}{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
            .to_string()
    };
    assert!(line("pg-flowing").contains("RUNNING   LSN 0/"), "{out}");
    assert!(line("pg-flowing").contains("moved to LSN"), "{out}");
    assert!(line("pg-flowing").contains("last change at 20"), "{out}");
    assert!(line("pg-stuck").contains("did not move in 600ms"), "{out}");
    assert!(
        line("ora-quiet").contains("SCN ") && line("ora-quiet").contains("did not move"),
        "{out}"
    );
    assert!(
        line("jdbc").contains("no position: not a Debezium"),
        "{out}"
    );
    assert!(out.contains("NOT MOVING while RUNNING"), "{out}");
    assert!(
        err.contains("expected to progress but did not move in 600ms: pg-stuck"),
        "only the one with heartbeats: {err}"
    );
    // One connector, JSON, read once: exit 0.
    let (code, out, _) = offsets_cli_async(vec![
        "--connect-url".into(),
        url.clone(),
        "--json".into(),
        "pg-stuck".into(),
        "nope".into(),
    ])
    .await;
    assert_eq!(code, Some(0), "{out}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0]["connector"], "pg-stuck");
    assert!(rows[0]["first"]["position"]
        .as_str()
        .unwrap()
        .starts_with("LSN 0/"));
    assert_eq!(rows[0]["judged_by_progress"], true);
    assert_eq!(rows[1]["first"]["error"], "not listed by Kafka Connect");
    sim.shutdown().await;

    // An older worker, a dead URL, a bad flag.
    let old = sim_old().await;
    let (code, _, err) = offsets_cli_async(vec!["--connect-url".into(), old.url()]).await;
    assert_eq!(code, Some(69), "{err}");
    assert!(err.contains("Kafka 3.5") && err.contains("3.4.1"), "{err}");
    old.shutdown().await;
    let (code, _, err) = offsets_cli_async(vec!["--connect-url".into(), url]).await;
    assert_eq!(code, Some(69), "{err}");
    assert!(err.contains("refused"), "{err}");
    let (code, _, err) =
        offsets_cli_async(vec!["--connect-url".into(), "connect:8083".into()]).await;
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("http://"), "{err}");
}

async fn sim_old() -> SimConnect {
    sim("3.4.1").await
}

#[test]
fn stall_flags_and_the_config_file() {
    use cdc_sentinel::config::{Cli, Command};
    use clap::Parser;
    let run = |extra: &[&str]| {
        let mut v = vec!["cdc-sentinel", "run"];
        v.extend_from_slice(extra);
        match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Run(a)) => a.validate(),
            _ => unreachable!(),
        }
    };
    let c = run(&[]).unwrap();
    assert_eq!(c.offsets_interval, Duration::from_secs(30));
    assert_eq!(c.settings.stall_after, 600_000);
    let text = c.describe();
    assert!(text.contains("offsets_interval   = 30s"), "{text}");
    assert!(
        text.contains(
            "stall_after        = 10m (must exceed the worker's offset.flush.interval.ms"
        ),
        "{text}"
    );
    let e = run(&["--stall-after", "20s", "--offsets-interval", "30s"]).unwrap_err();
    assert!(
        e.message
            .contains("--stall-after (20s) is shorter than --offsets-interval (30s)"),
        "{}",
        e.message
    );
    let e = run(&["--offsets-interval", "0s"]).unwrap_err();
    assert!(
        e.message
            .contains("--offsets-interval must be greater than zero"),
        "{}",
        e.message
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        "[connectors.quiet]\nexpect_progress = false\n[connectors.busy]\nexpect_progress = true\n",
    )
    .unwrap();
    let c = run(&["--config", p.to_str().unwrap()]).unwrap();
    assert_eq!(c.expect_progress("quiet"), Some(false));
    assert_eq!(c.expect_progress("busy"), Some(true));
    assert_eq!(c.expect_progress("other"), None);
    assert!(c.describe().contains("expect_progress = true"));
    std::fs::write(&p, "[connectors.busy]\nexpect_progress = \"yes\"\n").unwrap();
    let e = run(&["--config", p.to_str().unwrap()]).unwrap_err();
    assert!(e.message.contains("expect_progress"), "{}", e.message);
}

/// The agent with fast offset reads: every 300 ms, stalled after 1.5 s without movement.
const STALL_FLAGS: &[&str] = &["--offsets-interval", "300ms", "--stall-after", "1500ms"];

fn with_heartbeats(spec: ConnectorSpec, query: bool) -> ConnectorSpec {
    let spec = spec.with_config("heartbeat.interval.ms", "1000");
    if query {
        spec.with_config(
            "heartbeat.action.query",
            "SELECT pg_logical_emit_message(false, 'heartbeat', now()::varchar)",
        )
    } else {
        spec
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connector_is_reported_after_stall_after_and_cleared_when_it_moves() {
    use crate::support::{logs, Agent};
    let sim = SimConnect::start(SimOptions {
        offset_flush: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let db = crate::support::Db::start().await;
    let target = format!("--db=tcp://{}", db.addr);
    sim.add_connector(with_heartbeats(
        ConnectorSpec::postgres("st-pg", None),
        true,
    ));
    sim.add_connector(ConnectorSpec::postgres("st-quiet", None)); // no heartbeats
    sim.add_connector(with_heartbeats(
        ConnectorSpec::postgres("st-noquery", None),
        false,
    ));
    sim.add_connector(with_heartbeats(
        ConnectorSpec::oracle("st-ora", None),
        false,
    ));
    sim.add_connector(ConnectorSpec::mysql("st-my", None));
    let mut flags = STALL_FLAGS.to_vec();
    flags.push(&target);
    let agent = Agent::start(&sim.url(), &flags).await;
    let stalled = |n: &str| format!("connector=\"{n}\"");
    for n in ["st-pg", "st-quiet", "st-noquery", "st-ora", "st-my"] {
        agent
            .wait_value("cdc_sentinel_connector_stalled", &[&stalled(n)], 0.0, 5 * S)
            .await;
    }
    let pos = agent
        .value("cdc_sentinel_source_offset_position", &[&stalled("st-pg")])
        .await
        .unwrap();
    assert!(pos >= 24_000_000.0, "an LSN: {pos}");
    let my = agent
        .value("cdc_sentinel_source_offset_position", &[&stalled("st-my")])
        .await
        .unwrap();
    assert!(
        (30_000_000_000.0..40_000_000_000.0).contains(&my),
        "binlog 3: {my}"
    );

    // Stuck: RUNNING, nothing moves. Quiet tables: only heartbeats that write move them.
    sim.set_flow("st-pg", Flow::Stalled);
    for n in ["st-quiet", "st-noquery", "st-my"] {
        sim.set_flow(n, Flow::Stalled);
    }
    sim.set_flow("st-ora", Flow::Idle);
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        agent
            .value("cdc_sentinel_connector_stalled", &[&stalled("st-pg")])
            .await,
        Some(0.0),
        "not before --stall-after"
    );
    agent
        .wait_value(
            "cdc_sentinel_connector_stalled",
            &[&stalled("st-pg")],
            1.0,
            5 * S,
        )
        .await;
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    let advanced = agent
        .value(
            "cdc_sentinel_source_offset_advanced_timestamp_seconds",
            &[&stalled("st-pg")],
        )
        .await
        .unwrap();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        now_s - advanced >= 1.5,
        "last advanced {:.1}s ago",
        now_s - advanced
    );
    let log = logs();
    let line = log
        .lines()
        .find(|l| l.contains("st-pg: stalled: its committed LSN 0/"))
        .unwrap_or_else(|| panic!("no stall line: {log}"));
    assert!(
        line.contains("while the connector reads RUNNING") && line.contains("RMAN DELETE INPUT"),
        "{line}"
    );
    assert_eq!(
        log.matches("st-pg: stalled:").count(),
        1,
        "one line per stall"
    );
    // Never judged: no heartbeats, or heartbeats that repeat the same LSN; Oracle's move.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for n in ["st-quiet", "st-noquery", "st-my", "st-ora"] {
        assert_eq!(
            agent
                .value("cdc_sentinel_connector_stalled", &[&stalled(n)])
                .await,
            Some(0.0),
            "{n}"
        );
        assert!(!logs().contains(&format!("{n}: stalled:")), "{n}");
    }
    assert!(
        logs().contains("st-noquery: not judged for stalls: heartbeat.interval.ms is set but not heartbeat.action.query"),
        "{}",
        logs()
    );
    assert!(
        !logs().contains("st-quiet: not judged"),
        "only the surprising case is logged"
    );

    // It moves again: cleared, with one line.
    sim.set_flow("st-pg", Flow::Busy);
    agent
        .wait_value(
            "cdc_sentinel_connector_stalled",
            &[&stalled("st-pg")],
            0.0,
            5 * S,
        )
        .await;
    assert!(
        eventually(2 * S, || async {
            logs().contains("st-pg: stall over after")
                && logs().contains("moving again, now at LSN 0/")
        })
        .await,
        "{}",
        logs()
    );
    drop(agent);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_worker_older_than_3_5_offsets_are_off_with_one_line() {
    use crate::support::{logs, Agent};
    let sim = sim("3.4.1").await;
    let db = crate::support::Db::start().await;
    let target = format!("--db=tcp://{}", db.addr);
    sim.add_connector(with_heartbeats(
        ConnectorSpec::oracle("old-ora", None),
        false,
    ));
    let mut flags = STALL_FLAGS.to_vec();
    flags.push(&target);
    let agent = Agent::start(&sim.url(), &flags).await;
    agent.wait_state("old-ora", "RUNNING", 5 * S).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let text = agent.metrics().await;
    assert!(
        !text.contains("cdc_sentinel_source_offset_position{"),
        "no offset series: {text}"
    );
    let offsets_calls = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/offsets"))
        .count();
    assert_eq!(offsets_calls, 0, "never asked");
    assert_eq!(
        logs()
            .matches("GET /connectors/NAME/offsets needs Kafka 3.5 or newer, KIP-875; it runs 3.4.1): stall detection and recovery judged by progress are off")
            .count(),
        1,
        "{}",
        logs()
    );
    drop(agent);
    sim.shutdown().await;

    // A worker whose version string says 3.5+ but that has no such route (JAX-RS's own 404):
    // off after the first read, with the same one line.
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("vendor-ora", None));
    sim.inject(
        Route::Offsets,
        Fault::Status(
            404,
            r#"{"error_code":404,"message":"HTTP 404 Not Found"}"#.into(),
        ),
        1000,
    );
    let mut flags = STALL_FLAGS.to_vec();
    flags.push(&target);
    let agent = Agent::start(&sim.url(), &flags).await;
    agent.wait_state("vendor-ora", "RUNNING", 5 * S).await;
    assert!(
        eventually(5 * S, || async {
            logs().contains(
                "404 HTTP 404 Not Found): stall detection and recovery judged by progress are off",
            )
        })
        .await,
        "{}",
        logs()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reads = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/offsets"))
        .count();
    assert_eq!(reads, 1, "one read, then off");
    drop(agent);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_read_at_most_once_per_interval() {
    use crate::support::Agent;
    let sim = sim("3.9.0").await;
    let db = crate::support::Db::start().await;
    let target = format!("--db=tcp://{}", db.addr);
    for i in 0..5 {
        sim.add_connector(ConnectorSpec::postgres(&format!("rate-{i}"), None));
    }
    // Poll every 100 ms, read offsets every 1 s.
    let agent = Agent::start(
        &sim.url(),
        &["--offsets-interval", "1s", "--stall-after", "10s", &target],
    )
    .await;
    agent.wait_state("rate-4", "RUNNING", 5 * S).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.clear_requests();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let reqs = sim.requests();
    let lists = reqs.iter().filter(|r| r.path == "/connectors").count();
    for i in 0..5 {
        let n = reqs
            .iter()
            .filter(|r| r.path == format!("/connectors/rate-{i}/offsets"))
            .count();
        assert!(
            (2..=4).contains(&n),
            "rate-{i}: {n} reads in 3 s ({lists} polls)"
        );
    }
    assert!(lists >= 15, "{lists} polls");
    drop(agent);
    sim.shutdown().await;
}

async fn recovery_sim() -> SimConnect {
    SimConnect::start(SimOptions {
        offset_flush: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .await
    .unwrap()
}

fn count_requests(sim: &SimConnect, name: &str, suffix_query: (&str, Option<&str>)) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == format!("/connectors/{name}{}", suffix_query.0)
                && r.query.as_deref() == suffix_query.1
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_is_judged_by_progress_and_the_log_says_held_at_and_now_at() {
    use crate::support::{logs, Agent, Db};
    use cdc_sentinel_sim::RetryMode;
    let mut db = Db::start().await;
    let sim = recovery_sim().await;
    sim.add_connector(
        with_heartbeats(ConnectorSpec::postgres("prog-pg", Some(db.addr)), true)
            .with_retry(RetryMode::FailFast),
    );
    sim.add_connector(
        ConnectorSpec::postgres("prog-quiet", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    // A class whose offsets the agent does not know (default retries: held on the probes).
    sim.add_connector(ConnectorSpec {
        class: "io.confluent.connect.jdbc.JdbcSourceConnector".into(),
        ..ConnectorSpec::postgres("prog-jdbc", Some(db.addr))
    });
    let agent = Agent::start(&sim.url(), STALL_FLAGS).await;
    for n in ["prog-pg", "prog-quiet"] {
        agent
            .wait_value(
                "cdc_sentinel_connector_stalled",
                &[&format!("connector=\"{n}\"")],
                0.0,
                5 * S,
            )
            .await;
    }
    db.down().await;
    agent.wait_phase("prog-pg", "waiting", 5 * S).await;
    agent.wait_phase("prog-quiet", "waiting", 5 * S).await;
    db.up().await;
    agent.wait_phase("prog-jdbc", "waiting", 5 * S).await;
    agent.wait_phase("prog-pg", "watching", 10 * S).await;
    agent.wait_phase("prog-quiet", "watching", 10 * S).await;
    agent.wait_phase("prog-jdbc", "watching", 10 * S).await;
    let log = logs();
    let hold = log
        .lines()
        .find(|l| l.contains("prog-pg: holding it while"))
        .unwrap();
    assert!(hold.contains("pause requested (committed LSN 0/"), "{hold}");
    let rec = log
        .lines()
        .find(|l| l.contains("prog-pg: recovered after"))
        .unwrap();
    assert!(
        rec.contains("judged by progress: held at LSN 0/")
            && rec.contains("; resumed; now at LSN 0/"),
        "{rec}"
    );
    let quiet = log
        .lines()
        .find(|l| l.contains("prog-quiet: recovered after"))
        .unwrap();
    assert!(
        quiet.contains("judged by its RUNNING state alone: no heartbeat.interval.ms"),
        "{quiet}"
    );
    let jdbc = log
        .lines()
        .find(|l| l.contains("prog-jdbc: recovered after"))
        .unwrap();
    assert!(
        jdbc.contains(
            "judged by its RUNNING state alone: its connector class has no offset shape the agent knows"
        ),
        "{jdbc}"
    );
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.path == "/connectors/prog-jdbc/offsets"),
        "never read"
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_duration_seconds_count",
                &["outcome=\"recovered\""]
            )
            .await,
        Some(3.0)
    );
    drop(agent);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_whose_offset_does_not_move_is_never_counted_recovered() {
    use crate::support::{logs, Agent, Db};
    use cdc_sentinel_sim::RetryMode;
    let mut db = Db::start().await;
    let sim = recovery_sim().await;
    let name = "stuck-pg";
    sim.add_connector(
        with_heartbeats(ConnectorSpec::postgres(name, Some(db.addr)), true)
            .with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), STALL_FLAGS).await;
    agent
        .wait_value(
            "cdc_sentinel_connector_stalled",
            &["connector=\"stuck-pg\""],
            0.0,
            5 * S,
        )
        .await;
    db.down().await;
    agent.wait_phase(name, "waiting", 5 * S).await;
    // The database comes back, but what feeds the connector does not (LogMiner stuck, a
    // purged archive log): RUNNING after the resume, the offset standing still.
    sim.set_flow(name, Flow::Stalled);
    db.up().await;
    agent.wait_phase(name, "verifying", 5 * S).await;
    let restart_all = ("/restart", Some("includeTasks=true&onlyFailed=false"));
    assert!(
        eventually(5 * S, || async {
            count_requests(&sim, name, restart_all) == 1
        })
        .await,
        "its tasks restarted once"
    );
    agent.wait_phase(name, "needs_attention", 5 * S).await;
    assert_eq!(count_requests(&sim, name, restart_all), 1, "once");
    assert_eq!(
        sim.connector_state(name).as_deref(),
        Some("RUNNING"),
        "left RUNNING"
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_info",
                &["connector=\"stuck-pg\"", "reason=\"stalled\""]
            )
            .await,
        Some(1.0)
    );
    let m = |o: &str| format!("outcome=\"{o}\"");
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_duration_seconds_count",
                &[&m("recovered")]
            )
            .await,
        Some(0.0),
        "never counted recovered"
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_recovery_duration_seconds_count",
                &[&m("needs_attention")]
            )
            .await,
        Some(1.0)
    );
    assert_eq!(
        agent
            .value(
                "cdc_sentinel_actions_total",
                &[
                    "connector=\"stuck-pg\"",
                    "action=\"restart_tasks\"",
                    "result=\"ok\""
                ]
            )
            .await,
        Some(1.0)
    );
    let log = logs();
    assert!(
        log.contains("stuck-pg: RUNNING ") && log.contains("restarting its tasks once"),
        "{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("stuck-pg: needs attention (stalled): held at LSN 0/"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("; resumed; now at LSN 0/"), "{line}");
    assert!(!log.contains("stuck-pg: recovered after"), "{log}");
    // Once data flows again, it is back to watching.
    sim.set_flow(name, Flow::Busy);
    agent.wait_phase(name, "watching", 5 * S).await;
    drop(agent);
    sim.shutdown().await;
}
