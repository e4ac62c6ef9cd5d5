//! What the agent tells the world: the one table of every metric ([`table`]), the stores
//! ([`metrics`]) and the text exposition written from them ([`render`]), and events
//! ([`events`]: one function writes the log line and moves the metric together, so they never
//! disagree). Uses `core` only.

pub mod events;
pub mod metrics;
mod render;
pub mod table;

pub use metrics::{ConnectorView, Metrics, OffsetView};
