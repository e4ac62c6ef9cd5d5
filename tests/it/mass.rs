//! Many connectors at once: a database shared by 200 connectors goes down, and the agent holds
//! them all without flooding the worker (`--max-concurrent-actions`).

use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, Fault, RetryMode, Route, SimConnect, SimOptions};

use crate::support::{eventually, Agent, Db};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_hold_keeps_at_most_n_pause_requests_in_flight() {
    const CONNECTORS: usize = 200;
    const N: usize = 4;
    let mut db = Db::start().await;
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    let names: Vec<String> = (0..CONNECTORS).map(|i| format!("mass-{i:03}")).collect();
    for n in &names {
        sim.add_connector(ConnectorSpec::oracle(n, Some(db.addr)).with_retry(RetryMode::FailFast));
    }
    let agent = Agent::start(
        &sim.url(),
        &[
            "--max-concurrent-actions",
            &N.to_string(),
            "--connect-action-timeout",
            "10s",
        ],
    )
    .await;
    agent
        .wait_state(&names[CONNECTORS - 1], "RUNNING", Duration::from_secs(20))
        .await;
    // every pause takes the worker 50 ms, as a busy one does: requests overlap if sent at once
    sim.inject(
        Route::Pause,
        Fault::Slow(Duration::from_millis(50)),
        CONNECTORS * 2,
    );
    sim.clear_requests();
    db.down().await;
    let all_paused = eventually(Duration::from_secs(60), || async {
        names
            .iter()
            .all(|n| sim.connector_state(n).as_deref() == Some("PAUSED"))
    })
    .await;
    let pauses = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/pause"))
        .count();
    assert!(
        all_paused,
        "all {CONNECTORS} held ({pauses} pause requests seen)"
    );
    let max = sim.max_in_flight(Route::Pause);
    println!("{pauses} pause requests, at most {max} in flight at once");
    assert!(
        max <= N,
        "{max} pause requests in flight at once, more than {N}"
    );
    assert!(max >= 2, "the pauses were sent concurrently at all ({max})");
}
