//! A MySQL / MariaDB server's greeting and answers (probe/src/mysql.rs).
#![no_main]

mod common;

use cdc_sentinel_probe::mysql::{exchange, handshake_response, parse_err, parse_greeting};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = common::Replay::new(data);
    let _ = common::runtime().block_on(exchange(&mut s, common::deadline()));
    let _ = parse_err(data);
    if let Ok(g) = parse_greeting(data) {
        let _ = handshake_response(&g, 1);
    }
});
