//! cdc-sentinel: holds Kafka Connect / Debezium connectors while their database is down and
//! resumes them when it is back. Module map (see ARCHITECTURE.md); no logic here.

pub mod app;
pub mod classify;
pub mod clock;
pub mod config;
pub mod connect;
pub mod demo;
pub mod metrics;
pub mod probe;
pub mod recovery;
pub mod server;
pub mod sim;
pub mod simulate;
pub mod store;
pub mod target;
pub mod windows;
