//! docs/metrics.md is the contract for alerts and dashboards: every metric family a running
//! agent exports is documented there with its type and labels, and every documented metric
//! really shows up in a scrape once the agent has been through a recovery.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};

use crate::support::{Agent, Db};

/// name -> (type, labels) from the metrics table of a document.
fn documented_in(file: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `cdc_sentinel_")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let kind = cells[2].to_string();
        let labels = cells[3]
            .split(',')
            .map(|l| l.trim().trim_matches('`').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        out.insert(name, (kind, labels));
    }
    out
}

fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
    documented_in("docs/metrics.md")
}

#[test]
fn the_readme_shows_the_same_metrics_table() {
    let table = |f: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{}/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        text.lines()
            .filter(|l| l.starts_with("| `cdc_sentinel_"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        table("README.md"),
        table("docs/metrics.md"),
        "README.md and docs/metrics.md metric tables differ"
    );
    assert!(!documented_in("README.md").is_empty());
}

/// name -> (type, label names seen) from a scrape.
fn scraped(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.to_string()).or_default().0 = kind.to_string();
        }
    }
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let series = l.rsplit_once(' ').unwrap().0;
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| out.get(*f).is_some_and(|e| e.0 == "histogram"))
            })
            .unwrap_or(name);
        let e = out.entry(family.to_string()).or_default();
        for kv in labels
            .trim_end_matches('}')
            .split("\",")
            .filter(|s| !s.is_empty())
        {
            let k = kv
                .split('=')
                .next()
                .unwrap()
                .trim_start_matches(',')
                .to_string();
            if k != "le" {
                e.1.insert(k);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_and_scrape_agree() {
    let mut db = Db::start().await;
    let sim = SimConnect::start(SimOptions::default()).await.unwrap();
    sim.add_connector(
        ConnectorSpec::oracle("doc-done", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    let agent = Agent::start(&sim.url(), &["--max-wait", "60s"]).await;
    agent
        .wait_value(
            "cdc_sentinel_probe_success",
            &[],
            1.0,
            Duration::from_secs(5),
        )
        .await;
    // One finished recovery...
    db.down().await;
    agent
        .wait_value(
            "cdc_sentinel_managed",
            &["connector=\"doc-done\""],
            1.0,
            Duration::from_secs(5),
        )
        .await;
    db.up().await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_duration_seconds_count",
            &["outcome=\"recovered\""],
            1.0,
            Duration::from_secs(8),
        )
        .await;
    // ...and one under way (so the in-recovery series exist too).
    sim.add_connector(
        ConnectorSpec::oracle("doc-live", Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    agent
        .wait_value(
            "cdc_sentinel_connector_state",
            &["connector=\"doc-live\"", "state=\"RUNNING\""],
            1.0,
            Duration::from_secs(5),
        )
        .await;
    db.down().await;
    agent
        .wait_value(
            "cdc_sentinel_recovery_phase",
            &["connector=\"doc-live\"", "phase=\"waiting\""],
            1.0,
            Duration::from_secs(5),
        )
        .await;

    let doc = documented();
    let got = scraped(&agent.metrics().await);
    let got: BTreeMap<_, _> = got
        .into_iter()
        .filter(|(k, _)| k.starts_with("cdc_sentinel_"))
        .collect();
    let undocumented: Vec<_> = got.keys().filter(|k| !doc.contains_key(*k)).collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in docs/metrics.md: {undocumented:?}"
    );
    // The target-unknown series needs a connector without a target, covered elsewhere.
    let missing: Vec<_> = doc.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "documented but not exported: {missing:?}"
    );
    for (name, (kind, labels)) in &doc {
        let (gk, gl) = &got[name];
        assert_eq!(kind, gk, "type of {name}");
        assert_eq!(labels, gl, "labels of {name}");
    }
}
