//! Prints the cost of one poll cycle (parse + decide + metric update) for 1,000 connectors with
//! 4 tasks each, of one /metrics render for them, and the process memory: RSS after the cycles,
//! the peak (VmHWM) during the cycles, and the peak while Prometheus-like clients scrape
//! /metrics over HTTP from the agent's own server. Targets on the 2-core CI machine (1,000
//! connectors): cycle <= 20 ms, render <= 5 ms, RSS <= 20 MiB. A benchmark, not a test: it
//! prints figures and asserts nothing about time.
//!
//! Run: cargo bench --bench cycle
//!      CDC_SENTINEL_BENCH_CONNECTORS=10000 cargo bench --bench cycle   (the 10k figures)

// A benchmark measures wall-clock time.
#![allow(clippy::disallowed_types)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cdc_sentinel::config::{Cli, Command};
use cdc_sentinel::runtime::clock::Clock;
use cdc_sentinel::runtime::connect::types::ExpandedMap;
use cdc_sentinel::runtime::connect::Client;
use cdc_sentinel::runtime::health::Health;
use cdc_sentinel::runtime::store::MemStore;
use cdc_sentinel::runtime::supervisor::Agent;
use cdc_sentinel::telemetry::metrics::Metrics;
use clap::Parser;

const TASKS: usize = 4;

fn connectors() -> usize {
    std::env::var("CDC_SENTINEL_BENCH_CONNECTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn body(count: usize) -> String {
    let mut s = String::from("{");
    for i in 0..count {
        if i > 0 {
            s.push(',');
        }
        let name = format!("cdc-connector-{i:04}");
        let tasks: Vec<String> = (0..TASKS)
            .map(|t| {
                format!(
                    r#"{{"id":{t},"state":"RUNNING","worker_id":"10.0.0.{}:8083"}}"#,
                    t + 1
                )
            })
            .collect();
        let task_refs: Vec<String> = (0..TASKS)
            .map(|t| format!(r#"{{"connector":"{name}","task":{t}}}"#))
            .collect();
        s.push_str(&format!(
            r#""{name}":{{"status":{{"name":"{name}","connector":{{"state":"RUNNING","worker_id":"10.0.0.1:8083"}},"tasks":[{}],"type":"source"}},"info":{{"name":"{name}","config":{{"connector.class":"io.debezium.connector.oracle.OracleConnector","database.hostname":"10.78.{}.{}","database.port":"1521","database.user":"c##dbzuser","database.password":"secret","database.dbname":"ORCLCDB","database.pdb.name":"ORCLPDB1","topic.prefix":"{name}","schema.history.internal.kafka.topic":"schema-changes.{name}","schema.history.internal.kafka.bootstrap.servers":"kafka:9092","log.mining.strategy":"online_catalog","tasks.max":"{TASKS}"}},"tasks":[{}],"type":"source"}}}}"#,
            tasks.join(","),
            i / 250 % 256,
            i % 50,
            task_refs.join(",")
        ));
    }
    s.push('}');
    s
}

fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// The peak RSS since the process started or since [`reset_peak`].
fn peak_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Resets the peak RSS to the current RSS (Linux: `5` to /proc/self/clear_refs).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.2} ms, p90 {:.2} ms, max {:.2} ms ({} runs)",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

/// `--strimzi-cluster`: the one list of the cluster's KafkaConnectors each poll, for 1,000 of
/// them (4 pages of 250), from the fake API server over loopback HTTP (whose own serving is
/// included: an upper bound of the agent's share), parsed into the lean read model.
async fn strimzi_list() {
    use cdc_sentinel_sim::k8s::{FakeApi, FakeConfig};
    use cdc_sentinel_strimzi::{Options, Strimzi};
    let fake = FakeApi::start(FakeConfig::default()).await.unwrap();
    let n = connectors();
    for i in 0..n {
        fake.create_connector("kafka", &format!("cdc-connector-{i:04}"), "bench", None);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::new("bench");
    o.kubeconfig = Some(fake.write_kubeconfig(dir.path(), "kafka").unwrap());
    let k = Strimzi::new(o, |_| {}).await.unwrap();
    let rss_before = rss_kib();
    let mut lists = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let view = k.observe().await;
        lists.push(t.elapsed());
        assert_eq!(view.snapshot().map(|s| s.len()), Some(n));
    }
    println!(
        "KafkaConnector list per poll ({n} resources, pages of 250): {}",
        stats(lists)
    );
    if let (Some(b), Some(a)) = (rss_before, rss_kib()) {
        println!(
            "  RSS {:.1} MiB after the lists ({:.1} MiB before; the fake API server shares the process)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cli = Cli::try_parse_from([
            "cdc-sentinel",
            "run",
            "--connect-url",
            "http://127.0.0.1:9",
            "--probe-interval",
            "1h",
            "--probe-timeout",
            "100ms",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            unreachable!()
        };
        let cfg = Arc::new(args.validate().unwrap());
        let metrics = Metrics::new("bench", "bench", false);
        let client = Client::new(&cfg.connect, metrics.clone()).unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut agent = Agent::new(
            cfg,
            client,
            metrics.clone(),
            Box::new(MemStore::default()),
            Clock::system(),
            shutdown.clone(),
        )
        .await
        .unwrap();

        let count = connectors();
        let body = body(count);
        println!(
            "input: {count} connectors x {TASKS} tasks, {} KiB of JSON",
            body.len() / 1024
        );
        let rss_before = rss_kib();
        reset_peak();
        let mut cycles = Vec::new();
        let mut parses = Vec::new();
        for i in 0..60 {
            let t = Instant::now();
            let list: ExpandedMap = serde_json::from_slice(body.as_bytes()).unwrap();
            let parsed = t.elapsed();
            agent
                .process(list, 1_700_000_000_000 + i * 5000)
                .await
                .unwrap();
            if i >= 5 {
                cycles.push(t.elapsed());
                parses.push(parsed);
            }
        }
        let rss_cycles = rss_kib();
        let peak_cycles = peak_kib();

        // Scrapes over HTTP from the agent's own server, read as a stream by the client (the
        // client does not buffer them, so the peak is the agent's).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let health = Health::new(
            Duration::from_secs(5),
            Duration::from_secs(60),
            Clock::system(),
        );
        tokio::spawn(cdc_sentinel::runtime::server::serve(
            listener,
            metrics.clone(),
            health,
            shutdown.clone(),
        ));
        let http = reqwest::Client::new();
        reset_peak();
        let before_scrapes = rss_kib();
        let mut scrapes = Vec::new();
        let mut scraped = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let mut r = http
                .get(format!("http://{addr}/metrics"))
                .send()
                .await
                .unwrap();
            scraped = 0;
            while let Some(c) = r.chunk().await.unwrap() {
                scraped += c.len();
            }
            scrapes.push(t.elapsed());
        }
        let peak_scrapes = peak_kib();

        let mut renders = Vec::new();
        let mut size = 0;
        for _ in 0..50 {
            let t = Instant::now();
            let text = metrics.render();
            renders.push(t.elapsed());
            size = text.len();
        }
        println!("poll cycle (parse + decide + metrics): {}", stats(cycles));
        println!("  of which JSON parse:                  {}", stats(parses));
        println!(
            "/metrics render ({} KiB, {} series):    {}",
            size / 1024,
            metrics
                .render()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count(),
            stats(renders)
        );
        println!(
            "/metrics over HTTP ({} KiB):           {}",
            scraped / 1024,
            stats(scrapes)
        );
        println!(
            "RSS: {} before the first cycle, {} after 60 cycles (peak during them {})",
            mib(rss_before),
            mib(rss_cycles),
            mib(peak_cycles)
        );
        println!(
            "RSS: {} before 20 HTTP scrapes, peak during them {}; {} after 50 in-process renders",
            mib(before_scrapes),
            mib(peak_scrapes),
            mib(rss_kib())
        );
        println!("targets: cycle <= 20 ms, render <= 5 ms, RSS <= 20 MiB");
        strimzi_list().await;
        shutdown.cancel();
    });
}
