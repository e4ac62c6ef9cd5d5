//! The I/O edges around the pure core: the supervisor ([`supervisor`], the cycle in named
//! stages), the probe runner ([`probes`]), the Kafka Connect client ([`connect`]), the durable
//! state ([`store`]), the HTTP endpoints ([`server`]), the Kubernetes side for Strimzi
//! ([`strimzi`]), the clock, and the wiring of one running agent ([`app`]). Uses `core`, `telemetry` and `config`.

pub mod app;
pub mod clock;
pub mod connect;
pub mod health;
pub mod probes;
pub mod server;
pub mod store;
pub mod strimzi;
pub mod supervisor;
