//! `cdc-sentinel simulate` (hidden): the simulated Kafka Connect worker of `src/sim` as a
//! process of its own, for the shell-driven suites (Prometheus end to end, container image).
//! Connectors are given as `NAME=KIND@HOST:PORT[:failfast]`, KIND `oracle` or `postgres`; the
//! database is whatever listens at HOST:PORT (the test opens and closes it), and the tasks of
//! either kind hold a TCP session to it (no TNS logon: the suites' databases are plain TCP
//! listeners).

use std::net::SocketAddr;

use anyhow::Context;

use crate::config::SimulateArgs;
use crate::sim::{ConnectorSpec, DbCheck, RetryMode, SimConnect, SimOptions};

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

pub async fn run(a: SimulateArgs) -> anyhow::Result<()> {
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
    crate::app::shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}
