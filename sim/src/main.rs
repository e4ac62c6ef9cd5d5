//! `cdc-sentinel-sim`: the simulated Kafka Connect worker as a process of its own, for the
//! shell-driven suites (Prometheus end to end, container image). Not part of the agent.
//! Connectors are given as `NAME=KIND@HOST:PORT[:failfast]`, KIND `oracle` or `postgres`; the
//! database is whatever listens at HOST:PORT (the test opens and closes it), and the tasks of
//! either kind hold a TCP session to it (no TNS logon: the suites' databases are plain TCP
//! listeners).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;

use cdc_sentinel_sim::{ConnectorSpec, DbCheck, RetryMode, SimConnect, SimOptions};

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
    /// NAME=KIND@HOST:PORT[:failfast], KIND oracle or postgres (repeatable).
    #[arg(long = "connector")]
    connectors: Vec<String>,
}

fn parse_connector(s: &str) -> anyhow::Result<ConnectorSpec> {
    let usage = || {
        format!("--connector {s:?}: expected NAME=KIND@HOST:PORT[:failfast] with KIND oracle or postgres")
    };
    let (name, rest) = s.split_once('=').with_context(usage)?;
    let (kind, rest) = rest.split_once('@').with_context(usage)?;
    let (addr, failfast) = match rest.strip_suffix(":failfast") {
        Some(a) => (a, true),
        None => (rest, false),
    };
    let addr: SocketAddr = addr.parse().with_context(usage)?;
    let spec = match kind {
        "oracle" => ConnectorSpec::oracle(name, Some(addr)).with_db_check(DbCheck::Tcp),
        "postgres" => ConnectorSpec::postgres(name, Some(addr)),
        _ => anyhow::bail!(usage()),
    };
    Ok(spec.with_retry(if failfast {
        RetryMode::FailFast
    } else {
        RetryMode::Unlimited
    }))
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
        ..SimOptions::default()
    })
    .await
    .with_context(|| format!("cannot listen on {addr}"))?;
    for s in specs {
        sim.add_connector(s);
    }
    println!("simulated Kafka Connect {} on {}", a.version, sim.url());
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
