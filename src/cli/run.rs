//! `cdc-sentinel run` (the default): the agent, until SIGTERM or SIGINT.
//!
//! Signals: SIGTERM or SIGINT stops the agent gracefully (the step in flight finishes, the state
//! is written) within a grace period; a second one stops waiting at once. A forced exit (the
//! second signal, or the grace period over) that abandons actions in flight exits 1 with a line
//! naming them; their records were written before they were sent, so the next start continues
//! from them. SIGHUP is ignored with one line: there is no configuration reload, and
//! config-reload sidecars send HUP to everything in a pod.

use std::time::Duration;

use super::exit::Exit;
use crate::config::RunArgs;
use crate::runtime::app;
use crate::runtime::clock::Clock;

/// How long the agent gets to finish its step and write its state after the first signal.
const GRACE: Duration = Duration::from_secs(10);

pub async fn run(a: RunArgs) -> Exit {
    super::logging::init(a.log_format);
    // first, so a HUP or TERM during start-up is handled too
    let mut signals = Signals::new();
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
    let first = tokio::select! {
        s = signals.stop() => s,
        // The agent stops by itself only on a fatal error (state file, unsupported worker).
        r = &mut running.task => return finished(r),
    };
    tracing::info!("{first} received; finishing the step in flight and writing state (send it again to stop at once)");
    running.shutdown.cancel();
    let why = tokio::select! {
        r = &mut running.task => return finished(r),
        s = signals.stop() => format!("second {s}"),
        _ = tokio::time::sleep(GRACE) => format!("not stopped within {}", humantime::format_duration(GRACE)),
    };
    match running.health.in_flight() {
        Some(what) => {
            tracing::error!("{why}: exiting now, abandoning what was in flight: {what}. Their records were written before they were sent, so the next start sees them and continues; check those connectors' state in Kafka Connect");
            Exit::Failure
        }
        None => {
            tracing::warn!("{why}: exiting now; nothing was being sent, the state is as written at the last step");
            Exit::Ok
        }
    }
}

/// The agent's task ended by itself.
fn finished(
    r: Result<Result<(), crate::runtime::supervisor::AgentError>, tokio::task::JoinError>,
) -> Exit {
    match r {
        Ok(Ok(())) => Exit::Ok,
        Ok(Err(e)) => {
            tracing::error!("{e}");
            Exit::from(&e)
        }
        Err(e) => {
            tracing::error!("agent task failed: {e}");
            Exit::Software
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP, registered once for the life of the process (so HUP never
/// falls back to its default action, which kills).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
                hup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGTERM or SIGINT, by name; every SIGHUP before it is logged and ignored.
    async fn stop(&mut self) -> &'static str {
        #[cfg(unix)]
        loop {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        if s.recv().await.is_none() {
                            std::future::pending::<()>().await
                        }
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.term) => return "SIGTERM",
                _ = next(&mut self.int) => return "SIGINT",
                _ = next(&mut self.hup) => {
                    tracing::info!("SIGHUP received and ignored: cdc-sentinel has no configuration reload; restart it to apply changes");
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
