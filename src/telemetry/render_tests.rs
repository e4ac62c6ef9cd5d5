//! The hand-written exposition checked line by line: escaping, zero series, and every
//! histogram against the `prometheus` crate's own encoder fed the same observations.

#[test]
fn values_are_written_exactly() {
    let w = |f: &dyn Fn(&mut String)| {
        let mut s = String::new();
        f(&mut s);
        s
    };
    for n in [0u64, 1, 9, 10, 99, 12345, u64::MAX] {
        assert_eq!(w(&|s| n.push(s)), n.to_string());
    }
    assert_eq!(w(&|s| 1800.0f64.push(s)), "1800");
    assert_eq!(w(&|s| 1_700_000_000.25f64.push(s)), "1700000000.25");
    assert_eq!(w(&|s| 0.5f64.push(s)), "0.5");
}

use super::*;
use crate::core::RecordReason;
use crate::telemetry::metrics::PROBE_BUCKETS;
use crate::telemetry::{ConnectorView, Metrics};
use cdc_sentinel_probe::ProbeResult;
use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new("0.1.0", "abc", false);
    m.set_connectors(vec![ConnectorView {
        name: "we\"ird\\name\n".into(),
        state: ConnState::Running,
        state_name: None,
        tasks: [0, 1, 0, 0, 0, 0],
        selected: true,
        target: Some("db:1521".into()),
        phase: Phase::Watching,
        reason: None,
        managed: false,
        started_at_ms: None,
        max_wait_secs: 1800.0,
        attempts: 0,
        maintenance: false,
        manager: crate::core::Manager::Rest,
        offset: None,
    }]);
    let text = m.render();
    assert!(
        text.contains(
            r#"cdc_sentinel_connector_state{connector="we\"ird\\name\n",state="RUNNING"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"cdc_sentinel_build_info{revision="abc",version="0.1.0"} 1"#));
}

#[test]
fn maintenance_active_for_every_selected_connector() {
    let m = Metrics::new("0.1.0", "abc", false);
    let view = |name: &str, selected: bool, maintenance: bool| ConnectorView {
        name: name.into(),
        state: ConnState::Paused,
        state_name: None,
        tasks: [0, 0, 1, 0, 0, 0],
        selected,
        target: Some("db:1521".into()),
        phase: Phase::Waiting,
        reason: Some(RecordReason::Maintenance),
        managed: true,
        started_at_ms: Some(1_000),
        max_wait_secs: 1800.0,
        attempts: 0,
        maintenance,
        manager: crate::core::Manager::Rest,
        offset: None,
    };
    m.set_connectors(vec![
        view("inv", true, true),
        view("crm", true, false),
        view("other", false, true),
    ]);
    let text = m.render();
    assert!(
        text.contains("# TYPE cdc_sentinel_maintenance_active gauge"),
        "{text}"
    );
    assert!(text.contains(r#"cdc_sentinel_maintenance_active{connector="inv"} 1"#));
    assert!(text.contains(r#"cdc_sentinel_maintenance_active{connector="crm"} 0"#));
    assert!(!text.contains(r#"cdc_sentinel_maintenance_active{connector="other"}"#));
    assert!(text.contains(
        r#"cdc_sentinel_recovery_info{connector="inv",target="db:1521",reason="maintenance"} 1"#
    ));
    assert!(text.contains(
        r#"cdc_sentinel_recoveries_started_total{connector="crm",reason="maintenance"} 0"#
    ));
}

fn probed(reason: Reason, ms: u64) -> ProbeResult {
    ProbeResult {
        reason,
        detail: String::new(),
        version: None,
        duration: std::time::Duration::from_micros(ms),
    }
}

#[test]
fn probe_series_match_the_reference_encoder() {
    // The probe series are rendered by hand for speed; the prometheus crate's own encoder,
    // fed the same probes, is the reference for every line.
    let m = Metrics::new("0.1.0", "abc", false);
    let reference = Registry::new();
    let hist = HistogramVec::new(
        HistogramOpts::new(
            "cdc_sentinel_probe_duration_seconds",
            "Duration of each database probe.",
        )
        .buckets(PROBE_BUCKETS.to_vec()),
        &["target"],
    )
    .unwrap();
    reference.register(Box::new(hist.clone())).unwrap();
    let t = "db\"1:1521/ORCL";
    m.target_added(t);
    m.target_added("never-probed:5432");
    let probes = [
        (Reason::Ok, 400),
        (Reason::Refused, 3_000),
        (Reason::ServiceUnknown, 200_000),
        (Reason::ServiceUnknown, 7_000_000),
        (Reason::Timeout, 12_000_000),
    ];
    for (i, (reason, us)) in probes.iter().enumerate() {
        let r = probed(*reason, *us);
        m.probe_result(t, &r, 1_700_000_000_000 + i as u64 * 1000);
        hist.with_label_values(&[t])
            .observe(r.duration.as_secs_f64());
    }
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&reference.gather(), &mut buf)
        .unwrap();
    let want = String::from_utf8(buf).unwrap();
    let got = m.render();
    let ours: Vec<&str> = got
        .lines()
        .filter(|l| l.starts_with("cdc_sentinel_probe_duration_seconds"))
        .collect();
    let theirs: Vec<&str> = want.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(ours, theirs);
    assert!(got.contains("# TYPE cdc_sentinel_probe_duration_seconds histogram\n"));

    let expect = [
        r#"cdc_sentinel_probe_success{target="db\"1:1521/ORCL"} 0"#,
        r#"cdc_sentinel_probe_last_success_timestamp_seconds{target="db\"1:1521/ORCL"} 1700000000"#,
        r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="service_unknown"} 2"#,
        r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="refused"} 1"#,
        r#"cdc_sentinel_probe_failures_total{target="db\"1:1521/ORCL",reason="dns"} 0"#,
        r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL",reason="timeout"} 1"#,
        r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL",reason="ok"} 0"#,
        // a target not probed yet: its failure counters at zero, nothing else
        r#"cdc_sentinel_probe_failures_total{target="never-probed:5432",reason="timeout"} 0"#,
    ];
    for line in expect {
        assert!(got.lines().any(|l| l == line), "missing {line}\n{got}");
    }
    assert!(!got.contains(r#"cdc_sentinel_probe_success{target="never-probed:5432"}"#));
    assert!(!got.contains(r#"cdc_sentinel_probe_last_reason{target="never-probed:5432""#));
    assert_eq!(
        got.matches(r#"cdc_sentinel_probe_last_reason{target="db\"1:1521/ORCL""#)
            .count(),
        11
    );

    m.forget_target(t);
    assert!(
        !m.render().contains("db\\\"1"),
        "forgotten target still exported"
    );
}

#[test]
fn process_histograms_match_the_reference_encoder() {
    use crate::core::Outcome;
    use crate::telemetry::metrics::{CONNECT_BUCKETS, RECOVERY_BUCKETS};
    use crate::telemetry::table::ConnectOp;
    let m = Metrics::new("0.1.0", "abc", false);
    let reference = Registry::new();
    let connect = HistogramVec::new(
        HistogramOpts::new(
            "cdc_sentinel_connect_request_duration_seconds",
            "Kafka Connect REST calls by operation and HTTP status (or error).",
        )
        .buckets(CONNECT_BUCKETS.to_vec()),
        &["operation", "code"],
    )
    .unwrap();
    let recovery = HistogramVec::new(
        HistogramOpts::new(
            "cdc_sentinel_recovery_duration_seconds",
            "Duration of finished recoveries by outcome.",
        )
        .buckets(RECOVERY_BUCKETS.to_vec()),
        &["outcome"],
    )
    .unwrap();
    reference.register(Box::new(connect.clone())).unwrap();
    reference.register(Box::new(recovery.clone())).unwrap();
    for (op, code, secs) in [
        (ConnectOp::List, "200", 0.003),
        (ConnectOp::List, "200", 0.07),
        (ConnectOp::Pause, "409", 0.2),
        (ConnectOp::Stop, "error", 31.5),
    ] {
        m.connect_request(op, code, secs);
        connect
            .with_label_values(&[op.as_str(), code])
            .observe(secs);
    }
    for o in Outcome::ALL {
        if *o != Outcome::DryRun {
            recovery.with_label_values(&[o.as_str()]);
        }
    }
    for (o, secs) in [(Outcome::Recovered, 95.0), (Outcome::HandedBack, 4000.5)] {
        m.recovery_finished(o, secs);
        recovery.with_label_values(&[o.as_str()]).observe(secs);
    }
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&reference.gather(), &mut buf)
        .unwrap();
    let want = String::from_utf8(buf).unwrap();
    let got = m.render();
    let mut ours: Vec<&str> = got
        .lines()
        .filter(|l| {
            l.starts_with("cdc_sentinel_connect_request_duration_seconds")
                || l.starts_with("cdc_sentinel_recovery_duration_seconds")
        })
        .collect();
    let mut theirs: Vec<&str> = want.lines().filter(|l| !l.starts_with('#')).collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    assert!(
        !got.contains("outcome=\"dry_run\""),
        "no dry_run series without --dry-run"
    );
}

#[test]
fn kubernetes_series_only_with_strimzi_and_match_the_reference_encoder() {
    use crate::telemetry::metrics::CONNECT_BUCKETS;
    use crate::telemetry::table::KubeVerb;
    let m = Metrics::new("0.1.0", "abc", false);
    assert!(
        !m.render().contains("cdc_sentinel_kubernetes"),
        "absent without --strimzi-cluster"
    );
    m.kubernetes_enabled();
    let got = m.render();
    assert!(
        got.contains("# TYPE cdc_sentinel_kubernetes_up gauge\ncdc_sentinel_kubernetes_up 0\n"),
        "{got}"
    );
    assert!(got.contains("# TYPE cdc_sentinel_kubernetes_request_duration_seconds histogram\n"));
    let reference = Registry::new();
    let kube = HistogramVec::new(
        HistogramOpts::new(
            "cdc_sentinel_kubernetes_request_duration_seconds",
            "Duration of Kubernetes API requests.",
        )
        .buckets(CONNECT_BUCKETS.to_vec()),
        &["code", "verb"],
    )
    .unwrap();
    reference.register(Box::new(kube.clone())).unwrap();
    for (verb, code, secs) in [
        (KubeVerb::Discover, "200", 0.004),
        (KubeVerb::List, "200", 0.02),
        (KubeVerb::List, "error", 10.0),
        (KubeVerb::Patch, "403", 0.01),
        (KubeVerb::Get, "200", 0.003),
    ] {
        m.kubernetes_request(verb, code, secs);
        kube.with_label_values(&[code, verb.as_str()]).observe(secs);
    }
    m.kubernetes_up(true);
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&reference.gather(), &mut buf)
        .unwrap();
    let want = String::from_utf8(buf).unwrap();
    let got = m.render();
    let mut ours: Vec<&str> = got
        .lines()
        .filter(|l| l.starts_with("cdc_sentinel_kubernetes_request_duration_seconds"))
        .collect();
    let mut theirs: Vec<&str> = want.lines().filter(|l| !l.starts_with('#')).collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    assert!(got.lines().any(|l| l == "cdc_sentinel_kubernetes_up 1"));
}

/// A metrics store with `n` selected connectors, a few counters and probe targets.
fn big(n: usize) -> Metrics {
    let m = Metrics::new("0.1.0", "abc", false);
    m.set_connectors(
        (0..n)
            .map(|i| ConnectorView {
                name: format!("connector-{i:05}"),
                state: ConnState::Running,
                tasks: [4, 0, 0, 0, 0, 0],
                selected: true,
                target: Some(format!("db{}:1521/PDB", i % 50)),
                offset: None,
                phase: Phase::Watching,
                reason: None,
                managed: false,
                started_at_ms: None,
                max_wait_secs: 1800.0,
                attempts: 0,
                maintenance: false,
                state_name: None,
                manager: crate::core::Manager::Rest,
            })
            .collect(),
    );
    for t in 0..50 {
        m.probe_result(
            &format!("db{t}:1521/PDB"),
            &ProbeResult {
                reason: cdc_sentinel_probe::Reason::Ok,
                detail: String::new(),
                version: None,
                duration: std::time::Duration::from_millis(3),
            },
            1_700_000_000_000,
        );
    }
    m.task_failed("connector-00007", 2);
    m
}

#[test]
fn a_streamed_scrape_is_the_same_text_in_bounded_chunks() {
    let m = big(2000);
    let whole = m.render();
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let m2 = m.clone();
    let render = std::thread::spawn(move || m2.render_chunks(tx));
    let mut chunks = Vec::new();
    while let Some(c) = rx.blocking_recv() {
        chunks.push(c);
    }
    render.join().unwrap();
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert_eq!(String::from_utf8(joined).unwrap(), whole);
    assert!(
        chunks.len() > whole.len() / CHUNK / 2,
        "{} chunks",
        chunks.len()
    );
    let largest = chunks.iter().map(|c| c.len()).max().unwrap();
    // a chunk ends after the connector (or target) whose lines filled it
    assert!(largest < CHUNK + 8 * 1024, "largest chunk {largest} bytes");
}

#[test]
fn a_scrape_that_goes_away_stops_the_render() {
    let m = big(2000);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let m2 = m.clone();
    let render = std::thread::spawn(move || m2.render_chunks(tx));
    let first = rx.blocking_recv().unwrap();
    assert!(!first.is_empty());
    drop(rx);
    // it returns (rather than blocking on the full channel forever) and the stores are free
    render.join().unwrap();
    m.task_failed("connector-00001", 1);
}
