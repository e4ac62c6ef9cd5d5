//! The `--config` TOML file: schema and validation (src/config/file.rs + validate.rs).
#![no_main]

use cdc_sentinel::config::parse_config_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(file) = parse_config_file(std::path::Path::new("fuzz.toml"), text) {
            for w in &file.maintenance {
                let _ = w.schedule.next(1_700_000_000_000, 3);
                let _ = w.scope();
            }
        }
    }
});
