//! A PostgreSQL server's answers to the startup message (probe/src/postgres.rs).
#![no_main]

mod common;

use cdc_sentinel_probe::postgres::{classify_error, error_fields, exchange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = common::Replay::new(data);
    let _ = common::runtime().block_on(exchange(&mut s, common::deadline()));
    let _ = error_fields(data);
    let _ = classify_error(data);
});
