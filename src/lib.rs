//! cdc-sentinel: holds Kafka Connect / Debezium connectors while their database is down and
//! resumes them when it is back.
//!
//! The folders are the layers, lowest first; a layer uses only the layers above it in this
//! list (ARCHITECTURE.md, "Layers"; `tests/it/layers.rs` checks every `use crate::`):
//!
//! - [`core`]: the domain and the pure decision core (no I/O, no tokio, no clock)
//! - [`telemetry`]: the table of metric names, the exposition, events (log line + metric)
//! - [`config`]: flags, the config file, validation, check-config output, the selector
//! - [`runtime`]: the supervisor in stages, the probe runner, the Connect client, the state
//!   store, the HTTP endpoints, wiring
//! - [`cli`]: the subcommands
//!
//! The probes and database targets are the `cdc-sentinel-probe` crate; the simulated Kafka
//! Connect worker is the `cdc-sentinel-sim` crate (tests and the `demo` feature only).

pub mod cli;
pub mod config;
pub mod core;
pub mod runtime;
pub mod telemetry;

pub use cdc_sentinel_probe as probe;
