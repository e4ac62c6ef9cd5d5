//! `cdc-sentinel run` (the default): the agent, until SIGTERM or SIGINT.

use std::time::Duration;

use super::exit::Exit;
use crate::config::RunArgs;
use crate::runtime::app;
use crate::runtime::clock::Clock;

pub async fn run(a: RunArgs) -> Exit {
    super::logging::init(a.log_format);
    let cfg = match a.validate() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}", e.message);
            return Exit::from(&e);
        }
    };
    let mut running = match app::start(cfg, Clock::system()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return Exit::from(&e);
        }
    };
    tokio::select! {
        _ = app::shutdown_signal() => {
            tracing::info!("signal received; finishing the step in flight and writing state");
        }
        // The agent stops by itself only on a fatal error (state file, unsupported worker).
        r = &mut running.task => {
            return match r {
                Ok(Ok(())) => Exit::Ok,
                Ok(Err(e)) => {
                    tracing::error!("{e}");
                    Exit::from(&e)
                }
                Err(e) => {
                    tracing::error!("agent task failed: {e}");
                    Exit::Software
                }
            };
        }
    }
    match running.stop(Duration::from_secs(10)).await {
        Ok(()) => Exit::Ok,
        Err(e) => {
            tracing::error!("{e}");
            Exit::Failure
        }
    }
}
