//! The metric table (src/telemetry/table.rs) is the contract for alerts and dashboards: every
//! metric family a running agent exports is in it with its type and labels, every metric in it
//! really shows up in a scrape once the agent has been through a recovery, and the committed
//! docs generated from it (docs/metrics.md, the README's table, monitoring/metrics.json) are
//! current.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cdc_sentinel::cli::metrics_doc;
use cdc_sentinel::telemetry::table;
use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};

use crate::support::{Agent, Db};

/// name -> (type, labels) from the agent's metric table.
pub(crate) fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
    table::ALL
        .iter()
        .map(|m| {
            let labels = m.labels.iter().map(|l| l.name.to_string()).collect();
            (m.name.to_string(), (m.kind.as_str().to_string(), labels))
        })
        .collect()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_committed_metric_docs_are_generated_from_the_table() {
    let fix = "run `cargo run -- metrics-doc --write` and commit the result";
    assert_eq!(
        read("docs/metrics.md"),
        metrics_doc::docs_page(),
        "docs/metrics.md differs from the metric table: {fix}"
    );
    let readme = read("README.md");
    assert_eq!(
        metrics_doc::readme_section(&readme).as_deref(),
        Some(table::markdown_table().as_str()),
        "README.md's metric table differs from the metric table: {fix}"
    );
    assert_eq!(
        read("monitoring/metrics.json"),
        table::json(),
        "monitoring/metrics.json differs from the metric table: {fix}"
    );
}

/// name -> (type, label names seen) from a scrape.
pub(crate) fn scraped(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
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
        "exported but not in the metric table (src/telemetry/table.rs): {undocumented:?}"
    );
    // Metrics of a feature this agent does not run (Strimzi, offsets) are checked by that
    // feature's own tests; every other one must be in the scrape.
    let always = |name: &str| {
        table::ALL
            .iter()
            .any(|m| m.name == name && m.presence == table::Presence::Always)
    };
    let missing: Vec<_> = doc
        .keys()
        .filter(|k| always(k) && !got.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not exported: {missing:?}"
    );
    for (name, (kind, labels)) in &doc {
        let Some((gk, gl)) = got.get(name) else {
            continue;
        };
        assert_eq!(kind, gk, "type of {name}");
        assert_eq!(labels, gl, "labels of {name}");
    }
}
