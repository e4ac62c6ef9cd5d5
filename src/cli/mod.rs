//! The highest layer: the subcommands. Parses the command line, sets up logging and the async
//! runtime, runs one subcommand, and maps its result to an [`exit::Exit`] code.

pub mod check_config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod exit;
pub mod healthcheck;
pub mod logging;
pub mod metrics_doc;
pub mod offsets;
pub mod probe;
pub mod run;
pub mod windows;

use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Command};
use exit::Exit;

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok
                }
                _ if probe::invoked() => Exit::ProbeBadInput,
                _ => Exit::Usage,
            };
            let _ = e.print();
            return code.into();
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
            return Exit::OsError.into();
        }
    };
    let exit = match cli.command {
        None => rt.block_on(run::run(cli.run)),
        Some(Command::Run(a)) => rt.block_on(run::run(a)),
        Some(Command::CheckConfig(a)) => check_config::run(a),
        Some(Command::Healthcheck(h)) => rt.block_on(healthcheck::run(h)),
        Some(Command::Windows(w)) => windows::run(w),
        Some(Command::Probe(p)) => rt.block_on(probe::run(p)),
        Some(Command::Offsets(o)) => rt.block_on(offsets::run(o)),
        Some(Command::MetricsDoc(m)) => metrics_doc::run(m),
        #[cfg(feature = "demo")]
        Some(Command::Demo(d)) => demo(&rt, d),
    };
    exit.into()
}

#[cfg(feature = "demo")]
fn demo(rt: &tokio::runtime::Runtime, d: crate::config::DemoArgs) -> Exit {
    logging::init(d.log_format);
    match rt.block_on(demo::run(d)) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("cdc-sentinel demo: {e:#}");
            Exit::Failure
        }
    }
}
