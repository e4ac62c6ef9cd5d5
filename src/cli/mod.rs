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

use clap::{CommandFactory, Parser};

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
            match blame_env(&e, &std::env::args_os().collect::<Vec<_>>()) {
                Some(msg) => eprint!("{msg}"),
                None => {
                    let _ = e.print();
                }
            }
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
        Some(Command::CheckConfig(a)) => rt.block_on(check_config::run(a)),
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

/// Clap blames a bad value on its flag even when it came from the environment
/// (`CDC_SENTINEL_POLL_INTERVAL=soon` reads "invalid value 'soon' for '--poll-interval'"), which
/// sends the operator looking for a flag that is not there. When the flag is not on the command
/// line and its variable is set, the message names the variable.
pub fn blame_env(e: &clap::Error, argv: &[std::ffi::OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let on_command_line = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    if on_command_line {
        return None;
    }
    let root = Cli::command();
    let scope = argv
        .get(1)
        .and_then(|a| a.to_str())
        .and_then(|a| root.find_subcommand(a))
        .unwrap_or(&root);
    let env = scope
        .get_arguments()
        .find(|a| a.get_long() == Some(long))?
        .get_env()?
        .to_string_lossy()
        .into_owned();
    std::env::var_os(&env)?;
    let quoted = format!("'{arg}'");
    let text = e.to_string();
    text.contains(&quoted).then(|| {
        text.replacen(
            &quoted,
            &format!("{env} (the environment variable of --{long})"),
            1,
        )
    })
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
