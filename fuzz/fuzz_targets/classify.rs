//! Java / Debezium stack traces from Kafka Connect: classification, the one-line summary, and
//! redaction (src/core/classify.rs). Any text: never a panic.
#![no_main]

use cdc_sentinel::core::classify::{classify, redact, summarize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = classify(&text);
    let s = summarize(&text);
    let r = redact(&text);
    // redaction is idempotent and never grows a secret back
    assert_eq!(redact(&r), r, "redact is not idempotent");
    let _ = s;
});
