//! Database targets: `--db` URLs, JDBC URLs and the derivation from a connector's config
//! (probe/src/target.rs). Lines of `key=value` become a config; any text is also tried as a URL.
#![no_main]

use std::collections::BTreeMap;

use cdc_sentinel_probe::target::{derive, parse_jdbc, parse_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = parse_url(&text) {
        // what the agent prints must parse back to the same target
        let again = parse_url(&t.url()).expect("a target's own URL parses");
        assert_eq!(again.label(), t.label());
    }
    let _ = parse_jdbc(&text);
    let config: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let _ = derive(&config);
});
