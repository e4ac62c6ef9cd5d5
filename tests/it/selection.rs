//! Selections that match nothing are reported once, and list values from the environment are
//! trimmed.

use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, SimConnect, SimOptions};

use crate::support::{eventually, logs, Agent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_a_selection_is_warned_about_once_after_the_listing() {
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(ConnectorSpec::oracle("sel-inventory-oracle", None));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[connectors.\"sel-legacy-jbdc\"]\nignore = true\n\n[[maintenance]]\nwhen = \"daily 01:00-02:00 UTC\"\nconnectors = [\"sel-crm-oracle\"]\n",
    )
    .unwrap();
    let agent = Agent::start(
        &sim.url(),
        &[
            "--connector",
            "sel-inventroy-oracle",
            "--db",
            "tcp://127.0.0.1:1",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .await;
    // twenty polls or so
    let warned = eventually(Duration::from_secs(10), || async {
        logs().contains("[connectors.\"sel-legacy-jbdc\"] matches no connector")
    })
    .await;
    assert!(warned, "{}", logs());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = logs();
    for fragment in [
        "--connector \"sel-inventroy-oracle\" matches none of the 1 connectors Kafka Connect lists (did you mean \"sel-inventory-oracle\"?)",
        "[connectors.\"sel-legacy-jbdc\"] matches no connector Kafka Connect lists",
        "[[maintenance]] #1: connector \"sel-crm-oracle\" matches no connector",
    ] {
        assert_eq!(log.matches(fragment).count(), 1, "once: {fragment}\n{log}");
    }
    drop(agent);
}

#[test]
fn list_values_from_the_environment_are_trimmed() {
    let out = crate::cli::bin()
        .args(["check-config"])
        .env("CDC_SENTINEL_CONNECTOR", "inventory-oracle, orders-oracle")
        .env(
            "CDC_SENTINEL_MAINTENANCE",
            "daily 01:00-02:00 UTC; Sat-Sun 03:00-04:00 Europe/Berlin;",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        text.contains("connectors         = inventory-oracle, orders-oracle\n"),
        "{text}"
    );
    assert_eq!(text.matches("maintenance        = ").count(), 2, "{text}");
}
