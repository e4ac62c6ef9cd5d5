//! `cdc-sentinel-sim`: the simulated Kafka Connect worker as a process of its own, for the
//! shell-driven suites (Prometheus end to end, container image). Not part of the agent.
//! Connectors are given as `NAME=KIND@HOST:PORT[:OPTION]...`, KIND `oracle`, `postgres` or
//! `mysql`, OPTION `failfast` (`errors.max.retries=0`), `heartbeat` (heartbeats that move its
//! committed offset on a quiet database: `heartbeat.interval.ms`, plus `heartbeat.action.query`
//! but for Oracle) or `stalled` (RUNNING while its offset stands still, from the start); the
//! database is whatever listens at HOST:PORT (the test opens and closes it), and the tasks of
//! every kind hold a TCP session to it (no TNS logon: the suites' databases are plain TCP
//! listeners).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

use std::time::Duration;

use cdc_sentinel_sim::{ConnectorSpec, DbCheck, Flow, RetryMode, SimConnect, SimOptions};

/// Runs the simulated Kafka Connect worker until SIGTERM or Ctrl-C.
#[derive(Parser, Debug, Clone)]
#[command(name = "cdc-sentinel-sim", version, disable_version_flag = true)]
struct SimulateArgs {
    /// Where the simulated worker listens.
    #[arg(long, default_value = "127.0.0.1:8083")]
    listen: String,
    /// Kafka version it reports.
    #[arg(long, default_value = "3.9.0")]
    version: String,
    /// NAME=KIND@HOST:PORT[:failfast][:heartbeat][:stalled], KIND oracle, postgres or mysql (repeatable).
    #[arg(long = "connector")]
    connectors: Vec<String>,
    /// The worker's offset.flush.interval.ms: how often processed positions are committed
    /// (what GET /connectors/NAME/offsets shows); 0: at every tick.
    #[arg(long, default_value_t = 0)]
    offset_flush_ms: u64,
}

/// A connector to create, and how its changes arrive.
fn parse_connector(s: &str) -> anyhow::Result<(ConnectorSpec, Flow)> {
    let usage = || {
        format!("--connector {s:?}: expected NAME=KIND@HOST:PORT[:failfast][:heartbeat][:stalled] with KIND oracle, postgres or mysql")
    };
    let (name, rest) = s.split_once('=').with_context(usage)?;
    let (kind, mut rest) = rest.split_once('@').with_context(usage)?;
    let (mut failfast, mut heartbeat, mut stalled) = (false, false, false);
    loop {
        if let Some(r) = rest.strip_suffix(":failfast") {
            (rest, failfast) = (r, true);
        } else if let Some(r) = rest.strip_suffix(":heartbeat") {
            (rest, heartbeat) = (r, true);
        } else if let Some(r) = rest.strip_suffix(":stalled") {
            (rest, stalled) = (r, true);
        } else {
            break;
        }
    }
    let addr: SocketAddr = rest.parse().with_context(usage)?;
    let mut spec = match kind {
        "oracle" => ConnectorSpec::oracle(name, Some(addr)).with_db_check(DbCheck::Tcp),
        "postgres" => ConnectorSpec::postgres(name, Some(addr)),
        "mysql" => ConnectorSpec::mysql(name, Some(addr)),
        _ => anyhow::bail!(usage()),
    };
    if heartbeat {
        spec = spec.with_config("heartbeat.interval.ms", "10000");
        if kind != "oracle" {
            spec = spec.with_config("heartbeat.action.query", "SELECT 1");
        }
    }
    let spec = spec.with_retry(if failfast {
        RetryMode::FailFast
    } else {
        RetryMode::Unlimited
    });
    Ok((spec, if stalled { Flow::Stalled } else { Flow::Busy }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    match run(SimulateArgs::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cdc-sentinel-sim: {e:#}");
            std::process::ExitCode::from(64)
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let specs = a
        .connectors
        .iter()
        .map(|c| parse_connector(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let addr: SocketAddr = a
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not HOST:PORT", a.listen))?;
    let sim = SimConnect::start(SimOptions {
        version: a.version.clone(),
        addr: Some(addr),
        offset_flush: Duration::from_millis(a.offset_flush_ms),
        ..SimOptions::default()
    })
    .await
    .with_context(|| format!("cannot listen on {addr}"))?;
    for (s, flow) in specs {
        let name = s.name.clone();
        sim.add_connector(s);
        sim.set_flow(&name, flow);
    }
    println!("simulated Kafka Connect {} on {}", a.version, sim.url());
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
