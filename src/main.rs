//! The `cdc-sentinel` binary: parses the command line, sets up logging, runs the chosen
//! subcommand until a signal, and maps errors to exit codes (64 bad flag, 78 bad config).

use std::process::ExitCode;
use std::time::Duration;

use cdc_sentinel::app;
use cdc_sentinel::clock::Clock;
use cdc_sentinel::config::{Cli, Command, HealthArgs, LogFormat, RunArgs, WindowsArgs};
use clap::Parser;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CDC_SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // colour only for a person at a terminal: log files, journald and `kubectl logs`
        // must not fill with escape codes (https://no-color.org is honoured too)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().flatten_event(true).init(),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if cdc_sentinel::probe::cli::invoked() => {
                    cdc_sentinel::probe::cli::EXIT_BAD_INPUT
                }
                _ => 64,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cdc-sentinel: cannot start the async runtime: {e}");
            return ExitCode::from(71);
        }
    };
    match cli.command {
        None => rt.block_on(run(cli.run)),
        Some(Command::Run(a)) => rt.block_on(run(a)),
        Some(Command::CheckConfig(a)) => check_config(a),
        Some(Command::Healthcheck(h)) => rt.block_on(healthcheck(h)),
        Some(Command::Simulate(a)) => {
            init_logging(LogFormat::Text);
            match rt.block_on(cdc_sentinel::simulate::run(a)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cdc-sentinel simulate: {e:#}");
                    ExitCode::from(64)
                }
            }
        }
        Some(Command::Windows(w)) => windows(w),
        Some(Command::Probe(p)) => rt.block_on(cdc_sentinel::probe::cli::run(p)),
        Some(Command::Demo(d)) => {
            init_logging(d.log_format);
            rt.block_on(cdc_sentinel_demo(d))
        }
    }
}

async fn cdc_sentinel_demo(d: cdc_sentinel::config::DemoArgs) -> ExitCode {
    match cdc_sentinel::demo::run(d).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cdc-sentinel demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(a: RunArgs) -> ExitCode {
    match a.validate() {
        Ok(cfg) => {
            print!("{}", cfg.describe());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cdc-sentinel: {}", e.message);
            ExitCode::from(e.exit_code as u8)
        }
    }
}

/// `cdc-sentinel windows`: the next occurrences of every maintenance window.
fn windows(w: WindowsArgs) -> ExitCode {
    match w.load() {
        Ok((list, from)) => {
            let from = from.unwrap_or_else(|| Clock::system().now_ms());
            print!(
                "{}",
                cdc_sentinel::windows::describe(&list, from, w.count as usize)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cdc-sentinel: {}", e.message);
            ExitCode::from(e.exit_code as u8)
        }
    }
}

async fn run(a: RunArgs) -> ExitCode {
    init_logging(a.log_format);
    let cfg = match a.validate() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}", e.message);
            return ExitCode::from(e.exit_code as u8);
        }
    };
    let mut running = match app::start(cfg, Clock::system()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(78);
        }
    };
    tokio::select! {
        _ = app::shutdown_signal() => {
            tracing::info!("signal received; finishing the step in flight and writing state");
        }
        // The agent stops by itself only on a fatal error (state file, unsupported worker).
        r = &mut running.task => {
            return match r {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(e)) => {
                    tracing::error!("{e}");
                    ExitCode::from(78)
                }
                Err(e) => {
                    tracing::error!("agent task failed: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    match running.stop(Duration::from_secs(10)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(h: HealthArgs) -> ExitCode {
    let client = match reqwest::Client::builder().timeout(h.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = h.resolved_url();
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("ready");
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("not ready: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("not ready: {url} did not answer: {e}");
            ExitCode::FAILURE
        }
    }
}
