//! The lowest layer: the domain and the pure decision core. No I/O, no tokio, no clock: time
//! is an argument. It may use the probe crate's vocabulary (`Reason`, `Target`), never a
//! probe, and nothing of the other layers.
//!
//! - [`observe`]: a connector and its tasks as Kafka Connect reports them; a target's probe history
//! - [`record`]: the durable record of a hold and the closed sets it is made of
//! - [`decision`]: one decision's input and output, actions, events
//! - [`machine`]: `step` and `apply_result`, the state machine
//! - [`backoff`], [`classify`] (Java traces), [`windows`] (maintenance windows), [`labels`]

pub mod backoff;
pub mod classify;
pub mod decision;
pub mod labels;
pub mod machine;
pub mod observe;
pub mod offsets;
mod progress;
pub mod record;
pub mod settings;
pub mod text;
pub mod windows;

/// Unix time in milliseconds.
pub type Millis = u64;

pub use decision::{
    Action, ActionResult, ActionStatus, Decision, Event, Input, Maintenance, Outcome,
};
pub use machine::{apply_result, step};
pub use observe::{ConnState, ConnectorObs, Desired, ProbeObs, ResourceObs, TaskObs};
pub use record::{AfterTimeout, HoldReason, HoldWith, Manager, Phase, Record, RecordReason};
pub use settings::Settings;
