//! cdc-sentinel library.

pub mod sim;
