//! `cdc-sentinel demo`: two nights in about 35 seconds, against an embedded simulated Kafka
//! Connect worker and a simulated database (a real TCP listener on 127.0.0.1), with the real
//! agent making the decisions, its decision log on screen and `/metrics` live.
//!
//! Night 1: the nightly backup takes the database down; one connector's task goes FAILED, the
//! other hides the outage behind RUNNING; both are held, then resumed (the FAILED task
//! restarted) once the database is back. Night 2: the backup overruns the maximum wait; the
//! connectors stay held, the agent says what a human must do, and the on-call hands it back.

use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::config::{Cli, Command, DemoArgs};
use crate::core::Phase;
use crate::runtime::app;
use crate::runtime::clock::Clock;
use cdc_sentinel_sim::standin::StandinDb;
use cdc_sentinel_sim::{ConnectorSpec, RetryMode, SimConnect, SimOptions};

fn say(text: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m==> {text}\x1b[0m");
    } else {
        println!("\n==> {text}");
    }
}

async fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Whether the agent's latest snapshot has every connector in this recovery phase.
fn in_phase(agent: &app::Running, names: &[&str], phase: Phase) -> bool {
    let d = agent.diagnostics();
    names.iter().all(|n| d.phase(n) == Some(phase))
}

fn show(sim: &SimConnect, names: &[&str]) {
    for n in names {
        println!(
            "    {n:<18} connector {:<8} tasks {:?}",
            sim.connector_state(n).unwrap_or_default(),
            sim.task_states(n)
        );
    }
}

pub async fn run(d: DemoArgs) -> anyhow::Result<()> {
    let speed = if d.speed.is_finite() && d.speed > 0.0 {
        d.speed
    } else {
        1.0
    };
    let t = |ms: u64| Duration::from_millis(((ms as f64) / speed).max(10.0) as u64);
    let fmt = |d: Duration| {
        humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
    };

    let mut db = StandinDb::start()
        .await
        .context("cannot open the simulated database port")?;
    let sim = SimConnect::start(SimOptions::default())
        .await
        .context("cannot start the simulated Kafka Connect")?;
    let failing = "inventory-oracle";
    let hidden = "orders-oracle";
    sim.add_connector(
        ConnectorSpec::oracle(failing, Some(db.addr)).with_retry(RetryMode::FailFast),
    );
    sim.add_connector(
        ConnectorSpec::oracle(hidden, Some(db.addr)).with_retry(RetryMode::Unlimited),
    );

    let dir = tempfile_dir()?;
    let state = dir.join("state.json");
    let max_wait = t(12_000);
    let argv: Vec<String> = vec![
        "cdc-sentinel".into(),
        "run".into(),
        "--connect-url".into(),
        sim.url(),
        "--web.listen-address".into(),
        d.listen.clone(),
        "--state-file".into(),
        state.display().to_string(),
        "--poll-interval".into(),
        fmt(t(500)),
        "--probe-interval".into(),
        fmt(t(1_000)),
        "--probe-timeout".into(),
        fmt(t(500)),
        "--verify-window".into(),
        fmt(t(2_000)),
        "--max-wait".into(),
        fmt(max_wait),
    ];
    let args = match Cli::try_parse_from(&argv)?.command {
        Some(Command::Run(a)) => a,
        _ => anyhow::bail!("internal: demo flags did not parse as `run`"),
    };
    let cfg = args.validate().map_err(|e| anyhow::anyhow!(e.message))?;
    let agent = app::start(cfg, Clock::system()).await?;

    println!("cdc-sentinel demo: a simulated Kafka Connect at {} with two Debezium Oracle connectors on one database ({}).", sim.url(), db.addr);
    println!("  {failing}: errors.max.retries=0, its task goes FAILED when the database goes away");
    println!("  {hidden}: Debezium's default unlimited retries, the outage hides behind RUNNING");
    println!(
        "Metrics live at http://{}/metrics  (one hour of the night = one second here; max wait {})",
        agent.addr,
        fmt(max_wait)
    );
    tokio::time::sleep(t(2_500)).await;
    show(&sim, &[failing, hidden]);

    say("Night 1, 01:58: the nightly backup takes the database down");
    db.down().await;
    let held = wait_for(t(15_000), || {
        [failing, hidden]
            .iter()
            .all(|n| sim.connector_state(n).as_deref() == Some("PAUSED"))
    })
    .await;
    show(&sim, &[failing, hidden]);
    let mut missed: Vec<&str> = Vec::new();
    if held {
        println!("    both held: no retry storm; the FAILED task stays FAILED while paused, as in Kafka Connect");
    } else {
        missed.push("night 1: both connectors held");
    }
    tokio::time::sleep(t(5_000)).await;

    say("Night 1, 02:25: the backup is done, the database is back");
    db.up().await?;
    let back = wait_for(t(20_000), || {
        [failing, hidden].iter().all(|n| {
            sim.connector_state(n).as_deref() == Some("RUNNING")
                && sim.task_states(n).iter().all(|s| s == "RUNNING")
        })
    })
    .await;
    // verified RUNNING for the verify window: the recovery is over before the next night
    let back = back
        && wait_for(t(20_000), || {
            in_phase(&agent, &[failing, hidden], Phase::Watching)
        })
        .await;
    tokio::time::sleep(t(1_000)).await;
    show(&sim, &[failing, hidden]);
    if back {
        println!("    resumed, FAILED task restarted, verified RUNNING: nobody was woken up");
    } else {
        missed.push("night 1: both connectors resumed and verified");
    }

    say(&format!(
        "Night 2, 01:58: the backup overruns the maximum wait ({})",
        fmt(max_wait)
    ));
    db.down().await;
    let _ = wait_for(t(10_000), || {
        sim.connector_state(failing).as_deref() == Some("PAUSED")
    })
    .await;
    // both give up after the maximum wait (the hidden one starts waiting a few probes later)
    let timed_out = wait_for(max_wait + t(20_000), || {
        in_phase(&agent, &[failing, hidden], Phase::TimedOut)
    })
    .await;
    tokio::time::sleep(t(1_000)).await;
    show(&sim, &[failing, hidden]);
    if timed_out {
        println!("    timed out: held, cdc_sentinel_recovery_phase{{phase=\"timed_out\"}} = 1, CDCRecoveryTimedOut pages the on-call");
    } else {
        missed.push("night 2: both recoveries timed out");
    }

    say("Night 2, 03:10: the DBA fixes the database; the on-call resumes the connectors by hand");
    db.up().await?;
    tokio::time::sleep(t(2_500)).await;
    let http = reqwest::Client::new();
    for n in [failing, hidden] {
        let _ = http
            .put(format!("{}/connectors/{n}/resume", sim.url()))
            .send()
            .await;
        let _ = http
            .post(format!(
                "{}/connectors/{n}/restart?includeTasks=true&onlyFailed=true",
                sim.url()
            ))
            .send()
            .await;
    }
    let _ = wait_for(t(10_000), || {
        [failing, hidden]
            .iter()
            .all(|n| sim.task_states(n).iter().all(|s| s == "RUNNING"))
    })
    .await;
    tokio::time::sleep(t(2_000)).await;
    show(&sim, &[failing, hidden]);

    say("What /metrics says now");
    let text = agent.metrics.render();
    for l in text.lines().filter(|l| {
        (l.starts_with("cdc_sentinel_recovery_timeouts_total")
            || l.starts_with("cdc_sentinel_recovery_duration_seconds_count")
            || l.starts_with("cdc_sentinel_managed")
            || l.starts_with("cdc_sentinel_recoveries_started_total"))
            && !l.ends_with(" 0")
    }) {
        println!("    {l}");
    }
    agent.stop(Duration::from_secs(5)).await?;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    if !missed.is_empty() {
        // The demo is also a smoke test of the agent on this machine: say so when it is not
        // the story the README promises, and exit non-zero.
        anyhow::bail!(
            "the demo did not play as expected ({}); the decision log above shows what the agent did instead",
            missed.join("; ")
        );
    }
    println!(
        "\nDone. Run it for real: cdc-sentinel run --connect-url http://connect:8083 (see README)."
    );
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("cdc-sentinel-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
