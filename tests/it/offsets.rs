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
        matches!(e, ConnectError::BadJson { ref detail, .. } if detail.contains("larger than")),
        "{e:?}"
    );
    sim.inject(Route::Offsets, Fault::Garbage, 1);
    assert_eq!(c.offsets("pg").await.unwrap_err().kind(), "bad_json");
    // Names are encoded into the path.
    sim.add_connector(ConnectorSpec::postgres("inv oracle/1", None));
    assert!(c.offsets("inv oracle/1").await.is_ok());
    sim.shutdown().await;
}
