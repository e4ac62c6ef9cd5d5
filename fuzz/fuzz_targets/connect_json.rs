//! Kafka Connect's answers (src/runtime/connect/types.rs): the expanded listing, `GET /` and
//! the version string.
#![no_main]

use cdc_sentinel::runtime::connect::types::{kafka_version, ExpandedMap, RootInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ExpandedMap>(data);
    if let Ok(root) = serde_json::from_slice::<RootInfo>(data) {
        let _ = kafka_version(&root.version);
    }
    let _ = kafka_version(&String::from_utf8_lossy(data));
});
