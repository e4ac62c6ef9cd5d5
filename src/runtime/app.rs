//! Wires one running agent together (client, metrics, store, HTTP server, supervisor) and runs
//! it until a shutdown signal; used by `main` and by the tests, so both run the same thing.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::runtime::clock::Clock;
use crate::runtime::connect::Client;
use crate::runtime::health::Health;
use crate::runtime::store::{FileStore, KafkaStateStore, MemStore, Store, StoreError};
use crate::runtime::supervisor::{Agent, AgentError, Diagnostics, DiagnosticsHandle};
use crate::telemetry::metrics::Metrics;

/// The build's version and git revision (from `CDC_SENTINEL_REVISION` at build time).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = match option_env!("CDC_SENTINEL_REVISION") {
    Some(r) => r,
    None => "unknown",
};

/// A started agent: its address, its handles, and the task running it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub metrics: Metrics,
    pub health: Health,
    diagnostics: DiagnosticsHandle,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), AgentError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// (`error` is not a `source`: the message already shows it, and `{:#}` would show it
    /// twice.)
    #[error("cannot listen on {addr} (--web.listen-address): {error}")]
    Listen {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
}

/// Starts the HTTP server and the supervisor.
pub async fn start(cfg: Config, clock: Clock) -> Result<Running, StartError> {
    let cfg = Arc::new(cfg);
    let metrics = Metrics::new(VERSION, REVISION, cfg.dry_run);
    let client = Client::new(&cfg.connect, metrics.clone()).map_err(StartError::Config)?;
    let store = open_store(&cfg).await.map_err(AgentError::Store)?;
    // With --strimzi-cluster: the Kubernetes API found and checked before anything runs.
    let strimzi = match &cfg.strimzi {
        Some(o) => Some(
            crate::runtime::strimzi::start(o, &metrics)
                .await
                .map_err(StartError::Config)?,
        ),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let mut agent = Agent::new(
        cfg.clone(),
        client,
        metrics.clone(),
        store,
        clock,
        shutdown.clone(),
    )
    .await?;
    if let Some(s) = strimzi {
        agent = agent.with_strimzi(s);
    }
    let health = agent.health();
    let diagnostics = agent.diagnostics();
    let listener = crate::runtime::server::bind(cfg.listen)
        .await
        .map_err(|e| StartError::Listen {
            addr: cfg.listen,
            error: e,
        })?;
    let addr = listener.local_addr().map_err(|e| StartError::Listen {
        addr: cfg.listen,
        error: e,
    })?;
    tokio::spawn(crate::runtime::server::serve(
        listener,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
    ));
    tracing::info!(
        "cdc-sentinel {VERSION} watching {} (poll every {}, probe every {}, max wait {}, hold with {}{}); metrics on http://{addr}/metrics",
        crate::core::classify::redact(&cfg.connect.url),
        humantime::format_duration(cfg.poll_interval),
        humantime::format_duration(cfg.probe.interval),
        humantime::format_duration(Duration::from_millis(cfg.settings.max_wait)),
        cfg.settings.hold_with.as_str(),
        if cfg.dry_run { ", DRY RUN: nothing will be sent" } else { "" }
    );
    let task = tokio::spawn(agent.run());
    Ok(Running {
        addr,
        metrics,
        health,
        diagnostics,
        shutdown,
        task,
    })
}

/// The state store `run` uses, checked: the state file is read (corrupt, newer than this
/// agent, a directory: an error naming the path and the fix) and, unless `--dry-run`, its
/// directory is proven writable now rather than at the first outage. A dry run reads the real
/// state (to know what is held) but never writes it.
pub async fn open_store(cfg: &Config) -> Result<Box<dyn Store>, StoreError> {
    let file = FileStore::new(&cfg.state_file);
    if cfg.dry_run {
        let state = file.load().await?;
        return Ok(Box::new(MemStore::with(state)));
    }
    if let Some(opts) = &cfg.state_store {
        // Shared by the agents of the cluster: one leads; the state file is imported once.
        let store = KafkaStateStore::open(opts.clone(), Some(cfg.state_file.clone())).await?;
        return Ok(Box::new(store));
    }
    file.preflight().await?;
    file.load().await?;
    Ok(Box::new(file))
}

/// What `check-config` proves beyond the flags and files `validate` read, with the same code
/// `run` starts with: the Kafka Connect client (its CA bundle and client certificate) can be
/// built, and the state store opens.
pub async fn check(cfg: &Config) -> Result<(), StartError> {
    Client::new(&cfg.connect, Metrics::new(VERSION, REVISION, cfg.dry_run))
        .map_err(StartError::Config)?;
    // The Kafka state store is not opened here: joining the election from check-config would
    // make the cluster's agents rebalance. Its settings were checked with the flags; the topic
    // is checked (and created) when `run` starts.
    if cfg.state_store.is_none() {
        open_store(cfg).await.map_err(AgentError::Store)?;
    }
    Ok(())
}

impl Running {
    /// The agent's view after its latest successful poll.
    pub fn diagnostics(&self) -> std::sync::Arc<Diagnostics> {
        self.diagnostics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the agent to stop and waits up to `grace` for it to write its state.
    pub async fn stop(self, grace: Duration) -> Result<(), AgentError> {
        self.shutdown.cancel();
        match tokio::time::timeout(grace, self.task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                tracing::warn!(
                    "agent did not stop within {}; exiting (state was written before every action)",
                    humantime::format_duration(grace)
                );
                Ok(())
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
