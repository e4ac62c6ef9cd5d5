//! Maintenance window syntax and occurrences (src/core/windows.rs): `when` strings, one-off
//! instants, and the next occurrences from any time (DST transitions included).
#![no_main]

use cdc_sentinel::core::windows::{parse_instant, parse_when};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // the first 8 bytes choose the time to list from (within years 1970 to ~2262)
    let (from, text) = if data.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[..8]);
        (u64::from_le_bytes(b) % 9_223_372_036_854, &data[8..])
    } else {
        (1_700_000_000_000, data)
    };
    let text = String::from_utf8_lossy(text);
    if let Ok(schedule) = parse_when(&text) {
        let occurrences = schedule.next(from, 4);
        for o in &occurrences {
            assert!(
                o.start < o.end,
                "an occurrence that ends before it starts: {o:?}"
            );
            assert!(
                o.end > from,
                "an occurrence already over: {o:?} from {from}"
            );
        }
        let _ = schedule.active_at(from);
        let _ = schedule.to_string();
    }
    let _ = parse_instant(&text);
});
