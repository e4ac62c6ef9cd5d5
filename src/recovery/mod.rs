//! Recovery: the pure per-connector state machine (`core`), the events it reports (`events`),
//! and the supervisor that runs it against Kafka Connect (`supervisor`).

pub mod core;
pub mod events;
pub mod supervisor;
