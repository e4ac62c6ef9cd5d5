//! The single integration-test binary: the agent against the simulated Kafka Connect.

// Tests measure and wait on the wall clock and may block their own thread.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

mod cli;
mod cli_safety;
mod connect_odd;
mod demo;
mod fleet;
mod layers;
mod mass;
mod metrics_doc;
mod odd_nights;
mod offsets;
mod oracle_listener;
mod probe_cli;
mod probe_oracle;
mod probe_oracledb;
mod probe_standin;

mod scenarios;
mod selection;
mod sim;
mod strimzi;
mod support;
mod tls;
