//! An Oracle listener's answers to the TNS CONNECT (probe/src/oracle.rs): the whole exchange
//! fed any bytes, and the text parsers it uses.
#![no_main]

mod common;

use cdc_sentinel_probe::oracle::{
    classify_refusal, connect_packets, descriptor, exchange, tns_value,
};
use cdc_sentinel_probe::target::OracleId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = OracleId::Service("ORCLPDB1".into());
    let packets = connect_packets(&descriptor(&id, "db", 1521), false);
    let mut s = common::Replay::new(data);
    let _ = common::runtime().block_on(exchange(&mut s, &packets, &id, common::deadline()));
    let text = String::from_utf8_lossy(data);
    let _ = tns_value(&text, "ERR");
    let _ = tns_value(&text, "VSNNUM");
    if data.len() >= 4 {
        let code = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        let _ = classify_refusal(code, &id);
    }
});
