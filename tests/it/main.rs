//! The single integration-test binary: the agent against the simulated Kafka Connect.

mod cli;
mod demo;
mod metrics_doc;
mod oracle_listener;
mod probe_cli;
mod probe_oracle;
mod probe_oracledb;
mod probe_standin;

mod scenarios;
mod sim;
mod support;
mod tls;
