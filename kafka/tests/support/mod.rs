//! Test support: a real tansu broker on a free 127.0.0.1 port, started and stopped by PID (it
//! lives in the sim crate, shared with the agent's fleet tests).
#![allow(dead_code, unused_imports)]

pub use cdc_sentinel_sim::tansu::*;
