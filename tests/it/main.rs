//! The single integration-test binary: the agent against the simulated Kafka Connect.

mod cli;
mod metrics_doc;
mod scenarios;
mod sim;
mod support;
